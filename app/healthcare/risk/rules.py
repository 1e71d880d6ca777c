"""The rule set and the classifier: which answers are high-risk decisions, and why.

The rules are data (``data/rules.json``, or the file ``AQTA_RISK_RULES_FILE`` names)
so a clinician can read and change them. ``RuleSet.classify`` is pure: the request's
text, the answer's text and what the client declared in, a ``Classification`` out.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_RULES_FILE = Path(__file__).parent / "data" / "rules.json"
LOW, MEDIUM, HIGH = "low", "medium", "high"
SIDES = ("request", "answer", "either")


class RuleSetError(ValueError):
    """The rule file cannot be used (says which rule and why)."""


@dataclass(frozen=True)
class Rule:
    id: str
    category: str
    weight: float
    on: str  # "request", "answer" or "either"
    patterns: tuple[re.Pattern, ...]

    def fires(self, request_text: str, answer_text: str) -> bool:
        texts = {"request": (request_text,), "answer": (answer_text,),
                 "either": (request_text, answer_text)}[self.on]
        return any(p.search(text) for p in self.patterns for text in texts)


@dataclass(frozen=True)
class Declared:
    """What the client said about the decision (request metadata or a header)."""

    decision_type: str | None = None
    risk: str | None = None


@dataclass(frozen=True)
class Classification:
    level: str
    score: float  # 0..1, three decimals
    categories: list[str]  # those scoring at least the medium threshold, highest first
    rule_ids: list[str]  # every rule that fired, plus declared:* entries
    version: str  # the rule set's


@dataclass(frozen=True)
class RuleSet:
    version: str
    medium: float
    high: float
    rules: tuple[Rule, ...]
    categories: dict[str, str]
    modifiers: frozenset[str] = frozenset()
    modifier_boost: float = 0.0
    declared_weight: float = 0.9
    declared_types: dict[str, str] = field(default_factory=dict)
    declared_levels: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_file(cls, path: str | Path | None = None) -> RuleSet:
        source = Path(path or DEFAULT_RULES_FILE)
        try:
            data = json.loads(source.read_text())
        except (OSError, ValueError) as exc:
            raise RuleSetError(f"{source}: cannot read the risk rules ({exc})") from None
        return cls.from_dict(data, str(source))

    @classmethod
    def from_dict(cls, data: dict, source: str = "rules") -> RuleSet:
        try:
            categories = dict(data["categories"])
            rules = tuple(_rule(raw, categories, source) for raw in data["rules"])
            declared = data.get("declared", {})
            modifiers = data.get("modifiers", {})
            return cls(str(data["version"]), float(data["thresholds"]["medium"]),
                       float(data["thresholds"]["high"]), rules, categories,
                       frozenset(modifiers.get("categories", ())), float(modifiers.get("boost", 0)),
                       float(declared.get("weight", 0.9)), dict(declared.get("decision_types", {})),
                       {k: float(v) for k, v in declared.get("risk_levels", {}).items()})
        except (KeyError, TypeError) as exc:
            raise RuleSetError(f"{source}: the risk rules lack {exc}") from None

    def classify(self, request_text: str, answer_text: str,
                 declared: Declared = Declared()) -> Classification:
        request_text, answer_text = request_text.lower(), answer_text.lower()
        misses: dict[str, float] = {}  # per category: the product of (1 - weight) of its fired rules
        fired = []
        for rule in self.rules:
            if rule.fires(request_text, answer_text):
                fired.append(rule.id)
                misses[rule.category] = misses.get(rule.category, 1.0) * (1 - rule.weight)
        declared_type = self.declared_types.get((declared.decision_type or "").strip().lower())
        if declared_type is not None:
            fired.append(f"declared:decision_type={declared_type}")
            misses[declared_type] = misses.get(declared_type, 1.0) * (1 - self.declared_weight)
        scores = {category: 1 - miss for category, miss in misses.items()}
        score = self._overall(scores)
        floor = self.declared_levels.get((declared.risk or "").strip().lower())
        if floor is not None and floor > score:
            fired.append(f"declared:risk={declared.risk.strip().lower()}")
            score = floor
        score = round(min(score, 1.0), 3)
        counted = sorted((c for c, s in scores.items() if s >= self.medium), key=lambda c: (-scores[c], c))
        level = HIGH if score >= self.high else MEDIUM if score >= self.medium else LOW
        return Classification(level, score, counted, fired, self.version)

    def _overall(self, scores: dict[str, float]) -> float:
        clinical = [s for c, s in scores.items() if c not in self.modifiers]
        modifier = [s for c, s in scores.items() if c in self.modifiers]
        best = max(clinical + modifier, default=0.0)
        if modifier and any(s >= self.medium for s in clinical):
            best = max(clinical) + self.modifier_boost
        return best


def _rule(raw: dict, categories: dict[str, str], source: str) -> Rule:
    rule_id = raw.get("id", "?")
    if raw.get("category") not in categories:
        raise RuleSetError(f"{source}: rule {rule_id}: category {raw.get('category')!r} is not listed")
    if raw.get("on", "either") not in SIDES:
        raise RuleSetError(f"{source}: rule {rule_id}: on must be one of {', '.join(SIDES)}")
    weight = float(raw["weight"])
    if not 0 < weight <= 1:
        raise RuleSetError(f"{source}: rule {rule_id}: weight must be in (0, 1]")
    try:
        patterns = tuple(re.compile(p, re.IGNORECASE) for p in raw["patterns"])
    except re.error as exc:
        raise RuleSetError(f"{source}: rule {rule_id}: bad pattern ({exc})") from None
    return Rule(rule_id, raw["category"], weight, raw.get("on", "either"), patterns)


def request_text(body: dict) -> str:
    """The words of a chat request's messages (text parts of multi-part content too)."""
    return "\n".join(_content_text(m.get("content")) for m in body.get("messages") or ()
                     if isinstance(m, dict))


def answer_text(completion: dict) -> str:
    return "\n".join(_content_text((c.get("message") or {}).get("content"))
                     for c in completion.get("choices") or () if isinstance(c, dict))


def _content_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict)
                         and isinstance(p.get("text"), str))
    return ""
