"""Pieces shared by the inference server and the tuning entrypoint."""
