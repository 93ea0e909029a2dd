"""A batch costs a bounded number of SQL statements, whatever its size."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from gateway.services import Services
from tests import events as e
from tests.conftest import Api
from tests.test_ingest_support import RECENT, send

B = RECENT
# 25, and one for the unit of work's look at the account's webhook (the outbox) when the batch
# changed a status that can notify.
MAX_STATEMENTS = 26


@contextmanager
def count_statements(services: Services) -> Iterator[list[str]]:
    statements: list[str] = []
    engine = services.db.engine.sync_engine

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


def _batch(first: bool) -> list[dict[str, Any]]:
    """1,000 events: 1 flow, 10 integrations, 141 runs of 7 events, 2 apps (first batch);
    the second batch starts new runs and finishes 13 of the first batch's again."""
    items: list[dict[str, Any]] = []
    if first:
        items += [e.flow(t=B)] + [e.integration(f"int-{i}", t=B + 1) for i in range(10)]
        items += [e.ev("appUpserted", B, appId=a, name=a.title()) for a in ("slack", "hubspot")]
    for r in range(141):
        run_id = f"run-{r}" if first else f"run-b-{r}"
        start = B + 10 + r
        items += [
            e.run_started(run_id, f"int-{r % 10}", start),
            e.step_started(f"{run_id}-s1", run_id, 1, start + 1),
            e.step_finished(f"{run_id}-s1", run_id, 1, start + 1, start + 2),
            e.step_started(f"{run_id}-s2", run_id, 2, start + 2),
            e.step_finished(
                f"{run_id}-s2",
                run_id,
                2,
                start + 2,
                start + 3,
                status="FAILED",
                code=500,
                payload={
                    "request": {"method": "GET", "url": "https://x.test/"},
                    "response": {"statusCode": 500, "body": "{}"},
                },
            ),
            e.step_finished(f"{run_id}-s1", run_id, 1, start + 1, start + 2, status="FAILED"),
            e.run_finished(run_id, "FAILED", start + 4),
        ]
    if not first:
        # Runs of the first batch finished again, the same: stored rows, harmless repeats.
        items += [e.run_finished(f"run-{r}", "FAILED", B + 10 + r + 4) for r in range(13)]
    return items


async def test_a_batch_of_1000_events_takes_a_bounded_number_of_statements(
    ingester: Api,
    viewer: Api,
    admin: Api,
    services: Services,
) -> None:
    # Every run here fails: keep the integrations receiving.
    await admin.data("mutation { setAccountSettings(autoPauseAfterFailures: 0) { accountId } }")
    for first in (True, False):
        batch = _batch(first)
        assert len(batch) == 1000
        with count_statements(services) as statements:
            result = await send(ingester, batch)
        assert result == {"accepted": 1000, "duplicates": 0, "rejected": []}
        assert len(statements) <= MAX_STATEMENTS, "\n".join(s[:120] for s in statements)

    data = await viewer.data("""{ flow(flowId: "flow-1") { stats { tasksConsumed
        runsLast24h failedRunsLast24h } integrations(first: 1) { totalCount } } }""")
    assert data["flow"]["stats"] == {
        "tasksConsumed": 0,
        "runsLast24h": 282,
        "failedRunsLast24h": 282,
    }
    assert data["flow"]["integrations"]["totalCount"] == 10
