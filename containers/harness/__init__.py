"""camp's in-container harness: runs one experiment cycle and measures its energy."""

__version__ = "0.1.0"
