"""Fixtures for provider tests: loopback fakes started once, reset before each test."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.openai_upstream import FakeOpenAI, FakePerplexity


@pytest.fixture(scope="session")
def _openai_server() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def _perplexity_server() -> Iterator[FakePerplexity]:
    fake = FakePerplexity().start()
    yield fake
    fake.stop()


@pytest.fixture
def openai_fake(_openai_server: FakeOpenAI) -> FakeOpenAI:
    """A running FakeOpenAI with its default answer and no pending failures."""
    _openai_server.reset()
    return _openai_server


@pytest.fixture
def perplexity_fake(_perplexity_server: FakePerplexity) -> FakePerplexity:
    """A running FakePerplexity with its default answer and no pending failures."""
    _perplexity_server.reset()
    return _perplexity_server
