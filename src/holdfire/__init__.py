"""holdfire: answers, before any strike, whether it is safe to fire here, and never says "safe"."""

__version__ = "0.1.0"
