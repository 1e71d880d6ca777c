"""Users, their identity-provider links, and API keys."""
import peewee as pw
from peewee_migrate import Migrator

from storage.models import UtcDateTimeField


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class User(pw.Model):
        id = pw.CharField(max_length=40, primary_key=True)
        email = pw.CharField(max_length=320, unique=True)
        password_hash = pw.CharField(max_length=255, null=True)
        tier = pw.CharField(default="free", max_length=20)
        created_at = UtcDateTimeField()

        class Meta:
            table_name = "users"

    @migrator.create_model
    class OAuthIdentity(pw.Model):
        id = pw.CharField(max_length=40, primary_key=True)
        user = pw.ForeignKeyField(column_name="user_id", field="id", model=migrator.orm["users"],
                                  on_delete="CASCADE")
        provider = pw.CharField(max_length=20)
        subject = pw.CharField(max_length=255)
        created_at = UtcDateTimeField()

        class Meta:
            table_name = "oauth_identities"
            indexes = [(("provider", "subject"), True)]

    @migrator.create_model
    class ApiKey(pw.Model):
        id = pw.CharField(max_length=40, primary_key=True)
        user = pw.ForeignKeyField(column_name="user_id", field="id", model=migrator.orm["users"],
                                  on_delete="CASCADE")
        name = pw.CharField(max_length=100)
        key_hash = pw.CharField(max_length=64, unique=True)
        prefix = pw.CharField(max_length=20)
        last_four = pw.CharField(max_length=4)
        created_at = UtcDateTimeField()
        last_used_at = UtcDateTimeField(null=True)
        revoked_at = UtcDateTimeField(null=True)

        class Meta:
            table_name = "api_keys"


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model("api_keys")
    migrator.remove_model("oauth_identities")
    migrator.remove_model("users")
