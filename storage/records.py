"""Plain dataclasses that repositories hand to the rest of the app instead of models."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class UserRecord:
    id: str
    email: str
    tier: str
    created_at: datetime
    has_password: bool
    session_generation: int = 0  # session cookies of earlier generations are void


@dataclass(frozen=True)
class ApiKeyRecord:
    id: str
    user_id: str
    name: str
    prefix: str
    last_four: str
    tier: str  # the owning account's tier, which the key works under
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    rpm_limit: int | None = None  # None: the tier's
    monthly_quota: int | None = None  # None: the tier's
    loop_settings: dict | None = None  # None: the gateway's defaults
    budgets: tuple = ()  # the account's and this key's budgets (storage.budgets.BudgetRecord)
    scope: str = "inference"  # inference: chat and models only; admin: management too

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class RequestRecord:
    """What one chat completion consumed and how it ended; the request log's unit."""

    request_id: str
    user_id: str
    key_id: str
    model: str
    provider: str
    status: str  # ok, error, cached, client_disconnected
    error_code: str | None
    prompt_tokens: int
    completion_tokens: int
    cost_eur: Decimal
    saved_eur: Decimal
    cached: bool
    loop_detected: bool
    latency_ms: int
    ttft_ms: int | None
    created_at: datetime
