"""Metabase HTTP client: metabase-api's session (login, re-login on expiry) with one-line errors.

metabase-api 3.6 checks the session before every request (`GET /api/user/current`) and logs in again when it
expired; its dashboard helpers target endpoints Metabase removed in 0.47, so this module uses only its session
and sends every request itself. Any failure becomes a `MetabaseError` whose str() is one line,
`METHOD /path → status: message` (print it as `MetabaseError: PUT /api/card/12 → 400: …`).
"""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

REQUEST_TIMEOUT_SECONDS = 120


class MetabaseError(RuntimeError):
    """A failed Metabase request or an unusable Metabase state, in one line."""


def error_message(response: Any) -> str:
    """The useful part of a Metabase error body, on one line."""
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
    return text[:400] or response.reason or "no message"


class Client:
    """An authenticated Metabase session; `request` returns the decoded JSON body or raises MetabaseError."""

    def __init__(self, url: str, user: str, password: str):
        import requests
        from metabase_api import Metabase_API

        self.url = url.rstrip("/")
        try:
            self.api = Metabase_API(self.url, email=user, password=password)
        except requests.RequestException as exc:
            raise MetabaseError(f"POST /api/session → connection failed: {exc.__class__.__name__} "
                                f"(is Metabase running at {self.url}?)") from None
        except Exception as exc:  # metabase-api raises Exception(response) on a failed login
            response = exc.args[0] if exc.args else None
            if hasattr(response, "status_code"):
                raise MetabaseError(f"POST /api/session → {response.status_code}: {error_message(response)}") from None
            raise

    @property
    def session_headers(self) -> dict[str, str]:
        """The current auth header (after a re-login it is the new session)."""
        return dict(self.api.header or {})

    def request(self, method: str, path: str, body: Any = None, params: Any = None) -> Any:
        import requests

        call = {"GET": self.api.get, "POST": self.api.post, "PUT": self.api.put, "DELETE": self.api.delete}[method]
        kwargs: dict[str, Any] = {"timeout": REQUEST_TIMEOUT_SECONDS}
        if body is not None:
            kwargs["json"] = body
        if params is not None:
            kwargs["params"] = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in params.items()}
        try:
            response = call(path, "raw", **kwargs)
        except requests.RequestException as exc:
            raise MetabaseError(f"{method} {path} → connection failed: {exc.__class__.__name__}") from None
        except Exception as exc:  # metabase-api's session check raises Exception(response)
            response = exc.args[0] if exc.args else None
            if not hasattr(response, "status_code"):
                raise
            method, path = response.request.method, urlsplit(response.url).path  # name the failing call
        if not response.ok:
            raise MetabaseError(f"{method} {path} → {response.status_code}: {error_message(response)}")
        return response.json() if response.content else None

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
