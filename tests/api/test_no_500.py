"""No input gets a 500: every hostile or malformed request is a 4xx in the error shape."""
from __future__ import annotations

import base64
import json

import pytest

from providers.base import ProviderSettings
from tests.api.test_errors import assert_error_shape

CHAT = "/v1/chat/completions"
USER = {"role": "user", "content": "Hello"}


def nested(depth: int) -> str:
    """A chat body whose ``metadata`` is JSON nested ``depth`` levels deep."""
    return ('{"model": "mock-1", "messages": [{"role": "user", "content": "Hi"}], "metadata": '
            + "[" * depth + "]" * depth + "}")


def chat(**fields) -> str:
    return json.dumps({"model": "mock-1", "messages": [USER], **fields})


def cursor(*items) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(items)).encode()).decode().rstrip("=")


CHAT_BODIES = {
    "role is a list": chat(messages=[{"role": ["user"], "content": "Hi"}]),
    "role is an object": chat(messages=[{"role": {"user": 1}, "content": "Hi"}]),
    "part type is a list": chat(messages=[{"role": "user", "content": [{"type": ["text"], "text": "x"}]}]),
    "part type is an object": chat(messages=[{"role": "user", "content": [{"type": {}, "text": "x"}]}]),
    "response_format.type is an object": chat(response_format={"type": {"a": 1}}),
    "function_call is a string": chat(function_call="get_weather"),
    "function_call is a number": chat(function_call=5),
    "functions is a number": chat(functions=5),
    "functions holds a number": chat(functions=[5]),
    "tool_choice is a number": chat(tool_choice=5),
    "nested 255 deep": nested(255),
    "nested 600 deep": nested(600),
    "nested 1023 deep": nested(1023),
    "nested 5000 deep": nested(5000),
}


@pytest.mark.parametrize("body", CHAT_BODIES.values(), ids=CHAT_BODIES.keys())
def test_bad_chat_bodies_are_400(client, make_account, body):
    account = make_account(tier="pro")
    response = client.post(CHAT, data=body, content_type="application/json", headers=account.headers)
    assert_error_shape(response, 400, "invalid_request")


@pytest.fixture
def client(make_app):
    """The app with the mock provider, so a key's requests can be answered."""
    return make_app(providers={"mock": ProviderSettings()}).test_client()


LOOP_SETTINGS = {
    "history_limit fractional": {"history_limit": 100.5},
    "history_limit a string": {"history_limit": "100"},
    "cycle_max_period fractional": {"cycle_max_period": 3.5},
    "cycle_min_period fractional": {"cycle_min_period": 2.5},
    "repeat_count a bool": {"repeat_count": True},
    "enabled a string": {"enabled": "no"},
    "enabled a number": {"enabled": 0},
    "window_seconds a string": {"window_seconds": "60"},
    "window_seconds infinite": {"window_seconds": 1e400},
    "similarity null": {"similarity": None},
    "history_limit huge": {"history_limit": 10**30},
}


@pytest.mark.parametrize("changes", LOOP_SETTINGS.values(), ids=LOOP_SETTINGS.keys())
def test_bad_loop_settings_are_400_and_the_key_keeps_working(client, make_account, changes):
    account = make_account(tier="pro")
    response = client.patch(f"/api/keys/{account.key_id}", json={"loop_detection": changes},
                            headers=account.headers)
    assert_error_shape(response, 400, "invalid_request")
    answered = client.post(CHAT, data=chat(), content_type="application/json", headers=account.headers)
    assert answered.status_code == 200


ANALYTICS = {
    "since year 1": ("/api/analytics/costs", {"since": "0001-01-01"}),
    "until year 1": ("/api/analytics/costs", {"until": "0001-01-01"}),
    "until year 1 with offset": ("/api/analytics/costs", {"until": "0001-01-01T00:00:00+05:00"}),
    "since year 9999": ("/api/analytics/costs", {"since": "9999-12-31"}),
    "range at year 9999": ("/api/analytics/costs", {"since": "9999-12-01", "until": "9999-12-31"}),
    "until year 9999 late": ("/api/analytics/costs", {"until": "9999-12-31T23:00:00-05:00"}),
    "since a far offset": ("/api/analytics/costs", {"since": "2026-01-01T00:00:00+99:00"}),
    "month at the end of time": ("/api/analytics/costs", {"since": "9999-11-01", "until": "9999-12-31",
                                                          "interval": "month"}),
    "week at the start of time": ("/api/analytics/costs", {"since": "0001-01-01", "until": "0001-02-01",
                                                           "interval": "week"}),
    "history since year 1 offset": ("/api/analytics/requests", {"since": "0001-01-01T00:00:00+05:00"}),
    "history until year 9999 offset": ("/api/analytics/requests", {"until": "9999-12-31T23:00:00-05:00"}),
    "cursor not base64": ("/api/analytics/requests", {"cursor": "!!!"}),
    "cursor at year 1 with offset": ("/api/analytics/requests",
                                     {"cursor": cursor("0001-01-01T00:00:00+05:00", "req_x")}),
    "cursor at year 9999 offset": ("/api/analytics/requests",
                                   {"cursor": cursor("9999-12-31T23:00:00-05:00", "req_x")}),
    "cursor with a NUL id": ("/api/analytics/requests",
                             {"cursor": cursor("2026-01-01T00:00:00+00:00", "req_\u0000")}),
    "cursor with a long id": ("/api/analytics/requests",
                              {"cursor": cursor("2026-01-01T00:00:00+00:00", "r" * 5000)}),
    "cursor an object": ("/api/analytics/requests", {"cursor": base64.b64encode(b'{"a": 1, "b": 2}')}),
    "cursor a naive time": ("/api/analytics/requests", {"cursor": cursor("2026-01-01T00:00:00", "req_x")}),
    "cursor a number": ("/api/analytics/requests", {"cursor": cursor(1, 2)}),
    "cursor invalid utf-8": ("/api/analytics/requests",
                             {"cursor": base64.urlsafe_b64encode(b"\xff\xfe").decode()}),
    "history key_id with NUL": ("/api/analytics/requests", {"key_id": "key_\u0000"}),
    "history model with NUL": ("/api/analytics/requests", {"model": "gpt\u0000"}),
}


@pytest.mark.parametrize("path, params", ANALYTICS.values(), ids=ANALYTICS.keys())
def test_bad_analytics_queries_are_400(client, make_account, path, params):
    account = make_account(tier="pro")
    response = client.get(path, query_string=params, headers=account.headers)
    assert_error_shape(response, 400, "invalid_request")


BUDGETS = {
    "above 92 billion": {"monthly_eur": "92233720369"},
    "a trillion": {"monthly_eur": "1000000000000"},
    "1e30 as a number": {"monthly_eur": 1e30},
    "1e30 as a string": {"monthly_eur": "1e30"},
    "infinity": {"monthly_eur": "Infinity"},
    "not a number": {"monthly_eur": "NaN"},
    "key_id with NUL": {"monthly_eur": "5", "key_id": "key_\u0000"},
}


@pytest.mark.parametrize("body", BUDGETS.values(), ids=BUDGETS.keys())
def test_bad_budgets_are_400(client, make_account, body):
    account = make_account(tier="pro")
    response = client.put("/api/budgets", json=body, headers=account.headers)
    assert_error_shape(response, 400, "invalid_request")
