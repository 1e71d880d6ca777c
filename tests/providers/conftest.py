"""Fixtures for provider tests: each loopback fake started once, reset before each test."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.openai_upstream import FakeOpenAI, FakePerplexity
from tests.fakes.scripted import ScriptedUpstream, silent_url
from tests.fakes.server import FakeUpstream


def serving(fake: FakeUpstream) -> Iterator[FakeUpstream]:
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def _openai_server() -> Iterator[FakeOpenAI]:
    yield from serving(FakeOpenAI())


@pytest.fixture(scope="session")
def _perplexity_server() -> Iterator[FakePerplexity]:
    yield from serving(FakePerplexity())


@pytest.fixture(scope="session")
def _anthropic_server() -> Iterator[FakeAnthropic]:
    yield from serving(FakeAnthropic())


@pytest.fixture(scope="session")
def _gemini_server() -> Iterator[FakeGemini]:
    yield from serving(FakeGemini(chunk_chars=5))


@pytest.fixture
def openai_fake(_openai_server: FakeOpenAI) -> FakeOpenAI:
    """A running FakeOpenAI with its default answer and no pending failures."""
    _openai_server.reset()
    return _openai_server


@pytest.fixture
def perplexity_fake(_perplexity_server: FakePerplexity) -> FakePerplexity:
    _perplexity_server.reset()
    return _perplexity_server


@pytest.fixture
def anthropic_fake(_anthropic_server: FakeAnthropic) -> FakeAnthropic:
    _anthropic_server.reset()
    return _anthropic_server


@pytest.fixture
def gemini_fake(_gemini_server: FakeGemini) -> FakeGemini:
    _gemini_server.reset()
    return _gemini_server


@pytest.fixture(scope="session")
def _scripted_server() -> Iterator[ScriptedUpstream]:
    yield from serving(ScriptedUpstream())


@pytest.fixture
def scripted(_scripted_server: ScriptedUpstream) -> ScriptedUpstream:
    """A running ScriptedUpstream with nothing queued: tests script each answer."""
    _scripted_server.reset()
    return _scripted_server


@pytest.fixture(scope="session")
def silent() -> Iterator[str]:
    """A loopback URL that never accepts a connection: connecting to it times out."""
    with silent_url() as url:
        yield url
