#!/usr/bin/env bash
# Run a command inside the project's virtual environment, creating or updating it first.
#   ./workflow/with-env.sh snakemake --workflow-profile workflow/profiles/default
#   ./workflow/with-env.sh pytest
# The venv is .venv at the repository root (HIERPHASE_VENV overrides). Everything in it comes from
# the platform's lock file, envs/lock-linux-<machine>.txt (every package pinned, with hashes;
# written by workflow/scripts/lock-env.sh): the venv is made anew from it whenever the lock file or
# this script changes. hierphase itself is installed editable, without dependencies, again whenever
# pyproject.toml changes.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${HIERPHASE_VENV:-$root/.venv}"
case "$(uname -m)" in
  aarch64|arm64) lock="$root/envs/lock-linux-aarch64.txt" ;;
  *) lock="$root/envs/lock-linux-x86_64.txt" ;;
esac
want="$(cat "$lock" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$venv/.hierphase-locked" 2>/dev/null)" != "$want" ]; then
  echo "with-env: installing hierphase's environment into $venv from ${lock#"$root/"} (first run: a few minutes)" >&2
  # a fresh venv (emptied if it exists): nothing is left over from an older lock
  if [ -f "$venv/pyvenv.cfg" ]; then python3 -m venv --clear "$venv"; else python3 -m venv "$venv"; fi
  "$venv/bin/python" -m pip install -q --require-hashes --no-deps -r "$lock"
  echo "$want" >"$venv/.hierphase-locked"
fi
project="$(sha256sum "$root/pyproject.toml" | cut -d' ' -f1)"
if [ "$(cat "$venv/.hierphase-installed" 2>/dev/null)" != "$project" ]; then
  "$venv/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$root"
  echo "$project" >"$venv/.hierphase-installed"
fi
# numba compiles BP's fused kernels once and caches them beside their source: do it here, not in
# every parallel job of the first run (again whenever a kernel source changes).
sources=()
for f in bp.py bp_kernels.py; do
  [ ! -f "$root/src/hierphase/$f" ] || sources+=("$root/src/hierphase/$f")
done
kernels="$(cat "${sources[@]}" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$venv/.hierphase-kernels" 2>/dev/null)" != "$kernels" ]; then
  "$venv/bin/python" -c "from hierphase import bp; bp.compile_kernels()"
  echo "$kernels" >"$venv/.hierphase-kernels"
fi
cd "$root"
export PATH="$venv/bin:$PATH" VIRTUAL_ENV="$venv"
exec "$@"
