"""Model names to Model objects: ``provider/model``, ``provider/model@ENDPOINT`` or ``@base_url``.

Examples: ``openai/gpt-4o-mini``, ``anthropic/claude-sonnet-4-5``, ``ollama/qwen2.5:7b``,
``vllm/Qwen/Qwen2.5-7B-Instruct@gpu`` (an endpoint named in MEMGPT_ENDPOINTS). Keys and base
URLs come from the standard variables (OPENAI_API_KEY, OPENAI_BASE_URL, ANTHROPIC_API_KEY,
ANTHROPIC_BASE_URL, OLLAMA_HOST, ...); they are handed to the SDK and never logged or returned.

Where requests go is the operator's choice, never a caller's: a provider's key goes only to
that provider's configured base URL, an endpoint's key only to the endpoint. A raw ``@URL`` is
accepted when it is one of those URLs, or anywhere when ``trusted`` (the CLI and the library,
where whoever types the model is the operator); otherwise ModelNotFoundError.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from memgpt.core.errors import ModelNotFoundError
from memgpt.core.settings import ModelEndpoint
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
    sdk_base_url: str | None = None
    """Where the SDK goes when no base URL is set (so naming it explicitly is allowed)."""


PROVIDERS: dict[str, Provider] = {
    "openai": Provider("openai", "OPENAI_BASE_URL", None, "OPENAI_API_KEY", True,
                       "max_completion_tokens", "https://api.openai.com/v1"),
    "anthropic": Provider("anthropic", "ANTHROPIC_BASE_URL", None, "ANTHROPIC_API_KEY", True,
                          "max_tokens", "https://api.anthropic.com"),
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


def _fixed(provider: str, url: str) -> str:
    """Ollama's host (``localhost:11434``) as its OpenAI-compatible base URL."""
    if provider == "ollama" and not url.rstrip("/").endswith("/v1"):
        return (url if "://" in url else f"http://{url}").rstrip("/") + "/v1"
    return url


def _same_url(a: str, b: str) -> bool:
    """Whether two base URLs are the same place (scheme and host ignore case, a trailing / too)."""
    x, y = urlsplit(a.strip() if "://" in a else f"http://{a.strip()}"), urlsplit(
        b.strip() if "://" in b else f"http://{b.strip()}")
    return ((x.scheme.lower(), x.netloc.lower(), x.path.rstrip("/"), x.query)
            == (y.scheme.lower(), y.netloc.lower(), y.path.rstrip("/"), y.query))


def _home(name: str, provider: Provider) -> str | None:
    """The provider's configured base URL: its variable, else its default (None: the SDK's)."""
    url = (os.environ.get(provider.base_url_env) if provider.base_url_env else None) or provider.default_base_url
    return _fixed(name, url) if url else None


@dataclass(frozen=True)
class Route:
    """Where a model's requests go, and the key they carry."""

    spec: ModelSpec
    provider: Provider
    base_url: str | None
    api_key: str | None


def _endpoint(spec: ModelSpec, name: str, endpoint: ModelEndpoint) -> Route:
    if endpoint.provider != spec.provider:
        raise ModelNotFoundError(
            f"endpoint {name!r} serves {endpoint.provider} models: name them "
            f"{endpoint.provider}/MODEL@{name}"
        )
    key = os.environ.get(endpoint.api_key_env) if endpoint.api_key_env else None
    return Route(spec, PROVIDERS[spec.provider], _fixed(spec.provider, endpoint.base_url), key)


def route(spec: str, endpoints: Mapping[str, ModelEndpoint] | None = None, *, trusted: bool = False) -> Route:
    """Where spec's requests go; ModelNotFoundError for a base URL the operator did not allow.

    ``@NAME`` is a configured endpoint; ``@URL`` must be one's URL or the provider's own (its
    variable, default or SDK default), unless ``trusted``. Only then does the key go along.
    """
    parsed = parse_spec(spec)
    provider, endpoints = PROVIDERS[parsed.provider], endpoints or {}
    key = os.environ.get(provider.key_env) if provider.key_env else None
    home, asked = _home(parsed.provider, provider), parsed.base_url
    if asked is None:
        return Route(parsed, provider, home, key)
    if asked in endpoints:
        return _endpoint(parsed, asked, endpoints[asked])
    for name, endpoint in endpoints.items():
        if _same_url(_fixed(endpoint.provider, endpoint.base_url), _fixed(parsed.provider, asked)):
            return _endpoint(parsed, name, endpoint)
    own = [u for u in (home, provider.sdk_base_url if home is None else None) if u]
    if any(_same_url(u, _fixed(parsed.provider, asked)) for u in own):
        return Route(parsed, provider, home, key)
    if trusted:
        return Route(parsed, provider, _fixed(parsed.provider, asked), key)
    names = ", ".join(sorted(endpoints)) or "none"
    raise ModelNotFoundError(
        f"model {spec!r} names a base URL this server does not allow: models run on their "
        f"provider's configured URL or on an endpoint the operator lists in MEMGPT_ENDPOINTS "
        f"(configured: {names}; use provider/model@NAME)"
    )


def resolve_model(
    spec: str, *, endpoints: Mapping[str, ModelEndpoint] | None = None, trusted: bool = False,
    timeout: float = 120.0, max_retries: int = 4,
) -> Model:
    """A Model for a spec, sent only where ``route`` allows, with only the key it allows."""
    where = route(spec, endpoints, trusted=trusted)
    parsed, provider, url, key = where.spec, where.provider, where.base_url, where.api_key
    if provider.needs_key and not key and not url:
        raise ModelNotFoundError(
            f"model {spec!r} needs an API key: set {provider.key_env} in the environment"
        )
    if provider.kind == "anthropic":
        from memgpt.llm.anthropic_messages import AnthropicModel  # the SDKs load slowly: on use

        # an explicit placeholder: given None, the SDK would read ANTHROPIC_API_KEY itself
        return AnthropicModel(parsed.model, base_url=url, api_key=key or "no-key-needed", name=spec,
                              timeout=timeout, max_retries=max_retries)
    from memgpt.llm.openai_chat import OpenAIChatModel

    return OpenAIChatModel(
        parsed.model, base_url=url, api_key=key, name=spec, timeout=timeout,
        max_retries=max_retries, max_tokens_field=provider.max_tokens_field,
    )
