"""What a run cost: list prices per million tokens for known hosted models.

Prices are the providers' published list prices (USD per million input / output tokens) when
this table was written (see ``PRICES_AS_OF``); cached-input discounts are not applied, so a cost
is an upper bound. A model not in the table (local servers, new models) costs ``None`` unless
the user gives prices with ``--price-in/--price-out``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PRICES_AS_OF = "2025-10"

# Matched by the longest prefix of the bare model name, for the openai and anthropic providers.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60), "gpt-4o": (2.50, 10.00),
    "gpt-4.1-nano": (0.10, 0.40), "gpt-4.1-mini": (0.40, 1.60), "gpt-4.1": (2.00, 8.00),
    "gpt-5-nano": (0.05, 0.40), "gpt-5-mini": (0.25, 2.00), "gpt-5": (1.25, 10.00),
    "o4-mini": (1.10, 4.40), "o3": (2.00, 8.00),
    "gpt-4-turbo": (10.00, 30.00), "gpt-4": (30.00, 60.00), "gpt-3.5-turbo": (0.50, 1.50),
    "claude-3-5-haiku": (0.80, 4.00), "claude-haiku-4-5": (1.00, 5.00),
    "claude-3-5-sonnet": (3.00, 15.00), "claude-3-7-sonnet": (3.00, 15.00),
    "claude-sonnet-4": (3.00, 15.00), "claude-opus-4-5": (5.00, 25.00), "claude-opus-4": (15.00, 75.00),
}
_PRICED_PROVIDERS = ("openai", "anthropic")


@dataclass(frozen=True)
class Price:
    """USD per million input and output tokens."""

    input: float
    output: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """USD for the given token counts."""
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1_000_000


def price_of(spec: str, input_price: float | None = None, output_price: float | None = None) -> Price | None:
    """The price of a model spec: the user's if both are given, else the table's, else None."""
    if input_price is not None and output_price is not None:
        return Price(input_price, output_price)
    provider, _, rest = spec.split("@")[0].partition("/")
    if provider not in _PRICED_PROVIDERS:
        return None
    bare = rest.lower()
    best = max((p for p in PRICES if bare.startswith(p)), key=len, default=None)
    if best is None:
        return None
    listed = PRICES[best]
    return Price(listed[0] if input_price is None else input_price,
                 listed[1] if output_price is None else output_price)


def cost_dict(price: Price | None, prompt_tokens: int, completion_tokens: int) -> dict[str, Any] | None:
    """The cost in the report's shape, or None when the price is unknown."""
    if price is None:
        return None
    return {"usd": round(price.cost(prompt_tokens, completion_tokens), 6),
            "usd_per_million": {"input": price.input, "output": price.output}}
