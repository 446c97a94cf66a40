"""``python -m e2e.images [--registry HOST:PORT] [NAME ...]``: build and push the project's images.

Prints a JSON object name -> ``REGISTRY/REPO@sha256:DIGEST`` on stdout; progress goes to stderr
(``KAITO_IMAGES_VERBOSE=1`` also streams the tools' own output).
"""

from __future__ import annotations

import argparse
import json
import sys

from e2e.images.build import IMAGES, BuildError, build_all
from e2e.images.registry import RegistryError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.images", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--registry",
        help="push here (default: env REGISTRY, else the loopback registry, 127.0.0.1:$KAITO_REGISTRY_PORT)",
    )
    parser.add_argument(
        "names", nargs="*", help=f"images to build (default: all of {[i.name for i in IMAGES]})"
    )
    args = parser.parse_args(argv)
    try:
        refs = build_all(args.registry, args.names or None)
    except (BuildError, RegistryError) as exc:
        print(f"images: {exc}", file=sys.stderr)
        return 1
    json.dump(refs, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
