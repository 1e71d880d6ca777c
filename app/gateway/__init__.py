"""The chat pipeline: everything between an authenticated request and its answer.

Start at ``pipeline`` (admit → cache → provider → settle), which the chat view calls.

- ``admission/``: the checks before the provider: tier, rate window, monthly
  quotas, loops and hard-stop budgets, counted in one Redis round trip.
- ``budgets``: monthly EUR budgets: read, enforced (through admission) and spent (at settle).
- ``loops/``: loop detection (similarity of a key's recent requests).
- ``cache/``: the exact-match response cache and its stream replay.
- ``request_log/``: a record per request: the attempt, the hot-path sink, the drain.
- ``catalogue``, ``routing``, ``pricing``: models, which provider serves each, and EUR prices
  (``data/`` holds the built-in registry and price table).
- ``validation``: OpenAI's request schema; ``streaming``: the SSE relay.
"""
