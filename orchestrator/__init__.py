"""camp's host side: campaigns, the manifest, dispatch to containers, aggregation and reports."""
