"""The CRD manifests in deploy/crds are exactly what the models generate."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from metallb.config.crdgen import crds, render_files
from metallb.config.kinds import KINDS

CRD_DIR = Path(__file__).resolve().parents[3] / "deploy" / "crds"


@pytest.mark.parametrize("name", sorted(render_files()))
def test_committed_crd_matches_models(name: str) -> None:
    """A model change without `tools/gen-crds` fails here, naming the stale file."""
    path = CRD_DIR / name
    assert path.is_file(), f"deploy/crds/{name} missing: run tools/gen-crds"
    assert path.read_text() == render_files()[name], (
        f"deploy/crds/{name} is stale: run tools/gen-crds"
    )


def test_no_stray_files_in_crd_dir() -> None:
    """Nothing in deploy/crds is left over from a kind that no longer exists."""
    assert sorted(p.name for p in CRD_DIR.iterdir()) == sorted(render_files())


def test_every_kind_has_one_storage_version() -> None:
    """The apiserver requires exactly one storage version per CRD."""
    for c in crds():
        assert sum(v["storage"] for v in c["spec"]["versions"]) == 1, c["metadata"]["name"]
    assert len(crds()) == len(KINDS) == 9


def test_schema_is_structural() -> None:
    """No construct a structural schema forbids survives generation."""

    def walk(node: object, path: str) -> None:
        if isinstance(node, dict):
            for bad in ("$ref", "anyOf", "oneOf", "allOf", "const", "title"):
                assert bad not in node, f"{path}: {bad}"
            if "properties" in node:
                assert "additionalProperties" not in node, path
            for k, v in node.items():
                walk(v, f"{path}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")

    for c in crds():
        walk(c, c["metadata"]["name"])
    assert yaml.safe_load(render_files()["metallb.io_bgppeers.yaml"])["spec"]["conversion"]
