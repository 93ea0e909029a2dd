"""A tenant probe generated from the schema: to a key of one account, another account's
objects do not exist, by any path (SPEC §6).

Accounts A (``alpha``) and B (``bravo``) hold data of the same shape under different IDs;
``alphz`` values have the same shape and exist nowhere. Introspecting the schema, the probe
finds every root query field, every ``Node`` type (through ``node(id:)``, and the arguments of
the type's own fields, asked of B's object), every mutation and every subscription, and calls
each as B twice: with A's IDs, cursors, search and filter values, and with the ``alphz`` ones.
Once the values passed are blanked out, the two answers (data, errors and their messages,
HTTP status; for subscriptions every message, over the real WebSocket endpoint) must be equal,
and nothing else of A may show in them. An argument the probe has no rule for fails the test,
so a new field is probed, or noticed, as soon as it exists.

Both accounts have error notifications set up, a webhook to a local receiver, and one failed
run told by it (B's first, so B's notifications are all older than A's); B's are then turned
off, so that B's ``sendTestNotification`` answers alike every time it is called.

Calls are paired, A's value then the ``alphz`` one, and run in schema order: a mutation that
changes B (ingest creating B's own ``alpha-flow``) changes it alike for both, so every later
pair still starts from mirrored states.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    Undefined,
    get_named_type,
    is_abstract_type,
    is_leaf_type,
    is_non_null_type,
)

from gateway.actions.task_limits import user_key
from gateway.cursors import encode_event_cursor
from gateway.ids import encode_global_id
from gateway.schema import schema
from tests import events as e
from tests.notify_support import DELIVERIES, SET, Receiver, failing_run, receiver
from tests.test_subscriptions import LiveServer, Socket, open_socket, server_settings

SCHEMA = schema._schema
# A's, B's and nowhere's values: equal lengths, and no B value sorts between A's and
# nowhere's, so a cursor naming either stands at the same place among B's rows.
A, B, Z = "alpha", "bravo", "alphz"
BLANK = "<probed>"
NOW = (datetime.now(UTC) - timedelta(minutes=5)).isoformat(timespec="milliseconds")
NOW = NOW.replace("+00:00", "Z")
PAD_RUNS = 15  # A has more changes than B: A's event cursors lie past B's change log


def _values(p: str) -> dict[str, str]:
    """The engine IDs and texts of one account's objects (``p``: its prefix)."""
    return {
        "flowId": f"{p}-flow",
        "integrationId": f"{p}-int",
        "runId": f"{p}-run",
        "stepId": f"{p}-step",
        "appId": f"{p}-app",
        "userId": f"{p}-user@example.com",
        "userAuth": f"{p.upper()}-Auth@Example.com",
        "flowName": f"{p.upper()} flow",
        "appName": f"{p.upper()} app",
    }


NODE_IDS = {
    "Flow": "flowId",
    "Integration": "integrationId",
    "Run": "runId",
    "Step": "stepId",
    "EndUser": "userId",
}
# Arguments and input fields that name an account's data, by name: what to pass of A (and of
# nowhere). ``search`` takes each searchable value in turn.
REFERENCES: dict[str, tuple[str, ...]] = {
    "flowId": ("flowId",),
    "integrationId": ("integrationId",),
    "runId": ("runId",),
    "stepId": ("stepId",),
    "appId": ("appId",),
    "triggerAppId": ("appId",),
    "userId": ("userId",),
    "userAuth": ("userAuth",),
    "nameContains": ("flowName",),
    "search": ("integrationId", "userId", "userAuth", "runId", "appName", "flowName"),
}
LIST_REFERENCES = {"integrationIds": "integrationId", "flowIds": "flowId"}
# Arguments naming an object whose ID the gateway makes (not the engine): what of A to pass, by
# field; nowhere's is a fresh ID of the same shape.
MADE_IDS = {"Mutation.redeliverNotification": "webhookId"}
# Arguments that name nothing of an account: page sizes, orders, settings, statuses.
NEUTRAL = {
    "first",
    "last",
    "orderBy",
    "status",
    "hours",
    "limit",
    "periodDays",
    "autoPauseAfterFailures",
    "retentionDays",
    "enabled",
    "minIntervalSeconds",
    "rotateSecret",
}
# Input fields that name nothing of an account but must be given a value: the same on both sides.
SETTINGS = {"webhookUrl"}
CURSORS = {"after", "before"}
INGEST_ROLE_FIELDS = {"ingestEvents"}
ADMIN_QUERY_FIELDS = {"notificationDeliveries"}
# A position no row has reached, in a list whose cursors hold a number the gateway makes for
# every account alike (notifications, newest first): B's rows all lie before A's, so A's cursor
# and this one stand at the same place among them.
PAST_EVERY_ROW = 10**15


def _events(p: str, pad_runs: int = 0, shift: float = 0) -> list[dict[str, Any]]:
    """One account's data; ``shift`` seconds later than another's, so no sort value ties."""
    v = _values(p)
    t = shift
    events = [
        e.ev("appUpserted", t, appId=v["appId"], name=v["appName"]),
        e.flow(v["flowId"], v["flowName"], t=t),
        e.integration(
            v["integrationId"], v["flowId"], v["userId"], t=t + 1, userAuth=v["userAuth"]
        ),
        e.run_started(v["runId"], v["integrationId"], t + 10, app=v["appId"]),
        e.step_finished(
            v["stepId"],
            v["runId"],
            1,
            t + 11,
            t + 12,
            status="FAILED",
            code=404,
            payload={
                "request": {"method": "GET", "url": f"https://{p}.example.com/x", "headers": []},
                "response": {"statusCode": 404, "headers": [], "body": f'{{"who": "{p}"}}'},
            },
        ),
        e.run_finished(v["runId"], "FAILED", t + 13),
        e.ev(
            "integrationStatusChanged", t + 20, integrationId=v["integrationId"], status="DISABLED"
        ),
        e.ev(
            "integrationStatusChanged", t + 21, integrationId=v["integrationId"], status="ENABLED"
        ),
    ]
    for n in range(pad_runs):
        events += [
            e.run_started(f"{p}-pad-{n}", v["integrationId"], t + 30 + n, app=v["appId"]),
            e.run_finished(f"{p}-pad-{n}", "OK", t + 31 + n),
        ]
    for n, item in enumerate(events):
        ((fields),) = item.values()
        fields["eventId"] = f"{p}-ev-{n}"
    return events


# --- calling the API -----------------------------------------------------------------------


@dataclass
class Tenant:
    account_id: str
    keys: dict[str, str]
    gids: dict[str, str] = field(default_factory=dict)
    webhook_ids: list[str] = field(default_factory=list)


def _post(server: ProbedServer, key: str, query: str, variables: dict[str, Any]) -> Any:
    response = server.http.post(
        server.http_url,
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {key}"},
    )
    return response.status_code, response.json()


def _data(server: ProbedServer, key: str, query: str, **variables: Any) -> Any:
    status, body = _post(server, key, query, variables)
    assert (status, body.get("errors")) == (200, None), body
    return body["data"]


def _tenant(server: LiveServer, prefix: str, pad_runs: int = 0, shift: float = 0) -> Tenant:
    account_id = f"probe-{prefix}-{uuid.uuid4().hex[:8]}"
    keys = {role: server.key(account_id, role) for role in ("viewer", "admin", "ingest")}
    server.ingest(keys["ingest"], *_events(prefix, pad_runs, shift))
    v = _values(prefix)
    gids = {t: encode_global_id(t, v[name]) for t, name in NODE_IDS.items()}
    return Tenant(account_id, keys, gids)


# --- documents from the schema -------------------------------------------------------------


def _nullable(type_: Any) -> Any:
    return type_.of_type if isinstance(type_, GraphQLNonNull) else type_


def _required(arg: GraphQLArgument | Any) -> bool:
    return is_non_null_type(arg.type) and arg.default_value is Undefined


def _selection(type_: GraphQLOutputType | GraphQLNamedType, depth: int) -> str:
    named = get_named_type(type_)
    if is_leaf_type(named):
        return ""
    if is_abstract_type(named):
        parts = ["__typename"]
        for possible in SCHEMA.get_possible_types(named):  # type: ignore[arg-type]
            parts.append(f"... on {possible.name} {{ {_fields(possible, depth)} }}")
        return " ".join(parts)
    assert isinstance(named, GraphQLObjectType)
    return _fields(named, depth)


def _fields(type_: GraphQLObjectType, depth: int) -> str:
    parts = ["__typename"]
    for name, f in type_.fields.items():
        if any(_required(a) for a in f.args.values()):
            continue
        if is_leaf_type(get_named_type(f.type)):
            parts.append(name)
        elif depth > 1:
            parts.append(f"{name} {{ {_selection(f.type, depth - 1)} }}")
    return " ".join(parts)


@dataclass
class Case:
    """One field called twice as B: ``variables[A]`` and ``variables[Z]``."""

    label: str
    role: str
    document: str
    variables: dict[str, dict[str, Any]]
    passed: dict[str, list[str]]  # the texts passed in each variant, blanked in the answers


class Builder:
    """Arguments for every field, from A's data and its nowhere twin; problems collected."""

    def __init__(
        self, server: ProbedServer, a: Tenant, b: Tenant, settings: dict[str, Any]
    ) -> None:
        self.server, self.a, self.b = server, a, b
        self.settings = settings
        self.problems: list[str] = []
        # A's webhook-id, and one that exists nowhere
        self.made = {"webhookId": (a.webhook_ids[0], "msg_" + uuid.uuid4().hex[:24])}

    # values ---------------------------------------------------------------------------

    @staticmethod
    def value(name: str, side: str) -> str:
        return _values(A if side == A else Z)[name]

    def cursor_pair(self, owner: str | None, owner_type: str | None, field_name: str) -> Any:
        """A's cursor of the list ``field_name`` (of A's object of ``owner_type``, or the
        root), and the same cursor naming a row that exists nowhere."""
        inner = f"{field_name}(first: 1) {{ pageInfo {{ endCursor }} }}"
        if owner_type is None:
            data = _data(self.server, self.a.keys["admin"], f"{{ {inner} }}")[field_name]
        else:
            query = f"query($id: ID!) {{ node(id: $id) {{ ... on {owner_type} {{ {inner} }} }} }}"
            node = _data(self.server, self.a.keys["admin"], query, id=owner)["node"]
            data = node[field_name]
        cursor = data["pageInfo"]["endCursor"]
        if cursor is None:
            return None
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        version, order, sort_value, key = orjson.loads(raw)
        if key == user_key(_values(A)["userId"]):
            key = user_key(_values(Z)["userId"])
        elif isinstance(key, str) and A in key:
            key = key.replace(A, Z)
        elif isinstance(sort_value, int) and key == str(sort_value):
            sort_value, key = PAST_EVERY_ROW, str(PAST_EVERY_ROW)
        else:
            raise AssertionError(f"{field_name}: no nowhere twin for the cursor {raw!r}")
        nowhere = orjson.dumps([version, order, sort_value, key])
        return cursor, base64.urlsafe_b64encode(nowhere).rstrip(b"=").decode()

    def input_pairs(self, where: str, type_: GraphQLInputObjectType) -> list[Any]:
        """(A's, nowhere's) values of a filter input: one per field that names data; and,
        where the filter has lists of enum values (statuses, types), each of those values
        along with the first field that names data."""
        pairs = []
        enums = []
        for name, f in type_.fields.items():
            named = get_named_type(f.type)
            listed = isinstance(_nullable(f.type), GraphQLList)
            if isinstance(named, GraphQLInputObjectType):
                self.problems.append(f"{where}.{name}: nested input, no rule")
            elif named.name in ("String", "ID"):
                if name not in REFERENCES:
                    self.problems.append(f"{where}.{name}: text input field without a rule")
                    continue
                for ref in REFERENCES[name]:
                    a, z = self.value(ref, A), self.value(ref, Z)
                    if listed:
                        pairs.append(({name: [a]}, {name: [z]}, [ref]))
                    else:
                        pairs.append(({name: a}, {name: z}, [ref]))
            elif isinstance(named, GraphQLEnumType) and listed:
                enums += [(name, value) for value in named.values]
            # times, numbers, single enums (orders) name nothing of an account
        if pairs:
            a_in, z_in, refs = pairs[0]
            for name, value in enums:
                pairs.append(({**a_in, name: [value]}, {**z_in, name: [value]}, refs))
        return pairs

    def settings_input(self, where: str, type_: GraphQLInputObjectType) -> list[Any] | None:
        """(A's, nowhere's) values of a settings input: the fields that name data, A's and
        nowhere's, the required settings the same on both sides, the rest left out."""
        a_in: dict[str, Any] = {}
        z_in: dict[str, Any] = {}
        texts: list[str] = []
        for name in type_.fields:
            if name in LIST_REFERENCES:
                a, z = (self.value(LIST_REFERENCES[name], s) for s in (A, Z))
                a_in[name], z_in[name] = [a], [z]
                texts += [a, z]
            elif name in REFERENCES and name != "search":
                a, z = (self.value(REFERENCES[name][0], s) for s in (A, Z))
                a_in[name], z_in[name] = a, z
                texts += [a, z]
            elif name in SETTINGS:
                a_in[name] = z_in[name] = self.settings[name]
            elif name not in NEUTRAL:
                self.problems.append(f"{where}.{name}: input field without a rule")
        if not texts:
            self.problems.append(f"{where}: names nothing of an account")
            return None
        return [(a_in, z_in, texts)]

    def argument_pairs(
        self, where: str, arg_name: str, arg: GraphQLArgument, owner: tuple[str, str] | None
    ) -> list[Any] | None:
        """Each (A's value, nowhere's value, the texts they carry) of one argument; None
        when it names nothing (left out); problems noted."""
        named = get_named_type(arg.type)
        if arg_name in NEUTRAL:
            if _required(arg):
                self.problems.append(f"{where}({arg_name}:) is required and has no value")
            return None
        if arg_name in REFERENCES:
            return [
                (self.value(r, A), self.value(r, Z), [self.value(r, A), self.value(r, Z)])
                for r in REFERENCES[arg_name]
            ]
        if arg_name in LIST_REFERENCES:
            a, z = (
                self.value(LIST_REFERENCES[arg_name], A),
                self.value(LIST_REFERENCES[arg_name], Z),
            )
            return [([a], [z], [a, z])]
        if arg_name == "after" and where.startswith("Subscription."):
            # A's cursor of its last change, and a position no account has reached.
            a, z = self.a_last_event, encode_event_cursor(10**15)
            return [(a, z, [a, z])]
        if arg_name in CURSORS:
            list_name = where.rsplit(".", 1)[-1]
            owner_type = owner[0] if owner else None
            pair = self.cursor_pair(self.a.gids.get(owner_type or ""), owner_type, list_name)
            if pair is None:
                self.problems.append(f"{where}({arg_name}:): A has no row in this list")
                return None
            return [(pair[0], pair[1], [pair[0], pair[1]])]
        if isinstance(named, GraphQLInputObjectType) and arg_name == "filter":
            out = []
            for a_in, z_in, refs in self.input_pairs(f"{where}({arg_name}:)", named):
                texts = [self.value(r, s) for r in refs for s in (A, Z)]
                out.append((a_in, z_in, texts))
            return out or None
        if arg_name == "id" and where == "Query.node":
            return None  # built per Node type
        if arg_name == "id" and where in MADE_IDS:
            a, z = self.made[MADE_IDS[where]]
            return [(a, z, [a, z])]
        if isinstance(named, GraphQLInputObjectType) and arg_name == "input":
            return self.settings_input(f"{where}({arg_name}:)", named)
        if arg_name == "ids":
            a_ids = [encode_global_id(t, self.value(n, A)) for t, n in NODE_IDS.items()]
            z_ids = [encode_global_id(t, self.value(n, Z)) for t, n in NODE_IDS.items()]
            return [(a_ids, z_ids, a_ids + z_ids)]
        if arg_name == "events":
            return self.ingest_pairs(where, named)
        self.problems.append(f"{where}({arg_name}: {arg.type}): no rule to build it")
        return None

    # ingest events ----------------------------------------------------------------------

    def ingest_pairs(self, where: str, named: GraphQLNamedType) -> list[Any] | None:
        """One batch per event kind (the members of the @oneOf input), naming A's IDs and
        reusing A's event IDs, and the same naming nowhere's."""
        if not isinstance(named, GraphQLInputObjectType):
            self.problems.append(f"{where}(events:): not an input object")
            return None
        out = []
        for n, (member, f) in enumerate(named.fields.items()):
            member_type = get_named_type(f.type)
            assert isinstance(member_type, GraphQLInputObjectType)
            texts: list[str] = []
            sides = []
            for side in (A, Z):
                fields = self.input_object(f"{where}.{member}", member_type, side, n, texts)
                sides.append([{member: fields}])
            out.append((sides[0], sides[1], texts))
        return out

    def input_object(
        self, where: str, type_: GraphQLInputObjectType, side: str, n: int, texts: list[str]
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, f in type_.fields.items():
            if name == "eventId":
                out[name] = f"{A if side == A else Z}-ev-{n}"
            elif name in REFERENCES and name != "search":
                out[name] = self.value(REFERENCES[name][0], side)
            elif name.endswith(("Id", "Ids")):
                self.problems.append(f"{where}.{name}: an ID field without a rule")
                continue
            elif is_non_null_type(f.type) and f.default_value is Undefined:
                out[name] = self.plain(f"{where}.{name}", f.type, side, n, texts)
            else:
                continue
            if isinstance(out[name], str):
                texts.append(out[name])
        return out

    def plain(
        self, where: str, type_: GraphQLInputType, side: str, n: int, texts: list[str]
    ) -> Any:
        """A valid value that names nothing, for a required input field."""
        inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
        if isinstance(inner, GraphQLList):
            return []
        if isinstance(inner, GraphQLEnumType):
            return next(iter(inner.values))
        if isinstance(inner, GraphQLInputObjectType):
            return self.input_object(where, inner, side, n, texts)
        assert isinstance(inner, GraphQLScalarType)
        plain = {"DateTime": NOW, "Int": 0, "String": "probe", "Boolean": False}
        if inner.name not in plain:
            self.problems.append(f"{where}: no value for a required {inner.name}")
            return None
        return plain[inner.name]

    # cases ------------------------------------------------------------------------------

    def cases_of(
        self,
        where: str,
        root: str,
        field_name: str,
        f: GraphQLField,
        role: str,
        owner: tuple[str, str] | None = None,
        depth: int = 2,
    ) -> list[Case]:
        """The calls of one field: each argument naming data, A's then nowhere's, with the
        other arguments left out (required ones: their first pair)."""
        pairs = {name: self.argument_pairs(where, name, arg, owner) for name, arg in f.args.items()}
        for name, arg in f.args.items():
            if _required(arg) and not pairs[name]:
                if not (name == "id" and where == "Query.node"):
                    self.problems.append(f"{where}({name}:) is required and cannot be built")
                return []
        probed = [(name, i) for name, p in pairs.items() if p for i in range(len(p))] or [(None, 0)]
        selection = _selection(f.type, depth)
        body = f" {{ {selection} }}" if selection else ""
        cases = []
        for probe_name, index in probed:
            used = {
                name: p[index if name == probe_name else 0]
                for name, p in pairs.items()
                if p and (name == probe_name or _required(f.args[name]))
            }
            decl = ", ".join(f"${name}: {f.args[name].type}" for name in used)
            call = ", ".join(f"{name}: ${name}" for name in used)
            invoke = f"{field_name}({call}){body}" if used else f"{field_name}{body}"
            variables = {
                A: {name: pair[0] for name, pair in used.items()},
                Z: {name: pair[1] for name, pair in used.items()},
            }
            if owner is not None:
                owner_type, owner_gid = owner
                invoke = f"node(id: $owner) {{ ... on {owner_type} {{ {invoke} }} }}"
                decl = ", ".join(x for x in (decl, "$owner: ID!") if x)
                for side in variables.values():
                    side["owner"] = owner_gid
            document = f"{root}{f'({decl})' if decl else ''} {{ {invoke} }}"
            texts = [text for pair in used.values() for text in pair[2]]
            cases.append(
                Case(
                    f"{where}({probe_name or ''}#{index})",
                    role,
                    document,
                    variables,
                    {A: texts, Z: texts},
                )
            )
        return cases

    def node_cases(self) -> list[Case]:
        node = SCHEMA.query_type.fields["node"]  # type: ignore[union-attr]
        cases = []
        for possible in SCHEMA.get_possible_types(SCHEMA.get_type("Node")):  # type: ignore[arg-type]
            if possible.name not in NODE_IDS:
                self.problems.append(f"Node type {possible.name}: no object of A to probe")
                continue
            a_gid = encode_global_id(possible.name, self.value(NODE_IDS[possible.name], A))
            z_gid = encode_global_id(possible.name, self.value(NODE_IDS[possible.name], Z))
            sel = f"__typename ... on {possible.name} {{ {_fields(possible, 3)} }}"
            assert node.type is not None
            cases.append(
                Case(
                    f"Query.node({possible.name})",
                    "viewer",
                    f"query($id: ID!) {{ node(id: $id) {{ {sel} }} }}",
                    {A: {"id": a_gid}, Z: {"id": z_gid}},
                    {A: [a_gid, z_gid], Z: [a_gid, z_gid]},
                )
            )
            # The type's own fields with arguments, asked of B's object of that type.
            b_gid = encode_global_id(possible.name, _values(B)[NODE_IDS[possible.name]])
            for name, f in possible.fields.items():
                if f.args:
                    cases += self.cases_of(
                        f"{possible.name}.{name}",
                        "query",
                        name,
                        f,
                        "viewer",
                        owner=(possible.name, b_gid),
                        depth=2,
                    )
        return cases

    def http_cases(self) -> list[Case]:
        cases = []
        query = SCHEMA.query_type
        assert query is not None
        for name, f in query.fields.items():
            role = "admin" if name in ADMIN_QUERY_FIELDS else "viewer"
            cases += self.cases_of(f"Query.{name}", "query", name, f, role)
        cases += self.node_cases()
        mutation = SCHEMA.mutation_type
        assert mutation is not None
        for name, f in mutation.fields.items():
            role = "ingest" if name in INGEST_ROLE_FIELDS else "admin"
            cases += self.cases_of(f"Mutation.{name}", "mutation", name, f, role)
        return cases

    def subscription_cases(self) -> list[Case]:
        subscription = SCHEMA.subscription_type
        assert subscription is not None
        cases = []
        for name, f in subscription.fields.items():
            cases += self.cases_of(
                f"Subscription.{name}", "subscription", name, f, "viewer", depth=2
            )
        return cases

    a_last_event = ""


# --- answers -------------------------------------------------------------------------------


# The caller's own rate-limit budget moves with every call it makes, whatever it asks.
_OWN_COUNTERS = ("remaining", "used", "resetAt")


def _steady(answer: Any) -> Any:
    if isinstance(answer, list):
        return [_steady(item) for item in answer]
    if not isinstance(answer, dict):
        return answer
    steady = {key: _steady(value) for key, value in answer.items()}
    limit = steady.get("rateLimit")
    if isinstance(limit, dict):
        steady["rateLimit"] = {k: "<own>" if k in _OWN_COUNTERS else v for k, v in limit.items()}
    return steady


def _blank(answer: Any, texts: list[str]) -> str:
    text = json.dumps(_steady(answer), sort_keys=True, ensure_ascii=False)
    for value in sorted(set(texts), key=len, reverse=True):
        text = text.replace(json.dumps(value, ensure_ascii=False)[1:-1], BLANK)
    return text


def _a_markers(a: Tenant) -> list[str]:
    v = _values(A)
    ids = [v[n] for n in NODE_IDS.values()] + [f"{A}-pad-{n}" for n in range(PAD_RUNS)]
    gids = (encode_global_id(t, i) for t in NODE_IDS for i in ids)
    return [A, A.upper(), *gids, a.account_id, *a.webhook_ids]


def _compare(case: Case, answers: dict[str, Any], markers: list[str]) -> list[str]:
    problems = []
    shown = {side: _blank(answers[side], case.passed[side]) for side in (A, Z)}
    if shown[A] != shown[Z]:
        problems.append(
            f"{case.label}: A's values and nowhere's answer differently\n"
            f"  document: {case.document}\n  with A's:  {shown[A][:600]}\n"
            f"  nowhere's: {shown[Z][:600]}"
        )
    if '"INTERNAL"' in shown[A] or '"INTERNAL"' in shown[Z]:
        problems.append(f"{case.label}: INTERNAL error: {shown[A][:400]}")
    found = [m for m in markers if m in shown[A]]
    if found:
        problems.append(f"{case.label}: A's data in B's answer: {found} in {shown[A][:600]}")
    return problems


def _without_request_ids(body: Any) -> Any:
    for error in body.get("errors") or []:
        error.get("extensions", {}).pop("requestId", None)
    return body


# --- the probe -----------------------------------------------------------------------------


class ProbedServer(LiveServer):
    """A live server, and one HTTP connection to it kept alive between the probe's calls."""

    http: httpx.Client


@pytest.fixture(scope="module")
def hook() -> Iterator[Receiver]:
    with receiver() as r:
        yield r


@pytest.fixture(scope="module")
def live(database_url: str) -> Iterator[ProbedServer]:
    settings = server_settings(
        database_url, notifications_allow_http=True, notifications_allow_private_urls=True
    )
    server = ProbedServer(settings)
    server.start()
    try:
        with httpx.Client(timeout=30) as server.http:
            yield server
    finally:
        server.stop()


def test_another_accounts_objects_do_not_exist_by_any_path(
    live: ProbedServer, hook: Receiver
) -> None:
    # given account A, with more changes than B, and account B of the same shape
    a = _tenant(live, A, pad_runs=PAD_RUNS)
    b = _tenant(live, B, shift=1000)
    # both told of a failed run by webhook, B first; then B's notifications turned off
    for tenant, prefix in ((b, B), (a, A)):
        _notified_failure(live, tenant, prefix, hook.url)
    _data(live, b.keys["admin"], SET, input={"enabled": False})
    builder = Builder(live, a, b, {"webhookUrl": hook.url})
    builder.a_last_event = _last_event_cursor(live, a)
    http_cases = builder.http_cases()
    subscription_cases = builder.subscription_cases()
    # every field the schema has is probed, or the probe says why it cannot be
    assert not builder.problems, "the probe cannot build:\n" + "\n".join(builder.problems)
    probed = {c.label.split("(")[0] for c in http_cases + subscription_cases}
    for root in (SCHEMA.query_type, SCHEMA.mutation_type, SCHEMA.subscription_type):
        assert root is not None
        for name in root.fields:
            assert f"{root.name}.{name}" in probed, f"{root.name}.{name} was not probed"
    markers = _a_markers(a)

    # when B calls each subscription with A's values, and with nowhere's, while A changes
    problems = _probe_subscriptions(live, a, b, subscription_cases, markers)

    # and each query and mutation, A's values first, nowhere's next
    for case in http_cases:
        answers = {}
        for side in (A, Z):
            status, body = _post(live, b.keys[case.role], case.document, case.variables[side])
            answers[side] = {"status": status, "body": _without_request_ids(body)}
        problems += _compare(case, answers, markers)

    # then B's answers never depend on whether the values exist elsewhere
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems)


def _notified_failure(server: ProbedServer, tenant: Tenant, prefix: str, url: str) -> None:
    """Sets the tenant's webhook, fails one of its runs, and waits for that notification to
    be delivered; its webhook-id is kept."""
    _data(server, tenant.keys["admin"], SET, input={"webhookUrl": url})
    run = f"{prefix}-told"
    server.ingest(tenant.keys["ingest"], *failing_run(run, _values(prefix)["integrationId"], 50))
    deadline = time.monotonic() + 10
    while True:
        nodes = _data(server, tenant.keys["admin"], DELIVERIES)["notificationDeliveries"]["nodes"]
        if nodes and all(node["status"] == "DELIVERED" for node in nodes):
            break
        assert time.monotonic() < deadline, f"the notification was not delivered: {nodes}"
        time.sleep(0.05)
    assert [(node["type"], node["runId"]) for node in nodes] == [("RUN_FAILED", run)]
    tenant.webhook_ids = [node["id"] for node in nodes]


def _last_event_cursor(server: LiveServer, a: Tenant) -> str:
    """The cursor of A's last change, as A's subscriber receives it."""
    sock = open_socket(server)
    try:
        assert sock.init(a.keys["viewer"]) == {"type": "connection_ack"}
        sock.subscribe("a", "subscription { runStatusChanged { cursor run { runId } } }")
        server.wait_subscribers(a.account_id, 1)
        server.ingest(a.keys["ingest"], e.run_started(f"{A}-last", _values(A)["integrationId"], 90))
        [event] = sock.events("a", 1)
        cursor: str = event["cursor"]
        return cursor
    finally:
        sock.ws.close()


def _probe_subscriptions(
    server: LiveServer, a: Tenant, b: Tenant, cases: list[Case], markers: list[str]
) -> list[str]:
    sock = open_socket(server)
    try:
        assert sock.init(b.keys["viewer"]) == {"type": "connection_ack"}
        ops = {}
        for n, case in enumerate(cases):
            for side in (A, Z):
                op_id = f"{side}{n}"
                ops[op_id] = (case, side)
                sock.subscribe(op_id, case.document, **case.variables[side])
        sentinel = "sentinel"
        sock.subscribe(sentinel, "subscription { runStatusChanged { run { runId } } }")
        received: dict[str, list[Any]] = {op_id: [] for op_id in ops}
        # every operation is either following B's changes or has ended with its error
        deadline = time.monotonic() + 10
        while True:
            ended = {op for op, msgs in received.items() if msgs and msgs[-1]["type"] != "next"}
            if server.subscribers(b.account_id) + len(ended) == len(ops) + 1:
                break
            assert time.monotonic() < deadline, "subscriptions did not start"
            _read(sock, received, 0.05)
        # A changes everything the subscriptions could name; then B, to mark the end
        v = _values(A)
        server.ingest(
            a.keys["ingest"],
            e.run_started(f"{A}-live", v["integrationId"], 100, app=v["appId"]),
            e.step_started(f"{A}-live-step", f"{A}-live", 1, 101),
            e.step_finished(f"{A}-live-step", f"{A}-live", 1, 101, 102),
            e.run_finished(f"{A}-live", "OK", 103),
            e.step_finished(v["stepId"], v["runId"], 1, 11, 12, status="OK"),
            e.ev(
                "integrationStatusChanged",
                110,
                integrationId=v["integrationId"],
                status="PAUSED",
                reason="TOO_MANY_ERRORS",
            ),
        )
        server.ingest(
            b.keys["ingest"], e.run_started(f"{B}-mark", _values(B)["integrationId"], 1120)
        )
        deadline = time.monotonic() + 10
        marks: list[Any] = []
        while not any(
            m["payload"]["data"]["runStatusChanged"]["run"]["runId"] == f"{B}-mark" for m in marks
        ):
            assert time.monotonic() < deadline, "B's own change did not arrive"
            marks += _read(sock, received, 0.2).get(sentinel, [])
        _read(sock, received, 0.3)  # what any operation still had on its way
    finally:
        sock.ws.close()
    problems = []
    for n, case in enumerate(cases):
        answers = {side: [_message(m) for m in received[f"{side}{n}"]] for side in (A, Z)}
        problems += _compare(case, answers, markers)
    return problems


def _read(sock: Socket, received: dict[str, list[Any]], seconds: float) -> dict[str, list[Any]]:
    """Messages arriving within ``seconds``, filed by operation; those of others returned."""
    others: dict[str, list[Any]] = {}
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        try:
            message = sock.recv(timeout=left)
        except TimeoutError:
            break
        op_id = message.get("id")
        (received[op_id] if op_id in received else others.setdefault(str(op_id), [])).append(
            message
        )
    return others


def _message(message: dict[str, Any]) -> Any:
    payload = message.get("payload")
    if isinstance(payload, list):
        for error in payload:
            error.get("extensions", {}).pop("requestId", None)
    return {"type": message["type"], "payload": payload}


def test_the_probe_sees_a_difference() -> None:
    # given one answer that names an object and one that does not, for the same values
    case = Case("Query.flow(flowId#0)", "viewer", "", {A: {}, Z: {}}, {A: ["x"], Z: ["x"]})
    found = _compare(case, {A: {"flow": {"name": "x"}}, Z: {"flow": None}}, [A])
    assert len(found) == 1
    assert "answer differently" in found[0]
    # and an answer carrying another of A's texts
    leaked = _compare(case, {A: {"flow": "alpha-pad-1"}, Z: {"flow": "alpha-pad-1"}}, [A])
    assert "A's data in B's answer" in leaked[0]
