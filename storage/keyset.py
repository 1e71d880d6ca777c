"""Keyset paging on (time, id): the condition "strictly after this row" and the order, either way."""
from __future__ import annotations

from datetime import datetime

import peewee


def after(time: peewee.Field, id_: peewee.Field, at: datetime, row_id: str, newest_first: bool):
    """Rows strictly after (at, row_id) in the order ``ordered`` gives."""
    if newest_first:
        return (time < at) | ((time == at) & (id_ < row_id))
    return (time > at) | ((time == at) & (id_ > row_id))


def ordered(time: peewee.Field, id_: peewee.Field, newest_first: bool) -> tuple:
    return (time.desc(), id_.desc()) if newest_first else (time, id_)
