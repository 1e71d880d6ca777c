"""The analytics API: request history and costs, through HTTP, on every backend."""
from __future__ import annotations

import random
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

import storage.costs as costs_repo
import storage.jobs as jobs_repo
import storage.requests as requests_repo
from app.analytics.cost_series import period_start
from tests.conftest import PASSWORD
from tests.support.request_records import random_records, request_record, totals_of

NOW = datetime.now(UTC).replace(microsecond=0)
TODAY = NOW.date()
MONEY_KEYS = ("total_eur", "saved_eur")


@pytest.fixture
def store(app):
    """Insert records through the repository and aggregate them, as the workers would."""

    def insert(records, aggregate: bool = True):
        with app.app_context():
            requests_repo.insert_batch(records)
            if aggregate:
                costs_repo.aggregate()
        return records

    return insert


def summary(records) -> dict:
    """What the API must answer for ``records``: money as exact 8-place strings."""
    totals = totals_of(records)
    return {"total_eur": f"{totals.cost_eur:.8f}", "saved_eur": f"{totals.saved_eur:.8f}",
            "requests": totals.requests, "prompt_tokens": totals.prompt_tokens,
            "completion_tokens": totals.completion_tokens, "cached": totals.cached,
            "loop_blocks": totals.loop_blocks, "errors": totals.errors}


def get(client, account, path, **params):
    return client.get(path, query_string=params, headers=account.headers)


# -- access ----------------------------------------------------------------------------------

ENDPOINTS = [("get", "/api/analytics/requests"), ("get", "/api/analytics/costs"),
             ("post", "/api/analytics/costs/refresh")]


@pytest.mark.parametrize("method,path", [endpoint for endpoint in ENDPOINTS
                                         if endpoint[1] != "/api/analytics/costs"])
def test_free_tier_is_refused_with_a_key_or_a_session(client, make_account, method, path):
    free = make_account(tier="free")
    response = getattr(client, method)(path, headers=free.headers)
    assert response.status_code == 403
    assert response.json["error"]["code"] == "insufficient_tier"
    client.post("/api/auth/login", json={"email": free.user.email, "password": PASSWORD})
    assert getattr(client, method)(path).json["error"]["code"] == "insufficient_tier"


def test_free_tier_sees_this_months_costs_unsplit(client, make_account, store):
    free = make_account(tier="free")
    first = TODAY.replace(day=1)
    store([request_record(free.user.id, free.key_id, NOW, cost="0.00012345"),
           request_record(free.user.id, free.key_id,
                          datetime.combine(first - timedelta(days=1), datetime.min.time(), UTC))])
    month = get(client, free, "/api/analytics/costs")
    assert month.status_code == 200, month.json
    assert month.json["since"] == first.isoformat()
    assert month.json["totals"]["requests"] == 1
    assert month.json["totals"]["total_eur"] == "0.00012345"
    for params in ({"group_by": "model"}, {"since": (first - timedelta(days=1)).isoformat()}):
        refused = get(client, free, "/api/analytics/costs", **params)
        assert refused.status_code == 403, params
        assert refused.json["error"]["code"] == "insufficient_tier"
        assert "this month's costs" in refused.json["error"]["message"]


@pytest.mark.parametrize("method,path", ENDPOINTS)
def test_anonymous_callers_are_refused(client, method, path):
    assert getattr(client, method)(path).status_code == 401


@pytest.mark.parametrize("tier", ["starter", "pro", "healthcare"])
def test_paying_tiers_see_analytics_with_a_session(client, make_account, store, tier):
    account = make_account(tier=tier)
    store([request_record(account.user.id, account.key_id, NOW)])
    client.post("/api/auth/login", json={"email": account.user.email, "password": PASSWORD})
    assert len(client.get("/api/analytics/requests").json["data"]) == 1
    assert client.get("/api/analytics/costs").json["totals"]["requests"] == 1


def test_an_account_never_sees_another_accounts_data(client, make_account, store):
    mine, theirs = make_account(tier="pro"), make_account(tier="pro")
    store([request_record(mine.user.id, mine.key_id, NOW - timedelta(minutes=m), cost="0.5")
           for m in range(3)])
    store([request_record(theirs.user.id, theirs.key_id, NOW, cost="7")])
    listed = get(client, mine, "/api/analytics/requests").json["data"]
    assert len(listed) == 3 and {r["key_id"] for r in listed} == {mine.key_id}
    # Even naming the other account's key finds nothing.
    assert get(client, mine, "/api/analytics/requests", key_id=theirs.key_id).json["data"] == []
    totals = get(client, mine, "/api/analytics/costs", group_by="key").json["totals"]
    assert totals["total_eur"] == "1.50000000" and totals["requests"] == 3


# -- request history -------------------------------------------------------------------------

def test_history_is_newest_first_with_every_field(client, make_account, store):
    account = make_account(tier="starter")
    older = request_record(account.user.id, account.key_id, NOW - timedelta(hours=1),
                           cost="0.00012300", saved="0")
    newer = request_record(account.user.id, account.key_id, NOW, status="ok", cost="0",
                           saved="0.0042", cached=True, model="claude-3-5-sonnet", provider="anthropic")
    store([older, newer])
    page = get(client, account, "/api/analytics/requests").json
    assert page["next_cursor"] is None
    assert [r["request_id"] for r in page["data"]] == [newer.request_id, older.request_id]
    first = page["data"][0]
    assert first["cost_eur"] == "0.00000000" and first["saved_eur"] == "0.00420000"
    assert (first["cached"], first["model"], first["provider"]) == (True, "claude-3-5-sonnet", "anthropic")
    assert page["data"][1]["cost_eur"] == "0.00012300"
    assert datetime.fromisoformat(first["created_at"]) == NOW


FILTERS = [
    ("model", lambda r: r.model == "gpt-4o", {"model": "gpt-4o"}),
    ("provider", lambda r: r.provider == "openai", {"provider": "openai"}),
    ("status", lambda r: r.status == "error", {"status": "error"}),
    ("cached", lambda r: r.cached, {"cached": "true"}),
    ("not cached", lambda r: not r.cached, {"cached": "false"}),
    ("loop", lambda r: r.loop_detected, {"loop_detected": "true"}),
    ("since", lambda r: r.created_at >= NOW - timedelta(days=1),
     {"since": (NOW - timedelta(days=1)).isoformat()}),
    ("until", lambda r: r.created_at < NOW - timedelta(days=1),
     {"until": (NOW - timedelta(days=1)).isoformat().replace("+00:00", "Z")}),
    ("day range", lambda r: TODAY - timedelta(days=2) <= r.created_at.date() < TODAY,
     {"since": (TODAY - timedelta(days=2)).isoformat(), "until": TODAY.isoformat()}),
    ("combined", lambda r: r.model == "sonar" and r.status == "ok", {"model": "sonar", "status": "ok"}),
]


@pytest.mark.parametrize("name,keep,params", FILTERS, ids=[f[0] for f in FILTERS])
def test_history_filters(client, make_account, store, name, keep, params):
    account = make_account(tier="pro")
    owners = [(account.user.id, account.key_id)]
    days = [TODAY - timedelta(days=n) for n in range(4)]
    records = store([r for r in random_records(random.Random(name), owners, days, 80) if r.created_at < NOW])
    listed = get(client, account, "/api/analytics/requests", limit=500, **params).json["data"]
    expected = sorted((r for r in records if keep(r)), key=lambda r: r.created_at, reverse=True)
    assert [r["created_at"] for r in listed] == [r.created_at.isoformat() for r in expected]
    assert {r["request_id"] for r in listed} == {r.request_id for r in expected}


def test_history_filters_by_key(client, make_account, store):
    account = make_account(tier="pro")
    store([request_record(account.user.id, key, NOW) for key in (account.key_id, "key_other", "key_other")])
    listed = get(client, account, "/api/analytics/requests", key_id="key_other").json["data"]
    assert [r["key_id"] for r in listed] == ["key_other", "key_other"]


def test_pages_have_no_skips_or_repeats_while_records_arrive(client, make_account, store):
    account = make_account(tier="pro")
    base = NOW - timedelta(hours=1)
    # Many share a timestamp, so the order must break ties by request id.
    records = store([request_record(account.user.id, account.key_id, base - timedelta(seconds=n // 4))
                     for n in range(103)])
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 10} | ({"cursor": cursor} if cursor else {})
        page = get(client, account, "/api/analytics/requests", **params).json
        seen += [r["request_id"] for r in page["data"]]
        pages += 1
        # New traffic between pages: it is newer than everything, so it lands before page one.
        store([request_record(account.user.id, account.key_id, NOW + timedelta(seconds=pages))])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 11
    # Ties are broken by request id in the database's collation (MySQL's ignores case).
    assert len(seen) == len(set(seen)) == len(records)
    by_id = {r.request_id: r for r in records}
    assert [by_id[i].created_at for i in seen] == sorted((r.created_at for r in records), reverse=True)


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 501}, {"cursor": "bm90IGEgY3Vyc29y"},
                                    {"cursor": "%%%"}, {"since": "yesterday"}, {"cached": "maybe"}])
def test_bad_history_queries_are_400(client, make_account, params):
    account = make_account(tier="starter")
    response = get(client, account, "/api/analytics/requests", **params)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_request"


# -- costs -----------------------------------------------------------------------------------

@pytest.fixture
def costed(make_account, store):
    """A pro account with random mixed records over 70 days, aggregated."""
    account = make_account(tier="pro")
    owners = [(account.user.id, account.key_id), (account.user.id, "key_batch")]
    days = [TODAY - timedelta(days=n) for n in (0, 1, 2, 6, 9, 13, 31, 45, 69)]
    records = [r for r in random_records(random.Random(5), owners, days, 400) if r.created_at < NOW]
    store(records)
    return account, records


def test_cost_totals_equal_the_raw_sums_to_the_cent(client, costed):
    account, records = costed
    since, until = TODAY - timedelta(days=69), TODAY + timedelta(days=1)
    body = get(client, account, "/api/analytics/costs", since=since.isoformat(),
               until=until.isoformat()).json
    assert body["totals"] == summary(records)
    assert Decimal(body["totals"]["total_eur"]) == sum(r.cost_eur for r in records)
    assert (body["since"], body["until"], body["currency"]) == (since.isoformat(), until.isoformat(), "EUR")


@pytest.mark.parametrize("interval", ["day", "week", "month"])
def test_series_per_interval_equals_the_raw_sums(client, costed, interval):
    account, records = costed
    since, until = TODAY - timedelta(days=60), TODAY + timedelta(days=1)
    body = get(client, account, "/api/analytics/costs", since=since.isoformat(), until=until.isoformat(),
               interval=interval).json
    in_range = [r for r in records if since <= r.created_at.date() < until]
    assert body["totals"] == summary(in_range)
    series = body["series"]
    assert series[0]["start"] == since.isoformat() and series[-1]["end"] == until.isoformat()
    assert all(a["end"] == b["start"] for a, b in zip(series, series[1:]))  # contiguous, zero-filled
    for point in series:
        start = date.fromisoformat(point["start"])
        assert start == max(period_start(start, interval), since)
        bucket = [r for r in in_range if start <= r.created_at.date() < date.fromisoformat(point["end"])]
        assert {k: point[k] for k in summary([])} == summary(bucket)
    if interval == "day":
        assert len(series) == 61


@pytest.mark.parametrize("group_by,attribute", [("model", "model"), ("provider", "provider"),
                                                ("key", "key_id")])
def test_series_grouped(client, costed, group_by, attribute):
    account, records = costed
    body = get(client, account, "/api/analytics/costs", since=(TODAY - timedelta(days=69)).isoformat(),
               interval="month", group_by=group_by).json
    assert body["group_by"] == group_by
    for point in body["series"]:
        start, end = date.fromisoformat(point["start"]), date.fromisoformat(point["end"])
        bucket = [r for r in records if start <= r.created_at.date() < end]
        expected = {value: summary([r for r in bucket if getattr(r, attribute) == value])
                    for value in {getattr(r, attribute) for r in bucket}}
        assert {g["group"]: {k: g[k] for k in summary([])} for g in point["groups"]} == expected
        costs = [Decimal(g["total_eur"]) for g in point["groups"]]
        assert costs == sorted(costs, reverse=True)


def test_costs_default_to_the_last_30_days_including_today(client, make_account, store):
    account = make_account(tier="starter")
    store([request_record(account.user.id, account.key_id, NOW, cost="0.01"),
           request_record(account.user.id, account.key_id, NOW - timedelta(days=31), cost="5")])
    body = get(client, account, "/api/analytics/costs").json
    assert (body["until"], body["interval"], body["group_by"]) == (
        (TODAY + timedelta(days=1)).isoformat(), "day", None)
    assert len(body["series"]) == 30
    assert body["totals"]["total_eur"] == "0.01000000"
    assert body["series"][-1]["total_eur"] == "0.01000000"


def test_costs_include_late_records_for_an_old_day(client, make_account, store):
    account = make_account(tier="starter")
    old = NOW - timedelta(days=12)
    store([request_record(account.user.id, account.key_id, old, cost="1")])
    store([request_record(account.user.id, account.key_id, old + timedelta(hours=1), cost="0.00000001")])
    assert get(client, account, "/api/analytics/costs").json["totals"]["total_eur"] == "1.00000001"


@pytest.mark.parametrize("params", [
    {"interval": "year"}, {"group_by": "user"}, {"since": f"{TODAY}T10:00:00Z"},
    {"since": TODAY.isoformat(), "until": (TODAY - timedelta(days=1)).isoformat()},
    {"since": "2000-01-01", "until": "2020-01-01", "interval": "month"},
    {"since": (TODAY - timedelta(days=1500)).isoformat()},
])
def test_bad_cost_queries_are_400(client, make_account, params):
    account = make_account(tier="starter")
    response = get(client, account, "/api/analytics/costs", **params)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_request"


def test_refresh_runs_a_job_that_brings_the_aggregates_up_to_date(make_app, make_account, store):
    app = make_app(run_embedded_worker=True)
    client = app.test_client()
    account = make_account(tier="starter")
    store([request_record(account.user.id, account.key_id, NOW, cost="0.25")], aggregate=False)
    response = client.post("/api/analytics/costs/refresh", headers=account.headers)
    assert response.status_code == 202
    job_url = response.headers["Location"]
    assert job_url == f"/api/jobs/{response.json['id']}"
    deadline = time.monotonic() + 15
    while (job := client.get(job_url, headers=account.headers).json)["status"] != "succeeded":
        assert job["status"] in ("queued", "running") and time.monotonic() < deadline
        time.sleep(0.05)
    assert job["kind"] == "costs.aggregate" and "partitions_recomputed" in job["result"]
    assert get(client, account, "/api/analytics/costs").json["totals"]["total_eur"] == "0.25000000"


def test_refresh_is_a_503_while_the_job_queue_is_down(make_app, make_account, private_redis):
    # The private Redis is not started: the broker cannot take the job.
    app = make_app(redis_url=private_redis.url)
    account = make_account(tier="starter")
    response = app.test_client().post("/api/analytics/costs/refresh", headers=account.headers)
    assert response.status_code == 503
    assert response.json["error"]["code"] == "job_queue_unavailable"
    assert int(response.headers["Retry-After"]) > 0
    with app.app_context():  # the job never queued does not hold one of the account's slots
        assert jobs_repo.count_active(account.user.id) == 0
