"""``metallb plan``: read files, run :mod:`metallb.plan`, print JSON or a table."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from metallb import views
from metallb.cli.config_cmd import inputs_or_report
from metallb.config.errors import ConfigError
from metallb.plan import PlanOutput, plan_objects


def _node_names(objects: list[Any]) -> set[str]:
    return {
        views.Node.from_dict(o).name
        for o in objects
        if isinstance(o, dict) and o.get("apiVersion") == "v1" and o.get("kind") == "Node"
    }


def run(args: argparse.Namespace) -> int:
    """Exit 0 with the plan; 1 when the configuration is invalid; 2 for unreadable input
    or a ``--down-node`` that names no Node of the input."""
    read = inputs_or_report(args.filename)
    if read is None:
        return 2
    bgp_type, inputs = read
    # Documents meant for MetalLB that it cannot read change the plan: say so.
    for line in inputs.mistakes:
        print(f"warning: {line}", file=sys.stderr)
    nodes = _node_names(inputs.objects)
    unknown = sorted(set(args.down_node) - nodes)
    if unknown:
        known = ", ".join(sorted(nodes)) or "none"
        print(
            f"error: --down-node {', '.join(unknown)}: no such Node in the input (Nodes: {known})",
            file=sys.stderr,
        )
        return 2
    try:
        out = plan_objects(
            inputs.objects, down_nodes=args.down_node, bgp_type=bgp_type, namespace=args.namespace
        )
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    for warning in out.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.output == "json":
        print(json.dumps(out.to_json(), indent=2))
    else:
        _print_tables(out)
    return 0


def _print_tables(out: PlanOutput) -> None:
    # Imported here so that only the table path pays rich's import time.
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    services = Table(title="Services", title_justify="left")
    for col in ("NAMESPACE", "NAME", "IPS", "POOL", "LAYER2 NODE", "INTERFACES", "ERROR"):
        services.add_column(col)
    for s in out.services:
        services.add_row(
            s.namespace,
            s.name,
            ", ".join(s.ips) or "-",
            s.pool or "-",
            s.layer2.node if s.layer2 else (f"- ({s.layer2_note})" if s.layer2_note else "-"),
            (", ".join(s.layer2.interfaces) or "all") if s.layer2 else "-",
            s.error or "",
        )
    pools = Table(title="Pools", title_justify="left")
    for col in ("NAME", "ASSIGNED IPV4", "AVAILABLE IPV4", "ASSIGNED IPV6", "AVAILABLE IPV6"):
        pools.add_column(col, justify="left" if col == "NAME" else "right")
    for name, c in out.pools:
        pools.add_row(
            name,
            str(c.assigned_ipv4),
            str(c.available_ipv4),
            str(c.assigned_ipv6),
            str(c.available_ipv6),
        )
    console = Console(width=160)
    console.print(services)
    console.print(pools)
