"""The one dependency every route gets its AgentService from: authentication and tenancy.

A request with ``Authorization: Bearer <key>`` is served by the service scoped to the key's
user. Without a key the request is the single local user's, which the app allows only when it
was created with ``require_key=False`` (the CLI allows that only on a loopback address). An
unknown or revoked key is refused when keys are required; in keyless mode it acts as the local
user, as Letta's self-hosted server ignores the key letta-client sends when LETTA_API_KEY is
set (anyone who can reach a keyless server is the local user anyway).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from memgpt.services.service import AgentService


async def get_service(request: Request) -> AgentService:
    """The service for this request, scoped to the caller."""
    service: AgentService = request.app.state.service
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        user = await service.authenticate(token.strip())
        if user is not None:
            return service.scoped(user)
        if request.app.state.require_key:
            raise HTTPException(401, "invalid or revoked API key")
        return service
    if request.app.state.require_key:
        raise HTTPException(
            401, "missing API key: send 'Authorization: Bearer <key>' (create one with "
            "'memgpt keys create USER')",
        )
    return service


Service = Annotated[AgentService, Depends(get_service)]
