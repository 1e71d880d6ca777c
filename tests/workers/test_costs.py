"""Cost aggregation and retention, on every backend, through the real repositories."""
from __future__ import annotations

import random
import threading
from datetime import UTC, date, datetime, time, timedelta

import dramatiq
import pytest

import storage.costs as costs_repo
import storage.requests as requests_repo
from app.config import ConfigError, settings_from_env
from storage.costs import CostTotals
from storage.money import to_eur
from tests.support.request_records import expected_daily, random_records, request_record, totals_of
from workers.actors import PERIODIC
from workers.costs import aggregate_costs, enforce_retention
from workers.scheduler import Scheduler

TODAY = datetime.now(UTC).date()


def at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), UTC)


@pytest.fixture
def db(app):
    with app.app_context():
        yield


@pytest.fixture
def owners(make_account):
    """Two accounts, one with two keys (the second key id is just a label in the log)."""
    first, second = make_account(tier="pro"), make_account(tier="starter")
    return [(first.user.id, first.key_id), (first.user.id, "key_second"),
            (second.user.id, second.key_id)]


def stored_daily(user_id: str, group: str | None = None) -> dict[tuple, CostTotals]:
    rows = costs_repo.daily(user_id, date(2000, 1, 1), TODAY + timedelta(days=2), group)
    return {(row.day, row.group): row.totals for row in rows}


def assert_matches(records, owners) -> None:
    for user_id in {user for user, _ in owners}:
        for group in (None, "key", "model", "provider"):
            assert stored_daily(user_id, group) == expected_daily(records, user_id, group)


def test_aggregates_equal_raw_sums_to_the_cent(db, owners):
    rng = random.Random(20240501)
    days = [TODAY - timedelta(days=n) for n in (0, 1, 2, 7, 40)]
    records = random_records(rng, owners, days, 600)
    for start in range(0, len(records), 100):  # several batches, several runs
        requests_repo.insert_batch(records[start:start + 100])
        costs_repo.aggregate()
    assert_matches(records, owners)
    first_user = owners[0][0]
    total = sum(stored_daily(first_user).values(), CostTotals())
    assert total.cost_eur == sum(r.cost_eur for r in records if r.user_id == first_user)
    assert total.saved_eur == sum(r.saved_eur for r in records if r.user_id == first_user)


def test_rerunning_and_reinserting_add_nothing(db, owners):
    records = random_records(random.Random(7), owners, [TODAY, TODAY - timedelta(days=3)], 120)
    requests_repo.insert_batch(records)
    assert costs_repo.aggregate().recomputed > 0
    before = {user: stored_daily(user) for user, _ in owners}
    assert costs_repo.aggregate().recomputed == 0  # nothing is pending
    requests_repo.insert_batch(records[:50])  # a retried batch: duplicates are ignored
    costs_repo.aggregate()
    costs_repo.aggregate()
    assert {user: stored_daily(user) for user, _ in owners} == before
    assert costs_repo.pending() == 0


def test_late_records_for_an_old_day_are_counted(db, owners):
    user_id, key_id = owners[0]
    old = TODAY - timedelta(days=20)
    first = [request_record(user_id, key_id, at(old), cost="1.00000001")]
    requests_repo.insert_batch(first)
    costs_repo.aggregate()
    late = [request_record(user_id, key_id, at(old, 23), cost="0.00000002", model="sonar",
                           provider="perplexity")]
    requests_repo.insert_batch(late)
    costs_repo.aggregate()
    assert stored_daily(user_id) == {(old, None): totals_of(first + late)}
    assert stored_daily(user_id)[(old, None)].cost_eur == to_eur(100000003)


def test_records_inserted_during_aggregation_are_never_lost(db, owners):
    """Inserts race two aggregators (a periodic run and an on-demand one); nothing is lost."""
    rng = random.Random(99)
    batches = [random_records(rng, owners, [TODAY, TODAY - timedelta(days=1)], 20) for _ in range(25)]
    done = threading.Event()
    failures = []

    def insert_all():
        try:
            for batch in batches:
                requests_repo.insert_batch(batch)
        except Exception as exc:  # surfaced below; a thread's error would be lost
            failures.append(exc)
        finally:
            done.set()

    def aggregate_until_done():
        try:
            while not done.is_set():
                costs_repo.aggregate()
        except Exception as exc:
            failures.append(exc)

    threads = [threading.Thread(target=insert_all), threading.Thread(target=aggregate_until_done)]
    for thread in threads:
        thread.start()
    aggregate_until_done()
    for thread in threads:
        thread.join()
    assert failures == []
    costs_repo.aggregate()  # the last batches' marks
    assert_matches([r for batch in batches for r in batch], owners)


def test_retention_deletes_old_raw_rows_and_keeps_aggregates(db, owners):
    user_id, key_id = owners[0]
    old, kept = TODAY - timedelta(days=100), TODAY - timedelta(days=5)
    old_records = [request_record(user_id, key_id, at(old, h), cost="0.10000003") for h in (1, 23)]
    kept_records = [request_record(user_id, key_id, at(kept), cost="0.25")]
    requests_repo.insert_batch(old_records + kept_records)  # not yet aggregated
    run = costs_repo.apply_retention(90)
    assert run.deleted == 2 and run.cutoff == at(TODAY - timedelta(days=90), 0)
    assert [r.request_id for r in requests_repo.list_for_user(user_id)] == [kept_records[0].request_id]
    # The old day's pending rows were aggregated before they were deleted.
    assert stored_daily(user_id) == {(old, None): totals_of(old_records)}
    costs_repo.aggregate()
    expected = {(old, None): totals_of(old_records), (kept, None): totals_of(kept_records)}
    assert stored_daily(user_id) == expected
    # A straggler for the sealed day must not make a later run recompute (and wipe) that day.
    requests_repo.insert_batch([request_record(user_id, key_id, at(old, 5), cost="9")])
    assert costs_repo.aggregate().sealed == 1
    assert stored_daily(user_id) == expected
    assert costs_repo.apply_retention(90).deleted == 1  # the straggler
    assert stored_daily(user_id) == expected


def test_retention_boundary_is_a_whole_utc_day(db, owners):
    user_id, key_id = owners[0]
    edge = TODAY - timedelta(days=90)
    inside = request_record(user_id, key_id, at(edge, 0))
    outside = request_record(user_id, key_id, at(edge, 0) - timedelta(microseconds=1))
    requests_repo.insert_batch([inside, outside])
    assert costs_repo.apply_retention(90).deleted == 1
    assert requests_repo.get(inside.request_id) is not None
    assert costs_repo.sealed_before() == edge
    costs_repo.apply_retention(365)  # a longer retention later never unseals deleted days
    assert costs_repo.sealed_before() == edge


def test_retention_actor_uses_the_configured_period(make_app, make_account):
    app = make_app(request_retention_days=30)
    account = make_account(tier="starter")
    old, recent = (request_record(account.user.id, account.key_id, at(TODAY - timedelta(days=n)))
                   for n in (31, 29))
    with app.app_context():
        requests_repo.insert_batch([old, recent])
        enforce_retention()  # called directly, it runs here and now
        assert requests_repo.get(old.request_id) is None
        assert requests_repo.get(recent.request_id) is not None
        aggregate_costs()
        assert stored_daily(account.user.id) == {(old.created_at.date(), None): totals_of([old]),
                                                 (recent.created_at.date(), None): totals_of([recent])}


def test_both_actors_are_on_the_schedule():
    schedule = {entry.actor_name: entry.every_seconds for entry in PERIODIC}
    assert schedule[aggregate_costs.actor_name] <= 5
    assert schedule[enforce_retention.actor_name] == 3600
    Scheduler(dramatiq.get_broker(), PERIODIC)  # every name resolves to a declared actor


@pytest.mark.parametrize("value,days", [(None, 90), ("30", 30), ("3650", 3650)])
def test_retention_setting(value, days):
    env = {"SECRET_KEY": "a-secret-key-of-some-length"} | ({"REQUEST_RETENTION_DAYS": value} if value else {})
    assert settings_from_env(env).request_retention_days == days


@pytest.mark.parametrize("value", ["0", "-1", "ninety"])
def test_bad_retention_setting(value):
    env = {"SECRET_KEY": "a-secret-key-of-some-length", "REQUEST_RETENTION_DAYS": value}
    with pytest.raises(ConfigError, match="REQUEST_RETENTION_DAYS"):
        settings_from_env(env)
