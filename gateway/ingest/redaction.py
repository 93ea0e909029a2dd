"""Redaction of secrets in stored HTTP requests/responses; nothing secret may reach storage.

Two rules, both applied by :class:`Redactor`:

* **Names.** The value of a header, JSON key (any depth), query/form/fragment parameter or
  JSON-looking ``"key": value`` pair in free text whose *name* looks secret becomes
  ``[REDACTED]``. See :meth:`Redactor.is_secret_name` for the (token-based) name rule.
* **Values.** Substrings that look like well-known credentials are replaced wherever they
  appear: JWT/JWE, ``Bearer …``, ``Basic <base64 user:pass>``, AWS access key ids, Stripe
  ``sk_live_…``/``sk_test_…``/``rk_…``/``whsec_…``, GitHub ``ghp_…``/``gho_…``/``ghs_…``/
  ``github_pat_…``, Slack ``xox?-…``/``xapp-…``/webhook URLs, Google ``AIza…``, OpenAI/Anthropic
  ``sk-…``, GitLab ``glpat-…``, npm ``npm_…``, SendGrid ``SG.….…``, PEM private keys and the
  password in ``scheme://user:password@host``.

Every pattern starts with a literal (so the regex engine skips hopeless positions quickly),
token-like patterns refuse to start inside a longer token, and possessive quantifiers keep the
scan linear in the input size (no catastrophic backtracking on 256 KiB bodies).
Extra name words and value regexes come from settings (``redact_name_words``,
``redact_value_patterns``).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from dataclasses import dataclass
from urllib.parse import unquote_plus

__all__ = [
    "DEFAULT_HEAD_WORDS",
    "DEFAULT_NAME_WORDS",
    "DEFAULT_VALUE_PATTERNS",
    "REDACTED",
    "Redactor",
]

REDACTED = "[REDACTED]"

# --- the name rule -------------------------------------------------------------------------

#: A name is secret if a run of its adjacent words, joined, is one of these, wherever in the
#: name it stands (``X-Api-Key``: ``api``+``key`` → ``apikey``).
DEFAULT_NAME_WORDS: frozenset[str] = frozenset(
    {
        "token", "secret", "secrets", "password", "passwords", "passwd", "pwd", "passphrase",
        "authorization", "credential", "credentials", "jwt", "bearer",
        "sessionid", "sessid", "jsessionid", "phpsessid", "cookie", "cookies",
        "apikey", "accesskey", "privatekey", "privkey", "secretkey", "signingkey",
        "encryptionkey", "masterkey", "authkey", "sessionkey",
    }
)  # fmt: skip
#: Words that name a *domain* of secrets (``auth``, ``X-Auth-Code``, ``session_data``,
#: ``X-Signature-Ed25519``): secret wherever they stand, like the words above, unless the
#: name's last word is a harmless descriptor (``X-OAuth-Scopes``, ``auth_type``,
#: ``session_timeout``, ``oauth_signature_method``).
DEFAULT_HEAD_WORDS: frozenset[str] = frozenset(
    {"auth", "oauth", "authn", "authz", "authentication", "session", "signature", "sig"}
)
#: A word that *ends* with one of these is secret too: run-together compounds such as
#: ``accesstoken``, ``clientsecret``, ``csrftoken`` (no English word ends with them).
_SECRET_SUFFIXES = ("token", "secret", "password", "passwd", "apikey", "sessionid", "privatekey")
#: Last words that describe something about a secret rather than hold one: a secret or domain
#: word before them only qualifies them (``token_type``, ``token_endpoint``,
#: ``password_changed_at``, ``client_secret_expires_at``, ``expires_in``, ``secretName``).
#: Kept short on purpose: any other last word (``id``, ``key``, ``code``, ``value``, ``data``,
#: ``hash``, ``version``, ``sha256``) keeps the name secret.
_HARMLESS_HEADS = frozenset(
    {
        "type", "types", "hint", "endpoint", "url", "uri", "method", "methods", "supported",
        "scheme", "realm", "mode", "expires", "expiry", "expiration", "ttl", "timeout",
        "length", "count", "format", "scope", "scopes", "name", "names", "enabled",
        "required", "at", "in",
    }
)  # fmt: skip
#: Well-known harmless names that the rules above would otherwise catch (compared without
#: separators, lower-cased).
_NOT_SECRET_NAMES = frozenset({"accesscontrolallowcredentials"})

_NAME_TOKEN_RE = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_NON_ALNUM_RE = re.compile(r"[^a-z0-9]+")

# --- the value rule ------------------------------------------------------------------------

_TOKEN_CHARS = "[A-Za-z0-9_-]"
_WORD_CHARS = "[A-Za-z0-9_]"
_SEP = r"(?:\s++|%20|\+)"


def _starting(prefixes: tuple[str, ...], rest: str, not_after: str = _TOKEN_CHARS) -> str:
    """``prefix`` + ``rest`` for each prefix, only where the prefix does not continue a token.

    The prefix must not follow a ``not_after`` character, unless it follows a percent-escape
    (``%20``, ``%3D``). Every alternative starts with a literal so the regex engine can skip
    positions that cannot start a match, which keeps the scan fast; the look-behinds come after
    the literal for that reason.
    """
    alternatives = []
    for prefix in prefixes:
        p = re.escape(prefix)
        alternatives.append(f"{p}(?:(?<!{not_after}{p})|(?<=%[0-9A-Fa-f]{{2}}{p})){rest}")
    return "|".join(alternatives)


_B64URL = "[A-Za-z0-9_-]"

#: Built-in value patterns, ``(kind, regex)``. Each is an alternation whose branches start with
#: a literal; possessive quantifiers keep matching linear. ``bearer``, ``basic``, ``sk_dash`` and
#: ``userinfo`` matches are checked further in :meth:`Redactor._replace`.
DEFAULT_VALUE_PATTERNS: tuple[tuple[str, str], ...] = (
    # header.payload.signature (JWS) or up to five segments (JWE); segments are base64url.
    (
        "jwt",
        _starting(
            ("eyJ",),
            rf"{_B64URL}{{8,}}+\.{_B64URL}*+\.{_B64URL}*+(?:\.{_B64URL}++){{0,2}}",
        ),
    ),
    (
        "bearer",
        _starting(("Bearer", "bearer", "BEARER"), _SEP + r"[A-Za-z0-9._~+/-]++=*+", _WORD_CHARS),
    ),
    (
        "basic",
        _starting(
            ("Basic", "basic", "BASIC"),
            _SEP + r"[A-Za-z0-9+/]{6,}+={0,2}+(?![A-Za-z0-9._-])",
            _WORD_CHARS,
        ),
    ),
    ("aws", _starting(("AKIA", "ASIA", "ABIA", "ACCA"), r"[A-Z0-9]{16}(?![A-Za-z0-9])")),
    ("stripe", _starting(("sk_", "rk_"), r"(?:live|test)_[A-Za-z0-9]{10,}+")),
    ("stripe_webhook", _starting(("whsec_",), r"[A-Za-z0-9]{20,}+")),
    ("github", _starting(("gh",), r"[pousr]_[A-Za-z0-9]{30,}+")),
    ("github_pat", _starting(("github_pat_",), r"[A-Za-z0-9_]{20,}+")),
    ("slack", _starting(("xox",), r"[abposrce]-[A-Za-z0-9][A-Za-z0-9-]*+")),
    ("slack_app", _starting(("xapp-",), r"[0-9]-[A-Za-z0-9-]++")),
    ("slack_webhook", r"hooks\.slack\.com/services/[A-Za-z0-9/_-]++"),
    ("google", _starting(("AIza",), rf"{_B64URL}{{35}}(?!{_B64URL})")),
    ("sk_dash", _starting(("sk-",), rf"{_B64URL}{{20,}}+")),
    ("gitlab", _starting(("glpat-",), rf"{_B64URL}{{20,}}+")),
    ("npm", _starting(("npm_",), r"[A-Za-z0-9]{36}(?![A-Za-z0-9])")),
    ("sendgrid", _starting(("SG.",), rf"{_B64URL}{{22}}\.{_B64URL}{{43}}(?!{_B64URL})")),
    (
        "private_key",
        r"-----BEGIN[A-Z ]{0,40}PRIVATE KEY(?: BLOCK)?-----(?:[^-]|-(?!----END))*+"
        r"(?:-----END[A-Z ]{0,40}PRIVATE KEY(?: BLOCK)?-----)?",
    ),
    # the password of scheme://user:password@host
    ("userinfo", r"://[^\s/:@\"'<>\\]*+:[^\s/@\"'<>\\]{1,256}+@"),
)

_RANDOMISH = frozenset("0123456789-._~+/=")

# --- structured-text helpers ---------------------------------------------------------------

_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,30}+://\S*+")
_FORM_RE = re.compile(r"[^\s=&]++=\S*+")
# ``"key": value`` pairs in text that is not valid JSON (e.g. truncated, or JSON inside a log
# line). The string value may lack its closing quote (truncated); then the rest is redacted.
_JSONISH_PAIR_RE = re.compile(
    r'"(?P<key>[^"\\\n]{1,200}+)"\s*+:\s*+(?P<value>"(?:[^"\\]|\\[\s\S])*+"?|[^\s,{}\[\]"]++)'
)
_MAX_EMBED_DEPTH = 3  # JSON inside a JSON string inside … is parsed this many levels deep
_URL_HEADERS = frozenset({"location", "content-location", "referer", "referrer"})


def _flat(name: str) -> str:
    return _NON_ALNUM_RE.sub("", name.lower())


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


_INVALID = object()


def _parse_json_container(text: str) -> object:
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return _INVALID
    return parsed if isinstance(parsed, dict | list) else _INVALID


@dataclass(frozen=True)
class Redactor:
    """Built once from settings; thread-safe, pure.

    ``extra_name_words`` are added to the secret name words, as whole words: ``"pin"``
    matches ``card_pin`` and ``X-Card-PIN``, not ``spin``; a multi-word entry matches its words
    in sequence or run together (``"tenant-key"`` matches ``X-Tenant-Key``, ``tenantKey``,
    ``tenantkey``).
    ``extra_value_patterns`` are extra regexes; every match is replaced with ``[REDACTED]``.
    Invalid regexes raise :class:`re.error` when the redactor is built.
    """

    extra_name_words: tuple[str, ...] = ()
    extra_value_patterns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Accept lists from settings; build (and validate) the compiled state eagerly.
        object.__setattr__(self, "extra_name_words", tuple(self.extra_name_words))
        object.__setattr__(self, "extra_value_patterns", tuple(self.extra_value_patterns))
        _ = self._words, self._value_re, self._extra_res

    @functools.cached_property
    def _words(self) -> frozenset[str]:
        return DEFAULT_NAME_WORDS | ({_flat(word) for word in self.extra_name_words} - {""})

    @functools.cached_property
    def _value_re(self) -> re.Pattern[str]:
        return re.compile("|".join(regex for _, regex in DEFAULT_VALUE_PATTERNS))

    @functools.cached_property
    def _extra_res(self) -> tuple[re.Pattern[str], ...]:
        return tuple(re.compile(pattern) for pattern in self.extra_value_patterns)

    # --- names -------------------------------------------------------------------------

    def is_secret_name(self, name: str) -> bool:
        """Whether values under this header/key/parameter name must be redacted.

        The name is split into words on anything that is not an ASCII letter or digit
        (``-``, ``_``, ``.``, spaces, brackets, …) and on camelCase/digit boundaries, then
        lower-cased: ``X-OAuth-Scopes`` → ``x oauth scopes``, ``apiKey`` → ``api key``,
        ``APIKey`` → ``api key``. Its *last word* is the last one that is not a number. The
        name is secret if

        1. a run of adjacent words, joined, is a secret word (``token``, ``secret``,
           ``password``, ``passwd``, ``cookie``, ``authorization``, ``credentials``,
           ``apikey`` from ``api key``, ``privatekey``, … plus ``extra_name_words``), or a word
           ends with ``token``, ``secret``, ``password``, ``passwd``, ``apikey``, ``sessionid``
           or ``privatekey`` (``accesstoken``, ``clientsecret``, ``x-csrftoken``); unless the
           match ends before a harmless last word (``type``, ``hint``, ``endpoint``,
           ``expires``, ``at``, ``in``, ``scopes``, …): ``token_type``, ``token_endpoint``,
           ``password_changed_at`` describe a secret without holding it; or
        2. a word (or run) is a domain word: ``auth``, ``oauth``, ``authn``, ``authz``,
           ``authentication``, ``session``, ``signature``, ``sig`` (``X-Auth``,
           ``X-Auth-Code``, ``session_id``, ``X-Hub-Signature-256``, ``signatureValue``),
           with the same exception: ``X-OAuth-Scopes``, ``auth_type``, ``session_timeout``
           are not secret.

        Fail-safe: a harmless last word is one of a short list of descriptors; any other
        last word (``id``, ``key``, ``code``, ``value``, ``data``, ``version``) keeps the
        name secret.

        Whole words only: ``author``, ``authority``, ``tokenizer``, ``max_tokens``,
        ``public_key``, ``key`` are not secret. ``Access-Control-Allow-Credentials`` is
        exempt by name.
        """
        return _is_secret_name(self._words, name)

    # --- values ------------------------------------------------------------------------

    def text(self, value: str) -> str:
        """Replace every secret-looking substring of free text with ``[REDACTED]``."""
        if not value:
            return value
        result = self._value_re.sub(self._replace, value)
        for pattern in self._extra_res:
            result = pattern.sub(REDACTED, result)
        return result

    @staticmethod
    def _replace(match: re.Match[str]) -> str:
        found = match[0]
        head = found[:6].lower()
        if head == "bearer":
            token = _after_scheme(found[6:])
            core = token.rstrip(".,;:")
            if len(core) >= 20 or any(ch in _RANDOMISH for ch in core):
                return REDACTED + token[len(core) :]
            return found  # prose such as "send a Bearer token."
        if head.startswith("basic"):
            return REDACTED if _is_basic_credential(_after_scheme(found[5:])) else found
        if head.startswith("sk-"):
            if any(ch.isdigit() for ch in found) and any(ch.isupper() for ch in found):
                return REDACTED
            return found  # a kebab-case slug such as "sk-learn-tutorial-for-beginners"
        if head.startswith("://"):
            user = found[3:].partition(":")[0]
            return f"://{user}:{REDACTED}@"
        return REDACTED

    def headers(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Names kept; the value is ``[REDACTED]`` for a secret name, else :meth:`text` (or
        :meth:`url` for ``Location``/``Content-Location``/``Referer``)."""
        out: list[tuple[str, str]] = []
        for name, value in headers:
            if self.is_secret_name(name):
                out.append((name, REDACTED))
            elif name.lower() in _URL_HEADERS:
                out.append((name, self.url(value)))
            else:
                out.append((name, self.text(value)))
        return out

    def url(self, url: str) -> str:
        """Redact secret-named query (and fragment) parameters and the userinfo password.

        Everything else is kept byte for byte (order, encoding, repeated parameters), then
        :meth:`text` runs over the result.
        """
        base, hash_, fragment = url.partition("#")
        path, question, query = base.partition("?")
        scheme_end = path.find("://")
        if scheme_end != -1:
            host_start = scheme_end + 3
            slash = path.find("/", host_start)
            host_end = len(path) if slash == -1 else slash
            netloc = path[host_start:host_end]
            at = netloc.rfind("@")
            if at != -1:
                user, colon, password = netloc[:at].partition(":")
                if colon and password:
                    netloc = f"{user}:{REDACTED}{netloc[at:]}"
                    path = path[:host_start] + netloc + path[host_end:]
        if question:
            query = self._redact_pairs(query)
        if hash_ and "=" in fragment:
            fragment = self._redact_pairs(fragment)  # e.g. OAuth implicit flow #access_token=
        return self.text(f"{path}{question}{query}{hash_}{fragment}")

    def _redact_pairs(self, pairs: str) -> str:
        """``a=1&token=x`` → ``a=1&token=[REDACTED]``; untouched pairs keep their bytes."""
        parts = pairs.split("&")
        for i, part in enumerate(parts):
            name, eq, value = part.partition("=")
            if (
                eq
                and value.strip("=")  # empty, or base64 padding rather than a value
                and value != REDACTED
                and self.is_secret_name(unquote_plus(name))
            ):
                parts[i] = f"{name}={REDACTED}"
        return "&".join(parts)

    def json_value(self, value: object) -> object:
        """Deep copy of a JSON-like value with secrets redacted.

        A dict key that is a secret name gets the value ``[REDACTED]`` (whatever it was,
        except ``null``/``true``/``false``, which cannot carry a secret and are kept). Other
        strings (keys too) go through :meth:`text`; string values holding JSON, a URL or a
        form-encoded string are redacted structurally, like :meth:`body`. A value nested too
        deeply to walk (the ingest checks refuse such values first) is ``[REDACTED]`` whole.
        """
        try:
            return self._walk(value, 0)[0]
        except RecursionError:  # fail closed
            return REDACTED

    def _walk(self, value: object, depth: int) -> tuple[object, bool]:
        """Returns ``(redacted copy, whether anything changed)``."""
        if isinstance(value, str):
            redacted = self._string(value, depth + 1)
            return redacted, redacted != value
        if isinstance(value, dict):
            out: dict[object, object] = {}
            changed = False
            for key, item in value.items():
                if isinstance(key, str) and self.is_secret_name(key):
                    if item is None or isinstance(item, bool) or item == REDACTED:
                        out[key] = item
                    else:
                        out[key] = REDACTED
                        changed = True
                    continue
                new_key = self.text(key) if isinstance(key, str) else key
                new_item, item_changed = self._walk(item, depth)
                changed = changed or item_changed or new_key != key
                out[new_key] = new_item
            return out, changed
        if isinstance(value, list | tuple):
            items: list[object] = []
            changed = False
            for item in value:
                new_item, item_changed = self._walk(item, depth)
                changed = changed or item_changed
                items.append(new_item)
            return (items if isinstance(value, list) else tuple(items)), changed
        return value, False

    def body(self, body: str | None) -> str | None:
        """Redact a request/response body.

        * JSON object/array: :meth:`json_value`, re-serialised compactly (key order kept) —
          only if something changed, otherwise the original string is returned unchanged.
        * A bare URL: :meth:`url`.
        * ``application/x-www-form-urlencoded`` (``k=v&k2=v2``, no whitespace): secret-named
          fields redacted.
        * Anything else (including invalid/truncated JSON): ``"key": value`` pairs with a
          secret key are redacted, then :meth:`text`.
        """
        if body is None:
            return None
        return self._string(body, 0)

    def _string(self, value: str, depth: int) -> str:
        if not value:
            return value
        first = value.lstrip()[:1]
        if first == "{" or first == "[":
            parsed = _INVALID if depth > _MAX_EMBED_DEPTH else _parse_json_container(value)
            if parsed is not _INVALID:
                try:
                    redacted, changed = self._walk(parsed, depth)
                except RecursionError:  # absurdly deep nesting: fail closed
                    return REDACTED
                return _dumps(redacted) if changed else value
        elif _URL_RE.fullmatch(value):
            return self.url(value)
        elif _FORM_RE.fullmatch(value):
            return self.text(self._redact_pairs(value))
        if '"' in value:
            value = _JSONISH_PAIR_RE.sub(self._replace_jsonish_pair, value)
        return self.text(value)

    def _replace_jsonish_pair(self, match: re.Match[str]) -> str:
        value = match["value"]
        if value in ("null", "true", "false", f'"{REDACTED}"') or not self.is_secret_name(
            match["key"]
        ):
            return match[0]
        start = match.start("value") - match.start()
        return f'{match[0][:start]}"{REDACTED}"'


@functools.lru_cache(maxsize=16384)
def _is_secret_name(words: frozenset[str], name: str) -> bool:
    """See :meth:`Redactor.is_secret_name`; cached because the same names recur constantly."""
    flat = _flat(name)
    if not flat or flat in _NOT_SECRET_NAMES:
        return False
    tokens = [raw.lower() for raw in _NAME_TOKEN_RE.findall(name)]
    head = max((i for i, token in enumerate(tokens) if not token.isdigit()), default=-1)
    if head < 0:
        return False
    qualifies_only = head > 0 and tokens[head] in _HARMLESS_HEADS
    longest = max(_LONGEST_HEAD_WORD, max(map(len, words), default=0))
    for start in range(len(tokens)):
        joined = ""
        for end in range(start, len(tokens)):
            joined += tokens[end]
            if len(joined) > longest:
                break
            if (
                joined in words
                or joined in DEFAULT_HEAD_WORDS
                or (end == start and joined.endswith(_SECRET_SUFFIXES))
            ) and (end >= head or not qualifies_only):
                return True
    return False


_LONGEST_HEAD_WORD = max(map(len, DEFAULT_HEAD_WORDS))


def _after_scheme(rest: str) -> str:
    """The credential after ``Bearer``/``Basic`` and its separator (spaces, ``%20`` or ``+``)."""
    rest = rest.lstrip()
    if rest.startswith("%20"):
        return rest[3:]
    return rest[1:] if rest.startswith("+") else rest


def _is_basic_credential(token: str) -> bool:
    """Whether ``token`` is base64 of printable ``user:password`` (not just a word)."""
    try:
        decoded = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
        text = decoded.decode("utf-8")
    except (binascii.Error, ValueError):
        return False
    return ":" in text and text.isprintable()
