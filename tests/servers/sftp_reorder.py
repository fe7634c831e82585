#!/usr/bin/python3
"""An SFTP server that answers out of order, as the protocol allows: OpenSSH's own
``sftp-server`` behind a relay that swaps every two replies (one held alone is let go
after a few milliseconds). sshd runs it as the ForceCommand of a test server.

Usage: sftp_reorder.py COUNT_FILE  (the number of swapped pairs is written there).
Standard library only: it runs with the server's python3, not the test environment.
"""

import os
import struct
import subprocess
import sys
import threading
import time

SFTP_SERVER = "/usr/lib/openssh/sftp-server"
HOLD_SECONDS = 0.02


def write_all(data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(1, view) :]


def main() -> None:
    count_file = sys.argv[1]
    child = subprocess.Popen([SFTP_SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert child.stdin is not None
    assert child.stdout is not None
    requests, replies = child.stdin, child.stdout

    def relay_requests() -> None:
        while chunk := os.read(0, 65536):
            requests.write(chunk)
            requests.flush()
        requests.close()

    threading.Thread(target=relay_requests, daemon=True).start()
    lock = threading.Lock()
    held: list[tuple[float, bytes]] = []
    swapped = 0

    def let_go() -> None:  # a reply held alone does not wait for a partner for ever
        while True:
            time.sleep(HOLD_SECONDS / 2)
            with lock:
                if held and time.monotonic() - held[0][0] > HOLD_SECONDS:
                    write_all(held.pop()[1])

    threading.Thread(target=let_go, daemon=True).start()
    first = True
    while True:
        header = replies.read(4)
        if len(header) < 4:
            break
        packet = header + replies.read(struct.unpack(">I", header)[0])
        with lock:
            if first:  # the VERSION reply
                write_all(packet)
                first = False
                continue
            held.append((time.monotonic(), packet))
            if len(held) == 2:
                write_all(held[1][1])
                write_all(held[0][1])
                held.clear()
                swapped += 1
                with open(count_file, "w") as out:
                    out.write(str(swapped))
    with lock:
        for _at, packet in held:
            write_all(packet)
    child.wait()


if __name__ == "__main__":
    main()
