"""Model names to Model objects: ``provider/model`` or ``provider/model@base_url``.

Examples: ``openai/gpt-4o-mini``, ``anthropic/claude-sonnet-4-5``, ``ollama/qwen2.5:7b``,
``vllm/Qwen/Qwen2.5-7B-Instruct@http://gpu-box:8000/v1``. Keys and base URLs come from the
standard variables (OPENAI_API_KEY, OPENAI_BASE_URL, ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL,
OLLAMA_HOST, ...); they are handed to the SDK and never logged or returned.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from memgpt.core.errors import ModelNotFoundError
from memgpt.llm.base import Model


@dataclass(frozen=True)
class Provider:
    """How to reach one kind of server."""

    kind: str  # "openai" (chat completions) or "anthropic"
    base_url_env: str | None
    default_base_url: str | None
    key_env: str | None
    needs_key: bool
    max_tokens_field: str = "max_tokens"


PROVIDERS: dict[str, Provider] = {
    "openai": Provider("openai", "OPENAI_BASE_URL", None, "OPENAI_API_KEY", True,
                       "max_completion_tokens"),
    "anthropic": Provider("anthropic", "ANTHROPIC_BASE_URL", None, "ANTHROPIC_API_KEY", True),
    "ollama": Provider("openai", "OLLAMA_HOST", "http://localhost:11434", None, False),
    "vllm": Provider("openai", "VLLM_BASE_URL", "http://localhost:8000/v1", "VLLM_API_KEY", False),
    "llamacpp": Provider("openai", "LLAMACPP_BASE_URL", "http://localhost:8080/v1", None, False),
    "lmstudio": Provider("openai", "LMSTUDIO_BASE_URL", "http://localhost:1234/v1", None, False),
    "openrouter": Provider("openai", None, "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY", True),
    "groq": Provider("openai", None, "https://api.groq.com/openai/v1", "GROQ_API_KEY", True),
}

# Context windows of known models, matched by the longest prefix of the model name.
CONTEXT_WINDOWS: dict[str, int] = {
    "gpt-4o": 128_000, "gpt-4.1": 1_047_576, "gpt-5": 400_000, "o3": 200_000, "o4-mini": 200_000,
    "gpt-4-turbo": 128_000, "gpt-4": 8_192, "gpt-3.5-turbo": 16_385,
    "claude": 200_000,
    "llama3.1": 131_072, "llama3.2": 131_072, "llama3.3": 131_072, "qwen2.5": 32_768,
    "qwen3": 40_960, "mistral": 32_768, "gemma3": 131_072, "phi4": 16_384,
    "deepseek": 131_072,
}


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model name."""

    provider: str
    model: str
    base_url: str | None = None


def parse_spec(spec: str) -> ModelSpec:
    """Split ``provider/model[@base_url]``; ModelNotFoundError if the provider is unknown."""
    name, _, base_url = spec.partition("@")
    provider, _, model = name.partition("/")
    if provider not in PROVIDERS or not model:
        known = ", ".join(PROVIDERS)
        raise ModelNotFoundError(
            f"cannot use model {spec!r}: name it provider/model (providers: {known}), "
            "optionally with @base_url"
        )
    return ModelSpec(provider, model, base_url or None)


def known_context_window(model: str) -> int | None:
    """The context window of a known model (by name or spec), else None."""
    bare = model.split("@")[0].split("/")[-1].lower()
    best = max((p for p in CONTEXT_WINDOWS if bare.startswith(p)), key=len, default=None)
    return CONTEXT_WINDOWS[best] if best else None


def _base_url(spec: ModelSpec, provider: Provider) -> str | None:
    url = spec.base_url or (os.environ.get(provider.base_url_env) if provider.base_url_env else None)
    url = url or provider.default_base_url
    if url and spec.provider == "ollama" and not url.rstrip("/").endswith("/v1"):
        url = (url if "://" in url else f"http://{url}").rstrip("/") + "/v1"
    return url


def resolve_model(spec: str, *, timeout: float = 120.0, max_retries: int = 4) -> Model:
    """A Model for a spec; the SDK reads the key from the provider's variable."""
    parsed = parse_spec(spec)
    provider = PROVIDERS[parsed.provider]
    key = os.environ.get(provider.key_env) if provider.key_env else None
    url = _base_url(parsed, provider)
    if provider.needs_key and not key and not url:
        raise ModelNotFoundError(
            f"model {spec!r} needs an API key: set {provider.key_env} in the environment"
        )
    if provider.kind == "anthropic":
        from memgpt.llm.anthropic_messages import AnthropicModel  # the SDKs load slowly: on use

        return AnthropicModel(parsed.model, base_url=url, api_key=key, name=spec,
                              timeout=timeout, max_retries=max_retries)
    from memgpt.llm.openai_chat import OpenAIChatModel

    return OpenAIChatModel(
        parsed.model, base_url=url, api_key=key, name=spec, timeout=timeout,
        max_retries=max_retries, max_tokens_field=provider.max_tokens_field,
    )
