"""The JSON log format: one object per record, its fields, and tokens masked in all of it."""

import json
import logging
import sys

from holdfire.logs import JsonFormatter

TOKEN = "hf_" + "A1b2C3d4E5f6G7h8I9j0" * 2


def record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("holdfire.api", logging.WARNING, __file__, 1, msg, args, None)
    made.__dict__.update(extra)
    return made


def test_a_record_is_one_line_of_json_with_its_fields() -> None:
    line = JsonFormatter().format(
        record("client %s refused", "alpha", peer="10.0.0.7:5500", attempts=3, color_message="x")
    )
    assert "\n" not in line
    out = json.loads(line)
    assert out["level"] == "WARNING" and out["logger"] == "holdfire.api"
    assert out["message"] == "client alpha refused"
    assert out["time"].endswith("Z") and "T" in out["time"]
    assert out["peer"] == "10.0.0.7:5500" and out["attempts"] == 3
    assert "color_message" not in out and "args" not in out and "msg" not in out


def test_tokens_are_masked_in_the_message_the_fields_and_the_exception() -> None:
    made = record("GET /api/v1/stream?token=%s", TOKEN, url=f"/x?token={TOKEN}", who=[TOKEN])
    try:
        raise ValueError(f"bad token {TOKEN}")
    except ValueError:
        made.exc_info = sys.exc_info()
    line = JsonFormatter().format(made)
    assert TOKEN not in line
    out = json.loads(line)
    assert out["message"] == "GET /api/v1/stream?token=***"
    assert out["url"] == "/x?token=***" and out["who"] == "['***']"
    assert "ValueError: bad token ***" in out["exception"]
