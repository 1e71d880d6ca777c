"""The ``aqta`` command: serve, migrate, create-key, plus Flask's own commands."""
from __future__ import annotations

import glob
import logging
import os
import shutil
import sys
import tempfile

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

import storage.keys as keys_repo
import storage.users as users_repo
from app import create_app, logs
from app.config import ConfigError, database_label, settings_from_env
from app.errors import AqtaError
from app.healthcare import audit, retention
from app.healthcare.cli import log_group, receipts_group
from app.identity.api_keys import INFERENCE, SCOPES, generate_key
from app.identity.emails import normalise_email
from app.serving import MULTIPROCESS_DIR_VARIABLE, TEMPORARY_DIR_VARIABLE
from app.tiers import TIER_NAMES
from storage.database import close_connection, sqlite_file
from storage.errors import StorageError
from storage.migrate import apply_migrations

log = logging.getLogger(__name__)

# The commands that may make a new SQLite database. Any other, run from a folder without
# one, would otherwise make a second, empty database that the server never sees.
CREATES_DATABASE = ("serve", "migrate")


class AqtaGroup(FlaskGroup):
    def list_commands(self, ctx: click.Context) -> list[str]:
        # Every command is ours (none on app.cli): listing them for --help needs no app,
        # so it opens no database.
        return click.Group.list_commands(self, ctx)


def _create_app():
    try:
        settings = settings_from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    command = click.get_current_context(silent=True)
    logs.configure(settings)  # before the first line the command says, so JSON mode holds for it
    check_database(settings.database_url, command.info_name if command else None, settings.log_format)
    # A command never runs jobs in its own process: 'serve' execs gunicorn, whose
    # workers build their own app, and 'worker' execs Dramatiq's workers.
    return create_app(settings.override(run_embedded_worker=False))


def check_database(url: str, command: str | None, log_format: str = "text") -> None:
    """Say on stderr which database the command uses (stdout stays the command's own, so
    ``$(aqta create-key … | tail -1)`` is the key); refuse to make a new SQLite file
    outside ``serve`` and ``migrate``."""
    if log_format == "json":
        log.info("aqta: database %s", database_label(url))  # a JSON line like every other
    else:
        click.echo(f"aqta: database {database_label(url)}", err=True)
    path = sqlite_file(url)
    if path is None or os.path.exists(path) or command in CREATES_DATABASE:
        return
    raise click.ClickException(
        f"there is no database at {os.path.abspath(path)} (DATABASE_URL={url}; a relative "
        "sqlite:/// path is read from the current folder). Run this command in the folder "
        "'aqta serve' runs in, or set DATABASE_URL to the server's database (for example "
        f"DATABASE_URL=sqlite:///{os.path.abspath('aqta.db')}); 'aqta migrate' makes a new one.")


@click.command("migrate")
@with_appcontext
def migrate_command():
    """Apply pending schema migrations (safe to run again)."""
    applied = apply_migrations()
    click.echo(f"applied {len(applied)} migration(s): {', '.join(applied)}" if applied
               else "database is up to date")


@click.command("create-key")
@click.option("--email", required=True, help="The account's email; created when missing.")
@click.option("--tier", type=click.Choice(TIER_NAMES), default=None,
              help="Set the account's tier (new accounts default to free).")
@click.option("--name", default="default", show_default=True, help="A label for the key.")
@click.option("--rpm", type=click.IntRange(min=1), default=None,
              help="Requests per minute for this key (default: the tier's).")
@click.option("--monthly-quota", type=click.IntRange(min=1), default=None,
              help="Requests per calendar month for this key (default: the tier's).")
@click.option("--scope", type=click.Choice(SCOPES), default=INFERENCE,
              show_default=True,
              help="inference: chat and models only; admin: managing keys, webhooks, budgets too.")
@with_appcontext
def create_key_command(email: str, tier: str | None, name: str, rpm: int | None,
                       monthly_quota: int | None, scope: str):
    """Create an API key (and the account if needed); prints the key on the last line."""
    apply_migrations()  # so a first command on a fresh database works
    try:
        email = normalise_email(email)
    except AqtaError as exc:
        raise click.BadParameter(exc.message, param_hint="--email") from None
    user = users_repo.find_by_email(email)
    if user is None:
        user = users_repo.create(email, tier=tier or "free")
        audit.record(audit.ACCOUNT_CREATED, audit.CREATE, account_id=user.id, entity_type=audit.ACCOUNT,
                     entity_id=user.id, detail={"tier": user.tier})
        click.echo(f"created user {user.id} <{email}> on tier {user.tier}")
    elif tier and tier != user.tier:
        user = users_repo.set_tier(user.id, tier)
        audit.record(audit.ACCOUNT_TIER_CHANGED, audit.UPDATE, account_id=user.id,
                     entity_type=audit.ACCOUNT, entity_id=user.id, detail={"tier": tier})
        click.echo(f"set tier of {user.id} <{email}> to {tier}")
    new = generate_key()
    record = keys_repo.create(user.id, name, new.key_hash, new.prefix, new.last_four, scope=scope)
    if rpm is not None or monthly_quota is not None:
        keys_repo.set_limits(user.id, record.id, rpm_limit=rpm, monthly_quota=monthly_quota)
    audit.record(audit.KEY_CREATED, audit.CREATE, account_id=user.id, entity_type=audit.API_KEY,
                 entity_id=record.id, detail={"scope": scope})
    click.echo(f"created {scope} key {record.id} ({name}) for {email}")
    click.echo(new.plaintext)


@click.command("set-limits")
@click.argument("key_id")
@click.option("--rpm", type=click.IntRange(min=0), default=None,
              help="Requests per minute; 0 returns to the tier's.")
@click.option("--monthly-quota", type=click.IntRange(min=0), default=None,
              help="Requests per calendar month; 0 returns to the tier's.")
@with_appcontext
def set_limits_command(key_id: str, rpm: int | None, monthly_quota: int | None):
    """Set a key's limits, above its tier's if need be (operators only)."""
    try:
        key = keys_repo.get_by_id(key_id)
    except StorageError as exc:
        raise click.ClickException(exc.message) from None
    changes = {}
    if rpm is not None:
        changes["rpm_limit"] = rpm or None
    if monthly_quota is not None:
        changes["monthly_quota"] = monthly_quota or None
    key = keys_repo.set_limits(key.user_id, key_id, **changes)
    audit.record(audit.KEY_LIMITS_CHANGED, audit.UPDATE, account_id=key.user_id, entity_type=audit.API_KEY,
                 entity_id=key_id, detail={"fields": sorted(changes)})
    click.echo(f"{key_id}: rpm_limit={key.rpm_limit or 'tier'} monthly_quota={key.monthly_quota or 'tier'}")


@click.command("expire-log")
@with_appcontext
def expire_log_command():
    """Forget the content of receipts and audit events older than LOG_RETENTION_DAYS (their
    hashes stay in the log, so every proof still verifies); each account is told in its trail."""
    expired = retention.expire()
    for account_id, counts in sorted(expired.items()):
        click.echo(f"{account_id}: " + ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())))
    click.echo(f"expired content of {sum(sum(c.values()) for c in expired.values())} leaves "
               f"in {len(expired)} account(s)")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int,
              help="gunicorn worker processes (gevent).")
@click.option("--worker-connections", default=1000, show_default=True, type=int,
              help="Concurrent connections per worker.")
@click.option("--control-socket", default=None,
              help="gunicorn's control socket (for gunicornc) [default: "
                   "$XDG_RUNTIME_DIR or ~/.gunicorn, aqta-HOST-PORT.ctl]")
@with_appcontext
def serve_command(host: str, port: int, workers: int, worker_connections: int,
                  control_socket: str | None):
    """Migrate, then run the gateway under gunicorn with gevent workers."""
    settings = current_app.config["AQTA_SETTINGS"]
    if workers > 1 and not settings.redis_url:
        raise click.UsageError("--workers above 1 needs REDIS_URL: rate limits, loop windows and "
                               "the cache must be shared between processes")
    apply_migrations()
    close_connection()
    prepare_metrics_folder(settings.metrics_multiprocess_dir)
    binds = ["--bind", f"{host}:{port}"]
    if settings.metrics_port is not None:
        binds += ["--bind", f"{settings.metrics_host}:{settings.metrics_port}"]
    # A fresh process: gevent must patch the standard library before the app's
    # modules are imported, which gunicorn's gevent worker does when it loads wsgi.
    gunicorn = shutil.which("gunicorn") or sys.executable
    argv = [gunicorn] if gunicorn != sys.executable else [sys.executable, "-m", "gunicorn"]
    # app.serving is gunicorn's config: the worker and logger classes and the exit hooks.
    argv += ["--config", "python:app.serving", "--workers", str(workers),
             "--worker-connections", str(worker_connections), *binds,
             "--graceful-timeout", str(settings.shutdown_grace_seconds), "--keep-alive", "5",
             "--control-socket", control_socket or control_socket_path(host, port), "wsgi:app"]
    listening = f"Aqta listening on http://{host}:{port} (docs at /docs)"
    if settings.log_format == "json":
        log.info(listening)  # a JSON line like every other
    else:
        click.echo(listening)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvp(argv[0], argv)


def prepare_metrics_folder(configured: str | None) -> None:
    """Give this run an empty prometheus_client multi-process folder (its workers inherit it).

    A configured PROMETHEUS_MULTIPROC_DIR is emptied of the last run's files; without one,
    a fresh temporary folder is made, which gunicorn's master removes at exit.
    """
    if configured:
        os.makedirs(configured, exist_ok=True)
        for stale in glob.glob(os.path.join(configured, "*.db")):
            os.unlink(stale)
        return
    folder = tempfile.mkdtemp(prefix="aqta-metrics-")
    os.environ[MULTIPROCESS_DIR_VARIABLE] = folder
    os.environ[TEMPORARY_DIR_VARIABLE] = folder


def control_socket_path(host: str, port: int) -> str:
    """A control socket path of this server's own: gunicorn's default is one per user, so a
    second server would take over (and on exit remove) the first one's socket."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    folder = runtime if runtime and os.path.isdir(runtime) else os.path.join(
        os.path.expanduser("~"), ".gunicorn")
    return os.path.join(folder, f"aqta-{host.replace(':', '_')}-{port}.ctl")


@click.command("worker")
@click.argument("modules", nargs=-1)
@click.option("--processes", default=1, show_default=True, type=click.IntRange(min=1),
              help="Worker processes.")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(min=1),
              help="Actors run at once per process (greenlets: gevent).")
@click.option("--shutdown-timeout", default=None, type=click.IntRange(min=1),
              help="Seconds running actors get to finish after SIGTERM [default: "
                   "SHUTDOWN_GRACE_SECONDS, 30]; prefetched messages go back to the queue at once.")
@with_appcontext
def worker_command(modules: tuple[str, ...], processes: int, threads: int,
                   shutdown_timeout: int | None):
    """Run the background jobs from Redis: Dramatiq workers under gevent, and the scheduler.

    MODULES are extra actor modules to import besides workers.actors.
    """


    if not current_app.config["AQTA_SETTINGS"].redis_url:
        raise click.ClickException("aqta worker needs REDIS_URL, the broker the web processes send "
                                   "jobs to (without it, 'aqta serve' runs every job in process)")
    close_connection()
    shutdown_timeout = shutdown_timeout or current_app.config["AQTA_SETTINGS"].shutdown_grace_seconds
    # A fresh interpreter: gevent must patch the standard library before anything else.
    argv = [sys.executable, "-m", "workers", *modules, "--processes", str(processes),
            "--threads", str(threads), "--worker-shutdown-timeout", str(shutdown_timeout * 1000)]
    click.echo(f"Aqta worker: {processes} process(es) x {threads} thread(s)")
    sys.stdout.flush()
    os.execv(sys.executable, argv)


main = AqtaGroup(name="aqta", create_app=_create_app, add_version_option=False,
                  help="Aqta, the OpenAI-compatible LLM gateway.")
main.add_command(migrate_command)
main.add_command(create_key_command)
main.add_command(serve_command)
main.add_command(expire_log_command)
main.add_command(set_limits_command)
main.add_command(worker_command)
main.add_command(receipts_group)
main.add_command(log_group)
