"""The HTTP API (FastAPI): routes, DTOs, authentication and the live WebSocket stream."""
