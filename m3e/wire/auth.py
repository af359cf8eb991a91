"""Who may steer the channel: the control token, the browser checks and the route allow-list
(docs/security.md).

One token per deployment, made at start-up (``new_token``) or given to every process that
calls ``Control`` (``M3E_CONTROL_TOKEN``, ``--control-token`` or a token file). gRPC clients
send it as the ``x-m3e-token`` metadata entry; browsers as the ``X-M3E-Token`` header of a
same-origin JSON POST (the pages read it from their own URL, ``?token=...``).
"""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

METADATA_KEY = "x-m3e-token"  # gRPC metadata keys are lower case
HEADER = "X-M3E-Token"


def new_token() -> str:
    """A fresh random token (192 bits, URL-safe)."""
    return secrets.token_urlsafe(24)


def token_matches(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison; no expected token means nobody may (never "anyone")."""
    if not expected or not given:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def read_or_create_token_file(path: Path, wait_s: float = 5.0) -> str:
    """The token in ``path``; when there is none yet, a new one written there (mode 0600,
    created exclusively: of two processes starting at once, one writes and the other reads)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        deadline = time.monotonic() + wait_s
        while True:  # the creator may not have written it yet
            try:
                text = path.read_text().strip()
            except OSError as exc:
                raise ValueError(f"cannot read the control token file {path}: {exc.strerror}") from None
            if text or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if not text:
            raise ValueError(f"the control token file {path} is empty") from None
        return text
    except OSError as exc:
        raise ValueError(f"cannot create the control token file {path}: {exc.strerror}") from None
    token = new_token()
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token


def resolve_token(token: str | None, token_file: Path | None, create: bool = True) -> str | None:
    """The deployment's token: ``token`` when given, else ``token_file``'s (made when
    missing), else a new one when ``create`` (a process that serves control makes its own)."""
    if token:
        return token.strip()
    if token_file is not None:
        return read_or_create_token_file(token_file)
    return new_token() if create else None


def grpc_metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    """The metadata a ``Control`` call carries."""
    return ((METADATA_KEY, token),) if token else ()


def token_of_metadata(metadata: Iterable[Any] | None) -> str | None:
    for item in metadata or ():
        key, value = (item.key, item.value) if hasattr(item, "key") else item
        if key == METADATA_KEY:
            return str(value)
    return None


def with_token(url: str, token: str | None) -> str:
    """``url`` with ``?token=...`` (what a process prints for the browser)."""
    return f"{url}?token={token}" if token else url


# ---------------------------------------------------------------- route allow-list
def parse_allowed(entry: str) -> tuple[str, int | None]:
    """``HOST`` (any port), ``HOST:PORT`` or ``[V6]:PORT`` -> (host, port or None)."""
    entry = entry.strip()
    if entry in ("*", "any"):
        return "*", None
    host, sep, port = entry.rpartition(":")
    if sep and port.isdigit() and host and not host.endswith(":"):
        return host.strip("[]").lower(), int(port)
    if not entry or "/" in entry:
        raise ValueError(f"--allow-route {entry!r}: expected HOST or HOST:PORT")
    return entry.strip("[]").lower(), None


class RouteAllowList:
    """The receivers ``SetRoute`` may point a route at: what the operator allowed
    (``--allow-route``) and the routes the relay was started with."""

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self._entries: set[tuple[str, int | None]] = set()
        for e in entries:
            self.allow(e)

    def allow(self, entry: str) -> None:
        if entry:
            self._entries.add(parse_allowed(entry))

    def permits(self, target: str) -> bool:
        host, sep, port = target.rpartition(":")
        if not sep or not port.isdigit():
            return False
        host = host.strip("[]").lower()
        return any(h == "*" or (h == host and p in (None, int(port))) for h, p in self._entries)

    def __repr__(self) -> str:
        return ", ".join(sorted(f"{h}:{p}" if p is not None else h for h, p in self._entries)) or "nothing"


# ---------------------------------------------------------------- browser side
def browser_post_refusal(headers: Any, host: str | None, token: str | None) -> tuple[int, str] | None:
    """Why a POST from a page must be refused, as (HTTP status, reason); None: accept.

    A page may steer only when it comes from the same origin (``Origin``, when the
    browser sends one, names this server), posts JSON (a cross-site ``text/plain`` or form
    POST needs no preflight; JSON does) and carries the token in the ``X-M3E-Token`` header
    (a custom header needs a preflight too, and DNS rebinding, which fools the Origin check,
    does not know the token)."""
    origin = headers.get("Origin")
    if origin is not None and origin != "null":
        with contextlib.suppress(ValueError):
            scheme, _, rest = origin.partition("://")
            if scheme in ("http", "https") and rest.lower() == (host or "").lower():
                origin = None
        if origin is not None:
            return 403, f"cross-origin request from {origin} refused"
    elif origin == "null":
        return 403, "cross-origin request from an opaque origin refused"
    content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        return 415, "expected Content-Type: application/json"
    if not token_matches(headers.get(HEADER), token):
        return 401, f"missing or wrong {HEADER} (the token is in the URL the process printed)"
    return None


def refusal_response(request: Any, token: str | None) -> Any:
    """An aiohttp JSON error response for a POST ``browser_post_refusal`` refuses, else None."""
    refused = browser_post_refusal(request.headers, request.host, token)
    if refused is None:
        return None
    from aiohttp import web

    return web.json_response({"error": refused[1]}, status=refused[0])
