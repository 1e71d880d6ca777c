"""Sequencing across processes: every leaf numbered once, no gap, the tree right; a kill loses nothing."""
from __future__ import annotations

import multiprocessing
import os
import signal

import storage.transparency_log as log_repo
from app.healthcare import merkle
from storage.log_models import LogEntry, LogNode
from tests.healthcare.sequencing_child import produce, sequence_then_hang, sequence_until
from tests.support import wait_for

PRODUCERS, PER_PRODUCER, SEQUENCERS = 4, 250, 3  # 1,000 leaves


def _check_the_log(app, total: int) -> None:
    with app.app_context():
        rows = list(LogEntry.select(LogEntry.leaf_index, LogEntry.leaf_hash).order_by(LogEntry.leaf_index))
        assert [row.leaf_index for row in rows] == list(range(total))
        hashes = [bytes.fromhex(row.leaf_hash) for row in rows]
        state = log_repo.state()
        assert state.size == total and state.root == merkle.root_of(hashes)
        level0 = {row.idx: row.hash for row in LogNode.select().where(LogNode.level == 0)}
        assert level0 == {i: h.hex() for i, h in enumerate(hashes)}
        assert LogNode.select().count() == sum(total >> level for level in range(total.bit_length()))


def test_concurrent_producers_and_sequencers_number_every_leaf_exactly_once(app, database_url):
    spawn = multiprocessing.get_context("spawn")
    processes = [spawn.Process(target=produce, args=(database_url, p, PER_PRODUCER, 25))
                 for p in range(PRODUCERS)]
    processes += [spawn.Process(target=sequence_until, args=(database_url, PRODUCERS * PER_PRODUCER, 40))
                  for _ in range(SEQUENCERS)]
    try:
        for process in processes:
            process.start()
        for process in processes:
            process.join(timeout=300)
        assert [process.exitcode for process in processes] == [0] * len(processes)
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
    _check_the_log(app, PRODUCERS * PER_PRODUCER)


def test_a_sequencer_killed_mid_transaction_loses_and_doubles_nothing(app, database_url, tmp_path):
    spawn = multiprocessing.get_context("spawn")
    producer = spawn.Process(target=produce, args=(database_url, 0, 120, 60))
    producer.start()
    producer.join(timeout=120)
    with app.app_context():
        log_repo.sequence(20, merkle.extend)  # a first stretch, committed
    marker = tmp_path / "inside"
    doomed = spawn.Process(target=sequence_then_hang, args=(database_url, str(marker)))
    doomed.start()
    wait_for(marker.exists, "the sequencer to be inside its transaction", 120)
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.join(timeout=30)
    survivor = spawn.Process(target=sequence_until, args=(database_url, 120, 50))
    survivor.start()
    survivor.join(timeout=300)
    assert survivor.exitcode == 0
    _check_the_log(app, 120)
