"""A small program for the power-loss tests: writes records with and without fsync, then waits.

``powerwriter.py DIR MARKER SYNCED UNSYNCED``: appends ``SYNCED`` records to
``DIR/log`` and fsyncs; appends ``UNSYNCED`` more without fsync; writes
``DIR/fresh`` (a new file, never synced); then creates ``MARKER`` (outside the
filesystem under test) and sleeps until it is killed.
"""

import os
import sys
import time


def main() -> None:
    directory, marker, synced, unsynced = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    fd = os.open(os.path.join(directory, "log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    for i in range(synced):
        os.write(fd, b"synced %06d\n" % i)
    os.fsync(fd)
    for i in range(unsynced):
        os.write(fd, b"unsynced %06d\n" % i)
    os.close(fd)
    with open(os.path.join(directory, "fresh"), "wb") as f:
        f.write(b"never synced\n" * 100)
    with open(marker, "w") as f:
        f.write("done\n")
    while True:
        time.sleep(60)


if __name__ == "__main__":
    main()
