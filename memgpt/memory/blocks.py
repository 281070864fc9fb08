"""Core memory blocks: the edit operations and the rules they enforce."""

from __future__ import annotations

import logging
from typing import Literal, NamedTuple

from pydantic import Field

from memgpt.core.errors import BlockError
from memgpt.core.schemas import Block, utcnow

log = logging.getLogger(__name__)

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


class Edit(NamedTuple):
    """One tool edit of a block: ``append`` (text) or ``replace`` (text, by)."""

    kind: Literal["append", "replace"]
    text: str
    by: str = ""


class StoredBlock(Block):
    """A block as the store holds it: its own id (a block may be shared by many agents) and,
    once a tool edits it, the value it was read with and the edits made since.

    The edits let a step's commit re-apply them to the block's *current* stored value when
    another agent (or an operator) changed the block in between, so no edit is lost; see
    ``rebase``. ``id``, ``base`` and ``edits`` are not serialized (a dump is the plain block).
    """

    id: str = Field(default="", exclude=True)
    base: str | None = Field(default=None, exclude=True)
    edits: tuple[Edit, ...] = Field(default=(), exclude=True)


def _edited(block: Block, value: str, edit: Edit) -> Block:
    update: dict[str, object] = {"value": value, "updated_at": utcnow()}
    if isinstance(block, StoredBlock):
        base = block.base if block.edits else block.value
        update |= {"base": base, "edits": (*block.edits, edit)}
    return block.model_copy(update=update)


def rebase(block: Block, current: str, limit: int) -> str:
    """The value to store for block when the stored value is now ``current`` (within the
    stored ``limit``).

    The rule: a block read and edited by a tool (a ``StoredBlock`` with edits) whose stored
    value is still the one it was read with is stored as edited. If another writer changed it
    in between, the edits are applied again, in order, to the current value (appends always,
    replaces if their text is still there, and only within the limit); an edit that no longer
    applies is dropped with a warning, keeping the other writer's. Any other block (an
    operator's change) is stored as given.
    """
    if not isinstance(block, StoredBlock) or not block.edits or block.base == current:
        return block.value
    value = current
    for edit in block.edits:
        try:
            probe = block.model_copy(update={"value": value, "read_only": False, "limit": limit})
            value = (append(probe, edit.text) if edit.kind == "append"
                     else replace(probe, edit.text, edit.by)).value
        except BlockError as exc:
            log.warning("block %s: a concurrent edit no longer applies, dropped: %s", block.id, exc)
    return value


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
    return _edited(block, _checked(block, joined), Edit("append", content))


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
    return _edited(block, _checked(block, updated), Edit("replace", old, new))


def render(blocks: list[Block]) -> str:
    """The blocks as they appear in the system message."""
    out = []
    for b in blocks:
        flags = f' chars="{len(b.value)}/{b.limit}"' + (' read_only="true"' if b.read_only else "")
        head = f"<{b.label}{flags}>"
        desc = f"{b.description}\n" if b.description else ""
        out.append(f"{head}\n{desc}---\n{b.value}\n</{b.label}>")
    return "\n".join(out)
