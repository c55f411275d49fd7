"""Network adapters: the CoT server (TCP, TLS, UDP)."""
