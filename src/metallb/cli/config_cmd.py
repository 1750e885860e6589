"""``metallb config validate`` and ``metallb config convert``: file reading and printing.

All checking and converting happens in :mod:`metallb.config`; this module reads the
files (``-`` is standard input), turns unreadable input into one clear line per file,
says which documents it did not use and why (:mod:`metallb.config.inventory`), and
prints. Exit codes: 0 valid, 1 invalid or nothing MetalLB found, 2 unreadable input.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from typing import Any

import yaml

from metallb.config.build import build_config
from metallb.config.errors import ConfigError
from metallb.config.gke import convert_gke, expand_gke
from metallb.config.inventory import classify, flatten_lists
from metallb.config.legacy import configmap_to_crs, expand_configmaps, protocol_problems
from metallb.config.types import BGPType
from metallb.config.yamlio import GENERATED_HEADER, dump_documents, load_documents

STDIN = "-"


class InputError(Exception):
    """A file could not be read or is not YAML."""


def _read_text(path: str) -> str:
    try:
        if path == STDIN:
            return sys.stdin.read()
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None


def read_documents(path: str) -> list[Any]:
    """The documents of one file, ``kind: List`` expanded into its items."""
    text = _read_text(path)
    name = "standard input" if path == STDIN else path
    try:
        docs = load_documents(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{name}: not valid YAML{where}: {problem}") from None
    if any(not isinstance(d, dict) for d in docs):
        raise InputError(f"{name}: not Kubernetes YAML: every document must be a mapping")
    return flatten_lists(docs)


@dataclass(frozen=True)
class Inputs:
    """Every file's documents, and what was said about files and documents left out."""

    objects: list[Any]
    notes: list[str]  # "ignored: ..." lines, for documents that are not MetalLB's
    mistakes: list[str]  # documents meant for MetalLB that it cannot read
    metallb_documents: int
    said: list[str] = field(default_factory=list)  # lines shown as they are (GKE shapes)


def read_inputs(paths: list[str], *, gke: bool = False) -> Inputs:
    """Read and classify every file; raise InputError for an unreadable one. With
    ``gke``, a GKE on VMware cluster file (or fragment) stands for what it converts to
    (``config validate`` takes it directly); its shape and warnings go to ``said``, its
    platform-rule violations to ``mistakes``."""
    objects: list[Any] = []
    notes: list[str] = []
    mistakes: list[str] = []
    said: list[str] = []
    used = 0
    for path in paths:
        docs = read_documents(path)
        name = "standard input" if path == STDIN else path
        if not docs:
            mistakes.append(f"{name}: empty: no YAML documents")
            continue
        if gke:
            try:
                docs, gke_notes = expand_gke(docs)
            except ConfigError as exc:
                mistakes.extend(f"{name}: {line}" for line in str(exc).splitlines())
                continue
            said.extend(gke_notes)
        count, unused = classify(docs)
        used += count
        for u in unused:
            (mistakes if u.mistake else notes).append(f"{name}: {u}")
        objects.extend(docs)
    return Inputs(objects, notes, mistakes, used, said)


def inputs_or_report(paths: list[str], *, gke: bool = False) -> tuple[BGPType, Inputs] | None:
    """The BGP mode and the files' documents; None (after saying why on stderr) when
    METALLB_BGP_TYPE is wrong or a file cannot be read: exit code 2."""
    bgp_type = bgp_type_from_env()
    if bgp_type is None:
        return None
    try:
        return bgp_type, read_inputs(paths, gke=gke)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


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
    read = inputs_or_report(args.filename, gke=True)
    if read is None:
        return 2
    bgp_type, inputs = read
    for line in inputs.said:
        print(line, file=sys.stderr)
    for line in inputs.notes:
        print(f"ignored: {line}", file=sys.stderr)
    for line in inputs.mistakes:
        print(f"error: {line}", file=sys.stderr)
    try:
        config = build_config(
            expand_configmaps(inputs.objects),
            bgp_type=bgp_type,
            namespace=args.namespace,
            missing_refs_warn=not args.strict_references,
        )
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if inputs.mistakes:
        return 1
    if not inputs.metallb_documents:
        print(
            "error: no MetalLB configuration found (no metallb.io object, no legacy "
            "`config` ConfigMap)",
            file=sys.stderr,
        )
        return 1
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
        if args.source == "configmap":
            objects = configmap_to_crs(docs[0])
            # Upstream's converter does not check the protocols; its last ConfigMap
            # release refused these, so the user hears about it.
            for problem in protocol_problems(docs[0]):
                print(f"warning: {problem} (MetalLB v0.12 refused this)", file=sys.stderr)
        else:
            gke = convert_gke(docs[0])
            print(*gke.notes(), sep="\n", file=sys.stderr)
            objects = gke.objects
        # Refuse to print something MetalLB would reject (upstream's converter does too).
        build_config(objects, bgp_type=None)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    sys.stdout.write(dump_documents(objects, header=GENERATED_HEADER))
    return 0
