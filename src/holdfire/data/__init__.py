"""Shipped reference tables (weapons, mobility classes, lookalike equipment) with provenance.

The TOML files here are read by `holdfire.adapters.tables.load_tables`; an operator replaces or
adds rows with `<data dir>/tables/<name>.toml` rather than editing these files.

`catalog/` holds the message catalog (domain.md §7): `messages.toml` (ids, typed parameters,
priorities) and one `<lang>.toml` of renderings per language, read by
`holdfire.adapters.catalog.load_catalog`; an operator adds a language or replaces renderings with
`<data dir>/catalog/<lang>.toml`.
"""
