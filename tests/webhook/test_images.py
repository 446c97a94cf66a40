"""Image references under the distribution grammar."""

from __future__ import annotations

import pytest

from kaito.webhook.images import ImageReference, parse_reference

DIGEST = "sha256:" + "0" * 64


@pytest.mark.parametrize(
    ("reference", "domain", "path", "tag", "digest"),
    [
        ("ubuntu", "", "ubuntu", "", ""),
        ("library/ubuntu:22.04", "", "library/ubuntu", "22.04", ""),
        ("myregistry.azurecr.io/team/adapter:0.0.1", "myregistry.azurecr.io", "team/adapter", "0.0.1", ""),
        ("localhost:5000/a__b/c-d.e:v1", "localhost:5000", "a__b/c-d.e", "v1", ""),
        (f"ghcr.io/org/data@{DIGEST}", "ghcr.io", "org/data", "", DIGEST),
        (f"[::1]:5000/x:1@{DIGEST}", "[::1]:5000", "x", "1", DIGEST),
    ],
)
def test_parsed(reference: str, domain: str, path: str, tag: str, digest: str) -> None:
    assert parse_reference(reference) == ImageReference(domain, path, tag, digest)


def test_host_drops_port_and_brackets() -> None:
    for reference, host in (
        ("reg.io:443/x:1", "reg.io"),
        ("[fd00::1]:5000/x:1", "fd00::1"),
        ("a.io/x", "a.io"),
    ):
        parsed = parse_reference(reference)
        assert isinstance(parsed, ImageReference) and parsed.host == host


@pytest.mark.parametrize(
    ("reference", "fragment"),
    [
        ("user:pass@reg.io/x:1", "credentials"),
        ("token@reg.io/x:1", "credentials"),
        ("reg.io/MyRepo:1", "lower-case"),
        ("reg.io/a//b:1", "not a valid"),
        ("reg.io/x:1:2", "not a valid"),
        ("reg.io/x@sha256:short", "not a valid"),
        ("reg.io/x:" + "t" * 129, "not a valid"),
        ("-reg.io/x:1", "not a valid"),
        ("reg.io/" + "a" * 260, "longer than 255"),
    ],
)
def test_refused(reference: str, fragment: str) -> None:
    problem = parse_reference(reference)
    assert isinstance(problem, str) and fragment in problem, problem
    assert "pass" not in problem or "user:pass" not in problem
