"""How the server's log looks: plain text lines, or one JSON object a line
(``GATEWAY_LOG_FORMAT=json``) for log collectors.

Every record of the gateway and of uvicorn goes to stderr in the chosen format. A record may
carry structured ``fields`` (``extra={"fields": {...}}``): JSON lines hold them as keys of
their own, beside ``time``, ``level``, ``logger`` and ``message``; text lines show the message
only, which names them too.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)


def log_config(log_format: str, level: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for ``gateway serve`` (uvicorn applies it in each
    worker process): the gateway's and uvicorn's loggers, to stderr, at ``level``."""
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    level = level.upper()
    handler = ["stderr"]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"gateway": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "gateway",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "gateway": {"handlers": handler, "level": level, "propagate": False},
            "uvicorn": {"handlers": handler, "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": handler, "level": level, "propagate": False},
        },
    }
