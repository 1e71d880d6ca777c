"""The embedded mode's quota counters in the database: a request counts on every scope or on none."""
from __future__ import annotations

import pytest

import storage.quotas as quota_counters


@pytest.fixture
def counters(app):
    with app.app_context():
        yield quota_counters


def test_a_request_refused_by_one_scope_counts_on_none(counters):
    limits = {"key:k1": 5, "account:u1": 1}
    assert counters.reserve(limits, "2026-12") == (None, [1, 1])
    # The account is full: the key's count, raised first in the same transaction, is rolled back.
    assert counters.reserve(limits, "2026-12") == ("account:u1", [])
    assert [counters.used(scope, "2026-12") for scope in limits] == [1, 1]


def test_a_count_given_back_never_goes_below_zero(counters):
    counters.reserve({"key:k1": 5}, "2026-12")
    counters.release(["key:k1"], "2026-12")
    counters.release(["key:k1"], "2026-12")  # one more than was counted
    assert counters.used("key:k1", "2026-12") == 0
    assert counters.reserve({"key:k1": 1}, "2026-12") == (None, [1])
