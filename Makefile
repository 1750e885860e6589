# The two commands a user needs are `make lab` and `make test`; both run the
# same idempotent `setup` first, so a fresh clone needs nothing else.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages the tests and the lab drive as real peers and clients.
# runc, the CNI plugins, iptables and conntrack are what the lab's real nodes run beside
# the kubelet (containerd itself is built: tools/knode/build.sh).
DEBS := frr frr-pythontools bird2 gobgpd iputils-arping iputils-ping ndisc6 iproute2 nftables tcpdump curl \
	runc containernetworking-plugins iptables conntrack
# What `make images` builds with: a Docker engine (docker.io brings containerd and runc),
# mmdebstrap for the Debian bases, gcc for the lab's static pause binary.
DEBS += docker.io mmdebstrap gcc libc6-dev

.PHONY: help setup setup-debs setup-python setup-controlplane setup-knode setup-frrk8s setup-mlpeer setup-helm images test lint typecheck contracts pytest lab clean

help:
	@echo "make lab    bring up the local lab (see README)"
	@echo "make test   install what is missing, then lint, type-check and run the whole suite"
	@echo "make images build the controller, speaker, speaker-frr and lab images here (see README)"

setup: setup-debs setup-python setup-controlplane setup-knode setup-frrk8s setup-mlpeer setup-helm

# apt runs only when a package is missing, so a warm setup costs one dpkg query.
setup-debs:
	@tools/timed setup-debs tools/setup-debs.sh $(DEBS)

# The stamp depends on pyproject.toml, so pip runs again only when the pins change.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	tools/timed pip $(BIN)/pip install -q --upgrade pip
	tools/timed pip-install $(BIN)/pip install -q -e '.[dev]'
	touch $@

setup-python: $(VENV)/.installed
	@echo "setup: Python environment ready in $(VENV)"

setup-controlplane:
	@tools/timed setup-controlplane tools/ktestenv/build.sh > .ktestenv-bin.tmp
	@mv .ktestenv-bin.tmp .ktestenv-bin

# kubelet, kube-proxy, kube-scheduler and containerd for the lab's real nodes.
setup-knode:
	@tools/timed setup-knode tools/knode/build.sh > .knode-bin.tmp
	@mv .knode-bin.tmp .knode-bin

# frr-k8s's daemons and CRDs (the frr-k8s mode's tests and `lab up --bgp-mode frr-k8s`).
setup-frrk8s:
	@tools/timed setup-frrk8s bash -c 'tools/frrk8s/build.sh >/dev/null && tools/frrk8s/crds.sh >/dev/null'

# A hashicorp/memberlist peer configured as upstream's speaker (the membership interop
# tests and bench/memberlist_interop.py run it beside our members).
setup-mlpeer:
	@tools/timed setup-mlpeer tools/mlpeer/build.sh > .mlpeer-bin.tmp
	@mv .mlpeer-bin.tmp .mlpeer-bin

# The real helm, for the chart tests (lint, template, server-side dry run).
setup-helm:
	@tools/timed setup-helm tools/helm/build.sh > .helm-bin.tmp
	@mv .helm-bin.tmp .helm-bin

# The images, built with no registry (tools/images/build.sh); a second run with nothing
# changed builds nothing. Prints each image's reference and `docker save` tarball.
images: setup-debs setup-python
	@tools/timed images tools/images/build.sh

test: setup images lint typecheck contracts pytest

lint:
	tools/timed ruff $(BIN)/ruff check src tests bench images
	tools/timed ruff-format $(BIN)/ruff format --check src tests bench images

typecheck:
	tools/timed mypy $(BIN)/mypy

contracts:
	tools/timed import-contracts $(BIN)/lint-imports --no-cache

# pytest exits 5 when it collected nothing; an empty suite is a failure here.
pytest:
	rc=0; METALLB_KTESTENV_BIN=$$(cat .ktestenv-bin) METALLB_KNODE_BIN=$$(cat .knode-bin) METALLB_MLPEER_BIN=$$(cat .mlpeer-bin) METALLB_HELM=$$(cat .helm-bin) tools/timed pytest $(BIN)/pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

lab: setup images
	METALLB_KTESTENV_BIN=$$(cat .ktestenv-bin) METALLB_KNODE_BIN=$$(cat .knode-bin) $(BIN)/metallb lab up

clean:
	rm -rf $(VENV) .ktestenv-bin .knode-bin .mlpeer-bin .helm-bin .lab .pytest_cache .mypy_cache .ruff_cache
