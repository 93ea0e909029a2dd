"""One execution of a subscription event for every subscriber that would get the same answer.

Ten dashboards of an account, each subscribed with the same document to every run of the
account, used to execute that document ten times per change. An event's answer depends only on
the change (its account and ``seq``), the document and operation, the variables and the
subscriber's role (the permission checks): subscribers alike in those get one execution per
change in this process, and each its own copy of the result (its errors are coded and logged
per operation). Everything else stays per subscriber: the stream, the key check before each
event, the cursor, the send.

The executor is graphql-core's, for subscription events only (an event type sets ``share``);
queries, mutations and the subscribe step itself execute as before.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any

import orjson
from graphql import ExecutionResult
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

# Answers kept for subscribers that are behind (keys of recent changes): enough for a burst.
RECENT = 4_096
_answers: OrderedDict[tuple[Any, ...], asyncio.Future[Any]] = OrderedDict()


class SharedEventExecutor(StrawberryGraphQLCoreExecutionContext):
    def execute_operation(self, serially: bool | None = None) -> Any:
        share = getattr(self.root_value, "share", None)
        key = share and self._key(share)
        if key is None:
            return super().execute_operation(serially)
        answer = _answers.get(key)
        if answer is None or (
            answer.done() and (answer.cancelled() or answer.exception() is not None)
        ):
            answer = asyncio.ensure_future(self._execute(serially))
            _answers[key] = answer
            if len(_answers) > RECENT:
                _answers.popitem(last=False)
        return _copy(answer)

    async def _execute(self, serially: bool | None) -> Any:
        result = super().execute_operation(serially)
        return await result if self.is_awaitable(result) else result

    def _key(self, share: tuple[str, int]) -> tuple[Any, ...] | None:
        principal = getattr(self.context_value, "principal", None)
        source = self.operation.loc.source.body if self.operation.loc else None
        if principal is None or source is None:
            return None
        name = self.operation.name.value if self.operation.name else None
        try:
            variables = orjson.dumps(self.variable_values.coerced, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # a value orjson cannot write: execute for this subscriber alone
            return None
        return (share, principal.role, source, name, variables)


async def _copy(answer: asyncio.Future[Any]) -> ExecutionResult:
    # Shielded: a subscriber that goes away does not cancel the others' execution.
    result = await asyncio.shield(answer)
    return ExecutionResult(
        result.data, list(result.errors) if result.errors else None, result.extensions
    )
