"""Adapters: the I/O edge (files, stores, buses, network), translating third-party errors."""
