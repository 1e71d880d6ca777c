"""``POST /v1/chat/completions``: OpenAI's chat API in front of every provider.

HTTP only: the request runs through ``app.gateway.pipeline``.
"""
from __future__ import annotations

from flask import Response, g, request, stream_with_context
from flask_smorest import Blueprint

from app.api.openai_schemas import ref
from app.gateway import pipeline
from app.gateway.request_log.attempt import Attempt
from app.identity.authentication import authenticate_key

blp = Blueprint("chat", __name__, url_prefix="/v1", description="OpenAI-compatible chat completions")

# What Swagger's "Try it out" sends unmodified: answered by the built-in mock provider.
EXAMPLE_REQUEST = {"model": "mock-1", "messages": [{"role": "user", "content": "Hello"}]}

# One server-sent event of a stream: a chat.completion.chunk as JSON, or [DONE] at the end.
SSE_EVENT = {"type": "object", "required": ["data"],
             "properties": {"event": {"type": "string"},
                            "data": {"type": "string",
                                     "description": "A chat.completion.chunk as JSON, or [DONE]"}}}

ERRORS = {status: {"description": text, "content": {"application/json": {"schema": ref("Error")}}}
          for status, text in (("400", "invalid_request"), ("401", "invalid_api_key"),
                               ("402", "quota_exceeded or budget_exceeded"),
                               ("403", "model_not_allowed"), ("404", "model_not_found"),
                               ("502", "provider_error"),
                               ("503", "provider_not_configured, quota_unavailable or counters_rebuilding"),
                               ("504", "provider_timeout"))}
# A loop's refusal carries what was seen in an ``aqta`` block; a rate limit's does not.
ERRORS["429"] = {"description": "rate_limit_exceeded, or loop_detected (with the aqta block)",
                 "content": {"application/json": {"schema": {
                     "oneOf": [ref("Error"), ref("LoopError")]}}}}


@blp.route("/chat/completions", methods=["POST"])
@blp.doc(
    summary="Create a chat completion",
    description="OpenAI's chat completions API, answered by whichever provider serves the "
                "model. Every answer carries an `aqta` block; in a stream it rides on the "
                "final chunk.",
    security=[{"bearerAuth": []}],
    requestBody={"required": True,
                 "content": {"application/json": {"schema": ref("ChatCompletionRequest"),
                                                  "example": EXAMPLE_REQUEST}}},
    responses={"200": {"description": "A completion, or server-sent chunks when stream is true",
                       "content": {"application/json": {"schema": ref("ChatCompletion")},
                                   "text/event-stream": {"schema": SSE_EVENT}}},
               **ERRORS},
)
def chat_completions():
    attempt = Attempt(authenticate_key(), g.request_id)
    answer = pipeline.complete(attempt, request.get_data(cache=False), request.headers)
    if answer.stream is not None:
        return Response(stream_with_context(answer.stream), mimetype="text/event-stream",
                        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    return Response(answer.completion, mimetype="application/json")
