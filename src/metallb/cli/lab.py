"""``metallb lab``: the local lab.

Until the lab issue lands, ``lab up`` brings up only the real control plane
(etcd, kube-apiserver, kube-controller-manager) in the foreground, writes its
admin kubeconfig to ``<dir>/kubeconfig`` and says plainly that nodes, the
router and MetalLB itself are not there yet. Ctrl-C (or SIGTERM) tears it down.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import threading
from pathlib import Path

from metallb.lab.controlplane import Binaries, ControlPlane, ControlPlaneError


def up(args: argparse.Namespace) -> int:
    labdir = Path(args.dir).resolve()
    labdir.mkdir(parents=True, exist_ok=True)
    kubeconfig = labdir / "kubeconfig"
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        cp = ControlPlane(Binaries.locate(), progress=lambda m: print(f"lab: {m} ...", flush=True))
        with cp:
            shutil.copyfile(cp.kubeconfig, kubeconfig)
            kubeconfig.chmod(0o600)
            print(
                f"lab: control plane ready in {cp.timings['total']:.1f} s at {cp.server}\n"
                f"lab: kubeconfig: {kubeconfig}\n"
                f"lab:   try: kubectl --kubeconfig {kubeconfig} get --raw /version\n"
                "lab: NOTE: this is only the control plane. The simulated nodes, the router,\n"
                "lab:       demo Services and MetalLB itself arrive with the lab issue (#8).\n"
                "lab: press Ctrl-C to stop and remove everything.",
                flush=True,
            )
            stop.wait()
            print("lab: stopping ...", flush=True)
    except ControlPlaneError as err:
        print(f"lab: {err}", file=sys.stderr)
        return 1
    finally:
        kubeconfig.unlink(missing_ok=True)
    print("lab: stopped; nothing left running", flush=True)
    return 0
