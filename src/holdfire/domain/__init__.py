"""Domain model: frozen values and the vocabulary of holdfire (no I/O, no clock, no framework)."""
