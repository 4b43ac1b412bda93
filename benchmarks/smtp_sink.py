"""A counting SMTP server for benchmarks, in its own process: `python benchmarks/smtp_sink.py PORT`.

Prints `ready` when listening; on SIGTERM prints JSON {"received": n, "duplicates": d} and exits.
"""

from __future__ import annotations

import json
import signal
import sys
import threading

from aiosmtpd.controller import Controller


class Counter:
    def __init__(self) -> None:
        self.received = 0
        self.seen: set[str] = set()
        self.duplicates = 0

    async def handle_DATA(self, server, session, envelope) -> str:
        self.received += 1
        marker = next(
            (line for line in envelope.original_content.split(b"\r\n") if line.startswith(b"X-Conveyor-Touchpoint:")),
            None,
        )
        if marker is not None:
            if marker in self.seen:
                self.duplicates += 1
            self.seen.add(marker)
        return "250 OK"


def main() -> None:
    counter = Counter()
    controller = Controller(counter, hostname="127.0.0.1", port=int(sys.argv[1]))
    controller.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print("ready", flush=True)
    done.wait()
    controller.stop()
    print(json.dumps({"received": counter.received, "duplicates": counter.duplicates}), flush=True)


if __name__ == "__main__":
    main()
