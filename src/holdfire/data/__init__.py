"""Shipped reference tables (weapons, mobility classes, lookalike equipment) with provenance.

The TOML files here are read by `holdfire.adapters.tables.load_tables`; an operator replaces or
adds rows with `<data dir>/tables/<name>.toml` rather than editing these files.
"""
