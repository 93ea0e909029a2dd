"""Synthetic datasets of any size, streamed in constant memory.

``synthetic_events(runs, ...)`` yields the apps and flows first, then the
integrations, then each run followed by its steps and its ``runFinished``:

* ``ceil(runs / runs_per_integration)`` integrations (all ENABLED), run ``i`` going
  to integration ``i % integrations``, and ``ceil(integrations /
  integrations_per_flow)`` published flows of ``steps_per_run`` steps each;
* run start times spread evenly (with jitter) over the last 30 days, in order;
* ~10 % of runs fail at one step (a 4xx/5xx response, or a timeout) and skip the
  steps after it; every other step finishes OK with a ~1 KB payload;
* each executed step has a ``stepStarted`` and a ``stepFinished``, a skipped one
  only a ``stepFinished``.

Which run fails, and where, is a pure function of ``seed`` and the run's index, so
``synthetic_event_count`` knows the exact number of events without building them.
Ids are derived from the object and the kind of event (``syn1-run-000000042:started``)
so they are unique per account and stable across re-seeding.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from gateway.seed.events import (
    ERROR_CODES,
    Event,
    app_upserted,
    flow_upserted,
    from_ms,
    integration_created,
    run_finished,
    run_started,
    step_finished,
    step_started,
    to_ms,
    utc_ms,
)
from gateway.seed.fakes import (
    APPS,
    COMPANIES,
    Credentials,
    RunContext,
)
from gateway.seed.payloads import (
    ACTIONS,
    Action,
    step_payload,
)

SECOND = 1_000
HOUR = 3_600 * SECOND
DAY = 24 * HOUR
SPAN = 30 * DAY - HOUR  # runs start within the last 30 days, the last an hour ago
FAILURE_PER_MILLE = 100
TIMEOUT_PER_MILLE = 4  # of all runs, among the failing ones

_MASK64 = (1 << 64) - 1
_TRIGGERS = (
    ("WEBHOOK", "New event (webhook)"),
    ("POLL", "Poll for changes"),
    ("SCHEDULE", "Every 15 minutes"),
)
_ACTION_KEYS = tuple(ACTIONS)


def _check(
    runs: int, steps_per_run: int, runs_per_integration: int, integrations_per_flow: int
) -> None:
    if runs < 0:
        raise ValueError("runs must be >= 0")
    if steps_per_run < 1:
        raise ValueError("steps_per_run must be >= 1")
    if runs_per_integration < 1 or integrations_per_flow < 1:
        raise ValueError("runs_per_integration and integrations_per_flow must be >= 1")


def _shape(runs: int, runs_per_integration: int, integrations_per_flow: int) -> tuple[int, int]:
    integrations = math.ceil(runs / runs_per_integration)
    return integrations, math.ceil(integrations / integrations_per_flow)


def _mix(seed: int, index: int) -> int:
    """splitmix64 of (seed, index): a cheap, well-spread 64-bit hash."""
    z = (seed * 0x9E3779B97F4A7C15 + (index + 1) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def _fate(seed: int, index: int, steps_per_run: int) -> tuple[int | None, bool]:
    """(failing step position or None, whether that failure is a timeout)."""
    h = _mix(seed, index)
    roll = h % 1000
    if roll >= FAILURE_PER_MILLE:
        return None, False
    return 1 + (h >> 20) % steps_per_run, roll < TIMEOUT_PER_MILLE


def synthetic_event_count(
    runs: int,
    steps_per_run: int = 5,
    runs_per_integration: int = 50,
    integrations_per_flow: int = 200,
    seed: int = 1,
    now: datetime | None = None,
) -> int:
    """Exactly how many events ``synthetic_events`` yields for the same arguments
    (``now`` does not matter; it is accepted so the same kwargs can be passed)."""
    _check(runs, steps_per_run, runs_per_integration, integrations_per_flow)
    integrations, flows = _shape(runs, runs_per_integration, integrations_per_flow)
    # per run: runStarted + a stepFinished per step + runFinished + a stepStarted per
    # executed step (all of them, or up to and including the failing one)
    total = len(APPS) + flows + integrations + runs * (2 + 2 * steps_per_run)
    for i in range(runs):
        fail_pos, _ = _fate(seed, i, steps_per_run)
        if fail_pos is not None:
            total -= steps_per_run - fail_pos
    return total


def _flow_steps(flow: int, steps_per_run: int) -> list[Action]:
    n = len(_ACTION_KEYS)
    return [ACTIONS[_ACTION_KEYS[(flow * 5 + j * 3) % n]] for j in range(steps_per_run)]


def _flow_trigger(flow: int, steps: list[Action]) -> tuple[str, str, str]:
    """(trigger app id, trigger type, trigger name) of a synthetic flow."""
    trigger_type, trigger_name = _TRIGGERS[flow % len(_TRIGGERS)]
    app_id = "app-schedule" if trigger_type == "SCHEDULE" else APPS[steps[0].app].app_id
    return app_id, trigger_type, trigger_name


def synthetic_events(
    runs: int,
    *,
    steps_per_run: int = 5,
    runs_per_integration: int = 50,
    integrations_per_flow: int = 200,
    seed: int = 1,
    now: datetime | None = None,
) -> Iterator[Event]:
    """Stream a dataset of exactly ``runs`` runs (see the module docstring)."""
    _check(runs, steps_per_run, runs_per_integration, integrations_per_flow)
    now_ms = to_ms(utc_ms(now if now is not None else datetime.now(UTC)))
    rng = random.Random(seed)
    p = f"syn{seed}"
    integrations, flows = _shape(runs, runs_per_integration, integrations_per_flow)
    start_ms = now_ms - 30 * DAY

    for i, app in enumerate(APPS.values()):
        yield app_upserted(
            f"{p}-{app.app_id}:upserted",
            occurred_at=from_ms(start_ms - 2 * DAY + i * SECOND),
            app_id=app.app_id,
            name=app.name,
            icon_url=app.icon_url,
            docs_url=app.docs_url,
        )

    for k in range(flows):
        steps = _flow_steps(k, steps_per_run)
        names = " to ".join(dict.fromkeys(APPS[a.app].name for a in steps))
        yield flow_upserted(
            f"{p}-flow-{k:05d}:upserted",
            occurred_at=from_ms(start_ms - DAY - HOUR + k),
            flow_id=f"{p}-flow-{k:05d}",
            name=f"{names} #{k + 1}",
            status="PUBLISHED",
        )

    for j in range(integrations):
        domain = COMPANIES[j % len(COMPANIES)][1]
        user_id = f"user{j}@{domain}" if j % 2 else f"usr_{j:07d}"
        yield integration_created(
            f"{p}-int-{j:07d}:created",
            occurred_at=from_ms(start_ms - DAY + (j % 3_600) * SECOND),
            integration_id=f"{p}-int-{j:07d}",
            flow_id=f"{p}-flow-{j // integrations_per_flow:05d}",
            user_id=user_id,
            user_auth=f"admin@{domain}" if j % 3 else None,
        )

    creds = [Credentials.random(rng, company) for company, _ in COMPANIES]
    for i in range(runs):
        j = i % integrations
        k = j // integrations_per_flow
        steps = _flow_steps(k, steps_per_run)
        trigger_app, trigger_type, trigger_name = _flow_trigger(k, steps)
        if rng.random() < 0.02:
            trigger_type, trigger_name = "MANUAL", "Run now"
        fail_pos, timeout = _fate(seed, i, steps_per_run)
        run_id = f"{p}-run-{i:09d}"
        t0 = start_ms + i * SPAN // runs + rng.randrange(max(1, SPAN // runs))
        yield run_started(
            f"{run_id}:started",
            run_id=run_id,
            integration_id=f"{p}-int-{j:07d}",
            trigger_app_id=trigger_app,
            trigger_name=trigger_name,
            trigger_type=trigger_type,
            start_time=from_ms(t0),
        )
        ctx = RunContext.random(rng, creds[j % len(creds)])
        t = t0 + rng.randint(10, 120)
        for pos, action in enumerate(steps, 1):
            app = APPS[action.app]
            step_id = f"{run_id}-s{pos}"
            common: dict[str, Any] = {
                "step_id": step_id,
                "run_id": run_id,
                "position": pos,
                "app_id": app.app_id,
                "name": action.name,
            }
            if fail_pos is not None and pos > fail_pos:
                t += 1
                yield step_finished(
                    f"{step_id}:finished",
                    **common,
                    status="SKIPPED",
                    start_time=from_ms(t),
                    end_time=from_ms(t),
                )
                continue
            yield step_started(f"{step_id}:started", **common, start_time=from_ms(t))
            failing = pos == fail_pos
            code = None if not failing or timeout else rng.choice(ERROR_CODES)
            end = t + (
                30_000 + rng.randint(0, 40) if failing and timeout else rng.randint(40, 1_500)
            )
            payload = step_payload(
                rng,
                app,
                "FAILED" if failing else "OK",
                code,
                action=action,
                ctx=ctx,
                at=from_ms(end),
                body_bytes=rng.randint(250, 500),
            )
            response = payload.get("response")
            yield step_finished(
                f"{step_id}:finished",
                **common,
                status="FAILED" if failing else "OK",
                start_time=from_ms(t),
                end_time=from_ms(end),
                payload=payload,
                network_code=None if response is None else response["statusCode"],
            )
            t = end + rng.randint(3, 40)
        t += rng.randint(2, 20)
        yield run_finished(
            f"{run_id}:finished",
            run_id=run_id,
            status="OK" if fail_pos is None else "FAILED",
            end_time=from_ms(t),
        )
