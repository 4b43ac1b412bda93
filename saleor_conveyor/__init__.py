"""The belt-conveyor retention method as a Saleor plugin."""

__version__ = "0.1.0"
