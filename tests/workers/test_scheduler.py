"""The scheduler: once per period and actor, however many processes run one."""
from __future__ import annotations

import dramatiq
import pytest
import redis

from app.jobs import make_broker
from workers.options import actor_options
from workers.scheduler import Periodic, ScheduleError, Scheduler

TICKS = [1000.0, 1000.5, 1009.9, 1010.0, 1015.0, 1030.2]  # slots of 10 s: 100, 101, 103


def broker_with(actor_name: str) -> dramatiq.Broker:
    """A broker of the test's own, so counting its queue counts only this test's messages."""
    broker = make_broker(None)
    dramatiq.actor(lambda: None, broker=broker, **actor_options(actor_name))
    return broker


def queued(broker: dramatiq.Broker) -> int:
    return broker.queues["default"].qsize()


def test_alone_it_enqueues_once_per_slot():
    broker = broker_with("tests.periodic")
    scheduler = Scheduler(broker, [Periodic("tests.periodic", 10.0)])
    enqueued = [name for now in TICKS for name in scheduler.tick(now)]
    assert enqueued == ["tests.periodic"] * 3
    assert queued(broker) == 3


def test_with_redis_one_of_two_schedulers_enqueues_per_period(redis_url, jobs_namespace):
    broker = broker_with("tests.periodic")
    client = redis.Redis.from_url(redis_url)
    schedule = [Periodic("tests.periodic", 10.0)]
    first, second = (Scheduler(broker, schedule, redis_client=client, namespace=jobs_namespace)
                     for _ in range(2))
    by_first, by_second = [], []
    for index, now in enumerate(TICKS):
        # Alternate who comes first, as two processes' clocks would.
        pair = (first, by_first), (second, by_second)
        for scheduler, enqueued in (pair if index % 2 else pair[::-1]):
            enqueued += scheduler.tick(now)
    assert len(by_first) + len(by_second) == 3
    assert by_first and by_second  # whoever came first in a slot took it
    assert queued(broker) == 3


def test_schedulers_in_another_namespace_do_not_share_slots(redis_url, jobs_namespace):
    broker = broker_with("tests.periodic")
    client = redis.Redis.from_url(redis_url)
    schedule = [Periodic("tests.periodic", 10.0)]
    mine = Scheduler(broker, schedule, redis_client=client, namespace=jobs_namespace)
    other = Scheduler(broker, schedule, redis_client=client, namespace=f"{jobs_namespace}-other")
    assert mine.tick(1000.0) == other.tick(1000.0) == ["tests.periodic"]  # both cleaned up after


def test_a_schedule_naming_an_undeclared_actor_is_refused():
    with pytest.raises(ScheduleError, match="tests.nobody"):
        Scheduler(broker_with("tests.periodic"), [Periodic("tests.nobody", 1.0)])


@pytest.mark.parametrize("every", [0, -1.0])
def test_a_period_must_be_positive(every):
    with pytest.raises(ValueError):
        Periodic("tests.periodic", every)


def test_it_waits_until_the_next_slot_boundary():
    scheduler = Scheduler(broker_with("a"), [Periodic("a", 10.0)])
    assert scheduler.seconds_to_next_slot(1003.0) == pytest.approx(7.0)
