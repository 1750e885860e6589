"""What the two lab clusters share: life cycle, work directory policy and kubectl.

:class:`metallb.lab.cluster.L2Cluster` (MetalLB as processes) and
:class:`metallb.lab.podcluster.PodCluster` (MetalLB as Pods on kubelet nodes) differ in
how they start things, not in how they are entered, left, cleaned up or driven with
kubectl. Both are dataclasses declaring the attributes named here; this base adds no
dataclass fields of its own.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Self

import yaml
from lightkube import Client

from metallb.lab.controlplane import ControlPlane
from metallb.lab.daemon import LabError
from metallb.lab.tokens import metrics_reader_token
from metallb.lab.topology import KUBECTL, NS, LanClients


class ClusterBase(LanClients):
    """Context manager around ``_setup``; kubectl and apply against the lab's apiserver."""

    # Set by the subclass (a class attribute): the prefix of work directories it makes.
    workdir_prefix: str
    workdir: Path
    cp: ControlPlane | None
    kube: Client | None
    _stack: contextlib.ExitStack

    def _setup(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self._setup()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, exc_type: object, *_exc: object) -> None:
        self._stack.close()
        # A work directory we made ourselves goes too, unless something failed: then its
        # logs (controller, speakers, kubelets, FRR) are what one reads next.
        own = self.workdir.parent == Path(tempfile.gettempdir())
        if own and self.workdir.name.startswith(self.workdir_prefix) and exc_type is None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def kubectl(self, *args: str, timeout: float = 120) -> str:
        """Run kubectl as the admin; its stdout, or LabError with its stderr."""
        assert self.cp is not None
        proc = subprocess.run(
            [KUBECTL, f"--kubeconfig={self.cp.kubeconfig}", *args],
            check=False,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.returncode != 0:
            raise LabError(f"kubectl {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    @functools.cached_property
    def metrics_token(self) -> str:
        """A bearer token allowed to read the speakers' and controller's ``/metrics``
        (made once per cluster: a token lasts a day)."""
        assert self.kube is not None
        return metrics_reader_token(self.kube, NS)

    def apply(self, docs: list[dict[str, Any]]) -> str:
        """``kubectl apply`` of objects, as a user applies a file."""
        path = self.workdir / f"apply-{time.monotonic_ns()}.yaml"
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        return self.kubectl("apply", "-f", str(path))
