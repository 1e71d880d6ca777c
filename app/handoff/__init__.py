"""Durable hand-off: keep a record at once on the hot path, move it into its table later, once.

A producer appends encoded records to a Redis Stream or, without Redis, to this
process's ``journal``; ``drain`` reads both back in batches and hands them to a
``Store`` of the caller's, acknowledging only what was stored. The request log
and the transparency log's leaves use it; it knows neither.
"""
