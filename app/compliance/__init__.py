"""Compliance for the healthcare tier: bias detection (``bias``) and compliance reports (``reports``).

Both read what the gateway and the healthcare log recorded; neither is on the hot path:
their work runs in Dramatiq jobs.
"""
