"""Certificate issuing and renewal decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509

from kaito.webhook.certs import ca_cert, make_bundle, renew, serving_cert


def test_bundle_covers_hosts_and_chains() -> None:
    bundle = make_bundle(["127.0.0.1", "localhost"])
    cert = serving_cert(bundle)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert cert.issuer == ca_cert(bundle).subject
    cert.verify_directly_issued_by(ca_cert(bundle))


def test_renew_keeps_a_fresh_bundle() -> None:
    bundle = make_bundle(["127.0.0.1"])
    assert renew(bundle, ["127.0.0.1"]) is None


def test_renew_rotates_serving_cert_near_expiry_but_keeps_ca() -> None:
    bundle = make_bundle(["127.0.0.1"], validity=timedelta(days=10))
    renewed = renew(bundle, ["127.0.0.1"], rotate_before=timedelta(days=30))
    assert renewed is not None
    assert renewed.ca_cert == bundle.ca_cert and renewed.cert != bundle.cert
    assert serving_cert(renewed).not_valid_after_utc > serving_cert(bundle).not_valid_after_utc


def test_renew_reissues_for_new_hosts() -> None:
    bundle = make_bundle(["127.0.0.1"])
    renewed = renew(bundle, ["svc.ns.svc"])
    assert renewed is not None and renewed.ca_cert == bundle.ca_cert


def test_ca_rotation_keeps_previous_ca_in_bundle() -> None:
    bundle = make_bundle(["127.0.0.1"], ca_validity=timedelta(days=20))
    renewed = renew(bundle, ["127.0.0.1"], now=datetime.now(UTC))
    assert renewed is not None and renewed.ca_cert != bundle.ca_cert
    assert bundle.ca_cert in renewed.ca_bundle and renewed.ca_cert in renewed.ca_bundle


def test_garbage_is_replaced() -> None:
    bundle = make_bundle(["127.0.0.1"])
    broken = type(bundle)(ca_cert=b"x", ca_key=b"y", cert=b"z", key=b"w")
    assert renew(broken, ["127.0.0.1"]) is not None
