"""Creates the sandbox database named by DATABASE_URL if it does not exist yet."""

import os
import sys
from urllib.parse import unquote, urlparse

import psycopg
from psycopg import sql

url = urlparse(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/conveyor_sandbox"))
name = unquote(url.path.lstrip("/")) or "conveyor_sandbox"
params = {
    "host": url.hostname or "127.0.0.1",
    "port": url.port or 5432,
    "user": unquote(url.username or "postgres"),
    "password": unquote(url.password or ""),
    "dbname": "postgres",
    "autocommit": True,
}
try:
    with psycopg.connect(**params) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}")
except psycopg.OperationalError as error:
    sys.exit(f"cannot reach PostgreSQL at {params['host']}:{params['port']} ({error}); is it running?")
