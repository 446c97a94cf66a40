#!/usr/bin/env python3
"""Write manifests/crds/*.yaml and the TypedDict views in src/kaito/api/views.py from the pydantic
models in kaito.api (`make manifests`).

With --check, write nothing and exit 1 when the committed files differ from what the models
generate (CI uses this; tests/api/test_crd_generation.py and test_views_generation.py do the same).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kaito.api.crdgen import render_all
from kaito.api.crdgen.views import render_views

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "manifests" / "crds"
VIEWS = ROOT / "src" / "kaito" / "api" / "views.py"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 on a difference")
    args = parser.parse_args(argv)

    out: Path = args.out
    stale: list[str] = []
    generated = {out / name: text for name, text in render_all().items()}
    generated[VIEWS] = render_views()
    for path, text in generated.items():
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    if stale:
        print("CRDs or views out of date; run `make manifests`:\n  " + "\n  ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
