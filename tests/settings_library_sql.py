"""The core suite's settings with the libraries' ways in sql.py: psycopg's pipeline and prepared statements,
Django's transaction.atomic(): `pytest --ds tests.settings_library_sql`."""

from tests.settings import *  # noqa: F403

CONVEYOR_SQL_BATCHING = "pipeline"
CONVEYOR_OWN_TRANSACTION = False
