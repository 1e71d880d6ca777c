"""The pure parts of loop detection: what a chat request says, its fingerprints, similarity, cycles.

A request is reduced to what changes the model's answer: the model, the messages'
roles and text, the tools and the output-changing parameters, lower-cased with
whitespace collapsed (``user``, ``stream``, ``stream_options`` and tool-call ids
are left out: they never change the answer). From that come

* ``fingerprint``: the whole request, exactly (a stateless caller resending it);
* ``tail``: the conversation's newest turn (from the model's last answer on),
  with volatile tokens masked: timestamps, UUIDs, long ids, and the short numbers
  (counters) in what the caller wrote. A long shared history is left out, and an
  agent re-sending "the same" turn with a fresh timestamp or counter matches;
* ``context`` and ``simhash``: the tail without the model's answer, and a SimHash
  of that answer's prose, so a model saying nearly the same thing again
  (sampling rewords it slightly) is recognised. Only the model's words are
  compared loosely; the caller's input must match exactly (up to volatile
  tokens), so a batch job whose items differ only in their document never does.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from hashlib import blake2b

import orjson

# Parameters that change what the model answers; everything else is ignored.
OUTPUT_PARAMETERS = ("temperature", "top_p", "n", "max_tokens", "max_completion_tokens", "stop",
                     "seed", "presence_penalty", "frequency_penalty", "logit_bias", "logprobs",
                     "top_logprobs", "response_format", "tool_choice", "parallel_tool_calls",
                     "function_call", "reasoning_effort", "verbosity", "modalities", "audio",
                     "prediction", "web_search_options")
FLOAT_PARAMETERS = frozenset({"temperature", "top_p", "presence_penalty", "frequency_penalty"})
SIMHASH_BITS = 128  # 64 is too noisy on a paragraph
MIN_PROSE_WORDS = 8  # shorter answers are compared exactly: SimHash is noise on a few words
MAX_PROSE_CHARS = 4_000  # of an answer fed to SimHash: enough evidence, bounded cost
MAX_MASKED_CHARS = 32_000  # of a message searched for volatile tokens; stamps sit near the top

# Tokens that change on every call without changing what is asked, in lower-cased text.
_VOLATILE = re.compile(r"""
    \d{4}-\d{2}-\d{2}(?:[t\s]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:z|[+-]\d{2}:?\d{2})?)?  # ISO
  | \b\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\b                                             # clock
  | \b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b                     # UUID
  | \b(?=\w*\d)(?=\w*[a-z])\w{16,}\b                                                     # ids
  | \d{10,}                                                                              # epochs
""", re.VERBOSE)
# Counters, steps, attempts: short numbers. Five to nine digits are usually what a
# request is about (an order, an invoice, a postcode), so they stay.
_COUNTER = re.compile(r"(?<!\d)\d{1,4}(?!\d)")
_WORD = re.compile(r"\w+")
_BIT_OF = [bytes(value >> bit & 1 for value in range(256)) for bit in range(8)]  # byte -> bit


@dataclass(frozen=True)
class RequestSummary:
    """What loop detection keeps of one request (a few dozen bytes)."""

    at: float  # seconds since the epoch
    fingerprint: str  # the whole request
    tail: str  # the newest turn, volatile tokens masked, with model, tools and parameters
    context: str  # the tail without the model's answer
    simhash: int | None  # of the model's answer in the tail, when it is prose worth comparing
    joined: bool = False  # started while one with the same newest turn was in flight
    finished: bool = False  # answered (or refused): a request sent after it is a repeat

    def encode(self) -> str:
        simhash = "-" if self.simhash is None else format(self.simhash, "x")
        return f"{self.key()} {self.tail} {self.context} {simhash} {self.state()}"

    def key(self) -> str:
        return summary_key(self.at, self.fingerprint)

    def state(self) -> str:
        """One letter: S(tarted a round) or J(oined one), upper case while in flight."""
        letter = "j" if self.joined else "s"
        return letter if self.finished else letter.upper()

    @classmethod
    def decode(cls, text: str | bytes) -> RequestSummary:
        return decode_summary(text)


def summary_key(at: float, fingerprint: str) -> str:
    """What names a request in its key's history: when it started and its fingerprint."""
    return f"{at!r} {fingerprint}"


# A key's history comes back whole on every check, mostly the same entries as last
# time: decoding each once (summaries are immutable) saves most of the check's CPU.
# Keyed by what Redis returned (bytes), so a hit costs a hash and nothing else.
@lru_cache(maxsize=16_384)
def decode_summary(text: str | bytes) -> RequestSummary:
    """``RequestSummary.decode``, cached; called directly for a whole history (no method call per entry)."""
    at, fingerprint, tail, context, simhash, *state = (text.decode() if isinstance(text, bytes)
                                                       else text).split(" ")
    # Written before requests had a state (a history in Redis across an upgrade): answered.
    state = state[0] if state else "s"
    return RequestSummary(float(at), fingerprint, tail, context,
                          None if simhash == "-" else int(simhash, 16),
                          joined=state in "jJ", finished=state.islower())


def normalise_text(text: str) -> str:
    return " ".join(text.lower().split())


def mask_volatile(text: str, caller: bool) -> str:
    """Mask tokens that change per call; in ``caller`` text, short numbers (counters) too.

    Numbers the model wrote stay: two answers differing in a number say different things.
    Only the first ``MAX_MASKED_CHARS`` are searched (cut at a space, so a counter
    growing a digit moves no word across the cut); a huge document stays as it is.
    """
    cut = text.find(" ", MAX_MASKED_CHARS) if len(text) > MAX_MASKED_CHARS else -1
    head, rest = (text, "") if cut < 0 else (text[:cut], text[cut:])
    head = _VOLATILE.sub("~", head)
    return (_COUNTER.sub("#", head) if caller else head) + rest


def _digest(data: bytes) -> str:
    return blake2b(data, digest_size=8).hexdigest()


def _canonical(value) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _arguments(arguments) -> str:
    """Tool-call arguments as canonical JSON, so key order and spacing do not matter."""
    if isinstance(arguments, str):
        try:
            arguments = orjson.loads(arguments)
        except orjson.JSONDecodeError:
            return normalise_text(arguments)
    return normalise_text(_canonical(arguments).decode())


def _content_text(content) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return normalise_text(content)
    pieces = []
    for part in content if isinstance(content, list) else [content]:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            pieces.append(normalise_text(str(part.get("text", ""))))
        elif kind == "refusal":
            pieces.append(normalise_text(str(part.get("refusal", ""))))
        else:  # images, audio, files: identified by a digest of their data
            pieces.append(f"[{kind} {_digest(_canonical(part))}]")
    return " ".join(pieces)


def normalise_message(message: dict) -> dict:
    """A message as role, name, text and tool calls (name and arguments; ids are random)."""
    normal = {"role": message.get("role"), "text": _content_text(message.get("content"))}
    if message.get("name"):
        normal["name"] = normalise_text(str(message["name"]))
    calls = message.get("tool_calls") or []
    if message.get("function_call"):
        calls = [*calls, {"function": message["function_call"]}]
    if calls:
        normal["calls"] = [[normalise_text(str(c.get("function", {}).get("name", ""))),
                            _arguments(c.get("function", {}).get("arguments", ""))] for c in calls]
    return normal


def _settings(body: dict) -> dict:
    """Model, tools and output-changing parameters: what frames every turn."""
    params = {}
    for name in OUTPUT_PARAMETERS:
        value = body.get(name)
        if value is not None:
            is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
            params[name] = float(value) if name in FLOAT_PARAMETERS and is_number else value
    tools = [*(body.get("tools") or []), *(body.get("functions") or [])]
    return {"model": normalise_text(str(body.get("model", ""))), "params": params,
            "tools": _digest(_canonical(tools)) if tools else None}


def normalise_request(body: dict) -> dict:
    """Everything in a chat request that changes the answer, normalised."""
    return {**_settings(body), "messages": [normalise_message(m) for m in body.get("messages") or []]}


def fingerprint(body: dict) -> str:
    """The exact fingerprint: equal for requests that differ only in case, spacing or ignored fields."""
    return _digest(_canonical(normalise_request(body)))


def newest_turn(messages: Sequence[dict]) -> list[dict]:
    """From the model's last answer on; before the model has answered, the whole conversation.

    Sessions sharing a system prompt still differ in their user message, and the
    long shared history of a growing conversation is left out.
    """
    for index in range(len(messages) - 1, -1, -1):
        if messages[index]["role"] == "assistant":
            return list(messages[index:])
    return list(messages)


def _masked(message: dict) -> dict:
    caller = message["role"] != "assistant"
    masked = {**message, "text": mask_volatile(message["text"], caller)}
    if "calls" in masked:
        masked["calls"] = [[name, mask_volatile(args, caller)] for name, args in masked["calls"]]
        if not caller:
            masked["text"] = ""  # chatter around a tool call; the call is what repeats
    return masked


def simhash(text: str) -> int:
    """A 128-bit SimHash over words and word pairs: close hashes, close texts."""
    words = _WORD.findall(text[:MAX_PROSE_CHARS])
    features = set(words) | {f"{a} {b}" for a, b in zip(words, words[1:])}
    size = SIMHASH_BITS // 8
    digests = b"".join(blake2b(feature.encode(), digest_size=size).digest() for feature in features)
    # Count each bit position across all features in C: one column of bytes per
    # digest byte, one translate-and-count per bit.
    value, half = 0, len(features) / 2
    for byte in range(size):
        column = digests[byte::size]
        for bit in range(8):
            if column.translate(_BIT_OF[bit]).count(1) > half:
                value |= 1 << (byte * 8 + bit)
    return value


def similarity(a: int, b: int) -> float:
    """The share of SimHash bits two hashes agree on, 0.0 to 1.0."""
    return 1.0 - (a ^ b).bit_count() / SIMHASH_BITS


def summarise(body: dict, at: float) -> RequestSummary:
    """Reduce a (validated) chat request to what loop detection compares."""
    settings = _settings(body)
    messages = [normalise_message(m) for m in body.get("messages") or []]
    turn = [_masked(m) for m in newest_turn(messages)]
    answer = turn[0] if turn and turn[0]["role"] == "assistant" else None
    prose = None
    if answer is not None and "calls" not in answer and len(answer["text"].split()) >= MIN_PROSE_WORDS:
        prose = simhash(answer["text"])
    context = [{"role": "assistant"} if m is answer else m for m in turn]
    return RequestSummary(
        at=at,
        fingerprint=_digest(_canonical({**settings, "messages": messages})),
        tail=_digest(_canonical({**settings, "turn": turn})),
        context=_digest(_canonical({**settings, "turn": context})),
        simhash=prose)


def near_duplicate(a: RequestSummary, b: RequestSummary, threshold: float) -> bool:
    """Same newest turn, or the same input with the model's answer nearly the same."""
    if a.tail == b.tail:
        return True
    return (a.simhash is not None and b.simhash is not None and a.context == b.context
            and similarity(a.simhash, b.simhash) >= threshold)


def starts_a_round(history: Iterable[RequestSummary], summary: RequestSummary) -> bool:
    """False when a request with the same newest turn that started its own round is in flight.

    Clients that sample several answers, or run a batch whose items differ only in a
    counter, send their requests in parallel; an agent stuck in a loop waits for each
    answer before repeating, however fast it comes. So requests in flight together
    count once, and a request sent after the other was answered is a repeat. Only a
    round's first request is joined, so two workers looping on one request, each
    waiting for its own answer, still count.
    """
    return not any(s.tail == summary.tail and not s.joined and not s.finished for s in history)


def find_cycle(sequence: Sequence[str], min_period: int, max_period: int,
               repeats: int) -> tuple[int, int] | None:
    """A cycle ending at the sequence's end, as ``(period, items it spans)``, or None.

    A period of ``min_period`` to ``max_period`` steps (A,B,A,B or A,B,C,A,B,C)
    must repeat ``repeats`` times in a row; consecutive equal items are one step.
    """
    starts = [index for index in range(len(sequence))
              if index == 0 or sequence[index] != sequence[index - 1]]
    steps = [sequence[index] for index in starts]
    for period in range(max(2, min_period), max_period + 1):
        if len(steps) < period * repeats or len(set(steps[-period:])) < 2:
            continue
        length = period
        while length < len(steps) and steps[-length - 1] == steps[-length - 1 + period]:
            length += 1
        if length >= period * repeats:
            return period, len(sequence) - starts[-length]
    return None
