"""``metallb config validate`` and ``metallb config convert``: file reading and printing.

All checking and converting happens in :mod:`metallb.config`; this module reads the
files, turns unreadable input into one clear line per file, and prints.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import yaml

from metallb.config.build import build_config
from metallb.config.errors import ConfigError
from metallb.config.gke import convert_gke, expand_gke
from metallb.config.legacy import configmap_to_crs, expand_configmaps
from metallb.config.types import BGPType
from metallb.config.yamlio import GENERATED_HEADER, dump_documents, load_documents


class InputError(Exception):
    """A file could not be read or is not YAML."""


def read_documents(path: str) -> list[Any]:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    try:
        docs = load_documents(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{path}: not valid YAML{where}: {problem}") from None
    if any(not isinstance(d, dict) for d in docs):
        raise InputError(f"{path}: not Kubernetes YAML: every document must be a mapping")
    return docs


def bgp_type_from_env() -> BGPType | None:
    value = os.environ.get("METALLB_BGP_TYPE", "") or "native"
    try:
        return BGPType(value)
    except ValueError:
        print(
            f"error: METALLB_BGP_TYPE={value!r} is not one of native, frr, frr-k8s",
            file=sys.stderr,
        )
        return None


def validate(args: argparse.Namespace) -> int:
    """Exit 0 when the files form a valid configuration; else list every problem."""
    bgp_type = bgp_type_from_env()
    if bgp_type is None:
        return 2
    objects: list[Any] = []
    for path in args.filename:
        try:
            objects.extend(read_documents(path))
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    try:
        # A GKE on VMware cluster file (or fragment) is validated as what it converts to.
        objects, notes = expand_gke(objects)
        if notes:
            print(*notes, sep="\n", file=sys.stderr)
        config = build_config(expand_configmaps(objects), bgp_type=bgp_type)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(
        f"valid ({bgp_type.value} BGP rules): {len(config.pools)} pools, "
        f"{len(config.l2_advertisements)} L2 advertisements, "
        f"{len(config.bgp_advertisements)} BGP advertisements, {len(config.peers)} peers"
    )
    return 0


def convert(args: argparse.Namespace) -> int:
    """Print the metallb.io YAML equivalent of a legacy ConfigMap or GKE cluster file."""
    try:
        docs = read_documents(args.filename)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if len(docs) != 1:
        count = len(docs)
        print(f"error: {args.filename}: expected one YAML document, got {count}", file=sys.stderr)
        return 2
    try:
        if args.source == "gke":
            gke = convert_gke(docs[0])
            print(*gke.notes(), sep="\n", file=sys.stderr)
            objects = gke.objects
        else:
            objects = configmap_to_crs(docs[0])
        # Refuse to print something MetalLB would reject (upstream's converter does too).
        build_config(objects, bgp_type=None)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    sys.stdout.write(dump_documents(objects, header=GENERATED_HEADER))
    return 0
