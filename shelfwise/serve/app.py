"""The FastAPI app: JSON API, Prometheus metrics and the web chat page.

Build it with :func:`create_app` around a :class:`~shelfwise.serve.service.RecommendationService`;
``shelfwise serve`` runs it with uvicorn. Endpoints:

=========================  =========================================================  ======
``POST /recommend``        user id, optional query and filters → slate with reasons    key
``POST /chat``             conversation id + message → reply + slate                    key
``POST /feedback``         slate id, product id, kind, event id (idempotent)            key
``GET /products/{id}``     one product                                                  key
``GET /products/{id}/image`` its image                                                  key
``GET /metrics``           Prometheus text                                              key
``GET /health``            liveness                                                     open
``GET /docs``, ``/openapi.json``  API docs (Swagger UI, offline) and schema               key
``GET /``, ``/static/*``   the web chat page                                            open
=========================  =========================================================  ======

"key" endpoints need the ``X-API-Key`` header when the app has an API key. Request bodies
above ``max_body_bytes`` get 413; invalid bodies get 422 with a message naming each field.

Lifecycle: at startup the recommender's checkpoints of online policy updates (if the service
enabled them) accept updates again; at shutdown the unsaved updates are written
(:mod:`shelfwise.online_checkpoints`), so a restart continues where the policy left off.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import (
    FileResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from fastapi.security import APIKeyHeader
from fastapi.staticfiles import StaticFiles

from shelfwise import __version__
from shelfwise.errors import ConfigError, EventLogError, ShelfwiseError
from shelfwise.recommender import RecommendResponse, UnknownProductError, UnknownSlateError
from shelfwise.serve.metrics import CONTENT_TYPE, Metrics, MetricsMiddleware
from shelfwise.serve.models import (
    ChatRequest,
    ChatResponse,
    ErrorOut,
    FeedbackRequest,
    FeedbackResponse,
    Filters,
    Health,
    ProductOut,
    RecommendRequest,
    SlateItemOut,
    SlateOut,
)
from shelfwise.serve.security import add_docs, add_host_check, check_api_key
from shelfwise.serve.service import RecommendationService

__all__ = ["API_KEY_HEADER", "DEFAULT_MAX_BODY_BYTES", "create_app"]

API_KEY_HEADER = "X-API-Key"
DEFAULT_MAX_BODY_BYTES = 64 * 1024
STATIC_DIR = Path(__file__).with_name("static")

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing or wrong API key"},
    413: {"model": ErrorOut, "description": "Request body too large"},
    422: {"model": ErrorOut, "description": "Invalid request; the message names the field"},
}


class BodySizeLimit:
    """ASGI middleware: answers 413 to bodies above ``limit`` bytes, declared or streamed."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = int(limit)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.limit
            except ValueError:
                await self._reject(send, 400, "invalid Content-Length header")
                return
            if too_big:
                await self._reject(send, 413, self._message(int(declared)))
                return
        # read the whole (small) body first so that a chunked upload cannot exceed the limit
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._reject(send, 413, self._message(size, at_least=True))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _message(self, size: int, *, at_least: bool = False) -> str:
        return (f"request body is {'more than ' if at_least else ''}{size} bytes; the limit is "
                f"{self.limit} bytes")

    @staticmethod
    async def _reject(send: Any, status: int, message: str) -> None:
        body = json.dumps({"detail": message}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def _field_path(loc: Any) -> str:
    parts = [str(p) for p in loc if p not in ("body",)] or [str(loc[0]) if loc else "body"]
    return ".".join(parts)


def _validation_message(errors: list[dict[str, Any]]) -> str:
    out = []
    for err in errors:
        kind = err.get("type", "")
        field = _field_path(err.get("loc", ()))
        if kind == "json_invalid":
            ctx = err.get("ctx") or {}
            out.append(f"malformed JSON in the request body: {ctx.get('error', err['msg'])}")
        elif kind == "extra_forbidden":
            out.append(f"{field}: unknown field")
        elif kind == "missing":
            out.append(f"{field}: field required")
        else:
            out.append(f"{field}: {err.get('msg', 'invalid')}")
    return "; ".join(out)


def _product_out(product: Any) -> ProductOut:
    return ProductOut(
        id=product.id, title=product.title, description=product.description,
        category=product.category, price=float(product.price),
        currency=getattr(product, "currency", "USD"),
        attributes={str(k): str(v) for k, v in (product.attributes or {}).items()},
        in_stock=bool(getattr(product, "in_stock", True)),
        image_url=f"/products/{product.id}/image" if getattr(product, "image", None) else None,
        url=getattr(product, "url", None),
        sponsored=bool(getattr(product, "sponsored", False)),
        bid=float(getattr(product, "bid", 0.0) or 0.0))


def _slate_out(slate: RecommendResponse) -> SlateOut:
    return SlateOut(
        slate_id=slate.slate_id, user_id=slate.user_id, policy=slate.policy,
        policy_version=slate.policy_version, query=slate.query, reranked=slate.reranked,
        llm_fallback=slate.llm_fallback,
        items=[SlateItemOut(product=_product_out(it.product), position=it.position,
                            reason=it.reason, score=it.score, policy_score=it.policy_score,
                            llm_score=it.llm_score, propensity=it.propensity,
                            sponsored=bool(getattr(it, "sponsored", False)))
               for it in slate.items])


def _search_filter(filters: Filters | None) -> Any:
    if filters is None:
        return None
    from index import SearchFilter

    return SearchFilter(
        categories=frozenset(filters.categories) if filters.categories is not None else None,
        min_price=filters.min_price, max_price=filters.max_price,
        in_stock_only=filters.in_stock_only, exclude_ids=frozenset(filters.exclude_ids))


def create_app(service: RecommendationService, *, api_key: str | None = None,
               max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
               allowed_hosts: Sequence[str] | None = None) -> FastAPI:
    """The HTTP app around ``service``.

    Args:
        service: what the endpoints call (slates, chat, feedback, products).
        api_key: when set, every API endpoint needs header ``X-API-Key: <api_key>``
            (``/``, ``/static`` and ``/health`` stay open).
            ``/docs`` and ``/openapi.json`` need it too (header, or Basic auth password).
        max_body_bytes: larger request bodies get 413.
        allowed_hosts: when given, requests whose ``Host`` header names none of these get
            400 (:func:`shelfwise.serve.security.add_host_check`; ``shelfwise serve`` passes
            the loopback names for a keyless server). ``None``: no Host check.

    Raises:
        ConfigError: an empty or non-ASCII API key, a bad allowed-host pattern, or a
            non-positive body limit.
    """
    check_api_key(api_key, "api_key")
    if max_body_bytes < 1:
        raise ConfigError(f"max_body_bytes must be >= 1, got {max_body_bytes}")
    metrics = Metrics()
    metrics.watch_llm(getattr(service, "llm_stats", None))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        _start_checkpoints(service)
        try:
            yield
        finally:
            _stop_checkpoints(service)

    app = FastAPI(
        title="shelfwise", version=__version__, docs_url=None, redoc_url=None,
        openapi_url=None,  # served by add_docs, behind the key when there is one
        lifespan=lifespan,
        description="Recommendation agent for online shops: slates with reasons, chat, "
                    "feedback. Send the API key in the `X-API-Key` header when the server "
                    "has one.")
    app.state.service = service
    app.state.metrics = metrics
    app.state.auth = api_key is not None
    key_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False,
                              description="The server's API key (when authentication is on).")
    expected = api_key.encode() if api_key is not None else None

    def require_key(given: str | None = Depends(key_header)) -> None:
        if expected is None:
            return
        if given is None:
            raise _HTTPError(401, f"missing API key: send it in the {API_KEY_HEADER} header")
        if not secrets.compare_digest(given.encode(), expected):
            raise _HTTPError(401, f"wrong API key in the {API_KEY_HEADER} header")

    auth = [Depends(require_key)]

    @app.exception_handler(_HTTPError)
    async def _http_error(request: Request, exc: _HTTPError) -> JSONResponse:
        headers = {"WWW-Authenticate": "ApiKey"} if exc.status == 401 else None
        return JSONResponse({"detail": exc.message}, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{k: v for k, v in e.items() if k in ("type", "loc", "msg")}
                  for e in exc.errors()]
        return JSONResponse({"detail": errors, "message": _validation_message(exc.errors())},
                            status_code=422)

    @app.exception_handler(UnknownProductError)
    @app.exception_handler(UnknownSlateError)
    async def _not_found(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(ConfigError)
    async def _bad_value(request: Request, exc: ConfigError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(EventLogError)
    async def _conflict(request: Request, exc: EventLogError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(ShelfwiseError)
    async def _server_error(request: Request, exc: ShelfwiseError) -> JSONResponse:
        return JSONResponse({"detail": f"{type(exc).__name__}: {exc}"}, status_code=500)

    @app.post("/recommend", response_model=SlateOut, dependencies=auth, tags=["slates"],
              responses={**_ERRORS})
    def recommend(body: RecommendRequest) -> SlateOut:
        """A slate for one shopper, with a reason per product, logged as an impression."""
        slate = service.recommend(body.user_id, body.query, _search_filter(body.filters),
                                  body.k, body.session_id)
        _count_slate(metrics, "recommend", slate)
        return _slate_out(slate)

    @app.post("/chat", response_model=ChatResponse, dependencies=auth, tags=["chat"],
              responses={**_ERRORS})
    def chat(body: ChatRequest) -> ChatResponse:
        """Answer one message of a conversation with a reply and a slate."""
        turn = service.chat(body.conversation_id, body.message, body.user_id)
        if turn.slate is not None:
            _count_slate(metrics, "chat", turn.slate)
        elif turn.llm_fallback:
            metrics.llm_fallbacks.labels("chat").inc()
        return ChatResponse(conversation_id=body.conversation_id, reply=turn.reply,
                            summary=turn.summary or turn.reply,
                            slate=_slate_out(turn.slate) if turn.slate is not None else None,
                            events_logged=turn.events_logged, intent=turn.intent,
                            why=turn.why or [])

    @app.post("/feedback", response_model=FeedbackResponse, dependencies=auth,
              tags=["feedback"],
              responses={**_ERRORS, 404: {"model": ErrorOut,
                                          "description": "Unknown slate or product"},
                         409: {"model": ErrorOut,
                               "description": "Event id taken by a different event"}})
    def feedback(body: FeedbackRequest) -> FeedbackResponse:
        """Record a click or purchase of a shown product; the same event id twice is a no-op."""
        res = service.feedback(body.event_id, body.slate_id, body.product_id, body.kind,
                               body.quantity)
        metrics.feedback.labels(res.kind, str(not res.new).lower()).inc()
        return FeedbackResponse(event_id=res.event_id, slate_id=res.slate_id,
                                product_id=res.product_id, kind=res.kind, position=res.position,
                                value=res.value, duplicate=not res.new,
                                policy_updated=res.policy_updated)

    @app.get("/products/{product_id}", response_model=ProductOut, dependencies=auth,
             tags=["products"], responses={404: {"model": ErrorOut}, 401: _ERRORS[401]})
    def product(product_id: str) -> ProductOut:
        """One product of the catalog."""
        return _product_out(service.product(product_id))

    @app.get("/products/{product_id}/image", dependencies=auth, tags=["products"],
             response_class=FileResponse,
             responses={200: {"content": {"image/png": {}}}, 404: {"model": ErrorOut},
                        401: _ERRORS[401]})
    def product_image(product_id: str) -> Response:
        """The product's image file (or a redirect to its URL)."""
        where = service.image(product_id)
        if isinstance(where, str):
            return RedirectResponse(where, status_code=307)
        return FileResponse(where, headers={"Cache-Control": "public, max-age=3600"})

    @app.get("/health", response_model=Health, tags=["ops"])
    def health() -> Health:
        """Liveness and what is loaded."""
        name, version = service.policy_name()
        return Health(status="ok", version=__version__, products=service.product_count(),
                      policy=name, policy_version=version, reranker=service.has_reranker,
                      auth=app.state.auth)

    @app.get("/metrics", dependencies=auth, tags=["ops"], response_class=Response,
             responses={200: {"content": {"text/plain": {}}}, 401: _ERRORS[401]})
    def prometheus() -> Response:
        """Prometheus metrics (requests, latency, language-model fallbacks, feedback)."""
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers=_PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    add_docs(app, api_key, API_KEY_HEADER)
    # outermost first: metrics see every request, including those the size limit refuses
    app.add_middleware(BodySizeLimit, limit=max_body_bytes)
    if allowed_hosts is not None:
        add_host_check(app, allowed_hosts)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


_PAGE_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' blob: data:; "
                                "style-src 'self'; script-src 'self'; connect-src 'self'; "
                                "frame-ancestors 'none'; base-uri 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class _HTTPError(Exception):
    """An error answered with ``{"detail": message}`` and ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _start_checkpoints(service: RecommendationService) -> None:
    ckpt = getattr(getattr(service, "recommender", None), "checkpoints", None)
    if ckpt is not None:
        ckpt.start()


def _stop_checkpoints(service: RecommendationService) -> None:
    """Write the unsaved online updates (the service itself stays open)."""
    rec = getattr(service, "recommender", None)
    closer = getattr(rec, "close_checkpoints", None)
    if callable(closer):
        closer()


def _count_slate(metrics: Metrics, endpoint: str, slate: RecommendResponse) -> None:
    metrics.slates.labels(endpoint, slate.policy).inc()
    if slate.llm_fallback:
        metrics.llm_fallbacks.labels(endpoint).inc()
