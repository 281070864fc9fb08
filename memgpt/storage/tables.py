"""SQLAlchemy table definitions (the Alembic migrations create the same schema)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy import Update, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, synonym
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns timezone-aware UTC (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=timezone.utc)


class JsonModels(TypeDecorator[list[Any]]):
    """A list of pydantic models (or plain dicts) stored as JSON text; read back as dicts,
    which the schema validates (an agent's tool rules)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: list[Any] | None, dialect: Dialect) -> str:
        return json.dumps([v.model_dump(exclude_none=True) if hasattr(v, "model_dump") else v
                           for v in value or []])

    def process_result_value(self, value: Any, dialect: Dialect) -> list[Any]:
        return cast(list[Any], json.loads(value)) if value else []


class Base(DeclarativeBase):
    """Declarative base of all tables."""


class AgentRow(Base):
    """An agent and its loop state (summary, in-context pointer, compiled system)."""

    __tablename__ = "agents"
    __table_args__ = (UniqueConstraint("owner", "name", name="uq_agents_owner_name"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200), default="local")
    name: Mapped[str] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(200))
    summarizer_model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    embedding_model: Mapped[str] = mapped_column(String(200))
    instructions: Mapped[str] = mapped_column(Text)
    context_window: Mapped[int] = mapped_column(Integer)
    max_output_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    context_start: Mapped[int] = mapped_column(Integer, default=0)
    warned: Mapped[bool] = mapped_column(Boolean, default=False)
    system_compiled: Mapped[str] = mapped_column(Text, default="")
    memory_dirty: Mapped[bool] = mapped_column(Boolean, default=True)
    last_memory_edit: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    heartbeats_paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=0)
    lease_holder: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    tool_rules: Mapped[list[Any]] = mapped_column(JsonModels, default=list, server_default="[]")  # 0015


class BlockRow(Base):
    """A core memory block: its owner's, attachable to many agents (``agent_blocks``).

    ``standalone`` blocks were made on their own (``/v1/blocks``) and outlive every agent;
    the others were made with an agent and go when no agent uses them any more.
    """

    __tablename__ = "blocks"
    __table_args__ = (Index("ix_blocks_owner_label", "owner", "label"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    owner: Mapped[str] = mapped_column(String(200), default="local")
    label: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(Text)
    limit: Mapped[int] = mapped_column("char_limit", Integer)
    description: Mapped[str] = mapped_column(Text, default="")
    read_only: Mapped[bool] = mapped_column(Boolean, default=False)
    standalone: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AgentBlockRow(Base):
    """A block attached to an agent, at a display position.

    ``stale`` marks that another writer changed the block since: the agent's next commit
    makes sure no process keeps a copy of the agent compiled from the old value.
    """

    __tablename__ = "agent_blocks"
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True)
    block_id: Mapped[str] = mapped_column(
        ForeignKey("blocks.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    stale: Mapped[bool] = mapped_column(Boolean, default=False)


class MessageRow(Base):
    """One message of recall memory (append-only)."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("agent_id", "seq", name="uq_messages_agent_seq"),
        Index("ix_messages_agent_created", "agent_id", "created_at"),
        Index("ix_messages_agent_model", "agent_id", "embedding_model"),
    )
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))
    parts: Mapped[str] = mapped_column(Text)
    search_text: Mapped[str] = mapped_column(Text, default="")
    step_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    embedding_model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    conversation_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # 0014


class StepRow(Base):
    """One model call of an agent, with its token usage."""

    __tablename__ = "steps"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    input_id: Mapped[str] = mapped_column(String(64))
    index: Mapped[int] = mapped_column("step_index", Integer)
    model: Mapped[str] = mapped_column(String(200))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cached_tokens: Mapped[int] = mapped_column(Integer, default=0)
    heartbeat: Mapped[bool] = mapped_column(Boolean, default=False)
    stop_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    repairs: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    run_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    feedback: Mapped[str | None] = mapped_column(String(16), nullable=True)
    tags: Mapped[str] = mapped_column(Text, default="[]")


class PassageRow(Base):
    """One passage of archival memory with its embedding."""

    __tablename__ = "passages"
    __table_args__ = (
        Index("ix_passages_agent_model", "agent_id", "embedding_model"),
        Index("ix_passages_archive_model", "archive_id", "embedding_model"),
    )
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    agent_id: Mapped[str | None] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), nullable=True)
    """The agent whose own passage this is (None for an archive's passage)."""
    archive_id: Mapped[str | None] = mapped_column(ForeignKey("archives.id", ondelete="CASCADE"), nullable=True)
    """The archive holding this passage (None for an agent's own)."""
    meta: Mapped[str | None] = mapped_column(Text, nullable=True)
    """JSON metadata given when the passage was made (archives' passages)."""
    text: Mapped[str] = mapped_column(Text)
    tags: Mapped[str] = mapped_column(Text, default="[]")
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    embedding_model: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ApiKeyRow(Base):
    """An API key, stored as a SHA-256 hash; the raw key is shown once at creation."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(200), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ToolRow(Base):
    """A custom tool: a user's Python function with its schema (names unique per owner)."""

    __tablename__ = "tools"
    __table_args__ = (UniqueConstraint("owner", "name", name="uq_tools_owner_name"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    source_code: Mapped[str] = mapped_column(Text)
    json_schema: Mapped[str] = mapped_column(Text)
    tags: Mapped[str] = mapped_column(Text, default="[]")
    return_char_limit: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    default_requires_approval: Mapped[bool] = mapped_column(Boolean, default=False)  # 0015


class AgentToolRow(Base):
    """A custom tool attached to an agent (base tools are every agent's and are not listed)."""

    __tablename__ = "agent_tools"
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True)
    tool_id: Mapped[str] = mapped_column(
        ForeignKey("tools.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    attached_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ToolJournalRow(Base):
    """A call of a tool whose effects leave the database: started, then finished with its step."""

    __tablename__ = "tool_journal"
    __table_args__ = (Index("ix_tool_journal_open", "agent_id", "finished_at"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    call_id: Mapped[str] = mapped_column(String(200))
    tool: Mapped[str] = mapped_column(String(200))
    arguments: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


AGENTS = cast(Table, AgentRow.__table__)
"""The agents table, for Core statements on hot paths (no ORM session state to keep)."""
MESSAGES = cast(Table, MessageRow.__table__)
"""The messages table, for Core inserts."""
STEPS = cast(Table, StepRow.__table__)
"""The steps table, for Core inserts."""
AGENT_BLOCKS = cast(Table, AgentBlockRow.__table__)
"""Which agents each block is attached to."""


def bump_versions(agents: Any) -> Update:
    """The statement that bumps the version of the agents (an id, or a select of ids) after a
    write to anything of theirs, so every process's cache of them knows it is stale."""
    where = AGENTS.c.id.in_(agents) if not isinstance(agents, str) else AGENTS.c.id == agents
    return update(AGENTS).where(where).values(version=AGENTS.c.version + 1)


def touch_sharers(block_id: str, writer: str | None = None) -> list[Update]:
    """The statements that tell every agent attached to a block (but the writer) that it
    changed: their link is marked stale, their system message must be compiled anew, and
    their version is bumped so every process's cache of them is stale."""
    ab = AGENT_BLOCKS.c
    where = [ab.block_id == block_id] + ([ab.agent_id != writer] if writer is not None else [])
    sharers = select(ab.agent_id).where(*where)
    return [
        update(AGENT_BLOCKS).where(*where).values(stale=True),
        update(AGENTS).where(AGENTS.c.id.in_(sharers))
        .values(version=AGENTS.c.version + 1, memory_dirty=True),
    ]


class IdentityRow(Base):
    """An identity (a user, an org, ...) of an owner's application, known by its
    ``identifier_key`` (unique per owner); agents are linked to it by ``agent_identities``."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("owner", "identifier_key", name="uq_identities_owner_key"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    owner: Mapped[str] = mapped_column(String(200))
    identifier_key: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    identity_type: Mapped[str] = mapped_column(String(16))
    properties: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AgentIdentityRow(Base):
    """An identity linked to an agent."""

    __tablename__ = "agent_identities"
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True)
    identity_id: Mapped[str] = mapped_column(
        ForeignKey("identities.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class AgentTagRow(Base):
    """One tag of an agent (Letta's ``tags``: free labels to find agents by)."""

    __tablename__ = "agent_tags"
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(200), primary_key=True, index=True)


# --- archives (migration 0010) ---
class ArchiveRow(Base):
    """A named collection of passages, owned by a user, searchable by every agent it is
    attached to (``agent_archives``); its passages are ``passages`` rows with ``archive_id``."""

    __tablename__ = "archives"
    __table_args__ = (Index("ix_archives_owner_name", "owner", "name"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    owner: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    embedding_model: Mapped[str] = mapped_column(String(200))
    meta: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AgentArchiveRow(Base):
    """An archive attached to an agent."""

    __tablename__ = "agent_archives"
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True)
    archive_id: Mapped[str] = mapped_column(
        ForeignKey("archives.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    attached_at: Mapped[datetime] = mapped_column(UTCDateTime)



# --- folders (migration 0011) ---
class FolderRow(Base):
    """A folder of uploaded files (Letta's folder, once "source"), owned by one user; its
    name is unique per owner (it prefixes the names agents see its files by)."""

    __tablename__ = "folders"
    __table_args__ = (UniqueConstraint("owner", "name", name="uq_folders_owner_name"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    owner: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    instructions: Mapped[str] = mapped_column(Text, default="")
    metadata_json: Mapped[str] = mapped_column(Text, default="{}")
    embedding_model: Mapped[str] = mapped_column(String(200))
    chunk_tokens: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class FolderFileRow(Base):
    """An uploaded file: its processing status and, once parsed, its text."""

    __tablename__ = "folder_files"
    __table_args__ = (Index("ix_folder_files_folder_name", "folder_id", "file_name"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    folder_id: Mapped[str] = mapped_column(ForeignKey("folders.id", ondelete="CASCADE"))
    file_name: Mapped[str] = mapped_column(String(500))
    original_file_name: Mapped[str] = mapped_column(String(500))
    file_type: Mapped[str] = mapped_column(String(200))
    file_size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    total_chunks: Mapped[int] = mapped_column(Integer, default=0)
    chunks_embedded: Mapped[int] = mapped_column(Integer, default=0)
    content: Mapped[str | None] = mapped_column(Text, nullable=True)
    worker: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class FileChunkRow(Base):
    """One embedded chunk of a file. A folder is its own vector collection: ``agent_id`` is
    a synonym of ``folder_id`` so the archival stores' ``StoredVectors`` index it as is."""

    __tablename__ = "file_chunks"
    __table_args__ = (Index("ix_file_chunks_folder_model", "folder_id", "embedding_model"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    folder_id: Mapped[str] = mapped_column(ForeignKey("folders.id", ondelete="CASCADE"))
    file_id: Mapped[str] = mapped_column(ForeignKey("folder_files.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    page: Mapped[int | None] = mapped_column(Integer, nullable=True)
    text: Mapped[str] = mapped_column(Text)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    embedding_model: Mapped[str] = mapped_column(String(200))
    agent_id = synonym("folder_id")


class AgentFolderRow(Base):
    """A folder attached to an agent."""

    __tablename__ = "agent_folders"
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True)
    folder_id: Mapped[str] = mapped_column(
        ForeignKey("folders.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AgentFileRow(Base):
    """A file an agent has through an attached folder: open (its view in the context window,
    lines ``start_line``..``end_line``) or closed; the least recently used open file is
    closed first when too many are open."""

    __tablename__ = "agent_files"
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True)
    file_id: Mapped[str] = mapped_column(
        ForeignKey("folder_files.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    folder_id: Mapped[str] = mapped_column(ForeignKey("folders.id", ondelete="CASCADE"), index=True)
    is_open: Mapped[bool] = mapped_column(Boolean, default=False)
    start_line: Mapped[int | None] = mapped_column(Integer, nullable=True)
    end_line: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_accessed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)



# --- runs (migration 0012) ---
class RunRow(Base):
    """One input an agent handles: its status, input, window range, usage and callback."""

    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_owner_pk", "owner", "pk"),
        Index("ix_runs_agent_status", "agent_id", "status"),
    )
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    owner: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    stop_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    background: Mapped[bool] = mapped_column(Boolean, default=False)
    input_role: Mapped[str] = mapped_column(String(16))
    input_text: Mapped[str] = mapped_column(Text)
    input_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    seq_start: Mapped[int | None] = mapped_column(Integer, nullable=True)
    seq_end: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cached_tokens: Mapped[int] = mapped_column(Integer, default=0)
    step_count: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    holder: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    callback_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    callback_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    callback_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    callback_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    metadata_json: Mapped[str] = mapped_column("metadata", Text, default="{}")
    request_config: Mapped[str] = mapped_column(Text, default="{}")



# --- schedules (migration 0013) ---
class ScheduleRow(Base):
    """A schedule of an agent (``kind``: one-time, recurring, heartbeat) and its claim: the
    scheduler that delivers a due firing holds ``claimed_by`` until ``claimed_until``."""

    __tablename__ = "schedules"
    __table_args__ = (Index("ix_schedules_next_at", "next_at"), Index("ix_schedules_agent", "agent_id", "pk"))
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    owner: Mapped[str] = mapped_column(String(200))
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cron: Mapped[str | None] = mapped_column(String(200), nullable=True)
    messages: Mapped[str] = mapped_column(Text, default="[]")
    options: Mapped[str] = mapped_column(Text, default="{}")
    """max_steps, callback_url, include_return_message_types, as JSON."""
    next_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    firings: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)



# --- conversations (migration 0014) ---
class ConversationRow(Base):
    """A thread with an agent beside its default one: its own window and recall (messages
    with its id) and loop position (``context_start``, summary, pressure flag, compiled
    system message), over the agent's blocks and archival memory. Deleted softly
    (``deleted_at``): its messages stay in the agent's recall."""

    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_agent", "agent_id"), Index("ix_conversations_owner", "owner"))
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    owner: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    context_window_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    context_start: Mapped[int] = mapped_column(Integer, default=0)
    warned: Mapped[bool] = mapped_column(Boolean, default=False)
    system_compiled: Mapped[str] = mapped_column(Text, default="")
    memory_dirty: Mapped[bool] = mapped_column(Boolean, default=True)


CONVERSATIONS = cast(Table, ConversationRow.__table__)
"""The conversations table, for Core updates in a step's commit."""
Index("ix_messages_conversation_seq", MessageRow.conversation_id, MessageRow.seq)



# --- tool_control (migration 0015) ---
# No tables of its own: ``agents.tool_rules`` (JSON list of ToolRule, requires_approval
# rules included) and ``tools.default_requires_approval`` are columns on the rows above.


# --- mcp (migration 0016) ---
class McpServerRow(Base):
    """A user's MCP server: ``config`` is its JSON settings, secret values Fernet-encrypted."""

    __tablename__ = "mcp_servers"
    __table_args__ = (UniqueConstraint("owner", "name", name="uq_mcp_servers_owner_name"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    config: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class McpToolRow(Base):
    """A tool an MCP server offered when last listed (names unique per server)."""

    __tablename__ = "mcp_tools"
    __table_args__ = (UniqueConstraint("server_id", "name", name="uq_mcp_tools_server_name"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    server_id: Mapped[str] = mapped_column(ForeignKey("mcp_servers.id", ondelete="CASCADE"), index=True)
    owner: Mapped[str] = mapped_column(String(200), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    input_schema: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AgentMcpToolRow(Base):
    """An MCP tool attached to an agent."""

    __tablename__ = "agent_mcp_tools"
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True)
    tool_id: Mapped[str] = mapped_column(
        ForeignKey("mcp_tools.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    attached_at: Mapped[datetime] = mapped_column(UTCDateTime)
