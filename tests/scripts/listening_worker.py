"""A misbehaving stand-in worker: opens a port, then runs the real worker in the same process.

The port checks must fail on it, naming this pid and port. It registers with the API
like a normal worker (same process, same pid), so the checks get past registration
and find the socket rather than failing earlier for another reason.

    python tests/scripts/listening_worker.py [--udp] [--announce]

--udp binds a UDP socket instead of a listening TCP one; --announce also logs a
"Serving on ..." line, as a server would. The environment variable
LISTENING_WORKER_REPORT names a file that gets one line "<pid> <tcp|udp> <port>",
so a test knows exactly what the check should report.
"""

from __future__ import annotations

import argparse
import os
import runpy
import socket
import sys
from pathlib import Path

WORKER_DIR = Path(__file__).resolve().parents[2] / "apps" / "worker"


def open_socket(udp: bool) -> socket.socket:
    if udp:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
    return sock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--udp", action="store_true", help="bind a UDP socket instead of a TCP listener")
    parser.add_argument("--announce", action="store_true", help="log a 'Serving on' line like a server")
    args = parser.parse_args()
    sock = open_socket(args.udp)
    protocol = "udp" if args.udp else "tcp"
    port = sock.getsockname()[1]
    # Worded so that it does not look like a server's start-up line unless --announce asks for one.
    print(f"listening_worker: pid {os.getpid()} holds a {protocol} socket at 127.0.0.1:{port}", flush=True)
    if args.announce:
        print(f"Serving on {protocol}://127.0.0.1:{port}", flush=True)
    report = os.environ.get("LISTENING_WORKER_REPORT")
    if report:
        with open(report, "a", encoding="utf-8") as out:
            out.write(f"{os.getpid()} {protocol} {port}\n")
    # The real worker, exactly as `cd apps/worker && python -m app.main` would run it.
    os.chdir(WORKER_DIR)
    sys.path.insert(0, str(WORKER_DIR))
    sys.argv = [str(WORKER_DIR / "app" / "main.py")]
    try:
        runpy.run_module("app.main", run_name="__main__", alter_sys=True)
    finally:
        sock.close()


if __name__ == "__main__":
    main()
