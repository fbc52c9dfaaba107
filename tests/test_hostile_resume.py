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
