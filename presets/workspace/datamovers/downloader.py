"""Downloads the tuning Job's input URLs into the data volume.

`python -m datamovers.downloader` with env DATA_URLS (whitespace or comma separated) and
DATA_VOLUME_PATH (default /mnt/data), as KAITO's data-downloader init container; flags
override. Each URL gets up to --retries attempts with backoff on network errors, 429 and 5xx;
other 4xx fail at once. A download is refused when it is larger than the size limit, when the
server says it is HTML (a login or error page, not data), or when the URL points at a
loopback, private, link-local or metadata address that the operator's egress allow-list
(EGRESS_ALLOW, see netguard) does not admit (loopback only with --allow-loopback /
DOWNLOADER_ALLOW_LOOPBACK=true, for tests).
"""

from __future__ import annotations

import argparse
import http.client
import logging
import os
import re
import socket
import ssl
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from .netguard import ENV_EGRESS_ALLOW, BlockedAddress, Policy, resolve

log = logging.getLogger("downloader")

DEFAULT_MAX_BYTES = 50 * 1024**3
DEFAULT_CONTENT_TYPES = (
    "application/json",
    "application/jsonl",
    "application/x-jsonlines",
    "application/x-ndjson",
    "application/jsonlines",
    "application/octet-stream",
    "application/vnd.apache.parquet",
    "application/x-parquet",
    "application/parquet",
    "text/csv",
    "application/csv",
    "text/plain",
    "binary/octet-stream",
    "application/gzip",
    "application/x-gzip",
)
_CHUNK = 1024 * 1024
_MAX_REDIRECTS = 5


class DownloadError(Exception):
    """A download that failed for good; retrying would not help."""


class RetryableError(Exception):
    pass


@dataclass
class Options:
    dest: Path
    max_bytes: int = DEFAULT_MAX_BYTES
    retries: int = 3
    backoff_s: float = 1.0
    timeout_s: float = 60.0
    content_types: tuple[str, ...] = DEFAULT_CONTENT_TYPES
    policy: Policy = field(default_factory=Policy)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to an already checked IP while keeping the Host header of the URL."""

    def __init__(self, host: str, port: int, ip: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._ip = ip

    def connect(self) -> None:
        self.sock = socket.create_connection((self._ip, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, ip: str, timeout: float) -> None:
        self._ctx = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self._ctx)
        self._ip = ip

    def connect(self) -> None:
        raw = socket.create_connection((self._ip, self.port), self.timeout)
        # SNI and certificate checks use the URL's host name, not the pinned IP.
        self.sock = self._ctx.wrap_socket(raw, server_hostname=self.host)


def parse_urls(raw: str) -> list[str]:
    return [u for u in re.split(r"[\s,]+", raw.strip()) if u]


def target_name(url: str, taken: set[str]) -> str:
    name = unquote(Path(urlsplit(url).path).name) or "download"
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".") or "download"
    base, dot, ext = name.partition(".")
    candidate, n = name, 1
    while candidate in taken:
        candidate = f"{base}-{n}{dot}{ext}"
        n += 1
    taken.add(candidate)
    return candidate


def _open(url: str, opts: Options) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse, str]:
    for _ in range(_MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"}:
            raise DownloadError(f"{url}: only http and https URLs are allowed")
        if not parts.hostname:
            raise DownloadError(f"{url}: no host")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            ip = resolve(parts.hostname, port, opts.policy)
        except BlockedAddress as err:
            raise DownloadError(f"{url}: refused: {err}") from None
        cls = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
        conn = cls(parts.hostname, port, ip, opts.timeout_s)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request("GET", path, headers={"User-Agent": "kaito-data-downloader", "Accept": "*/*"})
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as err:
            conn.close()
            raise RetryableError(f"{url}: {err}") from err
        if resp.status in {301, 302, 303, 307, 308}:
            location = resp.getheader("Location")
            conn.close()
            if not location:
                raise DownloadError(f"{url}: redirect without a Location")
            url = urljoin(url, location)  # the next hop is checked again by the loop
            continue
        return conn, resp, url
    raise DownloadError(f"{url}: more than {_MAX_REDIRECTS} redirects")


def _check_response(url: str, resp: http.client.HTTPResponse, opts: Options) -> None:
    if resp.status == 429 or resp.status >= 500:
        raise RetryableError(f"{url}: HTTP {resp.status}")
    if resp.status != 200:
        raise DownloadError(f"{url}: HTTP {resp.status} {resp.reason}")
    ctype = (resp.getheader("Content-Type") or "application/octet-stream").split(";")[0].strip().lower()
    if opts.content_types and ctype not in opts.content_types:
        raise DownloadError(
            f"{url}: content type {ctype!r} is not a dataset type ({', '.join(opts.content_types)})"
        )
    length = resp.getheader("Content-Length")
    if length and length.isdigit() and int(length) > opts.max_bytes:
        raise DownloadError(f"{url}: {int(length)} bytes is over the size limit of {opts.max_bytes} bytes")


def download_one(url: str, target: Path, opts: Options) -> int:
    """Downloads url into target (atomically); returns its size in bytes."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return _attempt(url, target, opts)
        except RetryableError as err:
            if attempt >= opts.retries:
                raise DownloadError(f"{err} (gave up after {attempt} attempts)") from None
            delay = opts.backoff_s * 2 ** (attempt - 1)
            log.warning("download attempt %d of %s failed: %s; retrying in %.1fs", attempt, url, err, delay)
            time.sleep(delay)


def _attempt(url: str, target: Path, opts: Options) -> int:
    conn, resp, final_url = _open(url, opts)
    try:
        _check_response(final_url, resp, opts)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                while True:
                    try:
                        chunk = resp.read(_CHUNK)
                    except (OSError, http.client.HTTPException) as err:
                        raise RetryableError(f"{url}: {err}") from err
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > opts.max_bytes:
                        raise DownloadError(f"{url}: over the size limit of {opts.max_bytes} bytes")
                    out.write(chunk)
            length = resp.getheader("Content-Length")
            if length and length.isdigit() and size != int(length):
                raise RetryableError(f"{url}: got {size} of {length} bytes")
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return size
    finally:
        conn.close()


def download_all(urls: list[str], opts: Options) -> list[Path]:
    opts.dest.mkdir(parents=True, exist_ok=True)
    taken = {p.name for p in opts.dest.iterdir()}
    written: list[Path] = []
    for url in urls:
        target = opts.dest / target_name(url, taken)
        size = download_one(url, target, opts)
        log.info("downloaded %s to %s (%d bytes)", url, target, size)
        written.append(target)
    return written


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes"}


def main(argv: list[str] | None = None) -> int:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="downloader", description=__doc__.split("\n")[0])
    parser.add_argument("urls", nargs="*", help="defaults to env DATA_URLS")
    parser.add_argument("--dest", default=env("DATA_VOLUME_PATH", "/mnt/data"))
    parser.add_argument(
        "--max-bytes", type=int, default=int(env("DOWNLOAD_MAX_BYTES", str(DEFAULT_MAX_BYTES)))
    )
    parser.add_argument("--retries", type=int, default=int(env("DOWNLOAD_RETRIES", "3")))
    parser.add_argument("--timeout", type=float, default=float(env("DOWNLOAD_TIMEOUT_S", "60")))
    parser.add_argument(
        "--content-types",
        default=env("DOWNLOAD_CONTENT_TYPES", ""),
        help="comma separated allow-list; '*' allows any",
    )
    parser.add_argument(
        "--allow-loopback", action="store_true", default=_env_true("DOWNLOADER_ALLOW_LOOPBACK")
    )
    parser.add_argument(
        "--egress-allow",
        default=env(ENV_EGRESS_ALLOW, ""),
        help="comma separated CIDRs and host names (*.domain) that may be private; the operator's list",
    )
    ns = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    urls = ns.urls or parse_urls(env("DATA_URLS", ""))
    if not urls:
        print("error: no URLs given (arguments or DATA_URLS)", file=sys.stderr)
        return 2
    if ns.content_types.strip() == "*":
        types: tuple[str, ...] = ()
    elif ns.content_types.strip():
        types = tuple(t.strip().lower() for t in ns.content_types.split(",") if t.strip())
    else:
        types = DEFAULT_CONTENT_TYPES
    try:
        policy = Policy.parse(ns.egress_allow.split(","), allow_loopback=ns.allow_loopback)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    opts = Options(
        dest=Path(ns.dest),
        max_bytes=ns.max_bytes,
        retries=max(1, ns.retries),
        timeout_s=ns.timeout,
        content_types=types,
        policy=policy,
    )
    try:
        download_all(urls, opts)
    except DownloadError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
