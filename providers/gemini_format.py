"""Pure translation between OpenAI's chat format and Gemini's ``generateContent`` format.

No I/O here, so every function is tested on recorded payloads. ``to_gemini_request``
builds the request body, ``from_gemini_response`` reads a whole answer, and
``StreamTranslator`` turns each ``streamGenerateContent`` event into OpenAI chunks.

Decisions and gaps, and how each reaches the client:

- Image URLs: ``data:`` URLs become ``inlineData``; ``http(s)://`` and ``gs://`` URLs
  become ``fileData`` (Gemini fetches public and signed URLs itself; the MIME type
  is guessed from the file extension when possible). Any other scheme, or a
  ``file_id`` part, is a 400 ``invalid_request``. ``image_url.detail`` is ignored.
- System and developer messages all go to ``systemInstruction``, wherever they
  stand in the conversation (Gemini has one system instruction).
- Tool results: the function name is looked up from the earlier assistant tool
  call (an unknown ``tool_call_id`` is a 400). A result that parses as a JSON
  object is sent as the ``response`` object; anything else as ``{"output": …}``,
  the key Gemini documents for function output.
- Tool definitions go to ``parametersJsonSchema`` and ``json_schema`` response
  formats to ``responseJsonSchema``: both take JSON Schema as OpenAI clients write
  it, where ``parameters``/``responseSchema`` take only an OpenAPI subset.
  ``strict`` is ignored (Gemini always follows a given schema).
- Tool call ids: Gemini's own ``functionCall.id`` when it sends one, else a fresh
  ``call_…``. Ids are not sent back upstream; Gemini pairs results with calls by
  name and order.
- Thought signatures (required by Gemini 3 on function calls) ride on each tool
  call as ``extra_content.google.thought_signature`` (Google's own OpenAI-compat
  convention) and are sent back when the client echoes them; a model turn with
  function calls but no signature gets Google's documented placeholder
  ``skip_thought_signature_validator`` so the request is still accepted.
  Signatures on text parts are dropped (Gemini does not require them).
- Not supported, 400 ``invalid_request``: legacy ``functions``/``function_call``,
  ``role: "function"`` messages, non-function tools, ``tool_choice`` shapes other
  than auto/none/required/{function}, output ``modalities`` other than text.
- Ignored (no Gemini equivalent, the answer is still correct): ``logit_bias``,
  ``parallel_tool_calls``, ``reasoning_effort`` (the model's default thinking
  applies), ``user``, ``metadata``, ``store``, ``service_tier``, message ``name``.
- Output: thought-summary parts and non-text parts (inline images, code
  execution) are dropped; finish reasons other than STOP, MAX_TOKENS and the
  safety family (e.g. MALFORMED_FUNCTION_CALL, OTHER) become ``"stop"``.
- A prompt blocked by Gemini (``promptFeedback.blockReason``, no candidates) is an
  answer, not an error: one choice with ``content: null`` and
  ``finish_reason: "content_filter"``, usage still reported. An answer with
  neither candidates nor a block reason is a ``provider_error``.
"""
from __future__ import annotations

import mimetypes
import uuid
from typing import Any

import orjson

from providers.base import ChatResponse, Usage
from providers.errors import ProviderError, UnsupportedRequest
from providers.openai_format import arguments_text, text_parts, tool_arguments

PROVIDER = "google"
SKIP_SIGNATURE = "skip_thought_signature_validator"  # Google's documented placeholder

_FILTERED = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
             "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION"}
_TOOL_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
_SAMPLING = (("temperature", "temperature"), ("top_p", "topP"), ("n", "candidateCount"),
             ("seed", "seed"), ("presence_penalty", "presencePenalty"),
             ("frequency_penalty", "frequencyPenalty"))


# -- request: OpenAI -> Gemini -------------------------------------------------------

def to_gemini_request(body: dict[str, Any]) -> dict[str, Any]:
    """The Gemini ``GenerateContentRequest`` for an OpenAI chat request body."""
    _reject_unsupported(body)
    system, contents = _contents(body.get("messages") or [])
    request: dict[str, Any] = {"contents": contents}
    if system:
        request["systemInstruction"] = {"parts": system}
    tools = _tools(body.get("tools"))
    if tools:
        request["tools"] = tools
        if body.get("tool_choice") is not None:
            request["toolConfig"] = {"functionCallingConfig": _tool_choice(body["tool_choice"])}
    config = generation_config(body)
    if config:
        request["generationConfig"] = config
    return request


def generation_config(body: dict[str, Any]) -> dict[str, Any]:
    """Gemini's ``generationConfig`` from OpenAI's sampling and format options."""
    config = {gemini: body[openai] for openai, gemini in _SAMPLING if body.get(openai) is not None}
    max_tokens = body.get("max_completion_tokens")
    if max_tokens is None:
        max_tokens = body.get("max_tokens")
    if max_tokens is not None:
        config["maxOutputTokens"] = max_tokens
    stop = body.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("logprobs"):
        config["responseLogprobs"] = True
        if body.get("top_logprobs") is not None:
            config["logprobs"] = body["top_logprobs"]
    response_format = body.get("response_format") or {}
    if response_format.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        schema = (response_format.get("json_schema") or {}).get("schema")
        if schema:
            config["responseJsonSchema"] = schema
    return config


def _reject_unsupported(body: dict[str, Any]) -> None:
    for legacy in ("functions", "function_call"):
        if body.get(legacy) is not None:
            raise UnsupportedRequest(f"'{legacy}' is not supported for Gemini models; "
                                 "use 'tools' and 'tool_choice'.", field=legacy)
    modalities = body.get("modalities") or ["text"]
    if any(modality != "text" for modality in modalities):
        raise UnsupportedRequest("Gemini models answer here in text only; "
                             "set 'modalities' to [\"text\"].", field="modalities")


def _contents(messages: list[dict]) -> tuple[list[dict], list[dict]]:
    """(system instruction parts, Gemini contents) with same-role turns merged."""
    system: list[dict] = []
    contents: list[dict] = []
    tool_names: dict[str, str] = {}  # tool call id -> function name
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend({"text": text} for text in _texts(message.get("content"), where))
            continue
        if role == "user":
            gemini_role, parts = "user", _user_parts(message.get("content"), where)
        elif role == "assistant":
            gemini_role, parts = "model", _assistant_parts(message, tool_names, where)
        elif role == "tool":
            gemini_role, parts = "user", [_function_response(message, tool_names, where)]
        else:
            raise UnsupportedRequest(f"{where}.role '{role}' is not supported for Gemini models.",
                                 field=f"{where}.role")
        if not parts:
            continue
        if contents and contents[-1]["role"] == gemini_role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": gemini_role, "parts": parts})
    if not contents:
        raise UnsupportedRequest("Gemini needs at least one user or assistant message.",
                             field="messages")
    for content in contents:
        calls = [part for part in content["parts"] if "functionCall" in part]
        if calls and not any("thoughtSignature" in part for part in calls):
            calls[0]["thoughtSignature"] = SKIP_SIGNATURE
    return system, contents


def _texts(content: Any, where: str) -> list[str]:
    """The text of a content string or a list of text (or refusal) parts."""
    def not_text(j: int) -> UnsupportedRequest:
        return UnsupportedRequest(f"{where}.content[{j}]: only text parts are allowed here.",
                                  field=f"{where}.content")

    return [text for text, _part in text_parts(content, not_text)]


def _user_parts(content: Any, where: str) -> list[dict]:
    if content is None or isinstance(content, str):
        return [{"text": text} for text in _texts(content, where)]
    parts = []
    for j, part in enumerate(content):
        kind, field = part.get("type"), f"{where}.content[{j}]"
        if kind == "text":
            if part.get("text"):  # Gemini refuses empty text parts
                parts.append({"text": part["text"]})
        elif kind == "image_url":
            parts.append(media_part((part.get("image_url") or {}).get("url") or "", field))
        elif kind == "input_audio":
            audio = part.get("input_audio") or {}
            parts.append({"inlineData": {"mimeType": f"audio/{audio.get('format', 'wav')}",
                                         "data": audio.get("data", "")}})
        elif kind == "file" and (part.get("file") or {}).get("file_data"):
            parts.append(media_part(part["file"]["file_data"], field))
        else:
            raise UnsupportedRequest(f"{field}: part type '{kind}' is not supported for Gemini "
                                 "models (file ids included; send the file as a data: URL).",
                                 field=field)
    return parts


def media_part(url: str, field: str = "url") -> dict:
    """A Gemini ``inlineData`` part for a data: URL, a ``fileData`` part for a remote one."""
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        mime, _, encoding = header.partition(";")
        if not sep or encoding != "base64" or not mime:
            raise UnsupportedRequest(f"{field}: a data: URL must look like "
                                 "'data:<mime type>;base64,<data>'.", field=field)
        return {"inlineData": {"mimeType": mime, "data": data}}
    if url.startswith(("https://", "http://", "gs://")):
        file_data = {"fileUri": url}
        mime = mimetypes.guess_type(url.split("?", 1)[0])[0]
        if mime:
            file_data["mimeType"] = mime
        return {"fileData": file_data}
    raise UnsupportedRequest(f"{field}: Gemini takes images as data:, https:// or gs:// URLs.",
                         field=field)


def _assistant_parts(message: dict, tool_names: dict[str, str], where: str) -> list[dict]:
    parts: list[dict] = [{"text": text} for text in _texts(message.get("content"), where)]
    for j, call in enumerate(message.get("tool_calls") or []):
        field = f"{where}.tool_calls[{j}]"
        function = call.get("function") or {}
        if call.get("type", "function") != "function" or not function.get("name"):
            raise UnsupportedRequest(f"{field}: only function tool calls with a name are supported.",
                                 field=field)
        args = tool_arguments(call)
        if args is None:
            raise UnsupportedRequest(f"{field}.function.arguments must be a JSON object.", field=field)
        tool_names[call.get("id", "")] = function["name"]
        part: dict[str, Any] = {"functionCall": {"name": function["name"], "args": args}}
        signature = ((call.get("extra_content") or {}).get("google") or {}).get("thought_signature")
        if signature:
            part["thoughtSignature"] = signature
        parts.append(part)
    return parts


def _function_response(message: dict, tool_names: dict[str, str], where: str) -> dict:
    call_id = message.get("tool_call_id")
    if call_id not in tool_names:
        raise UnsupportedRequest(f"{where}.tool_call_id '{call_id}' does not match a tool call of "
                             "an earlier assistant message.", field=f"{where}.tool_call_id")
    text = "".join(_texts(message.get("content"), where))
    try:
        value: Any = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = text
    response = value if isinstance(value, dict) else {"output": value}
    return {"functionResponse": {"name": tool_names[call_id], "response": response}}


def _tools(tools: list[dict] | None) -> list[dict]:
    declarations = []
    for i, tool in enumerate(tools or []):
        function = tool.get("function") or {}
        if tool.get("type") != "function" or not function.get("name"):
            raise UnsupportedRequest(f"tools[{i}]: only function tools with a name are supported "
                                 "for Gemini models.", field=f"tools[{i}]")
        declaration = {"name": function["name"]}
        if function.get("description"):
            declaration["description"] = function["description"]
        if function.get("parameters"):
            declaration["parametersJsonSchema"] = function["parameters"]
        declarations.append(declaration)
    return [{"functionDeclarations": declarations}] if declarations else []


def _tool_choice(choice: Any) -> dict:
    if isinstance(choice, str) and choice in _TOOL_MODES:
        return {"mode": _TOOL_MODES[choice]}
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        if name:
            return {"mode": "ANY", "allowedFunctionNames": [name]}
    raise UnsupportedRequest("tool_choice must be 'auto', 'none', 'required' or "
                         "{'type': 'function', 'function': {'name': …}} for Gemini models.",
                         field="tool_choice")


# -- response: Gemini -> OpenAI ------------------------------------------------------

def from_gemini_response(data: dict[str, Any], *, model: str, created: int) -> ChatResponse:
    """An OpenAI ``chat.completion`` for a Gemini ``GenerateContentResponse``."""
    candidates = data.get("candidates") or []
    if candidates:
        choices = [_choice(candidate, position) for position, candidate in enumerate(candidates)]
    elif (data.get("promptFeedback") or {}).get("blockReason"):
        choices = [{"index": 0, "message": {"role": "assistant", "content": None, "refusal": None},
                    "logprobs": None, "finish_reason": "content_filter"}]
    else:
        raise ProviderError(PROVIDER, upstream_status=200,
                            upstream_message="answer has neither candidates nor a block reason")
    metadata = data.get("usageMetadata") or {}
    body = {"id": data.get("responseId") or new_completion_id(), "object": "chat.completion",
            "created": created, "model": data.get("modelVersion") or model,
            "choices": sorted(choices, key=lambda choice: choice["index"]),
            "usage": usage_body(metadata)}
    return ChatResponse(body=body, usage=usage_from(metadata))


def _choice(candidate: dict, position: int) -> dict:
    parts = (candidate.get("content") or {}).get("parts") or []
    text = answer_text(parts)
    tool_calls = [tool_call(part) for part in parts if "functionCall" in part]
    message: dict[str, Any] = {"role": "assistant",
                               "content": text or (None if tool_calls else ""), "refusal": None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {"index": candidate.get("index", position), "message": message,
            "logprobs": logprobs(candidate.get("logprobsResult")),
            "finish_reason": finish_reason(candidate.get("finishReason"), bool(tool_calls))}


def answer_text(parts: list[dict]) -> str:
    """The visible text of Gemini parts: thought summaries and non-text parts left out."""
    return "".join(part["text"] for part in parts
                   if isinstance(part.get("text"), str) and not part.get("thought"))


def tool_call(part: dict) -> dict:
    """An OpenAI tool call for a Gemini ``functionCall`` part (whole, as Gemini sends it)."""
    function = part["functionCall"]
    call: dict[str, Any] = {
        "id": function.get("id") or f"call_{uuid.uuid4().hex[:24]}", "type": "function",
        "function": {"name": function.get("name", ""),
                     "arguments": arguments_text(function.get("args"))}}
    if part.get("thoughtSignature"):
        call["extra_content"] = {"google": {"thought_signature": part["thoughtSignature"]}}
    return call


def finish_reason(reason: str | None, has_tool_calls: bool) -> str | None:
    """OpenAI's finish_reason for Gemini's (None while a stream is still running)."""
    if not reason:
        return None
    if reason == "MAX_TOKENS":
        return "length"
    if reason in _FILTERED:
        return "content_filter"
    return "tool_calls" if has_tool_calls else "stop"


def logprobs(result: dict | None) -> dict | None:
    """OpenAI's ``logprobs`` block for Gemini's ``logprobsResult``."""
    if not result:
        return None
    top = result.get("topCandidates") or []
    content = []
    for i, chosen in enumerate(result.get("chosenCandidates") or []):
        alternatives = top[i].get("candidates", []) if i < len(top) else []
        content.append({**_token(chosen), "top_logprobs": [_token(alt) for alt in alternatives]})
    return {"content": content, "refusal": None}


def _token(candidate: dict) -> dict:
    token = candidate.get("token", "")
    return {"token": token, "logprob": candidate.get("logProbability", 0.0),
            "bytes": list(token.encode("utf-8"))}


def usage_from(metadata: dict) -> Usage:
    """Usage from Gemini's ``usageMetadata``: thinking counts as completion, tool-use as prompt."""
    return Usage(prompt_tokens=(metadata.get("promptTokenCount", 0)
                                + metadata.get("toolUsePromptTokenCount", 0)),
                 completion_tokens=(metadata.get("candidatesTokenCount", 0)
                                    + metadata.get("thoughtsTokenCount", 0)))


def usage_body(metadata: dict) -> dict:
    body = usage_from(metadata).as_openai()
    body["prompt_tokens_details"] = {"cached_tokens": metadata.get("cachedContentTokenCount", 0)}
    body["completion_tokens_details"] = {"reasoning_tokens": metadata.get("thoughtsTokenCount", 0)}
    return body


def new_completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def upstream_error(error: Any) -> ProviderError:
    """Our error for a Google error object (``{"code", "message", "status"}``)."""
    if not isinstance(error, dict):
        return ProviderError(PROVIDER, upstream_message=str(error))
    code = error.get("code")
    return ProviderError(PROVIDER, upstream_status=code if isinstance(code, int) else None,
                         upstream_message=str(error.get("message") or error.get("status") or error))
