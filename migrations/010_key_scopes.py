"""API key scopes: ``inference`` (chat and models) or ``admin`` (management too).

Existing keys get the least privilege that locks no one out: ``inference`` when
their account can sign in (a password or a linked Google/Microsoft identity), so
the holder manages keys, webhooks and budgets signed in; ``admin`` when the key is
the account's only way in (accounts made by ``aqta create-key`` have no password).
"""
import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.add_fields("api_keys", scope=pw.CharField(max_length=20, default="inference"))
    migrator.sql(
        "UPDATE api_keys SET scope = 'admin' WHERE user_id IN ("
        "SELECT id FROM users WHERE password_hash IS NULL "
        "AND id NOT IN (SELECT user_id FROM oauth_identities))")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_fields("api_keys", "scope")
