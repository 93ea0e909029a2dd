"""The server's access log without query strings: a GET /graphql carries the operation's
variables in its URL, and parameters are never logged."""

from __future__ import annotations

import logging

ACCESS_LOGGER = "uvicorn.access"


class WithoutQueryString(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            path, _, query = args[2].partition("?")
            if query:
                record.args = (*args[:2], f"{path}?…", *args[3:])
        return True


def install() -> None:
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, WithoutQueryString) for f in logger.filters):
        logger.addFilter(WithoutQueryString())
