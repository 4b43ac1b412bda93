"""Delivery throughput: 10,000 due touchpoints through the sweep vs the same messages sent straight
through Django's mail API (one SMTP connection: the floor), to the same local SMTP server, in one run.

    make bench-delivery            (or: python benchmarks/delivery.py --count 10000)

The SMTP server runs in its own process so it does not share the interpreter with the sender.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Sink:
    """The counting SMTP server process."""

    def __init__(self, port: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "benchmarks" / "smtp_sink.py"), str(port)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError("the SMTP sink did not start")

    def stop(self) -> dict[str, int]:
        self.process.terminate()
        out, _ = self.process.communicate(timeout=30)
        return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args()
    port = free_port()
    os.environ.update(
        DJANGO_SETTINGS_MODULE="sandbox.settings",
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(port),
        CONVEYOR_SETTINGS_JSON=json.dumps({"quiet_hours": ""}),
        CONVEYOR_DELIVERY_JSON=json.dumps({"enqueue": False, "sweep_time_limit": 3600}),
    )
    import django

    django.setup()
    from datetime import timedelta

    from django.core.mail import get_connection
    from django.db import connection
    from django.utils import timezone

    from saleor_conveyor import delivery, mail
    from saleor_conveyor.config import get_config
    from saleor_conveyor.models import FanProfile, Touchpoint

    prefix = "bench-delivery-"
    FanProfile.objects.filter(email__startswith=prefix).delete()
    now = timezone.now() - timedelta(seconds=1)
    profiles = FanProfile.objects.bulk_create(
        FanProfile(email=f"{prefix}{i}@example.com", first_name=f"Fan {i}", language_code="ja" if i % 2 else "en")
        for i in range(args.count)
    )
    rules = ["step_day7", "step_day14", "second_purchase", "secret_info"]
    touchpoints = Touchpoint.objects.bulk_create(
        Touchpoint(profile=p, rule=rules[i % 4], key=f"{rules[i % 4]}:bench", kind="EMAIL", planned_at=now, due_at=now)
        for i, p in enumerate(profiles)
    )
    config = get_config()
    for tp, p in zip(touchpoints, profiles, strict=True):
        tp.profile = p
    # The floor's messages are the very messages the conveyor renders, built before timing starts.
    messages = [mail.build_message(tp, tp.profile, config, tp.rule) for tp in touchpoints]

    sink = Sink(port)
    started = time.perf_counter()
    with get_connection() as smtp:
        smtp.send_messages(messages)
    floor_seconds = time.perf_counter() - started
    floor = sink.stop()

    sink = Sink(port)
    started = time.perf_counter()
    report = delivery.sweep()
    sweep_seconds = time.perf_counter() - started
    swept = sink.stop()
    sent = Touchpoint.objects.filter(id__in=[tp.id for tp in touchpoints], status="SENT").count()
    FanProfile.objects.filter(email__startswith=prefix).delete()
    connection.close()

    assert floor["received"] == args.count, floor
    assert swept["received"] == args.count and swept["duplicates"] == 0 and sent == args.count, (swept, sent, report)
    floor_rate, sweep_rate = args.count / floor_seconds, args.count / sweep_seconds
    version = connection.pg_version // 10000
    print(f"\n{args.count:,} messages to a local aiosmtpd server (PostgreSQL {version}, one sweep process)\n")
    print("| path | seconds | messages/s | ratio to floor |")
    print("|---|---:|---:|---:|")
    print(f"| Django mail API, one connection (floor) | {floor_seconds:.2f} | {floor_rate:,.0f} | 1.00 |")
    print(
        f"| conveyor sweep (reserve, claim, render, send, record) | {sweep_seconds:.2f} | {sweep_rate:,.0f} "
        f"| {sweep_rate / floor_rate:.2f} |"
    )
    print(f"\nsweep: {report.as_dict()}; duplicates at the server: {swept['duplicates']}; target ratio >= 0.5")


if __name__ == "__main__":
    main()
