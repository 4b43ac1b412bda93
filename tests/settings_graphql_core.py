"""The core suite's settings with graphql-core 2's own executor.

pytest tests/graphql --ds tests.settings_graphql_core
"""

from tests.settings import *  # noqa: F403

CONVEYOR_GRAPHQL_EXECUTOR = "graphql-core"
