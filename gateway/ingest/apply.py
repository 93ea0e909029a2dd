"""Applying events to the in-memory state of a batch, keeping derived values right.

Events may arrive in any order and more than once with different event IDs; each handler is
written so that the final state does not depend on the order: final statuses never go back to
``RUNNING``, counters move by the difference a repeated event makes, and a ``runFinished`` that
precedes its ``runStarted`` waits in ``early_finishes``. A repeat that contradicts what is
stored (another final status, another start) is CONFLICT rather than a silent winner; a handler
checks everything before it changes anything, so a rejected event leaves no trace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from gateway.actions import task_limits
from gateway.actions.transitions import (
    AUTO_PAUSE,
    ENGINE,
    NOT_RECEIVING,
    TASK_LIMIT,
    Actor,
    change_status,
)
from gateway.ingest.events import Event, EventError, iso
from gateway.ingest.payloads import stored_payload
from gateway.ingest.redaction import Redactor
from gateway.ingest.state import BatchState, Row
from gateway.live.changes import Change, Kind
from gateway.notifications.notices import LimitCrossing

_MS = timedelta(milliseconds=1)
log = logging.getLogger(__name__)
# What an integrationCreated for an existing integration must repeat (when given).
_CREATION_FIELDS = (("flow_id", "flowId"), ("user_id", "userId"), ("user_auth", "userAuth"))
# ... and what a runStarted for an existing run must repeat.
_RUN_START_FIELDS = (
    ("integration_id", "integrationId"),
    ("start_time", "startTime"),
    ("trigger_app_id", "triggerAppId"),
    ("trigger_name", "triggerName"),
    ("trigger_type", "triggerType"),
)


# Steps that ran to an end; a SKIPPED step never ran and made no call.
_RAN = frozenset({"OK", "FAILED"})


def network_code_of(steps: Iterable[Row]) -> tuple[int | None, int | None]:
    """A run's ``(network_code, network_code_position)``: those of its last finished step,
    the highest (position, stepId) that ran (OK or FAILED). The code is None when that step
    got no HTTP response (a timeout, a refused connection), never an earlier step's code."""
    ran = [s for s in steps if s["status"] in _RAN]
    if not ran:
        return None, None
    last = max(ran, key=lambda s: (s["position"], s["step_id"]))
    return last["network_code"], last["position"]


def _duration(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, (end - start) // _MS)


class Applier:
    def __init__(self, state: BatchState, redactor: Redactor, body_limit: int) -> None:
        self.state = state
        self.redactor = redactor
        self.body_limit = body_limit
        # Changes of status, in the order applied: recorded in the batch's unit of work.
        self.changes: list[Change] = []
        # Task-limit thresholds reached, in the order applied: notified through the unit of work.
        self.crossings: list[LimitCrossing] = []
        # (eventId, error) of events of this batch that were accepted, then found invalid.
        self.withdrawn: list[tuple[str, EventError]] = []
        self._handlers: dict[str, Callable[[Event], None]] = {
            "app_upserted": self.app_upserted,
            "flow_upserted": self.flow_upserted,
            "integration_created": self.integration_created,
            "integration_status_changed": self.integration_status_changed,
            "run_started": self.run_started,
            "step_started": self.step_started,
            "step_finished": self.step_finished,
            "run_finished": self.run_finished,
        }

    def apply(self, event: Event) -> None:
        self._handlers[event.kind](event)

    # apps and flows -------------------------------------------------------------------

    def _ensure_app(self, app_id: str, at: datetime) -> None:
        if app_id not in self.state.apps:
            self.state.apps[app_id] = {
                "account_id": self.state.account_id,
                "app_id": app_id,
                "name": app_id,
                "name_folded": app_id.casefold(),
                "icon_url": None,
                "docs_url": None,
                # The epoch: any real appUpserted is newer than a placeholder.
                "updated_at": datetime.fromtimestamp(0, at.tzinfo),
            }
            self.state.touch("apps", app_id)

    def app_upserted(self, event: Event) -> None:
        d = event.data
        app = self.state.apps.get(d["app_id"])
        if app is not None and app["updated_at"] > event.occurred_at:
            return
        self.state.apps[d["app_id"]] = {
            "account_id": self.state.account_id,
            "app_id": d["app_id"],
            "name": d["name"],
            "name_folded": d["name"].casefold(),
            "icon_url": d.get("icon_url"),
            "docs_url": d.get("docs_url"),
            "updated_at": event.occurred_at,
        }
        self.state.touch("apps", d["app_id"])

    def flow_upserted(self, event: Event) -> None:
        d = event.data
        flow = self.state.flows.get(d["flow_id"])
        if flow is None:
            flow = self.state.flows[d["flow_id"]] = {
                "account_id": self.state.account_id,
                "flow_id": d["flow_id"],
                "created_at": event.occurred_at,
                "updated_at": event.occurred_at,
                "tasks_consumed": 0,
                "name": d["name"],
                "name_folded": d["name"].casefold(),
                "status": d["status"],
            }
        else:
            flow["created_at"] = min(flow["created_at"], event.occurred_at)
            if event.occurred_at >= flow["updated_at"]:
                flow.update(
                    name=d["name"],
                    name_folded=d["name"].casefold(),
                    status=d["status"],
                    updated_at=event.occurred_at,
                )
        self.state.touch("flows", d["flow_id"])

    # integrations ---------------------------------------------------------------------

    def _integration(self, integration_id: str) -> Row:
        integration = self.state.integrations.get(integration_id)
        if integration is None:
            raise EventError("NOT_FOUND", f"No integration {integration_id!r}.")
        return integration

    def integration_created(self, event: Event) -> None:
        d = event.data
        if d["flow_id"] not in self.state.flows:
            raise EventError("NOT_FOUND", f"No flow {d['flow_id']!r}.")
        existing = self.state.integrations.get(d["integration_id"])
        if existing is not None:
            self._integration_created_again(existing, event)
            return
        integration: Row = {
            "account_id": self.state.account_id,
            "integration_id": d["integration_id"],
            "flow_id": d["flow_id"],
            "user_id": d["user_id"],
            "user_auth": d.get("user_auth"),
            "user_auth_folded": None if d.get("user_auth") is None else d["user_auth"].casefold(),
            "created_at": event.occurred_at,
            "status": None,
            "paused_reason": None,
            "status_changed_at": event.occurred_at,
            "receiving_stopped_at": None,
            "last_run_start": None,
            "last_run_id": None,
            "last_run_status": "HASNT_RUN",
            "tasks_consumed": 0,
            "consecutive_failures": 0,
        }
        self.state.integrations[d["integration_id"]] = integration
        end_user = self._end_user(d["user_id"], event.occurred_at)
        self._set_status(integration, d.get("status") or "ENABLED", None, event.occurred_at, ENGINE)
        # An end-user already at their limit gets no new receiving integration either.
        self._roll_period(d["user_id"])
        if integration["status"] == "ENABLED" and task_limits.over_limit(end_user):
            self._set_status(integration, "PAUSED", "BILLING", self.state.now, TASK_LIMIT)

    def _integration_created_again(self, integration: Row, event: Event) -> None:
        """The same integration created again: the same flowId and userId, or CONFLICT. A
        userAuth fills one the integration has not got; a different one is CONFLICT. The
        status is ignored (integrationStatusChanged moves it); createdAt is the earliest."""
        d = event.data
        for name, label in _CREATION_FIELDS:
            stored, given = integration[name], d.get(name)
            if given is not None and stored is not None and stored != given:
                raise EventError(
                    "CONFLICT",
                    f"Integration {d['integration_id']!r} exists with {label} {stored!r}; "
                    f"this integrationCreated has {label} {given!r}.",
                )
        if integration["user_auth"] is None and d.get("user_auth") is not None:
            integration["user_auth"] = d["user_auth"]
            integration["user_auth_folded"] = d["user_auth"].casefold()
            self.state.touch("integrations", d["integration_id"])
        if event.occurred_at < integration["created_at"]:
            integration["created_at"] = event.occurred_at
            self.state.touch("integrations", d["integration_id"])

    def integration_status_changed(self, event: Event) -> None:
        d = event.data
        integration = self._integration(d["integration_id"])
        if event.occurred_at < integration["status_changed_at"]:
            return  # older than what is applied already
        if integration["status"] == "DELETED" and d["status"] != "DELETED":
            raise EventError("CONFLICT", f"Integration {d['integration_id']!r} is deleted.")
        if (integration["status"], integration["paused_reason"]) == (d["status"], d.get("reason")):
            integration["status_changed_at"] = event.occurred_at
            self.state.touch("integrations", d["integration_id"])
            return
        self._set_status(integration, d["status"], d.get("reason"), event.occurred_at, ENGINE)

    def _set_status(
        self, integration: Row, status: str, reason: str | None, at: datetime, actor: Actor
    ) -> None:
        previous = change_status(integration, status, reason, at, actor, self.state.history)
        self._status_changed(integration, previous, at)

    def _status_changed(self, integration: Row, previous: str | None, at: datetime) -> None:
        self.state.touch("integrations", integration["integration_id"])
        self._change(
            "integration",
            integration["integration_id"],
            previous,
            integration["status"],
            at,
            flow_id=integration["flow_id"],
            integration_id=integration["integration_id"],
            reason=integration["paused_reason"],
        )

    def _change(
        self,
        kind: Kind,
        object_id: str,
        previous: str | None,
        status: str,
        at: datetime,
        *,
        reason: str | None = None,
        flow_id: str | None = None,
        integration_id: str | None = None,
        run_id: str | None = None,
    ) -> None:
        self.changes.append(
            Change(
                self.state.account_id,
                kind,
                object_id,
                status,
                previous,
                at,
                reason=reason,
                flow_id=flow_id,
                integration_id=integration_id,
                run_id=run_id,
            )
        )

    def _end_user(self, user_id: str, active_at: datetime) -> Row:
        end_user = self.state.end_users.get(user_id)
        if end_user is None:
            end_user = task_limits.new_end_user(self.state.account_id, user_id, active_at)
            self.state.end_users[user_id] = end_user
        end_user["last_active_at"] = max(end_user["last_active_at"], active_at)
        self.state.touch("end_users", user_id)
        return end_user

    def _note_last_run(self, integration: Row, run: Row) -> None:
        newest = integration["last_run_start"] is None or (
            (run["start_time"], run["run_id"])
            > (integration["last_run_start"], integration["last_run_id"])
        )
        if newest:
            integration["last_run_start"] = run["start_time"]
            integration["last_run_id"] = run["run_id"]
        if integration["last_run_id"] == run["run_id"]:
            integration["last_run_status"] = run["status"]
        self.state.touch("integrations", integration["integration_id"])

    # runs -----------------------------------------------------------------------------

    def run_started(self, event: Event) -> None:
        d = event.data
        integration = self._integration(d["integration_id"])
        existing = self.state.runs.get(d["run_id"])
        if existing is not None:
            for name, label in _RUN_START_FIELDS:
                if existing[name] != d[name]:
                    shown = iso if name == "start_time" else repr
                    raise EventError(
                        "CONFLICT",
                        f"Run {d['run_id']!r} started with {label} {shown(existing[name])}; "
                        f"this runStarted has {label} {shown(d[name])}.",
                    )
            return  # a late or repeated runStarted never turns a run back to RUNNING
        # A limit's period that ended before this batch resumes what it paused before the
        # trigger is checked (the sweep may not have run yet).
        self._roll_period(integration["user_id"])
        stopped = integration["receiving_stopped_at"]
        if (
            integration["status"] in NOT_RECEIVING
            and stopped is not None
            and d["start_time"] >= stopped
        ):
            raise EventError(
                "INTEGRATION_NOT_RECEIVING",
                f"Integration {d['integration_id']!r} is {integration['status']} and receives "
                "no triggers.",
            )
        self._ensure_app(d["trigger_app_id"], event.occurred_at)
        run: Row = {
            "account_id": self.state.account_id,
            "run_id": d["run_id"],
            "integration_id": d["integration_id"],
            "flow_id": integration["flow_id"],
            "trigger_app_id": d["trigger_app_id"],
            "trigger_name": d["trigger_name"],
            "trigger_type": d["trigger_type"],
            "start_time": d["start_time"],
            "end_time": None,
            "duration_ms": None,
            "status": "RUNNING",
            "network_code": None,
            "network_code_position": None,
            "tasks_consumed": 0,
        }
        steps = self.state.steps_of_run(d["run_id"])
        run["tasks_consumed"] = sum(step["tasks"] for step in steps)
        run["network_code"], run["network_code_position"] = network_code_of(steps)
        self.state.runs[d["run_id"]] = run
        self.state.touch("runs", d["run_id"])
        self._end_user(integration["user_id"], d["start_time"])
        self._add_tasks(run, run["tasks_consumed"])
        self.state.add_to_hour(run["flow_id"], run["start_time"], runs=1)
        self._change(
            "run",
            d["run_id"],
            None,
            "RUNNING",
            event.occurred_at,
            flow_id=run["flow_id"],
            integration_id=run["integration_id"],
            run_id=d["run_id"],
        )
        self._note_last_run(integration, run)
        early = self.state.early_finishes.get(d["run_id"])
        if early is not None:
            self.state.applied_early_finishes.add(d["run_id"])
            if early["end_time"] >= run["start_time"]:
                self._finish_run(run, early["status"], early["end_time"], event.occurred_at)
            else:
                self._drop_early_finish(run, early)

    def _drop_early_finish(self, run: Row, early: Row) -> None:
        """A kept runFinished whose endTime is before the startTime that came later: the run
        stays RUNNING until a valid runFinished. Kept from this batch, it is rejected; from an
        earlier batch (whose answer said accepted), it is dropped with a warning."""
        message = (
            f"endTime {iso(early['end_time'])} is before the run's startTime "
            f"{iso(run['start_time'])}."
        )
        event_ids = self.state.early_finish_events.get(run["run_id"], [])
        self.withdrawn += [(i, EventError("BAD_USER_INPUT", message)) for i in event_ids]
        if run["run_id"] not in self.state.dirty["early_finishes"]:  # kept by an earlier batch
            log.warning(
                "account %s: dropped the kept runFinished of run %r: %s",
                self.state.account_id,
                run["run_id"],
                message,
            )

    def run_finished(self, event: Event) -> None:
        """A run finishes once: the same status and endTime again change nothing, another
        one is CONFLICT. Before its runStarted, the finish is kept (and checked) for it."""
        d = event.data
        run = self.state.runs.get(d["run_id"])
        if run is None:
            early = self.state.early_finishes.get(d["run_id"])
            if early is None:
                self.state.early_finishes[d["run_id"]] = {
                    "account_id": self.state.account_id,
                    "run_id": d["run_id"],
                    "status": d["status"],
                    "end_time": d["end_time"],
                }
                self.state.touch("early_finishes", d["run_id"])
            else:
                self._check_same_finish(d, early["status"], early["end_time"])
            self.state.early_finish_events.setdefault(d["run_id"], []).append(event.event_id)
            return
        if run["status"] != "RUNNING":
            self._check_same_finish(d, run["status"], run["end_time"])
            return
        if d["end_time"] < run["start_time"]:
            raise EventError(
                "BAD_USER_INPUT",
                f"endTime {iso(d['end_time'])} is before the run's startTime "
                f"{iso(run['start_time'])}.",
            )
        self._finish_run(run, d["status"], d["end_time"], event.occurred_at)

    @staticmethod
    def _check_same_finish(d: dict[str, Any], status: str, end_time: datetime) -> None:
        if (d["status"], d["end_time"]) != (status, end_time):
            raise EventError(
                "CONFLICT",
                f"Run {d['run_id']!r} already finished {status} at {iso(end_time)}; this "
                f"runFinished says {d['status']} at {iso(d['end_time'])}.",
            )

    def _finish_run(self, run: Row, status: str, end_time: datetime, at: datetime) -> None:
        previous = run["status"]
        run["status"] = status
        run["end_time"] = end_time
        run["duration_ms"] = _duration(run["start_time"], end_time)
        self.state.touch("runs", run["run_id"])
        failed_delta = (status == "FAILED") - (previous == "FAILED")
        self.state.add_to_hour(run["flow_id"], run["start_time"], failed=failed_delta)
        integration = self.state.integrations[run["integration_id"]]
        if previous == "RUNNING":
            if status == "OK":
                integration["consecutive_failures"] = 0
            elif integration["status"] == "ENABLED":
                integration["consecutive_failures"] += 1
                threshold = self.state.auto_pause_after
                if threshold and integration["consecutive_failures"] >= threshold:
                    self._set_status(integration, "PAUSED", "TOO_MANY_ERRORS", at, AUTO_PAUSE)
        self._note_last_run(integration, run)
        if previous != status:
            self._change(
                "run",
                run["run_id"],
                previous,
                status,
                at,
                flow_id=run["flow_id"],
                integration_id=run["integration_id"],
                run_id=run["run_id"],
            )

    def _roll_period(self, user_id: str) -> None:
        end_user = self.state.end_users.get(user_id)
        if end_user is None or end_user["task_limit"] is None:
            return
        period_end = end_user["period_end"]
        now = self.state.now
        for changed, previous in task_limits.roll_period(
            end_user, self.state.integrations_of_user(user_id), now, self.state.history
        ):
            self._status_changed(changed, previous, now)
        if end_user["period_end"] != period_end:
            self.state.touch("end_users", user_id)

    def _add_tasks(self, run: Row, delta: int) -> None:
        if not delta:
            return
        integration = self.state.integrations[run["integration_id"]]
        integration["tasks_consumed"] += delta
        self.state.touch("integrations", run["integration_id"])
        flow = self.state.flows.get(run["flow_id"])
        if flow is not None:
            flow["tasks_consumed"] += delta
            self.state.touch("flows", run["flow_id"])
        self.state.add_to_hour(run["flow_id"], run["start_time"], tasks=delta)
        user_id = integration["user_id"]
        end_user = self.state.end_users.get(user_id) or self._end_user(
            user_id, integration["created_at"]
        )
        self.state.touch("end_users", user_id)
        now = self.state.now
        for changed, previous in task_limits.add_tasks(
            end_user,
            self.state.integrations_of_user(user_id),
            delta,
            now,
            self.state.history,
            self.crossings,
        ):
            self._status_changed(changed, previous, now)

    def recompute_network_codes(self, stored_steps: dict[str, Row]) -> None:
        """Sets each flagged run's code from all its steps: the stored ones, overlaid with
        this batch's."""
        steps = {**stored_steps, **self.state.steps}
        by_run: dict[str, list[Row]] = {r: [] for r in self.state.network_codes_to_recompute}
        for step in steps.values():
            if step["run_id"] in by_run:
                by_run[step["run_id"]].append(step)
        for run_id, run_steps in by_run.items():
            run = self.state.runs[run_id]
            run["network_code"], run["network_code_position"] = network_code_of(run_steps)
            self.state.touch("runs", run_id)

    def _note_network_code(self, run: Row, old: Row | None, new: Row) -> None:
        """Keeps the run's code that of its last finished step as ``new`` finishes
        (``old``: the same step before). Where the run row cannot tell which step decides,
        the run is recomputed from all its steps at the end of the batch."""
        position = run["network_code_position"]
        ran = new["status"] in _RAN
        was_decider = old is not None and old["status"] in _RAN and old["position"] == position
        if was_decider or (ran and new["position"] == position):
            # The deciding step changed or moved, or a tie on its position (broken by the
            # step ID, which the run row does not hold).
            self.state.network_codes_to_recompute.add(run["run_id"])
        elif ran and (position is None or new["position"] > position):
            run["network_code"] = new["network_code"]
            run["network_code_position"] = new["position"]

    # steps ----------------------------------------------------------------------------

    def _step(self, d: dict[str, Any]) -> Row | None:
        step = self.state.steps.get(d["step_id"])
        if step is not None and step["run_id"] != d["run_id"]:
            raise EventError(
                "CONFLICT", f"Step {d['step_id']!r} belongs to run {step['run_id']!r}."
            )
        return step

    def step_started(self, event: Event) -> None:
        d = event.data
        step = self._step(d)
        end = step["end_time"] if step is not None and step["start_time"] is None else None
        if end is not None and d["start_time"] > end:
            raise EventError(
                "BAD_USER_INPUT",
                f"startTime {iso(d['start_time'])} is after the step's endTime {iso(end)}.",
            )
        self._ensure_app(d["app_id"], event.occurred_at)
        if step is not None:
            if step["start_time"] is None:
                step["start_time"] = d["start_time"]
                step["duration_ms"] = _duration(step["start_time"], step["end_time"])
                self.state.touch("steps", d["step_id"])
            return
        self.state.steps[d["step_id"]] = {
            "account_id": self.state.account_id,
            "step_id": d["step_id"],
            "run_id": d["run_id"],
            "position": d["position"],
            "app_id": d["app_id"],
            "name": d["name"],
            "start_time": d["start_time"],
            "end_time": None,
            "duration_ms": None,
            "status": "RUNNING",
            "network_code": None,
            "has_payload": False,
            "tasks": 0,
        }
        self.state.touch("steps", d["step_id"])
        self._step_changed(d["step_id"], None, "RUNNING", event.occurred_at)

    def step_finished(self, event: Event) -> None:
        d = event.data
        step = self._step(d)
        start = d.get("start_time") or (step["start_time"] if step is not None else None)
        if start is not None and d["end_time"] < start:
            raise EventError(
                "BAD_USER_INPUT",
                f"endTime {iso(d['end_time'])} is before the step's startTime {iso(start)}.",
            )
        self._ensure_app(d["app_id"], event.occurred_at)
        previous = step["status"] if step is not None else None
        old_tasks = step["tasks"] if step is not None else 0
        new_step: Row = {
            "account_id": self.state.account_id,
            "step_id": d["step_id"],
            "run_id": d["run_id"],
            "position": d["position"],
            "app_id": d["app_id"],
            "name": d["name"],
            "start_time": start,
            "end_time": d["end_time"],
            "duration_ms": _duration(start, d["end_time"]),
            "status": d["status"],
            "network_code": d.get("network_code"),
            # A repeated stepFinished without a payload keeps the one stored before.
            "has_payload": d.get("payload") is not None
            or (step is not None and step["has_payload"]),
            "tasks": 1 if d["status"] == "OK" else 0,
        }
        self.state.steps[d["step_id"]] = new_step
        self.state.touch("steps", d["step_id"])
        if d.get("payload") is not None:
            self.state.payloads[d["step_id"]] = stored_payload(
                self.redactor, self.body_limit, self.state.account_id, d["step_id"], d["payload"]
            )
            self.state.touch("payloads", d["step_id"])
        run = self.state.runs.get(d["run_id"])
        if run is not None:
            delta = new_step["tasks"] - old_tasks
            if delta:
                run["tasks_consumed"] += delta
                self._add_tasks(run, delta)
            self._note_network_code(run, step, new_step)
            self.state.touch("runs", d["run_id"])
        if previous != d["status"]:
            self._step_changed(d["step_id"], previous, d["status"], event.occurred_at)

    def _step_changed(self, step_id: str, previous: str | None, status: str, at: datetime) -> None:
        step = self.state.steps[step_id]
        run = self.state.runs.get(step["run_id"])
        self._change(
            "step",
            step_id,
            previous,
            status,
            at,
            flow_id=run["flow_id"] if run else None,
            integration_id=run["integration_id"] if run else None,
            run_id=step["run_id"],
        )
