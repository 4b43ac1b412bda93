"""Saleor's fixtures and ours, as in the Saleor test tier (this directory is its own rootdir)."""

from tests.saleor.conftest import *  # noqa: F403
