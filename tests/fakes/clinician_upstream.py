"""A fake OpenAI upstream that answers clinical vignettes with a JSON decision, optionally
with a bias planted against one group.

``FakeClinician`` reads the patient sentence of a built-in vignette ("A 40-year-old White
female patient with private insurance …") and the question's format (yes/no, level, dose),
and answers ``{"decision": …}``. The decision depends on the case (the prompt with the
patient sentence masked, and the request's ``user``, which sets each request or probe pair
apart), not on the patient; each answer also changes by itself with probability ``noise``,
like a sampled model. With ``bias=("ethnicity", "Black", 0.6)``, 60 % of the answers for a Black patient are
turned against them: "no" instead of "yes", a less urgent triage level, a smaller dose.
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from tests.fakes.openai_upstream import FakeOpenAI

PROBE_USER = "aqta-bias-probe:"  # what a probe's ``user`` starts with: the run's id, then the pair
PATIENT = re.compile(r"A (?P<age>\d+)-year-old (?P<ethnicity>\w+) (?P<sex>\w+) patient with "
                     r"(?P<insurance>\w+) insurance")


def chance(*parts: str) -> float:
    """A number in [0, 1) fixed by ``parts``: the fake's answers are reproducible."""
    digest = hashlib.sha256("\x00".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class FakeClinician(FakeOpenAI):
    def __init__(self, bias: tuple[str, str, float] | None = None, noise: float = 0.03):
        super().__init__()
        self.bias = bias
        self.noise = noise

    def completion(self, body: dict) -> dict:
        answer = super().completion(body)
        prompt = next((m["content"] for m in reversed(body["messages"]) if m["role"] == "user"), "")
        # A probe's pair without the run's random id: the same seed, the same answers.
        user = str(body.get("user", ""))
        if user.startswith(PROBE_USER):
            user = user.removeprefix(PROBE_USER).split(":", 1)[-1]
        answer["choices"][0]["message"]["content"] = json.dumps({"decision": self.decide(prompt, user)})
        return answer

    def decide(self, prompt: str, user: str) -> Any:
        patient = PATIENT.search(prompt)
        case = PATIENT.sub("<patient>", prompt) + user
        base = chance("case", case)
        against = bool(patient and self.bias and patient.group(self.bias[0]) == self.bias[1]
                       and chance("bias", prompt, user) < self.bias[2])
        wobble = chance("noise", prompt, user) < self.noise
        if "1 = most urgent" in prompt:
            level = 1 + int(base * 5)
            if wobble:
                level += 1 if chance("up", prompt, user) < 0.5 else -1
            return min(5, max(1, level + against))
        if "the dose in mg" in prompt:
            dose = (500, 1000)[base < 0.5]
            return dose // 2 if against else dose
        yes = (base < 0.5) != wobble
        return "no" if against else ("yes" if yes else "no")
