"""Data movers of the tuning Job: the input downloader and the adapter pusher.

They run in small init/sidecar containers, so they stay plain Python: the downloader uses only
the standard library; the pusher adds `requests`.
"""
