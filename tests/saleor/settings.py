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
