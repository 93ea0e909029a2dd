from __future__ import annotations

from sqlalchemy import text

from gateway.services import Services
from tests import events as e
from tests.conftest import Api


async def test_analyze_gives_the_planner_statistics(ingester: Api, services: Services) -> None:
    await ingester.data(e.INGEST, {"events": [e.flow(), e.integration("int-1")]})
    await services.db.analyze()
    async with services.db.read() as conn:
        if services.db.is_sqlite:
            stats = "SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'integrations'"
        else:
            stats = (
                "SELECT count(*) FROM pg_stat_user_tables "
                "WHERE relname = 'integrations' AND last_analyze IS NOT NULL"
            )
        assert await conn.scalar(text(stats)) >= 1
