from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from gateway.present import values
from gateway.types.app import App
from gateway.types.enums import StepStatus
from gateway.types.node import Connection, Node
from gateway.types.payload import Payload
from gateway.types.scalars import DateTime

if TYPE_CHECKING:
    from gateway.types.run import Run


@strawberry.type(description="One step of a run.")
class Step(Node):
    step_id: str
    position: int
    name: str
    start_time: DateTime | None
    end_time: DateTime | None
    duration: int | None = strawberry.field(description="Milliseconds.")
    status: StepStatus
    network_code: int | None
    network_code_text: str | None
    _run_id: strawberry.Private[str]
    _app_id: strawberry.Private[str]
    _has_payload: strawberry.Private[bool]

    @classmethod
    def from_row(cls, row: Any) -> Step:
        return cls(
            id=strawberry.ID(values.global_id("Step", row.step_id)),
            step_id=row.step_id,
            position=row.position,
            name=row.name,
            start_time=row.start_time,
            end_time=row.end_time,
            duration=row.duration_ms,
            status=StepStatus(row.status),
            network_code=row.network_code,
            network_code_text=values.network_code_text(row.network_code),
            _run_id=row.run_id,
            _app_id=row.app_id,
            _has_payload=row.has_payload,
        )

    @strawberry.field
    async def run(
        self, info: strawberry.Info
    ) -> Annotated[Run, strawberry.lazy("gateway.types.run")]:
        from gateway.types.run import Run

        row = await info.context.loaders.run.load(self._run_id)
        return Run.builder(info.context)(row)

    @strawberry.field
    async def app(self, info: strawberry.Info) -> App:
        return App.from_row(await info.context.loaders.app.load(self._app_id))

    @strawberry.field(description="The step app's API and error documentation.")
    async def error_docs_url(self, info: strawberry.Info) -> str | None:
        app = await info.context.loaders.app.load(self._app_id)
        return values.app_docs_url(app)

    @strawberry.field(description="What the step sent and received; loaded only when asked for.")
    async def payload(self, info: strawberry.Info) -> Payload | None:
        if not self._has_payload:
            return None
        row = await info.context.loaders.payload.load(self.step_id)
        return None if row is None else Payload.from_row(row)


@strawberry.type
class StepConnection(Connection[Step]):
    pass
