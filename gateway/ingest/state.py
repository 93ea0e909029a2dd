"""The rows one ingest batch touches, held in memory while its events are applied."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Row = dict[str, Any]


@dataclass
class BatchState:
    account_id: str
    apps: dict[str, Row] = field(default_factory=dict)
    flows: dict[str, Row] = field(default_factory=dict)
    integrations: dict[str, Row] = field(default_factory=dict)
    runs: dict[str, Row] = field(default_factory=dict)
    steps: dict[str, Row] = field(default_factory=dict)
    early_finishes: dict[str, Row] = field(default_factory=dict)
    payloads: dict[str, Row] = field(default_factory=dict)
    end_users: dict[str, Row] = field(default_factory=dict)
    # Status history entries to insert, in the order applied.
    history: list[Row] = field(default_factory=list)
    # The account's auto-pause threshold (0 = off), and the moment the batch is applied: tasks
    # count towards a limit's period by when they were ingested.
    auto_pause_after: int = 0
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    dirty: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    # (flow_id, hour) -> [runs, failed_runs, tasks] deltas, added to the stored buckets.
    hours: dict[tuple[str, datetime], list[int]] = field(default_factory=dict)
    # Kept finishes that were used (or dropped) by a runStarted: deleted, not written.
    applied_early_finishes: set[str] = field(default_factory=set)
    # run_id -> eventIds of this batch's runFinished events kept for that run.
    early_finish_events: dict[str, list[str]] = field(default_factory=dict)
    network_codes_to_recompute: set[str] = field(default_factory=set)

    def touch(self, table: str, key: str) -> None:
        self.dirty[table].add(key)

    def rows_to_write(self, table: str) -> list[Row]:
        source: dict[str, Row] = getattr(self, table)
        return [source[key] for key in sorted(self.dirty.get(table, ()))]

    def integrations_of_user(self, user_id: str) -> list[Row]:
        return [i for i in self.integrations.values() if i["user_id"] == user_id]

    def steps_of_run(self, run_id: str) -> list[Row]:
        return [step for step in self.steps.values() if step["run_id"] == run_id]

    def add_to_hour(
        self, flow_id: str, start: datetime, runs: int = 0, failed: int = 0, tasks: int = 0
    ) -> None:
        if not (runs or failed or tasks):
            return
        hour = start.replace(minute=0, second=0, microsecond=0)
        bucket = self.hours.setdefault((flow_id, hour), [0, 0, 0])
        bucket[0] += runs
        bucket[1] += failed
        bucket[2] += tasks
