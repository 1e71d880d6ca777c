"""The gateway's services for one app: model registry, prices and provider instances."""
from __future__ import annotations

import logging
from decimal import Decimal

from flask import Flask, current_app

from app.config import ConfigError, Settings
from app.errors import AqtaError
from app.gateway.pricing import PriceTable
from app.gateway.routing import ModelEntry, ModelRegistry, Route
from app.tiers import TIERS
from providers import build_provider
from providers.base import Provider, ProviderSettings, Usage

log = logging.getLogger(__name__)
KEYLESS_PROVIDERS = frozenset({"mock"})


class ModelNotAllowed(AqtaError):
    status = 403
    code = "model_not_allowed"


class ProviderNotConfigured(AqtaError):
    status = 503
    code = "provider_not_configured"

    def __init__(self, provider: str):
        super().__init__(f"The provider '{provider}' is not configured on this gateway "
                         f"(set {provider.upper()}_API_KEY).")


class Gateway:
    def __init__(self, settings: Settings):
        self.registry = ModelRegistry.from_file(settings.models_file)
        self.prices = PriceTable.from_file(settings.prices_file)
        unpriced = [e.id for e in self.registry.entries if self.prices.price(e.id) is None]
        if unpriced:
            raise ConfigError(f"AQTA_PRICES_FILE has no price for model(s) {', '.join(unpriced)}; "
                              "every model in the registry needs one")
        self.provider_settings = settings.providers
        self._providers: dict[str, Provider] = {}

    def configured(self, provider: str) -> bool:
        settings = self.provider_settings.get(provider)
        return provider in KEYLESS_PROVIDERS or bool(settings and settings.api_key)

    def provider(self, name: str) -> Provider:
        provider = self._providers.get(name)
        if provider is None:
            if not self.configured(name):
                raise ProviderNotConfigured(name)
            # A keyless provider (mock) needs no settings; its defaults serve.
            settings = self.provider_settings.get(name) or ProviderSettings()
            provider = self._providers[name] = build_provider(name, settings)
        return provider

    def allowed(self, entry: ModelEntry, tier: str) -> bool:
        return TIERS[tier].all_models or entry.cheap

    def route(self, model: str, tier: str) -> Route:
        """Resolve a client's model name for a key's tier (404, 403 or a route)."""
        route = self.registry.resolve(model)
        if not self.allowed(route.entry, tier):
            names = ", ".join(e.id for e in self.models_for(tier))
            raise ModelNotAllowed(f"The {tier} tier may not use '{model}'. Models you may use: "
                                  f"{names}. Upgrade your tier for the others.")
        return route

    def models_for(self, tier: str) -> list[ModelEntry]:
        """Models a tier may use, among those whose provider is configured."""
        return [e for e in self.registry.listed()
                if self.allowed(e, tier) and self.configured(e.provider)]

    def cost(self, route: Route, usage: Usage) -> Decimal:
        return self.prices.cost(route.model, usage)


def init_app(app: Flask) -> None:
    app.extensions["aqta.gateway"] = Gateway(app.config["AQTA_SETTINGS"])


def gateway() -> Gateway:
    return current_app.extensions["aqta.gateway"]
