"""Run the emulator on its own, for demos and end-to-end runs of the real binary:

    python -m tests.support.armemulator --kubeconfig .cluster/kubeconfig --env-file /tmp/arm.env

It registers kwok Nodes in the cluster the kubeconfig points at, writes the environment an
unmodified gpu-provisioner needs (``--env-file``, KEY=VALUE lines) and serves until interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from pathlib import Path

from kaito.runtime.client import Client
from tests.support.armemulator.nodes import KubeNodeRegistrar, NodeRegistrar, RecordingNodeRegistrar
from tests.support.armemulator.server import ArmEmulator, EmulatorSettings


async def _serve(args: argparse.Namespace) -> None:
    client: Client | None = None
    nodes: NodeRegistrar = RecordingNodeRegistrar()
    if args.kubeconfig:
        # No client-side rate limit: a Node registration must not wait behind a token bucket.
        client = await Client.from_kubeconfig(args.kubeconfig, qps=0, burst=0, field_manager="armemulator")
        nodes = KubeNodeRegistrar(client)
    workdir: Path = args.workdir
    settings = EmulatorSettings(create_duration_s=args.create_seconds, delete_duration_s=args.delete_seconds)
    emulator = ArmEmulator(settings, nodes=nodes, workdir=workdir, port=args.port)
    await emulator.start()
    env = emulator.client_env(workdir / "federated-token")
    lines = "".join(f"{k}={v}\n" for k, v in env.items())
    if args.env_file:
        await asyncio.to_thread(Path(args.env_file).write_text, lines)
    print(lines, end="", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await emulator.stop()
        if client is not None:
            await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.support.armemulator")
    parser.add_argument(
        "--kubeconfig", help="register kwok Nodes in this cluster (default: keep them in memory)"
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--workdir", default=".cache/armemulator", help="TLS files and the federated token")
    parser.add_argument("--env-file", help="also write the client environment here")
    parser.add_argument("--create-seconds", type=float, default=5.0)
    parser.add_argument("--delete-seconds", type=float, default=2.0)
    args = parser.parse_args()
    args.workdir = Path(args.workdir).resolve()
    args.workdir.mkdir(parents=True, exist_ok=True)
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
