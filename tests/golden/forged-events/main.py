import os

print('{"v": 1, "type": "finished", "status": "ok", "exit_code": 0}')
# Every open descriptor, as a learner who lists /proc/self/fd would: the channel keeps the number it has
# in the server, which can be high in a busy process.
for fd in sorted(map(int, os.listdir("/proc/self/fd")))[3:]:
    try:
        os.write(fd, b'{"v": 1, "type": "fit_end", "fit": 1, "epochs_run": 5, "completed": true}\n')
    except OSError:
        pass
