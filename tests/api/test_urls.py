"""The SSRF guard on data-source URLs."""

from __future__ import annotations

import pytest

from kaito.webhook.urls import check_url


@pytest.mark.parametrize(
    "url",
    [
        "https://huggingface.co/datasets/x/resolve/main/a.parquet?download=true",
        "http://example.com/data.json",
        "https://8.8.8.8/file",
        "https://[2001:4860:4860::8888]/file",
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
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
        ("http://10.0.0.5/a", "private"),
        ("http://192.168.1.1/a", "private"),
        ("http://172.16.0.1/a", "private"),
        ("http://[fd00:ec2::254]/a", "private"),
        ("http://100.100.100.200/a", "non-public"),
        ("http://0.0.0.0/a", "unspecified"),
        ("http://user@10.1.2.3:8080/a", "private"),
        ("http://kubernetes.default.svc/api", "in-cluster"),
        ("https://example.com/a.parquet,https://example.com/b.parquet", "comma"),
        ("https://example.com/a b.parquet", "whitespace"),
        ("https://example.com/a.parquet\nhttps://example.com/b", "whitespace"),
    ],
)
def test_rejected(url: str, fragment: str) -> None:
    problem = check_url(url)
    assert problem is not None and fragment in problem, problem
