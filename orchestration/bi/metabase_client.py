"""Metabase HTTP client that is safe to point at a real instance, with one-line errors.

Any failure becomes a `MetabaseError` whose str() is one line, `METHOD /path → status: message` (print it as
`MetabaseError: PUT /api/card/12 → 400: …`). What it guarantees (issue 19, metabase/README.md "Safety"):

* **a timeout on every call**, the login and the re-login included (`timeout` seconds to connect and between two
  reads): a Metabase that accepts the connection and never answers fails the call in one line instead of hanging;
* **no redirect is followed**: a 3xx is an error naming where it pointed (with its secrets redacted). requests
  would re-send the login's password on a 307/308 and keep the `X-Metabase-Session` header on any redirect, even
  to another host; every request also goes to the configured host only;
* **`http://` only for a local host** (localhost, 127.0.0.0/8, ::1) unless `allow_http=True`
  (`METABASE_ALLOW_HTTP=1`): the password and the session would cross the network in clear text;
* **secrets redacted** from every message: the password, the session id, any other secret the caller registers
  (the warehouse passwords it sends in connection details) and `password`-like fields, as they are or JSON- and
  URL-encoded, so a proxy that echoes the request into its error body prints `***`;
* **logout** (`DELETE /api/session`) by `close()`; use the client as a context manager.

It logs in with `POST /api/session` and logs in again once when a call answers 401 (an expired session).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import json
import re
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

DEFAULT_TIMEOUT_SECONDS = 30.0
REDACTED = "***"
# `"password": "x"` (JSON, as a proxy echoes a body) and `password=x` (forms, query strings); not `password: x`,
# which is how Metabase's own error maps read ("password: did not match stored password")
_NAMES = r"(?:password|passwd|secret|token|api[_-]?key|x-metabase-session|x-api-key)"
_SECRET_FIELDS = re.compile(  # the backslashes: a JSON body echoed inside another JSON string
    rf"""(?P<key>\\*(?P<q>["']){_NAMES}\\*(?P=q)\s*:\s*|\b{_NAMES}=)(?P<quote>\\*["']?)(?P<value>[^"'&,;\s}}\\]*)""",
    re.IGNORECASE,
)
_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)


class MetabaseError(RuntimeError):
    """A failed Metabase request or an unusable Metabase state, in one line."""


class Redactor:
    """Replaces registered secrets (and password-like fields, and user:password@ in URLs) with `***`."""

    def __init__(self, *secrets: str | None):
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if not secret or len(secret) < 3:  # a one- or two-character "secret" would redact ordinary words
            return
        spellings = {secret, quote(secret, safe=""), quote_plus(secret)}
        for _ in range(2):  # as JSON, and as JSON inside JSON (a proxy echoing a request body in its own JSON)
            spellings |= {json.dumps(s, ensure_ascii=a)[1:-1] for s in spellings for a in (True, False)}
        self._secrets.update(spellings)

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        text = _SECRET_FIELDS.sub(lambda m: f"{m['key']}{m['quote']}{REDACTED}", text)
        return _URL_USERINFO.sub(lambda m: f"{m['scheme']}{REDACTED}@", text)


def is_local_host(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: str, allow_http: bool = False) -> str:
    """The base URL without a trailing /, or one line saying why it is refused."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MetabaseError(f"METABASE_URL must be an http(s) URL with a host, not {Redactor()(url)!r}")
    if parts.username or parts.password:
        raise MetabaseError("METABASE_URL must not carry a user or password; set METABASE_USER and METABASE_PASSWORD")
    if parts.query or parts.fragment:
        raise MetabaseError("METABASE_URL must not carry a query or fragment")
    if parts.scheme == "http" and not allow_http and not is_local_host(parts.hostname):
        raise MetabaseError(
            f"refusing http://{parts.hostname}: the Metabase password and session would cross the "
            f"network unencrypted; use https, or set METABASE_ALLOW_HTTP=1 for a trusted network"
        )
    return url.strip().rstrip("/")


def error_message(response: Any, redact: Any = None) -> str:
    """The useful part of a Metabase error body, on one line, redacted (by `redact`) before it is shortened."""
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict):
        if isinstance(body.get("errors"), dict):
            text = "; ".join(f"{k}: {v}" for k, v in body["errors"].items())
        else:
            text = str(body.get("message") or json.dumps(body))
    else:
        text = str(body)
    text = " ".join(text.split())
    text = redact(text) if redact is not None else text
    return text[:400] or response.reason or "no message"


class Client:
    """An authenticated Metabase session; `request` returns the decoded JSON body or raises MetabaseError."""

    def __init__(
        self, url: str, user: str, password: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS, allow_http: bool = False
    ):
        import requests

        self.url = check_url(url, allow_http)
        self.timeout = timeout
        self.redact = Redactor(password)
        self._user, self._password = user, password
        self._http = requests.Session()
        self._session_id: str | None = None
        self.login()

    # ------------------------------------------------------------ session

    def login(self) -> None:
        self._session_id = None
        self._http.headers.pop("X-Metabase-Session", None)
        body = self._send("POST", "/api/session", {"username": self._user, "password": self._password})
        session_id = body.get("id") if isinstance(body, dict) else None
        if not isinstance(session_id, str) or not session_id:
            raise MetabaseError("POST /api/session → 200, but the answer holds no session id")
        self._session_id = session_id
        self.redact.add(session_id)
        self._http.headers["X-Metabase-Session"] = session_id

    def close(self) -> None:
        """Log out (DELETE /api/session) and drop the connection; errors on the way out are ignored."""
        if self._session_id is not None:
            with contextlib.suppress(MetabaseError):  # a failed logout must not hide the run's own outcome
                self._send("DELETE", "/api/session")
            self._session_id = None
            self._http.headers.pop("X-Metabase-Session", None)
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def fingerprint(self, secret: str) -> str:
        """A keyed hash of a secret (keyed by this login's password): tells whether a secret changed without
        storing it or anything that can be brute-forced without the key."""
        return hmac.new(self._password.encode(), secret.encode(), hashlib.sha256).hexdigest()

    @property
    def session_headers(self) -> dict[str, str]:
        return {"X-Metabase-Session": self._session_id} if self._session_id else {}

    # ------------------------------------------------------------ requests

    def _send(self, method: str, path: str, body: Any = None, params: Any = None) -> Any:
        import requests

        if not path.startswith("/") or urlsplit(path).netloc or "//" in path:
            raise MetabaseError(f"{method} {self.redact(path)} → refused: not a path on {self.url}")
        kwargs: dict[str, Any] = {"timeout": self.timeout, "allow_redirects": False}
        if body is not None:
            kwargs["json"] = body
        if params:
            kwargs["params"] = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in params.items()}
        where = self.redact(path)
        try:
            response = self._http.request(method, self.url + path, **kwargs)
        except requests.Timeout:
            raise MetabaseError(
                f"{method} {where} → no answer within {self.timeout:g} s (is Metabase at {self.url} stalled?)"
            ) from None
        except requests.RequestException as exc:
            raise MetabaseError(
                f"{method} {where} → connection failed: {exc.__class__.__name__} (is Metabase running at {self.url}?)"
            ) from None
        if 300 <= response.status_code < 400:
            location = self.redact(response.headers.get("Location") or "nowhere")
            raise MetabaseError(
                f"{method} {where} → {response.status_code}: redirected to {location}; not followed "
                f"(credentials are never re-sent): set METABASE_URL to the address Metabase answers on"
            )
        if not response.ok:
            raise MetabaseError(f"{method} {where} → {response.status_code}: {error_message(response, self.redact)}")
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise MetabaseError(f"{method} {where} → {response.status_code}: the answer is not JSON") from None

    def request(self, method: str, path: str, body: Any = None, params: Any = None) -> Any:
        if self._session_id is None:
            raise MetabaseError(f"{method} {self.redact(path)} → refused: logged out")
        try:
            return self._send(method, path, body, params)
        except MetabaseError as exc:
            if f"{self.redact(path)} → 401:" not in str(exc):
                raise
        self.login()  # the session expired: once more with a new one
        return self._send(method, path, body, params)

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params or None)

    def maybe_get(self, path: str, **params: Any) -> Any:
        """GET, or None when Metabase answers 404 (a deleted object)."""
        try:
            return self.get(path, **params)
        except MetabaseError as exc:
            if f"{path} → 404" in str(exc):
                return None
            raise
