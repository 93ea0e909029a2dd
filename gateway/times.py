"""Times as the API shows them, defined once for the schema and the ingest messages."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC with ``Z`` and milliseconds: ``2026-11-01T12:00:00.000Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
