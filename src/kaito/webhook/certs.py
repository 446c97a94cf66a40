"""A private CA and a serving certificate for the webhook, made with ``cryptography``.

The apiserver only calls webhooks over TLS and trusts exactly the ``caBundle`` in the webhook
configuration, so the webhook is its own CA: no cert-manager dependency, and the CA key never
leaves the Secret that stores it.
"""

from __future__ import annotations

import ipaddress
import json
import sys
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kaito.webhook.bundle import CA_VALIDITY, ROTATE_BEFORE, SERVING_VALIDITY, CertBundle

_CLOCK_SKEW = timedelta(minutes=5)


def serving_cert(bundle: CertBundle) -> x509.Certificate:
    """The parsed serving certificate."""
    return x509.load_pem_x509_certificate(bundle.cert)


def ca_cert(bundle: CertBundle) -> x509.Certificate:
    """The parsed CA certificate."""
    return x509.load_pem_x509_certificate(bundle.ca_cert)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _now() -> datetime:
    return datetime.now(UTC)


def make_ca(common_name: str, validity: timedelta = CA_VALIDITY) -> tuple[bytes, bytes]:
    """A new self-signed CA: (cert PEM, key PEM)."""
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _pem_cert(cert), _pem_key(key)


def _san(hosts: list[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def make_serving_cert(
    ca_cert_pem: bytes, ca_key_pem: bytes, hosts: list[str], validity: timedelta = SERVING_VALIDITY
) -> tuple[bytes, bytes]:
    """A serving certificate for ``hosts`` (DNS names or IPs) signed by the CA: (cert PEM, key PEM)."""
    if not hosts:
        raise ValueError("a serving certificate needs at least one host")
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError("the CA key must be an EC key")
    key = _new_key()
    now = _now()
    # The serving cert must not outlive its CA, or clients would reject it early anyway.
    not_after = min(now + validity, ca_cert.not_valid_after_utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(_san(hosts)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return _pem_cert(cert), _pem_key(key)


def make_bundle(
    hosts: list[str],
    ca_name: str = "kaito-webhook-ca",
    validity: timedelta = SERVING_VALIDITY,
    ca_validity: timedelta = CA_VALIDITY,
) -> CertBundle:
    """A fresh CA and serving certificate."""
    ca_cert, ca_key = make_ca(ca_name, ca_validity)
    cert, key = make_serving_cert(ca_cert, ca_key, hosts, validity)
    return CertBundle(ca_cert=ca_cert, ca_key=ca_key, cert=cert, key=key)


def _covers(cert: x509.Certificate, hosts: list[str]) -> bool:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    present = {str(v) for v in san.get_values_for_type(x509.DNSName)}
    present |= {str(v) for v in san.get_values_for_type(x509.IPAddress)}
    wanted = {str(ipaddress.ip_address(h)) if _is_ip(h) else h for h in hosts}
    return wanted <= present


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def renew(
    bundle: CertBundle | None,
    hosts: list[str],
    *,
    validity: timedelta = SERVING_VALIDITY,
    ca_validity: timedelta = CA_VALIDITY,
    rotate_before: timedelta = ROTATE_BEFORE,
    now: datetime | None = None,
) -> CertBundle | None:
    """A replacement bundle when ``bundle`` is missing, unreadable, near expiry or for other hosts;
    None when it is fine as it is.

    The CA is kept when it still has ``rotate_before`` left, so the caBundle the apiserver trusts does
    not change on a routine serving-cert rotation.
    """
    moment = now or _now()
    if bundle is None:
        return make_bundle(hosts, validity=validity, ca_validity=ca_validity)
    try:
        ca = ca_cert(bundle)
        serving = serving_cert(bundle)
    except ValueError:
        return make_bundle(hosts, validity=validity, ca_validity=ca_validity)
    if ca.not_valid_after_utc - moment < rotate_before:
        fresh = make_bundle(hosts, validity=validity, ca_validity=ca_validity)
        keep_old = ca.not_valid_after_utc > moment
        return CertBundle(
            ca_cert=fresh.ca_cert,
            ca_key=fresh.ca_key,
            cert=fresh.cert,
            key=fresh.key,
            previous_ca_cert=bundle.ca_cert if keep_old else b"",
        )
    stale = serving.not_valid_after_utc - moment < rotate_before
    if stale or not _covers(serving, hosts) or serving.issuer != ca.subject:
        cert, key = make_serving_cert(bundle.ca_cert, bundle.ca_key, hosts, validity)
        return CertBundle(
            ca_cert=bundle.ca_cert,
            ca_key=bundle.ca_key,
            cert=cert,
            key=key,
            previous_ca_cert=bundle.previous_ca_cert,
        )
    return None


def expires_at(bundle: CertBundle) -> datetime:
    """When the first of the CA and serving certificate expires."""
    return min(ca_cert(bundle).not_valid_after_utc, serving_cert(bundle).not_valid_after_utc)


def main() -> int:
    """``python -m kaito.webhook.certs``: one request as JSON on stdin, its answer as JSON on stdout.

    ``{"op": "renew", "bundle": {...} | null, "hosts": [...], "validity_s", "ca_validity_s",
    "rotate_before_s"}`` answers ``{"bundle": {...} | null}``; ``{"op": "expires", "bundle": {...}}``
    answers ``{"expires": "<ISO 8601>"}``."""
    request = json.load(sys.stdin)
    current = CertBundle.from_json(request["bundle"]) if request.get("bundle") else None
    if request["op"] == "expires":
        assert current is not None
        json.dump({"expires": expires_at(current).isoformat()}, sys.stdout)
        return 0
    replacement = renew(
        current,
        list(request["hosts"]),
        validity=timedelta(seconds=float(request["validity_s"])),
        ca_validity=timedelta(seconds=float(request["ca_validity_s"])),
        rotate_before=timedelta(seconds=float(request["rotate_before_s"])),
    )
    json.dump({"bundle": replacement.to_json() if replacement is not None else None}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
