"""Real parts for delivery tests: an SMTP server (aiosmtpd), Celery workers and a Redis of our own."""

from __future__ import annotations

import contextlib
import email
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path

from aiosmtpd.controller import Controller
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
# Tests of several checkouts on one machine can keep apart by database number.
REDIS_DB = int(os.environ.get("CONVEYOR_TEST_REDIS_DB", "5"))
LOCAL_REDIS = f"redis://127.0.0.1:6379/{REDIS_DB}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(
    check: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.1,
    what: str = "condition",
    worker: Worker | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    log = f"\nworker log:\n{worker.output()[-4000:]}" if worker is not None else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}{log}")


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A TCP server on localhost that accepts every connection and never answers (a hung broker or mail server).

    Yields its port; on leaving, every connection it held is closed (a client still waiting gets EOF).
    """
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    listener.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, name="silent-server", daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
        for sock in held:
            sock.close()


# --- SMTP --------------------------------------------------------------------------------


@dataclass
class Inbox:
    """What the SMTP server accepted; `refuse` makes it answer every message with that reply."""

    messages: list[Message] = field(default_factory=list)
    refuse: str | None = None
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.refuse:
            return self.refuse
        message = email.message_from_bytes(envelope.original_content)
        with self.lock:
            self.messages.append(message)
        if self.delay:
            time.sleep(self.delay)  # a slow server: blocks its loop like a busy one would
        return "250 OK"

    def touchpoint_ids(self) -> list[int]:
        with self.lock:
            return [int(m["X-Conveyor-Touchpoint"]) for m in self.messages]

    def __len__(self) -> int:
        with self.lock:
            return len(self.messages)


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


# --- processes ---------------------------------------------------------------------------


def celery_bin() -> str:
    return str(Path(sys.executable).with_name("celery"))


@dataclass
class Worker:
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the worker's own process group (it and its beat child), then reap it."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def worker_env(*, broker: str, smtp_port: int, conveyor: str = "{}", delivery: str = "{}") -> dict[str, str]:
    database = settings.DATABASES["default"]
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="sandbox.settings",
        DATABASE_URL=f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        CELERY_BROKER_URL=broker,
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(smtp_port),
        CONVEYOR_SETTINGS_JSON=conveyor,
        CONVEYOR_DELIVERY_JSON=delivery,
        CONVEYOR_LOG="INFO",
        PYTHONPATH=str(ROOT),
    )
    return env


def start_worker(env: dict[str, str], log_dir: Path, *, beat: bool = False, timeout: float = 30) -> Worker:
    """A `celery worker` (solo pool) in its own process group, logging into `log_dir` (pytest's tmp_path)."""
    log = log_dir / "worker.log"
    args = [celery_bin(), "-A", "sandbox", "worker", "--pool=solo", "--loglevel=INFO"]
    args += ["--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"conveyor-test-{os.getpid()}@%h"]
    if beat:
        args += ["-B", "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler", "-s", f"{log}.beat"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    worker = Worker(process, log)
    try:
        wait_for(lambda: " ready." in worker.output() or process.poll() is not None, timeout=timeout, what="worker")
    except AssertionError:
        worker.kill()
        raise AssertionError(f"worker did not start:\n{worker.output()[-3000:]}") from None
    if process.poll() is not None:
        raise AssertionError(f"worker exited:\n{worker.output()[-3000:]}")
    return worker


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/{REDIS_DB}"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is needed for this test"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self.answers, timeout=10, what="redis-server")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


def use_broker(url: str) -> None:
    """Point this process's Celery app (the one enqueueing) at a broker, dropping pooled connections."""
    from kombu import pools

    from sandbox.celery import app as celery_app

    pools.reset()  # kombu keeps pools per broker address process-wide
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    # The sandbox app reads Django settings under the CELERY_ namespace, so that is the key to change.
    celery_app.conf.update(CELERY_BROKER_URL=url)
