from __future__ import annotations

from typing import Any

import strawberry


@strawberry.type(description="A third-party app connector (Slack, HubSpot…).")
class App:
    app_id: str
    name: str
    icon_url: str | None
    docs_url: str | None

    @classmethod
    def from_row(cls, row: Any) -> App:
        return cls(app_id=row.app_id, name=row.name, icon_url=row.icon_url, docs_url=row.docs_url)
