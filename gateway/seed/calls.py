"""The HTTP calls each seed app makes (Slack ``chat.postMessage``, HubSpot contacts, a
Salesforce SOQL query, Gmail send, Stripe charges, Google Sheets append, a Jira issue, a generic
HTTP call...), built to look real, with the credentials a real engine would have logged."""

from __future__ import annotations

import json
import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import quote, urlencode

from gateway.seed.events import JSON, iso
from gateway.seed.fakes import (
    B64URL_CHARS,
    COMPANIES,
    DEAL_STAGES,
    FIRST_NAMES,
    HEX,
    JOB_TITLES,
    LAST_NAMES,
    LIFECYCLE_STAGES,
    PRODUCTS,
    RunContext,
    b64url,
    make_jwt,
    rand_digits,
    rand_str,
    rand_uuid,
)

# ------------------------------------------------------------- HTTP exchanges


@dataclass
class CallBuilder:
    rng: random.Random
    ctx: RunContext
    n: int
    at: datetime
    leak: bool


@dataclass
class HttpCall:
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
                None if self.body is None else dumps_json(self.body),
                None if self.response is None else dumps_json(self.response, self.indent),
            )
        return self._texts


@dataclass(frozen=True)
class Action:
    key: str
    app: str
    name: str
    latency_ms: tuple[int, int]
    build: Callable[[CallBuilder], HttpCall]


def dumps_json(obj: JSON, indent: int | None = None) -> str:
    if isinstance(obj, str):
        return obj
    if indent is None:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return json.dumps(obj, indent=indent, ensure_ascii=False)


def _money(amount: int, currency: str) -> str:
    symbol = {"usd": "$", "eur": "EUR ", "gbp": "GBP "}[currency]
    return f"{symbol}{amount / 100:,.2f}"


def _leak_text(b: CallBuilder) -> str:
    jwt = make_jwt(b.rng, b.ctx.email, "https://auth.leadscore.io/", b.at)
    return (
        f"Customer pasted their integration log into the ticket: stripe.api_key = "
        f"'{b.ctx.creds.stripe_key}' / session token {jwt} - please rotate both."
    )


# Slack ------------------------------------------------------------------------


def _slack_post_message(b: CallBuilder) -> HttpCall:
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
            {
                "type": "mrkdwn",
                "text": f"*Owner:*\n<@U0{rand_str(rng, 9, string.ascii_uppercase)}>",
            },
            {"type": "mrkdwn", "text": f"*Stage:*\n{rng.choice(DEAL_STAGES)}"},
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
    ts = f"{int(b.at.timestamp())}.{rand_digits(rng, 6)}"
    body = {"channel": ctx.slack_channel, "text": text, "blocks": blocks, "unfurl_links": False}
    response = {
        "ok": True,
        "channel": ctx.slack_channel,
        "ts": ts,
        "message": {
            "bot_id": f"B0{rand_str(rng, 9, string.ascii_uppercase)}",
            "type": "message",
            "text": text,
            "user": f"U0{rand_str(rng, 9, string.ascii_uppercase)}",
            "ts": ts,
            "app_id": "A0INTEGRATE1",
            "blocks": blocks,
            "team": f"T0{rand_str(rng, 9, string.ascii_uppercase)}",
        },
    }
    permalink = (
        f"https://{ctx.creds.slack_workspace}.slack.com/archives/"
        f"{ctx.slack_channel}/p{ts.replace('.', '')}"
    )
    return HttpCall(
        "POST",
        "https://slack.com/api/chat.postMessage",
        body,
        response,
        objects=[
            {"key": "message", "value": {"channel": ctx.slack_channel, "ts": ts}},
            {"key": "permalink", "value": permalink},
        ],
        response_headers=[
            ("X-Slack-Req-Id", rand_str(rng, 32, HEX)),
            ("X-OAuth-Scopes", "chat:write"),
        ],
    )


# HubSpot ----------------------------------------------------------------------

_HUBSPOT_EXTRA: tuple[tuple[str, Callable[[random.Random, RunContext], str]], ...] = (
    ("hs_lead_status", lambda r, c: r.choice(("NEW", "OPEN", "IN_PROGRESS", "CONNECTED"))),
    ("lifecyclestage", lambda r, c: r.choice(LIFECYCLE_STAGES)),
    ("hs_analytics_source", lambda r, c: r.choice(("ORGANIC_SEARCH", "PAID_SEARCH", "REFERRALS"))),
    ("hs_analytics_num_page_views", lambda r, c: str(r.randint(1, 400))),
    ("hs_email_domain", lambda r, c: c.domain),
    ("jobtitle", lambda r, c: c.title),
    ("city", lambda r, c: c.city),
    ("country", lambda r, c: c.country),
    ("phone", lambda r, c: c.phone),
    ("hubspot_owner_id", lambda r, c: rand_digits(r, 9)),
    ("hs_object_source_label", lambda r, c: r.choice(("INTEGRATION", "FORM", "IMPORT"))),
    ("num_associated_deals", lambda r, c: str(r.randint(0, 6))),
    ("recent_conversion_event_name", lambda r, c: "Demo request - pricing page"),
    ("hs_latest_source_timestamp", lambda r, c: f"2026-0{r.randint(1, 9)}-1{r.randint(0, 9)}"),
)


def _hubspot_props(b: CallBuilder, count: int) -> dict[str, str]:
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


def _hubspot_contact(b: CallBuilder, count: int) -> dict[str, JSON]:
    props = _hubspot_props(b, count)
    return {
        "id": props["hs_object_id"],
        "properties": props,
        "createdAt": props["createdate"],
        "updatedAt": props["lastmodifieddate"],
        "archived": False,
    }


def _hubspot_get_contact(b: CallBuilder) -> HttpCall:
    contact = _hubspot_contact(b, 6)
    history = [
        {
            "value": b.rng.choice(LIFECYCLE_STAGES),
            "timestamp": iso(b.at - timedelta(days=i * 9 + b.rng.randint(0, 8))),
            "sourceType": b.rng.choice(("CRM_UI", "INTEGRATION", "AUTOMATION_PLATFORM")),
            "sourceId": f"userId:{rand_digits(b.rng, 8)}",
            "updatedByUserId": int(rand_digits(b.rng, 8)),
        }
        for i in range(b.n)
    ]
    contact["propertiesWithHistory"] = {"lifecyclestage": history}
    props = ",".join(list(contact["properties"])[:8])
    return HttpCall(
        "GET",
        f"https://api.hubapi.com/crm/v3/objects/contacts/{b.ctx.hubspot_contact_id}"
        f"?properties={props}&propertiesWithHistory=lifecyclestage&archived=false",
        None,
        contact,
        objects=[{"key": "contact", "value": {"id": contact["id"], "email": b.ctx.email}}],
    )


def _hubspot_search_contacts(b: CallBuilder) -> HttpCall:
    results = []
    for i in range(b.n):
        c = _hubspot_contact(b, 3)
        if i:
            first, last = b.rng.choice(FIRST_NAMES), b.rng.choice(LAST_NAMES)
            c["id"] = c["properties"]["hs_object_id"] = rand_digits(b.rng, 11)
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
    return HttpCall(
        "POST",
        "https://api.hubapi.com/crm/v3/objects/contacts/search",
        body,
        {"total": len(results), "results": results},
        objects=[{"key": "contacts", "value": [r["id"] for r in results]}],
    )


def _hubspot_create_contact(b: CallBuilder) -> HttpCall:
    contact = _hubspot_contact(b, b.n)
    body = {
        "properties": {k: v for k, v in contact["properties"].items() if not k.startswith("hs_")}
    }
    return HttpCall(
        "POST",
        "https://api.hubapi.com/crm/v3/objects/contacts",
        body,
        contact,
        status_code=201,
        objects=[{"key": "contact", "value": {"id": contact["id"], "email": b.ctx.email}}],
    )


def _hubspot_update_company(b: CallBuilder) -> HttpCall:
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
    return HttpCall(
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


def _sf_contact(b: CallBuilder, first: str, last: str, cid: str) -> dict[str, JSON]:
    return {
        "attributes": {"type": "Contact", "url": f"{_SF_API}/sobjects/Contact/{cid}"},
        "Id": cid,
        "FirstName": first,
        "LastName": last,
        "Email": f"{first.lower()}.{last.lower()}@{b.ctx.domain}",
        "Title": b.rng.choice(JOB_TITLES),
        "AccountId": b.ctx.sf_account_id,
        "Account": {
            "attributes": {
                "type": "Account",
                "url": f"{_SF_API}/sobjects/Account/{b.ctx.sf_account_id}",
            },
            "Name": b.ctx.company,
        },
        "HubSpot_Id__c": rand_digits(b.rng, 11),
        "LastModifiedDate": iso(b.at - timedelta(hours=b.rng.randint(1, 900))).replace(
            "Z", "+0000"
        ),
    }


def _sf_opportunity(b: CallBuilder) -> dict[str, JSON]:
    rng = b.rng
    oid = f"006{rand_str(rng, 15)}"
    company = rng.choice(COMPANIES)[0]
    return {
        "attributes": {"type": "Opportunity", "url": f"{_SF_API}/sobjects/Opportunity/{oid}"},
        "Id": oid,
        "Name": f"{company} - {rng.choice(PRODUCTS)[0]}",
        "StageName": rng.choice(DEAL_STAGES),
        "Amount": round(rng.uniform(900, 250_000), 2),
        "Probability": rng.choice((10, 20, 50, 75, 90)),
        "CloseDate": iso(b.at + timedelta(days=rng.randint(3, 120)))[:10],
        "AccountId": f"001{rand_str(rng, 15)}",
        "Account": {"attributes": {"type": "Account"}, "Name": company},
        "OwnerId": f"005{rand_str(rng, 15)}",
        "LastModifiedDate": iso(b.at - timedelta(hours=rng.randint(1, 900))).replace("Z", "+0000"),
    }


def _sf_query(b: CallBuilder, soql: str, records: list[dict[str, JSON]]) -> HttpCall:
    ctx = b.ctx
    return HttpCall(
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


def _salesforce_query_contacts(b: CallBuilder) -> HttpCall:
    records = [_sf_contact(b, b.ctx.first, b.ctx.last, b.ctx.sf_contact_id)]
    for _ in range(b.n - 1):
        records.append(
            _sf_contact(
                b, b.rng.choice(FIRST_NAMES), b.rng.choice(LAST_NAMES), f"003{rand_str(b.rng, 15)}"
            )
        )
    soql = (
        "SELECT Id, FirstName, LastName, Email, Title, AccountId, Account.Name, HubSpot_Id__c, "
        f"LastModifiedDate FROM Contact WHERE Account.Website LIKE '%{b.ctx.domain}' "
        "ORDER BY LastModifiedDate DESC LIMIT 200"
    )
    return _sf_query(b, soql, records)


def _salesforce_query_opportunities(b: CallBuilder) -> HttpCall:
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


def _salesforce_upsert_contact(b: CallBuilder) -> HttpCall:
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
        body[name] = rng.choice((rng.randint(1, 100), rng.choice(LIFECYCLE_STAGES), True, ctx.city))
    created = rng.random() < 0.3
    return HttpCall(
        "PATCH",
        f"{ctx.creds.salesforce_instance}{_SF_API}/sobjects/Contact/HubSpot_Id__c/"
        f"{ctx.hubspot_contact_id}",
        body,
        {"id": ctx.sf_contact_id, "success": True, "errors": [], "created": created},
        status_code=201 if created else 200,
        objects=[{"key": "contact", "value": {"id": ctx.sf_contact_id, "created": created}}],
    )


# Gmail ------------------------------------------------------------------------


def _gmail_send(b: CallBuilder) -> HttpCall:
    ctx, rng = b.ctx, b.rng
    rows = "".join(
        f"<tr><td>{rng.choice(COMPANIES)[0]}</td><td>{rng.choice(PRODUCTS)[0]}</td>"
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
    mid = rand_str(rng, 16, HEX)
    return HttpCall(
        "POST",
        "https://gmail.googleapis.com/gmail/v1/users/me/messages/send",
        {"raw": b64url(mime.encode())},
        {"id": mid, "threadId": mid, "labelIds": ["SENT"]},
        objects=[{"key": "message", "value": {"id": mid, "to": [f"finance@{ctx.domain}"]}}],
    )


# Stripe -----------------------------------------------------------------------


def _stripe_charge(b: CallBuilder, charge_id: str, amount: int, metadata: int) -> dict[str, JSON]:
    ctx, rng = b.ctx, b.rng
    created = int(b.at.timestamp()) - rng.randint(5, 3600)
    meta = {"order_id": f"ord_{rand_digits(rng, 8)}", "plan": ctx.product}
    for i in range(metadata):
        meta[f"line_{i}_sku"] = f"SKU-{rand_digits(rng, 5)}-{rng.choice(('M', 'Y'))}"
    return {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": 0,
        "balance_transaction": f"txn_3{rand_str(rng, 23)}",
        "billing_details": {
            "address": {
                "city": ctx.city,
                "country": ctx.country,
                "postal_code": rand_digits(rng, 5),
            },
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
        "payment_intent": f"pi_3{rand_str(rng, 23)}",
        "payment_method_details": {
            "card": {
                "brand": rng.choice(("visa", "mastercard", "amex")),
                "exp_month": rng.randint(1, 12),
                "exp_year": rng.randint(2027, 2031),
                "last4": rand_digits(rng, 4),
                "funding": "credit",
            },
            "type": "card",
        },
        "receipt_url": f"https://pay.stripe.com/receipts/payment/{rand_str(rng, 40, B64URL_CHARS)}",
        "status": "succeeded",
    }


def _stripe_retrieve_charge(b: CallBuilder) -> HttpCall:
    ctx = b.ctx
    charge = _stripe_charge(b, ctx.charge_id, ctx.amount, max(0, b.n - 1))
    return HttpCall(
        "GET",
        f"https://api.stripe.com/v1/charges/{ctx.charge_id}",
        None,
        charge,
        objects=[
            {"key": "charge", "value": {"id": ctx.charge_id, "amount": ctx.amount, "paid": True}}
        ],
        response_headers=[
            ("Request-Id", f"req_{rand_str(b.rng, 14)}"),
            ("Stripe-Version", "2024-06-20"),
        ],
        indent=2,
    )


def _stripe_list_charges(b: CallBuilder) -> HttpCall:
    rng = b.rng
    since = int((b.at - timedelta(hours=6)).timestamp())
    charges = [
        _stripe_charge(b, f"ch_3{rand_str(rng, 23)}", rng.choice(PRODUCTS)[1], 0)
        for _ in range(b.n)
    ]
    return HttpCall(
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
        response_headers=[
            ("Request-Id", f"req_{rand_str(rng, 14)}"),
            ("Stripe-Version", "2024-06-20"),
        ],
        indent=2,
    )


# Google Sheets ----------------------------------------------------------------


def _sheets_append(b: CallBuilder) -> HttpCall:
    ctx, rng = b.ctx, b.rng
    values = [
        [
            iso(b.at - timedelta(minutes=rng.randint(0, 360)))[:19].replace("T", " "),
            f"ch_3{rand_str(rng, 23)}",
            rng.choice(COMPANIES)[0],
            rng.choice(PRODUCTS)[0],
            f"{rng.randint(9, 9000)}.{rand_digits(rng, 2)}",
            ctx.currency.upper(),
            rng.choice(("succeeded", "succeeded", "refunded")),
        ]
        for _ in range(b.n)
    ]
    first_row = rng.randint(2, 4000)
    rng_a1 = f"Payments!A{first_row}:G{first_row + len(values) - 1}"
    return HttpCall(
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


def _jira_create_issue(b: CallBuilder) -> HttpCall:
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
    return HttpCall(
        "POST",
        f"{ctx.creds.jira_site}/rest/api/3/issue",
        body,
        {"id": issue_id, "key": key, "self": f"{ctx.creds.jira_site}/rest/api/3/issue/{issue_id}"},
        status_code=201,
        objects=[{"key": "issue", "value": {"id": issue_id, "key": key}}],
        response_headers=[("X-ARequestId", rand_uuid(rng)), ("X-Seraph-LoginReason", "OK")],
    )


# Generic HTTP (a lead-scoring API authenticated the old-fashioned way) ---------


def _http_request(b: CallBuilder) -> HttpCall:
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
    return HttpCall(
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
