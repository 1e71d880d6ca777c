"""Swagger's "Try it out" works unmodified: the spec's example bodies are valid requests."""
from __future__ import annotations

from providers.base import ProviderSettings


def test_the_chat_example_is_answered_as_it_stands(make_app, make_account):
    client = make_app(providers={"mock": ProviderSettings()}).test_client()
    spec = client.get("/openapi.json").json
    example = spec["paths"]["/v1/chat/completions"]["post"]["requestBody"]["content"][
        "application/json"]["example"]
    response = client.post("/v1/chat/completions", json=example,
                           headers=make_account(tier="free").headers)
    assert response.status_code == 200, response.json
    assert response.json["aqta"]["provider"] == "mock"
