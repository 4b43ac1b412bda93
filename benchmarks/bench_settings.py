"""The sandbox's settings plus the switches the benchmarks compare, from the environment of the server they start."""

import os

from sandbox.settings import *  # noqa: F403

for _name in ("CONVEYOR_GRAPHQL_EXECUTOR", "CONVEYOR_SQL_BATCHING"):
    if os.environ.get(_name):
        globals()[_name] = os.environ[_name]
if os.environ.get("CONVEYOR_OWN_TRANSACTION"):
    CONVEYOR_OWN_TRANSACTION = os.environ["CONVEYOR_OWN_TRANSACTION"] != "0"
