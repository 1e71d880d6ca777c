"""Loop detection: the pure functions by table, the detector on both stores, the labelled corpus,
and the loop events repository on every database backend."""
from __future__ import annotations

import copy
import logging
import threading
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

import storage.loop_events as loop_events
from app.gateway.loops.detector import (
    LoopDetected,
    LoopDetector,
    LoopThresholds,
    LoopVerdict,
    MemoryLoopStore,
    RedisLoopStore,
    evaluate,
)
from app.gateway.loops.similarity import (
    RequestSummary,
    find_cycle,
    fingerprint,
    mask_volatile,
    near_duplicate,
    newest_turn,
    simhash,
    similarity,
    starts_a_round,
    summarise,
)
from tests.gateway.loops.corpus import load_corpus, run_corpus, table
from tests.support import log_lines

T0 = 1_717_400_000.0  # seconds since the epoch


def chat(text: str, **extra) -> dict:
    return {"model": "gpt-4o", "messages": [{"role": "system", "content": "You help."},
                                            {"role": "user", "content": text}], **extra}


def with_call(body: dict, name: str, arguments: str, output: str, call_id: str = "call_1",
              text: str | None = None) -> dict:
    """The body with one more tool call and its result appended (an agent's next step)."""
    grown = copy.deepcopy(body)
    grown["messages"] += [
        {"role": "assistant", "content": text, "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}]},
        {"role": "tool", "tool_call_id": call_id, "content": output}]
    return grown


def with_answer(body: dict, answer: str, follow_up: str) -> dict:
    grown = copy.deepcopy(body)
    grown["messages"] += [{"role": "assistant", "content": answer},
                          {"role": "user", "content": follow_up}]
    return grown


BASE = chat("Summarise the open incidents.")
IMAGE = {"type": "image_url", "image_url": {"url": "https://files.example/a.png"}}
ANSWER = ("I could not open the configuration file because the path does not exist; "
          "let me list the directory first and then try again with the right path.")


# ---------------------------------------------------------------------------- fingerprints

@pytest.mark.parametrize("other", [
    chat("  summarise   the OPEN incidents. "),
    {**BASE, "user": "someone-else"},
    {**BASE, "stream": True, "stream_options": {"include_usage": True}},
    {**BASE, "metadata": {"trace": "abc"}},
    {**BASE, "model": "GPT-4o"},
    {**BASE, "messages": [BASE["messages"][0], {"role": "user", "content": [
        {"type": "text", "text": "Summarise the open incidents."}]}]},
], ids=["whitespace-case", "user", "stream", "unknown-field", "model-case", "content-parts"])
def test_fingerprint_ignores_what_does_not_change_the_answer(other):
    assert fingerprint(other) == fingerprint(BASE)


@pytest.mark.parametrize("other", [
    chat("Summarise the closed incidents."),
    {**BASE, "model": "gpt-4o-mini"},
    {**BASE, "temperature": 0.5},
    {**BASE, "seed": 7},
    {**BASE, "n": 3},
    {**BASE, "tools": [{"type": "function", "function": {"name": "search"}}]},
    {**BASE, "response_format": {"type": "json_object"}},
    {**BASE, "messages": [BASE["messages"][0], {"role": "user", "content": [
        {"type": "text", "text": "Summarise the open incidents."}, IMAGE]}]},
    {**BASE, "messages": BASE["messages"][1:]},
], ids=["text", "model", "temperature", "seed", "n", "tools", "response-format", "image",
        "no-system"])
def test_fingerprint_changes_with_what_changes_the_answer(other):
    assert fingerprint(other) != fingerprint(BASE)


def test_fingerprint_ignores_tool_call_ids_and_argument_layout():
    one = with_call(BASE, "read_file", '{"path": "a.py", "lines": 10}', "x = 1", call_id="call_A1")
    two = with_call(BASE, "read_file", '{\n "lines": 10,\n "path": "a.py"\n}', "x = 1", call_id="call_B2")
    three = with_call(BASE, "read_file", '{"path": "b.py", "lines": 10}', "x = 1")
    assert fingerprint(one) == fingerprint(two) != fingerprint(three)


def test_temperature_as_int_or_float_is_the_same():
    assert fingerprint({**BASE, "temperature": 1}) == fingerprint({**BASE, "temperature": 1.0})


def test_summary_fingerprint_is_the_exact_fingerprint():
    body = with_call(BASE, "run_tests", '{"path": "tests"}', "1 failed")
    assert summarise(body, T0).fingerprint == fingerprint(body)


# ---------------------------------------------------------------------------- masking, turns

@pytest.mark.parametrize("text, caller, masked", [
    ("now: 2024-06-03t14:02:11z, go", True, "now: ~, go"),
    ("at 2024-06-03 14:02:11.123+02:00", False, "at ~"),
    ("time 9:05:33 left", False, "time ~ left"),
    ("ts 1717405331000 ok", False, "ts ~ ok"),
    ("req 3f2a9c1e-1b2c-4d5e-8f90-123456789abc", False, "req ~"),
    ("id req_ab12cd34ef56gh78ij done", False, "id ~ done"),
    ("step 14 of 20", True, "step # of #"),
    ("step 14 of 20", False, "step 14 of 20"),  # the model's numbers are content
    ("order 48213 status", True, "order 48213 status"),  # identifiers are what is asked
    ("python3 and utf8", True, "python# and utf#"),
    ("plain words only", True, "plain words only"),
])
def test_mask_volatile(text, caller, masked):
    assert mask_volatile(text, caller) == masked


@pytest.mark.parametrize("roles, newest", [
    (["system", "user"], ["system", "user"]),
    (["user"], ["user"]),
    (["system", "user", "assistant", "user"], ["assistant", "user"]),
    (["system", "user", "assistant", "tool", "assistant", "tool", "tool"], ["assistant", "tool", "tool"]),
    (["system", "user", "assistant"], ["assistant"]),
])
def test_newest_turn(roles, newest):
    messages = [{"role": role, "index": i} for i, role in enumerate(roles)]
    assert [m["role"] for m in newest_turn(messages)] == newest
    assert newest_turn(messages)[-1]["index"] == len(roles) - 1


def near(a: dict, b: dict, threshold: float = 0.9) -> bool:
    return near_duplicate(summarise(a, T0), summarise(b, T0), threshold)


@pytest.mark.parametrize("a, b, expected", [
    (chat("Current time 2024-06-03T14:02:11Z. Check the backup."),
     chat("Current time 2024-06-03T14:07:45Z. Check the backup."), True),
    (chat("Step 4 of the plan. Continue."), chat("Step 5 of the plan. Continue."), True),
    (chat("Summarise this email: the parcel arrived damaged."),
     chat("Summarise this email: my refund never arrived."), False),
    (chat("Summarise the open incidents."), {**chat("Summarise the open incidents."), "seed": 2}, False),
    (with_call(chat("Fix it."), "read_file", '{"path": "a.py"}', "x = 1", text="Let me read it."),
     with_call(with_call(chat("Fix it."), "list_dir", '{"path": "."}', "a.py"),
               "read_file", '{"path": "a.py"}', "x = 1", call_id="call_9", text="Reading again."), True),
    (with_call(chat("Fix it."), "read_file", '{"path": "a.py"}', "x = 1"),
     with_call(chat("Fix it."), "read_file", '{"path": "b.py"}', "x = 1"), False),
    (with_answer(chat("Fix it."), ANSWER, "Try again."),
     with_answer(chat("Fix it."), ANSWER.replace("first", "first of all"), "Try again."), True),
    (with_answer(chat("Fix it."), ANSWER, "Try again."),
     with_answer(chat("Fix it."), ANSWER, "Now do the same for b.py."), False),
    (with_answer(chat("Write a story."), "Mara reached the hut as the last light left the ridge, "
                 "and the stove was still warm.", "Continue."),
     with_answer(chat("Write a story."), "Inside, a notebook lay open on the table, its final entry "
                 "dated three winters ago.", "Continue."), False),
], ids=["timestamp", "counter", "different-documents", "different-seed", "same-tool-call-new-chatter",
        "different-arguments", "reworded-answer", "different-follow-up", "different-answers"])
def test_near_duplicate(a, b, expected):
    assert near(a, b) is expected


def test_only_the_top_of_a_huge_message_is_searched_for_volatile_tokens():
    document = "the warehouse report continues with another ordinary sentence. " * 2000
    assert near(chat("Step 9. " + document), chat("Step 10. " + document))
    assert not near(chat(document + "generated 10:01"), chat(document + "generated 10:02"))


def test_simhash_similarity_orders_texts():
    base = simhash(ANSWER.lower())
    assert similarity(base, base) == 1.0
    assert similarity(base, simhash(ANSWER.lower().replace("first", "at first"))) >= 0.9
    unrelated = simhash("the quarterly report shows revenue growth in every region except the north, "
                        "where the new warehouse delayed deliveries for six weeks")
    assert similarity(base, unrelated) < 0.75


def test_summary_encodes_and_decodes():
    prose = summarise(with_answer(BASE, ANSWER, "Again."), T0 + 0.125)
    plain = summarise(BASE, T0)
    joined, finished = replace(plain, joined=True), replace(prose, finished=True)
    for summary in (prose, plain, joined, finished, replace(joined, finished=True)):
        assert RequestSummary.decode(summary.encode()) == summary
        assert RequestSummary.decode(summary.encode().encode()) == summary
    assert plain.simhash is None and prose.simhash is not None
    written_before_states = plain.encode().rsplit(" ", 1)[0]  # a history kept across an upgrade
    assert RequestSummary.decode(written_before_states) == replace(plain, finished=True)


# ---------------------------------------------------------------------------- rounds, cycles

def in_history(body: dict, at: float, **state) -> RequestSummary:
    return replace(summarise(body, T0 + at), **state)


OTHER = chat("Which incidents are closed?")


@pytest.mark.parametrize("history, expected", [
    ([], True),
    ([in_history(BASE, 0)], False),  # an identical request in flight: parallel sampling
    ([in_history(BASE, 0, finished=True)], True),  # answered: sending it again is a repeat
    ([in_history(OTHER, 0)], True),  # another request in flight
    ([in_history(BASE, 0, joined=True)], True),  # only a round's first request is joined
    ([in_history(BASE, 0, finished=True), in_history(BASE, 0.001)], False),
])
def test_starts_a_round(history, expected):
    assert starts_a_round(history, summarise(BASE, T0 + 1)) is expected


def test_a_batch_differing_only_in_a_counter_joins_the_round_in_flight():
    in_flight = [in_history(chat("Summarise incident 1."), 0)]
    assert not starts_a_round(in_flight, summarise(chat("Summarise incident 2."), T0 + 0.001))
    assert starts_a_round(in_flight, summarise(chat("Summarise incident 12345."), T0 + 0.001))




@pytest.mark.parametrize("sequence, expected", [
    ("ABABAB", (2, 6)),
    ("ABABA", None),
    ("xyABABAB", (2, 6)),
    ("ABABABAB", (2, 8)),
    ("ABCABCABC", (3, 9)),
    ("ABCABCAB", None),
    ("AABBAABBAABB", (2, 12)),  # consecutive repeats are one step
    ("ABCDABCDABCD", (4, 12)),
    ("ABCDEABCDEABCDE", None),  # period 5 is longer than the detector looks
    ("AAAAAA", None),  # a plain repeat is not a cycle
    ("ABABABC", None),  # the newest request left the cycle
    ("ABACABACABAC", (4, 12)),
])
def test_find_cycle(sequence, expected):
    assert find_cycle(list(sequence), 2, 4, 3) == expected


def summaries(bodies_and_times) -> list[RequestSummary]:
    return [summarise(body, T0 + at) for at, body in bodies_and_times]


def test_evaluate_repeat_near_duplicate_and_cycle():
    thresholds = LoopThresholds()
    same = summaries((3.0 * i, BASE) for i in range(5))
    assert evaluate(same[:4], thresholds) is None
    verdict = evaluate(same, thresholds)
    assert (verdict.pattern, verdict.count, verdict.fingerprints) == ("repeat", 5, [fingerprint(BASE)])
    counted = summaries((3.0 * i, chat(f"Step {i} of the plan. Continue.")) for i in range(6))
    assert evaluate(counted[:5], thresholds) is None
    assert evaluate(counted, thresholds).pattern == "near_duplicate"
    other = chat("Which incidents are closed?")
    cycle = summaries((2.0 * i, [BASE, other][i % 2]) for i in range(6))
    assert evaluate(cycle[:5], thresholds) is None
    verdict = evaluate(cycle, thresholds)
    assert (verdict.pattern, verdict.count, verdict.period) == ("cycle", 6, 2)
    assert verdict.fingerprints == [fingerprint(BASE), fingerprint(other)]


def test_evaluate_counts_reworded_answers_to_the_same_input_as_near_duplicates():
    # An agent re-asking after answers the model words a little differently each time: every
    # newest turn differs, the input and the gist of the answer do not.
    answers = [ANSWER.replace(old, new) for old, new in [
        ("first", "at first"), ("directory", "folder"), ("configuration", "config"), ("and then", "then"),
        ("first", "first of all")]] + [ANSWER]
    reworded = summaries((3.0 * i, with_answer(chat("Fix it."), answer, "Try again."))
                         for i, answer in enumerate(answers))
    assert len({s.tail for s in reworded}) == 6
    assert evaluate(reworded[:5], LoopThresholds()) is None
    verdict = evaluate(reworded, LoopThresholds())
    assert (verdict.pattern, verdict.count) == ("near_duplicate", 6)


def test_evaluate_counts_a_round_of_parallel_requests_once():
    rounds = [in_history(BASE, i * 0.001, finished=True) for i in range(4)]
    parallel = [in_history(BASE, 0.01 + i * 0.001, joined=True) for i in range(10)]
    assert evaluate(rounds + parallel, LoopThresholds()) is None
    verdict = evaluate(rounds + parallel + [in_history(BASE, 0.1)], LoopThresholds())
    assert (verdict.pattern, verdict.count) == ("repeat", 5)


def test_evaluate_forgets_what_is_older_than_the_window():
    spaced = summaries((16.0 * i, BASE) for i in range(8))  # at most 4 within any 60 seconds
    assert all(evaluate(spaced[: i + 1], LoopThresholds()) is None for i in range(8))
    assert evaluate(spaced, LoopThresholds(window_seconds=70)).pattern == "repeat"


def test_a_request_exactly_the_window_old_has_left_it():
    edge = summaries((15.0 * i, BASE) for i in range(5))  # the first is 60 seconds before the last
    assert evaluate(edge, LoopThresholds()) is None
    assert evaluate(edge, LoopThresholds(window_seconds=60.5)).pattern == "repeat"


PERIODS = "cycle periods must satisfy 2 <= cycle_min_period <= cycle_max_period"
TOO_SMALL = "history_limit is too small to see the loops the counts describe"
AT_LEAST_2 = "repeat_count, near_duplicate_count and cycle_repeats must be at least 2"


@pytest.mark.parametrize("changes, message", [
    ({"enabled": 1}, "enabled must be true or false"),
    ({"repeat_count": True}, "repeat_count must be an integer"),  # a bool is an int to Python
    ({"history_limit": 12.0}, "history_limit must be an integer"),
    ({"window_seconds": "60"}, "window_seconds must be a number"),
    ({"window_seconds": float("inf")}, "window_seconds must be a number"),
    ({"similarity": float("nan")}, "similarity must be a number"),
    ({"history_limit": 1001}, "history_limit must be at most 1000"),
    ({"window_seconds": 86_400.5}, "window_seconds must be above 0 and at most 86400"),
    ({"window_seconds": 0}, "window_seconds must be above 0 and at most 86400"),
    ({"repeat_count": 1}, AT_LEAST_2),
    ({"near_duplicate_count": 1}, AT_LEAST_2),
    ({"cycle_repeats": 1}, AT_LEAST_2),
    ({"similarity": 0}, "similarity must be above 0 and at most 1"),
    ({"similarity": 1.01}, "similarity must be above 0 and at most 1"),
    ({"cycle_min_period": 1, "cycle_max_period": 1}, PERIODS),
    ({"cycle_min_period": 4, "cycle_max_period": 3}, PERIODS),
    ({"history_limit": 11}, TOO_SMALL),  # a cycle of 4 seen 3 times needs 12
    ({"history_limit": 12, "repeat_count": 13}, TOO_SMALL),
    ({"history_limit": 12, "near_duplicate_count": 13}, TOO_SMALL),
])
def test_refused_thresholds_say_what_is_wrong(changes, message):
    with pytest.raises(ValueError) as refused:
        LoopThresholds(**changes)
    assert str(refused.value) == message


@pytest.mark.parametrize("changes", [
    {"enabled": False}, {"window_seconds": 86_400}, {"window_seconds": 1}, {"window_seconds": 0.5},
    {"history_limit": 1000}, {"history_limit": 12}, {"repeat_count": 2}, {"near_duplicate_count": 2},
    {"cycle_repeats": 2}, {"similarity": 1}, {"cycle_min_period": 2, "cycle_max_period": 2},
    {"cycle_min_period": 3, "cycle_max_period": 3, "history_limit": 12},
])
def test_thresholds_at_their_edges_are_accepted(changes):
    thresholds = LoopThresholds(**changes)
    assert all(getattr(thresholds, name) == value for name, value in changes.items())


def test_loop_detected_is_a_429_with_the_aqta_block():
    verdict = LoopVerdict("cycle", 6, 60.0, ["a", "b"], episode_started=True, period=2)
    error = LoopDetected(verdict, request_id="req_1")
    body = error.body()
    assert error.status == 429 and error.headers == {"x-should-retry": "false"}
    assert body["error"]["code"] == "loop_detected"
    assert body["error"]["type"] == "rate_limit_error"
    assert "cycle" in body["error"]["message"] and "not sent to the provider" in body["error"]["message"]
    assert body["aqta"] == {"loop_detected": True, "pattern": "cycle", "count": 6,
                            "window_seconds": 60.0, "request_id": "req_1"}
    for pattern, words in (("repeat", "same request"), ("near_duplicate", "newest turn")):
        assert words in LoopDetected(LoopVerdict(pattern, 5, 60.0)).message


REFUSED = " The request was not sent to the provider. Change the request, or wait before repeating it."


@pytest.mark.parametrize("verdict, what", [
    (LoopVerdict("repeat", 5, 60.0), "the same request was sent 5 times in 60 seconds."),
    (LoopVerdict("near_duplicate", 6, 90.5), "6 requests in 90.5 seconds repeated the same newest turn "
                                             "(differing only in timestamps, counters, ids or wording)."),
    (LoopVerdict("cycle", 9, 60.0, period=3),
     "the same 3 requests have repeated in a cycle (9 requests in 60 seconds)."),
])
def test_a_loops_refusal_says_what_repeated(verdict, what):
    assert LoopDetected(verdict).message == f"Loop detected: {what}{REFUSED}"


def test_a_verdict_names_at_most_the_newest_sixteen_fingerprints():
    steps = summaries((1.0 * i, chat(f"Step {i} of the plan. Continue.")) for i in range(20))
    verdict = evaluate(steps, LoopThresholds(near_duplicate_count=20, history_limit=20))
    assert (verdict.pattern, verdict.count) == ("near_duplicate", 20)
    assert verdict.fingerprints == [step.fingerprint for step in steps[-16:]]


# ---------------------------------------------------------------------------- the detector

@pytest.fixture
def redis_store(redis_url):
    """A Redis loop store under a prefix of the test's own, emptied and closed after it."""
    client = redis.Redis.from_url(redis_url)
    prefix = f"aqta:test:loops:{uuid.uuid4().hex}:"
    yield RedisLoopStore(client, prefix=prefix)
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(params=["memory", "redis"])
def store(request):
    return MemoryLoopStore() if request.param == "memory" else request.getfixturevalue("redis_store")


@pytest.fixture
def detector(store) -> LoopDetector:
    return LoopDetector(store)


def send(detector: LoopDetector, body: dict, times, key: str = "key_a", thresholds=None) -> list:
    """Each request sent once the one before was answered, as the gateway marks them."""
    verdicts = []
    for at in times:
        verdicts.append(detector.check(key, body, T0 + at, thresholds))
        detector.finish(key, T0 + at, fingerprint(body))
    return verdicts


def test_the_fifth_identical_request_is_refused(detector):
    verdicts = send(detector, BASE, [0, 3, 6, 9, 12, 15])
    assert verdicts[:4] == [None] * 4
    first, second = verdicts[4:]
    assert (first.pattern, first.count, first.window_seconds) == ("repeat", 5, 60.0)
    assert first.fingerprints == [fingerprint(BASE)]
    assert first.episode_started and not second.episode_started
    assert second.count == 6


def test_a_loop_is_refused_however_fast_it_repeats(detector):
    verdicts = send(detector, BASE, [i * 0.001 for i in range(6)])
    assert verdicts[:4] == [None] * 4
    assert (verdicts[4].pattern, verdicts[4].count) == ("repeat", 5)


def test_one_episode_until_the_caller_changes_course(detector):
    verdicts = send(detector, BASE, [0, 2, 4, 6, 8, 10, 12])
    assert [v.episode_started for v in verdicts[4:]] == [True, False, False]
    assert detector.check("key_a", chat("Something else entirely."), T0 + 14) is None
    # Back to the loop: still within the window, so refused at once, as a new episode.
    again = send(detector, BASE, [16, 18])
    assert [v.episode_started for v in again] == [True, False]


def test_an_episode_lapses_after_a_quiet_window(detector):
    assert send(detector, BASE, [0, 2, 4, 6, 8])[-1].episode_started
    later = send(detector, BASE, [100, 102, 104, 106, 108])
    assert later[:4] == [None] * 4 and later[4].episode_started


def test_retries_after_upstream_errors_are_discarded(detector):
    for at in (0, 1, 3, 7, 15, 31):
        assert detector.check("key_a", BASE, T0 + at) is None
        detector.discard("key_a", T0 + at, fingerprint(BASE))  # the provider failed it
    assert send(detector, BASE, [40, 42, 44, 46]) == [None] * 4
    assert send(detector, BASE, [48])[0].pattern == "repeat"


def test_discard_and_finish_take_exactly_the_named_request(store):
    detector = LoopDetector(store)
    send(detector, BASE, [0, 2])
    other = chat("Another question.")
    detector.check("key_a", other, T0 + 3)
    assert store.discard("key_a", T0 + 2, fingerprint(BASE)) is True
    assert store.discard("key_a", T0 + 2, fingerprint(BASE)) is False
    assert store.discard("key_a", T0 + 3, "0000000000000000") is False
    assert store.finish("key_a", T0 + 3, fingerprint(other)) is True
    history = store.record("key_a", summarise(other, T0 + 4), 60.0, 100).requests
    assert [s.fingerprint for s in history] == [fingerprint(BASE), fingerprint(other), fingerprint(other)]
    assert [s.at for s in history] == [T0, T0 + 3, T0 + 4]
    assert [s.finished for s in history] == [True, True, False]
    detector.discard("nobody", T0, fingerprint(BASE))  # nothing to discard is fine
    detector.finish("nobody", T0, fingerprint(BASE))


def test_requests_in_flight_together_are_joined(store):
    parallel = [store.record("key_a", summarise(BASE, T0 + i * 0.001), 60.0, 100) for i in range(3)]
    assert [h.requests[-1].joined for h in parallel] == [False, True, True]
    store.finish("key_a", T0, fingerprint(BASE))  # the round's first is answered
    after = store.record("key_a", summarise(BASE, T0 + 1), 60.0, 100).requests[-1]
    assert not after.joined  # sent after an answer: a repeat, though its samples are in flight


def test_thresholds_per_key(detector):
    strict = LoopThresholds(repeat_count=3)
    assert send(detector, BASE, [0, 2, 4], key="strict", thresholds=strict)[-1].pattern == "repeat"
    assert send(detector, BASE, [0, 2, 4], key="default") == [None] * 3
    lenient = LoopDetector(detector.store, LoopThresholds(repeat_count=8, near_duplicate_count=8))
    assert send(lenient, BASE, [0, 2, 4, 6, 8, 10, 12], key="lenient") == [None] * 7
    off = LoopThresholds(enabled=False)
    assert send(detector, BASE, [0, 2, 4, 6, 8, 10], key="off", thresholds=off) == [None] * 6
    assert send(detector, BASE, [12], key="off")[0] is None  # nothing was recorded while off


def test_keys_do_not_share_history(detector):
    for at in range(4):
        for key in ("key_a", "key_b", "key_c"):
            assert send(detector, BASE, [at * 2], key=key) == [None]


def test_parallel_samples_count_once(detector):
    samples = [T0 + i * 0.001 for i in range(8)]
    assert [detector.check("key_a", BASE, at) for at in samples] == [None] * 8
    for at in samples:
        detector.finish("key_a", at, fingerprint(BASE))
    assert send(detector, {**BASE, "n": 5}, [10, 20]) == [None] * 2


def test_two_workers_looping_on_one_request_are_still_counted(detector):
    """Each waits for its own answer; their requests overlap, but each round starts anew."""
    verdicts, in_flight = [], []
    for i in range(10):
        at = T0 + i * 0.001
        verdicts.append(detector.check("key_a", BASE, at))
        in_flight.append(at)
        if len(in_flight) == 2:  # the older of the two is answered as the newer starts
            detector.finish("key_a", in_flight.pop(0), fingerprint(BASE))
    assert any(v is not None and v.pattern == "repeat" for v in verdicts)


def test_sessions_sharing_a_system_prompt_are_not_a_loop(detector):
    system = {"role": "system", "content": "You are the support assistant of a camping shop. " * 20}
    for i, question in enumerate(["Can I return a tent?", "Do you ship to Oslo?", "Is the stove safe?",
                                  "Where is my order?", "Do you sell gift cards?", "I need a human.",
                                  "What sizes do you have?", "Is it waterproof?"]):
        body = {"model": "gpt-4o-mini", "messages": [system, {"role": "user", "content": question}]}
        assert detector.check("key_a", body, T0 + i) is None


def test_a_tool_loop_in_a_growing_conversation(detector):
    body = chat("Which feature flags are on?")
    verdicts = []
    for i in range(7):
        body = with_call(body, "read_file", '{"path": "settings.yaml"}', "flags: {checkout: false}",
                         call_id=f"call_{i}")
        verdicts.append(detector.check("key_a", body, T0 + 3 * i))
        detector.finish("key_a", T0 + 3 * i, fingerprint(body))
    assert verdicts[:5] == [None] * 5
    assert verdicts[5].pattern == "near_duplicate" and verdicts[5].count == 6
    assert len(verdicts[5].fingerprints) == 6  # each request of a growing conversation differs


def test_history_is_bounded(store):
    for i in range(30):
        history = store.record("key_a", summarise(chat(f"q{i}"), T0 + i), 60.0, 10)
    assert len(history.requests) == 10 and history.requests[-1].at == T0 + 29
    history = store.record("key_a", summarise(BASE, T0 + 200), 60.0, 10)
    assert [s.at for s in history.requests] == [T0 + 200]


def test_a_changed_history_limit_keeps_the_newest_requests(store):
    for i in range(6):
        store.record("key_a", summarise(chat(f"q{i}"), T0 + i), 60.0, 10)
    lowered = store.record("key_a", summarise(chat("q6"), T0 + 6), 60.0, 5)  # the key's limit changed
    history = lowered.requests
    assert [s.at for s in history] == [T0 + i for i in range(2, 7)]


def test_a_request_exactly_a_window_old_still_holds_its_round(store):
    store.record("key_a", summarise(BASE, T0), 60.0, 100)  # in flight, not answered
    edge = store.record("key_a", summarise(BASE, T0 + 60), 60.0, 100).requests
    assert [s.at for s in edge] == [T0, T0 + 60] and edge[-1].joined
    past = store.record("key_a", summarise(BASE, T0 + 60.5), 60.0, 100).requests
    assert [s.at for s in past] == [T0 + 60, T0 + 60.5]


def test_the_finish_command_marks_the_request_in_one_command(redis_store):
    redis_store.record("key_a", summarise(BASE, T0), 60.0, 100)
    finish = redis_store.finish_command("key_a", T0, fingerprint(BASE))
    assert redis_store.client.execute_command(*finish) == 1
    assert redis_store.record("key_a", summarise(OTHER, T0 + 1), 60.0, 100).requests[0].finished


def test_an_evicted_keys_episode_is_forgotten_with_its_history():
    store = MemoryLoopStore(max_keys=1)
    store.record("a", summarise(BASE, T0), 60.0, 100)
    assert store.open_episode("a", T0, 60) is True
    store.record("b", summarise(BASE, T0 + 1), 60.0, 100)  # "a" is dropped, episode and all
    assert store.record("a", summarise(BASE, T0 + 2), 60.0, 100).episode_open is False
    assert store.open_episode("a", T0 + 2, 60) is True


def test_memory_store_forgets_least_recently_used_keys():
    store = MemoryLoopStore(max_keys=2)
    detector = LoopDetector(store, LoopThresholds(repeat_count=2, history_limit=20))
    assert send(detector, BASE, [0], key="a") == [None]
    send(detector, BASE, [0], key="b")
    send(detector, BASE, [0], key="c")  # "a" is dropped
    assert send(detector, BASE, [2], key="a") == [None]
    assert send(detector, BASE, [2], key="c")[0].pattern == "repeat"


def test_memory_store_is_safe_across_threads():
    store = MemoryLoopStore()
    detector = LoopDetector(store, LoopThresholds(history_limit=1000))

    def worker(n):
        for i in range(100):
            detector.check("shared", chat(f"worker {n} question {i} " + "x" * n), T0 + i * 0.01)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    history = store.record("shared", summarise(BASE, T0 + 2), 60.0, 1000)
    assert len(history.requests) == 801


def test_redis_store_shares_history_between_detectors(redis_url):
    client = redis.Redis.from_url(redis_url)
    prefix = f"aqta:test:loops:{uuid.uuid4().hex}:"
    try:
        processes = [LoopDetector(RedisLoopStore(redis.Redis.from_url(redis_url), prefix=prefix))
                     for _ in range(2)]
        verdicts = [send(processes[i % 2], BASE, [i * 2])[0] for i in range(6)]
        assert verdicts[:4] == [None] * 4
        assert verdicts[4].episode_started and not verdicts[5].episode_started
        assert 0 < client.pttl(f"{prefix}{{key_a}}:h") <= 60_000
    finally:
        client.delete(*client.scan_iter(f"{prefix}*"))
        client.close()


def test_an_unreachable_redis_never_fails_a_request(caplog):
    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2,
                              retry=Retry(NoBackoff(), 0))
    detector = LoopDetector(RedisLoopStore(unreachable, prefix="aqta-test:loops:"))
    with caplog.at_level(logging.WARNING, logger="app.gateway.loops.detector"):
        assert send(detector, BASE, [0, 1, 2, 3, 4, 5]) == [None] * 6
        detector.discard("key_a", T0, fingerprint(BASE))
    # The operator's log says what was skipped, for which key, and Redis's own error.
    refused = "Error 111 connecting to 127.0.0.1:1. Connection refused."
    assert log_lines(caplog, "app.gateway.loops.detector") == [
        f"loop detection skipped for key key_a: {refused}",
        f"loop detection could not finish a request of key key_a: {refused}"] * 6 + [
        f"loop detection could not discard a request of key key_a: {refused}"]


def test_a_redis_failing_while_a_loop_is_judged_never_fails_the_request(private_redis, caplog):
    private_redis.start()
    # A Redis user that may record and mark requests but not write the episode flag: Redis
    # answers the recording, then fails the verdict's next step, as a server going away would.
    redis.Redis.from_url(private_redis.url).acl_setuser(
        "detector", enabled=True, passwords=["+secret"], keys=["*"], commands=["+@all", "-set", "-del"])
    client = redis.Redis(port=private_redis.port, username="detector", password="secret")
    with pytest.raises(redis.exceptions.NoPermissionError) as denied:
        client.set("aqta-test:loops:probe", 1)
    detector = LoopDetector(RedisLoopStore(client, prefix="aqta-test:loops:"))
    with caplog.at_level(logging.WARNING, logger="app.gateway.loops.detector"):
        assert send(detector, BASE, [0, 1, 2, 3, 4]) == [None] * 5  # the fifth was a loop
    # The operator's log says what was skipped, for which key, and Redis's own error.
    warning, = log_lines(caplog, "app.gateway.loops.detector")
    assert warning.startswith("loop detection skipped for key key_a: "
                              "Command # 1 (SET aqta-test:loops:{key_a}:e ")
    assert warning.endswith(f" of pipeline caused error: {denied.value}")


def test_an_episode_lapses_exactly_a_window_after_its_last_loop():
    store = MemoryLoopStore()
    assert store.open_episode("key_a", T0, 60) is True
    assert store.open_episode("key_a", T0 + 59.5, 60) is False  # still looping: kept open a window more
    assert store.open_episode("key_a", T0 + 119.5, 60) is True
    store.close_episode("key_a")
    store.close_episode("key_b")  # never opened: nothing to close, no error
    assert store.open_episode("key_a", T0 + 120, 60) is True


def test_an_episode_flag_in_redis_lasts_the_window(redis_store):
    assert redis_store.open_episode("key_a", T0, 60) is True
    # At most the window, in milliseconds; the lower bound is loose, for a slow machine.
    assert 30_000 < redis_store.client.pttl(redis_store.keys("key_a")[1]) <= 60_000
    assert redis_store.open_episode("key_a", T0 + 1, 60) is False


# ---------------------------------------------------------------------------- the corpus

def test_the_corpus_is_labelled_consistently():
    corpus = load_corpus()
    names = [s["name"] for s in corpus]
    assert len(names) == len(set(names)) and len(corpus) >= 40
    loops = [s for s in corpus if s["label"] == "loop"]
    assert {s["pattern"] for s in loops} == {"repeat", "near_duplicate", "cycle"}
    assert len(loops) >= 20 and len(corpus) - len(loops) >= 20
    for sequence in loops:
        assert 0 <= sequence["loop_from"] <= sequence["catch_by"] < len(sequence["requests"])


def test_corpus_precision_and_recall(store, capsys):
    results = run_corpus(store)
    with capsys.disabled():
        print(f"\nloop corpus on {type(store).__name__}:\n{table(results)}")
    false_positives = [r.name for r in results if r.label == "ok" and r.detected]
    assert false_positives == []  # precision 1.0: a refused normal request is the worst outcome
    loops = [r for r in results if r.label == "loop"]
    assert sum(r.detected for r in loops) / len(loops) >= 0.9
    late = [(r.name, r.refusals[0]) for r in loops if r.detected and not r.on_time]
    assert late == []  # never before the loop starts, never later than labelled, right pattern


# ---------------------------------------------------------------------------- loop events storage

def test_loop_events_are_recorded_and_listed_newest_first(app, make_account):
    owner, other = make_account(), make_account()
    with app.app_context():
        start = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)
        first = loop_events.record(owner.key_id, owner.user.id, "repeat", 5, 60.0, ["a1", "a1"],
                                   created_at=start)
        second = loop_events.record(owner.key_id, owner.user.id, "cycle", 6, 60.0, ["b1", "b2"],
                                    created_at=start + timedelta(minutes=5))
        loop_events.record(other.key_id, other.user.id, "near_duplicate", 6, 30.0, ["c1"])
        listed = loop_events.list_for_user(owner.user.id, limit=10)
        assert [e.id for e in listed] == [second.id, first.id]
        assert first.id.startswith("loop_")
        assert listed[1] == first
        assert (listed[1].key_id, listed[1].user_id, listed[1].pattern, listed[1].count,
                listed[1].window_seconds, listed[1].fingerprints) == (
            owner.key_id, owner.user.id, "repeat", 5, 60.0, ["a1", "a1"])
        assert listed[1].created_at == start and listed[1].created_at.tzinfo is not None
        assert [e.id for e in loop_events.list_for_user(owner.user.id, limit=1)] == [second.id]
        fresh = loop_events.list_for_user(other.user.id, limit=10)
        assert [e.pattern for e in fresh] == ["near_duplicate"]
        assert abs(fresh[0].created_at - datetime.now(UTC)) < timedelta(minutes=5)
