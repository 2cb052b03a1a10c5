"""Prometheus metrics of one app (a registry per app, so several apps in one process -- tests -- stay apart).

Served at ``GET /metrics`` in the text exposition format; docs/service.md lists every metric.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "biosig_http_requests", "REST requests by route and status code", ["method", "route", "status"], registry=r
        )
        self.http_latency = Histogram(
            "biosig_http_request_seconds", "REST request duration", ["route"], buckets=_LATENCY_BUCKETS, registry=r
        )
        self.auth_failures = Counter("biosig_auth_failures", "Requests refused for their API key", ["via"], registry=r)
        self.rate_limited = Counter("biosig_rate_limited", "Requests refused or slowed by rate limits", ["what"],
                                    registry=r)  # fmt: skip
        self.streams_live = Gauge("biosig_streams_live", "Open WebSocket stream sessions", registry=r)
        self.sessions = Counter("biosig_stream_sessions", "Stream sessions by close code", ["close_code"], registry=r)
        self.frames = Counter("biosig_frames", "Binary frames by outcome (accepted, duplicate, or error code)",
                              ["outcome"], registry=r)  # fmt: skip
        self.samples_persisted = Counter("biosig_samples_persisted", "Scans written to recordings", registry=r)
        self.bytes_persisted = Counter("biosig_bytes_persisted", "Bytes written to recordings", registry=r)
        self.gaps = Counter("biosig_gaps", "Gaps in device sample clocks", registry=r)
        self.acks = Counter("biosig_acks", "Acknowledgements sent", registry=r)
        self.fsync_seconds = Histogram("biosig_fsync_seconds", "fsync(2) of recording files",
                                       buckets=_LATENCY_BUCKETS, registry=r)  # fmt: skip
        self.results = Counter("biosig_results", "Stream results by fate (sent, dropped: client not reading)",
                               ["fate"], registry=r)  # fmt: skip
        self.result_latency = Histogram(
            "biosig_result_latency_seconds",
            "From receipt of the frame completing a window to its result being sent",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.inference_batch = Histogram(
            "biosig_inference_batch_windows", "Windows per batched encoder call", ["model"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512), registry=r,
        )  # fmt: skip
        self.inference_seconds = Histogram("biosig_inference_seconds", "Batched encoder call (+ gesture head)",
                                           ["model"], buckets=_LATENCY_BUCKETS, registry=r)  # fmt: skip
        self.inference_queue = Gauge("biosig_inference_queue_windows", "Windows waiting for the encoder", registry=r)
