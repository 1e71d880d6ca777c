"""The request log: one record per chat request, whatever its outcome, never lost.

``attempt`` opens a record when the caller is known and closes it once; ``sink``
hands it off on the hot path (a Redis Stream, or a local journal, through
``app.handoff``); ``drain``
moves both into the table, exactly once (``workers.request_log`` runs it);
``codec`` is the record's byte form between the two; ``reconcile`` closes the
streams whose process died before their final record.
"""
