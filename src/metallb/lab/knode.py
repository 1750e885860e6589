"""A real Kubernetes node inside a lab host: containerd, kubelet and kube-proxy.

Each lab node is a network namespace (:class:`metallb.lab.netlab.Host`). A
:class:`KubeNode` runs in it what a user's node runs: containerd 2 (with Debian's runc
and CNI plugins), the kubelet and kube-proxy, all built from their published Go modules
(``tools/knode/build.sh``). MetalLB then runs there as the Pods of ``deploy/`` or the
chart, from its own images, instead of as processes the harness starts.

Several nodes share one machine, so everything a node writes is its own: logs, images
and configuration under the node's work directory; containerd's sockets and state,
runc's state, shim sockets, Pod network namespaces and the kubelet's root under a short
run directory (``/run/metallb-py/<netns>``: containerd refuses a shim socket directory
longer than 42 characters and a Unix socket path holds at most 107, which a work
directory under pytest's or a user's ``--dir`` easily exceeds); the CNI network's name
and IPAM store, and a cgroup root (``/<tag>`` in every cgroup v1 hierarchy) holding the
node's daemons and its Pods.

The node must not change the machine's own settings. The kubelet insists on six kernel
tunables (``vm.overcommit_memory=1``, ``kernel.panic=10``, ...) and would rewrite the
host's; so the node's processes run in a mount namespace of their own (with a ``/sys``
of the node's network namespace) where those six files are
bind mounts of regular files already holding the kubelet's values: it reads them, finds
nothing to change and writes nothing. kube-proxy leaves conntrack's global limits alone
(``conntrack.maxPerCore: 0`` and zero timeouts); its other sysctls and all its
iptables rules are per network namespace.

Teardown kills every process in the node's cgroup tree (the daemons, the shims that
outlive containerd by design, every container), then removes the cgroups; the mount
namespace, and with it every overlay and volume mount, disappears with its last
process, and the Pods' network namespaces with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from metallb.lab.built import built_dir
from metallb.lab.daemon import LabError
from metallb.lab.netlab import Host

CGROUP_FS = Path("/sys/fs/cgroup")
# Parent of every node's run directory (KubeNode.rundir).
RUN_ROOT = Path("/run/metallb-py")
CNI_BIN = Path("/usr/lib/cni")
RUNC = shutil.which("runc") or "/usr/sbin/runc"
# The kubelet's kernel tunables (pkg/kubelet/cm/container_manager_linux.go,
# setupKernelTunables) and the values it wants; shown to it as files, see the docstring.
KUBELET_TUNABLES = {
    "vm/overcommit_memory": "1",
    "vm/panic_on_oom": "0",
    "kernel/panic": "10",
    "kernel/panic_on_oops": "1",
    "kernel/keys/root_maxkeys": "1000000",
    "kernel/keys/root_maxbytes": "25000000",
}


@dataclass(frozen=True)
class NodeBinaries:
    """kubelet, kube-proxy, kube-scheduler and containerd (with its shim and ctr)."""

    directory: Path

    def __getitem__(self, name: str) -> Path:
        return self.directory / name

    @classmethod
    def locate(cls) -> NodeBinaries:
        """``$METALLB_KNODE_BIN``, else build (or reuse from the cache) with
        ``tools/knode/build.sh``, which costs a second once built."""
        found = cls(built_dir("tools/knode/build.sh", "METALLB_KNODE_BIN"))
        names = ("kubelet", "kube-proxy", "kube-scheduler", "containerd", "ctr")
        missing = [n for n in (*names, "containerd-shim-runc-v2") if not found[n].is_file()]
        if missing:
            raise LabError(f"node binaries missing in {found.directory}: {', '.join(missing)}")
        return found


@dataclass(frozen=True)
class NodeNet:
    """A node's addresses: its node IPs (data LAN) and its Pod networks."""

    name: str
    ip: str
    ip6: str
    pod_cidr: str
    pod_cidr6: str


@dataclass
class KubeNode:
    """containerd, kubelet and kube-proxy of one node; see the module docstring."""

    host: Host
    net: NodeNet
    workdir: Path
    binaries: NodeBinaries
    kubelet_kubeconfig: Path
    proxy_kubeconfig: Path
    ca_file: Path
    pause_image: str
    # The other nodes' Pod networks, routed through their node IPs (what a flat
    # host-gateway CNI does).
    peers: tuple[NodeNet, ...] = ()
    # The cluster's Service ranges and the node's link towards the apiserver.
    service_cidrs: tuple[str, ...] = ()
    service_dev: str = "eth1"
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def cgroup(self) -> str:
        """The node's cgroup root, unique per lab and node."""
        return f"{self.host.netns}-kube"

    @property
    def rundir(self) -> Path:
        """The node's sockets and runtime state (short: see the module docstring)."""
        return RUN_ROOT / self.host.netns

    @property
    def socket(self) -> Path:
        return self.rundir / "containerd.sock"

    def log(self, name: str) -> Path:
        return self.workdir / "logs" / f"{name}.log"

    # -- start ---------------------------------------------------------------------------
    def start(self) -> None:
        """Write the configurations and start the three daemons in the node."""
        for d in ("logs", "containerd", "pod-logs", "cni", "sysctl", "opt"):
            (self.workdir / d).mkdir(parents=True, exist_ok=True)
        for d in ("state", "kubelet"):
            (self.rundir / d).mkdir(parents=True, exist_ok=True)
        self._network()
        self._write_configs()
        for path, value in KUBELET_TUNABLES.items():
            (self.workdir / "sysctl" / path.replace("/", "_")).write_text(value + "\n")
        (self.workdir / "boot.sh").write_text(self._boot_script())
        for hierarchy in self._hierarchies():
            (hierarchy / self.cgroup / "daemons").mkdir(parents=True, exist_ok=True)
            if hierarchy.name == "cpuset":
                # A new cpuset takes no task until it has CPUs and memory nodes.
                for group in (hierarchy / self.cgroup, hierarchy / self.cgroup / "daemons"):
                    for name in ("cpuset.cpus", "cpuset.mems"):
                        (group / name).write_text((hierarchy / name).read_text())
        # Not `ip netns exec`: it mounts a fresh /sys without the cgroup hierarchies the
        # kubelet and runc need; boot.sh remounts /sys itself and keeps them.
        with self.log("boot").open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    "nsenter",
                    f"--net=/run/netns/{self.host.netns}",
                    "unshare",
                    "--mount",
                    "--propagation=slave",
                    "sh",
                    str(self.workdir / "boot.sh"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.host.lab.processes.append(self.proc)

    def _network(self) -> None:
        h = self.host
        for sysctl in (
            "net.ipv4.ip_forward=1",
            "net.ipv6.conf.all.forwarding=1",
            # Pod-to-Service traffic that stays on the node's bridge must pass iptables
            # for kube-proxy's DNAT to be undone on the way back (per namespace since
            # Linux 5.3).
            "net.bridge.bridge-nf-call-iptables=1",
            "net.bridge.bridge-nf-call-ip6tables=1",
        ):
            h.run("sysctl", "-qw", sysctl)
        # A process on the node (a host-network Pod such as the speaker) connects to a
        # ClusterIP: the route lookup happens before kube-proxy's DNAT, so the service
        # ranges need a route. An on-link one: should kube-proxy not have translated a
        # packet yet, its ARP goes unanswered on the management LAN and it goes nowhere.
        for cidr in self.service_cidrs:
            h.run("ip", "route", "replace", cidr, "dev", self.service_dev)
        for peer in self.peers:
            h.run("ip", "route", "replace", peer.pod_cidr, "via", peer.ip)
            h.run("ip", "-6", "route", "replace", peer.pod_cidr6, "via", peer.ip6)

    def _write_configs(self) -> None:
        w = self.workdir
        (w / "containerd.toml").write_text(self._containerd_config())
        cni = {
            "cniVersion": "1.0.0",
            "name": f"lab-{self.net.name}",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": "cni0",
                    "isGateway": True,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "dataDir": str(w / "cni" / "ipam"),
                        "ranges": [
                            [{"subnet": self.net.pod_cidr}],
                            [{"subnet": self.net.pod_cidr6}],
                        ],
                        "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}],
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }
        (w / "cni" / "net.d").mkdir(parents=True, exist_ok=True)
        (w / "cni" / "net.d" / "10-lab.conflist").write_text(json.dumps(cni, indent=2))
        kubelet = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": False},
                "x509": {"clientCAFile": str(self.ca_file)},
            },
            "authorization": {"mode": "AlwaysAllow"},
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": f"/{self.cgroup}",
            # cgroup v1 is all this machine has; kubelet 1.35+ refuses it unless told.
            "failCgroupV1": False,
            "failSwapOn": False,
            "containerRuntimeEndpoint": f"unix://{self.socket}",
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "podLogsDir": str(w / "pod-logs"),
            "volumePluginDir": str(self.rundir / "kubelet" / "volume-plugins"),
            # No cluster DNS and no host resolver: Pods resolve nothing, so no query
            # can leave the lab.
            "resolvConf": "",
            "maxPods": 12,
            # The images were loaded by hand and cannot be pulled again: never collect.
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {
                "memory.available": "100Mi",
                "nodefs.available": "1%",
                "imagefs.available": "1%",
            },
            "nodeStatusUpdateFrequency": "4s",
            "serializeImagePulls": False,
            "protectKernelDefaults": False,
        }
        (w / "kubelet.yaml").write_text(yaml.safe_dump(kubelet, sort_keys=False))
        proxy = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(self.proxy_kubeconfig)},
            "hostnameOverride": self.net.name,
            "mode": "iptables",
            # Traffic from the Pod bridge is the node's own; everything else is masqueraded
            # when it is sent to another node's Pod.
            "detectLocalMode": "BridgeInterface",
            "detectLocal": {"bridgeInterface": "cni0"},
            # Zero leaves the kernel's (global) conntrack settings as they are.
            "conntrack": {
                "maxPerCore": 0,
                "min": 0,
                "tcpEstablishedTimeout": "0s",
                "tcpCloseWaitTimeout": "0s",
            },
            "metricsBindAddress": "127.0.0.1:10249",
            "healthzBindAddress": "127.0.0.1:10256",
            "iptables": {"localhostNodePorts": False},
        }
        (w / "kube-proxy.yaml").write_text(yaml.safe_dump(proxy, sort_keys=False))

    def _containerd_config(self) -> str:
        w, r = self.workdir, self.rundir
        cri_rt = "plugins.'io.containerd.cri.v1.runtime'"
        return f"""\
version = 4
root = '{w / "containerd" / "root"}'
state = '{r / "state"}'
imports = []
[grpc]
  address = '{self.socket}'
[ttrpc]
  address = '{self.socket}.ttrpc'
[plugins.'io.containerd.server.v1.grpc']
  address = '{self.socket}'
[plugins.'io.containerd.server.v1.ttrpc']
  address = '{self.socket}.ttrpc'
[plugins.'io.containerd.internal.v1.opt']
  path = '{w / "opt"}'
[plugins.'io.containerd.shim.v1.manager']
  socket_dir = '{r / "s"}'
[plugins.'io.containerd.nri.v1.nri']
  disable = true
[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = '{self.pause_image}'
[{cri_rt}]
  netns_mounts_under_state_dir = true
  # This machine withholds CAP_SYS_RESOURCE, so no process may lower its OOM score
  # (the pause container asks for -998): keep every container at containerd's own.
  restrict_oom_score_adj = true
  disable_apparmor = true
  [{cri_rt}.containerd.runtimes.runc]
    runtime_type = 'io.containerd.runc.v2'
    [{cri_rt}.containerd.runtimes.runc.options]
      BinaryName = '{RUNC}'
      Root = '{r / "runc"}'
      SystemdCgroup = false
  [{cri_rt}.cni]
    bin_dirs = ['{CNI_BIN}']
    conf_dir = '{w / "cni" / "net.d"}'
"""

    def _boot_script(self) -> str:
        """The node's init: fake tunables, join the cgroup, run the three daemons."""
        w, r, b = self.workdir, self.rundir, self.binaries
        mounts = "\n".join(
            f"mount --bind {w / 'sysctl' / p.replace('/', '_')} /proc/sys/{p}"
            for p in KUBELET_TUNABLES
        )
        join = "\n".join(
            f"echo $$ > {h / self.cgroup / 'daemons' / 'cgroup.procs'}" for h in self._hierarchies()
        )
        node_ips = f"{self.net.ip},{self.net.ip6}"
        return f"""\
#!/bin/sh
# Generated by metallb.lab.knode for node {self.net.name}; runs in the node's network
# namespace and a mount namespace of its own.
set -eu
{join}
# The node's own view of /sys (its network devices), with the host's cgroups kept.
mkdir -p {w / "cgroup-save"}
mount --rbind /sys/fs/cgroup {w / "cgroup-save"}
mount -t sysfs sysfs /sys
mount --rbind {w / "cgroup-save"} /sys/fs/cgroup
umount -l {w / "cgroup-save"}
{mounts}
mount --make-rshared /
export PATH={b.directory}:$PATH
{b["containerd"]} --config {w / "containerd.toml"} > {self.log("containerd")} 2>&1 &
i=0
while [ ! -S {self.socket} ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
{b["kubelet"]} --config={w / "kubelet.yaml"} --kubeconfig={self.kubelet_kubeconfig} \\
  --hostname-override={self.net.name} --node-ip={node_ips} \\
  --root-dir={r / "kubelet"} --cert-dir={r / "kubelet" / "pki"} --v=1 \\
  > {self.log("kubelet")} 2>&1 &
{b["kube-proxy"]} --config={w / "kube-proxy.yaml"} --v=1 > {self.log("kube-proxy")} 2>&1 &
wait
"""

    def _hierarchies(self) -> list[Path]:
        """The cgroup v1 hierarchies where the node's processes are placed: every one
        with a ``cgroup.procs`` at the top, except the (unified) v2 mount."""
        return sorted(
            p
            for p in CGROUP_FS.iterdir()
            if p.name not in ("unified",) and (p / "cgroup.procs").exists()
        )

    # -- images --------------------------------------------------------------------------
    def import_image(self, tarball: Path) -> None:
        """Load an image archive (``docker save`` or OCI) into the node's containerd,
        where the kubelet finds it (namespace ``k8s.io``)."""
        self._ctr("images", "import", str(tarball))

    def tag_image(self, ref: str, new: str) -> None:
        """Give a loaded image a second reference (a "new version" for a rollout)."""
        self._ctr("images", "tag", "--force", ref, new)

    def _ctr(self, *args: str) -> str:
        proc = subprocess.run(
            [str(self.binaries["ctr"]), f"--address={self.socket}", "--namespace=k8s.io", *args],
            check=False,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if proc.returncode != 0:
            raise LabError(f"{self.net.name}: ctr {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def wait_socket(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not self.socket.exists():
            self.check_alive()
            if time.monotonic() > deadline:
                raise LabError(
                    f"{self.net.name}: containerd did not start:\n{self.tail('containerd')}"
                )
            time.sleep(0.1)

    def check_alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            raise LabError(f"{self.net.name}: node boot exited:\n{self.tail('boot')}")

    def tail(self, name: str, lines: int = 30) -> str:
        try:
            text = self.log(name).read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- stop ----------------------------------------------------------------------------
    def stop(self) -> None:
        """Kill everything in the node's cgroups and remove them; bounded in time."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)
        kill_cgroup_tree(self.cgroup)
        # Every mount under it lived in the node's mount namespace, gone with its
        # processes: what is left is plain files.
        shutil.rmtree(self.rundir, ignore_errors=True)


def _procs(top: Path) -> set[int]:
    pids: set[int] = set()
    for f in top.rglob("cgroup.procs"):
        with contextlib.suppress(OSError, ValueError):
            pids.update(int(x) for x in f.read_text().split())
    return pids


def kill_cgroup_tree(name: str, timeout: float = 15) -> None:
    """SIGKILL every process under ``/<name>`` of each cgroup hierarchy until none is
    left, then remove the cgroups deepest first."""
    tops = [h / name for h in CGROUP_FS.iterdir() if (h / name).is_dir()]
    deadline = time.monotonic() + timeout
    while True:
        pids = set().union(*(_procs(t) for t in tops)) if tops else set()
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise LabError(f"processes still alive in cgroup /{name}: {sorted(pids)}")
        time.sleep(0.1)
    for top in tops:
        for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):
                d.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()


def sweep_stale_cgroups() -> list[str]:
    """Remove node cgroups (``mlb<pid>-...-kube``) and run directories whose owning
    process died."""
    removed = []
    seen = {
        p.name for h in CGROUP_FS.iterdir() if h.is_dir() for p in h.glob("mlb*-kube") if p.is_dir()
    }
    for name in sorted(seen):
        if _owner_died(name):
            kill_cgroup_tree(name)
            removed.append(name)
    for rundir in RUN_ROOT.glob("mlb*") if RUN_ROOT.is_dir() else ():
        if _owner_died(rundir.name):
            shutil.rmtree(rundir, ignore_errors=True)
            removed.append(str(rundir))
    return removed


def _owner_died(name: str) -> bool:
    """``mlb<pid>-...``: is the lab process that made it gone?"""
    owner = name[3:].split("-", 1)[0]
    return owner.isdigit() and not Path(f"/proc/{owner}").exists()
