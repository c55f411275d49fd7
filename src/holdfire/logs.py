"""What `holdfire serve` logs, and how: text lines or one JSON object per line.

`--log-format text` (the default) writes `TIME LEVEL LOGGER MESSAGE` lines. `--log-format
json` writes one JSON object per line: `time` (RFC 3339 UTC, milliseconds), `level`, `logger`,
`message`, then any fields the record carries (`extra=`), `exception` and `stack` when there
are some; Python warnings are logged the same way (logger `py.warnings`), so every line on
stderr parses. Both formats mask tokens (`hf_…`, `?token=`) in every record of every logger,
in the message and in each field, before anything is written.
"""

import json
import logging
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from holdfire.bootstrap import RedactSecrets, mask_secrets

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# Attributes every LogRecord has: what is not among them came as a field (`extra=`).
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "color_message",  # uvicorn's copy of the message with terminal colours
    "message",
    "asctime",
}


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        at = datetime.fromtimestamp(record.created, UTC)
        out: dict[str, Any] = {
            "time": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_secrets(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_") and key not in out:
                out[key] = _field(value)
        if record.exc_info:
            out["exception"] = mask_secrets(self.formatException(record.exc_info))
        if record.stack_info:
            out["stack"] = mask_secrets(self.formatStack(record.stack_info))
        return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


def _field(value: object) -> object:
    """JSON's own types pass as they are (strings masked); anything else as its text."""
    if isinstance(value, bool | int | float) or value is None:
        return value
    return mask_secrets(value if isinstance(value, str) else str(value))


def configure(log_format: LogFormat, level: int = logging.INFO) -> None:
    """Log to stderr in `log_format`, every record passed through the secret mask."""
    handler = logging.StreamHandler()
    handler.addFilter(RedactSecrets())
    if log_format is LogFormat.JSON:
        handler.setFormatter(JsonFormatter())
        logging.captureWarnings(True)
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
