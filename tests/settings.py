"""The core suite's settings: the sandbox's, with a throwaway secret key made for this run.

The key goes into the environment, so the workers and servers the tests start (tests/delivery/helpers.py)
sign and check with the same one. Passwords use a fast hasher: every test user is made with one.
"""

import os
import secrets

os.environ.setdefault("SECRET_KEY", f"tests-{secrets.token_urlsafe(40)}")

from sandbox.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The suite changes the shop between requests and compares the console's figures with the API's at once:
# the overview computes them on every request here (tests/console/test_overview_cache.py turns the cache on).
CONVEYOR_CONSOLE_CACHE_SECONDS = 0
# Each test run's cache is its own (tests that need one shared with a worker use Redis: test_overview_worker.py).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "conveyor-tests"}}
