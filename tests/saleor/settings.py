"""Saleor's own test settings plus the conveyor app (as the `saleor.plugins` entry point adds it).

Where Saleor is not importable this falls back to the sandbox settings, and conftest.py skips
the whole tier with the reason.
"""

try:
    from saleor.tests.settings import *  # noqa: F403
    from saleor.tests.settings import INSTALLED_APPS

    SALEOR_AVAILABLE = True
except ImportError as error:
    from sandbox.settings import *  # noqa: F403
    from sandbox.settings import INSTALLED_APPS

    SALEOR_AVAILABLE = False
    SALEOR_MISSING_REASON = f"Saleor is not importable here ({error}); run `make test-saleor SALEOR_PYTHON=...`"
else:
    if "saleor_conveyor" not in INSTALLED_APPS:
        INSTALLED_APPS.append("saleor_conveyor")
    # The tier with sql.py's other ways, from the environment: CONVEYOR_TIER_SQL_BATCHING=pipeline, and
    # CONVEYOR_TIER_PREPARE_THRESHOLD=N as a host gives it (DATABASES OPTIONS "prepare_threshold").
    import os as _os

    if _os.environ.get("CONVEYOR_TIER_SQL_BATCHING"):
        CONVEYOR_SQL_BATCHING = _os.environ["CONVEYOR_TIER_SQL_BATCHING"]
    _threshold = _os.environ.get("CONVEYOR_TIER_PREPARE_THRESHOLD")
    if _threshold:
        for _database in DATABASES.values():  # noqa: F405
            _database.setdefault("OPTIONS", {})["prepare_threshold"] = int(_threshold)
