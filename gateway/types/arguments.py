"""Text arguments shared by several fields: their limits (checked before execution, see
``gateway.resolvers.arguments``) and their matching rules, in the descriptions GraphiQL shows."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from gateway.limits import (
    ENGINE_ID_CHARS,
    ENGINE_ID_MAX,
    ENGINE_ID_TEXT,
    GLOBAL_ID_TEXT,
    LIMIT,
    NAME_CONTAINS_TEXT,
    SEARCH_TEXT,
    USER_ID_TEXT,
    USER_TEXT_MAX,
    TextLimit,
)


def limited(limit: TextLimit, description: str, each: bool = False) -> Any:
    """An argument that refuses text (``each`` item of a list) past ``limit``, saying so in
    its description."""
    return strawberry.argument(
        description=f"{description} {limit.describe(each)}", metadata={LIMIT: limit}
    )


def limited_field(limit: TextLimit, description: str) -> Any:
    """The same for a field of an input type (optional, null by default)."""
    return strawberry.field(
        default=None, description=f"{description} {limit.describe()}", metadata={LIMIT: limit}
    )


IntegrationSearch = Annotated[
    str | None,
    limited(
        SEARCH_TEXT,
        "Matches a whole value: the integrationId or the userId exactly (case-sensitive), or "
        "the userAuth ignoring case (Unicode case folding). Empty means no search.",
    ),
]
RunSearch = Annotated[
    str | None,
    limited(
        SEARCH_TEXT,
        "Matches a whole value: the runId exactly (case-sensitive), or the trigger app's name "
        "ignoring case (Unicode case folding). Empty means no search.",
    ),
]
NAME_CONTAINS = limited_field(
    NAME_CONTAINS_TEXT,
    "Part of the flow's name, ignoring case (Unicode case folding); %, _ and \\ match "
    "themselves. Empty means no constraint.",
)

# The integrations an action changes: an unknown ID is NOT_FOUND.
ActedIntegrationId = Annotated[
    str, limited(ENGINE_ID_TEXT, "NOT_FOUND if the account has no such integration.")
]
ActedIntegrationIds = Annotated[
    list[str],
    limited(ENGINE_ID_TEXT, "NOT_FOUND if the account has no such integration.", each=True),
]
ActedUserId = Annotated[
    str, limited(USER_ID_TEXT, "NOT_FOUND if no integration of the account has this userId.")
]

GlobalId = Annotated[
    strawberry.ID,
    limited(GLOBAL_ID_TEXT, "A global ID (an `id` field); BAD_USER_INPUT if it is not one."),
]
GlobalIds = Annotated[
    list[strawberry.ID],
    limited(
        GLOBAL_ID_TEXT, "Global IDs (`id` fields); BAD_USER_INPUT for one that is not.", each=True
    ),
]

# Root lookups answer null for an ID that is not there, including one that cannot be there
# (too long, other characters): nothing is refused, nothing reaches the database.
_LOOKUP = (
    f"Engine IDs are 1 to {ENGINE_ID_MAX} characters of [{ENGINE_ID_CHARS}]; null for an unknown "
    "ID, and for any other text (no such ID can exist)."
)
LookupEngineId = Annotated[str, strawberry.argument(description=_LOOKUP)]
LookupUserId = Annotated[
    str,
    strawberry.argument(
        description=f"Printable text of 1 to {USER_TEXT_MAX} characters, matched exactly; null "
        "for an unknown userId, and for any other text."
    ),
]
