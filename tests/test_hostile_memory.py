"""Memory estimates of the heavy computations against their measured peaks: each estimate
(a formula beside the code that allocates, which the workflow checks against ``max_mem_mb``
before any job) must lie within a factor 2 of the peak resident memory the computation adds,
measured in a fresh subprocess (``VmHWM`` after resetting it, less ``VmRSS`` before) on small
sizes where the computation dominates the interpreter's own allocations.

The peak is the computation's working set: glibc's mmap threshold is fixed
(``MALLOC_MMAP_THRESHOLD_``), so every large temporary goes back to the system when freed. With
glibc's default (a threshold that rises after the first large free) the heap keeps some freed
temporaries, how many varies between identical runs (the Gaussian flat mixture: 10 MB, 640 MB
or 670 MB for the same 10 MB working set, the DDPM sweep 86 to 130 MB for 60 MB), and where the
package declares an allowance for that heap it is checked as an upper bound of such runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(),
                                reason="peak memory is measured through Linux's /proc")

#: Runs ``setup``, resets the peak RSS, runs ``run`` (which sets ``estimate``), prints both.
PROBE = """
import json, sys
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
scope = {}
exec(sys.argv[1], scope)
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")
base = status("VmRSS:")
exec(sys.argv[2], scope)
print(json.dumps([status("VmHWM:") - base, int(scope["estimate"])]))
"""


#: glibc's mmap threshold for the working-set measurements (its default initial value, fixed).
MMAP_THRESHOLD = str(128 * 1024)


def _peak_and_estimate(setup: str, run: str, working_set: bool = True) -> tuple[int, int]:
    """The peak ``run`` adds after ``setup`` and its ``estimate``; with ``working_set`` under a
    fixed mmap threshold (module docstring), else under glibc's default."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    env.pop("MALLOC_MMAP_THRESHOLD_", None)
    if working_set:
        env["MALLOC_MMAP_THRESHOLD_"] = MMAP_THRESHOLD
    out = subprocess.run([sys.executable, "-c", PROBE, setup, run], capture_output=True,
                         text=True, env=env, check=True, timeout=600)
    return tuple(json.loads(out.stdout.strip().splitlines()[-1]))


def _within_factor_two(setup, run):
    peak, estimate = _peak_and_estimate(setup, run)
    assert peak > 0 and estimate / 2 <= peak <= 2 * estimate, (peak, estimate, peak / estimate)


@pytest.mark.slow  # the sizes where the runs dominate take a minute under load
@pytest.mark.parametrize("v, n_classes, d, n_traj, process", [
    (8, 8, 1024, 2048, "epsilon"), (32, 32, 512, 256, "gaussian"), (8, 4, 2048, 1024, "masking")])
def test_flat_mixture_control(v, n_classes, d, n_traj, process):
    """The working set within a factor 2 of its estimate; under glibc's default allocator the
    peak never above twice the estimate with the kept heap's allowance (what a job declares)."""
    setup = ("import torch\ntorch.set_num_threads(1)\nfrom hierphase.stages import rhm as st\n"
             "from hierphase.memory import flat_mixture_bytes\n"
             f"st.flat_mixture_shard(8, 4, 64, 0.3, {process!r}, [0.5], 0, 2, 16, n_boot=10)")
    run = (f"st.flat_mixture_shard({v}, {n_classes}, {d}, 0.3, {process!r}, [0.4], 0, 2, "
           f"{n_traj}, n_boot=10)\nestimate = flat_mixture_bytes({v}, {n_classes}, {d}, "
           f"{n_traj}, {process!r}, retained={{}})")
    _within_factor_two(setup, run.format(False))
    peak, declared = _peak_and_estimate(setup, run.format(True), working_set=False)
    assert 0 < peak <= 2 * declared, (peak, declared, peak / declared)


RHM_SETUP = """
import torch
torch.set_num_threads(1)
from hierphase import bp, rhm
from hierphase.stages import rhm as st
rules = rhm.sample_rules({v}, {m}, {s}, {L}, seed=0)
trees = rhm.sample_trees(rules, {n}, seed=1)
st.sweep_shard(rules, [t[:4] for t in trees], "epsilon", [0.2], 0, 4)  # kernels loaded
"""


@pytest.mark.parametrize("v, m, s, L, batch", [(8, 3, 2, 10, 512), (32, 4, 2, 7, 2048)])
def test_bp_sweep(v, m, s, L, batch):
    _within_factor_two(RHM_SETUP.format(v=v, m=m, s=s, L=L, n=batch),
                       f"st.sweep_shard(rules, trees, 'epsilon', [0.2, 0.4], 0, {batch})\n"
                       f"estimate = bp.sweep_bytes(rules, {batch})")


@pytest.mark.parametrize("process, n_traj", [("gaussian", 256), ("masking", 512),
                                             ("epsilon", 256)])
def test_correlation_sweep(process, n_traj):
    _within_factor_two(RHM_SETUP.format(v=8, m=3, s=2, L=10, n=3),
                       f"st.correlation_shard(rules, trees, {process!r}, [0.2, 0.4], 0, 3, "
                       f"{n_traj}, n_boot=10)\n"
                       f"estimate = bp.trajectories_bytes(rules, {n_traj}, {process!r})")


def tree_unet_setup(v: int, s: int, L: int, process: str, n_steps: int, **network) -> str:
    """Code that sets up a tree U-Net (``network``: NetworkConfig's keywords) for RHM rules
    (v, m = 2, s, L) under ``process`` with ``n_steps`` noise levels: rules, proc, cfg."""
    keywords = ", ".join(f"{key}={value}" for key, value in network.items())
    return f"""
import torch
torch.set_num_threads(1)
from hierphase import noise, rhm
from hierphase.learned import diffusion, evaluate, networks, train
from hierphase.memory import tree_unet_sweep_bytes
rules = rhm.sample_rules({v}, 2, {s}, {L}, seed=0)
proc = diffusion.make_process({process!r}, {v}, noise.GaussianSchedule(), {n_steps})
cfg = networks.NetworkConfig(proc.in_channels, {v}, {s}, {L}, {keywords})
"""


@pytest.mark.slow  # a subprocess that imports torch (and diffusers) and trains
@pytest.mark.parametrize("v, s, L, width, blocks, expansion, batch, process", [
    (8, 2, 8, 64, 1, 2, 32, "gaussian"), (16, 3, 4, 96, 1, 4, 32, "uniform")])
def test_learned_training(v, s, L, width, blocks, expansion, batch, process):
    setup = tree_unet_setup(v, s, L, process, 8, width=width, blocks=blocks,
                            expansion=expansion) + """
data = rhm.sample_trees(rules, 64, seed=1)[-1]
warm = train.TrainConfig(steps=1, batch_size=2, warmup=1, log_every=1)
train.train(proc, networks.TreeUNet(cfg), data, warm, 0, progress=False)
net = networks.TreeUNet(cfg)
"""
    _within_factor_two(setup, f"""
tc = train.TrainConfig(steps=3, batch_size={batch}, warmup=1, log_every=1)
train.train(proc, net, data, tc, 0, progress=False)
estimate = train.training_bytes(net, proc.in_channels, {batch})""")


@pytest.mark.slow  # a subprocess that imports torch and samples with a tree U-Net
@pytest.mark.parametrize("v, s, L, width, expansion, n, batch, process", [
    (8, 2, 10, 64, 2, 256, 64, "gaussian"), (16, 3, 6, 32, 4, 128, 128, "masking")])
def test_learned_sweep(v, s, L, width, expansion, n, batch, process):
    setup = tree_unet_setup(v, s, L, process, 4, width=width, expansion=expansion) + """
net = networks.TreeUNet(cfg).eval()
def sweep(n, batch):
    return evaluate.learned_kept_table(rules, proc, net, [0.3], n, 0, 1000, "e", "m", 1, 0, 0,
                                       batch_size=batch)
sweep(4, 2)
"""
    _within_factor_two(setup, f"""
sweep({n}, {batch})
estimate = tree_unet_sweep_bytes({v}, {s}, {L}, {width}, {expansion}, {n}, {batch})""")


@pytest.mark.slow  # a subprocess that imports torch and samples with a tree U-Net
@pytest.mark.parametrize("v, s, L, width, expansion, n, batch, P, process", [
    (8, 2, 10, 64, 2, 256, 64, 512, "gaussian"), (16, 3, 6, 32, 4, 128, 128, 4096, "masking")])
def test_learned_generation(v, s, L, width, expansion, n, batch, P, process):
    """A generation job's work: the training set drawn again, samples and their evaluation."""
    setup = tree_unet_setup(v, s, L, process, 4, width=width, expansion=expansion) + """
from hierphase.memory import tree_unet_generation_bytes
from hierphase.stages.learned import training_set
net = networks.TreeUNet(cfg).eval()
def generation(n, batch, P):
    return evaluate.generation_tables(rules, proc, net, training_set(rules, P, 1), n, 0, "e",
                                      "m", P, 0, batch_size=batch)
generation(4, 2, 4)
"""
    _within_factor_two(setup, f"""
generation({n}, {batch}, {P})
estimate = tree_unet_generation_bytes({v}, {s}, {L}, {width}, {expansion}, {n}, {batch}, {P})""")


@pytest.mark.slow  # a subprocess that imports torch and samples with a tree U-Net
@pytest.mark.parametrize("v, s, L, width, expansion, n_x0, n_traj, batch, process", [
    (8, 2, 10, 16, 1, 4, 64, 64, "gaussian"), (16, 3, 6, 16, 1, 4, 128, 64, "masking")])
def test_learned_correlations(v, s, L, width, expansion, n_x0, n_traj, batch, process):
    """A learned model's change correlations: every run's state, its sample and its parse."""
    setup = tree_unet_setup(v, s, L, process, 4, width=width, expansion=expansion) + """
from hierphase.memory import tree_unet_correlation_bytes
net = networks.TreeUNet(cfg).eval()
def correlations(n_x0, n_traj, batch):
    return evaluate.learned_correlation_tables(rules, proc, net, [0.3, 0.6], n_x0, n_traj, 0,
                                               1000, "e", "m", 1, 0, 0, n_boot=10,
                                               batch_size=batch)
correlations(2, 4, 2)
"""
    _within_factor_two(setup, f"""
correlations({n_x0}, {n_traj}, {batch})
estimate = tree_unet_correlation_bytes({v}, {s}, {L}, {width}, {expansion}, {n_x0}, {n_traj},
                                       {batch}, {process!r})""")


LEARNED_BP_SETUP = """
import torch
torch.set_num_threads(1)
from hierphase import noise, rhm
from hierphase.learned import diffusion, evaluate
from hierphase.memory import bp_reference_bytes, bp_trajectories_bytes
rules = rhm.sample_rules({v}, 2, {s}, {L}, seed=0)
proc = diffusion.make_process({process!r}, {v}, noise.GaussianSchedule(), 4)
def reference(n):
    return evaluate.bp_kept_table(rules, proc, [0.3, 0.6], n, 0, 1000, "e", 0)
def correlations(n_x0, n_traj):
    return evaluate.bp_correlation_tables(rules, proc, [0.3, 0.6], n_x0, n_traj, 0, 1000, "e", 0,
                                          n_boot=10)
reference(4)
correlations(2, 4)
"""


@pytest.mark.slow  # a subprocess that imports torch and runs exact BP on learned-branch data
@pytest.mark.parametrize("v, s, L, n, process", [(8, 2, 10, 256, "gaussian"),
                                                 (16, 3, 6, 512, "masking")])
def test_learned_bp_reference(v, s, L, n, process):
    """Exact BP's sweep of the learned branch: every datum at once, marginals of every node."""
    _within_factor_two(LEARNED_BP_SETUP.format(v=v, s=s, L=L, process=process),
                       f"reference({n})\nestimate = bp_reference_bytes({v}, {s}, {L}, {n})")


@pytest.mark.slow  # a subprocess that imports torch and samples exact BP's posterior
@pytest.mark.parametrize("v, s, L, n_x0, n_traj, process", [(8, 2, 10, 4, 64, "gaussian"),
                                                            (16, 3, 6, 4, 128, "masking")])
def test_learned_bp_correlations(v, s, L, n_x0, n_traj, process):
    """Exact BP's change correlations of the learned branch: the n_x0 x n_traj runs at once."""
    _within_factor_two(LEARNED_BP_SETUP.format(v=v, s=s, L=L, process=process),
                       f"correlations({n_x0}, {n_traj})\nestimate = bp_trajectories_bytes("
                       f"{v}, {s}, {L}, {n_x0 * n_traj}, {process!r})")


@pytest.mark.slow  # a subprocess that imports torch (and diffusers) and trains
@pytest.mark.parametrize("size, batch, blocks, attention", [(16, 32, (16, 32), True),
                                                            (16, 64, (32, 64), False)])
def test_images_ddpm_training(size, batch, blocks, attention, tmp_path):
    setup = f"""
import torch
torch.set_num_threads(1)
from hierphase.images import ddpm_training as DT
images = torch.randint(0, 255, (128, 1, {size}, {size}), dtype=torch.uint8)
cfg = DT.DDPMTrainConfig(steps=2, batch_size={batch}, warmup=1, block_out_channels={blocks},
                         attention={attention})
warm = DT.DDPMTrainConfig(steps=1, batch_size=2, warmup=1, block_out_channels={blocks},
                          attention={attention})
DT.train_digits_ddpm(images[:8], {str(tmp_path / 'warm')!r}, warm, seed=0, device="cpu",
                     progress=False)
"""
    _within_factor_two(setup, f"""
DT.train_digits_ddpm(images, {str(tmp_path / 'model')!r}, cfg, seed=0, device="cpu",
                     progress=False)
estimate = DT.ddpm_train_bytes({size}, 1, {batch}, cfg)""")


@pytest.mark.slow  # a subprocess that imports torch and diffusers and samples
@pytest.mark.parametrize("size, batch, n, blocks, attention", [
    (32, 64, 128, (16, 32, 64), True), (64, 32, 48, (32, 64), False)])
def test_images_ddpm_sweep(size, batch, n, blocks, attention, tmp_path):
    setup = f"""
import torch
torch.set_num_threads(1)
from hierphase.images import ddpm_training as DT
from hierphase.memory import ddpm_sweep_bytes
from hierphase.stages import images as st
cfg = DT.DDPMTrainConfig(steps=1, batch_size=2, warmup=1, block_out_channels={blocks},
                         attention={attention})
images = torch.randint(0, 255, ({n}, 1, {size}, {size}), dtype=torch.uint8)
DT.train_digits_ddpm(images[:4], {str(tmp_path / 'model')!r}, cfg, seed=0, device="cpu",
                     progress=False)
model = st.load_sweep_model(2, "train", {str(tmp_path / 'model')!r}, device="cpu")
shard = {{"images": images, "names": [str(i) for i in range({n})]}}
st.sweep_shard(model, {{"images": images[:2], "names": ["a", "b"]}}, 1, num_steps=4, seed=0,
               batch_size=2, progress=False)
"""
    _within_factor_two(setup, f"""
st.sweep_shard(model, shard, 2, num_steps=4, seed=0, batch_size={batch}, progress=False)
estimate = ddpm_sweep_bytes({size}, 1, {batch}, {n}, cfg)""")


@pytest.mark.slow  # a subprocess that imports torch (and diffusers) and trains
@pytest.mark.parametrize("size, batch, width", [(16, 64, 8), (16, 128, 32)])
def test_images_classifier_training(size, batch, width):
    setup = f"""
import torch
torch.set_num_threads(1)
from hierphase.images import digits_cnn as DC
def digits(n):
    return {{"images": torch.randint(0, 255, (n, 1, {size}, {size}), dtype=torch.uint8),
             "labels": torch.randint(0, 10, (n,))}}
train, held = digits(256), digits(600)
cfg = DC.ClassifierTrainConfig(epochs=1, batch_size={batch}, width={width}, warmup=1)
warm = DC.ClassifierTrainConfig(epochs=1, batch_size=4, width={width}, warmup=1)
DC.train_digits_classifier(digits(8), digits(8), warm, seed=0, device="cpu", progress=False)
"""
    _within_factor_two(setup, f"""
DC.train_digits_classifier(train, held, cfg, seed=0, device="cpu", progress=False)
estimate = DC.classifier_train_bytes({size}, 1, {batch}, cfg)""")


def test_estimates_refuse_nonsense_sizes():
    from hierphase import bp, rhm
    from hierphase.memory import gaussian_field_bytes

    rules = rhm.sample_rules(4, 2, 2, 2, seed=0)
    with pytest.raises(ValueError, match="batch_size"):
        bp.sweep_bytes(rules, 0)
    with pytest.raises(ValueError, match="process"):
        bp.trajectories_bytes(rules, 4, "diffusion")
    with pytest.raises(ValueError, match="shape"):
        gaussian_field_bytes((4096, 0), 1, 1)
    # the example: a [4096, 4096] field is tens of GB, whatever mem_mb said
    assert gaussian_field_bytes((4096, 4096), 8, 8) > 10 * 2**30
