#!/usr/bin/env bash
# Install what the SLURM test (tests/test_slurm.py) needs: Debian's slurm-wlm (slurmctld, slurmd,
# slurm-client) and munge. Idempotent: does nothing when every binary is already there.
# Services are not started here (no systemd needed); tests/slurm_cluster.py starts private daemons.
#   ./workflow/scripts/install-slurm.sh
set -euo pipefail
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"  # the daemons live in sbin
need=(munged munge slurmctld slurmd slurmstepd sbatch srun squeue sinfo scontrol scancel)
missing=()
for b in "${need[@]}"; do command -v "$b" >/dev/null 2>&1 || missing+=("$b"); done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-slurm: slurm-wlm and munge already installed" >&2
  exit 0
fi
echo "install-slurm: missing ${missing[*]}; installing slurm-wlm and munge with apt-get" >&2
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-slurm: no apt-get on this machine; install SLURM (slurmctld, slurmd, client) and munge yourself" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-slurm: need root (or sudo) to apt-get install" >&2; exit 1; }
  sudo=(sudo)
fi
# Keep the packages' maintainer scripts from starting system services while installing
# (the standard policy-rc.d "deny" answer); removed again afterwards if we created it.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod 755 "$policy"
  made_policy=1
fi
cleanup() { if [ "$made_policy" = 1 ]; then "${sudo[@]}" rm -f "$policy"; fi; }
trap cleanup EXIT
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends slurm-wlm munge
for b in "${need[@]}"; do
  command -v "$b" >/dev/null 2>&1 || { echo "install-slurm: $b still missing after install" >&2; exit 1; }
done
echo "install-slurm: installed $(dpkg-query -W -f='${Package} ${Version}\n' slurmd munge | tr '\n' ' ')" >&2
