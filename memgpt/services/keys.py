"""API keys: created and revoked by the operator, checked on every request to the server."""

from __future__ import annotations

from typing import Any

from memgpt.core.errors import InvalidRequestError
from memgpt.services.base import ServiceBase


class KeysApi(ServiceBase):
    """API keys: created and revoked by the operator, checked on every request to the server."""

    async def create_api_key(self, user: str) -> tuple[str, str]:
        """A new API key for user: (key id, raw key). Show the raw key once; only a hash is kept."""
        if not user.strip():
            raise InvalidRequestError("user must be non-empty")
        return await self.kernel.keys.create(user)

    async def revoke_api_key(self, key_id: str) -> None:
        """Revoke an API key by id."""
        await self.kernel.keys.revoke(key_id)

    async def list_api_keys(self) -> list[dict[str, Any]]:
        """Every key's id, user, prefix and dates (never the key itself)."""
        return await self.kernel.keys.all()

    async def authenticate(self, raw_key: str) -> str | None:
        """The user a live API key belongs to, or None."""
        return await self.kernel.keys.authenticate(raw_key) if raw_key else None
