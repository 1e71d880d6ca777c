"""Prometheus metrics: what the gateway counts, and ``GET /metrics``.

``series`` declares every counter and histogram and the few calls the hot path
makes (memory only: no I/O, no lock held across one); ``backlog`` reads the
request log's lag and the job queues' depth when Prometheus scrapes;
``exposition`` renders them, summing every gunicorn worker's files in
multi-process mode, and decides who may scrape. ``app.api.metrics`` is the route.
"""
