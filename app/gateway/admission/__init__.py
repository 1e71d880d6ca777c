"""Admission: may this request go upstream now?

``admit.admit`` runs the rules in order (model access, rate window, quotas, loops,
hard-stop budgets) over one tally from ``counters`` (a Redis Lua script, or its
in-process twin): 429 rate, 402 quota, 429 loop, 402 budget. ``rate_limits`` and
``quotas`` hold each rule's limits and refusals; ``alerts`` raises the threshold
webhooks once each; ``rebuild`` sets a month's counter Redis lost from the request log.
"""
