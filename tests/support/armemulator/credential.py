"""A credential the Azure SDK accepts, handing out a fixed token; the emulator only checks it is there."""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from azure.core.credentials import AccessToken

FAKE_TOKEN = "armemulator-token"


class StaticTokenCredential:
    """Satisfies azure.core's AsyncTokenCredential protocol."""

    def __init__(self, token: str = FAKE_TOKEN) -> None:
        self.token = token
        self.requests = 0

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        self.requests += 1
        return AccessToken(self.token, int(time.time()) + 3600)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> StaticTokenCredential:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        return None
