"""The downloader against a local HTTP server on 127.0.0.1 (loopback allowed explicitly)."""

from __future__ import annotations

import ipaddress
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from datamovers import downloader
from datamovers.netguard import BlockedAddress, Policy, check_ip, resolve

DATA = b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n' * 50
HITS: Counter[str] = Counter()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/jsonl", length: bool = True) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if length:
            self.send_header("Content-Length", str(len(body)))
        else:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        HITS[self.path] += 1
        if self.path in {"/data.jsonl", "/dir/data.jsonl"}:
            self._send(200, DATA)
        elif self.path == "/flaky.csv":
            if HITS[self.path] <= 2:
                self._send(503, b"busy", "text/plain")
            else:
                self._send(200, b"context,response\nq,a\n", "text/csv; charset=utf-8")
        elif self.path == "/page.html":
            self._send(200, b"<html>login</html>", "text/html")
        elif self.path == "/big.parquet":
            self._send(200, b"x" * 5000, "application/octet-stream")
        elif self.path == "/big-unsized.parquet":
            self._send(200, b"x" * 5000, "application/octet-stream", length=False)
        elif self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/data.jsonl")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/to-metadata":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._send(404, b"no", "text/plain")


@pytest.fixture(scope="module")
def http_base() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _opts(dest: Path, **kw: object) -> downloader.Options:
    return downloader.Options(dest=dest, policy=Policy(allow_loopback=True), backoff_s=0.01, **kw)  # type: ignore[arg-type]


def test_downloads_with_names_kept_and_deduplicated(http_base: str, tmp_path: Path) -> None:
    written = downloader.download_all(
        [f"{http_base}/data.jsonl", f"{http_base}/dir/data.jsonl", f"{http_base}/moved"], _opts(tmp_path)
    )
    assert [p.name for p in written] == ["data.jsonl", "data-1.jsonl", "moved"]
    assert all(p.read_bytes() == DATA for p in written)
    assert not list(tmp_path.glob(".*.part"))


def test_retries_server_errors_then_succeeds(http_base: str, tmp_path: Path) -> None:
    HITS["/flaky.csv"] = 0
    [path] = downloader.download_all([f"{http_base}/flaky.csv"], _opts(tmp_path, retries=3))
    assert path.read_text().startswith("context,response")
    assert HITS["/flaky.csv"] == 3


def test_gives_up_after_the_retries(http_base: str, tmp_path: Path) -> None:
    HITS["/flaky.csv"] = 0
    with pytest.raises(downloader.DownloadError, match="gave up after 2 attempts"):
        downloader.download_all([f"{http_base}/flaky.csv"], _opts(tmp_path, retries=2))


@pytest.mark.parametrize(
    ("path", "kw", "needle"),
    [
        ("/missing.json", {}, "HTTP 404"),
        ("/page.html", {}, "text/html"),
        ("/big.parquet", {"max_bytes": 1000}, "size limit"),
        ("/big-unsized.parquet", {"max_bytes": 1000}, "size limit"),
        ("/to-metadata", {}, "metadata"),
    ],
)
def test_refusals(http_base: str, tmp_path: Path, path: str, kw: dict[str, object], needle: str) -> None:
    HITS[path] = 0
    with pytest.raises(downloader.DownloadError, match=needle):
        downloader.download_all([http_base + path], _opts(tmp_path, **kw))
    assert HITS[path] == 1, "a permanent failure is not retried"
    assert not [p for p in tmp_path.iterdir()], "nothing is left behind"


def test_loopback_needs_the_flag(http_base: str, tmp_path: Path) -> None:
    opts = downloader.Options(dest=tmp_path)
    with pytest.raises(downloader.DownloadError, match="loopback"):
        downloader.download_all([f"{http_base}/data.jsonl"], opts)
    with pytest.raises(downloader.DownloadError, match="only http and https"):
        downloader.download_all(["file:///etc/passwd"], opts)


@pytest.mark.parametrize(
    "ip",
    [
        "127.0.0.1",
        "::1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "169.254.1.1",
        "fe80::1",
        "100.64.0.1",
        "0.0.0.0",
        "::ffff:127.0.0.1",
        "64:ff9b::a00:1",
        "::7f00:1",
        "fd00:ec2::254",
        "224.0.0.1",
    ],
)
def test_guard_blocks_internal_addresses(ip: str) -> None:
    with pytest.raises(BlockedAddress):
        check_ip(ipaddress.ip_address(ip), Policy())


def test_guard_allows_public_and_opt_ins() -> None:
    check_ip(ipaddress.ip_address("93.184.216.34"), Policy())
    check_ip(ipaddress.ip_address("64:ff9b::5db8:d822"), Policy())  # NAT64 of that public address
    check_ip(ipaddress.ip_address("127.0.0.1"), Policy(allow_loopback=True))
    check_ip(ipaddress.ip_address("10.0.0.1"), Policy.parse(["10.0.0.0/8"]))
    with pytest.raises(BlockedAddress):  # metadata stays blocked whatever the policy
        everything = Policy.parse(["169.254.0.0/16"], allow_loopback=True)
        check_ip(ipaddress.ip_address("169.254.169.254"), everything)
    # Literal IPs resolve without DNS; a name resolving to loopback is refused too.
    with pytest.raises(BlockedAddress):
        resolve("localhost", 80, Policy())


@pytest.mark.parametrize(
    "ip",
    [
        "168.63.129.16",
        "::ffff:168.63.129.16",
        "169.254.169.254",
        "64:ff9b::a9fe:a9fe",  # NAT64 of IMDS
        "64:ff9b:1::a83f:8110",  # local-use NAT64 of WireServer
        "::a9fe:a9fe",  # IPv4-compatible IMDS
        "2002:a9fe:a9fe::1",  # 6to4
    ],
)
def test_host_endpoints_stay_blocked_even_inside_an_allowed_cidr(ip: str) -> None:
    with pytest.raises(BlockedAddress, match="metadata or host endpoint"):
        check_ip(ipaddress.ip_address(ip), Policy.parse(["0.0.0.0/0", "::/0"]))


def test_egress_allow_list_admits_its_cidrs_and_its_hosts_private_answers() -> None:
    policy = Policy.parse(["10.245.0.1", "10.96.0.0/16", "*.privatelink.blob.core.windows.net", "data.corp"])
    check_ip(ipaddress.ip_address("10.245.0.1"), policy)
    check_ip(ipaddress.ip_address("10.96.3.4"), policy)
    with pytest.raises(BlockedAddress, match="not on the operator's egress allow-list"):
        check_ip(ipaddress.ip_address("10.245.0.2"), policy)
    assert policy.allows_host("acct.privatelink.blob.core.windows.net")
    assert policy.allows_host("DATA.corp.")
    assert not policy.allows_host("evil-data.corp")
    assert not policy.allows_host("privatelink.blob.core.windows.net.evil.example")
    check_ip(ipaddress.ip_address("10.1.2.3"), policy, trusted_host=True)
    with pytest.raises(BlockedAddress, match="loopback"):  # an allowed name still may not mean this machine
        check_ip(ipaddress.ip_address("127.0.0.1"), policy, trusted_host=True)


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "http://x", "a b", "*."])
def test_a_malformed_allow_list_entry_is_named(entry: str) -> None:
    with pytest.raises(ValueError, match="egress allow-list entry"):
        Policy.parse([entry])


def test_main_reads_env(http_base: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_URLS", f"{http_base}/data.jsonl\n{http_base}/flaky.csv")
    monkeypatch.setenv("DATA_VOLUME_PATH", str(tmp_path / "data"))
    monkeypatch.setenv("DOWNLOADER_ALLOW_LOOPBACK", "true")
    HITS["/flaky.csv"] = 10
    assert downloader.main([]) == 0
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["data.jsonl", "flaky.csv"]
    monkeypatch.setenv("DOWNLOADER_ALLOW_LOOPBACK", "false")
    assert downloader.main([]) == 1
