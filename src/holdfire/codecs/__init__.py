"""Codecs: sans-I/O conversion between bytes or JSON-ready values and domain objects.

Nothing here opens a socket or a file; every function takes and returns plain values, so the same
code serves the HTTP API, the store, MQTT, NATS and the tests.
"""
