"""Healthcare: receipts on a transparency log, the audit trail, risk and review."""
