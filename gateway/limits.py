"""The API's input limits, defined once: page sizes, the shape of engine IDs and the length of
every text argument that reaches SQL. Checks, error messages and the schema's descriptions
are built from these values, never from copies of them."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# Connections: ``first``/``last`` default and bound; ``nodes(ids:)`` length.
DEFAULT_PAGE = 10
MAX_PAGE = 100
MAX_NODE_IDS = 100

# Engine IDs (flowId, integrationId, runId, stepId, appId): assigned by the engine.
ENGINE_ID_MAX = 128
ENGINE_ID_CHARS = "A-Za-z0-9_.:@-"
ENGINE_ID = re.compile(f"[{ENGINE_ID_CHARS}]{{1,{ENGINE_ID_MAX}}}")

# Values in one list argument (filters); lists with a limit of their own are checked by it.
MAX_LIST_VALUES = 100

# ingestEvents batch; bulk actions (disableIntegrations).
MAX_INGEST_BATCH = 1000
MAX_BULK_ACTION = 100

# Rate limits: an operation costs one point per this many nodes of its worst-case node count
# (rounded, at least one point); an ingest key's bucket holds this many seconds of events (at
# least one full batch).
NODES_PER_POINT = 100
INGEST_BURST_SECONDS = 5

# userId and userAuth come from the account's own app: any printable text up to this.
USER_TEXT_MAX = 256
# An event's eventId, chosen by the engine: any printable text up to this.
EVENT_ID_MAX = 256

# An ingested JSON value (a payload object's value) is nested at most this many arrays and
# objects deep; a deeper one is BAD_USER_INPUT for its event.
MAX_JSON_DEPTH = 64

# A search matches a whole value (an engine ID, a userId or userAuth, an app's name), none of
# which is longer than this; a flow's name is at most as long, so is any part of it.
SEARCH_MAX = 256
WEBHOOK_URL_MAX = 2048
# A notification's webhook-id ("msg_" and 24 characters; the column holds 64).
WEBHOOK_ID_MAX = 64
NAME_CONTAINS_MAX = 256


def _base64_length(size: int) -> int:
    return math.ceil(size * 4 / 3)  # unpadded


# The longest global ID that names something: base64url of "EndUser:" and a userId of
# USER_TEXT_MAX characters of 4 UTF-8 bytes each (engine IDs are shorter).
GLOBAL_ID_MAX = _base64_length(len("EndUser:") + 4 * USER_TEXT_MAX)


@dataclass(frozen=True, slots=True)
class TextLimit:
    """The longest text an argument (or input field) takes; past it, BAD_USER_INPUT."""

    max_chars: int
    what: str

    def describe(self, each: bool = False) -> str:
        subject = "Each at most" if each else "At most"
        return f"{subject} {self.max_chars:,} characters (BAD_USER_INPUT past that)."


# Where an argument's TextLimit is declared: ``strawberry.argument(metadata={LIMIT: ...})``.
LIMIT = "gateway.limit"

ENGINE_ID_TEXT = TextLimit(ENGINE_ID_MAX, "an engine ID")
USER_ID_TEXT = TextLimit(USER_TEXT_MAX, "a userId")
SEARCH_TEXT = TextLimit(SEARCH_MAX, "a search")
NAME_CONTAINS_TEXT = TextLimit(NAME_CONTAINS_MAX, "a part of a name")
GLOBAL_ID_TEXT = TextLimit(GLOBAL_ID_MAX, "a global ID")
WEBHOOK_URL_TEXT = TextLimit(WEBHOOK_URL_MAX, "a webhook URL")
WEBHOOK_ID_TEXT = TextLimit(WEBHOOK_ID_MAX, "a webhook-id")
