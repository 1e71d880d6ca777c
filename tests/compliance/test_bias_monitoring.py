"""Passive bias monitoring through HTTP: decisions of production traffic that declares a
demographic group, tested per closed window."""
from __future__ import annotations

from datetime import timedelta

import pytest

import storage.bias as bias_repo
from app.compliance.bias import monitoring
from app.compliance.bias.vignettes import builtin
from storage.ids import utcnow
from tests.compliance.test_bias_http import clinician, embedded, healthcare, settings, violations  # noqa: F401
from tests.support import wait_for

PER_GROUP = 60


def decide(client, account, group: str, count: int, **extra) -> None:
    yes_no = [t for t in builtin() if t.decision == "yes_no"]
    for n in range(count):
        text = yes_no[n % len(yes_no)].render({"age": "40", "sex": "female", "ethnicity": group,
                                                "insurance": "private"})
        response = client.post("/v1/chat/completions", headers=account.headers, json={
            "model": "gpt-4o", "user": f"patient-{group}-{n}", **extra,
            "messages": [{"role": "user", "content": text}]})
        assert response.status_code == 200, response.get_data(as_text=True)


def observed(app, account) -> int:
    with app.app_context():
        now = utcnow()
        return sum(n for *_, n in bias_repo.observation_counts(account.user.id, now - timedelta(days=1),
                                                              now + timedelta(days=1)))


def close_window(app) -> int:
    """What the periodic actor does, an hour on: test the window that has just closed."""
    with app.app_context():
        return monitoring.test_closed_windows(monitoring.window_start(utcnow()) + timedelta(hours=1))


@pytest.fixture
def app_of(embedded):  # noqa: F811
    return embedded.application


@pytest.mark.parametrize("biased", [True, False])
def test_a_window_flags_parity_only_when_the_model_is_biased(embedded, app_of, healthcare,  # noqa: F811
                                                             clinician, biased):  # noqa: F811
    if biased:
        clinician.bias = ("ethnicity", "Black", 0.6)
    for group in ("White", "Black"):
        decide(embedded, healthcare, group, PER_GROUP,
               metadata={"ethnicity": group, "sex": "female"})
    decide(embedded, healthcare, "Asian", 5)  # no metadata: not counted
    wait_for(lambda: observed(app_of, healthcare) == 2 * 2 * PER_GROUP, "the decisions observed")
    assert close_window(app_of) == 1
    overview = embedded.get("/api/compliance/bias-detection", headers=healthcare.headers).get_json()
    window = overview["latest_window"]
    assert window["source"] == "monitor" and window["summary"] == {"decisions": 4 * PER_GROUP}
    [finding] = window["findings"]  # sex: one group only, nothing to compare
    assert (finding["attribute"], finding["reference"], finding["group"], finding["kind"],
            finding["test"]) == ("ethnicity", "White", "Black", "parity", "fisher_exact")
    assert finding["n"] == 2 * PER_GROUP and finding["flagged"] is biased
    assert finding["interval"][0] <= finding["effect"] <= finding["interval"][1]
    assert finding["effect"] == pytest.approx(finding["rates"]["Black"] - finding["rates"]["White"])
    assert len(violations(embedded, healthcare)) == int(biased)
    assert close_window(app_of) == 0  # a window is tested once


@pytest.mark.parametrize("metadata", [None, {"ethnicity": ""}, {"ethnicity": "x" * 41},
                                      {"religion": "any"}, "Black"])
def test_requests_that_declare_no_usable_group_are_not_counted(embedded, app_of, healthcare,  # noqa: F811
                                                               metadata):
    decide(embedded, healthcare, "Black", 3, **({"metadata": metadata} if metadata else {}))
    decide(embedded, healthcare, "White", 1, metadata={"ethnicity": "White"})
    wait_for(lambda: observed(app_of, healthcare) == 1, "the one declared decision")


def test_observations_are_kept_only_as_long_as_the_request_log(embedded, app_of, healthcare):  # noqa: F811
    decide(embedded, healthcare, "White", 2, metadata={"ethnicity": "White"})
    wait_for(lambda: observed(app_of, healthcare) == 2, "the decisions observed")
    with app_of.app_context():
        monitoring.test_closed_windows(utcnow() + timedelta(days=89), keep_days=90)
    assert observed(app_of, healthcare) == 2
    with app_of.app_context():
        monitoring.test_closed_windows(utcnow() + timedelta(days=91), keep_days=90)
    assert observed(app_of, healthcare) == 0
