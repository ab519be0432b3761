# multiprocessing needs /dev/shm for its locks: ThreadPool, Pool and Queue must work in the sandbox as in
# plain Python (the sandbox gives each run a private, size-limited /dev/shm).
import multiprocessing
from multiprocessing.pool import ThreadPool


def square(x):
    return x * x


with ThreadPool(processes=2) as pool:
    print("thread pool", pool.map(square, [1, 2, 3]))

if __name__ == "__main__":
    with multiprocessing.Pool(2) as pool:
        print("process pool", pool.map(square, [4, 5, 6]))
    queue = multiprocessing.Queue()
    queue.put({"sent": "through a queue"})
    print("queue", queue.get(timeout=10))
