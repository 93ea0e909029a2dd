"""The statuses and choices of the API (contract names)."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum
class FlowStatus(Enum):
    PUBLISHED = "PUBLISHED"
    DRAFT = "DRAFT"


@strawberry.enum
class IntegrationStatus(Enum):
    INITIALIZING = "INITIALIZING"
    ENABLED = "ENABLED"
    DISABLED = "DISABLED"
    PAUSED = "PAUSED"
    FAILED_TO_INITIALIZE = "FAILED_TO_INITIALIZE"
    DELETED = "DELETED"


@strawberry.enum
class PauseReason(Enum):
    TOO_MANY_ERRORS = "TOO_MANY_ERRORS"
    BILLING = "BILLING"


@strawberry.enum
class LastRunStatus(Enum):
    OK = "OK"
    FAILED = "FAILED"
    RUNNING = "RUNNING"
    HASNT_RUN = "HASNT_RUN"


@strawberry.enum
class RunStatus(Enum):
    OK = "OK"
    FAILED = "FAILED"
    RUNNING = "RUNNING"


@strawberry.enum
class StepStatus(Enum):
    OK = "OK"
    FAILED = "FAILED"
    RUNNING = "RUNNING"
    SKIPPED = "SKIPPED"


@strawberry.enum
class TriggerType(Enum):
    WEBHOOK = "WEBHOOK"
    POLL = "POLL"
    SCHEDULE = "SCHEDULE"
    MANUAL = "MANUAL"


@strawberry.enum
class NetworkCodeClass(Enum):
    C2XX = 2
    C3XX = 3
    C4XX = 4
    C5XX = 5


@strawberry.enum
class OrderDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"


@strawberry.enum
class IntegrationOrderField(Enum):
    CREATED_AT = "CREATED_AT"
    LAST_RUN_START = "LAST_RUN_START"


@strawberry.enum
class RunOrderField(Enum):
    START_TIME = "START_TIME"
    DURATION = "DURATION"


@strawberry.enum
class Role(Enum):
    VIEWER = "VIEWER"
    ADMIN = "ADMIN"
    INGEST = "INGEST"
