//go:build tools

// Package knode pins the upstream Kubernetes components that the lab's real nodes
// need beside the control plane (kubelet, kube-proxy, and kube-scheduler to place their
// Pods), at the control plane's version. Nothing here is
// compiled into metallb-py; the blank imports only keep `go mod tidy` from dropping
// the requirements.
package knode

import (
	_ "k8s.io/kubernetes/cmd/kube-proxy/app"
	_ "k8s.io/kubernetes/cmd/kube-scheduler/app"
	_ "k8s.io/kubernetes/cmd/kubelet/app"
)
