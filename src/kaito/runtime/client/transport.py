"""The raw REST layer: every request goes through here for auth, the client-side rate limit and metrics.

Requests are sent on the connection's aiohttp session and answers are decoded into plain JSON dicts,
skipping kubernetes_asyncio's model (de)serialisation, which is slow and memory-hungry.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import aiohttp

from kaito.runtime.client.connection import ApiClientConnection, Connection
from kaito.runtime.client.errors import error_from_status
from kaito.runtime.flowcontrol.tokenbucket import TokenBucket
from kaito.runtime.metrics.registry import RuntimeMetrics

if TYPE_CHECKING:
    from kubernetes_asyncio import client as k8s_client

JSON = "application/json"
WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class RequestStats:
    """Per-process request counts, readable without Prometheus (benchmarks read ``writes``)."""

    by_method: Counter[str] = field(default_factory=Counter)
    by_code: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.by_method.values())

    @property
    def writes(self) -> int:
        return sum(n for verb, n in self.by_method.items() if verb in WRITE_VERBS)


def encode_query(params: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """Drops ``None`` values and writes booleans the way the apiserver expects them."""
    out: list[tuple[str, str]] = []
    for key, value in (params or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            out.append((key, "true" if value else "false"))
        else:
            out.append((key, str(value)))
    return out


class Transport:
    """Sends requests to the apiserver behind a token bucket, counting each one.

    Args:
        connection: a :class:`~kaito.runtime.client.connection.Connection`, or a kubernetes_asyncio
            ``ApiClient`` (wrapped; closed by :meth:`close` only if ``owns_connection``).
        connect: alternatively, an async factory called on first use (inside the event loop).
        qps, burst: client-side rate limit shared by every request of this transport, watches included
            (client-go's defaults for controllers: 20/30). ``qps <= 0`` disables it.
        metrics: where ``rest_client_requests_total{code,method,host}`` is counted.
        request_timeout: total timeout for non-streaming requests, so a hung call cannot block a
            reconcile forever.
    """

    def __init__(
        self,
        connection: Connection | k8s_client.ApiClient | None = None,
        qps: float = 20.0,
        burst: int = 30,
        metrics: RuntimeMetrics | None = None,
        request_timeout: float = 60.0,
        owns_connection: bool = True,
        user_agent: str = "kaito-runtime",
        connect: Callable[[], Awaitable[Connection]] | None = None,
    ) -> None:
        if connection is None and connect is None:
            raise ValueError("Transport needs a connection or a connect() factory")
        if connection is not None and hasattr(connection, "rest_client"):
            connection = ApiClientConnection(cast("k8s_client.ApiClient", connection), owns=owns_connection)
        self._connection: Connection | None = connection
        self._connect = connect
        self._connect_lock = asyncio.Lock()
        self._owns = owns_connection
        self.bucket = TokenBucket(qps, burst)
        self.metrics = metrics
        self.request_timeout = request_timeout
        self.stats = RequestStats()
        self._user_agent = user_agent
        self.base_url = ""
        self.host = ""
        if self._connection is not None:
            self._set_endpoint(self._connection)

    def _set_endpoint(self, connection: Connection) -> None:
        self.base_url = connection.base_url
        self.host = urlsplit(self.base_url).netloc

    async def connect(self) -> Connection:
        """Returns the connection, creating it through the factory on first use."""
        if self._connection is not None:
            return self._connection
        async with self._connect_lock:
            if self._connection is None:
                assert self._connect is not None
                connection = await self._connect()
                self._set_endpoint(connection)
                self._connection = connection
        return self._connection

    def with_rate_limit(self, qps: float, burst: int) -> Transport:
        """A transport over the same connection and metrics with a token bucket of its own: traffic that
        must not starve the reconcilers (Events, as controller-runtime's separate recorder client does)."""
        derived = Transport(
            connect=self.connect,
            qps=qps,
            burst=burst,
            metrics=self.metrics,
            request_timeout=self.request_timeout,
            owns_connection=False,
            user_agent=self._user_agent,
        )
        derived.stats = self.stats
        return derived

    async def close(self) -> None:
        """Closes the connection if this transport owns it."""
        if self._owns and self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def _throttle(self, method: str) -> None:
        """Waits for the token bucket; the wait is observed, as client-go's rate-limiter latency is, so a
        too-low ``--kube-api-qps`` shows on a dashboard instead of as unexplained slowness."""
        delay = self.bucket.reserve()
        if delay > 0:
            await asyncio.sleep(delay)
        if self.metrics is not None:
            self.metrics.rest_client_rate_limiter_duration_seconds.labels(
                verb=method, host=self.host
            ).observe(delay)

    def _record(self, method: str, code: str, seconds: float | None = None) -> None:
        self.stats.by_method[method] += 1
        self.stats.by_code[code] += 1
        if self.metrics is not None:
            self.metrics.rest_client_requests_total.labels(code=code, method=method, host=self.host).inc()
            if seconds is not None:
                self.metrics.rest_client_request_duration_seconds.labels(verb=method, host=self.host).observe(
                    seconds
                )

    async def _prepare(
        self, accept: str, content_type: str | None
    ) -> tuple[Connection, aiohttp.ClientSession, dict[str, str]]:
        connection = await self.connect()
        headers = {"User-Agent": self._user_agent, "Accept": accept}
        if content_type is not None:
            headers["Content-Type"] = content_type
        headers.update(await connection.auth_headers())
        return connection, await connection.session(), headers

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = JSON,
        accept: str = JSON,
    ) -> Any:
        """Sends one request and returns the decoded JSON body (``None`` if empty).

        Raises an :class:`~kaito.runtime.client.errors.ApiError` subclass on a non-2xx answer and
        ``aiohttp.ClientError``/``TimeoutError`` on transport failures."""
        connection, session, headers = await self._prepare(accept, content_type if body is not None else None)
        data = json.dumps(body, separators=(",", ":")).encode() if body is not None else None
        await self._throttle(method)
        start = time.monotonic()
        try:
            async with session.request(
                method,
                self.base_url + path,
                params=encode_query(query),
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.request_timeout),
                **connection.request_kwargs(),
            ) as resp:
                raw = await resp.read()
                status = resp.status
        except BaseException:
            self._record(method, "<error>")
            raise
        self._record(method, str(status), time.monotonic() - start)
        if not 200 <= status < 300:
            raise error_from_status(status, raw)
        return json.loads(raw) if raw else None

    @asynccontextmanager
    async def stream(
        self,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        accept: str = JSON,
        connect_timeout: float = 30.0,
        read_timeout: float | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Opens a streaming GET (a watch). ``read_timeout`` bounds the silence between two reads, so a
        half-open connection cannot hang the caller. Non-2xx answers raise an ApiError."""
        connection, session, headers = await self._prepare(accept, None)
        await self._throttle("GET")
        timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout, sock_read=read_timeout)
        try:
            resp = await session.request(
                "GET",
                self.base_url + path,
                params=encode_query(query),
                headers=headers,
                timeout=timeout,
                **connection.request_kwargs(),
            )
        except BaseException:
            self._record("GET", "<error>")
            raise
        try:
            self._record("GET", str(resp.status))
            if not 200 <= resp.status < 300:
                raise error_from_status(resp.status, await resp.read())
            yield resp
        finally:
            # Closing (not releasing) drops the connection: an interrupted stream cannot be reused.
            resp.close()
