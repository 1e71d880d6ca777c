"""A quota of N admits exactly N requests: two gunicorn processes on one Redis, 50 clients."""
from tests.gateway.admission.quota_race import race


def test_two_processes_fifty_clients_admit_exactly_the_quota(redis_url):
    statuses = race(quota=100, clients=50, total=250, workers=2, redis_url=redis_url)
    assert statuses == {200: 100, 402: 150}


def test_embedded_mode_admits_exactly_the_quota():
    statuses = race(quota=60, clients=50, total=150, workers=1, redis_url=None)
    assert statuses == {200: 60, 402: 90}
