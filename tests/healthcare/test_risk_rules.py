"""The risk classifier: a table of answers, what the client declares, the rule file's checks,
and the labelled set's figures (benchmarks/risk_rules.py prints them)."""
from __future__ import annotations

import json
import re

import pytest

from app.healthcare.risk.rules import (
    DEFAULT_RULES_FILE,
    Declared,
    RuleSet,
    RuleSetError,
    answer_text,
    request_text,
)
from benchmarks.risk_rules import evaluate, load_cases

RULES = RuleSet.from_file()


@pytest.mark.parametrize(("request_", "answer", "level", "category"), [
    ("What dose of paracetamol for an adult?", "1 g every 4-6 hours, at most 4 g in 24 hours.",
     "high", "medication_dosing"),
    ("Sudden crushing chest pain.", "Call 999 now: this could be a heart attack.", "high", "triage_urgency"),
    ("Fever and white spots on the tonsils.", "This is consistent with bacterial tonsillitis.",
     "high", "diagnosis"),
    ("Can I stop my statin?", "Do not stop the statin without asking your doctor.",
     "high", "treatment_change"),
    ("I want to end my life.", "Please call a crisis line now.", "high", "mental_health_crisis"),
    ("My HbA1c is 58 mmol/mol.", "That is high: above the diabetes threshold.",
     "medium", "lab_interpretation"),
    ("Can I eat soft cheese while pregnant?", "Avoid unpasteurised soft cheese.", "medium", "pregnancy"),
    ("Write a haiku about autumn.", "Red leaves drift and fall.", "low", None),
    ("How much caffeine is in coffee?", "About 95 mg of caffeine per cup.", "low", None),
])
def test_answers_are_classified(request_, answer, level, category):
    result = RULES.classify(request_, answer)
    assert result.level == level, result
    assert (category in result.categories) if category else result.categories == []
    assert result.version == RULES.version


def test_a_child_raises_a_clinical_answer():
    adult = RULES.classify("How much ibuprofen can I take?", "Ibuprofen is taken three times a day.")
    child = RULES.classify("How much ibuprofen can I give my 4-year-old?", "Ibuprofen is taken three "
                           "times a day.")
    assert child.score == pytest.approx(adult.score + 0.2, abs=0.001)
    assert "paediatric" in child.categories and "paediatric.age" in child.rule_ids


@pytest.mark.parametrize("declared", [Declared(decision_type="dosing"), Declared(risk="high"),
                                      Declared(decision_type="DIAGNOSIS ")])
def test_what_the_client_declares_raises_the_level(declared):
    result = RULES.classify("Summarise the note.", "Here is the summary.", declared)
    assert result.level == "high"
    assert any(rule.startswith("declared:") for rule in result.rule_ids)


def test_a_declared_low_risk_never_lowers_the_level():
    result = RULES.classify("Dose of amoxicillin?", "500 mg three times a day.", Declared(risk="low"))
    assert result.level == "high"


def test_text_is_taken_from_every_message_and_part():
    body = {"messages": [{"role": "system", "content": "Be brief."},
                         {"role": "user", "content": [{"type": "text", "text": "What dose?"},
                                                      {"type": "image_url", "image_url": {"url": "x"}}]}]}
    assert request_text(body) == "Be brief.\nWhat dose?"
    assert answer_text({"choices": [{"message": {"content": "500 mg"}}, {"message": {}}]}) == "500 mg\n"


@pytest.mark.parametrize(("change", "complaint"), [
    (lambda d: d["rules"][0].update(category="astrology"), "category 'astrology' is not listed"),
    (lambda d: d["rules"][0].update(weight=2), "weight must be in (0, 1]"),
    (lambda d: d["rules"][0].update(patterns=["("]), "bad pattern"),
    (lambda d: d["rules"][0].update(on="both"), "on must be one of"),
    (lambda d: d.pop("thresholds"), "lack 'thresholds'"),
])
def test_a_broken_rule_file_is_refused_with_its_reason(tmp_path, change, complaint):
    data = json.loads(DEFAULT_RULES_FILE.read_text())
    change(data)
    broken = tmp_path / "rules.json"
    broken.write_text(json.dumps(data))
    with pytest.raises(RuleSetError, match=re.escape(complaint)):
        RuleSet.from_file(broken)


def test_the_labelled_set_is_classified_as_the_readme_reports():
    cases = load_cases()
    assert len(cases) >= 60
    tallies, _ = evaluate(RULES, cases)
    high = tallies["level=high"]
    assert high.precision() >= 0.95 and high.recall() >= 0.85
    for category, tally in tallies.items():
        assert tally.precision() >= 0.85, category
        assert tally.recall() >= 0.6, category
