"""Healthcare: a receipt for every answer, on one verifiable transparency log.

Pure parts (standard library and ``cryptography`` only, so the offline verifier
runs anywhere): ``merkle`` (RFC 9162 hashing and proofs), ``note`` and
``checkpoint`` (C2SP signed notes, Ed25519), ``leaves`` (canonical leaf bytes by
type), ``commitments`` (per-account HMAC commitments), ``verify`` and ``offline``
(the checks and the ``aqta receipts verify`` / ``aqta log monitor`` commands, ``cli``).

Services: ``receipts`` (build a receipt and hand it off on the hot path),
``transparency`` (the log: keys, checkpoints, proofs), ``sequencer`` (drain,
number and sign; ``workers.healthcare_log`` runs it), ``exports`` (the export job),
``service`` (what the routes in ``app.api.health`` call).
"""
