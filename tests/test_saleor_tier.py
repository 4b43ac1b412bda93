"""Says, in every core run, why the Saleor tier's tests are not among the results."""

import importlib.util

import pytest


def test_saleor_tier_runs_in_its_own_session():
    if importlib.util.find_spec("saleor") is None:
        reason = "Saleor is not installed in this environment"
    else:
        reason = "Saleor is installed but its fixtures need their own pytest session"
    pytest.skip(f"{reason}; run tests/saleor/ with: make test-saleor SALEOR_PYTHON=/path/to/saleor/venv/bin/python")
