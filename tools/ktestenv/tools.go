//go:build tools

// Package ktestenv pins the upstream Kubernetes and etcd main packages that the
// project builds for its tests and lab. Nothing here is compiled into metallb-py;
// the blank imports only keep `go mod tidy` from dropping the requirements.
package ktestenv

import (
	_ "go.etcd.io/etcd/server/v3/etcdmain"
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)
