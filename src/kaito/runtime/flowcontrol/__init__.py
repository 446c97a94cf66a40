"""Flow control primitives shared by the client and the work queue: token buckets and backoff."""

from kaito.runtime.flowcontrol.backoff import Backoff
from kaito.runtime.flowcontrol.tokenbucket import TokenBucket

__all__ = ["Backoff", "TokenBucket"]
