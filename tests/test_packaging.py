"""`pip install .` must give a working app: migrations and email templates ship in the wheel."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_ships_migrations_templates_and_the_saleor_entry_point(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("saleor_conveyor-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "saleor_conveyor/migrations/0001_initial.py" in names
    assert "saleor_conveyor/emails/ja/step_day3.html" in names
    assert "saleor_conveyor/emails/en/subjects.json" in names
    assert not any(name.startswith(("sandbox/", "tests/", "benchmarks/")) for name in names)
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "[saleor.plugins]" in metadata
    assert "saleor_conveyor = saleor_conveyor.plugin:ConveyorPlugin" in metadata
