"""Settings of the sandbox host: PostgreSQL (DATABASE_URL), Celery on Redis (CELERY_BROKER_URL)."""

import json
import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent
DEBUG = os.environ.get("DEBUG", "") == "1"
# The key signs access tokens and the links in mails: one anyone can read in this file would let them
# sign in as staff. DEBUG=1 (a developer's machine) has a fixed one; otherwise SECRET_KEY must be set.
_DEBUG_ONLY_KEY = "django-insecure-sandbox-debug-only"
_PUBLISHED_KEYS = {"", "sandbox-not-secret", _DEBUG_ONLY_KEY}
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if SECRET_KEY in _PUBLISHED_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured(
            "The sandbox needs a secret key outside DEBUG: set SECRET_KEY to a long random value "
            '(python -c "import secrets; print(secrets.token_urlsafe(50))"), or DEBUG=1 on a development machine.'
        )
    SECRET_KEY = _DEBUG_ONLY_KEY
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django_celery_beat",
    "saleor_conveyor",
    "sandbox.shop",
    "sandbox.demo",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "sandbox.urls"
STATIC_URL = "/static/"  # the sandbox serves no static files; the test live server needs a prefix
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": []},
    }
]
WSGI_APPLICATION = "sandbox.wsgi.application"


def _database(url: str) -> dict:
    parsed = urlparse(url)
    if parsed.scheme not in {"postgres", "postgresql"}:
        raise ValueError(f"DATABASE_URL must be a postgres:// URL, got {url!r}")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parsed.path.lstrip("/")) or "conveyor_sandbox",
        "USER": unquote(parsed.username or "postgres"),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": parsed.hostname or "127.0.0.1",
        "PORT": str(parsed.port or 5432),
        # Saleor reads DB_CONN_MAX_AGE too (its default 0 suits ASGI, which opens a thread per request).
        "CONN_MAX_AGE": int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        # A connection kept from an earlier request (persistent, or in the pool, where it is psycopg_pool's
        # check) is tested before it is used: one the server dropped (a restart, a failover, an idle
        # timeout) is replaced, not handed to the request.
        "CONN_HEALTH_CHECKS": True,
        # Seconds to wait for the server to answer a new connection (libpq waits for ever without it).
        "OPTIONS": {"connect_timeout": int(os.environ.get("DB_CONNECT_TIMEOUT", "10")), **_pool_options()},
    }


def _pool_options() -> dict:
    """DB_POOL_MAX_SIZE=N: Django's own psycopg connection pool (Django 5.1+), N connections per process.

    Under ASGI every request runs on a new thread, so persistent connections cannot be reused;
    a pool keeps them open across requests instead. Django requires CONN_MAX_AGE=0 with it.
    """
    size = os.environ.get("DB_POOL_MAX_SIZE", "")
    if not size:
        return {}
    if not size.isdigit() or int(size) < 1:
        raise ValueError(f"DB_POOL_MAX_SIZE must be a positive number of connections, got {size!r}")
    return {"pool": {"min_size": 1, "max_size": int(size), "timeout": 10}}


DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/conveyor_sandbox")
DATABASES = {"default": _database(DATABASE_URL)}

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ja", "Japanese")]

# Django's cache on Redis, shared by the web server and the Celery worker: the console's overview keeps its
# figures there, computed by the beat task or a worker (docs/console.md); a cache local to each process
# would keep them where the other never looks. A Redis that refuses connections fails at once; one that stalls
# costs at most a quarter of a second per call (a page makes about six), and the page computes its figures.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ.get("CACHE_URL", "redis://127.0.0.1:6379/1"),
        "KEY_PREFIX": "conveyor-sandbox",
        "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
    }
}
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
CELERY_TASK_ALWAYS_EAGER = os.environ.get("CELERY_TASK_ALWAYS_EAGER", "") == "1"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Every call to the broker gives up after these seconds: a broker that accepts connections and
# never answers stalls no worker. (Enqueueing in a request waits at most CONVEYOR_DELIVERY's
# enqueue_timeout, 2 s, or these if shorter.)
_broker_timeout = float(os.environ.get("CELERY_BROKER_TIMEOUT", "10"))
CELERY_BROKER_CONNECTION_TIMEOUT = _broker_timeout
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": _broker_timeout, "socket_timeout": _broker_timeout}
CELERY_TIMEZONE = "UTC"

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "127.0.0.1")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
# Seconds an SMTP connection waits for the server (Django waits for ever without it).
EMAIL_TIMEOUT = float(os.environ.get("EMAIL_TIMEOUT", "10"))
DEFAULT_FROM_EMAIL = "shop@example.com"

# The shop's conveyor settings; see saleor_conveyor/config.py for every key.
CONVEYOR = {
    "sender_name": "Sandbox Shop",
    "sender_email": "shop@example.com",
    "storefront_url": "http://localhost:3000",
    "amount_tiers": {
        "card": {"JPY": 10000, "USD": 100},
        "vip": {"JPY": 20000, "USD": 200},
        "cocreate": {"JPY": 30000, "USD": 300},
    },
}

# The sandbox shop answers the host's order questions (returns flow).
CONVEYOR_ORDER_INFO = "sandbox.shop.orders.order_info"
CONVEYOR_CREATE_RETURN = "sandbox.shop.orders.create_return"
CONVEYOR_SHIPPING_ADDRESSES = "sandbox.shop.orders.shipping_addresses"
# Tests and demos adjust the conveyor without editing this file: JSON objects from the environment.
CONVEYOR.update(json.loads(os.environ.get("CONVEYOR_SETTINGS_JSON") or "{}"))
# Delivery knobs (batch size, retries, lease...): see saleor_conveyor/delivery.py DeliverySettings.
CONVEYOR_DELIVERY = json.loads(os.environ.get("CONVEYOR_DELIVERY_JSON") or "{}")
# Addresses or networks of the proxies in front of the sandbox (comma-separated): only their X-Forwarded-For
# is read, from the right (saleor_conveyor/hosts/django.py DjangoHost.client_address). Default: none.
CONVEYOR_TRUSTED_PROXIES = [p.strip() for p in os.environ.get("CONVEYOR_TRUSTED_PROXIES", "").split(",") if p.strip()]
# PREPARE/EXECUTE on connections that outlive a request (docs/install.md: Prepared statements); 0 switches it off.
# Where the sandbox answers, for the links in its emails (`make serve` sets it to its own address).
CONVEYOR_PUBLIC_URL = os.environ.get("CONVEYOR_PUBLIC_URL", "http://localhost:8000")
CONVEYOR_PREPARED_STATEMENTS = os.environ.get("CONVEYOR_PREPARED_STATEMENTS", "1") != "0"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"saleor_conveyor": {"handlers": ["console"], "level": os.environ.get("CONVEYOR_LOG", "WARNING")}},
}
