"""Errors a user can fix: the entrypoint prints their message and exits non-zero, no traceback."""


class ConfigError(ValueError):
    """training_config.yaml is wrong; the message names the section and field."""


class DatasetError(ValueError):
    """The dataset is unusable; the message names the file, column or row."""
