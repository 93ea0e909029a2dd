"""Live runs for demos: ``gateway simulate`` and the background of ``gateway serve --demo``.

Two halves. ``RunScript`` is pure: one run's events in the order an engine sends them (run
started, each step started then finished, the run finished), every one stamped with the time
the caller says it is, so nothing is ever ahead of the server clock. ``Simulation`` drives many
scripts at a steady rate of new runs against an account's ENABLED integrations, through the
ingest mutation as the seed does, so every change is committed and published like the engine's.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import threading
import time
import zlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gateway.auth.keys import Principal
from gateway.context import make_context
from gateway.db import reads
from gateway.db.pages import Window
from gateway.db.queries import IntegrationQuery, RunQuery, StepQuery
from gateway.seed.calls import Action
from gateway.seed.demo import FLOWS
from gateway.seed.events import (
    ERROR_CODES,
    Event,
    run_finished,
    run_started,
    step_finished,
    step_started,
)
from gateway.seed.fakes import APPS, COMPANIES, Credentials, RunContext, app_of
from gateway.seed.loader import MUTATION
from gateway.seed.payloads import ACTIONS, actions_of, step_payload
from gateway.services import Services

log = logging.getLogger("gateway.simulate")

MAX_TARGETS = 1_000
TIMEOUT_MS = 10_000
NOT_RECEIVING = "INTEGRATION_NOT_RECEIVING"


# --------------------------------------------------------------------------- what runs


@dataclass(frozen=True, slots=True)
class StepShape:
    app_id: str  # as the events name it
    name: str
    action: Action  # builds the payload: the app's requests, headers and error bodies


@dataclass(frozen=True, slots=True)
class FlowShape:
    flow_id: str
    trigger_app_id: str
    trigger_name: str
    trigger_type: str
    steps: tuple[StepShape, ...]


@dataclass(frozen=True, slots=True)
class Target:
    """An ENABLED integration runs can start on."""

    integration_id: str
    flow: FlowShape
    creds: Credentials
    fail_rate: float


def target(integration_id: str, flow: FlowShape) -> Target:
    """A target whose credentials and failure rate are stable for the integration."""
    rng = random.Random(zlib.crc32(integration_id.encode()))
    company = COMPANIES[rng.randrange(len(COMPANIES))][0]
    return Target(
        integration_id, flow, Credentials.random(rng, company), rng.choice((0.05, 0.1, 0.15, 0.25))
    )


def _demo_shapes() -> dict[str, FlowShape]:
    shapes = {}
    for flow in FLOWS:
        steps = tuple(
            StepShape(APPS[ACTIONS[key].app].app_id, name, ACTIONS[key]) for key, name in flow.steps
        )
        trigger = APPS[flow.trigger_app].app_id
        shapes[flow.flow_id] = FlowShape(
            flow.flow_id, trigger, flow.trigger_name, flow.trigger_type, steps
        )
    return shapes


DEMO_SHAPES = _demo_shapes()


def _action_for(app_id: str, name: str) -> Action:
    """The seed action of a step's app (the generic HTTP call for an app the seed lacks)."""
    try:
        choices = actions_of(app_of(app_id))
    except KeyError:
        choices = []
    choices = choices or actions_of("http")
    return choices[zlib.crc32(name.encode()) % len(choices)]


def shape_from_run(flow_id: str, run: Any, steps: list[Any]) -> FlowShape:
    """A flow the seed does not know, shaped like its latest run."""
    return FlowShape(
        flow_id,
        run.trigger_app_id,
        run.trigger_name,
        run.trigger_type if run.trigger_type != "MANUAL" else "WEBHOOK",
        tuple(StepShape(s.app_id, s.name, _action_for(s.app_id, s.name)) for s in steps)
        or GENERIC_STEPS,
    )


GENERIC_STEPS = (StepShape("app-http", "Call the API", ACTIONS["http.request"]),)


def generic_shape(flow_id: str) -> FlowShape:
    """A flow that never ran and that the seed does not know."""
    return FlowShape(flow_id, "app-http", "Webhook received", "WEBHOOK", GENERIC_STEPS)


# --------------------------------------------------------------------------- one run


Phase = tuple[float, Callable[[datetime], list[Event]]]


class RunScript:
    """One run's events, as the engine sends them while the run goes on. Pure: no clock, no
    I/O; ``advance(now)`` returns the next events stamped with ``now``, ``wait`` says how many
    seconds the next ones are due after these.

    Runs last about 1-20 s. Some fail at a step with one of the seed's 4xx/5xx codes and that
    app's real error body, or time out without a response; the steps after it are SKIPPED.
    """

    def __init__(
        self,
        rng: random.Random,
        target: Target,
        run_id: str,
        event_id: Callable[[], str],
        *,
        fail_code: int | None = None,
        fail_pos: int | None = None,
    ) -> None:
        self.rng, self.target, self.run_id, self._event_id = rng, target, run_id, event_id
        flow = target.flow
        self.fail_pos, self.fail_code = fail_pos, fail_code
        self.status = "OK" if fail_pos is None else "FAILED"
        self._ctx = RunContext.random(rng, target.creds)
        self._leak = rng.random() < 0.1
        self._started: dict[int, datetime] = {}
        self._last: datetime | None = None
        manual = rng.random() < 0.03
        self._trigger = ("MANUAL", "Run now") if manual else (flow.trigger_type, flow.trigger_name)
        # A run's length (log-normal around 4 s, 1-20 s), shared by the steps that run by their
        # latency; a step that times out waits as long as the engine does.
        total = min(20.0, max(1.0, rng.lognormvariate(math.log(4.0), 0.6)))
        ran = flow.steps[: fail_pos or len(flow.steps)]
        weights = [rng.uniform(*s.action.latency_ms) for s in ran]
        if fail_pos is not None and fail_code is None:
            weights[-1] = 0.0
            total = min(total, 20.0 - TIMEOUT_MS / 1000)
        phases: list[Phase] = [(0.0, self._run_started)]
        for pos, weight in enumerate(weights, 1):
            duration = total * weight / sum(weights) if weight else TIMEOUT_MS / 1000
            phases.append((rng.uniform(0.015, 0.15), self._step_started(pos)))
            phases.append((max(0.2, duration), self._step_finished(pos)))
        phases.append((rng.uniform(0.005, 0.06), self._run_finished))
        self._phases = phases
        self._next = 0

    @property
    def wait(self) -> float | None:
        """Seconds from the last events to the next, None when the run has finished."""
        return self._phases[self._next][0] if self._next < len(self._phases) else None

    @property
    def done(self) -> bool:
        return self._next >= len(self._phases)

    def advance(self, now: datetime) -> list[Event]:
        """The events due next, stamped ``now`` (never before the run's earlier ones)."""
        if self.done:
            return []
        now = now if self._last is None else max(now, self._last)
        self._last = now
        make = self._phases[self._next][1]
        self._next += 1
        return make(now)

    def rest(self, now: datetime) -> list[Event]:
        """Every event left, all at ``now``: a run cut short by a stop still finishes."""
        events: list[Event] = []
        while not self.done:
            events += self.advance(now)
        return events

    def _run_started(self, now: datetime) -> list[Event]:
        flow = self.target.flow
        return [
            run_started(
                self._event_id(),
                run_id=self.run_id,
                integration_id=self.target.integration_id,
                trigger_app_id=flow.trigger_app_id,
                trigger_name=self._trigger[1],
                trigger_type=self._trigger[0],
                start_time=now,
            )
        ]

    def _step(self, pos: int) -> dict[str, Any]:
        shape = self.target.flow.steps[pos - 1]
        return {
            "step_id": f"{self.run_id}-s{pos}",
            "run_id": self.run_id,
            "position": pos,
            "app_id": shape.app_id,
            "name": shape.name,
        }

    def _step_started(self, pos: int) -> Callable[[datetime], list[Event]]:
        def make(now: datetime) -> list[Event]:
            self._started[pos] = now
            return [step_started(self._event_id(), **self._step(pos), start_time=now)]

        return make

    def _step_finished(self, pos: int) -> Callable[[datetime], list[Event]]:
        def make(now: datetime) -> list[Event]:
            action = self.target.flow.steps[pos - 1].action
            failing = pos == self.fail_pos
            status = "FAILED" if failing else "OK"
            code = self.fail_code if failing else None
            payload = step_payload(
                self.rng,
                APPS[action.app],
                status,
                code,
                action=action,
                ctx=self._ctx,
                at=now,
                leak=self._leak,
            )
            response = payload.get("response")
            if failing and response is None:  # timed out: as long as this engine waits
                payload["objects"][0]["value"]["message"] = f"timeout of {TIMEOUT_MS}ms exceeded"
            events = [
                step_finished(
                    self._event_id(),
                    **self._step(pos),
                    status=status,
                    start_time=self._started[pos],
                    end_time=now,
                    payload=payload,
                    network_code=None if response is None else response["statusCode"],
                )
            ]
            if failing:
                for later in range(pos + 1, len(self.target.flow.steps) + 1):
                    events.append(
                        step_finished(
                            self._event_id(),
                            **self._step(later),
                            status="SKIPPED",
                            start_time=now,
                            end_time=now,
                        )
                    )
            return events

        return make

    def _run_finished(self, now: datetime) -> list[Event]:
        return [
            run_finished(self._event_id(), run_id=self.run_id, status=self.status, end_time=now)
        ]


class RunMaker:
    """New runs on given targets: unique IDs for this session, failures dealt like the seed's
    (a shuffled deck of every error code and a timeout, so each one shows up)."""

    def __init__(self, rng: random.Random, session: str | None = None) -> None:
        self.rng = rng
        self.session = session or f"sim-{int(time.time() * 1000):x}-{rng.getrandbits(16):04x}"
        self.runs = 0
        self.events = 0
        self._deck: list[int | None] = []

    def event_id(self) -> str:
        self.events += 1
        return f"{self.session}-e{self.events:07d}"

    def run(self, target: Target) -> RunScript:
        self.runs += 1
        run_id = f"{self.session}-r{self.runs:06d}"
        if self.rng.random() >= target.fail_rate:
            return RunScript(self.rng, target, run_id, self.event_id)
        if not self._deck:
            self._deck = [*ERROR_CODES, None]  # None: a timeout
            self.rng.shuffle(self._deck)
        pos = self.rng.randint(1, len(target.flow.steps))
        return RunScript(
            self.rng, target, run_id, self.event_id, fail_code=self._deck.pop(), fail_pos=pos
        )


# --------------------------------------------------------------------------- the account


async def load_targets(services: Services, account_id: str) -> list[Target]:
    """The account's ENABLED integrations (at most ``MAX_TARGETS``), each with the shape of
    its flow: the seed's own for the demo flows, else that of the flow's latest run."""
    integrations: list[Any] = []
    order = reads.integration_order("CREATED_AT", False)
    query = IntegrationQuery(statuses=("ENABLED",))
    async with services.db.read() as conn:
        window = Window(100)
        while len(integrations) < MAX_TARGETS:
            page = await reads.account_integration_page(conn, account_id, query, order, window)
            integrations += page.rows
            if not page.has_next:
                break
            last = page.rows[-1]
            window = Window(100, after=(last.created_at, last.integration_id))
        flow_ids = sorted({i.flow_id for i in integrations} - DEMO_SHAPES.keys())
        shapes = {k: v for k, v in DEMO_SHAPES.items()}
        if flow_ids:
            latest = await reads.run_pages(
                conn,
                account_id,
                flow_ids,
                "flow",
                RunQuery(),
                reads.run_order("START_TIME", True),
                Window(1),
            )
            runs = {f: p.rows[0] for f, p in latest.items() if p.rows}
            steps = await reads.step_pages(
                conn, account_id, [r.run_id for r in runs.values()], StepQuery(), Window(100)
            )
            for flow_id in flow_ids:
                run = runs.get(flow_id)
                shapes[flow_id] = (
                    shape_from_run(flow_id, run, steps[run.run_id].rows)
                    if run is not None
                    else generic_shape(flow_id)
                )
    return [target(i.integration_id, shapes[i.flow_id]) for i in integrations[:MAX_TARGETS]]


# --------------------------------------------------------------------------- the driver


@dataclass
class Totals:
    started: int = 0
    finished: int = 0
    failed: int = 0
    events: int = 0
    rejected: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        line = (
            f"simulated {self.started} runs started, {self.finished} finished "
            f"({self.failed} failed), {self.events} events sent in {self.seconds:.1f} s"
        )
        return line + (f"; {self.rejected} events rejected" if self.rejected else "")


@dataclass
class _Sent:
    script: RunScript
    events: list[Event] = field(default_factory=list)


class Simulation:
    """Starts ``rate`` runs per second on the targets and plays each run out in real time.

    Events due together go in one batch. A ``runStarted`` refused as
    ``INTEGRATION_NOT_RECEIVING`` (the integration was paused or disabled meanwhile) is no
    error: that integration is dropped and the run starts on another one. The targets are
    re-read every ``refresh_seconds``. ``stop()`` ends it: no new runs, and the runs under way
    finish at once. A batch that fails is sent again (its event IDs make that safe); after
    ``max_failures`` failures in a row (None: never) the error is raised.
    """

    def __init__(
        self,
        services: Services,
        account_id: str,
        targets: list[Target],
        *,
        rate: float,
        rng: random.Random | None = None,
        refresh_seconds: float = 30.0,
        max_failures: int | None = 5,
    ) -> None:
        if not rate > 0:
            raise ValueError("the rate must be above 0")
        self.services, self.account_id, self.rate = services, account_id, rate
        self.targets = {t.integration_id: t for t in targets}
        self.maker = RunMaker(rng or random.Random())
        self.refresh_seconds, self.max_failures = refresh_seconds, max_failures
        self.totals = Totals()
        self._stop = asyncio.Event()
        self._principal = Principal(account_id, "INGEST", "simulate", "simulate")
        self._live: set[str] = set()  # runs started and not finished
        self._busy: dict[str, int] = {}  # runs under way per integration
        self._replace = 0  # runs refused at their start, to start elsewhere
        self._due: list[tuple[float, int, RunScript]] = []
        self._unsent: list[_Sent] = []
        self._counter = 0

    def stop(self) -> None:
        self._stop.set()

    async def run(self, duration: float | None = None) -> Totals:
        loop = asyncio.get_running_loop()
        began = loop.time()
        ends = math.inf if duration is None else began + duration
        next_start, refresh_at = began, began + self.refresh_seconds
        failures = 0
        while not self._stop.is_set() and loop.time() < ends:
            now = loop.time()
            if now >= refresh_at:
                await self._refresh()
                refresh_at = now + self.refresh_seconds
            next_start = max(next_start, now - 1.0)  # after a stall, no burst of catch-up runs
            batch, self._unsent = self._unsent, []
            while self.targets and (next_start <= now or self._replace):
                if next_start <= now:
                    next_start += 1.0 / self.rate
                else:
                    self._replace -= 1
                batch.append(self._start())
            if not self.targets:
                self._replace = 0
                next_start = max(next_start, refresh_at)
            batch += self._advance(now)
            try:
                await self._send(batch)
            except Exception as error:
                failures += 1
                if self.max_failures is not None and failures >= self.max_failures:
                    raise
                log.warning("simulate: a batch failed (sent again shortly): %s", error)
                self._unsent = batch
                await self._sleep(min(30.0, 2.0 ** (failures - 1)))
                continue
            failures = 0
            self._schedule(batch, loop.time())
            wake = 0.0 if self._replace else min(next_start, refresh_at, ends, *self._whens())
            await self._sleep(wake - loop.time())
        await self._finish_all()
        self.totals.seconds = loop.time() - began
        return self.totals

    def _whens(self) -> list[float]:
        return [when for when, _, _ in self._due]

    def _start(self) -> _Sent:
        idle = [t for i, t in self.targets.items() if not self._busy.get(i)]
        chosen = self.maker.rng.choice(idle or list(self.targets.values()))
        script = self.maker.run(chosen)
        return _Sent(script, script.advance(datetime.now(UTC)))

    def _advance(self, now: float) -> list[_Sent]:
        ready = [script for when, _, script in self._due if when <= now]
        self._due = [d for d in self._due if d[0] > now]
        stamp = datetime.now(UTC)
        return [_Sent(script, script.advance(stamp)) for script in ready]

    def _schedule(self, batch: list[_Sent], now: float) -> None:
        for sent in batch:
            wait = sent.script.wait
            if wait is not None and sent.script.run_id in self._live:
                self._counter += 1
                self._due.append((now + wait, self._counter, sent.script))

    async def _finish_all(self) -> None:
        """Stopping: the runs under way finish now, so none is left RUNNING."""
        if self._unsent:
            batch, self._unsent = self._unsent, []
            await self._send(batch)
            self._schedule(batch, 0.0)
        stamp = datetime.now(UTC)
        rest = [_Sent(script, script.rest(stamp)) for _, _, script in self._due]
        self._due = []
        for i in range(0, len(rest), 100):
            await self._send(rest[i : i + 100])

    async def _refresh(self) -> None:
        try:
            targets = await load_targets(self.services, self.account_id)
        except Exception as error:  # keep the integrations known so far
            log.warning("simulate: could not re-read the integrations: %s", error)
            return
        self.targets = {t.integration_id: t for t in targets}
        if not targets:
            log.warning(
                "simulate: account %s has no ENABLED integration now; looking again in %g s",
                self.account_id,
                self.refresh_seconds,
            )

    async def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), seconds)

    async def _send(self, batch: list[_Sent]) -> None:
        from gateway.schema import schema

        events = [event for sent in batch for event in sent.events]
        if not events:
            return
        ctx = make_context(self.services, self._principal, "simulate")
        result = await schema.execute(MUTATION, {"events": events}, context_value=ctx)
        if result.errors:
            raise RuntimeError(result.errors[0].message)
        assert result.data is not None
        refused = {r["index"]: r for r in result.data["ingestEvents"]["rejected"]}
        index = 0
        for sent in batch:
            for event in sent.events:
                self._count(sent.script, event, refused.get(index))
                index += 1

    def _count(self, script: RunScript, event: Event, refused: dict[str, Any] | None) -> None:
        member = next(iter(event))
        integration = script.target.integration_id
        if refused is not None:
            if member == "runStarted" and refused["code"] == NOT_RECEIVING:
                # Paused or disabled meanwhile: the run starts on another integration.
                self.targets.pop(integration, None)
                self._replace += 1
                return
            self.totals.rejected += 1
            log.warning(
                "simulate: %s of run %s refused: %s: %s",
                member,
                script.run_id,
                refused["code"],
                refused["message"],
            )
            return
        self.totals.events += 1
        if member == "runStarted":
            self.totals.started += 1
            self._live.add(script.run_id)
            self._busy[integration] = self._busy.get(integration, 0) + 1
        elif member == "runFinished":
            self.totals.finished += 1
            self.totals.failed += event[member]["status"] == "FAILED"
            self._live.discard(script.run_id)
            self._busy[integration] = max(0, self._busy.get(integration, 0) - 1)


# --------------------------------------------------------------------------- entry points


class NoTargets(Exception):
    """The account has no ENABLED integration to run."""


async def simulate(
    services: Services,
    account_id: str,
    *,
    rate: float,
    duration: float | None = None,
    on_ready: Callable[[Simulation], None] | None = None,
) -> Totals:
    """``gateway simulate``: runs until ``duration`` has passed or ``stop()`` is called on the
    simulation handed to ``on_ready``."""
    targets = await load_targets(services, account_id)
    if not targets:
        raise NoTargets(
            f"account {account_id} has no ENABLED integration to run (seed it first: "
            f"gateway seed --account {account_id})"
        )
    simulation = Simulation(services, account_id, targets, rate=rate)
    if on_ready is not None:
        on_ready(simulation)
    return await simulation.run(duration)


@asynccontextmanager
async def in_background(services: Services, account_id: str, rate: float) -> AsyncIterator[None]:
    """Live runs while the body runs, on the server's own services (so its broker publishes
    them). Errors are logged and retried; leaving stops it and finishes the runs under way."""
    targets = await load_targets(services, account_id)
    if not targets:
        log.warning("simulate: account %s has no ENABLED integration; no live runs", account_id)
        yield
        return
    simulation = Simulation(services, account_id, targets, rate=rate, max_failures=None)
    task = asyncio.create_task(simulation.run(), name="simulate")
    try:
        yield
    finally:
        simulation.stop()
        try:
            await asyncio.wait_for(task, 10)
        except Exception as error:  # a stop must not fail the server's shutdown
            log.warning("simulate: stopped with an error: %s", error)


class BackgroundThread:
    """The simulation in a thread of its own (with its own services and event loop): for a
    process that runs no event loop itself, like the supervisor of several workers. Needs a
    broker shared between processes for subscribers to see the runs."""

    def __init__(self, settings: Any, account_id: str, rate: float) -> None:
        self.settings, self.account_id, self.rate = settings, account_id, rate
        self._loop: asyncio.AbstractEventLoop | None = None
        self._simulation: Simulation | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="simulate", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        self._ready.wait(timeout)
        if self._loop is not None and self._simulation is not None:
            self._loop.call_soon_threadsafe(self._simulation.stop)
        self._thread.join(timeout)

    def _main(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        services = Services.from_settings(self.settings)
        try:
            await services.broker.start()
            targets = await load_targets(services, self.account_id)
            if not targets:
                log.warning("simulate: account %s has no ENABLED integration", self.account_id)
                return
            self._loop = asyncio.get_running_loop()
            self._simulation = Simulation(
                services, self.account_id, targets, rate=self.rate, max_failures=None
            )
            self._ready.set()
            await self._simulation.run()
        except Exception as error:
            log.warning("simulate: stopped with an error: %s", error)
        finally:
            self._ready.set()
            await services.close()
