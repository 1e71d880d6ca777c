"""Upstream LLM providers behind one interface, OpenAI's chat format in and out.

- ``base``: the ``Provider`` interface and the data it speaks; ``errors``: the providers' errors.
- ``http``: ``HttpProvider``, the chat and stream skeleton every HTTP provider shares,
  over one pooled urllib3 transport; ``sse``: server-sent events; ``sockets``: the pool's
  cheap liveness check.
- ``openai_format``: the pieces of OpenAI's format every provider writes (chunks, message
  text, tool-call arguments).
- One module per provider (``openai``, ``perplexity``, ``anthropic``, ``google``, ``mock``):
  headers, paths and a stream translator; the pure request and answer translation of
  the two that need much lives beside them (``anthropic_format``, ``gemini_format``).
- Which models a provider serves is the model registry's (``app/gateway/data/models.json``).
"""
from __future__ import annotations

from importlib import import_module

from providers.base import Provider, ProviderSettings

# name -> "module:Class"; imported on first use so an unused provider costs nothing.
PROVIDER_CLASSES = {
    "openai": "providers.openai:OpenAIProvider",
    "perplexity": "providers.perplexity:PerplexityProvider",
    "anthropic": "providers.anthropic:AnthropicProvider",
    "google": "providers.google:GoogleProvider",
    "mock": "providers.mock:MockProvider",
}


def build_provider(name: str, settings: ProviderSettings) -> Provider:
    module_name, _, class_name = PROVIDER_CLASSES[name].partition(":")
    return getattr(import_module(module_name), class_name)(settings)
