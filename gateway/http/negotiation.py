"""GraphQL over HTTP: which media type to answer with, and which status a result gets.

With ``application/graphql-response+json`` a request error (unparsable JSON, a bad document,
invalid variables, a refused operation) is a 4xx without ``data``; with legacy
``application/json`` the same result goes out as 200, as clients of that type expect.
"""

from __future__ import annotations

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"


def _media_ranges(accept: str) -> list[tuple[str, float]]:
    ranges = []
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media:
            ranges.append((media.lower(), q))
    return ranges


def response_media_type(accept: str | None) -> str | None:
    """The media type to answer with, or None when nothing acceptable is offered (406)."""
    if not accept or not accept.strip():
        return JSON
    best: tuple[float, int, str] | None = None
    for media, q in _media_ranges(accept):
        if q <= 0:
            continue
        if media == GRAPHQL_RESPONSE:
            choice = (q, 2, GRAPHQL_RESPONSE)
        elif media == JSON:
            choice = (q, 1, JSON)
        elif media in ("*/*", "application/*"):
            choice = (q, 0, JSON)
        else:
            continue
        if best is None or choice[:2] > best[:2]:
            best = choice
    return None if best is None else best[2]


def wants_html(accept: str | None) -> bool:
    """Whether the client (a browser) prefers an HTML page to a JSON answer: ``text/html`` is
    acceptable and not ranked below the JSON types (``*/*`` alone is not a request for HTML)."""
    if not accept:
        return False
    html = json = 0.0
    for media, q in _media_ranges(accept):
        if media == "text/html":
            html = max(html, q)
        elif media in (GRAPHQL_RESPONSE, JSON):
            json = max(json, q)
    return html > 0 and html >= json
