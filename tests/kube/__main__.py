"""Run the Kubernetes API emulator as a process: `python -m tests.kube --port 8443 --kubeconfig kc.yaml`.

End-to-end tests run the operator as a real process (`oblivion operator`), which needs a Kubernetes
API to talk to; this serves one until SIGTERM or Ctrl-C, optionally with the repo's CRDs registered
and Deployments made Ready by the kubelet stand-in.
"""

from __future__ import annotations

import argparse
import pathlib
import signal
import threading
from types import FrameType

from tests.kube.api import DEFAULT_NAMESPACES, KubeApi, write_kubeconfig
from tests.kube.server import EmulatorServer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the Kubernetes API emulator until interrupted.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--kubeconfig", type=pathlib.Path, help="write a kubeconfig pointing at the emulator")
    parser.add_argument("--crds", action="store_true", help="register the CRDs in the repo's crds/")
    parser.add_argument("--kubelet", action="store_true", help="make every Deployment Ready as it appears")
    options = parser.parse_args(argv)

    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server = EmulatorServer(host=options.host, port=options.port).start()
    try:
        kubeconfig = options.kubeconfig or pathlib.Path("/dev/null")
        if options.kubeconfig:
            write_kubeconfig(options.kubeconfig, server.url)
        api = KubeApi(server, kubeconfig)
        for namespace in DEFAULT_NAMESPACES:
            api.create_namespace(namespace)
        if options.crds:
            api.register_crds()
        if options.kubelet:
            api.start_kubelet()
        print(f"Kubernetes API emulator listening on {server.url}", flush=True)
        stopping.wait()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
