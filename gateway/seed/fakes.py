"""The made-up world of the seed data: apps, people, companies and credentials."""

from __future__ import annotations

import base64
import json
import random
import string
import uuid
from dataclasses import dataclass
from datetime import datetime

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

FIRST_NAMES = (
    "Maria", "James", "Aiko", "Lukas", "Priya", "Omar", "Sofia", "Chen", "Elena", "Mateo",
    "Hannah", "Kwame", "Isabel", "Noah", "Fatima", "Liam", "Yuki", "Ana", "David", "Zara",
)  # fmt: skip
LAST_NAMES = (
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
CITIES = (
    ("Berlin", "DE"), ("Austin", "US"), ("Toronto", "CA"), ("Lyon", "FR"), ("Osaka", "JP"),
    ("Sao Paulo", "BR"), ("Dublin", "IE"), ("Pune", "IN"), ("Melbourne", "AU"),
    ("Denver", "US"),
)  # fmt: skip
PRODUCTS = (
    ("Pro plan (annual)", 190_800),
    ("Team plan (monthly)", 14_900),
    ("Enterprise seats x25", 625_000),
    ("Onboarding package", 250_000),
    ("Usage overage - API calls", 3_412),
    ("Starter plan (monthly)", 4_900),
)
JOB_TITLES = (
    "Head of Operations", "VP Sales", "Finance Manager", "CTO", "RevOps Lead",
    "Customer Success Manager", "Procurement Specialist", "Founder",
)  # fmt: skip
DEAL_STAGES = ("Prospecting", "Qualification", "Proposal/Price Quote", "Negotiation/Review")
LIFECYCLE_STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "customer",
)
ALNUM = string.ascii_letters + string.digits
B64URL_CHARS = ALNUM + "-_"
HEX = "0123456789abcdef"


def rand_str(rng: random.Random, n: int, alphabet: str = ALNUM) -> str:
    return "".join(rng.choices(alphabet, k=n))


def rand_digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(string.digits, k=n))


def rand_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(rng: random.Random, subject: str, issuer: str, issued_at: datetime) -> str:
    """A syntactically real (unsigned-by-anyone) RS256 JWT."""
    iat = int(issued_at.timestamp())
    header = {"alg": "RS256", "typ": "JWT", "kid": rand_str(rng, 8, HEX)}
    claims = {
        "iss": issuer,
        "sub": subject,
        "aud": "api",
        "iat": iat,
        "exp": iat + 3600,
        "scope": "leads:read leads:score",
        "jti": rand_uuid(rng),
    }
    return ".".join(
        (
            b64url(json.dumps(header, separators=(",", ":")).encode()),
            b64url(json.dumps(claims, separators=(",", ":")).encode()),
            rand_str(rng, 342, B64URL_CHARS),
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
        jira_token = "ATATT3xFfGF0" + rand_str(rng, 180, B64URL_CHARS)
        return cls(
            slack_token=f"xoxb-{rand_digits(rng, 12)}-{rand_digits(rng, 13)}-{rand_str(rng, 24)}",
            slack_workspace=f"{slug}-hq",
            hubspot_token=f"pat-na1-{rand_uuid(rng)}",
            salesforce_token=f"00D{rand_str(rng, 12)}!{rand_str(rng, 96, ALNUM + '._')}",
            salesforce_instance=f"https://{slug}.my.salesforce.com",
            google_token=f"ya29.a0{rand_str(rng, 150, B64URL_CHARS)}",
            stripe_key=f"sk_live_51{rand_str(rng, 96)}",
            jira_site=f"https://{slug}.atlassian.net",
            jira_basic=base64.b64encode(f"{jira_user}:{jira_token}".encode()).decode(),
            http_api_key=f"lsk_live_{rand_str(rng, 32, HEX)}",
            http_client_id=f"cli_{rand_str(rng, 20, HEX)}",
            http_client_secret=rand_str(rng, 48, B64URL_CHARS),
            proxy_password=rand_str(rng, 20, ALNUM + "!#%*"),
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
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        company, domain = rng.choice(COMPANIES)
        city, country = rng.choice(CITIES)
        product, amount = rng.choice(PRODUCTS)
        return cls(
            creds=creds or Credentials.random(rng),
            first=first,
            last=last,
            email=f"{first.lower()}.{last.lower()}@{domain}",
            company=company,
            domain=domain,
            city=city,
            country=country,
            phone=f"+1 {rand_digits(rng, 3)}-{rand_digits(rng, 3)}-{rand_digits(rng, 4)}",
            title=rng.choice(JOB_TITLES),
            product=product,
            amount=amount,
            currency=rng.choice(("usd", "usd", "usd", "eur", "gbp")),
            charge_id=f"ch_3{rand_str(rng, 23)}",
            customer_id=f"cus_{rand_str(rng, 14)}",
            hubspot_contact_id=rand_digits(rng, 11).lstrip("0") or "1",
            hubspot_company_id=rand_digits(rng, 10).lstrip("0") or "1",
            sf_contact_id=f"003{rand_str(rng, 15)}",
            sf_account_id=f"001{rand_str(rng, 15)}",
            slack_channel=f"C0{rand_str(rng, 9, string.ascii_uppercase + string.digits)}",
            spreadsheet_id=f"1{rand_str(rng, 43, B64URL_CHARS)}",
            jira_project=rng.choice(("SUP", "OPS", "BILL", "CS")),
        )
