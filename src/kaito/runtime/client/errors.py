"""API errors as exceptions, built from the apiserver's ``Status`` body."""

from __future__ import annotations

import json
from typing import Any


class ApiError(Exception):
    """A non-2xx answer from the apiserver.

    Attributes: ``status`` (HTTP code), ``reason`` (``Status.reason``, e.g. ``"NotFound"``),
    ``message`` and ``body`` (the decoded ``Status`` dict, or ``{}``).
    """

    def __init__(self, status: int, reason: str = "", message: str = "", body: dict[str, Any] | None = None):
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body or {}
        super().__init__(f"{status} {reason}: {message}" if message else f"{status} {reason}")


class NotFoundError(ApiError):
    """404."""


class ConflictError(ApiError):
    """409 with reason ``Conflict``: the resourceVersion was stale (or an apply conflict)."""


class AlreadyExistsError(ApiError):
    """409 with reason ``AlreadyExists`` on create."""


class GoneError(ApiError):
    """410: the requested resourceVersion is too old (compacted); relist."""


class InvalidError(ApiError):
    """422 Invalid."""


class TooManyRequestsError(ApiError):
    """429: the apiserver throttles; back off."""


def error_from_status(status: int, body: bytes | str | dict[str, Any] | None) -> ApiError:
    """Builds the most specific error for ``status`` and a Status body."""
    data: dict[str, Any] = {}
    if isinstance(body, dict):
        data = body
    elif body:
        try:
            decoded = json.loads(body)
            if isinstance(decoded, dict):
                data = decoded
        except ValueError:
            data = {"message": body.decode(errors="replace") if isinstance(body, bytes) else body}
    reason = str(data.get("reason", ""))
    message = str(data.get("message", ""))
    cls: type[ApiError] = ApiError
    if status == 404:
        cls = NotFoundError
    elif status == 409:
        cls = AlreadyExistsError if reason == "AlreadyExists" else ConflictError
    elif status == 410 or reason in ("Expired", "Gone"):
        cls = GoneError
    elif status == 422:
        cls = InvalidError
    elif status == 429:
        cls = TooManyRequestsError
    return cls(status, reason, message, data)


def guarded_patch_conflict(exc: ApiError) -> ConflictError | None:
    """A JSON patch guarded by ``test`` ops is refused with 409 or 422 when the object changed since it was
    read; as a :class:`ConflictError` the caller re-reads and retries as for any other conflict."""
    if exc.status in (409, 422):
        return ConflictError(exc.status, exc.reason, str(exc))
    return None


def is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, NotFoundError)


def is_conflict(exc: BaseException) -> bool:
    return isinstance(exc, ConflictError)
