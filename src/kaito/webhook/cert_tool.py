"""Certificate work for the long-running webhook, done in a short-lived process.

``cryptography`` stays resident once imported (~8 MiB, a tenth of the workspace controller's memory
budget) while the webhook needs it only at start and at the hourly rotation check. So the webhook asks
``python -m kaito.webhook.certs`` instead: one request on stdin, one answer on stdout, and the memory
goes with the process.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime, timedelta
from typing import Any

from kaito.webhook.bundle import CertBundle

TIMEOUT_S = 60.0


class CertToolError(RuntimeError):
    pass


async def _ask(request: dict[str, Any]) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kaito.webhook.certs",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(json.dumps(request).encode()), TIMEOUT_S)
    except BaseException:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    if proc.returncode != 0:
        raise CertToolError(
            f"kaito.webhook.certs exited {proc.returncode}: {err.decode(errors='replace')[-2000:]}"
        )
    answer = json.loads(out)
    assert isinstance(answer, dict)
    return answer


async def renew(
    bundle: CertBundle | None,
    hosts: list[str],
    *,
    validity: timedelta,
    ca_validity: timedelta,
    rotate_before: timedelta,
) -> CertBundle | None:
    """:func:`kaito.webhook.certs.renew`, out of process."""
    answer = await _ask(
        {
            "op": "renew",
            "bundle": bundle.to_json() if bundle is not None else None,
            "hosts": hosts,
            "validity_s": validity.total_seconds(),
            "ca_validity_s": ca_validity.total_seconds(),
            "rotate_before_s": rotate_before.total_seconds(),
        }
    )
    made = answer.get("bundle")
    return CertBundle.from_json(made) if made else None


async def expires_at(bundle: CertBundle) -> datetime:
    """:func:`kaito.webhook.certs.expires_at`, out of process."""
    answer = await _ask({"op": "expires", "bundle": bundle.to_json()})
    return datetime.fromisoformat(str(answer["expires"]))
