"""The manager's HTTP endpoints: ``/metrics`` on one port, ``/healthz`` and ``/readyz`` on another."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

Check = Callable[[], bool]


def parse_bind_address(address: str) -> tuple[str, int] | None:
    """``":8080"`` → ``("0.0.0.0", 8080)``; ``"127.0.0.1:0"``: an ephemeral port; ``""``/``"0"``: disabled."""
    if address in ("", "0"):
        return None
    host, _, port = address.rpartition(":")
    return (host or "0.0.0.0", int(port))


class HttpServer:
    """A small aiohttp server bound to one address; :attr:`port` is the bound port once started."""

    def __init__(self, app: web.Application, address: tuple[str, int]) -> None:
        self._runner = web.AppRunner(app, access_log=None)
        self._address = address
        self.port = 0

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._address[0], self._address[1], reuse_address=True)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1]) if sockets else self._address[1]

    async def stop(self) -> None:
        await self._runner.cleanup()


def metrics_app(registry: CollectorRegistry) -> web.Application:
    async def handle(_: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", handle)
    return app


def health_app(healthz: dict[str, Check], readyz: dict[str, Check]) -> web.Application:
    """``/healthz`` and ``/readyz`` (plus ``/<probe>/<check>`` for one check): 200 ``ok`` when every check
    passes, else 503 listing the failing ones."""

    def respond(probe: str, checks: dict[str, Check], only: str | None) -> web.Response:
        failed: list[str] = []
        lines: list[str] = []
        for name, check in checks.items():
            if only is not None and name != only:
                continue
            try:
                ok = bool(check())
            except Exception:
                ok = False
            lines.append(f"[{'+' if ok else '-'}]{name} {'ok' if ok else 'failed'}")
            if not ok:
                failed.append(name)
        if only is not None and only not in checks:
            return web.Response(status=404, text=f"no check named {only}\n")
        if failed:
            return web.Response(status=503, text="\n".join([*lines, f"{probe} check failed"]) + "\n")
        return web.Response(text="ok\n")

    async def healthz_handler(request: web.Request) -> web.Response:
        return respond("healthz", healthz, request.match_info.get("check"))

    async def readyz_handler(request: web.Request) -> web.Response:
        return respond("readyz", readyz, request.match_info.get("check"))

    app = web.Application()
    app.router.add_get("/healthz", healthz_handler)
    app.router.add_get("/healthz/{check}", healthz_handler)
    app.router.add_get("/readyz", readyz_handler)
    app.router.add_get("/readyz/{check}", readyz_handler)
    return app
