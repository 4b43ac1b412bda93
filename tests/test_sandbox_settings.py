"""The sandbox's secret key: outside DEBUG a real one, or the sandbox does not start."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def import_settings(**env: str) -> subprocess.CompletedProcess:
    """Import sandbox.settings in a fresh interpreter with only these variables (and the path) set."""
    base = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE"}}
    code = "import sandbox.settings as s; print('key', len(s.SECRET_KEY), s.DEBUG)"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("key", [None, "", "sandbox-not-secret", "django-insecure-sandbox-debug-only"])
def test_without_debug_a_missing_or_published_key_refuses_to_start(key):
    result = import_settings(**({} if key is None else {"SECRET_KEY": key}))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "SECRET_KEY" in result.stderr


def test_without_debug_a_real_key_is_used():
    result = import_settings(SECRET_KEY="k" * 50)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["key", "50", "False"]


def test_debug_starts_without_a_key():
    result = import_settings(DEBUG="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:2] == ["key", str(len("django-insecure-sandbox-debug-only"))]


def test_the_test_suite_runs_with_a_key_of_its_own():
    from django.conf import settings

    assert len(settings.SECRET_KEY) >= 40
    assert settings.SECRET_KEY not in {"sandbox-not-secret", "django-insecure-sandbox-debug-only"}
    assert os.environ["SECRET_KEY"] == settings.SECRET_KEY  # the workers the tests start share it


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_gives_the_demo_serve_and_benchmarks_one_key_kept_in_a_private_file(tmp_path):
    probe = tmp_path / "probe.mk"
    probe.write_text(f"include {ROOT / 'Makefile'}\n.DEFAULT_GOAL := probe\nprobe:\n\t@echo $$SECRET_KEY\n")
    key_file = tmp_path / "keys" / "secret"
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}

    def run(**extra: str) -> subprocess.CompletedProcess:
        command = ["make", "-s", "-f", str(probe), f"SECRET_KEY_FILE={key_file}"]
        return subprocess.run(command, cwd=ROOT, env={**env, **extra}, capture_output=True, text=True, timeout=60)

    first, second = run(), run()
    assert first.returncode == 0, first.stderr
    # Random on first use, then the same key: links `make demo` printed still open under `make serve`.
    assert re.fullmatch(r"[0-9a-f]{64}", first.stdout.strip()) and first.stdout == second.stdout
    assert key_file.read_text().strip() == first.stdout.strip()
    assert key_file.stat().st_mode & 0o077 == 0  # readable by its owner only
    assert run(SECRET_KEY="k" * 50).stdout.strip() == "k" * 50  # a key set by hand wins
