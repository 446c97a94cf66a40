"""The webhook's certificate work, out of process: the same answers as kaito.webhook.certs in-process."""

from __future__ import annotations

from datetime import timedelta

from kaito.webhook import cert_tool
from kaito.webhook.certs import ca_cert, expires_at, serving_cert

HOSTS = ["kaito-workspace-webhook.kaito-system.svc", "127.0.0.1"]
LONG = {
    "validity": timedelta(days=365),
    "ca_validity": timedelta(days=3650),
    "rotate_before": timedelta(days=30),
}


async def test_a_bundle_is_made_kept_and_read_by_a_short_lived_process() -> None:
    bundle = await cert_tool.renew(None, HOSTS, **LONG)
    assert bundle is not None
    serving_cert(bundle).verify_directly_issued_by(ca_cert(bundle))
    # A bundle with a year left is kept as it is.
    assert await cert_tool.renew(bundle, HOSTS, **LONG) is None
    # Other hosts: a new serving certificate from the same CA.
    moved = await cert_tool.renew(bundle, ["elsewhere.svc"], **LONG)
    assert moved is not None and moved.ca_cert == bundle.ca_cert and moved.cert != bundle.cert
    assert await cert_tool.expires_at(bundle) == expires_at(bundle)


def test_the_certificate_process_loads_no_server() -> None:
    """``kaito.webhook``'s exports load on first use: a process importing one submodule (the certificate
    tool, or the reconciler's tuning_config) does not pay for the server, aiohttp.web or the authorizer."""
    import json
    import subprocess
    import sys

    import kaito.webhook as package

    assert sorted(package.__all__) == sorted(package._EXPORTS)
    script = "import json, sys, kaito.webhook.certs; print(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    )
    assert "kaito.webhook.server" not in loaded and "aiohttp.web" not in loaded
