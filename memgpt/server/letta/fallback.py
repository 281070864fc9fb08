"""Everything not routed: a clear JSON 501 for the rest of the Letta API, 404 otherwise."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from memgpt.server.errors import error_response

router = APIRouter(include_in_schema=False)

# Every (path, methods) of the letta-client v1 SDK; the ones we serve are matched first.
LETTA_API: tuple[tuple[str, str], ...] = (
    ("/v1/agents", "GET POST"),
    ("/v1/agents/import", "POST"),
    ("/v1/agents/{agent_id}", "DELETE GET PATCH"),
    ("/v1/agents/{agent_id}/archival-memory", "GET POST"),
    ("/v1/agents/{agent_id}/archival-memory/search", "GET"),
    ("/v1/agents/{agent_id}/archival-memory/{memory_id}", "DELETE"),
    ("/v1/agents/{agent_id}/archives/attach/{archive_id}", "PATCH"),
    ("/v1/agents/{agent_id}/archives/detach/{archive_id}", "PATCH"),
    ("/v1/agents/{agent_id}/core-memory/blocks", "GET"),
    ("/v1/agents/{agent_id}/core-memory/blocks/attach/{block_id}", "PATCH"),
    ("/v1/agents/{agent_id}/core-memory/blocks/detach/{block_id}", "PATCH"),
    ("/v1/agents/{agent_id}/core-memory/blocks/{block_label}", "GET PATCH"),
    ("/v1/agents/{agent_id}/export", "GET"),
    ("/v1/agents/{agent_id}/files", "GET"),
    ("/v1/agents/{agent_id}/files/close-all", "PATCH"),
    ("/v1/agents/{agent_id}/files/{file_id}/close", "PATCH"),
    ("/v1/agents/{agent_id}/files/{file_id}/open", "PATCH"),
    ("/v1/agents/{agent_id}/folders", "GET"),
    ("/v1/agents/{agent_id}/folders/attach/{folder_id}", "PATCH"),
    ("/v1/agents/{agent_id}/folders/detach/{folder_id}", "PATCH"),
    ("/v1/agents/{agent_id}/identities/attach/{identity_id}", "PATCH"),
    ("/v1/agents/{agent_id}/identities/detach/{identity_id}", "PATCH"),
    ("/v1/agents/{agent_id}/messages", "GET POST"),
    ("/v1/agents/{agent_id}/messages/async", "POST"),
    ("/v1/agents/{agent_id}/messages/cancel", "POST"),
    ("/v1/agents/{agent_id}/messages/stream", "POST"),
    ("/v1/agents/{agent_id}/recompile", "POST"),
    ("/v1/agents/{agent_id}/reset-messages", "PATCH"),
    ("/v1/agents/{agent_id}/schedule", "GET POST"),
    ("/v1/agents/{agent_id}/schedule/{scheduled_message_id}", "DELETE GET"),
    ("/v1/agents/{agent_id}/summarize", "POST"),
    ("/v1/agents/{agent_id}/tools", "GET"),
    ("/v1/agents/{agent_id}/tools/approval/{tool_name}", "PATCH"),
    ("/v1/agents/{agent_id}/tools/attach/{tool_id}", "PATCH"),
    ("/v1/agents/{agent_id}/tools/detach/{tool_id}", "PATCH"),
    ("/v1/agents/{agent_id}/tools/{tool_name}/run", "POST"),
    ("/v1/archives", "GET POST"),
    ("/v1/archives/{archive_id}", "DELETE GET PATCH"),
    ("/v1/archives/{archive_id}/passages", "POST"),
    ("/v1/archives/{archive_id}/passages/batch", "POST"),
    ("/v1/archives/{archive_id}/passages/{passage_id}", "DELETE"),
    ("/v1/blocks", "GET POST"),
    ("/v1/blocks/{block_id}", "DELETE GET PATCH"),
    ("/v1/blocks/{block_id}/agents", "GET"),
    ("/v1/client-side-access-tokens", "GET POST"),
    ("/v1/client-side-access-tokens/{token}", "DELETE"),
    ("/v1/conversations", "GET POST"),
    ("/v1/conversations/{conversation_id}", "DELETE GET PATCH"),
    ("/v1/conversations/{conversation_id}/cancel", "POST"),
    ("/v1/conversations/{conversation_id}/compact", "POST"),
    ("/v1/conversations/{conversation_id}/fork", "POST"),
    ("/v1/conversations/{conversation_id}/messages", "GET POST"),
    ("/v1/conversations/{conversation_id}/recompile", "POST"),
    ("/v1/conversations/{conversation_id}/stream", "POST"),
    ("/v1/environments", "GET"),
    ("/v1/environments/{connection_id}/messages", "POST"),
    ("/v1/environments/{device_id}", "GET"),
    ("/v1/folders", "GET POST"),
    ("/v1/folders/{folder_id}", "DELETE GET PATCH"),
    ("/v1/folders/{folder_id}/agents", "GET"),
    ("/v1/folders/{folder_id}/files", "GET"),
    ("/v1/folders/{folder_id}/files/{file_id}", "GET"),
    ("/v1/folders/{folder_id}/upload", "POST"),
    ("/v1/folders/{folder_id}/{file_id}", "DELETE"),
    ("/v1/mcp-servers", "GET POST"),
    ("/v1/mcp-servers/{mcp_server_id}", "DELETE GET PATCH"),
    ("/v1/mcp-servers/{mcp_server_id}/refresh", "PATCH"),
    ("/v1/mcp-servers/{mcp_server_id}/tools", "GET"),
    ("/v1/mcp-servers/{mcp_server_id}/tools/{tool_id}", "GET"),
    ("/v1/mcp-servers/{mcp_server_id}/tools/{tool_id}/run", "POST"),
    ("/v1/messages", "GET"),
    ("/v1/messages/search", "POST"),
    ("/v1/messages/{message_id}", "GET"),
    ("/v1/models", "GET"),
    ("/v1/models/embedding", "GET"),
    ("/v1/passages/search", "POST"),
    ("/v1/runs", "GET"),
    ("/v1/runs/{path_run_id}/stream", "POST"),
    ("/v1/runs/{run_id}", "GET"),
    ("/v1/runs/{run_id}/messages", "GET"),
    ("/v1/runs/{run_id}/steps", "GET"),
    ("/v1/runs/{run_id}/trace", "GET"),
    ("/v1/runs/{run_id}/usage", "GET"),
    ("/v1/steps", "GET"),
    ("/v1/steps/{step_id}", "GET"),
    ("/v1/steps/{step_id}/feedback", "PATCH"),
    ("/v1/steps/{step_id}/messages", "GET"),
    ("/v1/steps/{step_id}/metrics", "GET"),
    ("/v1/steps/{step_id}/trace", "GET"),
    ("/v1/tags", "GET"),
    ("/v1/templates", "POST"),
    ("/v1/templates/{template_name}", "DELETE PATCH"),
    ("/v1/templates/{template_name}/rollback", "POST"),
    ("/v1/templates/{template_name}/save", "POST"),
    ("/v1/templates/{template_version}/agents", "POST"),
    ("/v1/tools", "GET POST PUT"),
    ("/v1/tools/search", "POST"),
    ("/v1/tools/{tool_id}", "DELETE GET PATCH"),
)


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    body = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{body}/?$")


_LETTA = [(_pattern(path), path, methods.split()) for path, methods in LETTA_API]


def letta_route(method: str, path: str) -> str | None:
    """The Letta API path template for a request, if the Letta API has it."""
    for pattern, template, methods in _LETTA:
        if method in methods and pattern.match(path):
            return template
    return None


@router.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
async def unrouted(path: str, request: Request) -> JSONResponse:
    """501 for Letta API routes this server does not implement; 404 for anything else."""
    method, url_path = request.method, request.url.path
    template = letta_route(method, url_path)
    if template is not None:
        return error_response(
            501, f"{method} {template} is part of the Letta API but is not implemented by this memgpt server",
            "not_implemented",
        )
    return error_response(404, f"no route {method} {url_path} (see /docs for the routes served)", "route_not_found")
