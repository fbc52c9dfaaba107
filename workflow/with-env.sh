#!/usr/bin/env bash
# Run a command inside the project's virtual environment, creating or updating it first.
#   ./workflow/with-env.sh snakemake --workflow-profile workflow/profiles/default
#   ./workflow/with-env.sh pytest
# The venv is .venv at the repository root (HIERPHASE_VENV overrides). Its interpreter is
# HIERPHASE_PYTHON (a command or a path) if set, else the one the venv was made with, else the
# first of python3, python3.13, python3.12, python3.11 that is CPython 3.11-3.13 with venv.
# Everything in it comes from the lock file of that Python and this platform,
# envs/lock-py<X.Y>-<linux-x86_64|linux-aarch64|macos-arm64>.txt (every package pinned, with
# hashes; written by workflow/scripts/lock-env.sh): the venv is made anew from it whenever the
# lock file, the interpreter or this script changes. On Linux x86_64 HIERPHASE_TORCH picks the
# torch: cpu (envs/lock-py<X.Y>-linux-x86_64-cpu.txt, PyTorch's CPU build and no torchvision,
# about 2.2 GB) or cuda (PyPI's CUDA build, 6.5 GB); unset, the one the venv was made with, else
# cpu on a machine without an NVIDIA driver and cuda on one with it (and cuda, saying so, where
# the CPU build cannot be fetched from PyTorch's page). hierphase itself is installed editable,
# without dependencies, again whenever pyproject.toml changes.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${HIERPHASE_VENV:-$root/.venv}"
supported="3.11 3.12 3.13"
say() { echo "with-env: $*" >&2; }
# sha256 of stdin (macOS has shasum, not sha256sum)
digest() {
  if command -v sha256sum >/dev/null; then sha256sum; else shasum -a 256; fi | cut -d' ' -f1
}

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) platform=linux-x86_64 ;;
  Linux-aarch64 | Linux-arm64) platform=linux-aarch64 ;;
  Darwin-arm64) platform=macos-arm64 ;;
  *)
    say "no lock file for $(uname -s) $(uname -m): the environment is locked for Linux (x86_64,"
    say "aarch64) and macOS (arm64); on another system install the package with its extras by hand"
    say "(pip install -e '.[dev]', unpinned)"
    exit 1
    ;;
esac

# "X.Y" of a CPython interpreter that can make venvs, or nothing
python_version() {
  "$1" -c 'import sys, venv, ensurepip
if sys.implementation.name == "cpython": print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true
}

install_hint() {
  say "install one, then name it with HIERPHASE_PYTHON (a command or a path), for example:"
  say "  Debian 13 / Ubuntu 24.04: apt install python3-venv (their python3 is 3.13 / 3.12)"
  say "  older Debian or Ubuntu:   apt install python3.11-venv, or uv python install 3.12"
  say "  macOS:                    brew install python@3.12"
  say "  then: HIERPHASE_PYTHON=python3.12 ./workflow/with-env.sh $*"
}

if [ -n "${HIERPHASE_PYTHON:-}" ]; then
  python="$HIERPHASE_PYTHON"
  version="$(python_version "$python")"
  if [ -z "$version" ] || [[ " $supported " != *" $version "* ]]; then
    found="$("$python" -c 'import sys; print(sys.implementation.name, "%d.%d" % sys.version_info[:2])' 2>/dev/null || echo "no interpreter")"
    say "HIERPHASE_PYTHON=$python: $found; hierphase needs CPython $supported with the venv module"
    install_hint "$@"
    exit 1
  fi
else
  version=""
  candidates=(python3 python3.13 python3.12 python3.11)
  recorded="$(cat "$venv/.hierphase-python" 2>/dev/null || true)"
  [ -z "$recorded" ] || candidates=("$recorded" "${candidates[@]}")
  for python in "${candidates[@]}"; do
    command -v "$python" >/dev/null || continue
    version="$(python_version "$python")"
    [[ -z "$version" || " $supported " != *" $version "* ]] || break
    version=""
  done
  if [ -z "$version" ]; then
    found="$(command -v python3 >/dev/null && python3 --version 2>&1 || echo "no python3")"
    say "hierphase needs CPython $supported with the venv module; found: $found"
    install_hint "$@"
    exit 1
  fi
fi
python="$(command -v "$python")"
lock="$root/envs/lock-py$version-$platform.txt"

# The torch of Linux x86_64: PyTorch's CPU build (the -cpu lock) or PyPI's CUDA build.
has_nvidia_driver() { [ -e /proc/driver/nvidia/version ] || command -v nvidia-smi >/dev/null; }
torch="${HIERPHASE_TORCH:-$(cat "$venv/.hierphase-torch" 2>/dev/null || true)}"
case "$torch" in
  cpu | cuda) ;;
  "") if has_nvidia_driver; then torch=cuda; else torch=cpu; fi ;;
  *)
    say "HIERPHASE_TORCH=$torch: use cpu (PyTorch's CPU build of torch, without torchvision) or"
    say "cuda (the CUDA build, with torchvision)"
    exit 1
    ;;
esac
if [ "$platform" = linux-x86_64 ] && [ "$torch" = cpu ]; then
  if [ -f "$root/envs/lock-py$version-$platform-cpu.txt" ]; then
    lock="$root/envs/lock-py$version-$platform-cpu.txt"
  elif [ -n "${HIERPHASE_TORCH:-}" ]; then
    say "HIERPHASE_TORCH=cpu: no CPU-only lock for Python $version"
    say "(envs/lock-py$version-$platform-cpu.txt);"
    say "it is locked where PyTorch's CPU build could be solved: name another Python with"
    say "HIERPHASE_PYTHON, or HIERPHASE_TORCH=cuda (docs/configuration.md, \"A CPU-only torch\")"
    exit 1
  else
    torch=""  # no CPU-only lock for this Python: the CUDA build, chosen again next time
    no_cpu_lock=1
  fi
fi

# the CPU-only variant's torch, locked in a file of its own (PyTorch's page, asked for torch alone)
torch_lock="${lock%.txt}-torch.txt"
[ "$lock" != "${lock%-cpu.txt}" ] || torch_lock=""
# what the venv was made from: its lock files, this script and the interpreter
made_from() { echo "$(cat "$@" "${BASH_SOURCE[0]}" | digest) $python"; }
want="$(made_from "$lock" ${torch_lock:+"$torch_lock"})"
if [ "$(cat "$venv/.hierphase-locked" 2>/dev/null)" != "$want" ]; then
  say "installing hierphase's environment into $venv from ${lock#"$root/"} (Python $version:"
  say "$python; first run: a few minutes)"
  if [ "$platform" = linux-x86_64 ] && [ "$lock" != "${lock%-cpu.txt}" ]; then
    say "the CPU-only environment (about 2.2 GB): PyTorch's CPU build of torch, no torchvision"
    say "(its ImageNet classifiers need HIERPHASE_TORCH=cuda, the CUDA build: 6.5 GB)"
  elif [ "$platform" = linux-x86_64 ] && ! has_nvidia_driver; then
    say "no NVIDIA driver here, and this lock's torch is a CUDA build (the environment takes"
    say "6.5 GB, 5.2 GB of it torch and its CUDA libraries); the CPU-only environment takes about"
    say "2.2 GB: docs/configuration.md, \"A CPU-only torch\""
    [ -z "${no_cpu_lock:-}" ] || say "(it is not locked for Python $version; it is for the Pythons of" \
      "envs/lock-py*-linux-x86_64-cpu.txt: pick one with HIERPHASE_PYTHON)"
  fi
  # a fresh venv (emptied if it exists): nothing is left over from an older lock
  if [ -f "$venv/pyvenv.cfg" ]; then "$python" -m venv --clear "$venv"; else "$python" -m venv "$venv"; fi
  "$venv/bin/python" -m pip install -q --require-hashes --no-deps -r "$lock"
  if [ -n "$torch_lock" ] &&
    ! "$venv/bin/python" -m pip install -q --require-hashes --no-deps -r "$torch_lock"; then
    # PyTorch's page unreachable (or its file not the locked one): asked for, stop; else the
    # CUDA build from PyPI over the same pins, kept next time (as if HIERPHASE_TORCH=cuda)
    say "PyTorch's CPU build of torch could not be installed from ${torch_lock#"$root/"}"
    if [ -n "${HIERPHASE_TORCH:-}" ]; then
      say "(HIERPHASE_TORCH=cpu): reach its page, or take the CUDA build with HIERPHASE_TORCH=cuda"
      exit 1
    fi
    lock="$root/envs/lock-py$version-$platform.txt"
    torch=cuda
    say "taking the CUDA build from ${lock#"$root/"} instead (6.5 GB; HIERPHASE_TORCH=cpu tries"
    say "the CPU build again)"
    "$venv/bin/python" -m pip install -q --require-hashes --no-deps -r "$lock"
    want="$(made_from "$lock")"
  fi
  echo "$python" >"$venv/.hierphase-python"
  echo "$torch" >"$venv/.hierphase-torch"
  echo "$want" >"$venv/.hierphase-locked"
fi
project="$(digest <"$root/pyproject.toml")"
if [ "$(cat "$venv/.hierphase-installed" 2>/dev/null)" != "$project" ]; then
  "$venv/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$root"
  echo "$project" >"$venv/.hierphase-installed"
fi
# numba compiles BP's and the grammar's inside-outside kernels once and caches them beside their
# source: do it here, not in every parallel job of the first run (again whenever a kernel source
# changes).
sources=()
for f in bp.py bp_kernels.py grammar/inside.py grammar/kernels.py; do
  [ ! -f "$root/src/hierphase/$f" ] || sources+=("$root/src/hierphase/$f")
done
kernels="$(cat "${sources[@]}" | digest)"
if [ "$(cat "$venv/.hierphase-kernels" 2>/dev/null)" != "$kernels" ]; then
  "$venv/bin/python" -c "from hierphase import bp, grammar; bp.compile_kernels(); grammar.compile_kernels()"
  echo "$kernels" >"$venv/.hierphase-kernels"
fi
cd "$root"
# Config files are data. Snakemake reads every --configfile (and would evaluate a YTE template
# among them) while it parses its command line, before the Snakefile can check anything: refuse
# templating, object tags, alias bombs and the like here, naming the file (docs/security.md).
# Snakemake's parser takes any unambiguous prefix of an option, hence --configf*.
configfiles=()
collecting=0
for arg in "$@"; do
  case "$arg" in
    --configf*=*) configfiles+=("${arg#*=}") collecting=0 ;;
    --configf*) collecting=1 ;;
    -*) collecting=0 ;;
    *) [ "$collecting" = 0 ] || configfiles+=("$arg") ;;
  esac
done
if [ "${#configfiles[@]}" -gt 0 ]; then
  "$venv/bin/python" -m hierphase.plan "${configfiles[@]}" || exit 1
fi
export PATH="$venv/bin:$PATH" VIRTUAL_ENV="$venv"
exec "$@"
