"""Gauges read when Prometheus scrapes: the request log's lag and the job queues' depth.

Nothing on the hot path keeps these: a scrape asks Redis (``XLEN``, Dramatiq's
queue sizes) and looks at the journal folder, a few cheap calls per scrape.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.common import dq_name, q_name
from flask import Flask
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from app.handoff.drain import pending_bytes

log = logging.getLogger(__name__)


class BacklogCollector(Collector):
    """Reads the backlogs of ``app``'s request log and job broker at each scrape."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        settings = self.app.config["AQTA_SETTINGS"]
        client = self.app.extensions.get("aqta.redis")
        stream = GaugeMetricFamily("aqta_request_log_stream_length",
                                   "Request-log records in the Redis Stream, not yet in the table")
        if client is not None:
            try:
                stream.add_metric([], client.xlen(settings.request_log_stream))
            except redis.RedisError as exc:
                log.warning("metrics: request log stream length unavailable: %s", exc)
        yield stream
        journal = GaugeMetricFamily("aqta_request_log_journal_bytes",
                                    "Bytes of request-log records in this host's journal, not yet "
                                    "in the table")
        journal.add_metric([], pending_bytes(settings.request_journal_dir))
        yield journal
        yield self._queues(self.app.extensions["aqta.broker"])

    @staticmethod
    def _queues(broker: dramatiq.Broker) -> GaugeMetricFamily:
        depth = GaugeMetricFamily("aqta_job_queue_depth", "Job messages queued, delayed or running, "
                                  "by queue", labels=("queue",))
        for queue in sorted(name for name in broker.get_declared_queues() if q_name(name) == name):
            try:
                depth.add_metric([queue], queue_depth(broker, queue))
            except redis.RedisError as exc:
                log.warning("metrics: depth of job queue %s unavailable: %s", queue, exc)
        return depth


def queue_depth(broker: dramatiq.Broker, queue: str) -> int:
    """Messages of ``queue`` and its delay queue: waiting, delayed, or taken and not yet acknowledged."""
    if isinstance(broker, RedisBroker):
        return int(broker.do_qsize(queue))
    if isinstance(broker, StubBroker):
        return sum(broker.queues[name].qsize() for name in (queue, dq_name(queue))
                   if name in broker.queues)
    return 0
