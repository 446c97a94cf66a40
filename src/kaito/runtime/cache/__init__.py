"""The shared informer cache reconcilers read from."""

from kaito.runtime.cache.cache import Cache, KindNotCachedError
from kaito.runtime.cache.options import ByKind, CacheOptions

__all__ = ["ByKind", "Cache", "CacheOptions", "KindNotCachedError"]
