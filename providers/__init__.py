"""Provider modules, one per upstream, behind the interface in ``providers.base``."""
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
