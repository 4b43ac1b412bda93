"""Everything that speaks Saleor: the plugin, its Dashboard configuration, Saleor's orders as events,
the backfill reader and Saleor's beat rows (the Saleor host, `hosts/saleor.py`, is the other module that
imports Saleor; tests/test_layers.py keeps it so).

Another ingress (Saleor apps and webhooks) would replace this folder and feed the same service.
"""
