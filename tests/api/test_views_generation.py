"""The committed TypedDict views are exactly what the models generate, and mypy checks reads through them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kaito.api.crdgen.views import render_views

ROOT = Path(__file__).resolve().parents[2]
VIEWS = ROOT / "src" / "kaito" / "api" / "views.py"


def test_committed_views_match_models() -> None:
    assert VIEWS.read_text(encoding="utf-8") == render_views(), (
        "src/kaito/api/views.py is stale: run `make manifests` (python hack/gen_crds.py)"
    )


def test_mypy_rejects_a_misspelt_field(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from kaito.api.views import as_workspace\n"
        "ws = as_workspace({})\n"
        'ok: str = ws["resource"]["instanceType"]\n'
        'bad = ws["resource"]["instanceTpye"]\n',
        encoding="utf-8",
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--cache-dir=/dev/null",
            "--follow-imports=silent",
            str(probe),
        ],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert '"instanceTpye"' in proc.stdout and "probe.py:4" in proc.stdout, proc.stdout
    assert "probe.py:3" not in proc.stdout, proc.stdout
