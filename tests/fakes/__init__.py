"""Fake OpenAI and Anthropic HTTP servers that speak the real wire formats, for tests."""

from .anthropic_server import FakeAnthropic, fake_anthropic
from .openai_server import FakeOpenAI, fake_openai

__all__ = ["FakeAnthropic", "FakeOpenAI", "fake_anthropic", "fake_openai"]
