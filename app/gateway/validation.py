"""Validation of OpenAI chat completion requests: a pure function, fast enough for the hot path.

It checks what OpenAI documents for the parameters Aqta understands and names
the first bad field (``messages[2].content``). Parameters it does not know are
passed through to OpenAI-compatible upstreams unchanged.
"""
from __future__ import annotations

from typing import Any

from app.errors import InvalidRequest

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
PART_TYPES = frozenset({"text", "image_url", "input_audio", "file", "refusal"})
TOOL_CHOICES = frozenset({"none", "auto", "required"})
RESPONSE_FORMATS = frozenset({"text", "json_object", "json_schema"})
FUNCTION_CALL_MODES = frozenset({"none", "auto"})
MAX_STOP_SEQUENCES = 4
MAX_N = 128
MAX_DEPTH = 64  # nesting of arrays and objects; JSON Schemas in tools stay far below
MAX_MODEL_CHARS = 256


def _fail(field: str, problem: str):
    raise InvalidRequest(f"{field}: {problem}", field=field)


def _one_of(value: Any, allowed: frozenset[str]) -> bool:
    return isinstance(value, str) and value in allowed


def _check_depth(body: dict) -> None:
    """Refuse JSON nested deeper than MAX_DEPTH: the parser takes 1,024 levels, our encoder 254."""
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            _fail("body", f"is nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values() if isinstance(child, (dict, list)))
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node if isinstance(child, (dict, list)))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number_in(body: dict, name: str, low: float, high: float) -> None:
    value = body.get(name)
    if value is not None and (not _is_number(value) or not low <= value <= high):
        _fail(name, f"must be a number from {low:g} to {high:g}")


def _positive_int(body: dict, name: str, high: int | None = None) -> None:
    value = body.get(name)
    if value is not None and (not _is_int(value) or value < 1 or (high and value > high)):
        _fail(name, f"must be an integer from 1{f' to {high}' if high else ' up'}")


def _content(field: str, content: Any, role: str) -> None:
    if isinstance(content, str):
        return
    if content is None:
        if role in ("assistant", "function"):
            return
        _fail(field, "is required for this role")
    if not isinstance(content, list):
        _fail(field, "must be a string or a list of content parts")
    for index, part in enumerate(content):
        where = f"{field}[{index}]"
        if not isinstance(part, dict) or not _one_of(part.get("type"), PART_TYPES):
            _fail(f"{where}.type", f"must be one of {', '.join(sorted(PART_TYPES))}")
        kind = part["type"]
        if kind == "text" and not isinstance(part.get("text"), str):
            _fail(f"{where}.text", "must be a string")
        if kind == "image_url":
            image = part.get("image_url")
            if not isinstance(image, dict) or not isinstance(image.get("url"), str):
                _fail(f"{where}.image_url.url", "must be a string")


def _tool_calls(field: str, calls: Any) -> None:
    if not isinstance(calls, list):
        _fail(field, "must be a list")
    for index, call in enumerate(calls):
        where = f"{field}[{index}]"
        if not isinstance(call, dict) or not isinstance(call.get("id"), str):
            _fail(f"{where}.id", "must be a string")
        function = call.get("function")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            _fail(f"{where}.function.name", "must be a string")
        if not isinstance(function.get("arguments"), str):
            _fail(f"{where}.function.arguments", "must be a JSON string")


def _messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        _fail("messages", "must be a non-empty list")
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            _fail(where, "must be an object")
        role = message.get("role")
        if not _one_of(role, ROLES):
            _fail(f"{where}.role", f"must be one of {', '.join(sorted(ROLES))}")
        if "content" not in message and not message.get("tool_calls"):
            _fail(f"{where}.content", "is required")
        _content(f"{where}.content", message.get("content"), role)
        if message.get("tool_calls") is not None:
            if role != "assistant":
                _fail(f"{where}.tool_calls", "only assistant messages carry tool calls")
            _tool_calls(f"{where}.tool_calls", message["tool_calls"])
        if message.get("function_call") is not None:
            _function(f"{where}.function_call", message["function_call"], arguments=True)
        if role == "tool" and not isinstance(message.get("tool_call_id"), str):
            _fail(f"{where}.tool_call_id", "is required for tool messages")
        if message.get("name") is not None and not isinstance(message["name"], str):
            _fail(f"{where}.name", "must be a string")


def _tools(tools: Any) -> None:
    if not isinstance(tools, list):
        _fail("tools", "must be a list")
    for index, tool in enumerate(tools):
        where = f"tools[{index}]"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            _fail(f"{where}.type", "must be 'function'")
        function = tool.get("function")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str) \
                or not function["name"]:
            _fail(f"{where}.function.name", "must be a non-empty string")
        if function.get("parameters") is not None and not isinstance(function["parameters"], dict):
            _fail(f"{where}.function.parameters", "must be a JSON Schema object")


def _function(field: str, function: Any, *, arguments: bool = False) -> None:
    """A legacy function (definition, or call when ``arguments``): a name, and its arguments."""
    if not isinstance(function, dict) or not isinstance(function.get("name"), str) \
            or not function["name"]:
        _fail(f"{field}.name", "must be a non-empty string")
    if arguments and not isinstance(function.get("arguments"), str):
        _fail(f"{field}.arguments", "must be a JSON string")
    if not arguments and function.get("parameters") is not None \
            and not isinstance(function["parameters"], dict):
        _fail(f"{field}.parameters", "must be a JSON Schema object")


def _functions(functions: Any) -> None:
    if not isinstance(functions, list):
        _fail("functions", "must be a list")
    for index, function in enumerate(functions):
        _function(f"functions[{index}]", function)


def _function_call(choice: Any) -> None:
    if isinstance(choice, str):
        if choice not in FUNCTION_CALL_MODES:
            _fail("function_call", "must be none, auto or {\"name\": ...}")
        return
    if not isinstance(choice, dict) or not isinstance(choice.get("name"), str):
        _fail("function_call.name", "must name a function")


def _tool_choice(choice: Any) -> None:
    if isinstance(choice, str):
        if choice not in TOOL_CHOICES:
            _fail("tool_choice", "must be none, auto, required or a function choice")
        return
    function = choice.get("function") if isinstance(choice, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        _fail("tool_choice.function.name", "must name a function")


def _stop(stop: Any) -> None:
    if isinstance(stop, str):
        return
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop) \
            or len(stop) > MAX_STOP_SEQUENCES:
        _fail("stop", f"must be a string or a list of up to {MAX_STOP_SEQUENCES} strings")


def validate_chat_request(body: Any) -> dict:
    """Return the body when it is a valid chat request; raise InvalidRequest naming the field."""
    if not isinstance(body, dict):
        _fail("body", "must be a JSON object")
    _check_depth(body)
    model = body.get("model")
    if not isinstance(model, str) or not model or len(model) > MAX_MODEL_CHARS \
            or not model.isprintable():
        _fail("model", f"is required and must be a printable string of at most {MAX_MODEL_CHARS} "
                       "characters")
    _messages(body.get("messages"))
    _number_in(body, "temperature", 0, 2)
    _number_in(body, "top_p", 0, 1)
    _number_in(body, "presence_penalty", -2, 2)
    _number_in(body, "frequency_penalty", -2, 2)
    _positive_int(body, "max_tokens")
    _positive_int(body, "max_completion_tokens")
    _positive_int(body, "n", MAX_N)
    if body.get("seed") is not None and not _is_int(body["seed"]):
        _fail("seed", "must be an integer")
    if body.get("stop") is not None:
        _stop(body["stop"])
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        _fail("stream", "must be true or false")
    options = body.get("stream_options")
    if options is not None:
        if not stream:
            _fail("stream_options", "is only allowed when stream is true")
        if not isinstance(options, dict) or not isinstance(options.get("include_usage", False), bool):
            _fail("stream_options.include_usage", "must be true or false")
    if body.get("tools") is not None:
        _tools(body["tools"])
    if body.get("tool_choice") is not None:
        _tool_choice(body["tool_choice"])
    if body.get("functions") is not None:
        _functions(body["functions"])
    if body.get("function_call") is not None:
        _function_call(body["function_call"])
    response_format = body.get("response_format")
    if response_format is not None and (not isinstance(response_format, dict)
                                        or not _one_of(response_format.get("type"), RESPONSE_FORMATS)):
        _fail("response_format.type", f"must be one of {', '.join(sorted(RESPONSE_FORMATS))}")
    if body.get("user") is not None and not isinstance(body["user"], str):
        _fail("user", "must be a string")
    return body
