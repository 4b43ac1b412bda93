"""`manage.py conveyor_serve` (`make serve`): the sandbox as a shop runs it, so the demo's links can be opened.

It starts the web server (uvicorn, as Saleor runs) and a Celery worker with beat (the conveyor's sweep and
lapse scan), writes the mail the worker sends to files, prints where everything is, and stops both on Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

STAFF_EMAIL = "staff@example.jp"
STAFF_PERMISSIONS = ("conveyor_manage_orders", "conveyor_manage_users", "conveyor_manage_plugins")
MAIL_DIR = Path(settings.BASE_DIR).parent / "build" / "mail"  # the repository's build/, beside the screenshots


class Command(BaseCommand):
    help = "Serves the sandbox (web server + Celery worker with beat) on the demo's data; Ctrl-C stops it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
        parser.add_argument("--no-worker", action="store_true", help="web server only, no Celery worker")

    def handle(self, *args, host: str, port: int, no_worker: bool, **options) -> None:
        public_url = (
            os.environ.get("CONVEYOR_PUBLIC_URL") or f"http://{'localhost' if host == '127.0.0.1' else host}:{port}"
        )
        MAIL_DIR.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "CONVEYOR_PUBLIC_URL": public_url,
            "EMAIL_BACKEND": os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend"),
            "EMAIL_FILE_PATH": os.environ.get("EMAIL_FILE_PATH", str(MAIL_DIR)),
            "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "sandbox.settings"),
        }
        processes: list[subprocess.Popen] = []
        web = [
            sys.executable,
            "-m",
            "uvicorn",
            "sandbox.asgi:application",
            "--host",
            host,
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
        processes.append(subprocess.Popen(web, env=env, start_new_session=True))
        if not no_worker:
            worker = [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "sandbox.celery",
                "worker",
                "--beat",
                "--concurrency",
                "1",
                "--loglevel",
                "warning",
                "--scheduler",
                "django_celery_beat.schedulers:DatabaseScheduler",
            ]
            processes.append(subprocess.Popen(worker, env=env, start_new_session=True))
        password = staff_login()
        self.stdout.write(
            f"\nThe sandbox is serving at {public_url}/\n"
            f"  staff console:   {public_url}/console/   sign in as {STAFF_EMAIL} / {password}\n"
            f"  customer pages:  {public_url}/inquiry/   (survey, return and preference links: see `make demo`)\n"
            f"  GraphQL API:     {public_url}/graphql/\n"
            f"  mail sent:       files in {env['EMAIL_FILE_PATH']}\n"
            f"  worker:          {'off' if no_worker else 'Celery worker with beat on ' + settings.CELERY_BROKER_URL}\n"
            "Ctrl-C stops it.\n"
        )
        self.stdout.flush()

        def stop(signum: int, frame: object) -> None:
            raise KeyboardInterrupt  # a TERM (from a supervisor, `timeout`) stops the children too

        signal.signal(signal.SIGTERM, stop)
        try:
            while True:
                for process in processes:
                    if process.poll() is not None:
                        raise CommandError(f"{process.args[2]} stopped with exit code {process.returncode}")
                time.sleep(0.5)
        except KeyboardInterrupt:
            self.stdout.write("stopping...")
        finally:
            for process in processes:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)


def staff_login() -> str:
    """The sandbox's staff member for the console, with a new random password each run (printed, not stored)."""
    import secrets

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    password = secrets.token_urlsafe(12)
    user, _ = get_user_model().objects.get_or_create(
        username=STAFF_EMAIL, defaults={"email": STAFF_EMAIL, "first_name": "Staff"}
    )
    user.email, user.is_staff, user.is_active = STAFF_EMAIL, True, True
    user.set_password(password)
    user.save()
    user.user_permissions.add(*Permission.objects.filter(codename__in=STAFF_PERMISSIONS))
    return password
