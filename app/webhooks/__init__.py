"""Webhooks: endpoints, events, signing and SSRF-safe delivery.

- ``service``: endpoints (create, update, rotate secrets) and ``emit`` for events.
- ``events``: the event types and their payload schemas.
- ``delivery``: one signed attempt, the retry schedule, the sweep and pruning
  (``workers.webhooks`` runs them as actors).
- ``signing`` (Standard Webhooks), ``safety`` (address checks), ``transport`` (the POST).
"""
