"""Prometheus metrics of one app (its own registry, so that several apps can live in a process)."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """Request counts, latency, language-model fallbacks and feedback counts."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "shelfwise_http_requests_total", "HTTP requests by route template, method and status",
            ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram(
            "shelfwise_http_request_duration_seconds", "HTTP request latency by route template",
            ["route", "method"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
        self.in_flight = Gauge(
            "shelfwise_http_requests_in_flight", "Requests being served now",
            registry=self.registry)
        self.llm_fallbacks = Counter(
            "shelfwise_rerank_fallbacks_total",
            "Slates where the language-model rerank failed and the policy's order was served",
            ["endpoint"], registry=self.registry)
        self.feedback = Counter(
            "shelfwise_feedback_total", "Feedback events received, by kind and whether new",
            ["kind", "duplicate"], registry=self.registry)
        self.slates = Counter(
            "shelfwise_slates_total", "Slates served, by endpoint and policy",
            ["endpoint", "policy"], registry=self.registry)
        # zero-valued series exist from the start, so that rate() and alerts see them
        for endpoint in ("recommend", "chat"):
            self.llm_fallbacks.labels(endpoint)
        for kind in ("click", "purchase"):
            for duplicate in ("false", "true"):
                self.feedback.labels(kind, duplicate)

    def render(self) -> bytes:
        """The exposition text of every metric."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """ASGI middleware: counts each HTTP request by its route template and times it."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 500}

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        start = time.perf_counter()
        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.in_flight.dec()
            route = scope.get("route")
            # the template ("/products/{product_id}"), never the raw path: bounded label values
            path = getattr(route, "path", None) or (
                "/static" if scope.get("path", "").startswith("/static/") else "<unmatched>")
            method = scope.get("method", "GET")
            self.metrics.requests.labels(path, method, str(status["code"])).inc()
            self.metrics.latency.labels(path, method).observe(time.perf_counter() - start)
