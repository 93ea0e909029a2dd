"""Integration statuses: which changes are allowed, and the one function that makes them.

Every change, whoever makes it (an admin's key, the engine, the auto-pause rule, a task
limit), goes through ``change_status``: the row is updated and a history entry written the
same way, so "why is this paused?" always has an answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.errors import Conflict

NOT_RECEIVING = frozenset({"DISABLED", "PAUSED", "DELETED"})

# What an admin may ask for, and from which statuses (SPEC §1).
_USER_FROM = {
    "DISABLED": frozenset({"ENABLED", "PAUSED"}),
    "ENABLED": frozenset({"DISABLED", "PAUSED"}),
    "DELETED": None,  # from any status
}


@dataclass(frozen=True, slots=True)
class Actor:
    kind: str  # KEY, ENGINE, AUTO_PAUSE or TASK_LIMIT
    name: str
    role: str | None = None


ENGINE = Actor("ENGINE", "engine")
AUTO_PAUSE = Actor("AUTO_PAUSE", "auto-pause")
TASK_LIMIT = Actor("TASK_LIMIT", "task-limit")


def check_user_transition(integration_id: str, current: str, target: str) -> bool:
    """True if the change is to be made, False if it is a no-op (already there).
    Raises Conflict for a change that is not allowed."""
    if current == target:
        return False
    allowed = _USER_FROM[target]
    if current == "DELETED" or (allowed is not None and current not in allowed):
        raise Conflict(
            f"Integration {integration_id!r} is {current}; it cannot become {target}.",
            status=current,
        )
    return True


def change_status(
    row: dict[str, Any],
    status: str,
    reason: str | None,
    at: datetime,
    actor: Actor,
    history: list[dict[str, Any]],
) -> str:
    """Applies a change to an integration row in place and records it; returns the previous
    status."""
    previous: str = row["status"]
    row["status"] = status
    row["paused_reason"] = reason if status == "PAUSED" else None
    row["status_changed_at"] = at
    if status in NOT_RECEIVING:
        if previous not in NOT_RECEIVING:
            row["receiving_stopped_at"] = at
    else:
        row["receiving_stopped_at"] = None
    if status == "ENABLED":
        row["consecutive_failures"] = 0
    history.append(
        {
            "account_id": row["account_id"],
            "integration_id": row["integration_id"],
            "at": at,
            "from_status": previous,
            "to_status": status,
            "reason": row["paused_reason"],
            "actor_kind": actor.kind,
            "actor_name": actor.name,
            "actor_role": actor.role,
        }
    )
    return previous
