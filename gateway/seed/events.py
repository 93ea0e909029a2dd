"""Builders shared by the seed generators (``demo`` and ``synthetic``).

Everything here produces plain, JSON-ready ``IngestEvent`` dicts: one key (the
``@oneOf`` member name) whose value holds the member's fields, datetimes as RFC 3339
strings in UTC with milliseconds and a ``Z`` suffix.

``step_payload`` fabricates a realistic HTTP exchange for a step of a given app
(Slack ``chat.postMessage``, HubSpot contacts, a Salesforce SOQL query, Gmail send,
Stripe charges, Google Sheets append, a Jira issue, a generic HTTP call...),
including the credentials a real engine would have logged, so the gateway's
redaction has something to do.
"""

from __future__ import annotations

import base64
import json
import math
import random
import re
import string
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote, urlencode

Event = dict[str, Any]
JSON = Any

ID_RE = re.compile(r"[A-Za-z0-9_.:@-]{1,128}")

INTEGRATION_STATUSES = (
    "INITIALIZING",
    "ENABLED",
    "DISABLED",
    "PAUSED",
    "FAILED_TO_INITIALIZE",
    "DELETED",
)
PAUSE_REASONS = ("TOO_MANY_ERRORS", "BILLING")
NON_RECEIVING_STATUSES = frozenset({"DISABLED", "PAUSED", "DELETED"})
TRIGGER_TYPES = ("WEBHOOK", "POLL", "SCHEDULE", "MANUAL")
FLOW_STATUSES = ("PUBLISHED", "DRAFT")
STEP_STATUSES = ("OK", "FAILED", "SKIPPED")
RUN_STATUSES = ("OK", "FAILED")
CLIENT_ERROR_CODES = (400, 401, 403, 404, 422, 429)
SERVER_ERROR_CODES = (500, 502, 503)
ERROR_CODES = CLIENT_ERROR_CODES + SERVER_ERROR_CODES
MAX_BATCH = 1000

MEMBERS = (
    "appUpserted",
    "flowUpserted",
    "integrationCreated",
    "integrationStatusChanged",
    "runStarted",
    "stepStarted",
    "stepFinished",
    "runFinished",
)


# --------------------------------------------------------------------------- time


def iso(dt: datetime) -> str:
    """RFC 3339 in UTC with milliseconds and ``Z``: ``2026-11-29T07:46:40.123Z``.

    A naive datetime is taken to be UTC already.
    """
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt.isoformat(timespec="milliseconds") + "Z"


def utc_ms(dt: datetime) -> datetime:
    """``dt`` in UTC, truncated to whole milliseconds (naive = UTC)."""
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return dt.replace(microsecond=dt.microsecond - dt.microsecond % 1000)


def to_ms(dt: datetime) -> int:
    """Milliseconds since the epoch."""
    dt = utc_ms(dt)
    return (dt - _EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ts(value: datetime | str) -> str:
    return value if isinstance(value, str) else iso(value)


# ------------------------------------------------------------------ ids, batches


def check_id(value: str, what: str = "id") -> str:
    """Return ``value`` if it is a valid ID (1-128 chars of ``[A-Za-z0-9_.:@-]``)."""
    if not isinstance(value, str) or ID_RE.fullmatch(value) is None:
        raise ValueError(f"invalid {what}: {value!r}")
    return value


class EventIds:
    """Deterministic, unique event ids: ``evt-000001``, ``evt-000002``..."""

    def __init__(self, prefix: str = "evt", width: int = 6) -> None:
        check_id(f"{prefix}-0", "event id prefix")
        self.prefix = prefix
        self.width = width
        self.count = 0

    def next(self) -> str:
        self.count += 1
        return f"{self.prefix}-{self.count:0{self.width}d}"

    __call__ = next


def batched(events: Iterable[Event], size: int = MAX_BATCH) -> Iterator[list[Event]]:
    """Group ``events`` into lists of at most ``size`` (the mutation takes 1,000)."""
    if not 1 <= size <= MAX_BATCH:
        raise ValueError(f"batch size must be between 1 and {MAX_BATCH}")
    batch: list[Event] = []
    for event in events:
        batch.append(event)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def member_of(event: Event) -> str:
    """The ``@oneOf`` member name of an event (raises unless exactly one key)."""
    if len(event) != 1:
        raise ValueError(f"an IngestEvent has exactly one member, got {sorted(event)}")
    return next(iter(event))


# ------------------------------------------------------------------ event builders


def app_upserted(
    event_id: str,
    *,
    occurred_at: datetime | str,
    app_id: str,
    name: str,
    icon_url: str | None = None,
    docs_url: str | None = None,
) -> Event:
    return {
        "appUpserted": {
            "eventId": check_id(event_id, "eventId"),
            "occurredAt": _ts(occurred_at),
            "appId": check_id(app_id, "appId"),
            "name": name,
            "iconUrl": icon_url,
            "docsUrl": docs_url,
        }
    }


def flow_upserted(
    event_id: str,
    *,
    occurred_at: datetime | str,
    flow_id: str,
    name: str,
    status: str = "PUBLISHED",
) -> Event:
    if status not in FLOW_STATUSES:
        raise ValueError(f"invalid flow status {status!r}")
    return {
        "flowUpserted": {
            "eventId": check_id(event_id, "eventId"),
            "occurredAt": _ts(occurred_at),
            "flowId": check_id(flow_id, "flowId"),
            "name": name,
            "status": status,
        }
    }


def integration_created(
    event_id: str,
    *,
    occurred_at: datetime | str,
    integration_id: str,
    flow_id: str,
    user_id: str,
    user_auth: str | None = None,
    status: str | None = None,
) -> Event:
    """``occurred_at`` is the integration's createdAt; ``status`` None = ENABLED."""
    fields: dict[str, Any] = {
        "eventId": check_id(event_id, "eventId"),
        "occurredAt": _ts(occurred_at),
        "integrationId": check_id(integration_id, "integrationId"),
        "flowId": check_id(flow_id, "flowId"),
        "userId": _check_text(user_id, "userId"),
        "userAuth": None if user_auth is None else _check_text(user_auth, "userAuth"),
    }
    if status is not None:
        if status not in INTEGRATION_STATUSES:
            raise ValueError(f"invalid integration status {status!r}")
        fields["status"] = status
    return {"integrationCreated": fields}


def integration_status_changed(
    event_id: str,
    *,
    occurred_at: datetime | str,
    integration_id: str,
    status: str,
    reason: str | None = None,
) -> Event:
    if status not in INTEGRATION_STATUSES:
        raise ValueError(f"invalid integration status {status!r}")
    if (status == "PAUSED") != (reason is not None):
        raise ValueError("a reason is given with PAUSED, and only with PAUSED")
    if reason is not None and reason not in PAUSE_REASONS:
        raise ValueError(f"invalid pause reason {reason!r}")
    fields: dict[str, Any] = {
        "eventId": check_id(event_id, "eventId"),
        "occurredAt": _ts(occurred_at),
        "integrationId": check_id(integration_id, "integrationId"),
        "status": status,
    }
    if reason is not None:
        fields["reason"] = reason
    return {"integrationStatusChanged": fields}


def run_started(
    event_id: str,
    *,
    run_id: str,
    integration_id: str,
    trigger_app_id: str,
    trigger_name: str,
    trigger_type: str,
    start_time: datetime | str,
    occurred_at: datetime | str | None = None,
) -> Event:
    if trigger_type not in TRIGGER_TYPES:
        raise ValueError(f"invalid trigger type {trigger_type!r}")
    start = _ts(start_time)
    return {
        "runStarted": {
            "eventId": check_id(event_id, "eventId"),
            "occurredAt": start if occurred_at is None else _ts(occurred_at),
            "runId": check_id(run_id, "runId"),
            "integrationId": check_id(integration_id, "integrationId"),
            "triggerAppId": check_id(trigger_app_id, "triggerAppId"),
            "triggerName": trigger_name,
            "triggerType": trigger_type,
            "startTime": start,
        }
    }


def step_started(
    event_id: str,
    *,
    step_id: str,
    run_id: str,
    position: int,
    app_id: str,
    name: str,
    start_time: datetime | str,
    occurred_at: datetime | str | None = None,
) -> Event:
    start = _ts(start_time)
    return {
        "stepStarted": {
            "eventId": check_id(event_id, "eventId"),
            "occurredAt": start if occurred_at is None else _ts(occurred_at),
            "stepId": check_id(step_id, "stepId"),
            "runId": check_id(run_id, "runId"),
            "position": _check_position(position),
            "appId": check_id(app_id, "appId"),
            "name": name,
            "startTime": start,
        }
    }


def step_finished(
    event_id: str,
    *,
    step_id: str,
    run_id: str,
    position: int,
    app_id: str,
    name: str,
    status: str,
    start_time: datetime | str,
    end_time: datetime | str,
    payload: dict[str, Any] | None = None,
    network_code: int | None = None,
    occurred_at: datetime | str | None = None,
) -> Event:
    """``payload`` None (omitted) suits a SKIPPED step, which sent nothing."""
    if status not in STEP_STATUSES:
        raise ValueError(f"invalid step status {status!r}")
    end = _ts(end_time)
    fields: dict[str, Any] = {
        "eventId": check_id(event_id, "eventId"),
        "occurredAt": end if occurred_at is None else _ts(occurred_at),
        "stepId": check_id(step_id, "stepId"),
        "runId": check_id(run_id, "runId"),
        "position": _check_position(position),
        "appId": check_id(app_id, "appId"),
        "name": name,
        "status": status,
        "startTime": _ts(start_time),
        "endTime": end,
    }
    if network_code is not None:
        fields["networkCode"] = network_code
    if payload is not None:
        fields["payload"] = payload
    return {"stepFinished": fields}


def run_finished(
    event_id: str,
    *,
    run_id: str,
    status: str,
    end_time: datetime | str,
    occurred_at: datetime | str | None = None,
) -> Event:
    if status not in RUN_STATUSES:
        raise ValueError(f"invalid run status {status!r}")
    end = _ts(end_time)
    return {
        "runFinished": {
            "eventId": check_id(event_id, "eventId"),
            "occurredAt": end if occurred_at is None else _ts(occurred_at),
            "runId": check_id(run_id, "runId"),
            "status": status,
            "endTime": end,
        }
    }


def _check_text(value: str, what: str) -> str:
    if not 1 <= len(value) <= 256 or not value.isprintable():
        raise ValueError(f"invalid {what}: {value!r}")
    return value


def _check_position(position: int) -> int:
    if position < 1:
        raise ValueError("step positions are 1-based")
    return position


# ------------------------------------------------------------------------- apps


@dataclass(frozen=True)
class App:
    key: str
    app_id: str
    name: str
    icon_url: str | None
    docs_url: str | None


APPS: dict[str, App] = {
    a.key: a
    for a in (
        App(
            "slack",
            "app-slack",
            "Slack",
            "https://cdn.simpleicons.org/slack",
            "https://api.slack.com/methods/chat.postMessage",
        ),
        App(
            "hubspot",
            "app-hubspot",
            "HubSpot",
            "https://cdn.simpleicons.org/hubspot",
            "https://developers.hubspot.com/docs/api/crm/contacts",
        ),
        App(
            "salesforce",
            "app-salesforce",
            "Salesforce",
            "https://cdn.simpleicons.org/salesforce",
            "https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/",
        ),
        App(
            "gmail",
            "app-gmail",
            "Gmail",
            "https://cdn.simpleicons.org/gmail",
            "https://developers.google.com/gmail/api/reference/rest",
        ),
        App(
            "stripe",
            "app-stripe",
            "Stripe",
            "https://cdn.simpleicons.org/stripe",
            "https://docs.stripe.com/api/charges",
        ),
        App(
            "sheets",
            "app-google-sheets",
            "Google Sheets",
            "https://cdn.simpleicons.org/googlesheets",
            "https://developers.google.com/sheets/api/reference/rest",
        ),
        App(
            "jira",
            "app-jira",
            "Jira",
            "https://cdn.simpleicons.org/jira",
            "https://developer.atlassian.com/cloud/jira/platform/rest/v3/",
        ),
        App(
            "http",
            "app-http",
            "HTTP Request",
            "https://static.integration-engine.example/icons/http.svg",
            "https://docs.integration-engine.example/apps/http-request",
        ),
        App(
            "schedule",
            "app-schedule",
            "Schedule",
            "https://static.integration-engine.example/icons/schedule.svg",
            None,
        ),
    )
}


def app_of(app: App | str) -> App:
    if isinstance(app, App):
        return app
    if app in APPS:
        return APPS[app]
    for candidate in APPS.values():
        if candidate.app_id == app:
            return candidate
    raise KeyError(f"unknown app {app!r}")


# ------------------------------------------------------------------ fake people

_FIRST = (
    "Maria", "James", "Aiko", "Lukas", "Priya", "Omar", "Sofia", "Chen", "Elena", "Mateo",
    "Hannah", "Kwame", "Isabel", "Noah", "Fatima", "Liam", "Yuki", "Ana", "David", "Zara",
)  # fmt: skip
_LAST = (
    "Gonzalez", "Smith", "Tanaka", "Weber", "Patel", "Haddad", "Rossi", "Wang", "Ivanova",
    "Silva", "Becker", "Mensah", "Moreau", "Kim", "Okafor", "Murphy", "Sato", "Costa",
    "Levy", "Ahmed",
)  # fmt: skip
COMPANIES = (
    ("Acme Logistics", "acme-logistics.com"),
    ("Northwind Traders", "northwind.io"),
    ("Globex", "globex.com"),
    ("Initech", "initech.io"),
    ("Umbrella Health", "umbrellahealth.com"),
    ("Stark Industries", "starkindustries.com"),
    ("Wayne Enterprises", "wayne-ent.com"),
    ("Hooli", "hooli.xyz"),
    ("Pied Piper", "piedpiper.com"),
    ("Vandelay Imports", "vandelay.io"),
    ("Soylent Foods", "soylent.co"),
    ("Tyrell Corp", "tyrell.ai"),
)
_CITIES = (
    ("Berlin", "DE"), ("Austin", "US"), ("Toronto", "CA"), ("Lyon", "FR"), ("Osaka", "JP"),
    ("Sao Paulo", "BR"), ("Dublin", "IE"), ("Pune", "IN"), ("Melbourne", "AU"),
    ("Denver", "US"),
)  # fmt: skip
_PRODUCTS = (
    ("Pro plan (annual)", 190_800),
    ("Team plan (monthly)", 14_900),
    ("Enterprise seats x25", 625_000),
    ("Onboarding package", 250_000),
    ("Usage overage - API calls", 3_412),
    ("Starter plan (monthly)", 4_900),
)
_JOB_TITLES = (
    "Head of Operations", "VP Sales", "Finance Manager", "CTO", "RevOps Lead",
    "Customer Success Manager", "Procurement Specialist", "Founder",
)  # fmt: skip
_STAGES = ("Prospecting", "Qualification", "Proposal/Price Quote", "Negotiation/Review")
_LIFECYCLE = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "customer")
_ALNUM = string.ascii_letters + string.digits
_B64URL = _ALNUM + "-_"
_HEX = "0123456789abcdef"


def _rs(rng: random.Random, n: int, alphabet: str = _ALNUM) -> str:
    return "".join(rng.choices(alphabet, k=n))


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(string.digits, k=n))


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(rng: random.Random, subject: str, issuer: str, issued_at: datetime) -> str:
    """A syntactically real (unsigned-by-anyone) RS256 JWT."""
    iat = int(issued_at.timestamp())
    header = {"alg": "RS256", "typ": "JWT", "kid": _rs(rng, 8, _HEX)}
    claims = {
        "iss": issuer,
        "sub": subject,
        "aud": "api",
        "iat": iat,
        "exp": iat + 3600,
        "scope": "leads:read leads:score",
        "jti": _uuid(rng),
    }
    return ".".join(
        (
            _b64url(json.dumps(header, separators=(",", ":")).encode()),
            _b64url(json.dumps(claims, separators=(",", ":")).encode()),
            _rs(rng, 342, _B64URL),
        )
    )


@dataclass(frozen=True)
class Credentials:
    """What an integration's connections hold (and what a careless log leaks)."""

    slack_token: str
    slack_workspace: str
    hubspot_token: str
    salesforce_token: str
    salesforce_instance: str
    google_token: str
    stripe_key: str
    jira_site: str
    jira_basic: str
    http_api_key: str
    http_client_id: str
    http_client_secret: str
    proxy_password: str

    @classmethod
    def random(cls, rng: random.Random, company: str | None = None) -> Credentials:
        slug = (company or rng.choice(COMPANIES)[0]).lower().split()[0]
        jira_user = f"integrations@{slug}.com"
        jira_token = "ATATT3xFfGF0" + _rs(rng, 180, _B64URL)
        return cls(
            slack_token=f"xoxb-{_digits(rng, 12)}-{_digits(rng, 13)}-{_rs(rng, 24)}",
            slack_workspace=f"{slug}-hq",
            hubspot_token=f"pat-na1-{_uuid(rng)}",
            salesforce_token=f"00D{_rs(rng, 12)}!{_rs(rng, 96, _ALNUM + '._')}",
            salesforce_instance=f"https://{slug}.my.salesforce.com",
            google_token=f"ya29.a0{_rs(rng, 150, _B64URL)}",
            stripe_key=f"sk_live_51{_rs(rng, 96)}",
            jira_site=f"https://{slug}.atlassian.net",
            jira_basic=base64.b64encode(f"{jira_user}:{jira_token}".encode()).decode(),
            http_api_key=f"lsk_live_{_rs(rng, 32, _HEX)}",
            http_client_id=f"cli_{_rs(rng, 20, _HEX)}",
            http_client_secret=_rs(rng, 48, _B64URL),
            proxy_password=_rs(rng, 20, _ALNUM + "!#%*"),
        )


@dataclass(frozen=True)
class RunContext:
    """The business objects one run is about, shared by its steps for coherence."""

    creds: Credentials
    first: str
    last: str
    email: str
    company: str
    domain: str
    city: str
    country: str
    phone: str
    title: str
    product: str
    amount: int
    currency: str
    charge_id: str
    customer_id: str
    hubspot_contact_id: str
    hubspot_company_id: str
    sf_contact_id: str
    sf_account_id: str
    slack_channel: str
    spreadsheet_id: str
    jira_project: str

    @property
    def full_name(self) -> str:
        return f"{self.first} {self.last}"

    @classmethod
    def random(cls, rng: random.Random, creds: Credentials | None = None) -> RunContext:
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        company, domain = rng.choice(COMPANIES)
        city, country = rng.choice(_CITIES)
        product, amount = rng.choice(_PRODUCTS)
        return cls(
            creds=creds or Credentials.random(rng),
            first=first,
            last=last,
            email=f"{first.lower()}.{last.lower()}@{domain}",
            company=company,
            domain=domain,
            city=city,
            country=country,
            phone=f"+1 {_digits(rng, 3)}-{_digits(rng, 3)}-{_digits(rng, 4)}",
            title=rng.choice(_JOB_TITLES),
            product=product,
            amount=amount,
            currency=rng.choice(("usd", "usd", "usd", "eur", "gbp")),
            charge_id=f"ch_3{_rs(rng, 23)}",
            customer_id=f"cus_{_rs(rng, 14)}",
            hubspot_contact_id=_digits(rng, 11).lstrip("0") or "1",
            hubspot_company_id=_digits(rng, 10).lstrip("0") or "1",
            sf_contact_id=f"003{_rs(rng, 15)}",
            sf_account_id=f"001{_rs(rng, 15)}",
            slack_channel=f"C0{_rs(rng, 9, string.ascii_uppercase + string.digits)}",
            spreadsheet_id=f"1{_rs(rng, 43, _B64URL)}",
            jira_project=rng.choice(("SUP", "OPS", "BILL", "CS")),
        )


# ------------------------------------------------------------- HTTP exchanges


@dataclass
class _Build:
    rng: random.Random
    ctx: RunContext
    n: int
    at: datetime
    leak: bool


@dataclass
class _Call:
    method: str
    url: str
    body: JSON = None
    response: JSON = None
    status_code: int = 200
    objects: list[dict[str, JSON]] = field(default_factory=list)
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    indent: int | None = None
    _texts: tuple[str | None, str | None] | None = None

    def texts(self) -> tuple[str | None, str | None]:
        """(request body, response body) serialised as the API would send them."""
        if self._texts is None:
            self._texts = (
                None if self.body is None else _dumps(self.body),
                None if self.response is None else _dumps(self.response, self.indent),
            )
        return self._texts


@dataclass(frozen=True)
class Action:
    key: str
    app: str
    name: str
    latency_ms: tuple[int, int]
    build: Callable[[_Build], _Call]


def _dumps(obj: JSON, indent: int | None = None) -> str:
    if isinstance(obj, str):
        return obj
    if indent is None:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return json.dumps(obj, indent=indent, ensure_ascii=False)


def _money(amount: int, currency: str) -> str:
    symbol = {"usd": "$", "eur": "EUR ", "gbp": "GBP "}[currency]
    return f"{symbol}{amount / 100:,.2f}"


def _leak_text(b: _Build) -> str:
    jwt = make_jwt(b.rng, b.ctx.email, "https://auth.leadscore.io/", b.at)
    return (
        f"Customer pasted their integration log into the ticket: stripe.api_key = "
        f"'{b.ctx.creds.stripe_key}' / session token {jwt} - please rotate both."
    )


# Slack ------------------------------------------------------------------------


def _slack_post_message(b: _Build) -> _Call:
    rng, ctx = b.rng, b.ctx
    money = _money(ctx.amount, ctx.currency)
    text = f"{ctx.company} - {ctx.product} ({money})"
    blocks: list[JSON] = [
        {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": True}}
    ]
    templates = (
        lambda: [
            {"type": "mrkdwn", "text": f"*Customer:*\n{ctx.full_name} <mailto:{ctx.email}>"},
            {"type": "mrkdwn", "text": f"*Amount:*\n{money}"},
        ],
        lambda: [
            {"type": "mrkdwn", "text": f"*Plan:*\n{ctx.product}"},
            {"type": "mrkdwn", "text": f"*Region:*\n{ctx.city}, {ctx.country}"},
        ],
        lambda: [
            {"type": "mrkdwn", "text": f"*Owner:*\n<@U0{_rs(rng, 9, string.ascii_uppercase)}>"},
            {"type": "mrkdwn", "text": f"*Stage:*\n{rng.choice(_STAGES)}"},
        ],
        lambda: [
            {"type": "mrkdwn", "text": f"*Charge:*\n`{ctx.charge_id}`"},
            {"type": "mrkdwn", "text": f"*Customer id:*\n`{ctx.customer_id}`"},
        ],
    )
    for i in range(b.n):
        blocks.append({"type": "section", "fields": templates[i % len(templates)]()})
    if b.leak:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _leak_text(b)}})
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"Sent by integration at {iso(b.at)}"}],
        }
    )
    ts = f"{int(b.at.timestamp())}.{_digits(rng, 6)}"
    body = {"channel": ctx.slack_channel, "text": text, "blocks": blocks, "unfurl_links": False}
    response = {
        "ok": True,
        "channel": ctx.slack_channel,
        "ts": ts,
        "message": {
            "bot_id": f"B0{_rs(rng, 9, string.ascii_uppercase)}",
            "type": "message",
            "text": text,
            "user": f"U0{_rs(rng, 9, string.ascii_uppercase)}",
            "ts": ts,
            "app_id": "A0INTEGRATE1",
            "blocks": blocks,
            "team": f"T0{_rs(rng, 9, string.ascii_uppercase)}",
        },
    }
    permalink = (
        f"https://{ctx.creds.slack_workspace}.slack.com/archives/"
        f"{ctx.slack_channel}/p{ts.replace('.', '')}"
    )
    return _Call(
        "POST",
        "https://slack.com/api/chat.postMessage",
        body,
        response,
        objects=[
            {"key": "message", "value": {"channel": ctx.slack_channel, "ts": ts}},
            {"key": "permalink", "value": permalink},
        ],
        response_headers=[("X-Slack-Req-Id", _rs(rng, 32, _HEX)), ("X-OAuth-Scopes", "chat:write")],
    )


# HubSpot ----------------------------------------------------------------------

_HUBSPOT_EXTRA: tuple[tuple[str, Callable[[random.Random, RunContext], str]], ...] = (
    ("hs_lead_status", lambda r, c: r.choice(("NEW", "OPEN", "IN_PROGRESS", "CONNECTED"))),
    ("lifecyclestage", lambda r, c: r.choice(_LIFECYCLE)),
    ("hs_analytics_source", lambda r, c: r.choice(("ORGANIC_SEARCH", "PAID_SEARCH", "REFERRALS"))),
    ("hs_analytics_num_page_views", lambda r, c: str(r.randint(1, 400))),
    ("hs_email_domain", lambda r, c: c.domain),
    ("jobtitle", lambda r, c: c.title),
    ("city", lambda r, c: c.city),
    ("country", lambda r, c: c.country),
    ("phone", lambda r, c: c.phone),
    ("hubspot_owner_id", lambda r, c: _digits(r, 9)),
    ("hs_object_source_label", lambda r, c: r.choice(("INTEGRATION", "FORM", "IMPORT"))),
    ("num_associated_deals", lambda r, c: str(r.randint(0, 6))),
    ("recent_conversion_event_name", lambda r, c: "Demo request - pricing page"),
    ("hs_latest_source_timestamp", lambda r, c: f"2026-0{r.randint(1, 9)}-1{r.randint(0, 9)}"),
)


def _hubspot_props(b: _Build, count: int) -> dict[str, str]:
    ctx = b.ctx
    props = {
        "email": ctx.email,
        "firstname": ctx.first,
        "lastname": ctx.last,
        "company": ctx.company,
        "hs_object_id": ctx.hubspot_contact_id,
        "createdate": iso(b.at - timedelta(days=b.rng.randint(3, 400))),
        "lastmodifieddate": iso(b.at - timedelta(minutes=b.rng.randint(1, 90))),
    }
    for i in range(count):
        name, gen = _HUBSPOT_EXTRA[i % len(_HUBSPOT_EXTRA)]
        key = name if i < len(_HUBSPOT_EXTRA) else f"{name}_{i // len(_HUBSPOT_EXTRA)}"
        props[key] = gen(b.rng, ctx)
    return props


def _hubspot_contact(b: _Build, count: int) -> dict[str, JSON]:
    props = _hubspot_props(b, count)
    return {
        "id": props["hs_object_id"],
        "properties": props,
        "createdAt": props["createdate"],
        "updatedAt": props["lastmodifieddate"],
        "archived": False,
    }


def _hubspot_get_contact(b: _Build) -> _Call:
    contact = _hubspot_contact(b, 6)
    history = [
        {
            "value": b.rng.choice(_LIFECYCLE),
            "timestamp": iso(b.at - timedelta(days=i * 9 + b.rng.randint(0, 8))),
            "sourceType": b.rng.choice(("CRM_UI", "INTEGRATION", "AUTOMATION_PLATFORM")),
            "sourceId": f"userId:{_digits(b.rng, 8)}",
            "updatedByUserId": int(_digits(b.rng, 8)),
        }
        for i in range(b.n)
    ]
    contact["propertiesWithHistory"] = {"lifecyclestage": history}
    props = ",".join(list(contact["properties"])[:8])
    return _Call(
        "GET",
        f"https://api.hubapi.com/crm/v3/objects/contacts/{b.ctx.hubspot_contact_id}"
        f"?properties={props}&propertiesWithHistory=lifecyclestage&archived=false",
        None,
        contact,
        objects=[{"key": "contact", "value": {"id": contact["id"], "email": b.ctx.email}}],
    )


def _hubspot_search_contacts(b: _Build) -> _Call:
    results = []
    for i in range(b.n):
        c = _hubspot_contact(b, 3)
        if i:
            first, last = b.rng.choice(_FIRST), b.rng.choice(_LAST)
            c["id"] = c["properties"]["hs_object_id"] = _digits(b.rng, 11)
            c["properties"].update(
                email=f"{first.lower()}.{last.lower()}@{b.ctx.domain}",
                firstname=first,
                lastname=last,
            )
        results.append(c)
    body = {
        "filterGroups": [
            {
                "filters": [
                    {"propertyName": "hs_email_domain", "operator": "EQ", "value": b.ctx.domain}
                ]
            }
        ],
        "properties": ["email", "firstname", "lastname", "company", "lifecyclestage"],
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "DESCENDING"}],
        "limit": 20,
    }
    return _Call(
        "POST",
        "https://api.hubapi.com/crm/v3/objects/contacts/search",
        body,
        {"total": len(results), "results": results},
        objects=[{"key": "contacts", "value": [r["id"] for r in results]}],
    )


def _hubspot_create_contact(b: _Build) -> _Call:
    contact = _hubspot_contact(b, b.n)
    body = {
        "properties": {k: v for k, v in contact["properties"].items() if not k.startswith("hs_")}
    }
    return _Call(
        "POST",
        "https://api.hubapi.com/crm/v3/objects/contacts",
        body,
        contact,
        status_code=201,
        objects=[{"key": "contact", "value": {"id": contact["id"], "email": b.ctx.email}}],
    )


def _hubspot_update_company(b: _Build) -> _Call:
    ctx, rng = b.ctx, b.rng
    changes = {
        "annualrevenue": str(ctx.amount * rng.randint(8, 40) // 100),
        "last_payment_date": iso(b.at)[:10],
        "hs_lastmodifieddate": iso(b.at),
    }
    props: dict[str, str] = {
        "name": ctx.company,
        "domain": ctx.domain,
        "city": ctx.city,
        "country": ctx.country,
        "hs_object_id": ctx.hubspot_company_id,
        **changes,
    }
    for i in range(b.n):
        props[f"revenue_{iso(b.at - timedelta(days=30 * i))[:7].replace('-', '_')}"] = str(
            rng.randint(1_000, 90_000)
        )
        props[f"open_deals_q{i}"] = str(rng.randint(0, 9))
    return _Call(
        "PATCH",
        f"https://api.hubapi.com/crm/v3/objects/companies/{ctx.hubspot_company_id}",
        {"properties": changes},
        {
            "id": ctx.hubspot_company_id,
            "properties": props,
            "createdAt": iso(b.at - timedelta(days=rng.randint(100, 900))),
            "updatedAt": iso(b.at),
            "archived": False,
        },
        objects=[{"key": "company", "value": {"id": ctx.hubspot_company_id, **changes}}],
    )


# Salesforce -------------------------------------------------------------------

_SF_API = "/services/data/v60.0"


def _sf_contact(b: _Build, first: str, last: str, cid: str) -> dict[str, JSON]:
    return {
        "attributes": {"type": "Contact", "url": f"{_SF_API}/sobjects/Contact/{cid}"},
        "Id": cid,
        "FirstName": first,
        "LastName": last,
        "Email": f"{first.lower()}.{last.lower()}@{b.ctx.domain}",
        "Title": b.rng.choice(_JOB_TITLES),
        "AccountId": b.ctx.sf_account_id,
        "Account": {
            "attributes": {
                "type": "Account",
                "url": f"{_SF_API}/sobjects/Account/{b.ctx.sf_account_id}",
            },
            "Name": b.ctx.company,
        },
        "HubSpot_Id__c": _digits(b.rng, 11),
        "LastModifiedDate": iso(b.at - timedelta(hours=b.rng.randint(1, 900))).replace(
            "Z", "+0000"
        ),
    }


def _sf_opportunity(b: _Build) -> dict[str, JSON]:
    rng = b.rng
    oid = f"006{_rs(rng, 15)}"
    company = rng.choice(COMPANIES)[0]
    return {
        "attributes": {"type": "Opportunity", "url": f"{_SF_API}/sobjects/Opportunity/{oid}"},
        "Id": oid,
        "Name": f"{company} - {rng.choice(_PRODUCTS)[0]}",
        "StageName": rng.choice(_STAGES),
        "Amount": round(rng.uniform(900, 250_000), 2),
        "Probability": rng.choice((10, 20, 50, 75, 90)),
        "CloseDate": iso(b.at + timedelta(days=rng.randint(3, 120)))[:10],
        "AccountId": f"001{_rs(rng, 15)}",
        "Account": {"attributes": {"type": "Account"}, "Name": company},
        "OwnerId": f"005{_rs(rng, 15)}",
        "LastModifiedDate": iso(b.at - timedelta(hours=rng.randint(1, 900))).replace("Z", "+0000"),
    }


def _sf_query(b: _Build, soql: str, records: list[dict[str, JSON]]) -> _Call:
    ctx = b.ctx
    return _Call(
        "GET",
        f"{ctx.creds.salesforce_instance}{_SF_API}/query?{urlencode({'q': soql})}",
        None,
        {"totalSize": len(records), "done": True, "records": records},
        objects=[
            {
                "key": "records",
                "value": {"totalSize": len(records), "ids": [r["Id"] for r in records[:20]]},
            }
        ],
        response_headers=[
            ("Sforce-Limit-Info", f"api-usage={b.rng.randint(2_000, 90_000)}/100000")
        ],
    )


def _salesforce_query_contacts(b: _Build) -> _Call:
    records = [_sf_contact(b, b.ctx.first, b.ctx.last, b.ctx.sf_contact_id)]
    for _ in range(b.n - 1):
        records.append(
            _sf_contact(b, b.rng.choice(_FIRST), b.rng.choice(_LAST), f"003{_rs(b.rng, 15)}")
        )
    soql = (
        "SELECT Id, FirstName, LastName, Email, Title, AccountId, Account.Name, HubSpot_Id__c, "
        f"LastModifiedDate FROM Contact WHERE Account.Website LIKE '%{b.ctx.domain}' "
        "ORDER BY LastModifiedDate DESC LIMIT 200"
    )
    return _sf_query(b, soql, records)


def _salesforce_query_opportunities(b: _Build) -> _Call:
    records = [_sf_opportunity(b) for _ in range(b.n)]
    soql = (
        "SELECT Id, Name, StageName, Amount, Probability, CloseDate, AccountId, Account.Name, "
        "OwnerId, LastModifiedDate FROM Opportunity WHERE IsClosed = false "
        "AND LastModifiedDate = LAST_N_DAYS:30 ORDER BY Amount DESC"
    )
    return _sf_query(b, soql, records)


_SF_CUSTOM = (
    "Lead_Score__c", "Lifecycle_Stage__c", "Original_Source__c", "Last_Activity_Date__c",
    "Enrichment_Confidence__c", "Employee_Count__c", "Industry__c", "Annual_Revenue__c",
    "Preferred_Language__c", "Marketing_Opt_In__c",
)  # fmt: skip


def _salesforce_upsert_contact(b: _Build) -> _Call:
    ctx, rng = b.ctx, b.rng
    body: dict[str, JSON] = {
        "FirstName": ctx.first,
        "LastName": ctx.last,
        "Email": ctx.email,
        "Title": ctx.title,
        "Phone": ctx.phone,
        "MailingCity": ctx.city,
        "MailingCountry": ctx.country,
        "AccountId": ctx.sf_account_id,
        "LeadSource": "HubSpot",
        "Description": f"Synced from HubSpot contact {ctx.hubspot_contact_id} at {iso(b.at)}",
    }
    for i in range(b.n):
        name = _SF_CUSTOM[i % len(_SF_CUSTOM)]
        if i >= len(_SF_CUSTOM):
            name = name.replace("__c", f"_{i // len(_SF_CUSTOM)}__c")
        body[name] = rng.choice((rng.randint(1, 100), rng.choice(_LIFECYCLE), True, ctx.city))
    created = rng.random() < 0.3
    return _Call(
        "PATCH",
        f"{ctx.creds.salesforce_instance}{_SF_API}/sobjects/Contact/HubSpot_Id__c/"
        f"{ctx.hubspot_contact_id}",
        body,
        {"id": ctx.sf_contact_id, "success": True, "errors": [], "created": created},
        status_code=201 if created else 200,
        objects=[{"key": "contact", "value": {"id": ctx.sf_contact_id, "created": created}}],
    )


# Gmail ------------------------------------------------------------------------


def _gmail_send(b: _Build) -> _Call:
    ctx, rng = b.ctx, b.rng
    rows = "".join(
        f"<tr><td>{rng.choice(COMPANIES)[0]}</td><td>{rng.choice(_PRODUCTS)[0]}</td>"
        f"<td>{_money(rng.randint(900, 900_000), ctx.currency)}</td></tr>"
        for _ in range(b.n)
    )
    mime = (
        f"From: Revenue Bot <revenue-bot@{ctx.domain}>\r\n"
        f"To: finance@{ctx.domain}\r\nCc: {ctx.email}\r\n"
        f"Subject: Revenue report {iso(b.at)[:16]} UTC\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n"
        f"<html><body><h2>Revenue report</h2><table>{rows}</table></body></html>"
    )
    mid = _rs(rng, 16, _HEX)
    return _Call(
        "POST",
        "https://gmail.googleapis.com/gmail/v1/users/me/messages/send",
        {"raw": _b64url(mime.encode())},
        {"id": mid, "threadId": mid, "labelIds": ["SENT"]},
        objects=[{"key": "message", "value": {"id": mid, "to": [f"finance@{ctx.domain}"]}}],
    )


# Stripe -----------------------------------------------------------------------


def _stripe_charge(b: _Build, charge_id: str, amount: int, metadata: int) -> dict[str, JSON]:
    ctx, rng = b.ctx, b.rng
    created = int(b.at.timestamp()) - rng.randint(5, 3600)
    meta = {"order_id": f"ord_{_digits(rng, 8)}", "plan": ctx.product}
    for i in range(metadata):
        meta[f"line_{i}_sku"] = f"SKU-{_digits(rng, 5)}-{rng.choice(('M', 'Y'))}"
    return {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": 0,
        "balance_transaction": f"txn_3{_rs(rng, 23)}",
        "billing_details": {
            "address": {"city": ctx.city, "country": ctx.country, "postal_code": _digits(rng, 5)},
            "email": ctx.email,
            "name": ctx.full_name,
        },
        "captured": True,
        "created": created,
        "currency": ctx.currency,
        "customer": ctx.customer_id,
        "description": ctx.product,
        "livemode": True,
        "metadata": meta,
        "outcome": {
            "network_status": "approved_by_network",
            "risk_level": "normal",
            "risk_score": rng.randint(1, 60),
            "seller_message": "Payment complete.",
            "type": "authorized",
        },
        "paid": True,
        "payment_intent": f"pi_3{_rs(rng, 23)}",
        "payment_method_details": {
            "card": {
                "brand": rng.choice(("visa", "mastercard", "amex")),
                "exp_month": rng.randint(1, 12),
                "exp_year": rng.randint(2027, 2031),
                "last4": _digits(rng, 4),
                "funding": "credit",
            },
            "type": "card",
        },
        "receipt_url": f"https://pay.stripe.com/receipts/payment/{_rs(rng, 40, _B64URL)}",
        "status": "succeeded",
    }


def _stripe_retrieve_charge(b: _Build) -> _Call:
    ctx = b.ctx
    charge = _stripe_charge(b, ctx.charge_id, ctx.amount, max(0, b.n - 1))
    return _Call(
        "GET",
        f"https://api.stripe.com/v1/charges/{ctx.charge_id}",
        None,
        charge,
        objects=[
            {"key": "charge", "value": {"id": ctx.charge_id, "amount": ctx.amount, "paid": True}}
        ],
        response_headers=[
            ("Request-Id", f"req_{_rs(b.rng, 14)}"),
            ("Stripe-Version", "2024-06-20"),
        ],
        indent=2,
    )


def _stripe_list_charges(b: _Build) -> _Call:
    rng = b.rng
    since = int((b.at - timedelta(hours=6)).timestamp())
    charges = [
        _stripe_charge(b, f"ch_3{_rs(rng, 23)}", rng.choice(_PRODUCTS)[1], 0) for _ in range(b.n)
    ]
    return _Call(
        "GET",
        f"https://api.stripe.com/v1/charges?limit=100&created%5Bgte%5D={since}",
        None,
        {"object": "list", "data": charges, "has_more": False, "url": "/v1/charges"},
        objects=[
            {
                "key": "charges",
                "value": {"count": len(charges), "total": sum(int(c["amount"]) for c in charges)},
            }
        ],
        response_headers=[("Request-Id", f"req_{_rs(rng, 14)}"), ("Stripe-Version", "2024-06-20")],
        indent=2,
    )


# Google Sheets ----------------------------------------------------------------


def _sheets_append(b: _Build) -> _Call:
    ctx, rng = b.ctx, b.rng
    values = [
        [
            iso(b.at - timedelta(minutes=rng.randint(0, 360)))[:19].replace("T", " "),
            f"ch_3{_rs(rng, 23)}",
            rng.choice(COMPANIES)[0],
            rng.choice(_PRODUCTS)[0],
            f"{rng.randint(9, 9000)}.{_digits(rng, 2)}",
            ctx.currency.upper(),
            rng.choice(("succeeded", "succeeded", "refunded")),
        ]
        for _ in range(b.n)
    ]
    first_row = rng.randint(2, 4000)
    rng_a1 = f"Payments!A{first_row}:G{first_row + len(values) - 1}"
    return _Call(
        "POST",
        f"https://sheets.googleapis.com/v4/spreadsheets/{ctx.spreadsheet_id}/values/"
        f"{quote('Payments!A1:G1')}:append?valueInputOption=USER_ENTERED&insertDataOption=INSERT_ROWS",
        {"range": "Payments!A1:G1", "majorDimension": "ROWS", "values": values},
        {
            "spreadsheetId": ctx.spreadsheet_id,
            "tableRange": f"Payments!A1:G{first_row - 1}",
            "updates": {
                "spreadsheetId": ctx.spreadsheet_id,
                "updatedRange": rng_a1,
                "updatedRows": len(values),
                "updatedColumns": 7,
                "updatedCells": 7 * len(values),
            },
        },
        objects=[{"key": "updatedRange", "value": rng_a1}],
    )


# Jira -------------------------------------------------------------------------


def _jira_create_issue(b: _Build) -> _Call:
    ctx, rng = b.ctx, b.rng
    sentences = (
        f"Dispute opened by {ctx.full_name} ({ctx.email}) for charge {ctx.charge_id}.",
        f"Amount at stake: {_money(ctx.amount, ctx.currency)} on {ctx.product}.",
        "Reason reported by the card network: product_not_received.",
        f"Evidence due in {rng.randint(5, 14)} days; attach invoice, usage logs and contract.",
        f"Account owner in Salesforce: {ctx.sf_account_id}. HubSpot: {ctx.hubspot_company_id}.",
    )
    paragraphs = [sentences[i % len(sentences)] for i in range(b.n)]
    if b.leak:
        paragraphs.append(_leak_text(b))
    issue_id = str(rng.randint(10_000, 99_999))
    key = f"{ctx.jira_project}-{rng.randint(100, 9_999)}"
    body = {
        "fields": {
            "project": {"key": ctx.jira_project},
            "issuetype": {"name": "Task"},
            "summary": f"Stripe dispute: {ctx.company} - {_money(ctx.amount, ctx.currency)}",
            "priority": {"name": rng.choice(("High", "Highest", "Medium"))},
            "labels": ["stripe", "dispute", "billing"],
            "description": {
                "type": "doc",
                "version": 1,
                "content": [
                    {"type": "paragraph", "content": [{"type": "text", "text": p}]}
                    for p in paragraphs
                ],
            },
        }
    }
    return _Call(
        "POST",
        f"{ctx.creds.jira_site}/rest/api/3/issue",
        body,
        {"id": issue_id, "key": key, "self": f"{ctx.creds.jira_site}/rest/api/3/issue/{issue_id}"},
        status_code=201,
        objects=[{"key": "issue", "value": {"id": issue_id, "key": key}}],
        response_headers=[("X-ARequestId", _uuid(rng)), ("X-Seraph-LoginReason", "OK")],
    )


# Generic HTTP (a lead-scoring API authenticated the old-fashioned way) ---------


def _http_request(b: _Build) -> _Call:
    ctx, rng = b.ctx, b.rng
    creds = ctx.creds
    signals = [
        {
            "name": name,
            "weight": round(rng.uniform(0.05, 0.4), 3),
            "value": value,
            "source": rng.choice(("web", "crm", "firmographics", "intent")),
            "observedAt": iso(b.at - timedelta(days=rng.randint(0, 60))),
        }
        for name, value in (
            (
                rng.choice(
                    ("pricing_page_visits", "employee_count", "tech_stack_match", "email_opens")
                ),
                rng.randint(1, 500),
            )
            for _ in range(b.n)
        )
    ]
    score = rng.randint(5, 99)
    grade = "A" if score > 80 else "B" if score > 60 else "C" if score > 35 else "D"
    body = {
        "lead": {
            "email": ctx.email,
            "first_name": ctx.first,
            "last_name": ctx.last,
            "company": {"name": ctx.company, "domain": ctx.domain},
        },
        "options": {
            "model": "b2b-saas-v3",
            "auth": {"client_id": creds.http_client_id, "client_secret": creds.http_client_secret},
            "proxy": {
                "url": "http://egress-proxy.internal:3128",
                "credentials": {"username": "svc-integrations", "password": creds.proxy_password},
            },
        },
    }
    response = {
        "score": score,
        "grade": grade,
        "signals": signals,
        "session": {
            "token": make_jwt(rng, ctx.email, "https://auth.leadscore.io/", b.at),
            "expires_in": 3600,
        },
    }
    query = urlencode({"api_key": creds.http_api_key, "include": "signals"})
    return _Call(
        "POST",
        f"https://api.leadscore.io/v1/score?{query}",
        body,
        response,
        objects=[{"key": "score", "value": {"score": score, "grade": grade}}],
        response_headers=[("X-RateLimit-Remaining", str(rng.randint(10, 5000)))],
    )


ACTIONS: dict[str, Action] = {
    a.key: a
    for a in (
        Action("slack.post_message", "slack", "Post message", (120, 700), _slack_post_message),
        Action("hubspot.get_contact", "hubspot", "Get contact", (90, 450), _hubspot_get_contact),
        Action(
            "hubspot.search_contacts",
            "hubspot",
            "Search contacts",
            (150, 800),
            _hubspot_search_contacts,
        ),
        Action(
            "hubspot.create_contact",
            "hubspot",
            "Create contact",
            (150, 700),
            _hubspot_create_contact,
        ),
        Action(
            "hubspot.update_company",
            "hubspot",
            "Update company",
            (120, 600),
            _hubspot_update_company,
        ),
        Action(
            "salesforce.query_contacts",
            "salesforce",
            "Query contacts",
            (180, 1400),
            _salesforce_query_contacts,
        ),
        Action(
            "salesforce.query_opportunities",
            "salesforce",
            "Query opportunities",
            (250, 2200),
            _salesforce_query_opportunities,
        ),
        Action(
            "salesforce.upsert_contact",
            "salesforce",
            "Upsert contact",
            (200, 1100),
            _salesforce_upsert_contact,
        ),
        Action("gmail.send", "gmail", "Send e-mail", (250, 1200), _gmail_send),
        Action(
            "stripe.retrieve_charge",
            "stripe",
            "Retrieve charge",
            (90, 500),
            _stripe_retrieve_charge,
        ),
        Action("stripe.list_charges", "stripe", "List charges", (200, 1500), _stripe_list_charges),
        Action("sheets.append", "sheets", "Append rows", (180, 900), _sheets_append),
        Action("jira.create_issue", "jira", "Create issue", (250, 1300), _jira_create_issue),
        Action("http.request", "http", "HTTP request", (200, 2500), _http_request),
    )
}


# ------------------------------------------------------- per-app HTTP details


def _auth_headers(app: str, creds: Credentials) -> list[tuple[str, str]]:
    token = {
        "slack": creds.slack_token,
        "hubspot": creds.hubspot_token,
        "salesforce": creds.salesforce_token,
        "gmail": creds.google_token,
        "sheets": creds.google_token,
        "stripe": creds.stripe_key,
    }.get(app)
    if token is not None:
        return [("Authorization", f"Bearer {token}")]
    if app == "jira":
        return [("Authorization", f"Basic {creds.jira_basic}")]
    return []  # http: the api_key rides in the query string


_GOOGLE_ERRORS = {
    400: (
        "INVALID_ARGUMENT",
        "badRequest",
        "Invalid value at 'data.values[3]' (type.googleapis.com/google.protobuf.ListValue)",
    ),
    401: (
        "UNAUTHENTICATED",
        "authError",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, "
        "login cookie or other valid authentication credential.",
    ),
    403: ("PERMISSION_DENIED", "forbidden", "The caller does not have permission"),
    404: ("NOT_FOUND", "notFound", "Requested entity was not found."),
    422: ("FAILED_PRECONDITION", "failedPrecondition", "Precondition check failed."),
    429: (
        "RESOURCE_EXHAUSTED",
        "rateLimitExceeded",
        "Quota exceeded for quota metric 'Write requests' and limit "
        "'Write requests per minute per user'.",
    ),
    500: ("INTERNAL", "backendError", "Internal error encountered."),
    503: ("UNAVAILABLE", "backendError", "The service is currently unavailable."),
}
_SLACK_ERRORS = {
    400: "invalid_arguments", 401: "invalid_auth", 403: "missing_scope",
    404: "channel_not_found", 422: "invalid_blocks", 429: "ratelimited",
    500: "internal_error", 503: "service_unavailable",
}  # fmt: skip
_HUBSPOT_ERRORS = {
    400: (
        "VALIDATION_ERROR",
        "Invalid input JSON on line 1, column 54: Cannot build PublicObjectSearchRequest",
    ),
    401: (
        "INVALID_AUTHENTICATION",
        "Authentication credentials not found. This API supports OAuth 2.0 authentication.",
    ),
    403: ("MISSING_SCOPES", "This app hasn't been granted all required scopes to make this call."),
    404: ("OBJECT_NOT_FOUND", "resource not found"),
    422: (
        "VALIDATION_ERROR",
        'Property values were not valid: [{"isValid":false,"message":"Email address is invalid",'
        '"error":"INVALID_EMAIL","name":"email"}]',
    ),
    429: ("RATE_LIMITS", "You have reached your ten_secondly_rolling limit."),
    500: ("INTERNAL_ERROR", "internal error"),
    503: ("SERVICE_UNAVAILABLE", "The service is temporarily unavailable"),
}
_SALESFORCE_ERRORS = {
    400: ("MALFORMED_QUERY", "unexpected token: 'LIKE'"),
    401: ("INVALID_SESSION_ID", "Session expired or invalid"),
    403: ("INSUFFICIENT_ACCESS", "insufficient access rights on cross-reference id"),
    404: ("NOT_FOUND", "The requested resource does not exist"),
    422: ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Mailing country must be an ISO 3166 code"),
    429: ("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
    500: (
        "UNKNOWN_EXCEPTION",
        "An unexpected error occurred. Please include this ErrorId if you contact support: "
        "1874301842-77411 (-1208435912)",
    ),
    503: ("SERVER_UNAVAILABLE", "Server temporarily unavailable, please try again later."),
}
_STRIPE_ERRORS = {
    400: ("invalid_request_error", "parameter_missing", "Missing required param: id."),
    401: (
        "invalid_request_error",
        None,
        "Invalid API Key provided: sk_live_********************{last4}",
    ),
    403: (
        "invalid_request_error",
        "secret_key_required",
        "The provided key does not have the required permissions for this endpoint.",
    ),
    404: ("invalid_request_error", "resource_missing", "No such charge: '{charge}'"),
    422: ("invalid_request_error", "parameter_invalid_integer", "Invalid integer: limit=abc"),
    429: (
        "invalid_request_error",
        "rate_limit",
        "Too many requests hit the API too quickly. "
        "We recommend an exponential backoff of your requests.",
    ),
    500: ("api_error", None, "An unknown error occurred"),
    503: ("api_error", None, "Stripe is temporarily unavailable. Please retry."),
}
_JIRA_ERRORS: dict[int, tuple[dict[str, str], list[str]]] = {
    400: (
        {
            "customfield_10020": "Field 'customfield_10020' cannot be set. "
            "It is not on the appropriate screen, or unknown."
        },
        [],
    ),
    401: ({}, ["You are not authorized to perform this operation. Please log in."]),
    403: ({}, ["You do not have permission to create issues in this project."]),
    404: ({}, ["Project does not exist or you do not have permission to view it."]),
    422: (
        {
            "summary": "You must specify a summary of the issue.",
            "priority": "Specify a valid priority",
        },
        [],
    ),
    429: ({}, ["Rate limit exceeded."]),
    500: ({}, ["Internal server error"]),
    503: ({}, ["Service Unavailable"]),
}
_REASONS = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    422: "Unprocessable Entity", 429: "Too Many Requests", 500: "Internal Server Error",
    502: "Bad Gateway", 503: "Service Unavailable",
}  # fmt: skip


def _error_body(
    app: str, code: int, rng: random.Random, ctx: RunContext
) -> tuple[JSON, list[tuple[str, str]], str]:
    """(body, extra headers, content type) of an app's error response."""
    headers: list[tuple[str, str]] = []
    if code == 429:
        headers.append(("Retry-After", str(rng.choice((1, 10, 30, 60)))))
    if code == 502:
        html = (
            "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
            "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
            "</body>\r\n</html>\r\n"
        )
        return html, headers, "text/html"
    json_type = "application/json; charset=utf-8"
    if app == "slack":
        return {"ok": False, "error": _SLACK_ERRORS.get(code, "fatal_error")}, headers, json_type
    if app in ("gmail", "sheets"):
        status, reason, message = _GOOGLE_ERRORS.get(code, _GOOGLE_ERRORS[500])
        body: JSON = {
            "error": {
                "code": code,
                "message": message,
                "errors": [{"message": message, "domain": "global", "reason": reason}],
                "status": status,
            }
        }
        return body, headers, json_type
    if app == "hubspot":
        category, message = _HUBSPOT_ERRORS.get(code, _HUBSPOT_ERRORS[500])
        body = {
            "status": "error",
            "message": message,
            "correlationId": _uuid(rng),
            "category": category,
            "links": {"knowledge-base": "https://www.hubspot.com/products/service/knowledge-base"},
        }
        return body, headers, json_type
    if app == "salesforce":
        error_code, message = _SALESFORCE_ERRORS.get(code, _SALESFORCE_ERRORS[500])
        return [{"message": message, "errorCode": error_code}], headers, json_type
    if app == "stripe":
        etype, ecode, message = _STRIPE_ERRORS.get(code, _STRIPE_ERRORS[500])
        message = message.format(last4=ctx.creds.stripe_key[-4:], charge=ctx.charge_id)
        req = f"req_{_rs(rng, 14)}"
        err: dict[str, JSON] = {"message": message, "type": etype}
        if ecode:
            err["code"] = ecode
            err["doc_url"] = f"https://stripe.com/docs/error-codes/{ecode.replace('_', '-')}"
        err["request_log_url"] = (
            f"https://dashboard.stripe.com/logs/{req}?t={rng.randint(10**9, 2 * 10**9)}"
        )
        headers.append(("Request-Id", req))
        return {"error": err}, headers, json_type
    if app == "jira":
        errors, messages = _JIRA_ERRORS.get(code, _JIRA_ERRORS[500])
        return {"errorMessages": messages, "errors": errors}, headers, json_type
    # generic HTTP API: RFC 9457 problem details
    body = {
        "type": f"https://api.leadscore.io/problems/{code}",
        "title": _REASONS.get(code, "Error"),
        "status": code,
        "detail": "The lead could not be scored." if code < 500 else "Upstream model timeout.",
        "instance": f"/v1/score/{_uuid(rng)}",
    }
    return body, headers, "application/problem+json"


_COMMON_REQUEST_HEADERS = (("User-Agent", "integration-engine/4.12.0 (+node-fetch)"),)


def _body_size(call: _Call) -> int:
    return max((len(text) for text in call.texts() if text is not None), default=0)


_SIZE_MODEL: dict[str, tuple[float, float]] = {}


def _size_model(action: Action) -> tuple[float, float]:
    """(size with n=1, growth per item) of an action's larger body, measured once."""
    model = _SIZE_MODEL.get(action.key)
    if model is None:
        rng = random.Random(action.key)
        ctx = RunContext.random(rng)
        at = datetime(2026, 1, 1, tzinfo=UTC)
        s1 = _body_size(action.build(_Build(rng, ctx, 1, at, False)))
        s9 = _body_size(action.build(_Build(rng, ctx, 9, at, False)))
        model = _SIZE_MODEL[action.key] = (float(s1), max(1.0, (s9 - s1) / 8))
    return model


def _build_sized(action: Action, b: _Build, target: int) -> _Call:
    base, per = _size_model(action)
    b.n = max(1, math.ceil((target - base) / per) + 1)
    call = action.build(b)
    for _ in range(3):
        size = _body_size(call)
        if size < target * 0.85:
            b.n += max(1, math.ceil((target - size) / per))
        elif size > max(target * 1.15, target + 250) and b.n > 1:
            b.n = max(1, b.n - max(1, math.floor((size - target) / per)))
        else:
            break
        call = action.build(b)
    return call


def actions_of(app: App | str) -> list[Action]:
    key = app_of(app).key
    return [a for a in ACTIONS.values() if a.app == key]


def step_payload(
    rng: random.Random,
    app: App | str,
    status: str,
    network_code: int | None = None,
    *,
    action: str | Action | None = None,
    ctx: RunContext | None = None,
    at: datetime | None = None,
    body_bytes: int | None = None,
    leak: bool = False,
) -> dict[str, Any]:
    """A real-looking ``StepPayload`` for a step of ``app``.

    * ``status`` OK: a successful exchange (``network_code`` defaults to the API's own
      2xx; read it back from ``payload["response"]["statusCode"]``).
    * FAILED with a ``network_code``: the app's genuine error body for that code
      (502 is a load balancer's HTML page). FAILED without one: a timeout, with no
      response at all.
    * SKIPPED: the request the step would have sent, no response, no objects.

    ``body_bytes`` is the aimed size of the larger JSON body (default: random,
    0.3-3 KB); ``leak`` adds a Stripe secret key and a JWT to free text where the
    action has some. Request headers always carry the connection's credentials.
    """
    a = app_of(app)
    if action is None:
        choices = actions_of(a)
        if not choices:
            raise ValueError(f"app {a.key!r} has no actions")
        act = choices[0]
    else:
        act = action if isinstance(action, Action) else ACTIONS[action]
    if act.app != a.key:
        raise ValueError(f"action {act.key!r} does not belong to app {a.key!r}")
    if status not in STEP_STATUSES:
        raise ValueError(f"invalid step status {status!r}")
    at = utc_ms(at) if at is not None else datetime(2026, 1, 1, tzinfo=UTC)
    ctx = ctx or RunContext.random(rng)
    target = body_bytes if body_bytes is not None else rng.randint(350, 2600)
    call = _build_sized(act, _Build(rng, ctx, 1, at, leak), target)

    req_headers = [
        *_auth_headers(a.key, ctx.creds),
        ("Accept", "application/json"),
        *_COMMON_REQUEST_HEADERS,
        ("X-Request-Id", _uuid(rng)),
    ]
    request_body, success_body = call.texts()
    if request_body is not None:
        req_headers.insert(1, ("Content-Type", "application/json"))
    payload: dict[str, Any] = {
        "request": {
            "method": call.method,
            "url": call.url,
            "headers": _headers(req_headers),
            "body": request_body,
        }
    }
    if status == "SKIPPED":
        payload["objects"] = []
        return payload
    if status == "FAILED" and network_code is None:  # timed out: never got a response
        payload["objects"] = [
            {
                "key": "error",
                "value": {
                    "message": "timeout of 30000ms exceeded",
                    "code": "ECONNABORTED",
                    "attempts": rng.randint(1, 3),
                    "retryable": True,
                },
            }
        ]
        return payload

    if status == "FAILED":
        assert network_code is not None
        body, extra, content_type = _error_body(a.key, network_code, rng, ctx)
        response_body = _dumps(body)
        code = network_code
        objects: list[dict[str, JSON]] = [
            {
                "key": "error",
                "value": {
                    "message": f"Request failed with status code {code}",
                    "statusCode": code,
                    "code": "ERR_BAD_REQUEST" if code < 500 else "ERR_BAD_RESPONSE",
                    "retryable": code in (429, 500, 502, 503),
                    "attempts": rng.randint(1, 3) if code >= 429 else 1,
                    "response": body if isinstance(body, dict | list) else None,
                },
            }
        ]
    else:
        response_body = success_body or ""
        code = network_code if network_code is not None else call.status_code
        extra, content_type = call.response_headers, "application/json; charset=utf-8"
        objects = call.objects
    resp_headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(response_body.encode()))),
        ("Date", format_datetime(at, usegmt=True)),
        *extra,
    ]
    payload["response"] = {
        "statusCode": code,
        "headers": _headers(resp_headers),
        "body": response_body,
    }
    payload["objects"] = objects
    return payload


def _headers(pairs: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in pairs]
