"""KAITO in Python: the workspace controller, its API and the shared controller runtime."""
