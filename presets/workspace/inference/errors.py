"""Error responses: OpenAI's error shape for every 4xx/5xx, with the offending field named."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from .backend import BadRequest

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, message: str, kind: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.param = param


def error_body(status: int, message: str, kind: str, param: str | None) -> dict[str, Any]:
    # OpenAI's error shape; `detail` too, which FastAPI clients of KAITO's /chat expect.
    return {
        "error": {"message": message, "type": kind, "param": param, "code": status},
        "detail": message,
    }


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's default is a 422 listing every error; clients want one readable 400.
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        loc = [str(p) for p in first.get("loc", ()) if p != "body"]
        param = ".".join(loc) or None
        message = f"{param}: {first.get('msg')}" if param else str(first.get("msg"))
        return JSONResponse(error_body(400, message, "invalid_request_error", param), status_code=400)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.status, str(exc), exc.kind, exc.param), status_code=exc.status)

    @app.exception_handler(BadRequest)
    async def _bad_request(request: Request, exc: BadRequest) -> JSONResponse:
        return JSONResponse(error_body(400, str(exc), "invalid_request_error", exc.param), status_code=400)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("request failed")
        return JSONResponse(
            error_body(500, f"internal error: {exc}", "internal_error", None), status_code=500
        )
