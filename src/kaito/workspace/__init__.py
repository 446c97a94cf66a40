"""The workspace controller: turns a Workspace into GPU nodes (Machines) and a running preset workload.

Pure builders and readers (no I/O): ``nodes`` (which nodes), ``machines`` (Machine manifests, failures),
``inference`` / ``tuning`` / ``podspec`` (workload manifests), ``revision`` (spec history), ``podstatus``
and ``status`` (status computed from observations). ``reconciler`` is the one place that reads the cache
and writes; ``controller`` wires watches; ``metrics`` exports the workspace metrics.
"""
