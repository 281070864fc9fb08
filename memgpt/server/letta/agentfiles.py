"""Letta's agent files: GET /v1/agents/{agent_id}/export and POST /v1/agents/import."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile
from pydantic import BaseModel

from memgpt.core.errors import InvalidRequestError
from memgpt.server.deps import Service

router = APIRouter(tags=["agents"])

MULTIPART_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary", "description": "The .af JSON file."},
                    "name": {"type": "string", "description": "Import under this name."},
                    "override_name": {"type": "string", "description": "Same as name (older SDKs)."},
                    "model": {"type": "string", "description": "Use this model instead of the file's."},
                    "override_model_handle": {"type": "string", "description": "Same as model."},
                    "append_copy_suffix": {"type": "boolean", "description": "Append '__copy' to the name."},
                    "strip_messages": {"type": "boolean", "description": "Import without the history."},
                    "override_existing_tools": {
                        "type": "boolean",
                        "description": "Replace the source of your same-named custom tools (default true).",
                    },
                },
            }},
            "application/json": {"schema": {
                "type": "object", "description": "The agent file itself; options as query parameters.",
            }},
        },
    }
}


class ImportedAgents(BaseModel):
    """What POST /v1/agents/import answers: the new agents' ids."""

    agent_ids: list[str]


def _flag(options: dict[str, str], name: str, default: bool) -> bool:
    value = options.get(name)
    if value is None or value == "":
        return default
    if value.strip().lower() in ("true", "1", "yes", "on"):
        return True
    if value.strip().lower() in ("false", "0", "no", "off"):
        return False
    raise InvalidRequestError(f"{name} must be true or false, not {value!r}")


async def _upload(request: Request) -> tuple[bytes, dict[str, str]]:
    """The file's bytes and the text options, from a multipart form or a JSON body."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        form = await request.form()
        options = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        upload = form.get("file")
        if isinstance(upload, UploadFile):
            return await upload.read(), options
        if isinstance(upload, str):
            return upload.encode(), options
        raise InvalidRequestError("the form has no 'file' field: upload the .af file as 'file'")
    if kind == "application/json":
        return await request.body(), dict(request.query_params)
    raise InvalidRequestError(
        "send the agent file as the multipart/form-data field 'file', or as a JSON body"
    )


@router.get("/v1/agents/{agent_id}/export", response_model=dict[str, Any])
async def export_agent(
    agent_id: str,
    service: Service,
    scrub_messages: bool = False,
    use_legacy_format: bool = False,
    include_passages: bool = True,
) -> dict[str, Any]:
    """The agent as a Letta agent file (.af JSON): settings, blocks, tools with their source,
    messages and the in-context window; (memgpt) summary and archival passages."""
    state = await service.get_agent(agent_id)
    if use_legacy_format:
        raise InvalidRequestError("the legacy (v1) agent file format is not supported; omit use_legacy_format")
    return await service.export_agent(state.id, messages=not scrub_messages, passages=include_passages)


@router.post("/v1/agents/import", response_model=ImportedAgents, openapi_extra=MULTIPART_BODY)
async def import_agent(request: Request, service: Service) -> ImportedAgents:
    """Create an agent (new ids, owned by the caller) from an uploaded agent file.

    A malformed file, or one past the server's limits, answers 400 naming the problem, and
    nothing is created.
    """
    raw, options = await _upload(request)
    try:  # a large file parses in a thread: the event loop keeps serving
        data = await asyncio.to_thread(json.loads, raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequestError(f"the agent file is not valid JSON: {exc}") from exc
    name = options.get("name") or options.get("override_name") or None
    state = await service.import_agent(
        data,
        model=options.get("model") or options.get("override_model_handle") or None,
        strip_messages=_flag(options, "strip_messages", False),
        replace_tools=_flag(options, "override_existing_tools", True),
        name=name,
        copy_suffix=_flag(options, "append_copy_suffix", False),
    )
    return ImportedAgents(agent_ids=[state.id])
