"""A drain that holds a journal folder, in the middle of storing a batch, until the test lets it go."""
from __future__ import annotations

import threading
from contextlib import contextmanager

from app.handoff.drain import Store, drain_journal


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
