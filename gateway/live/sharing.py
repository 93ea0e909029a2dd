"""One execution of a subscription event for every subscriber that would get the same answer.

Ten dashboards of an account, each subscribed with the same document to every run of the
account, used to execute that document ten times per change. An event's answer depends only on
the change (its account and ``seq``), the document and operation, the variables and the
subscriber's role (the permission checks): subscribers alike in those that execute the event
at the same moment (they were woken by the same change) share one execution in this process.
Each gets its own result object (its errors are coded, masked with its own request id and
logged per operation) around the same ``data``, which nothing changes afterwards. An answer is
kept only while it is being computed and for ``KEEP_SECONDS`` after, and never when it has
errors: a subscriber that is behind executes for itself, on the data as it is then.
Everything else stays per subscriber: the stream, the key check before each event, the
cursor, the send. Documents longer than ``MAX_SHARED_DOCUMENT`` characters, and operations
that carry extensions, are not shared.

The executor is graphql-core's, for subscription events only (an event type sets ``share``);
queries, mutations and the subscribe step itself execute as before.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from functools import partial
from typing import Any

import orjson
from graphql import ExecutionResult
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

KEEP_SECONDS = 0.25
MAX_SHARED_DOCUMENT = 10_000
# At most this many answers at once (beyond, the oldest is forgotten).
RECENT = 4_096
_answers: OrderedDict[tuple[Any, ...], asyncio.Future[Any]] = OrderedDict()


class SharedEventExecutor(StrawberryGraphQLCoreExecutionContext):
    def execute_operation(self, serially: bool | None = None) -> Any:
        share = getattr(self.root_value, "share", None)
        key = share and self._key(share)
        if key is None:
            return super().execute_operation(serially)
        answer = _answers.get(key)
        if answer is None:
            answer = asyncio.ensure_future(self._execute(serially))
            _answers[key] = answer
            answer.add_done_callback(partial(_forget, key))
            if len(_answers) > RECENT:
                _answers.popitem(last=False)
        return _copy(answer)

    async def _execute(self, serially: bool | None) -> Any:
        result = super().execute_operation(serially)
        return await result if self.is_awaitable(result) else result

    def _key(self, share: tuple[str, int]) -> tuple[Any, ...] | None:
        ctx = self.context_value
        principal = getattr(ctx, "principal", None)
        source = self.operation.loc.source.body if self.operation.loc else None
        if principal is None or source is None or len(source) > MAX_SHARED_DOCUMENT:
            return None
        if self.operation_extensions:
            return None
        name = self.operation.name.value if self.operation.name else None
        try:
            variables = orjson.dumps(self.variable_values.coerced, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # a value orjson cannot write: execute for this subscriber alone
            return None
        return (id(ctx.services), share, principal.role, source, name, variables)


def _forget(key: tuple[Any, ...], answer: asyncio.Future[Any]) -> None:
    """Keeps a good answer for subscribers a moment behind, a failed one not at all."""
    failed = answer.cancelled() or answer.exception() is not None or bool(answer.result().errors)
    if failed:
        _drop(key, answer)
    else:
        asyncio.get_running_loop().call_later(KEEP_SECONDS, _drop, key, answer)


def _drop(key: tuple[Any, ...], answer: asyncio.Future[Any]) -> None:
    if _answers.get(key) is answer:
        del _answers[key]


async def _copy(answer: asyncio.Future[Any]) -> ExecutionResult:
    # Shielded: a subscriber that goes away does not cancel the others' execution.
    result = await asyncio.shield(answer)
    return ExecutionResult(
        result.data, list(result.errors) if result.errors else None, result.extensions
    )
