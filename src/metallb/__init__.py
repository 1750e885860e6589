"""metallb-py: MetalLB, the network load balancer for bare-metal Kubernetes, in Python."""

__version__ = "0.1.0"
