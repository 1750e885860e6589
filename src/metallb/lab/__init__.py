"""The lab: a real Kubernetes control plane and a simulated bare-metal LAN on one Linux machine."""
