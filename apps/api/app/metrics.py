"""Prometheus metrics, in a registry per app so several apps can live in one process (tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

JOB_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.workers_connected = Gauge(
            "facegrid_workers_connected", "Workers currently connected", registry=self.registry
        )
        self.jobs = Counter(
            "facegrid_jobs", "Jobs by type and outcome", ["kind", "outcome"], registry=self.registry
        )
        self.job_latency = Histogram(
            "facegrid_job_latency_seconds",
            "Time from submission to answer of successful jobs",
            ["kind"],
            buckets=JOB_BUCKETS,
            registry=self.registry,
        )
        self.jobs_queued = Gauge(
            "facegrid_jobs_queued", "Jobs waiting for a free worker", registry=self.registry
        )
        self.socket_messages = Counter(
            "facegrid_socket_messages",
            "Worker socket messages by direction and type ('invalid': a frame that does not decode)",
            ["direction", "type"],
            registry=self.registry,
        )
        self.socket_protocol_errors = Counter(
            "facegrid_socket_protocol_errors",
            "Worker connections closed for breaking the protocol, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.socket_refusals = Counter(
            "facegrid_socket_refusals",
            "Worker connections refused, by reason",
            ["reason"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
