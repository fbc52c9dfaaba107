#!/usr/bin/env bash
# Solve the whole environment once per Python and platform and write it down:
#   envs/lock-py<python>-<platform>.txt   every package pinned, with hashes (what
#                                          workflow/with-env.sh installs), for CPython 3.11, 3.12
#                                          and 3.13 on linux-x86_64, linux-aarch64 and macos-arm64
#   envs/lock-py<python>-linux-x86_64-cpu.txt  the CPU-only variant of Linux x86_64 (below), for
#   envs/lock-py<python>-linux-x86_64-cpu-torch.txt  each Python whose CPU build of torch the solve
#                                          can see: all but torch, and torch with PyTorch's page
#   envs/lock-lint.txt                     the linters alone (snakefmt, actionlint), for the light
#                                          lint job of .github/workflows/ci.yml (Python 3.12, Linux
#                                          x86_64)
#   envs/{rhm,learned,images,mdlm,docs}.yaml  conda environments (--sdm conda) whose pins are read
#                                          from the reference lock (below)
# Run it after changing a requirement in pyproject.toml or a torch pair below:
#   ./workflow/scripts/lock-env.sh            solve what changed, then write the conda files
#   ./workflow/scripts/lock-env.sh --upgrade  solve everything anew (versions may move)
#   ./workflow/scripts/lock-env.sh envs       only rewrite the conda files from the existing lock
# Without --upgrade no pinned version moves: an existing lock file's pins are constraints of its
# own solve, and a new lock file is held to the reference lock's versions (the pipeline's tables
# are byte-identical on every Python), except the torch family, which follows its platform's pair.
# Solving uses uv (`pip install uv`) with pip's own index configuration (`pip config list`: extra
# indexes are searched as pip searches them, best version across all of them).
# tests/test_environment.py checks the locks against pyproject.toml and the conda files against
# the lock.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
pythons=(3.11 3.12 3.13)
platforms=(linux-x86_64 linux-aarch64 macos-arm64)
# the lock whose versions the others follow, and the conda files' pins and Python
reference_python=3.11
reference=envs/lock-py$reference_python-linux-x86_64.txt

# torch/torchvision: a pair that installs on each platform. On Linux x86_64 and macOS the current
# release (a CUDA build on Linux, Metal/CPU on macOS); on Linux aarch64 a release whose PyPI
# wheels are a CPU build (from 2.11 on they bring the CUDA libraries there too).
torch_pair() {
  case "$1" in
    linux-x86_64 | macos-arm64) printf 'torch==2.14.1\ntorchvision==0.29.1\n' ;;
    linux-aarch64) printf 'torch==2.9.1\ntorchvision==0.24.1\n' ;;
  esac
}

# The CPU-only variant of Linux x86_64, which with-env.sh takes on a machine without an NVIDIA
# driver: PyPI's x86_64 torch is a CUDA build that brings 4 GB of CUDA libraries, so this variant
# takes PyTorch's CPU build of torch from PyTorch's own page of torch files ($cpu_links, written
# into the lock for pip) and leaves out torchvision (the `imagenet` extra: PyPI's torchvision needs
# the CUDA build, and the CPU one is on PyTorch's index only). Every other pin is the reference's.
cpu_torch='torch==2.13.0+cpu'
cpu_links=https://download.pytorch.org/whl/cpu/torch/
cpu_extras=(images images-adm workflow test bench)

# uv's name of a platform
uv_platform() {
  case "$1" in
    linux-x86_64) echo x86_64-manylinux_2_28 ;;
    linux-aarch64) echo aarch64-manylinux_2_28 ;;
    macos-arm64) echo aarch64-apple-darwin ;;
  esac
}

# name==version of every pin of lock file $1, without the torch family (torch, torchvision and
# the CUDA libraries and compilers they bring), which each platform pins on its own.
torch_family='^(torch|torchvision|triton|nvidia-[a-z0-9-]+|cuda-[a-z0-9-]+)=='
pins_without_torch() {
  grep -E '^[A-Za-z0-9]' "$1" | sed 's/ .*//' | grep -viE "$torch_family" || true
}

lock() {
  local upgrade="$1" uv
  uv="$(command -v uv || true)"
  [ -n "$uv" ] || { echo "lock-env: uv not found; install it with 'pip install uv'" >&2; exit 1; }
  local indexes=() url
  for url in $(python3 -m pip config get global.extra-index-url 2>/dev/null || true); do
    indexes+=(--extra-index-url "$url")
  done
  local links
  links="$(python3 -m pip config get global.find-links 2>/dev/null || true)"
  [ -z "$links" ] || indexes+=(--find-links "$links")
  local inputs
  inputs="$(mktemp -d)"
  trap 'rm -rf "$inputs"' RETURN
  # the reference first: the other files are held to its versions
  solve "$reference_python" linux-x86_64 "$upgrade"
  local python platform
  for python in "${pythons[@]}"; do
    for platform in "${platforms[@]}"; do
      [ "$python-$platform" = "$reference_python-linux-x86_64" ] || solve "$python" "$platform" "$upgrade"
    done
  done
  for python in "${pythons[@]}"; do solve_cpu "$python" "$upgrade"; done
  # the linters, at the reference's versions
  printf 'snakefmt\nactionlint-py-kjanat\n' >"$inputs/lint.in"
  pins_without_torch "$reference" >"$inputs/held-lint.txt"
  compile 3.12 linux-x86_64 "$inputs/held-lint.txt" envs/lock-lint.txt "$inputs/lint.in"
}

# solve one lock file: $1 python, $2 platform, $3 upgrade (1 or 0); $inputs is lock's scratch folder
solve() {
  local python="$1" platform="$2" upgrade="$3"
  local out="envs/lock-py$python-$platform.txt" held="$inputs/held-$python-$platform.txt"
  { torch_pair "$platform"; printf 'pip\nsetuptools\n'; } >"$inputs/platform-$platform.in"
  : >"$held"
  if [ "$upgrade" = 0 ] && [ -f "$out" ]; then
    grep -E '^[A-Za-z0-9]' "$out" | sed 's/ .*//' >"$held"
  elif [ "$out" != "$reference" ]; then
    pins_without_torch "$reference" >"$held"
  fi
  # pip and setuptools are locked too: with-env.sh builds the editable package without build
  # isolation, from the locked setuptools.
  compile "$python" "$platform" "$held" "$out" \
    "$root/pyproject.toml" --extra dev "$inputs/platform-$platform.in"
}

# solve the CPU-only variant of Linux x86_64 for Python $1 ($2 upgrade), with PyTorch's page of
# torch files where it can be reached, else from pip's configured sources alone. Where neither has
# the CPU build for that Python, an existing torch file (its hash as PyTorch's page lists it) is
# kept and the rest is that Python's own lock without the torch family: the CPU build requires
# nothing the CUDA build does not, bar the CUDA libraries (where both are solved, the two are the
# same, hashes and all: tests/test_environment.py). With no torch file either, say so and write
# nothing (with-env.sh then takes the CUDA lock).
solve_cpu() {
  local python="$1" upgrade="$2"
  local out="envs/lock-py$python-linux-x86_64-cpu.txt" held="$inputs/held-$python-cpu.txt"
  local torch_out="${out%.txt}-torch.txt"
  printf '%s\npip\nsetuptools\n' "$cpu_torch" >"$inputs/platform-cpu.in"
  if [ "$upgrade" = 0 ] && [ -f "$out" ]; then
    grep -E '^[A-Za-z0-9]' "$out" | sed 's/ .*//' >"$held"
  else
    pins_without_torch "$reference" >"$held"
  fi
  local extras=() extra links=()
  for extra in "${cpu_extras[@]}"; do extras+=(--extra "$extra"); done
  if curl -fsS -o /dev/null --max-time 20 "$cpu_links" 2>/dev/null; then
    links=(--find-links "$cpu_links")
  fi
  if ! compile "$python" linux-x86_64 "$held" "$out" "$root/pyproject.toml" "${extras[@]}" \
    "$inputs/platform-cpu.in" "${links[@]}" 2>"$inputs/cpu.err"; then
    rm -f "$root/$out.new"
    if grep -q '^torch==' "$torch_out" 2>/dev/null; then
      lock_without_torch "envs/lock-py$python-linux-x86_64.txt" >"$out"
      echo "lock-env: no $cpu_torch for Python $python here ($cpu_links unreachable and not among" \
        "pip's sources): $torch_out kept, $out from envs/lock-py$python-linux-x86_64.txt" \
        "without the torch family" >&2
    else
      echo "lock-env: no $cpu_torch for Python $python here ($cpu_links unreachable and not among" \
        "pip's sources): $out not written" >&2
    fi
    return 0
  fi
  # torch goes to a file of its own, with PyTorch's page for pip to find it on (the hash pins the
  # file): with-env.sh installs the rest first from pip's usual sources, without asking that page
  {
    echo "# PyTorch's CPU build of torch for $out, from PyTorch's page of torch files"
    echo "# (written by ./workflow/scripts/lock-env.sh; workflow/with-env.sh installs it last)"
    echo "--find-links $cpu_links"
    awk '/^torch==/ {keep = 1; print; next} keep && /^ / {print; next} {keep = 0}' "$out"
  } >"$torch_out"
  awk '/^torch==/ {skip = 1; next} skip && /^ / {next} {skip = 0; print}' "$out" >"$out.new"
  mv "$out.new" "$out"
  grep -q '^torch==' "$torch_out" || { echo "lock-env: no torch pin in $out" >&2; exit 1; }
}

# lock file $1 without the torch family, hashes kept
lock_without_torch() {
  awk -v family="$torch_family" 'tolower($0) ~ family {skip = 1; next}
    skip && /^ / {next} {skip = 0; print}' "$1"
}

# uv pip compile: $1 python, $2 platform, $3 constraints, $4 output, the rest the requirements
# (uv, indexes and inputs are lock's). MACOSX_DEPLOYMENT_TARGET: torch's macOS wheels are for
# macOS 14 and newer.
compile() {
  local python="$1" platform="$2" held="$3" out="$4"
  shift 4
  (cd "$inputs" && MACOSX_DEPLOYMENT_TARGET=14.0 "$uv" pip compile --quiet --no-annotate "$@" \
    --constraint "$held" --generate-hashes --python-version "$python" \
    --python-platform "$(uv_platform "$platform")" --index-strategy unsafe-best-match \
    "${indexes[@]}" --custom-compile-command "./workflow/scripts/lock-env.sh" -o "$root/$out.new") || return 1
  mv "$root/$out.new" "$root/$out"
  echo "lock-env: $out ($(grep -c '^[a-zA-Z0-9]' "$out") packages)" >&2
}

# The pinned version of package $1 in the reference lock.
pin() {
  local line
  line="$(grep -i -m1 "^$1==" "$reference")" ||
    { echo "lock-env: $1 is not in $reference" >&2; exit 1; }
  echo "${line%% *}"
}

# conda environment file: $1 name, $2 comment lines, $3... packages (top level; the lock pins them).
conda_env() {
  local name="$1" comment="$2" file="envs/$1.yaml"
  shift 2
  {
    printf '%s\n' "$comment"
    echo "# Generated by workflow/scripts/lock-env.sh from $reference: do not edit."
    echo "# The last pip line installs hierphase itself, editable, from the repository root (conda"
    echo "# resolves it relative to this file). torch comes from PyPI's default (CUDA) wheels; for a"
    echo "# CPU-only torch see docs/configuration.md (section \"The environment\")."
    echo "name: hierphase-$name"
    echo "channels:"
    echo "  - conda-forge"
    echo "  - nodefaults"
    echo "dependencies:"
    echo "  - python=$reference_python"
    echo "  - pip"
    echo "  - pip:"
    local p
    for p in "$@"; do echo "      - $(pin "$p")"; done
    echo "      - -e .."
  } >"$file"
  echo "lock-env: $file" >&2
}

envs() {
  local core=(numpy scipy numba pandas pyarrow matplotlib seaborn tqdm pyyaml)
  conda_env rhm "# Conda environment of the RHM rules (rhm_*): exact BP, mean-field theory, finite-size scaling
# fits, tables and figures." torch "${core[@]}"
  conda_env learned "# Conda environment of the learned-denoiser rules (learned_*): neural diffusion models trained on
# RHM data, GPU when present." torch "${core[@]}"
  conda_env images "# Conda environment of the image rules (images_*): diffusion models (ADM, diffusers), classifiers
# (torchvision), CLIP patch embeddings (transformers) and the digits fallback (scikit-learn)." \
    torch torchvision diffusers guided-diffusion-sdk transformers scikit-learn pillow "${core[@]}"
  conda_env mdlm "# Conda environment of the MDLM rules (mdlm_*): masked diffusion language models on a grammar and
# on text (BPE tokenizers, published checkpoints in safetensors), GPU when present." \
    torch tokenizers safetensors "${core[@]}"
  conda_env docs "# Conda environment of the docs rule (docs_results): the numbers the docs quote, rendered
# from every branch's tables into the pages' templates (Jinja2)." torch jinja2 "${core[@]}"
}

case "${1:-all}" in
  all) lock 0; envs ;;
  --upgrade) lock 1; envs ;;
  envs) envs ;;
  *) echo "usage: $0 [--upgrade | envs]" >&2; exit 2 ;;
esac
