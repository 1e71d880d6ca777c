"""``python -m workers``: Dramatiq's worker CLI under gevent, on Aqta's broker and actors.

``aqta worker`` runs this. Extra actor modules come first, Dramatiq's options
after: ``python -m workers [module ...] --processes 2 --threads 16``. It is
``dramatiq-gevent workers.runtime:from_environment workers.actors [module ...]``.
"""
from gevent import monkey

monkey.patch_all()  # first, before anything imports threading or socket: threads become greenlets

import sys  # noqa: E402

from dramatiq.cli import main, make_argument_parser  # noqa: E402


def run(argv: list[str]) -> int:
    args = make_argument_parser().parse_args(["workers.runtime:from_environment", "workers.actors", *argv])
    # Dramatiq re-executes sys.argv on SIGHUP; make that this very command.
    sys.argv = [sys.executable, "-m", "workers", *argv]
    return main(args)


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
