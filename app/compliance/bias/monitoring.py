"""Passive monitoring: yes/no decisions of production traffic by declared demographic group,
tested per closed window (an hour, aligned to UTC).

The hot path hands each observation over by actor name (``app.gateway.decisions``); ``record``
stores the groups and the decision only. ``test_closed_windows`` then tests each account's
windows that have closed: per attribute, each group against the reference group (the first
of the attribute's built-in groups if present, else the most frequent) by demographic parity
with Fisher's exact test, corrected across the window, flagged by the same rule as probing.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import storage.bias as bias_repo
from app.compliance.bias import findings as findings_kept
from app.compliance.bias import stats
from app.compliance.bias.vignettes import ATTRIBUTES
from storage.bias import Observation
from storage.ids import utcnow

MONITOR_ACTOR = "compliance_bias.monitor"
WINDOW_SECONDS = 3600  # one monitoring window
MIN_GROUP_DECISIONS = 10  # a group with fewer decisions in a window is not compared
MAX_WINDOWS_PER_RUN = 24 * 7  # an account's backlog is caught up over several runs


def record(request_id: str, user_id: str, created_at: str, groups: dict[str, str],
           decision: str) -> None:
    """Keep one observed decision (idempotent: a redelivered message changes nothing)."""
    at = datetime.fromisoformat(created_at)
    bias_repo.add_observations(Observation(request_id, user_id, attribute, group, decision, at)
                               for attribute, group in groups.items())


def window_start(at: datetime, seconds: int = WINDOW_SECONDS) -> datetime:
    epoch = int(at.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


def test_closed_windows(now: datetime | None = None, seconds: int = WINDOW_SECONDS,
                        material: float = stats.DEFAULT_MATERIAL, keep_days: int | None = None) -> int:
    """Test every account's windows that closed since its last tested one; how many. With
    ``keep_days``, observations older than that many days are deleted first (their windows
    were tested long ago; the request log's retention applies to them too)."""
    now = now or utcnow()
    if keep_days is not None:
        bias_repo.forget_observations(now - timedelta(days=keep_days))
    closed_until = window_start(now, seconds)
    tested = 0
    for user_id, first in bias_repo.observing_accounts(closed_until):
        last = bias_repo.last_window_end(user_id)
        start = last if last is not None else window_start(first, seconds)
        for _ in range(MAX_WINDOWS_PER_RUN):
            if start >= closed_until:
                break
            end = start + timedelta(seconds=seconds)
            run = bias_repo.claim_window(user_id, start, end, {"window_seconds": seconds,
                                                               "material": material})
            if run is not None:
                counts = bias_repo.observation_counts(user_id, start, end)
                findings_kept.keep(run, analyse(counts, material))
                bias_repo.finish_run(run.id, "succeeded",
                                     {"decisions": sum(n for *_, n in counts)})
                tested += 1
            start = end
    return tested


def analyse(counts: list[tuple[str, str, str, int]], material: float) -> list[stats.Finding]:
    """Parity findings of one window from (attribute, group, decision, count) rows."""
    tallies: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for attribute, group, decision, n in counts:
        tally = tallies[attribute][group]
        tally[0] += n if decision == "yes" else 0
        tally[1] += n
    found = []
    for attribute, groups in sorted(tallies.items()):
        sized = {g: (yes, n) for g, (yes, n) in groups.items() if n >= MIN_GROUP_DECISIONS}
        if len(sized) < 2:
            continue
        known = ATTRIBUTES.get(attribute, ())
        reference = known[0] if known and known[0] in sized else max(sized, key=lambda g: sized[g][1])
        if sized[reference][0] == 0 and all(yes == 0 for yes, _ in sized.values()):
            continue  # nobody got a yes: nothing to compare
        found += [stats.parity(attribute, reference, group, sized[reference], sized[group])
                  for group in sorted(sized) if group != reference]
    return stats.adjust(found, material)
