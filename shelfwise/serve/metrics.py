"""Prometheus metrics of one app (its own registry, so that several apps can live in a process)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

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

    def watch_llm(self, stats: Callable[[], dict[str, Any]] | None) -> None:
        """Export the language model's counters (``shelfwise.llm_setup.llm_summary``).

        ``shelfwise_llm_calls_total{outcome}``: remote model calls by outcome (``ok``,
        ``retries``, ``timeouts``, ``errors``, ``failed``; zero for local models), and
        ``shelfwise_llm_fallbacks_total{kind}``: slates served in policy order (``rerank``)
        and reasons served as templates (``reasons``) because the model did not answer
        usably. Read at scrape time, so they are never stale.
        """
        if stats is None:
            return
        self.registry.register(_LLMCollector(stats))

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


class _LLMCollector:
    """Prometheus collector over an ``llm_summary`` callable."""

    def __init__(self, stats: Callable[[], dict[str, Any]]) -> None:
        self._stats = stats

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        data = self._stats()
        calls = CounterMetricFamily("shelfwise_llm_calls", "Remote language-model calls by "
                                    "outcome (retries, timeouts and errors count attempts)",
                                    labels=["outcome"])
        for outcome in ("ok", "retries", "timeouts", "errors", "failed"):
            calls.add_metric([outcome], float((data.get("calls") or {}).get(outcome, 0)))
        yield calls
        fb = CounterMetricFamily("shelfwise_llm_fallbacks", "Slates served in policy order "
                                 "(rerank) and reasons served as templates (reasons) because "
                                 "the language model failed", labels=["kind"])
        for kind in ("rerank", "reasons"):
            fb.add_metric([kind], float((data.get("fallbacks") or {}).get(kind, 0)))
        yield fb
        weight = GaugeMetricFamily("shelfwise_llm_rerank_weight",
                                   "Weight of the model's score in the served order")
        weight.add_metric([], float(data.get("rerank_weight", 0.0)))
        yield weight
