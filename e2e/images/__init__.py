"""The project's container images, built without a docker engine and pushed to a loopback registry.

``python -m e2e.images`` (``make images``) builds what changed and prints name -> reference as JSON.
"""

from e2e.images.build import IMAGES, BuildError, build_all, index_path
from e2e.images.registry import LoopbackRegistry, RegistryError

__all__ = ["IMAGES", "BuildError", "LoopbackRegistry", "RegistryError", "build_all", "index_path"]
