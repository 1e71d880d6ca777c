"""The gateway served on loopback, with every provider pointed at its fake."""
from __future__ import annotations

import threading
from collections.abc import Iterator

import openai
import pytest
from werkzeug.serving import make_server

from providers.base import ProviderSettings
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.openai_upstream import FakeOpenAI, FakePerplexity

# One model per provider, and where each provider's fake takes requests.
MODELS = {"openai": "gpt-4o", "anthropic": "claude-sonnet-4-0", "google": "gemini-2.5-flash",
          "perplexity": "sonar"}
BASE_PATHS = {"openai": "/v1", "perplexity": "", "anthropic": "", "google": ""}


@pytest.fixture(scope="session")
def _fake_servers() -> Iterator[dict]:
    fakes = {"openai": FakeOpenAI(), "perplexity": FakePerplexity(), "anthropic": FakeAnthropic(),
             "google": FakeGemini()}
    for fake in fakes.values():
        fake.start()
    yield fakes
    for fake in fakes.values():
        fake.stop()


@pytest.fixture
def fakes(_fake_servers) -> dict:
    for fake in _fake_servers.values():
        fake.reset()
    return _fake_servers


UPSTREAM_READ_TIMEOUT = 1.0  # seconds; short, so hang tests are quick


@pytest.fixture
def gateway_settings(settings, fakes):
    providers = {
        name: ProviderSettings(api_key=f"upstream-key-{name}",
                               base_url=fakes[name].url + BASE_PATHS[name],
                               connect_timeout=1.0, read_timeout=UPSTREAM_READ_TIMEOUT)
        for name in fakes
    }
    providers["mock"] = ProviderSettings(extra={"response_words": 12, "chunk_count": 4})
    return settings.override(providers=providers)


class LiveGateway:
    def __init__(self, app):
        self.app = app
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def client(self, key: str, **options) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key=key, **{"max_retries": 0, **options})

    def stop(self) -> None:
        self._server.shutdown()


@pytest.fixture
def make_gateway(make_app, gateway_settings):
    started = []

    def make(**overrides) -> LiveGateway:
        app = make_app(**{"providers": gateway_settings.providers, **overrides})
        started.append(LiveGateway(app))
        return started[-1]

    yield make
    for gateway in started:
        gateway.stop()


@pytest.fixture
def gateway(make_gateway) -> LiveGateway:
    return make_gateway()
