"""Which requests the response cache answers, and under which key: pure functions.

The key is an exact match on everything that determines the answer, so a hit is
only ever the answer the upstream would have given to the same request.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson
from werkzeug.datastructures import Headers

# Body fields that change how the answer is delivered or attributed, not what it says.
NOT_IN_KEY = frozenset({"stream", "stream_options", "user"})
CACHE_HEADER = "x-aqta-cache"
ON = frozenset({"on", "true", "1", "yes"})
OFF = frozenset({"off", "false", "0", "no"})
BYPASS_DIRECTIVES = frozenset({"no-cache", "no-store"})


def _canonical_value(value: Any) -> Any:
    # 0 and 0.0 ask for the same thing; JSON clients send either.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def cache_key(account_id: str, body: dict) -> str:
    """``<account_id>:<sha256>`` of the request's canonical JSON (sorted keys).

    Every body field is part of the key except ``stream``, ``stream_options`` and
    ``user``: the model, the full messages and every parameter, including ones Aqta
    does not know, since those are passed upstream and may change the answer. The
    account id namespaces the key, so accounts never share entries.
    """
    request = {name: _canonical_value(value) for name, value in body.items()
               if name not in NOT_IN_KEY}
    digest = hashlib.sha256(orjson.dumps(request, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f"{account_id}:{digest}"


def cache_decision(body: dict, headers: Mapping[str, str]) -> bool:
    """Whether to look this request up in the cache and store its answer.

    The rule, first match wins:

    1. ``Cache-Control: no-cache`` or ``no-store`` (any directive in the list), or
       ``X-Aqta-Cache: off``: bypass, neither lookup nor store.
    2. ``X-Aqta-Cache: on``: use the cache (the caller accepts a repeated answer).
    3. ``temperature`` is 0, or a ``seed`` is given: use the cache (the caller asked
       for a deterministic answer).
    4. Otherwise: bypass, since a sampled answer is expected to vary.

    Header names are case-insensitive; an ``X-Aqta-Cache`` value other than
    on/off (true/false, 1/0, yes/no) is ignored.
    """
    if not isinstance(headers, Headers):  # a request's are; looked up without copying them
        headers = Headers(headers)
    switch = (headers.get(CACHE_HEADER) or "").strip().lower()
    directives = {d.strip().lower().split("=")[0]
                  for d in (headers.get("cache-control") or "").split(",")}
    if switch in OFF or directives & BYPASS_DIRECTIVES:
        return False
    if switch in ON:
        return True
    temperature = body.get("temperature")
    if isinstance(temperature, (int, float)) and not isinstance(temperature, bool) \
            and temperature == 0:
        return True
    return body.get("seed") is not None
