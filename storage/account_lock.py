"""Caps per account that hold under concurrency: count, then insert, under a lock.

Counting and inserting in two statements lets concurrent requests all see room
and all insert (30 simultaneous creates past a cap of 20 stored 21 and more).
``capped`` runs both in one transaction that first locks the account's row
(``SELECT … FOR UPDATE`` on PostgreSQL and MySQL; ``BEGIN IMMEDIATE`` on SQLite,
which takes the database's write lock), so an account's creations take turns.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import peewee

from storage.errors import RecordConflict
from storage.models import User, database_proxy

T = TypeVar("T")


class LimitReached(RecordConflict):
    """The account already has ``limit`` of these."""

    code = "limit_reached"

    def __init__(self, limit: int):
        super().__init__(f"limit of {limit} reached")
        self.limit = limit


@contextmanager
def account_locked(user_id: str) -> Iterator[None]:
    """A transaction in which no other transaction holds ``user_id``'s lock."""
    database = database_proxy.obj
    if isinstance(database, peewee.SqliteDatabase):
        with database.atomic(lock_type="IMMEDIATE"):
            yield
        return
    with database.atomic():
        User.select(User.id).where(User.id == user_id).for_update().get_or_none()
        yield


def capped(user_id: str, count: Callable[[], int], limit: int, create: Callable[[], T]) -> T:
    """``create()`` unless ``count()`` is at ``limit`` already (LimitReached), atomically."""
    with account_locked(user_id):
        if count() >= limit:
            raise LimitReached(limit)
        return create()
