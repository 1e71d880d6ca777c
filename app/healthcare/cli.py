"""``aqta receipts verify`` and ``aqta log monitor|generate-key``: offline, no app, no database."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from app.healthcare.csv_rows import NotAnExport
from app.healthcare.note import NoteError, Signer
from app.healthcare.offline import load_verifiers, monitor, verify_file

KEY_HELP = "A public key (name+id+base64, from /api/health/log/keys) or a file of them; repeatable."


def _verifiers(keys: tuple[str, ...]):
    try:
        return load_verifiers(keys)
    except (NoteError, OSError) as exc:
        raise click.BadParameter(str(exc), param_hint="--public-key") from None


@click.group("receipts")
def receipts_group():
    """Healthcare receipts, checked offline."""


@receipts_group.command("verify")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--public-key", "keys", multiple=True, required=True, help=KEY_HELP)
@click.option("--origin", default=None, help="Also require checkpoints of this log.")
def verify_command(file, keys: tuple[str, ...], origin: str | None):
    """Verify a receipt (a detail answer) or every receipt of an export (JSONL or CSV); exit 1 if
    any fails."""
    try:
        outcomes = verify_file(file.read(), _verifiers(keys), origin)
    except NotAnExport as exc:
        click.echo(f"FAIL {file.name}: {exc}")
        sys.exit(1)
    for outcome in outcomes:
        click.echo(f"{'OK  ' if outcome.ok else 'FAIL'} {outcome.label}: {outcome.reason}")
    failed = sum(not o.ok for o in outcomes)
    click.echo(f"{len(outcomes) - failed} of {len(outcomes)} receipt(s) verified")
    sys.exit(1 if failed else 0)


@click.group("log")
def log_group():
    """The healthcare transparency log."""


@log_group.command("monitor")
@click.argument("base_url")
@click.option("--public-key", "keys", multiple=True, required=True, help=KEY_HELP)
@click.option("--state", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where the last verified checkpoint is kept between runs.")
def monitor_command(base_url: str, keys: tuple[str, ...], state: Path):
    """Check the log's latest checkpoint extends the last one seen (run it from cron)."""
    outcome = monitor(base_url, _verifiers(keys), state)
    click.echo(f"{'OK' if outcome.ok else 'FAIL'}: {outcome.reason}")
    sys.exit(0 if outcome.ok else 1)


@log_group.command("generate-key")
@click.argument("name")
def generate_key_command(name: str):
    """Print a new signing key (for LOG_SIGNING_KEYS) and, on the last line, its public key."""
    try:
        signer = Signer.generate(name)
    except NoteError as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from None
    click.echo(str(signer))
    click.echo(str(signer.verifier))
