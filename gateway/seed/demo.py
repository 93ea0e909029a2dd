"""The ``demo`` account: a small, lifelike, deterministic dataset.

``demo_events(now, seed)`` returns the events of a week in the life of an
embedded-integration platform: 9 apps, 5 flows (one a DRAFT without
integrations), 40 integrations in every status, ~600-1,200 runs (busier in the last
24 hours) of 2-6 steps each, ~15 % of them failing with real 4xx/5xx error bodies or a
timeout, a few still running, payloads full of secrets for the redaction to find and
one response body over 300 KiB to show truncation.

Events come out in ``occurredAt`` order, with ``evt-000001``... ids in that order, so
that posting them in batches replays the week as it happened: every integration's
runs start, and end, before the status change that stopped it from receiving.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from gateway.seed.events import (
    ERROR_CODES,
    Event,
    EventIds,
    app_upserted,
    flow_upserted,
    from_ms,
    integration_created,
    integration_status_changed,
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
    step_payload,
)

DEMO_ACCOUNT = "demo"

SECOND = 1_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

BIG_BODY_BYTES = 330 * 1024


@dataclass(frozen=True)
class DemoFlow:
    flow_id: str
    name: str
    status: str
    trigger_app: str
    trigger_name: str
    trigger_type: str
    steps: tuple[tuple[str, str], ...]  # (action key, step name)
    rate: tuple[float, float]  # runs per hour per integration (before the last-24h boost)


FLOWS: tuple[DemoFlow, ...] = (
    DemoFlow(
        "flow-stripe-payment-alerts",
        "Stripe payments to Slack alerts",
        "PUBLISHED",
        "stripe",
        "Charge succeeded",
        "WEBHOOK",
        (
            ("stripe.retrieve_charge", "Retrieve charge details"),
            ("hubspot.search_contacts", "Find customer in HubSpot"),
            ("slack.post_message", "Post to #payments"),
        ),
        (0.11, 0.2),
    ),
    DemoFlow(
        "flow-hubspot-salesforce-sync",
        "HubSpot to Salesforce contact sync",
        "PUBLISHED",
        "hubspot",
        "Contact created or updated",
        "POLL",
        (
            ("hubspot.get_contact", "Get HubSpot contact"),
            ("http.request", "Score lead (LeadScore API)"),
            ("salesforce.query_contacts", "Look up Salesforce contact"),
            ("salesforce.upsert_contact", "Upsert Salesforce contact"),
            ("slack.post_message", "Notify #sales-ops"),
        ),
        (0.13, 0.24),
    ),
    DemoFlow(
        "flow-dispute-escalation",
        "Escalate Stripe disputes to Jira",
        "PUBLISHED",
        "stripe",
        "Dispute created",
        "WEBHOOK",
        (
            ("jira.create_issue", "Create Jira issue"),
            ("slack.post_message", "Alert #billing-escalations"),
        ),
        (0.03, 0.06),
    ),
    DemoFlow(
        "flow-revenue-report",
        "Revenue report every 6 hours",
        "PUBLISHED",
        "schedule",
        "Every 6 hours",
        "SCHEDULE",
        (
            ("stripe.list_charges", "List recent charges"),
            ("salesforce.query_opportunities", "Query open opportunities"),
            ("sheets.append", "Append rows to Revenue sheet"),
            ("hubspot.update_company", "Update company revenue"),
            ("gmail.send", "E-mail report to finance"),
            ("slack.post_message", "Post summary to #revenue"),
        ),
        (0.0, 0.0),
    ),
    DemoFlow(
        "flow-gmail-lead-capture",
        "Gmail lead capture (draft)",
        "DRAFT",
        "gmail",
        "New e-mail matching search",
        "POLL",
        (
            ("hubspot.create_contact", "Create HubSpot contact"),
            ("slack.post_message", "Notify #leads"),
        ),
        (0.0, 0.0),
    ),
)

# (flow index, scenario) for each integration, in id order.
SCENARIOS: tuple[tuple[int, str], ...] = (
    (0, "enabled"),
    (0, "enabled"),
    (0, "enabled_running"),
    (0, "enabled"),
    (0, "enabled_new"),
    (0, "enabled"),
    (0, "re_enabled_billing"),
    (0, "enabled"),
    (0, "no_runs"),
    (0, "initializing"),
    (0, "disabled"),
    (0, "paused_errors"),
    (0, "paused_billing"),
    (0, "deleted"),
    (1, "enabled"),
    (1, "enabled_running"),
    (1, "enabled_running"),
    (1, "enabled"),
    (1, "enabled_new"),
    (1, "enabled"),
    (1, "no_runs"),
    (1, "failed_init"),
    (1, "paused_errors"),
    (1, "paused_billing"),
    (1, "disabled"),
    (1, "re_enabled_disabled"),
    (2, "enabled"),
    (2, "enabled"),
    (2, "enabled"),
    (2, "enabled_new"),
    (2, "enabled"),
    (2, "initializing"),
    (2, "failed_init_later"),
    (2, "deleted_unused"),
    (3, "enabled"),
    (3, "enabled"),
    (3, "enabled_new"),
    (3, "enabled"),
    (3, "disabled"),
    (3, "deleted"),
)

# Consecutive failures that get an integration paused for TOO_MANY_ERRORS, per flow:
# (HTTP code, failing step position).
_ERROR_STREAKS = {0: (401, 3), 1: (429, 1)}


@dataclass
class _Integration:
    index: int
    integration_id: str
    flow_index: int
    flow: DemoFlow
    scenario: str
    user_id: str
    user_auth: str | None
    creds: Credentials
    created_ms: int
    initial_status: str | None = None
    windows: list[tuple[int, int]] = field(default_factory=list)
    # status changes: (planned time, status, reason); a time is pushed past the end of
    # the runs that precede it
    changes: list[tuple[int, str, str | None]] = field(default_factory=list)
    rate: float = 0.0
    fail_rate: float = 0.12
    running: int = 0
    first_run_manual: bool = False


@dataclass
class _RunPlan:
    integ: _Integration
    start_ms: int
    trigger_type: str
    trigger_name: str
    fail_pos: int | None = None
    fail_code: int | None = None  # None with a fail_pos: a timeout
    running_pos: int | None = None
    big_body: bool = False
    leak: bool = False
    end_ms: int = 0


class _Pending:
    """Events to emit, ordered by occurredAt, then by the order they were added."""

    def __init__(self) -> None:
        self.items: list[tuple[int, int, Callable[[str], Event]]] = []

    def add(self, at_ms: int, make: Callable[..., Event], **fields: object) -> None:
        self.items.append((at_ms, len(self.items), partial(make, **fields)))

    def events(self) -> list[Event]:
        ids = EventIds()
        return [make(ids.next()) for _, _, make in sorted(self.items, key=lambda i: i[:2])]


def demo_events(now: datetime, seed: int = 7) -> list[Event]:
    """The demo account's events, oldest first (deterministic for ``now`` and ``seed``)."""
    rng = random.Random(seed)
    now_ms = to_ms(utc_ms(now))
    pending = _Pending()

    for i, app in enumerate(APPS.values()):
        pending.add(
            now_ms - 30 * DAY + i * SECOND,
            app_upserted,
            occurred_at=from_ms(now_ms - 30 * DAY + i * SECOND),
            app_id=app.app_id,
            name=app.name,
            icon_url=app.icon_url,
            docs_url=app.docs_url,
        )
    for i, flow in enumerate(FLOWS):
        at = now_ms - 29 * DAY + i * HOUR
        pending.add(
            at,
            flow_upserted,
            occurred_at=from_ms(at),
            flow_id=flow.flow_id,
            name=flow.name,
            status=flow.status,
        )

    integrations = [
        _plan_integration(rng, i, fi, sc, now_ms) for i, (fi, sc) in enumerate(SCENARIOS)
    ]
    plans: list[_RunPlan] = []
    for integ in integrations:
        plans.extend(_plan_runs(rng, integ, now_ms))
    _assign_failures(rng, plans)
    _mark_specials(rng, plans)
    plans.sort(key=lambda p: (p.start_ms, p.integ.index))

    for n, plan in enumerate(plans, 1):
        plan.end_ms = _emit_run(rng, pending, plan, f"run-{n:06d}", now_ms)

    for integ in integrations:
        pending.add(
            integ.created_ms,
            integration_created,
            occurred_at=from_ms(integ.created_ms),
            integration_id=integ.integration_id,
            flow_id=integ.flow.flow_id,
            user_id=integ.user_id,
            user_auth=integ.user_auth,
            status=integ.initial_status,
        )
        runs = [p for p in plans if p.integ is integ]
        floor = integ.created_ms
        for planned, status, reason in integ.changes:
            # after every run that started before it has ended
            ended = max((p.end_ms for p in runs if p.start_ms < planned), default=floor)
            at = max(planned, floor + SECOND, ended + SECOND)
            floor = at
            pending.add(
                at,
                integration_status_changed,
                occurred_at=from_ms(at),
                integration_id=integ.integration_id,
                status=status,
                reason=reason,
            )
    return pending.events()


# ------------------------------------------------------------------ planning


def _plan_integration(
    rng: random.Random, index: int, flow_index: int, scenario: str, now_ms: int
) -> _Integration:
    flow = FLOWS[flow_index]
    company, domain = COMPANIES[(index * 5) % len(COMPANIES)]
    slug = domain.split(".")[0]
    first = ("maria", "james", "aiko", "lukas", "priya", "omar", "sofia", "chen")[index % 8]
    last = ("gonzalez", "smith", "tanaka", "weber", "patel", "haddad", "rossi")[index % 7]
    match index % 5:
        case 0 | 2:
            user_id = f"{first}.{last}@{domain}"
        case 1:
            user_id = f"usr_{rng.getrandbits(32):08x}"
        case 3:
            user_id = f"{first[0]}{last}@{domain}"
        case _:
            user_id = f"customer-{10_000 + index * 37}"
    trigger_app = APPS[flow.trigger_app].name
    user_auth = (
        None,
        f"admin@{domain}",
        f"{trigger_app} OAuth - {first.title()} {last.title()} ({company})",
        f"svc-integrations@{domain}",
    )[index % 4]
    integ = _Integration(
        index=index,
        integration_id=f"int-{index + 1:03d}-{slug}",
        flow_index=flow_index,
        flow=flow,
        scenario=scenario,
        user_id=user_id,
        user_auth=user_auth,
        creds=Credentials.random(rng, company),
        created_ms=now_ms - int(rng.uniform(8, 28) * DAY),
        rate=rng.uniform(*flow.rate),
        fail_rate=rng.choice((0.05, 0.08, 0.12, 0.14, 0.25)),
    )
    week_ago = now_ms - 7 * DAY
    recent = now_ms - 10 * MINUTE

    def u(lo: float, hi: float) -> int:
        return int(rng.uniform(lo, hi))

    match scenario:
        case "enabled":
            integ.windows = [(week_ago, recent)]
        case "enabled_running":
            integ.windows = [(week_ago, recent)]
            integ.running = 1
        case "enabled_new":
            integ.created_ms = now_ms - u(1.5 * DAY, 6 * DAY)
            integ.windows = [(integ.created_ms + u(2 * MINUTE, 15 * MINUTE), recent)]
            integ.first_run_manual = True
        case "no_runs":
            integ.created_ms = now_ms - u(3 * HOUR, 20 * HOUR)
        case "initializing":
            integ.created_ms = now_ms - u(40 * SECOND, 6 * MINUTE)
            integ.initial_status = "INITIALIZING"
        case "failed_init":
            integ.created_ms = now_ms - u(1 * DAY, 3 * DAY)
            integ.initial_status = "FAILED_TO_INITIALIZE"
        case "failed_init_later":
            integ.created_ms = now_ms - u(2 * HOUR, 2 * DAY)
            integ.initial_status = "INITIALIZING"
            integ.changes = [
                (integ.created_ms + u(8 * SECOND, 90 * SECOND), "FAILED_TO_INITIALIZE", None)
            ]
        case "deleted_unused":
            integ.created_ms = now_ms - u(5 * DAY, 6 * DAY)
            integ.changes = [(integ.created_ms + u(1 * HOUR, 20 * HOUR), "DELETED", None)]
        case "disabled":
            at = now_ms - u(1 * DAY, 4 * DAY)
            integ.windows = [(week_ago, at - 30 * MINUTE)]
            integ.changes = [(at, "DISABLED", None)]
        case "paused_errors":
            at = now_ms - u(8 * HOUR, 3 * DAY)
            integ.windows = [(week_ago, at - 30 * MINUTE)]
            integ.changes = [(at, "PAUSED", "TOO_MANY_ERRORS")]
        case "paused_billing":
            at = now_ms - u(12 * HOUR, 5 * DAY)
            integ.windows = [(week_ago, at - 30 * MINUTE)]
            integ.changes = [(at, "PAUSED", "BILLING")]
        case "deleted":
            at = now_ms - u(2 * DAY, 5 * DAY)
            integ.windows = [(week_ago, at - 30 * MINUTE)]
            integ.changes = [(at, "DISABLED", None), (at + u(1 * HOUR, 30 * HOUR), "DELETED", None)]
        case "re_enabled_billing" | "re_enabled_disabled":
            paused = now_ms - u(4 * DAY, 5 * DAY)
            resumed = paused + u(6 * HOUR, 30 * HOUR)
            integ.windows = [(week_ago, paused - 30 * MINUTE), (resumed + MINUTE, recent)]
            if scenario == "re_enabled_billing":
                integ.changes = [(paused, "PAUSED", "BILLING"), (resumed, "ENABLED", None)]
            else:
                integ.changes = [(paused, "DISABLED", None), (resumed, "ENABLED", None)]
        case _:
            raise ValueError(f"unknown scenario {scenario!r}")
    return integ


def _plan_runs(rng: random.Random, integ: _Integration, now_ms: int) -> list[_RunPlan]:
    flow = integ.flow
    plans: list[_RunPlan] = []
    boost_from = now_ms - DAY
    for lo, hi in integ.windows:
        lo = max(lo, integ.created_ms + MINUTE)
        if flow.trigger_type == "SCHEDULE":
            offset = (integ.index * 7 % 60) * MINUTE + rng.randint(0, 20 * SECOND)
            t = (lo // (6 * HOUR)) * 6 * HOUR + offset
            times = []
            while t < hi:
                if t >= lo:
                    times.append(t)
                t += 6 * HOUR
        else:
            times, t = [], lo
            while True:
                rate = integ.rate * (3.0 if t >= boost_from else 1.0)
                t += int(rng.expovariate(rate) * HOUR)
                if t >= hi:
                    break
                times.append(t)
        for t in times:
            manual = rng.random() < 0.03
            plans.append(
                _RunPlan(
                    integ,
                    t,
                    "MANUAL" if manual else flow.trigger_type,
                    "Run now" if manual else flow.trigger_name,
                )
            )
    if integ.first_run_manual and plans:
        plans[0].trigger_type, plans[0].trigger_name = "MANUAL", "Test run"
    if integ.running:
        # in flight right now: the step in progress started a moment ago
        pos = rng.randint(1, len(flow.steps))
        before = sum(ACTIONS[a].latency_ms[1] + 200 for a, _ in flow.steps[: pos - 1])
        start = now_ms - before - rng.randint(2 * SECOND, 90 * SECOND)
        plans.append(_RunPlan(integ, start, flow.trigger_type, flow.trigger_name, running_pos=pos))
    if integ.scenario == "paused_errors" and plans:
        code, pos = _ERROR_STREAKS.get(integ.flow_index, (401, 1))
        for plan in plans[-rng.randint(6, 9) :]:
            plan.fail_pos, plan.fail_code = pos, code
    return plans


def _assign_failures(rng: random.Random, plans: list[_RunPlan]) -> None:
    """~15 % of runs fail; codes dealt from a shuffled deck so each one shows up."""
    deck: list[int | None] = []
    for plan in plans:
        if plan.fail_pos is not None or plan.running_pos is not None:
            continue
        if rng.random() >= plan.integ.fail_rate:
            continue
        if not deck:
            deck = [*ERROR_CODES, None]  # None: a timeout
            rng.shuffle(deck)
        plan.fail_code = deck.pop()
        plan.fail_pos = rng.randint(1, len(plan.integ.flow.steps))


def _mark_specials(rng: random.Random, plans: list[_RunPlan]) -> None:
    # One huge Salesforce response in the latest successful revenue report.
    reports = [
        p
        for p in plans
        if p.integ.flow.flow_id == "flow-revenue-report"
        and p.integ.scenario == "enabled"
        and p.fail_pos is None
        and p.running_pos is None
    ]
    if reports:
        max(reports, key=lambda p: p.start_ms).big_body = True
    # Disputes whose description quotes leaked secrets (always the first one).
    disputes = sorted(
        (p for p in plans if p.integ.flow.flow_id == "flow-dispute-escalation"),
        key=lambda p: p.start_ms,
    )
    for i, plan in enumerate(disputes):
        plan.leak = i == 0 or rng.random() < 0.35


# ------------------------------------------------------------------ emission


def _emit_run(
    rng: random.Random, pending: _Pending, plan: _RunPlan, run_id: str, now_ms: int
) -> int:
    """Add a run's events; return the time its last event happened."""
    integ, flow = plan.integ, plan.integ.flow
    ctx = RunContext.random(rng, integ.creds)
    pending.add(
        plan.start_ms,
        run_started,
        run_id=run_id,
        integration_id=integ.integration_id,
        trigger_app_id=APPS[flow.trigger_app].app_id,
        trigger_name=plan.trigger_name,
        trigger_type=plan.trigger_type,
        start_time=from_ms(plan.start_ms),
    )
    t = plan.start_ms + rng.randint(15, 150)
    failed = False
    for pos, (action_key, name) in enumerate(flow.steps, 1):
        action = ACTIONS[action_key]
        app = APPS[action.app]
        step = {
            "step_id": f"{run_id}-s{pos}",
            "run_id": run_id,
            "position": pos,
            "app_id": app.app_id,
            "name": name,
        }
        if failed:
            t += rng.randint(1, 3)
            pending.add(
                t,
                step_finished,
                **step,
                status="SKIPPED",
                start_time=from_ms(t),
                end_time=from_ms(t),
            )
            continue
        start = t
        pending.add(start, step_started, **step, start_time=from_ms(start))
        if plan.running_pos == pos:
            assert start < now_ms
            return start
        failing = plan.fail_pos == pos
        big = plan.big_body and action_key == "salesforce.query_opportunities"
        if failing and plan.fail_code is None:
            duration = 30_000 + rng.randint(0, 40)
        elif big:
            duration = rng.randint(2_500, 4_000)
        else:
            duration = rng.randint(*action.latency_ms)
        end = start + duration
        payload = step_payload(
            rng,
            app,
            "FAILED" if failing else "OK",
            plan.fail_code if failing else None,
            action=action,
            ctx=ctx,
            at=from_ms(end),
            body_bytes=BIG_BODY_BYTES if big else None,
            leak=plan.leak,
        )
        response = payload.get("response")
        pending.add(
            end,
            step_finished,
            **step,
            status="FAILED" if failing else "OK",
            start_time=from_ms(start),
            end_time=from_ms(end),
            payload=payload,
            network_code=None if response is None else response["statusCode"],
        )
        t = end + rng.randint(5, 60)
        failed = failing
    t += rng.randint(3, 40)
    pending.add(
        t,
        run_finished,
        run_id=run_id,
        status="FAILED" if failed else "OK",
        end_time=from_ms(t),
    )
    return t
