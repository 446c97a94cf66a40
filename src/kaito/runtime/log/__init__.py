"""structlog setup: JSON or console lines carrying controller, key and reconcile id from contextvars."""

from kaito.runtime.log.setup import configure_logging

__all__ = ["configure_logging"]
