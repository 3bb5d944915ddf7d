"""The HTTP app's guards: API-key format, the Host-header check, and the keyed API docs.

- An API key is sent in an HTTP header, which carries ASCII only: a key with other
  characters could never match, so it is refused at start-up (:func:`check_api_key`).
- A keyless server on the loopback interface is still reachable from a web page the shopper
  opens, through DNS rebinding (``evil.example`` resolving to 127.0.0.1): such requests carry
  the attacker's name in ``Host``. :func:`add_host_check` answers 400 to any Host header that
  is not an allowed name (Starlette's ``TrustedHostMiddleware``).
- ``/docs`` (Swagger UI, served from the ``fastapi-offline`` package: no CDN, and a Swagger UI
  5 that reads FastAPI's OpenAPI 3.1 schema) and ``/openapi.json`` need the key when the
  server has one: in the ``X-API-Key`` header, or as the password of HTTP Basic auth, which
  is what a browser can send when a person opens ``/docs`` (any user name).
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# module level: FastAPI resolves the routes' annotations (``request: Request``) here
from fastapi import Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from shelfwise.errors import ConfigError

__all__ = ["LOOPBACK_HOSTS", "add_docs", "add_host_check", "check_allowed_hosts",
           "check_api_key", "docs_assets_dir"]

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
"""Host names a loopback server answers to (any port); IPv6 literals keep their brackets."""

DOCS_ASSETS = "/docs-assets"
_DOCS_INSTALL = "pip install 'fastapi-offline>=1.7'"


def check_api_key(key: str | None, source: str = "--api-key") -> None:
    """Refuse an API key that an HTTP header cannot carry.

    Args:
        key: the configured key, or ``None`` (authentication off).
        source: where the key came from, for the message.

    Raises:
        ConfigError: the key is empty, or holds a character outside printable ASCII
            (``!`` to ``~``; spaces, control characters and non-ASCII letters can never
            match a header). The message names the position, never the key.
    """
    if key is None:
        return
    if not key.strip():
        raise ConfigError(f"{source} must not be empty; leave it out to turn authentication off")
    for i, ch in enumerate(key, start=1):
        if not "!" <= ch <= "~":
            what = "a space" if ch == " " else (
                "a control character" if ord(ch) < 32 or ord(ch) == 127
                else f"a non-ASCII character (U+{ord(ch):04X})")
            raise ConfigError(
                f"{source} must be printable ASCII (letters, digits and punctuation, no "
                f"spaces): character {i} of {len(key)} is {what}, which an HTTP header cannot "
                "carry, so no request could ever match the key")


def add_host_check(app: Any, allowed_hosts: Sequence[str]) -> None:
    """Answer 400 to requests whose ``Host`` header names none of ``allowed_hosts``.

    Args:
        app: the FastAPI app (the middleware wraps everything added before it).
        allowed_hosts: names without port (``localhost``, ``127.0.0.1``, ``[::1]``,
            ``shop.example``, ``*.example``); ``*`` allows any. Ports are not compared.

    Raises:
        ConfigError: a pattern Starlette cannot use (a ``*`` other than a leading ``*.``).
    """
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    hosts = check_allowed_hosts(allowed_hosts)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts, www_redirect=False)


def check_allowed_hosts(allowed_hosts: Sequence[str]) -> list[str]:
    """``allowed_hosts`` stripped and lower-cased.

    Raises:
        ConfigError: a pattern Starlette cannot use, or a name with a port.
    """
    hosts = [h.strip().lower() for h in allowed_hosts if h.strip()]
    for h in hosts:
        if "*" in h[1:] or (h.startswith("*") and h != "*" and not h.startswith("*.")):
            raise ConfigError(f"allowed host {h!r}: a wildcard must be '*' or lead as "
                              "'*.example.com'")
        if ":" in h and not h.startswith("["):
            raise ConfigError(f"allowed host {h!r}: give the name without a port (an IPv6 "
                              "address in brackets, e.g. '[::1]')")
    return hosts


def docs_assets_dir() -> Path | None:
    """The Swagger UI 5 files of the ``fastapi-offline`` package, or ``None`` without it."""
    import importlib.util

    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "static"
    return folder if (folder / "swagger-ui-bundle.js").is_file() else None


def _key_given(request: Any, header: str) -> str | None:
    """The key in ``header``, else the password of a Basic ``Authorization`` header."""
    given = request.headers.get(header)
    if given is not None:
        return str(given)
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("latin-1")
    except (binascii.Error, ValueError):
        return None
    return decoded.partition(":")[2]


def add_docs(app: Any, api_key: str | None, header: str = "X-API-Key") -> None:
    """``/openapi.json``, ``/docs`` and the Swagger UI files, behind ``api_key`` when set.

    The app must be built with ``openapi_url=None`` and ``docs_url=None`` (these routes
    replace FastAPI's open ones).
    """
    expected = api_key.encode("ascii") if api_key is not None else None

    def refused(request: Request) -> Response | None:
        if expected is None:
            return None
        given = _key_given(request, header)
        if given is not None and secrets.compare_digest(given.encode("latin-1"), expected):
            return None
        # Basic: a browser opening /docs asks the person for the key (as the password)
        return JSONResponse(
            {"detail": f"the API docs need the API key: send it in the {header} header, or "
                       "as the password of HTTP Basic auth (any user name)"},
            status_code=401, headers={"WWW-Authenticate": 'Basic realm="shelfwise API"'})

    assets = docs_assets_dir()
    if assets is not None:
        app.mount(DOCS_ASSETS, StaticFiles(directory=str(assets)), name="docs-assets")

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(request: Request) -> Response:
        return refused(request) or JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> Response:
        no = refused(request)
        if no is not None:
            return no
        if assets is None:
            return JSONResponse({"detail": f"the API docs need the fastapi-offline package "
                                           f"(Swagger UI files); run: {_DOCS_INSTALL}"},
                                status_code=503)
        page: HTMLResponse = get_swagger_ui_html(
            openapi_url="/openapi.json", title="shelfwise API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png")
        page.headers["Cache-Control"] = "no-store"
        return page
