"""A drain that holds a journal folder, in the middle of storing a batch, until the test lets it go."""
from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from app.handoff.drain import LOCK_FILE, Store, drain_journal
from tests.support import wait_for

FIRST_TRY_SECONDS = 0.1  # from opening the lock to trying it is two lines: far less than this


@contextmanager
def held_by_a_slow_drain(directory, store: Store):
    """Another drain holds ``directory`` (it is storing the folder's first batch) until the block ends.

    The folder must hold a record for it to store; segments written inside the block come
    after its listing of the folder, so it leaves them to the next drain.
    """
    storing, release = threading.Event(), threading.Event()

    def slow_store(raw, reject):
        storing.set()
        release.wait(30)
        return store(raw, reject)

    other = threading.Thread(target=drain_journal, args=(directory, slow_store))
    other.start()
    assert storing.wait(30), "the other drain never started storing"
    try:
        yield
    finally:
        release.set()
        other.join(30)
    assert not other.is_alive(), "the other drain still holds the folder"


def until_a_second_drain_tries_the_folder(directory, drain: threading.Thread) -> None:
    """Until ``drain`` (not the holder) has the folder's lock open, and a moment more: it has
    then tried the lock and been refused, so what it does next is waiting; or until it ended."""
    lock = (Path(directory) / LOCK_FILE).resolve()

    def openers() -> int:
        count = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                count += os.readlink(f"/proc/self/fd/{fd}") == str(lock)
            except OSError:  # closed meanwhile
                pass
        return count

    wait_for(lambda: openers() >= 2 or not drain.is_alive(), "a second drain to open the folder's lock")
    time.sleep(FIRST_TRY_SECONDS)
