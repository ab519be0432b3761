import sys


def main():
    print("name is", __name__, "argv", sys.argv[0].rsplit("/", 1)[-1])


if __name__ == "__main__":
    main()
