"""Redaction of secrets before HTTP requests/responses reach storage."""

from __future__ import annotations

import json
import re

import pytest

from gateway.ingest.redaction import REDACTED, Redactor

R = Redactor()

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc123_-"
AWS = "AKIAIOSFODNN7EXAMPLE"
STRIPE = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
GITHUB = "ghp_" + "aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6"
SLACK = "xoxb-123-456-abc"

# --- names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "Proxy-Authorization",
        "Cookie",
        "Set-Cookie",
        "X-Api-Key",
    ],
)
def test_named_headers_are_redacted(name: str) -> None:
    assert R.headers([(name, "some value")]) == [(name, REDACTED)]


@pytest.mark.parametrize("name", ["authorization", "AUTHORIZATION", "set-cookie", "x-API-key"])
def test_header_names_are_case_insensitive(name: str) -> None:
    assert R.headers([(name, "v")]) == [(name, REDACTED)]


def test_headers_keep_names_order_and_harmless_values() -> None:
    headers = [
        ("X-Request-Id", "abc"),
        ("Authorization", "Bearer abc.def"),
        ("Content-Type", "application/json; charset=utf-8"),
        ("X-Auth-Token", "t0k"),
        ("Accept", "*/*"),
        ("Access-Control-Allow-Credentials", "true"),
    ]
    assert R.headers(headers) == [
        ("X-Request-Id", "abc"),
        ("Authorization", REDACTED),
        ("Content-Type", "application/json; charset=utf-8"),
        ("X-Auth-Token", REDACTED),
        ("Accept", "*/*"),
        ("Access-Control-Allow-Credentials", "true"),
    ]


def test_harmless_header_values_get_value_patterns_and_location_gets_url_rules() -> None:
    out = R.headers(
        [
            ("X-Debug", f"called with {JWT} ok"),
            ("Location", "https://app.example.com/cb?code=1&access_token=abc#x"),
        ]
    )
    assert out == [
        ("X-Debug", f"called with {REDACTED} ok"),
        ("Location", f"https://app.example.com/cb?code=1&access_token={REDACTED}#x"),
    ]


@pytest.mark.parametrize(
    "name",
    [
        "auth",
        "Auth",
        "x-auth-token",
        "oauth_token",
        "authToken",
        "authorization",
        "token",
        "access_token",
        "accessToken",
        "accesstoken",
        "refresh_token",
        "id_token",
        "x-csrftoken",
        "secret",
        "client_secret",
        "clientSecret",
        "clientsecret",
        "password",
        "userPassword",
        "new-password",
        "passwd",
        "api_key",
        "apiKey",
        "APIKey",
        "API_KEY",
        "apikey",
        "x-api-key",
        "credential",
        "credentials",
        "aws.credentials",
        "signature",
        "X-Amz-Signature",
        "X-Amz-Security-Token",
        "session",
        "sessionid",
        "session_id",
        "JSESSIONID",
        "private_key",
        "privateKey",
        "cookie",
        "my secret",
        "password2",
        "auth[token]",
    ],
)
def test_secret_names(name: str) -> None:
    assert R.is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "author",
        "Author",
        "authority",
        ":authority",
        "authored_by",
        "authorName",
        "tokenizer",
        "tokenization",
        "max_tokens",
        "total_tokens",
        "public_key",
        "key",
        "id",
        "X-Request-Id",
        "Content-Type",
        "possession",
        "secretary",
        "passenger",
        "signed_at",
        "WWW-Authenticate",
        "Access-Control-Allow-Credentials",
        "token_type",
        "",
        "---",
    ],
)
def test_harmless_names(name: str) -> None:
    assert not R.is_secret_name(name)


# Names are split into words and matched as whole words; a secret word or a word that names a
# domain (auth, oauth, session, signature) makes the name secret wherever it stands, unless it
# merely qualifies a harmless last word (``token_type``, ``password_changed_at``,
# ``X-OAuth-Scopes``).
SURVIVING_HEADERS = [
    "X-OAuth-Scopes",
    "X-Accepted-OAuth-Scopes",
    "X-Auth-Scopes",
    "X-RateLimit-Remaining",
    "Author",
    "Authority",
    ":authority",
    "Content-Length",
    "X-Request-Id",
    "Accept",
    "ETag",
    "Keep-Alive",
    "X-GitHub-Media-Type",
    "Tokenizer-Version",
    "WWW-Authenticate",
    "Access-Control-Allow-Credentials",
    "X-Session-Timeout",
]
REDACTED_HEADERS = [
    "Authorization",
    "Proxy-Authorization",
    "X-Auth-Token",
    "X-Auth",
    "X-Auth-Key",
    "x-api-key",
    "Api-Key",
    "X-Amz-Security-Token",
    "X-Hub-Signature-256",
    "Set-Cookie",
    "Cookie",
    "X-CSRFToken",
    "X-OAuth-Client-Id",
    "X-Auth-Code",
    "X-Auth-Hash",
    "X-Signature-SHA256",
    "X-Signature-Ed25519",
]


def test_header_names_match_secret_words_as_whole_words() -> None:
    headers = [(name, "v1") for name in SURVIVING_HEADERS + REDACTED_HEADERS]
    redacted = dict(R.headers(headers))
    assert [n for n in SURVIVING_HEADERS if redacted[n] == REDACTED] == []
    assert [n for n in REDACTED_HEADERS if redacted[n] != REDACTED] == []


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        # a domain word names a secret wherever it stands, unless the last word is harmless
        ("oauth", True),
        ("oauth_scopes", False),
        ("auth_type", False),
        ("authMethod", False),
        ("auth2", True),
        ("session", True),
        ("session_timeout", False),
        ("sessionKey", True),
        ("oauth_signature", True),
        ("oauth_signature_method", False),
        ("authentication", True),
        ("authentication_method", False),
        # a secret word before a harmless last word only qualifies it
        ("token_type_hint", False),
        ("token_endpoint", False),
        ("authorization_endpoint", False),
        ("password_changed_at", False),
        ("client_secret_expires_at", False),
        ("refresh_token_expires_in", False),
        # ... but a secret last word, or any other last word, keeps the name secret
        ("password_confirmation", True),
        ("secret_key_base", True),
        ("aws_secret_access_key", True),
        ("auth_token_value", True),
        ("DB_PASSWD", True),
        ("client_secret", True),
        ("refresh_token", True),
        ("accessToken", True),
        ("password", True),
    ],
)
def test_name_words(name: str, secret: bool) -> None:
    assert R.is_secret_name(name) is secret


@pytest.mark.parametrize(
    "name",
    [
        # a domain word before a last word that is not a harmless descriptor
        "auth_code",
        "X-Auth-Code",
        "oauth_verifier",
        "auth_value",
        "auth_pass",
        "X-Auth-Hash",
        "signatureValue",
        "signature_data",
        "X-Signature-SHA256",
        "X-Signature-Ed25519",
        "session_data",
        "session_id",
        "sessionId",
        "X-Session-Id",
        "auth_token",
        "auth_key",
        "oauth_nonce_sig",
        "sig_value",
        # a secret word before a last word that is not a harmless descriptor
        "client_secret_version",
        "token_version",
        "password_value",
    ],
)
def test_domain_and_secret_words_before_other_last_words_are_secret(name: str) -> None:
    assert R.is_secret_name(name)
    assert R.headers([(name, "v1")]) == [(name, REDACTED)]
    assert R.json_value({name: "v1"}) == {name: REDACTED}


@pytest.mark.parametrize(
    "name",
    [
        "X-OAuth-Scopes",
        "token_type",
        "password_changed_at",
        "auth_type",
        "session_timeout",
        "auth_url",
        "oauth_signature_method",
        "session_expires",
        "auth_scheme",
        "auth_realm",
        "authMode",
        "auth_required",
        "signature_length",
        "secretName",
    ],
)
def test_secret_and_domain_words_before_a_harmless_last_word_only_qualify_it(name: str) -> None:
    assert not R.is_secret_name(name)


def test_extra_name_words_are_whole_words_in_sequence() -> None:
    redactor = Redactor(extra_name_words=("pin", "tenant-key", "scope"))
    assert redactor.is_secret_name("X-Card-PIN")
    assert redactor.is_secret_name("cardPin")
    assert not redactor.is_secret_name("spin")
    assert not redactor.is_secret_name("pin_length")
    assert redactor.is_secret_name("tenantKey")
    assert redactor.is_secret_name("X-Tenant-Key-V2")
    assert redactor.is_secret_name("tenantkey")
    assert not redactor.is_secret_name("tenant")
    assert not redactor.is_secret_name("key_tenant")
    # an extra word that is also a harmless last word is still secret where it is the last word
    assert redactor.is_secret_name("x-scope")
    assert not R.is_secret_name("x-scope")


# --- URLs -------------------------------------------------------------------------------


def test_url_query_params_redacted_rest_byte_identical() -> None:
    url = "https://api.example.com/v1/items?page=2&api_key=abc123&q=a%20b+c&sort=-name"
    assert R.url(url) == (
        f"https://api.example.com/v1/items?page=2&api_key={REDACTED}&q=a%20b+c&sort=-name"
    )


def test_url_repeated_and_encoded_param_names() -> None:
    url = "https://x.test/p?token=a&Token=b&x=1&access%5Ftoken=c&client+secret=d&e="
    assert R.url(url) == (
        f"https://x.test/p?token={REDACTED}&Token={REDACTED}&x=1"
        f"&access%5Ftoken={REDACTED}&client+secret={REDACTED}&e="
    )


def test_url_encoded_secret_value_is_redacted_whole() -> None:
    assert R.url("https://x.test/?password=p%40ss%26w0rd&a=%E2%9C%93") == (
        f"https://x.test/?password={REDACTED}&a=%E2%9C%93"
    )


def test_url_fragment_is_kept_and_fragment_params_are_redacted() -> None:
    assert R.url("https://x.test/a?b=1#section-2") == "https://x.test/a?b=1#section-2"
    assert R.url("https://x.test/cb#access_token=abc&state=xyz") == (
        f"https://x.test/cb#access_token={REDACTED}&state=xyz"
    )
    assert R.url("https://x.test/a?token=t#frag?token=keep-the-hash") == (
        f"https://x.test/a?token={REDACTED}#frag?token={REDACTED}"
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.com/v1/users/42",
        "https://api.example.com/v1/users/42?",
        "https://api.example.com/search?q=tokenization&author=me&authority=x&page=1#top",
        "https://api.example.com/search?q=%C3%A9t%C3%A9&flag&empty=&a=1&a=2",
        "/relative/path?x=1",
        "https://user@example.com/path",
        "mailto:someone@example.com",
        "",
    ],
)
def test_harmless_urls_are_untouched(url: str) -> None:
    assert R.url(url) == url


def test_url_userinfo_password_is_redacted() -> None:
    assert R.url("https://alice:s3cr3t@db.example.com:5432/x?y=1") == (
        f"https://alice:{REDACTED}@db.example.com:5432/x?y=1"
    )
    assert R.url("redis://:hunter2@cache:6379/0") == f"redis://:{REDACTED}@cache:6379/0"


def test_url_value_patterns_apply_everywhere() -> None:
    assert R.url(f"https://x.test/hook/{GITHUB}?jwt_like={JWT}") == (
        f"https://x.test/hook/{REDACTED}?jwt_like={REDACTED}"
    )


# --- JSON ---------------------------------------------------------------------------------


def test_json_keys_at_depth_inside_lists() -> None:
    value = {
        "data": [
            {"user": {"name": "Ann", "password": "hunter2", "age": 30}},
            {"user": {"name": "Bob", "apiKey": {"nested": "object"}, "tags": ["a", "b"]}},
        ],
        "meta": {"items": [[{"refresh_token": "r", "count": 2}]]},
    }
    original = json.loads(json.dumps(value))
    assert R.json_value(value) == {
        "data": [
            {"user": {"name": "Ann", "password": REDACTED, "age": 30}},
            {"user": {"name": "Bob", "apiKey": REDACTED, "tags": ["a", "b"]}},
        ],
        "meta": {"items": [[{"refresh_token": REDACTED, "count": 2}]]},
    }
    assert value == original  # the input is not mutated


def test_json_value_is_a_deep_copy() -> None:
    value = {"a": {"b": [1, 2]}}
    copied = R.json_value(value)
    assert copied == value
    assert isinstance(copied, dict)
    assert copied["a"] is not value["a"]
    assert copied["a"]["b"] is not value["a"]["b"]


def test_json_secret_keys_keep_null_and_booleans() -> None:
    value = {"password": None, "requires_auth": True, "token": 12345, "secret": ""}
    assert R.json_value(value) == {
        "password": None,
        "requires_auth": True,
        "token": REDACTED,
        "secret": REDACTED,
    }


def test_json_value_nested_too_deeply_to_walk_is_redacted_whole() -> None:
    # given a value nested far deeper than the interpreter's recursion limit
    value: object = {"password": "hunter2"}
    for _ in range(100_000):
        value = [value]
    # when it is redacted, then nothing of it is kept
    assert R.json_value(value) == REDACTED
    assert R.json_value({"a": value, "b": 1}) == REDACTED


def test_json_scalars_and_value_patterns_in_strings() -> None:
    assert R.json_value(None) is None
    assert R.json_value(3.5) == 3.5
    assert R.json_value(f"jwt: {JWT}") == f"jwt: {REDACTED}"
    assert R.json_value(["ok", {"note": f"key {AWS} leaked"}]) == [
        "ok",
        {"note": f"key {REDACTED} leaked"},
    ]


# --- value patterns ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "secret",
    [
        JWT,
        "Bearer abc.def",
        "bearer eyJhbGciOiJIUzI1NiJ9",
        AWS,
        "ASIAY34FZKBOKMUTVV7A",
        STRIPE,
        "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
        GITHUB,
        "gho_" + "x" * 36,
        "ghs_" + "Y1" * 18,
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
        SLACK,
        "xoxp-1234-5678-abcdef",
        "AIzaSyA-abcdefghijklmnopqrstuvwxyz01234",
        "sk-proj-Abc123def456GHI789jkl012",
        "glpat-abcdefghij0123456789",
        "Basic dXNlcjpwYXNzd29yZA==",
    ],
)
def test_value_patterns_in_free_text(secret: str) -> None:
    assert R.text(f"prefix {secret} suffix") == f"prefix {REDACTED} suffix"
    assert R.text(secret) == REDACTED
    assert R.text(f"({secret}),") == f"({REDACTED}),"


def test_value_patterns_inside_json_strings_in_a_body() -> None:
    body = json.dumps(
        {"log": ["auth with Bearer abc.def", {"deep": {"msg": f"{STRIPE} / {SLACK}"}}]}
    )
    assert json.loads(R.body(body) or "") == {
        "log": [f"auth with {REDACTED}", {"deep": {"msg": f"{REDACTED} / {REDACTED}"}}]
    }


def test_pem_private_key_and_connection_string() -> None:
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAK==\n-----END RSA PRIVATE KEY-----"
    assert R.text(f"key:\n{pem}\nbye") == f"key:\n{REDACTED}\nbye"
    assert R.text("dsn=postgres://app:hunter2@db:5432/app") == (
        f"dsn=postgres://app:{REDACTED}@db:5432/app"
    )


@pytest.mark.parametrize(
    "text",
    [
        "tokenization is a step of every tokenizer",
        "The author has authority over the session plan.",
        "Send a Bearer token in the Authorization header.",
        "Basic authentication is discouraged",
        "sk-learn-tutorial-for-absolute-beginners",
        "skyAKIAIOSFODNN7EXAMPLEX",
        "ghp_short",
        "id=42, name=Zoë, price=9.99 €, at 2024-05-01T10:00:00Z",
        "https://example.com:8080/path@v2",
        "",
    ],
)
def test_harmless_text_is_untouched(text: str) -> None:
    assert R.text(text) == text


def test_text_is_idempotent() -> None:
    once = R.text(f"a {JWT} b Bearer abc.def c {AWS}")
    assert R.text(once) == once


# --- bodies -------------------------------------------------------------------------------


def test_body_none_and_empty() -> None:
    assert R.body(None) is None
    assert R.body("") == ""


def test_harmless_json_body_is_returned_byte_for_byte() -> None:
    body = (
        '{\n  "id": 1, "price": 1.50, "big": 12345678901234567890, "exp": 1e3,\n'
        '  "name": "Zoë ✓ \\u00e9", "author": "Ann", "authority": "x.example",\n'
        '  "nested": {"list": [1, 2.0, null, true, {"max_tokens": 256}]}\n}'
    )
    assert R.body(body) is body


def test_json_body_with_secret_is_reserialised_compactly_in_order() -> None:
    body = '{ "z": 1, "password": "p", "a": {"ünï": "ç", "token": "t"}, "n": [1.5] }'
    assert R.body(body) == (
        '{"z":1,"password":"[REDACTED]","a":{"ünï":"ç","token":"[REDACTED]"},"n":[1.5]}'
    )


def test_json_array_body() -> None:
    assert R.body('[{"secret": "s"}, 2]') == '[{"secret":"[REDACTED]"},2]'
    assert R.body("[1, 2, 3]") == "[1, 2, 3]"


def test_json_body_is_idempotent() -> None:
    once = R.body('{"token": "t", "msg": "Bearer abc.def"}')
    assert once == '{"token":"[REDACTED]","msg":"[REDACTED]"}'
    assert R.body(once) is once


def test_json_embedded_in_json_strings_is_redacted() -> None:
    inner = json.dumps({"client_secret": "s", "ok": 1})
    body = json.dumps({"request": {"body": inner, "url": "https://x.test/?token=t&a=1"}})
    out = json.loads(R.body(body) or "")
    assert json.loads(out["request"]["body"]) == {"client_secret": REDACTED, "ok": 1}
    assert out["request"]["url"] == f"https://x.test/?token={REDACTED}&a=1"


def test_form_urlencoded_body() -> None:
    body = "grant_type=password&username=ann&password=p%40ss&client_secret=s&scope=read+write"
    assert R.body(body) == (
        f"grant_type=password&username=ann&password={REDACTED}"
        f"&client_secret={REDACTED}&scope=read+write"
    )
    assert R.body("a=1&b=2&author=me") == "a=1&b=2&author=me"


def test_invalid_or_truncated_json_still_redacts_secret_keys() -> None:
    body = '{"user": "ann", "password": "hunter2", "nested": {"api_key": 12, "x": 1}, "token": "abc'
    assert R.body(body) == (
        f'{{"user": "ann", "password": "{REDACTED}", "nested": {{"api_key": "{REDACTED}",'
        f' "x": 1}}, "token": "{REDACTED}"'
    )


def test_plain_text_body() -> None:
    assert (
        R.body(f"error: bad credentials for {AWS}\n") == f"error: bad credentials for {REDACTED}\n"
    )
    assert R.body("just words, tokenization\nand lines") == "just words, tokenization\nand lines"
    assert R.body("<xml a='1'>ok</xml>") == "<xml a='1'>ok</xml>"


def test_large_body_completes() -> None:
    items = [
        {
            "id": i,
            "name": f"item {i} ✓",
            "url": f"https://cdn.example.com/{i}.png?w=64",
            "note": "tokenization " * 3,
        }
        for i in range(1500)
    ]
    body = json.dumps(items)
    body = body[:-1] + ',{"password": "p"}]'
    assert len(body) > 200 * 1024
    out = R.body(body)
    assert out is not None
    assert json.loads(out)[-1] == {"password": REDACTED}
    assert R.body(json.dumps(items)) is not None

    # Adversarial free text: near-misses for every pattern, no whitespace, 256 KiB.
    near_misses = 'eyJ-%20eyJ.://:a:b-----BEGIN Bearer+ AKIA sk_live_ ghp_ xox- "a":'
    text = (near_misses * (256 * 1024 // len(near_misses) + 1))[: 256 * 1024]
    assert R.body(text) is not None
    assert R.text("x" * 256 * 1024) == "x" * 256 * 1024


# --- configuration ----------------------------------------------------------------------


def test_extra_name_words() -> None:
    redactor = Redactor(extra_name_words=("pin", "X-Tenant-Key"))
    assert redactor.is_secret_name("card_pin")
    assert redactor.is_secret_name("X-Tenant-Key")
    assert not redactor.is_secret_name("pinned")
    assert not R.is_secret_name("card_pin")
    assert redactor.headers([("X-Tenant-Key", "k")]) == [("X-Tenant-Key", REDACTED)]
    assert redactor.json_value({"pin": 1234}) == {"pin": REDACTED}


def test_extra_value_patterns() -> None:
    redactor = Redactor(extra_value_patterns=(r"\bacme_[0-9a-f]{8}\b",))
    assert redactor.text("key acme_deadbeef here") == f"key {REDACTED} here"
    assert R.text("key acme_deadbeef here") == "key acme_deadbeef here"
    assert redactor.body('{"note": "acme_deadbeef"}') == '{"note":"[REDACTED]"}'


def test_config_lists_are_accepted_and_bad_patterns_fail_fast() -> None:
    redactor = Redactor(extra_name_words=["pin"], extra_value_patterns=["foo"])  # type: ignore[arg-type]
    assert redactor.extra_name_words == ("pin",)
    assert redactor.text("foo") == REDACTED
    assert redactor == Redactor(("pin",), ("foo",))
    with pytest.raises(re.error):
        Redactor(extra_value_patterns=("(unclosed",))
