"""The inference server's app: KAITO's /chat, OpenAI's /v1 API, health and metrics.

Every request error becomes a 4xx naming the field (errors.py); nothing a client sends can
stop the server. The routes live in routes_kaito.py and routes_openai.py.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .backend import Backend
from .errors import install_error_handlers
from .routes_kaito import kaito_router
from .routes_openai import openai_router
from .service import Service

_UNCOUNTED = {"/metrics", "/health", "/healthz"}


def create_app(
    load: Callable[[], Backend],
    *,
    on_load_failure: Callable[[BaseException], None] | None = None,
) -> FastAPI:
    service = Service(load, on_load_failure)
    metrics = service.metrics

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.start_loading()
        yield

    app = FastAPI(title="KAITO inference", lifespan=lifespan)
    app.state.service = service
    install_error_handlers(app)

    @app.middleware("http")
    async def _count(request: Request, call_next: Callable[[Request], Any]) -> Response:
        response: Response = await call_next(request)
        # The route's template, not the raw path: random 404 paths must not mint new series.
        endpoint = getattr(request.scope.get("route"), "path", None) or "unmatched"
        if endpoint not in _UNCOUNTED:
            metrics.requests.labels(endpoint, str(response.status_code)).inc()
        return response

    @app.get("/metrics")
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(kaito_router(service))
    app.include_router(openai_router(service))
    return app


def exit_process(err: BaseException) -> None:
    """Used by the real server: a model that cannot load should crash the pod visibly."""
    os._exit(1)
