"""Perplexity's Sonar API: OpenAI's chat completions format plus web-search results.

Perplexity adds top-level ``citations`` (URLs), ``search_results`` (title, url,
date, ...) and, on request, ``images`` and ``related_questions``; its usage adds
``search_context_size``, ``citation_tokens``, ``num_search_queries``, ``cost`` ...
All of these are kept. Its streams carry usage on content chunks and no
``choices: []`` chunk, and ``stream_options`` is not part of its API, so the
OpenAI relay moves usage (with the latest search fields) to a closing chunk.
"""
from __future__ import annotations

from providers.openai import OpenAIProvider

SEARCH_FIELDS = ("citations", "search_results", "images", "related_questions")


class PerplexityProvider(OpenAIProvider):
    name = "perplexity"
    default_base_url = "https://api.perplexity.ai"
    send_stream_options = False
    keep_fields = SEARCH_FIELDS
