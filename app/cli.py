"""The ``aqta`` command: serve, migrate, create-key, plus Flask's own commands."""
from __future__ import annotations

import os
import shutil
import sys

import click
from flask.cli import FlaskGroup, with_appcontext

from app.config import ConfigError
from app.tiers import TIER_NAMES


def _create_app():
    from app import create_app

    try:
        return create_app()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@click.command("migrate")
@with_appcontext
def migrate_command():
    """Apply pending schema migrations (safe to run again)."""
    from storage.migrate import apply_migrations

    applied = apply_migrations()
    click.echo(f"applied {len(applied)} migration(s): {', '.join(applied)}" if applied
               else "database is up to date")


@click.command("create-key")
@click.option("--email", required=True, help="The account's email; created when missing.")
@click.option("--tier", type=click.Choice(TIER_NAMES), default=None,
              help="Set the account's tier (new accounts default to free).")
@click.option("--name", default="default", show_default=True, help="A label for the key.")
@with_appcontext
def create_key_command(email: str, tier: str | None, name: str):
    """Create an API key (and the account if needed); prints the key on the last line."""
    import storage.keys as keys_repo
    import storage.users as users_repo
    from app.emails import normalise_email
    from app.errors import AqtaError
    from app.keys import generate_key

    try:
        email = normalise_email(email)
    except AqtaError as exc:
        raise click.BadParameter(exc.message, param_hint="--email") from None
    user = users_repo.find_by_email(email)
    if user is None:
        user = users_repo.create(email, tier=tier or "free")
        click.echo(f"created user {user.id} <{email}> on tier {user.tier}")
    elif tier and tier != user.tier:
        user = users_repo.set_tier(user.id, tier)
        click.echo(f"set tier of {user.id} <{email}> to {tier}")
    new = generate_key()
    record = keys_repo.create(user.id, name, new.key_hash, new.prefix, new.last_four)
    click.echo(f"created key {record.id} ({name}) for {email}")
    click.echo(new.plaintext)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int,
              help="gunicorn worker processes (gevent).")
@click.option("--worker-connections", default=1000, show_default=True, type=int,
              help="Concurrent connections per worker.")
@with_appcontext
def serve_command(host: str, port: int, workers: int, worker_connections: int):
    """Migrate, then run the gateway under gunicorn with gevent workers."""
    from storage.database import close_connection
    from storage.migrate import apply_migrations

    apply_migrations()
    close_connection()
    # A fresh process: gevent must patch the standard library before the app's
    # modules are imported, which gunicorn's gevent worker does when it loads wsgi.
    gunicorn = shutil.which("gunicorn") or sys.executable
    argv = [gunicorn] if gunicorn != sys.executable else [sys.executable, "-m", "gunicorn"]
    argv += ["--worker-class", "gevent", "--workers", str(workers),
             "--worker-connections", str(worker_connections), "--bind", f"{host}:{port}",
             "--graceful-timeout", "10", "--keep-alive", "5", "wsgi:app"]
    click.echo(f"Aqta listening on http://{host}:{port} (docs at /docs)")
    sys.stdout.flush()
    os.execvp(argv[0], argv)


main = FlaskGroup(name="aqta", create_app=_create_app, add_version_option=False,
                  help="Aqta, the OpenAI-compatible LLM gateway.")
main.add_command(migrate_command)
main.add_command(create_key_command)
main.add_command(serve_command)
