"""Apply the schema migrations in ``migrations/`` with peewee-migrate (idempotent)."""
from __future__ import annotations

import logging
from pathlib import Path

from peewee_migrate import Router

import migrations
from storage.models import database_proxy

MIGRATIONS_DIR = Path(migrations.__file__).parent


def apply_migrations() -> list[str]:
    """Run every migration not yet applied; return the names of those that ran."""
    router = Router(database_proxy.obj, migrate_dir=MIGRATIONS_DIR,
                    logger=logging.getLogger("aqta.migrate"))
    pending = list(router.diff)
    if pending:
        router.run()
    return pending
