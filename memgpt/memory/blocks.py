"""Core memory blocks: the edit operations and the rules they enforce."""

from __future__ import annotations

from memgpt.core.errors import BlockError
from memgpt.core.schemas import Block, utcnow

DEFAULT_PERSONA = (
    "I am Sam, a curious and warm companion with a long memory. I speak plainly, ask about "
    "the things people care about, and remember what they tell me so they never have to "
    "repeat themselves. I admit what I do not know."
)

DEFAULT_HUMAN = (
    "Nothing is known about this person yet. I will note their name, what they do, what "
    "they like and what matters to them as I learn it."
)

PERSONA_DESCRIPTION = "Who I am: my personality, voice and goals. I may refine it."
HUMAN_DESCRIPTION = "What I know about the person I am talking with. Keep it current."


def default_blocks(persona: str | None = None, human: str | None = None) -> list[Block]:
    """The persona and human blocks, with our starter text unless given."""
    return [
        Block(label="persona", value=persona or DEFAULT_PERSONA, description=PERSONA_DESCRIPTION),
        Block(label="human", value=human or DEFAULT_HUMAN, description=HUMAN_DESCRIPTION),
    ]


def find(blocks: list[Block], label: str) -> Block:
    """The block with label, or a BlockError listing the labels there are."""
    for block in blocks:
        if block.label == label:
            return block
    labels = ", ".join(b.label for b in blocks) or "none"
    raise BlockError(f"There is no memory block labelled {label!r}. Blocks: {labels}.")


def _checked(block: Block, new_value: str) -> str:
    if block.read_only:
        raise BlockError(f"Memory block {block.label!r} is read-only; it was not changed.")
    if len(new_value) > block.limit:
        raise BlockError(
            f"Edit refused: block {block.label!r} would hold {len(new_value)} characters, over "
            f"its limit of {block.limit} (now {len(block.value)}). Shorten or replace existing "
            "text first, or move details to archival memory. The block was not changed."
        )
    return new_value


def append(block: Block, content: str) -> Block:
    """A copy of block with content appended on a new line."""
    if not content.strip():
        raise BlockError("Nothing to append: content is empty.")
    joined = f"{block.value}\n{content}" if block.value else content
    return block.model_copy(update={"value": _checked(block, joined), "updated_at": utcnow()})


def replace(block: Block, old: str, new: str) -> Block:
    """A copy of block with every occurrence of old replaced by new."""
    if not old:
        raise BlockError("old_content is empty; give the exact text to replace.")
    if old not in block.value:
        raise BlockError(
            f"The text {old!r} was not found in block {block.label!r}; the block was not "
            "changed. Copy the text exactly as it appears in the block."
        )
    updated = block.value.replace(old, new)
    return block.model_copy(update={"value": _checked(block, updated), "updated_at": utcnow()})


def render(blocks: list[Block]) -> str:
    """The blocks as they appear in the system message."""
    out = []
    for b in blocks:
        flags = f' chars="{len(b.value)}/{b.limit}"' + (' read_only="true"' if b.read_only else "")
        head = f"<{b.label}{flags}>"
        desc = f"{b.description}\n" if b.description else ""
        out.append(f"{head}\n{desc}---\n{b.value}\n</{b.label}>")
    return "\n".join(out)
