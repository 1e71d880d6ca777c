"""The API keys repository. Keys are stored only as SHA-256 hashes of the whole key."""
from __future__ import annotations

import json
from datetime import datetime

from storage.account_lock import capped
from storage.errors import KeyNotFound
from storage.ids import new_id, utcnow
from storage.models import ApiKey, User
from storage.records import ApiKeyRecord


def _record(key: ApiKey, tier: str) -> ApiKeyRecord:
    return ApiKeyRecord(id=key.id, user_id=key.user_id, name=key.name, prefix=key.prefix,
                        last_four=key.last_four, tier=tier, created_at=key.created_at,
                        last_used_at=key.last_used_at, revoked_at=key.revoked_at,
                        rpm_limit=key.rpm_limit, monthly_quota=key.monthly_quota,
                        loop_settings=json.loads(key.loop_settings) if key.loop_settings else None,
                        scope=key.scope)


def _with_owner():
    return ApiKey.select(ApiKey, User.id, User.tier).join(User)


def create(user_id: str, name: str, key_hash: str, prefix: str, last_four: str,
           scope: str = "inference", limit: int | None = None) -> ApiKeyRecord:
    """A new key; LimitReached when the account has ``limit`` live keys already (race-free)."""
    def insert() -> str:
        return ApiKey.create(id=new_id("key"), user=user_id, name=name, key_hash=key_hash,
                             prefix=prefix, last_four=last_four, created_at=utcnow(),
                             scope=scope).id

    key_id = insert() if limit is None else capped(user_id, lambda: count_live(user_id), limit,
                                                   insert)
    return get_for_user(user_id, key_id)


def count_live(user_id: str) -> int:
    return ApiKey.select().where((ApiKey.user == user_id) & ApiKey.revoked_at.is_null()).count()


def list_for_user(user_id: str) -> list[ApiKeyRecord]:
    query = (_with_owner()
             .where((ApiKey.user == user_id) & ApiKey.revoked_at.is_null())
             .order_by(ApiKey.created_at.desc(), ApiKey.id))
    return [_record(key, key.user.tier) for key in query]


def get_for_user(user_id: str, key_id: str) -> ApiKeyRecord:
    """A live key of this user's; another user's key is simply not found."""
    key = (_with_owner()
           .where((ApiKey.id == key_id) & (ApiKey.user == user_id) & ApiKey.revoked_at.is_null())
           .get_or_none())
    if key is None:
        raise KeyNotFound(key_id)
    return _record(key, key.user.tier)


def find_active_by_hash(key_hash: str) -> ApiKeyRecord | None:
    key = (_with_owner()
           .where((ApiKey.key_hash == key_hash) & ApiKey.revoked_at.is_null())
           .get_or_none())
    return _record(key, key.user.tier) if key else None


_UNCHANGED = object()


def set_limits(user_id: str, key_id: str, *, rpm_limit=_UNCHANGED, monthly_quota=_UNCHANGED,
               loop_settings=_UNCHANGED) -> ApiKeyRecord:
    """Change a live key's limits; pass None to return a limit to the tier's default."""
    changes = {}
    if rpm_limit is not _UNCHANGED:
        changes[ApiKey.rpm_limit] = rpm_limit
    if monthly_quota is not _UNCHANGED:
        changes[ApiKey.monthly_quota] = monthly_quota
    if loop_settings is not _UNCHANGED:
        changes[ApiKey.loop_settings] = json.dumps(loop_settings) if loop_settings else None
    get_for_user(user_id, key_id)
    if changes:
        ApiKey.update(changes).where((ApiKey.id == key_id) & (ApiKey.user == user_id)).execute()
    return get_for_user(user_id, key_id)


def get_by_id(key_id: str) -> ApiKeyRecord:
    """Any live key by id (for operators)."""
    key = _with_owner().where((ApiKey.id == key_id) & ApiKey.revoked_at.is_null()).get_or_none()
    if key is None:
        raise KeyNotFound(key_id)
    return _record(key, key.user.tier)


def revoke(user_id: str, key_id: str) -> None:
    updated = (ApiKey.update(revoked_at=utcnow())
               .where((ApiKey.id == key_id) & (ApiKey.user == user_id) & ApiKey.revoked_at.is_null())
               .execute())
    if not updated:
        raise KeyNotFound(key_id)


def touch(key_id: str, when: datetime) -> None:
    ApiKey.update(last_used_at=when).where(ApiKey.id == key_id).execute()
