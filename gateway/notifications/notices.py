"""What a notification is about, before it is a row: its types (contract names) and the
task-limit crossings that writers hand to their unit of work."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

RUN_FAILED = "run.failed"
RUN_RECOVERED = "run.recovered"
INTEGRATION_PAUSED = "integration.paused"
INTEGRATION_FAILED_TO_INITIALIZE = "integration.failed_to_initialize"
TASK_LIMIT_80 = "end_user.task_limit_80"
TASK_LIMIT_100 = "end_user.task_limit_100"
TEST = "notification.test"

TYPES = (
    RUN_FAILED,
    RUN_RECOVERED,
    INTEGRATION_PAUSED,
    INTEGRATION_FAILED_TO_INITIALIZE,
    TASK_LIMIT_80,
    TASK_LIMIT_100,
    TEST,
)
TASK_LIMIT_TYPES = {80: TASK_LIMIT_80, 100: TASK_LIMIT_100}


@dataclass(frozen=True, slots=True)
class LimitCrossing:
    """An end-user's tasks in the current period reached ``percent`` of their limit."""

    account_id: str
    user_id: str
    percent: int
    task_limit: int
    period_tasks: int
    period_start: datetime
    period_end: datetime
    at: datetime
