"""The seed generators: the demo account's dataset and synthetic datasets."""

from __future__ import annotations

import inspect
import itertools
import json
import random
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from gateway.seed.demo import demo_events
from gateway.seed.events import (
    ERROR_CODES,
    INTEGRATION_STATUSES,
    MEMBERS,
    NON_RECEIVING_STATUSES,
    TRIGGER_TYPES,
    EventIds,
    batched,
    integration_status_changed,
    iso,
    member_of,
)
from gateway.seed.fakes import (
    APPS,
)
from gateway.seed.payloads import (
    ACTIONS,
    step_payload,
)
from gateway.seed.synthetic import synthetic_event_count, synthetic_events

NOW = datetime(2026, 11, 29, 7, 46, 40, 123456, tzinfo=UTC)
NOW_ISO = "2026-11-29T07:46:40.123Z"
ID_RE = re.compile(r"[A-Za-z0-9_.:@-]{1,128}")
TS_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
ID_FIELDS = ("eventId", "appId", "flowId", "integrationId", "runId", "stepId", "triggerAppId")
TIME_FIELDS = ("occurredAt", "startTime", "endTime")
KIB = 1024


def fields(event: dict[str, Any]) -> dict[str, Any]:
    return event[member_of(event)]


def of(events: list[dict[str, Any]], member: str) -> list[dict[str, Any]]:
    return [e[member] for e in events if member in e]


@pytest.fixture(scope="module")
def demo() -> list[dict[str, Any]]:
    return demo_events(NOW)


# --------------------------------------------------------------------------- helpers


def test_iso_is_utc_with_milliseconds_and_z() -> None:
    assert iso(NOW) == NOW_ISO
    plus_two = timezone(timedelta(hours=2))
    assert iso(datetime(2026, 11, 29, 9, 46, 40, 999999, tzinfo=plus_two)) == (
        "2026-11-29T07:46:40.999Z"
    )
    assert iso(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05.000Z"  # naive = UTC


def test_event_ids_count_up() -> None:
    ids = EventIds()
    assert [ids.next(), ids(), ids.next()] == ["evt-000001", "evt-000002", "evt-000003"]


def test_batched() -> None:
    sizes = [len(b) for b in batched({"x": i} for i in range(2_501))]
    assert sizes == [1_000, 1_000, 501]
    assert [len(b) for b in batched([{"x": 1}] * 5, size=2)] == [2, 2, 1]
    assert list(batched([])) == []
    for bad in (0, 1_001):
        with pytest.raises(ValueError, match="batch size"):
            list(batched([], size=bad))


def test_reason_only_with_paused() -> None:
    with pytest.raises(ValueError, match="reason"):
        integration_status_changed("e1", occurred_at=NOW, integration_id="i", status="PAUSED")
    with pytest.raises(ValueError, match="reason"):
        integration_status_changed(
            "e1", occurred_at=NOW, integration_id="i", status="DISABLED", reason="BILLING"
        )
    with pytest.raises(ValueError, match="invalid integrationId"):
        integration_status_changed("e1", occurred_at=NOW, integration_id="a b", status="ENABLED")


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_step_payload_ok_bodies_are_realistic_json(action: str) -> None:
    rng = random.Random(action)
    app = ACTIONS[action].app
    for _ in range(5):
        payload = step_payload(rng, app, "OK", action=action, at=NOW)
        request, response = payload["request"], payload["response"]
        assert request["method"] in ("GET", "POST", "PATCH")
        assert request["url"].startswith("https://")
        assert 200 <= response["statusCode"] < 300
        bodies = [b for b in (request["body"], response["body"]) if b is not None]
        for body in bodies:
            json.loads(body)
        assert 300 <= max(len(b) for b in bodies) <= 3 * KIB
        assert payload["objects"]
        assert all(set(o) == {"key", "value"} for o in payload["objects"])
        names = {h["name"] for h in response["headers"]}
        assert {"Content-Type", "Date"} <= names


def test_step_payload_failures_timeouts_and_skips() -> None:
    rng = random.Random(3)
    for code in ERROR_CODES:
        for app in ("slack", "stripe", "salesforce", "sheets", "jira", "http"):
            payload = step_payload(rng, app, "FAILED", code, at=NOW)
            assert payload["response"]["statusCode"] == code
            assert payload["objects"][0]["key"] == "error"
            if code == 502:
                assert "502 Bad Gateway" in payload["response"]["body"]
            else:
                json.loads(payload["response"]["body"])
    timeout = step_payload(rng, "hubspot", "FAILED", None, at=NOW)
    assert "response" not in timeout
    assert "timeout" in timeout["objects"][0]["value"]["message"]
    skipped = step_payload(rng, "gmail", "SKIPPED", at=NOW)
    assert "response" not in skipped
    assert skipped["objects"] == []
    with pytest.raises(ValueError, match="does not belong"):
        step_payload(rng, "slack", "OK", action="gmail.send")


# ------------------------------------------------------------------------------ demo


def test_demo_events_are_well_formed(demo: list[dict[str, Any]]) -> None:
    assert all(len(e) == 1 and member_of(e) in MEMBERS for e in demo)
    ids = [fields(e)["eventId"] for e in demo]
    assert len(ids) == len(set(ids))
    for event in demo:
        f = fields(event)
        for name in ID_FIELDS:
            if name in f:
                assert ID_RE.fullmatch(f[name]), (name, f[name])
        for name in TIME_FIELDS:
            if name in f:
                assert TS_RE.fullmatch(f[name]), (name, f[name])
                assert f[name] <= NOW_ISO
        for name in ("name", "triggerName", "userId", "userAuth"):
            value = f.get(name)
            if value is not None:
                assert 1 <= len(value) <= 256
                assert value.isprintable()
    text = json.dumps(demo, allow_nan=False)
    assert json.loads(text) == demo


def test_demo_is_deterministic(demo: list[dict[str, Any]]) -> None:
    assert demo_events(NOW) == demo
    assert demo_events(NOW, seed=8) != demo


def test_demo_is_in_time_order(demo: list[dict[str, Any]]) -> None:
    times = [fields(e)["occurredAt"] for e in demo]
    assert times == sorted(times)


def test_demo_apps_and_flows(demo: list[dict[str, Any]]) -> None:
    apps = of(demo, "appUpserted")
    assert 8 <= len(apps) <= 10
    assert all(a["name"] and a["iconUrl"] for a in apps)
    assert sum(a["docsUrl"] is not None for a in apps) >= 8
    flows = of(demo, "flowUpserted")
    assert len(flows) == 5
    used = {i["flowId"] for i in of(demo, "integrationCreated")}
    drafts = [f for f in flows if f["status"] == "DRAFT"]
    assert drafts
    assert all(f["flowId"] not in used for f in drafts)
    assert all(f["flowId"] in used for f in flows if f["status"] == "PUBLISHED")


def _final_statuses(events: list[dict[str, Any]]) -> dict[str, tuple[str, str | None]]:
    status: dict[str, tuple[str, str | None]] = {}
    for event in events:
        if "integrationCreated" in event:
            f = event["integrationCreated"]
            status[f["integrationId"]] = (f.get("status", "ENABLED"), None)
        elif "integrationStatusChanged" in event:
            f = event["integrationStatusChanged"]
            status[f["integrationId"]] = (f["status"], f.get("reason"))
    return status


def test_demo_integrations_cover_every_status(demo: list[dict[str, Any]]) -> None:
    created = of(demo, "integrationCreated")
    assert len(created) >= 30
    final = _final_statuses(demo)
    assert {s for s, _ in final.values()} == set(INTEGRATION_STATUSES)
    assert {r for s, r in final.values() if s == "PAUSED"} == {"TOO_MANY_ERRORS", "BILLING"}
    for change in of(demo, "integrationStatusChanged"):
        assert ("reason" in change) == (change["status"] == "PAUSED")
    users = [c["userId"] for c in created]
    assert any("@" in u for u in users)
    assert any("@" not in u for u in users)
    assert any(c["userAuth"] is None for c in created)
    assert any(c["userAuth"] is not None for c in created)
    ran = {r["integrationId"] for r in of(demo, "runStarted")}
    never = {c["integrationId"] for c in created} - ran
    assert any(final[i][0] == "ENABLED" for i in never)  # lastRunStatus HASNT_RUN
    # every flow but the draft has integrations in several states
    per_flow: defaultdict[str, set[str]] = defaultdict(set)
    for c in created:
        per_flow[c["flowId"]].add(final[c["integrationId"]][0])
    assert all(len(s) >= 2 for s in per_flow.values())


def test_demo_runs_shape(demo: list[dict[str, Any]]) -> None:
    started = of(demo, "runStarted")
    assert 600 <= len(started) <= 1_200
    assert {r["triggerType"] for r in started} == set(TRIGGER_TYPES)
    day_ago = iso(NOW - timedelta(days=1))
    week_ago = iso(NOW - timedelta(days=7))
    assert all(r["startTime"] >= week_ago for r in started)
    last_day = sum(r["startTime"] >= day_ago for r in started)
    assert last_day > 1.5 * (len(started) - last_day) / 6  # busier than an average earlier day

    finished = {r["runId"]: r for r in of(demo, "runFinished")}
    failed = sum(r["status"] == "FAILED" for r in finished.values())
    assert 0.08 <= failed / len(finished) <= 0.25
    running = [r["runId"] for r in started if r["runId"] not in finished]
    assert 1 <= len(running) <= 10

    steps: defaultdict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    started_steps: defaultdict[str, set[int]] = defaultdict(set)
    for s in of(demo, "stepStarted"):
        started_steps[s["runId"]].add(s["position"])
    for s in of(demo, "stepFinished"):
        steps[s["runId"]][s["position"]] = s
    tasks = 0
    for run in started:
        rid = run["runId"]
        finished_steps = steps[rid]
        if rid in running:
            positions = started_steps[rid]
            last = max(positions)
            assert positions == set(range(1, last + 1))
            assert set(finished_steps) == set(range(1, last))  # the last one is RUNNING
            assert all(s["status"] == "OK" for s in finished_steps.values())
            continue
        count = len(finished_steps)
        assert 2 <= count <= 6
        assert set(finished_steps) == set(range(1, count + 1))
        statuses = [finished_steps[p]["status"] for p in range(1, count + 1)]
        tasks += statuses.count("OK")
        if finished[rid]["status"] == "OK":
            assert statuses == ["OK"] * count
        else:
            k = statuses.index("FAILED")
            assert statuses == ["OK"] * k + ["FAILED"] + ["SKIPPED"] * (count - k - 1)
            assert "SKIPPED" in statuses or k == count - 1
        for s in finished_steps.values():
            assert s["startTime"] <= s["endTime"] <= finished[rid]["endTime"]
            assert s["startTime"] >= run["startTime"]
            assert ("payload" in s) == (s["status"] != "SKIPPED")
            assert (s["position"] in started_steps[rid]) == (s["status"] != "SKIPPED")
    assert tasks > 2_000
    assert any(s["status"] == "SKIPPED" for per_run in steps.values() for s in per_run.values())


def test_demo_error_codes(demo: list[dict[str, Any]]) -> None:
    codes = Counter(s.get("networkCode") for s in of(demo, "stepFinished"))
    assert set(ERROR_CODES) <= set(codes)
    failed = [s for s in of(demo, "stepFinished") if s["status"] == "FAILED"]
    assert all(s.get("networkCode", 400) >= 400 for s in failed)
    assert any("networkCode" not in s and "response" not in s["payload"] for s in failed)
    for s in of(demo, "stepFinished"):
        if s["status"] == "OK":
            assert s["networkCode"] in (200, 201)
            assert s["payload"]["response"]["statusCode"] == s["networkCode"]


def _walk(value: Any, depth: int = 0) -> Any:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, depth
            yield from _walk(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item, depth + 1)


def test_demo_payloads_hold_secrets_to_redact(demo: list[dict[str, Any]]) -> None:
    payloads = [s["payload"] for s in of(demo, "stepFinished") if "payload" in s]
    headers = [h for p in payloads for h in p["request"]["headers"]]
    assert any(h["name"] == "Authorization" and h["value"].startswith("Bearer ") for h in headers)
    assert any(h["name"] == "Authorization" and h["value"].startswith("Basic ") for h in headers)
    assert any("?api_key=" in p["request"]["url"] for p in payloads)
    bodies = [
        b
        for p in payloads
        for b in (p["request"]["body"], p.get("response", {}).get("body"))
        if b is not None
    ]
    deep_keys = {
        key
        for body in bodies
        if body.startswith("{")
        for key, depth in _walk(json.loads(body))
        if depth >= 2
    }
    assert {"password", "client_secret"} <= deep_keys
    assert any(JWT_RE.search(b) for b in bodies)
    assert any(re.search(r"sk_live_[A-Za-z0-9]{20,}", b) for b in bodies)


def test_demo_has_one_huge_body(demo: list[dict[str, Any]]) -> None:
    sizes = [
        len(b.encode())
        for s in of(demo, "stepFinished")
        if "payload" in s
        for b in (s["payload"]["request"]["body"], s["payload"].get("response", {}).get("body"))
        if b is not None
    ]
    huge = [n for n in sizes if n > 256 * KIB]
    assert len(huge) == 1
    assert huge[0] > 300 * KIB
    ordinary = sorted(n for n in sizes if n <= 256 * KIB)
    assert ordinary[-1] <= 4 * KIB


def test_demo_respects_the_ingest_rules(demo: list[dict[str, Any]]) -> None:
    """Replay in order: references exist, and no run starts on a stopped integration."""
    apps, flows = set(), set()
    integrations: dict[str, tuple[str, str]] = {}  # id -> (status, changed at)
    runs: dict[str, str] = {}
    last_end: dict[str, str] = {}
    for event in demo:
        kind, f = member_of(event), fields(event)
        if kind == "appUpserted":
            apps.add(f["appId"])
        elif kind == "flowUpserted":
            flows.add(f["flowId"])
        elif kind == "integrationCreated":
            assert f["flowId"] in flows
            integrations[f["integrationId"]] = (f.get("status", "ENABLED"), f["occurredAt"])
        elif kind == "integrationStatusChanged":
            iid = f["integrationId"]
            assert integrations[iid][0] != "DELETED"
            if f["status"] in NON_RECEIVING_STATUSES:
                assert f["occurredAt"] > last_end.get(iid, "")
            integrations[iid] = (f["status"], f["occurredAt"])
        elif kind == "runStarted":
            status, changed_at = integrations[f["integrationId"]]
            assert status == "ENABLED", (f, status)
            assert f["startTime"] > changed_at
            assert f["triggerAppId"] in apps
            runs[f["runId"]] = f["integrationId"]
        else:
            assert f["runId"] in runs
            if "appId" in f:
                assert f["appId"] in apps
            if "endTime" in f:
                iid = runs[f["runId"]]
                last_end[iid] = max(last_end.get(iid, ""), f["endTime"])

    final = _final_statuses(demo)
    changes: dict[str, str] = {}
    for change in of(demo, "integrationStatusChanged"):
        changes[change["integrationId"]] = change["occurredAt"]
    for run in of(demo, "runStarted"):
        iid = run["integrationId"]
        if final[iid][0] in NON_RECEIVING_STATUSES:
            assert run["startTime"] < changes[iid]
            assert last_end[iid] < changes[iid]


# ------------------------------------------------------------------------- synthetic


@pytest.mark.parametrize(
    ("runs", "kwargs"),
    [
        (0, {}),
        (1, {}),
        (120, {}),
        (137, {"steps_per_run": 3, "runs_per_integration": 10, "integrations_per_flow": 4}),
        (64, {"steps_per_run": 1, "runs_per_integration": 7, "integrations_per_flow": 1}),
        (300, {"steps_per_run": 6, "seed": 9}),
    ],
)
def test_synthetic_counts(runs: int, kwargs: dict[str, Any]) -> None:
    events = list(synthetic_events(runs, now=NOW, **kwargs))
    assert len(events) == synthetic_event_count(runs, **kwargs)
    kinds = Counter(member_of(e) for e in events)
    assert kinds["runStarted"] == kinds["runFinished"] == runs
    per_integration = Counter(r["integrationId"] for r in of(events, "runStarted"))
    limit = kwargs.get("runs_per_integration", 50)
    assert all(n <= limit for n in per_integration.values())
    assert kinds["integrationCreated"] == -(-runs // limit)
    ids = [fields(e)["eventId"] for e in events]
    assert len(ids) == len(set(ids))
    steps = kwargs.get("steps_per_run", 5)
    assert kinds["stepFinished"] == runs * steps


@pytest.fixture(scope="module")
def synthetic() -> list[dict[str, Any]]:
    return list(synthetic_events(2_000, now=NOW))


def test_synthetic_is_a_lazy_generator() -> None:
    assert inspect.isgeneratorfunction(synthetic_events)
    stream = synthetic_events(10**9, now=NOW)
    first: list[dict[str, Any]] = list(itertools.islice(stream, len(APPS) + 3))
    assert [member_of(e) for e in first[: len(APPS)]] == ["appUpserted"] * len(APPS)
    assert member_of(first[-1]) == "flowUpserted"
    stream.close()


def test_synthetic_shape(synthetic: list[dict[str, Any]]) -> None:
    order = [member_of(e) for e in synthetic]
    first_integration = order.index("integrationCreated")
    first_run = order.index("runStarted")
    assert set(order[:first_integration]) == {"appUpserted", "flowUpserted"}
    assert set(order[first_integration:first_run]) == {"integrationCreated"}
    assert "integrationCreated" not in order[first_run:]
    # each run is followed by its steps, then its runFinished
    current = None
    for event in synthetic[first_run:]:
        kind, f = member_of(event), fields(event)
        if kind == "runStarted":
            assert current is None
            current = f["runId"]
        else:
            assert f["runId"] == current
            if kind == "runFinished":
                current = None
    starts = [r["startTime"] for r in of(synthetic, "runStarted")]
    assert starts == sorted(starts)
    assert iso(NOW - timedelta(days=30)) <= starts[0]
    assert starts[-1] < NOW_ISO
    finished = of(synthetic, "runFinished")
    failed = sum(r["status"] == "FAILED" for r in finished)
    assert 0.06 <= failed / len(finished) <= 0.14
    step_status = Counter(s["status"] for s in of(synthetic, "stepFinished"))
    assert step_status["SKIPPED"] > 0
    assert step_status["FAILED"] == failed
    sizes = [len(json.dumps(s["payload"])) for s in of(synthetic, "stepFinished") if "payload" in s]
    assert 700 <= sum(sizes) / len(sizes) <= 2_500
    for event in synthetic:
        f = fields(event)
        for name in ID_FIELDS:
            if name in f:
                assert ID_RE.fullmatch(f[name]), (name, f[name])
        for name in TIME_FIELDS:
            if name in f:
                assert TS_RE.fullmatch(f[name])
    json.dumps(synthetic, allow_nan=False)


def test_synthetic_is_deterministic(synthetic: list[dict[str, Any]]) -> None:
    again = list(itertools.islice(synthetic_events(2_000, now=NOW), 300))
    assert again == synthetic[:300]
    other = list(itertools.islice(synthetic_events(2_000, now=NOW, seed=2), 300))
    assert other != synthetic[:300]


def test_synthetic_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="runs"):
        list(synthetic_events(-1))
    with pytest.raises(ValueError, match="steps_per_run"):
        synthetic_event_count(10, steps_per_run=0)
    with pytest.raises(ValueError, match="integrations_per_flow"):
        list(synthetic_events(10, integrations_per_flow=0))
