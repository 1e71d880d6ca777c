"""The users repository: accounts, their password hashes and identity-provider links."""
from __future__ import annotations

import peewee

from storage.errors import EmailTaken, UserNotFound
from storage.ids import new_id, utcnow
from storage.models import OAuthIdentity, User, database_proxy
from storage.records import UserRecord


def _record(user: User) -> UserRecord:
    return UserRecord(id=user.id, email=user.email, tier=user.tier, created_at=user.created_at,
                      has_password=user.password_hash is not None,
                      session_generation=user.session_generation)


def create(email: str, password_hash: str | None = None, tier: str = "free") -> UserRecord:
    """Create an account; ``email`` must already be normalised."""
    try:
        with database_proxy.atomic():
            user = User.create(id=new_id("usr"), email=email, password_hash=password_hash,
                               tier=tier, created_at=utcnow())
    except peewee.IntegrityError:
        raise EmailTaken(email) from None
    return _record(user)


def get(user_id: str) -> UserRecord:
    user = User.get_or_none(User.id == user_id)
    if user is None:
        raise UserNotFound(user_id)
    return _record(user)


def find_by_email(email: str) -> UserRecord | None:
    user = User.get_or_none(User.email == email)
    return _record(user) if user else None


def password_hash_for(email: str) -> tuple[UserRecord, str | None] | None:
    """The account and its password hash, for checking a login."""
    user = User.get_or_none(User.email == email)
    return (_record(user), user.password_hash) if user else None


def set_password_hash(user_id: str, password_hash: str) -> None:
    """Store a new hash of the same password (a rehash); sessions stay valid."""
    User.update(password_hash=password_hash).where(User.id == user_id).execute()


def change_password(user_id: str, password_hash: str) -> UserRecord:
    """Set a new password and void every session cookie issued before."""
    User.update(password_hash=password_hash,
                session_generation=User.session_generation + 1).where(User.id == user_id).execute()
    return get(user_id)


def end_sessions(user_id: str) -> None:
    """Void every session cookie of this user issued so far."""
    User.update(session_generation=User.session_generation + 1).where(User.id == user_id).execute()


def set_tier(user_id: str, tier: str) -> UserRecord:
    User.update(tier=tier).where(User.id == user_id).execute()
    return get(user_id)


def find_by_identity(provider: str, subject: str) -> UserRecord | None:
    identity = (OAuthIdentity.select(OAuthIdentity, User).join(User)
                .where((OAuthIdentity.provider == provider) & (OAuthIdentity.subject == subject))
                .get_or_none())
    return _record(identity.user) if identity else None


def link_identity(user_id: str, provider: str, subject: str) -> None:
    """Remember that ``subject`` at ``provider`` is this user (idempotent)."""
    try:
        with database_proxy.atomic():
            OAuthIdentity.create(id=new_id("oid"), user=user_id, provider=provider,
                                 subject=subject, created_at=utcnow())
    except peewee.IntegrityError:
        pass


def ids_with_tier(tier: str) -> list[str]:
    """Every account on ``tier`` (the log's checkpoints go to each healthcare account)."""
    return [row.id for row in User.select(User.id).where(User.tier == tier).order_by(User.id)]
