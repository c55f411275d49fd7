"""Service layer: one async handler per command, the message bus and the ports (Protocols) that
adapters implement. It depends on the domain and the engine, never on a concrete adapter.
"""
