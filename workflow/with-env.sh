#!/usr/bin/env bash
# Run a command inside the project's virtual environment, creating or updating it first.
#   ./workflow/with-env.sh snakemake --workflow-profile workflow/profiles/default
#   ./workflow/with-env.sh pytest
# The venv is .venv at the repository root (HIERPHASE_VENV overrides). It is rebuilt when
# pyproject.toml or this script changes. torch/torchvision are pinned here, as a pair that installs
# on this kind of machine; the package's own requirements stay loose for GPU clusters.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${HIERPHASE_VENV:-$root/.venv}"
stamp="$venv/.hierphase-installed"
want="$(cat "$root/pyproject.toml" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)"
case "$(uname -m)" in
  aarch64|arm64) torch_pair=(torch==2.9.1 torchvision==0.24.1) ;;
  *) torch_pair=(torch==2.14.1 torchvision==0.29.1) ;;
esac
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "with-env: installing hierphase and its tools into $venv (first run: a few minutes)" >&2
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q "${torch_pair[@]}"
  "$venv/bin/python" -m pip install -q -e "$root[dev]"
  echo "$want" >"$stamp"
fi
# numba compiles BP's fused kernels once and caches them beside src/hierphase/bp.py: do it here,
# not in every parallel job of the first run (again whenever bp.py changes).
kernels="$(sha256sum "$root/src/hierphase/bp.py" | cut -d' ' -f1)"
if [ "$(cat "$venv/.hierphase-kernels" 2>/dev/null)" != "$kernels" ]; then
  "$venv/bin/python" -c "from hierphase import bp; bp.compile_kernels()"
  echo "$kernels" >"$venv/.hierphase-kernels"
fi
cd "$root"
export PATH="$venv/bin:$PATH" VIRTUAL_ENV="$venv"
exec "$@"
