"""The name Saleor finds the plugin by: the `saleor.plugins` entry point `saleor_conveyor.plugin:ConveyorPlugin`.

The plugin itself is `saleor/plugin.py`. This module stays at the package root because Saleor's Celery app
autodiscovers tasks in the *package* of each plugin's module (`saleor.plugins.discover_plugins_modules`),
which must be `saleor_conveyor` for `saleor_conveyor.tasks` to be found.
"""

from .saleor.plugin import ConveyorPlugin

__all__ = ["ConveyorPlugin"]
