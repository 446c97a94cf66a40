"""Controllers: Request/Result, predicates, enqueue handlers, the worker loop and the builder."""

from kaito.runtime.controller import predicates
from kaito.runtime.controller.builder import Builder, ControllerHost
from kaito.runtime.controller.controller import Controller, ReconcileFunc, Reconciler
from kaito.runtime.controller.handlers import EnqueueHandler, Mapper, object_mapper, owner_mapper
from kaito.runtime.controller.predicates import Predicate
from kaito.runtime.controller.request import Request, Result, TerminalError

__all__ = [
    "Builder",
    "Controller",
    "ControllerHost",
    "EnqueueHandler",
    "Mapper",
    "Predicate",
    "ReconcileFunc",
    "Reconciler",
    "Request",
    "Result",
    "TerminalError",
    "object_mapper",
    "owner_mapper",
    "predicates",
]
