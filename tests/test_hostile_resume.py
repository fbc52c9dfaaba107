"""Kill-and-resume of every resumable job, at package level: a run stopped at a random step and
rerun (with no config change, and with a change that touches the job) ends with the bytes of an
uninterrupted run of the final config, weights files included; a resume file that does not fit
the rerun's config is discarded with a warning naming it, never a crash on every rerun."""

from __future__ import annotations

import random
import warnings

import pytest
import torch

from hierphase import noise, rhm
from hierphase.learned.train import TrainConfig
from hierphase.stages import learned as stage

torch.set_num_threads(1)

SCHEDULE = noise.GaussianSchedule()
NETWORK = {"arch": "tree_unet", "width": 8, "blocks": 1, "expansion": 2}
KILL = random.Random(23)  # the kill steps: random, but the same on every run of the suite


@pytest.fixture(scope="module")
def rules():
    return rhm.sample_rules(6, 2, 2, 3, seed=0)


def _training(**change):
    base = dict(steps=14, batch_size=8, lr=3e-3, warmup=2, log_every=3, checkpoint_every=4)
    return TrainConfig(**{**base, **change})


def _learned(rules, folder, training, snapshots=(), stop_after=None):
    """One learned training job writing into ``folder``; the bytes of everything it wrote."""
    folder.mkdir(exist_ok=True)
    stage.train_model(rules, "masking", SCHEDULE, training, **NETWORK, experiment="x", P=16,
                      train_seed=0, data_seed=1, seed=2, model_path=folder / "model.pt",
                      loss_parquet=folder / "loss.parquet", progress=False, stop_after=stop_after,
                      snapshot_paths={k: folder / f"step{k}.pt" for k in snapshots})
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())
            if p.suffix in (".pt", ".parquet")}


@pytest.mark.parametrize("change", ["none", "snapshots", "training"])
@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_learned_training_killed_and_resumed_writes_an_uninterrupted_runs_bytes(rules, tmp_path,
                                                                                change):
    """Killed at a random step (a checkpoint behind it), rerun: with no change the rerun resumes;
    with another snapshot schedule (once a KeyError on every rerun) or another training config it
    resumes where the checkpoint fits and starts over, with a warning, where it does not. Either
    way model.pt, the snapshots and the loss table are the bytes of an uninterrupted run."""
    first = dict(training=_training(), snapshots=(2, 9))
    final = dict(first)
    if change == "snapshots":
        final["snapshots"] = (3, 5, 9)
    elif change == "training":
        final["training"] = _training(lr=2e-3)
    kill = KILL.randrange(4, 14)  # past the first checkpoint: there is something to resume
    killed = tmp_path / "killed"
    _learned(rules, killed, first["training"], first["snapshots"], stop_after=kill)
    assert (killed / "model.pt.resume").exists() and not (killed / "model.pt").exists()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resumed = _learned(rules, killed, final["training"], final["snapshots"])
    discarded = [w for w in caught if "discarded" in str(w.message)]
    if change == "none" or (change == "snapshots" and kill < 3):
        assert not discarded
    elif change == "training" or kill >= 3:
        assert len(discarded) == 1 and "model.pt.resume" in str(discarded[0].message)
    whole = _learned(rules, tmp_path / "whole", final["training"], final["snapshots"])
    assert resumed.keys() == whole.keys()
    for name in whole:
        assert resumed[name] == whole[name], (name, kill)
    assert not (killed / "model.pt.resume").exists()


@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_learned_resume_killed_after_its_last_checkpoint(rules, tmp_path, monkeypatch):
    """Killed after the last step's checkpoint, while writing the snapshots: the rerun writes
    everything from that checkpoint (nothing left to train) with an uninterrupted run's bytes."""
    killed = tmp_path / "killed"

    def killed_here(*args, **kwargs):
        raise KeyboardInterrupt("killed")

    with monkeypatch.context() as patch:
        patch.setattr(stage, "save_weights", killed_here)
        with pytest.raises(KeyboardInterrupt):
            _learned(rules, killed, _training(), (5,))
    assert (killed / "model.pt.resume").exists() and not (killed / "model.pt").exists()
    resumed = _learned(rules, killed, _training(), (5,))
    assert resumed == _learned(rules, tmp_path / "whole", _training(), (5,))


# ------------------------------------------------------------------ images: DDPM and classifier
@pytest.fixture(scope="module")
def digits():
    import numpy as np

    from hierphase.images import digits_data as DD

    data = DD.load_digits_images(8)
    train, held = DD.split_digits(data, 0.2, seed=0)
    return DD._subset(train, np.arange(0, 48)), DD._subset(held, np.arange(0, 24))


class Killed(BaseException):
    """What the simulated kill raises (not an Exception: nothing may catch it)."""


def _kill_at(monkeypatch, module, name, calls):
    """Make ``module.name`` raise :class:`Killed` on its ``calls``-th call."""
    original, seen = getattr(module, name), [0]

    def wrapper(*args, **kwargs):
        seen[0] += 1
        if seen[0] == calls:
            raise Killed(f"killed at call {calls} of {name}")
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)


def _killed_then_rerun(monkeypatch, tmp_path, output, kill, job, first, final):
    """A job that writes once, atomically: ``job(folder, first)`` in ``tmp_path/killed`` with a
    stale temporary of ``output`` left there, killed at ``kill`` = (module, function, call), must
    leave no ``output``; rerun there as ``job(folder, final)`` it must write the bytes of a run of
    ``final`` in a fresh folder (the temporary gone too). Returns the killed-and-rerun folder and
    one with an uninterrupted run of ``first``."""
    killed, whole, alone = tmp_path / "killed", tmp_path / "whole", tmp_path / "first"
    for folder in (killed, whole, alone):
        folder.mkdir()
    (killed / f".{output}.abcdEFGH.tmp").write_bytes(b"half a file")
    with monkeypatch.context() as patch:
        _kill_at(patch, *kill)
        with pytest.raises(Killed):
            job(killed, first)
    assert not (killed / output).exists()
    assert job(killed, final) == job(whole, final)
    job(alone, first)
    return killed, alone


def _counting(monkeypatch, module, name):
    """Count the calls of ``module.name`` (how many training steps a rerun made)."""
    original, calls = getattr(module, name), []
    monkeypatch.setattr(module, name, lambda *a, **k: calls.append(1) or original(*a, **k))
    return calls


def _kill_then_rerun(monkeypatch, module, hook, kill, job, folder, cfg, final):
    """Run ``job(folder, cfg)`` killed at the ``kill``-th call of ``module.hook`` (one per
    training step), then ``job(folder, final)``: (what the rerun wrote, how many steps it
    trained, whether it discarded the checkpoint as stale)."""
    with monkeypatch.context() as patch:
        _kill_at(patch, module, hook, kill)
        with pytest.raises(Killed):
            job(folder, cfg)
    assert any(p.suffix == ".resume" for p in folder.iterdir())
    with warnings.catch_warnings(record=True) as caught, monkeypatch.context() as patch:
        warnings.simplefilter("always")
        steps = _counting(patch, module, hook)
        wrote = job(folder, final)
    assert not any(p.suffix == ".resume" for p in folder.iterdir())
    return wrote, len(steps), any("discarded stale checkpoint" in str(w.message) for w in caught)


def _ddpm(digits, folder, cfg, seed=0):
    from hierphase.images import ddpm_training as DT
    from hierphase.io import write_table

    loss = DT.train_digits_ddpm(digits[0]["images"], folder / "model", cfg, seed=seed, device="cpu",
                                progress=False, checkpoint=folder / "model.resume",
                                checkpoint_every=2)
    write_table(loss, folder / "loss.parquet")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and "meta" not in p.name)
    return {str(p.relative_to(folder)): p.read_bytes() for p in files}


def _classifier(digits, folder, cfg, seed=1):
    from hierphase.images import digits_cnn as DC
    from hierphase.io import save_tensors, write_table

    folder.mkdir(exist_ok=True)
    state, history = DC.train_digits_classifier(*digits, cfg, seed=seed, device="cpu",
                                                progress=False, checkpoint=folder / "cnn.resume",
                                                checkpoint_every=3)
    save_tensors(folder / "cnn.pt", state)
    write_table(history, folder / "history.parquet")
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if "meta" not in p.name}


def _images_trainer(name: str):
    """(module, the function called once per training step, steps, checkpoint interval, config
    with changes, job, the weights file) of the images training ``name``."""
    from hierphase.images import ddpm_training as DT
    from hierphase.images import digits_cnn as DC

    if name == "ddpm":
        return (DT, "_ema_update", 7, 2,
                lambda **change: DT.DDPMTrainConfig(**{**dict(
                    steps=7, batch_size=8, warmup=1, block_out_channels=(8, 16), attention=False),
                    **change}),
                _ddpm, "model/diffusion_pytorch_model.safetensors")
    return (DC, "_random_shift", 9, 3,  # 3 epochs of 3 steps
            lambda **change: DC.ClassifierTrainConfig(**{**dict(
                epochs=3, batch_size=16, width=4, warmup=2), **change}),
            _classifier, "cnn.pt")


@pytest.mark.parametrize("change", ["none", "training"])
@pytest.mark.parametrize("trainer", ["ddpm", "classifier"])
@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_images_training_killed_and_resumed_writes_an_uninterrupted_runs_bytes(
        digits, tmp_path, monkeypatch, trainer, change):
    """The DDPM and the classifier killed at a random step after their first checkpoint (mid-
    epoch or at an epoch's end), rerun: with no change they resume from their last checkpoint
    (dropout's and the shifts' draws continue), with another config they start over with a
    warning; the weights and loss files are an uninterrupted run's bytes."""
    module, hook, steps, every, config, job, weights = _images_trainer(trainer)
    final = config() if change == "none" else config(lr=1e-3)
    kill = KILL.randrange(every + 1, steps + 1)
    resumed, trained, stale = _kill_then_rerun(monkeypatch, module, hook, kill,
                                               lambda f, c: job(digits, f, c),
                                               tmp_path / "killed", config(), final)
    assert stale == (change != "none")
    assert trained == (steps - every * ((kill - 1) // every) if change == "none" else steps)
    whole = job(digits, tmp_path / "whole", final)
    assert weights in whole and resumed == whole, kill


# ------------------------------------------------------------------ correlation sweeps
def _correlation_job(rules, folder, values, n_traj=3):
    """One RHM change-correlation job as workflow/scripts/rhm_corr_sweep.py runs it."""
    from hierphase import io
    from hierphase.stages import rhm as rhm_stage

    trees = rhm.sample_trees(rules, 4, seed=3)
    corr, chi = rhm_stage.correlation_shard(rules, trees, "epsilon", values, seed=5, n_x0=3,
                                            n_traj=n_traj, n_boot=10, experiment="x")
    io.write_table(corr, folder / "correlations.parquet", seed=5)
    io.write_table(chi, folder / "susceptibility.parquet", seed=5)
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("change", ["none", "grid"])
def test_correlation_sweep_killed_and_rerun_writes_an_uninterrupted_runs_bytes(rules, tmp_path,
                                                                               monkeypatch, change):
    """A correlation job killed at a random noise value (or while writing: a temporary left
    behind) leaves no output; its rerun writes the bytes of an uninterrupted run, and with a
    grid that grew, the rows of the values it shares are those of the first grid (a value's
    numbers do not depend on its shard)."""
    import pandas as pd

    from hierphase import io
    from hierphase.stages import rhm as rhm_stage

    values = [0.1, 0.3, 0.5]
    final = values if change == "none" else [0.1, 0.2, 0.3, 0.5]
    killed, first = _killed_then_rerun(
        monkeypatch, tmp_path, "correlations.parquet",
        (rhm_stage, "_point_correlations", KILL.randrange(1, 4)),
        lambda folder, vals: _correlation_job(rules, folder, vals), values, final)
    for name in ("correlations.parquet", "susceptibility.parquet"):
        grown = io.read_table(killed / name)
        pd.testing.assert_frame_equal(
            grown[grown["noise"].isin(values)].reset_index(drop=True), io.read_table(first / name))


# ------------------------------------------------------------------ images: forward-backward sweeps
@pytest.fixture(scope="module")
def tiny_unet(tmp_path_factory):
    """A random 8x8 one-channel diffusers UNet folder, as images_train_ddpm leaves it."""
    from hierphase.images import ddpm_training as DT

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("unet") / "model"
    cfg = DT.DDPMTrainConfig(block_out_channels=(8, 16), attention=False)
    DT.build_digits_unet(8, 1, cfg).save_pretrained(folder, safe_serialization=True)
    return folder


def _image_sweep_job(model, clean, folder, k=3, seed=4):
    """One images_sweep job (k, shard) as workflow/scripts/images_sweep.py runs it: the swept
    shard and its sidecar, and their bytes. Batches of two images."""
    from hierphase.stages import images as image_stage

    diffusion = image_stage.load_sweep_model(k, "train", model, device="cpu", dtype="auto")
    x0_hat, record = image_stage.sweep_shard(diffusion, clean, k, num_steps=5, seed=seed,
                                             batch_size=2, progress=False)
    image_stage.write_sweep(folder / "shard0.pt", x0_hat, clean, record, seed=seed,
                            config={"k": k, "respaced_steps": 5, "model": str(model)})
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("change", ["none", "shard"])
@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_image_sweep_killed_and_rerun_writes_an_uninterrupted_runs_bytes(digits, tiny_unet,
                                                                         tmp_path, monkeypatch,
                                                                         change):
    """An image sweep job keeps no checkpoint: it holds its x̂0 in memory and writes the shard
    once, atomically. Killed at a random reverse step (or while writing: a temporary left
    behind) it leaves no output; its rerun writes the bytes of an uninterrupted run, also when
    the shard grew (more images per class), and the images the two shards share get the x̂0 of
    the first shard (per-image noise)."""
    import numpy as np

    from hierphase.images import diffusion
    from hierphase.images.digits_data import _subset
    from hierphase.images.shards import read_shard

    held = digits[1]
    first = _subset(held, np.arange(4))
    final = first if change == "none" else _subset(held, np.arange(6))
    killed, alone = _killed_then_rerun(
        monkeypatch, tmp_path, "shard0.pt",
        (diffusion, "reverse_step", KILL.randrange(1, 3 * 2 + 1)),  # k x batches of two
        lambda folder, clean: _image_sweep_job(tiny_unet, clean, folder), first, final)
    grown, kept = read_shard(killed / "shard0.pt"), read_shard(alone / "shard0.pt")
    assert grown["names"][:4] == kept["names"]
    assert torch.equal(grown["images"][:4], kept["images"])
    assert not torch.equal(kept["images"], first["images"])  # k = 3 of 5 moved the images


# ------------------------------------------------------------------ MDLM training
def _mdlm(folder, cfg):
    """One MDLM training job (the grammar part's stage function) writing into ``folder``."""
    import torch

    from hierphase.stages import mdlm as st

    folder.mkdir(exist_ok=True)
    g = torch.Generator().manual_seed(0)
    data = {"train": torch.randint(0, 6, (24, 8), generator=g),
            "grammar": {"lexical": torch.zeros(1, 6)}}
    st.train_grammar_model(data, P=24, network=dict(hidden=8, n_blocks=1, n_heads=2, cond_dim=4),
                           training=cfg, seed=3, model_path=folder / "model.pt",
                           loss_parquet=folder / "loss.parquet", loss_csv=folder / "loss.csv")
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if "meta" not in p.name}


@pytest.mark.parametrize("change", ["none", "training"])
@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_mdlm_training_killed_and_resumed_writes_an_uninterrupted_runs_bytes(tmp_path, monkeypatch,
                                                                           change):
    """The MDLM training killed at a random step after its first checkpoint, rerun: with no
    change it resumes from its last checkpoint, with another config it starts over with a
    warning; model.pt and the loss table are an uninterrupted run's bytes."""
    from hierphase.mdlm import train as T

    steps, every = 9, 3

    def config(**change):
        return {**dict(steps=steps, batch_size=4, lr=3e-3, warmup=1, log_every=2,
                       checkpoint_every=every), **change}

    final = config() if change == "none" else config(lr=1e-3)
    kill = KILL.randrange(every + 1, steps + 1)
    resumed, trained, stale = _kill_then_rerun(monkeypatch, T, "diffusion_loss", kill, _mdlm,
                                               tmp_path / "killed", config(), final)
    assert stale == (change != "none")
    assert trained == (steps - every * ((kill - 1) // every) if change == "none" else steps)
    whole = _mdlm(tmp_path / "whole", final)
    assert "model.pt" in whole and resumed == whole, kill
