"""Shared test builders (independent of the code under test where it matters)."""
