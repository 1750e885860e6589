#!/usr/bin/env bash
# Usage: tools/images/wheels.sh   Prints "KEY DIR": a directory holding metallb-py's wheel,
# a wheel of every runtime dependency and one of pip (to install them in the image
# without pip being part of it). Built on the host, where PyPI is reachable; the image
# build then installs from this directory with --no-index. The dependencies are keyed by
# pyproject.toml, the project's wheel also by src/ and README.md, so an edit under src/
# rebuilds one wheel.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pip=${PIP:-$repo_root/.venv/bin/pip}
[[ -x $pip ]] || { log "$pip missing: run make setup-python"; exit 1; }
# The wheels with compiled code (cryptography, pydantic-core, ...) are those of the
# host's Python: it must be the images' (Debian bookworm's python3, 3.11).
py=$("$(dirname "$pip")/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[[ $py == 3.11 ]] || { log "the host's Python is $py, the images' is 3.11: wheels would not match"; exit 1; }
wheels="$images_cache/wheels"
deps_key=$(inputs_key pyproject.toml tools/images/wheels.sh)
project_key=$(inputs_key pyproject.toml README.md src -- "$deps_key")
deps="$wheels/deps-$deps_key"
project="$wheels/project-$project_key"
set_dir="$wheels/set-$project_key"

# pip's output goes to a log shown only on failure (setuptools' warnings are noise here).
pip_log=$(mktemp)
# pip builds from a copy of the sources, so that setuptools' build/ and egg-info stay out
# of the tree; PIP_FIND_LINKS is cleared so that only PyPI and the project feed the set.
src_copy=$(mktemp -d)
trap 'rm -rf "$src_copy" "$pip_log"' EXIT
wheel() {
  PIP_FIND_LINKS='' "$pip" wheel --wheel-dir "$@" > "$pip_log" 2>&1 \
    || { cat "$pip_log" >&2; log "pip wheel failed"; exit 1; }
}
if [[ ! -d $deps || ! -d $project ]]; then
  cp -r "$repo_root/pyproject.toml" "$repo_root/README.md" "$repo_root/src" "$src_copy/"
fi
if [[ ! -d $deps ]]; then
  log "building the dependencies' wheels on the host ..."
  rm -rf "$deps.tmp"
  wheel "$deps.tmp" "$src_copy" pip
  rm -f "$deps.tmp"/metallb_py-*.whl
  mv "$deps.tmp" "$deps"
fi
if [[ ! -d $project ]]; then
  log "building metallb-py's wheel ..."
  rm -rf "$project.tmp"
  wheel "$project.tmp" --no-deps "$src_copy"
  mv "$project.tmp" "$project"
fi
if [[ ! -d $set_dir ]]; then
  rm -rf "$set_dir.tmp"
  mkdir -p "$set_dir.tmp"
  ln "$deps"/*.whl "$project"/*.whl "$set_dir.tmp/"
  mv "$set_dir.tmp" "$set_dir"
fi
# Older sets (an earlier pyproject.toml or src/) are not needed again: rebuilt if they are.
find "$wheels" -mindepth 1 -maxdepth 1 -not -name "deps-$deps_key" \
  -not -name "project-$project_key" -not -name "set-$project_key" -exec rm -rf {} +
echo "$project_key $set_dir"
