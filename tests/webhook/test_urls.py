"""The SSRF guard on data-source URLs."""

from __future__ import annotations

import pytest

from kaito.egress import EgressPolicy
from kaito.webhook.urls import check_registry_host, check_url


@pytest.mark.parametrize(
    "url",
    [
        "https://huggingface.co/datasets/x/resolve/main/a.parquet?download=true",
        "http://example.com/data.json",
        "https://8.8.8.8/file",
        "https://[2001:4860:4860::8888]/file",
        "https://xn--bcher-kva.example/data.json",
        "https://v1-2-3-4.example.com/data.json",
    ],
)
def test_accepted(url: str) -> None:
    assert check_url(url) is None


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("ftp://example.com/a", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("https:///nohost", "no host"),
        ("http://localhost/a", "local"),
        ("http://LOCALHOST./a", "local"),
        ("http://127.0.0.1/a", "loopback"),
        ("http://127.1/a", "loopback"),
        ("http://2130706433/a", "loopback"),
        ("http://0x7f000001/a", "loopback"),
        ("http://[::1]/a", "loopback"),
        ("http://[::ffff:127.0.0.1]/a", "loopback"),
        ("http://169.254.169.254/latest/meta-data", "cloud metadata"),
        ("http://168.63.129.16/machine?comp=goalstate", "cloud metadata"),
        ("http://[::ffff:168.63.129.16]/", "cloud metadata"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
        ("http://10.0.0.5/a", "private"),
        ("http://192.168.1.1/a", "private"),
        ("http://172.16.0.1/a", "private"),
        ("http://[fd00:ec2::254]/a", "cloud metadata"),
        ("http://100.100.100.200/a", "cloud metadata"),
        ("http://0.0.0.0/a", "unspecified"),
        ("http://user@10.1.2.3:8080/a", "private"),
        ("http://kubernetes.default.svc/api", "in-cluster"),
        ("https://example.com/a.parquet,https://example.com/b.parquet", "comma"),
        ("https://example.com/a b.parquet", "whitespace"),
        ("https://example.com/a.parquet\nhttps://example.com/b", "whitespace"),
        ("http://168.63.129.16/machine", "WireServer"),
        ("http://0177.0.0.1/a", "loopback"),
        ("http://0x7f.1/a", "loopback"),
        ("http://017700000001/a", "loopback"),
        ("http://[::ffff:10.0.0.1]/a", "private"),
        ("http://[fd00::1]/a", "private"),
        ("http://[fe80::1%25eth0]/a", "link-local"),
        ("http://[64:ff9b::a9fe:a9fe]/a", "metadata"),
        ("http://[::127.0.0.1]/a", "loopback"),
        ("http://[2002:a00:1::]/a", "private"),
        ("http://127.0.0.1.nip.io/a", "wildcard-DNS"),
        ("http://10-0-0-1.sslip.io/a", "wildcard-DNS"),
        ("http://%31%32%37.0.0.1/a", "not a plain DNS name"),
        ("http://bücher.de/a", "punycode"),
        ("http://127.0.0.1\\@example.com/a", "backslash"),
    ],
)
def test_rejected(url: str, fragment: str) -> None:
    problem = check_url(url)
    assert problem is not None and fragment in problem, problem


def test_the_operators_egress_allow_list_admits_private_destinations_and_nothing_more() -> None:
    egress = EgressPolicy.parse(["10.96.0.0/16", "10.245.0.1", "*.privatelink.blob.core.windows.net"])
    assert check_url("http://10.96.7.8:8080/train.jsonl", egress) is None
    assert check_url("http://[::ffff:10.96.7.8]/train.jsonl", egress) is None
    assert check_url("https://acct.privatelink.blob.core.windows.net/c/d.parquet", egress) is None
    assert "private" in (check_url("http://10.97.0.1/a", egress) or "")
    assert "cloud metadata" in (check_url("http://168.63.129.16/", EgressPolicy.parse(["0.0.0.0/0"])) or "")
    assert "egress allow-list" in (check_url("http://10.97.0.1/a") or "")


def test_the_output_registry_goes_through_the_same_policy() -> None:
    assert check_registry_host("myregistry.azurecr.io/adapters/phi-3:0.0.1") is None
    assert check_registry_host("library/adapter:1") is None  # Docker Hub
    problem = check_registry_host("10.245.0.1:5002/adapters/x:1")
    assert problem is not None and "private" in problem
    assert problem.startswith("the registry '10.245.0.1:5002'")
    assert check_registry_host("10.245.0.1:5002/adapters/x:1", EgressPolicy.parse(["10.245.0.1/32"])) is None
    assert "cloud metadata" in (check_registry_host("169.254.169.254/x:1") or "")


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "http://x", "a b", "*."])
def test_a_malformed_allow_list_entry_is_named(entry: str) -> None:
    with pytest.raises(ValueError, match="egress allow-list entry"):
        EgressPolicy.parse([entry])
