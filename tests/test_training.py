"""Tests of hierphase.training (shared by the learned and images training loops), of the
optimisation settings both step-based loops share (hierphase.optimisation) and of
hierphase.devices."""

from __future__ import annotations

import logging
import subprocess
import sys

import numpy as np
import pytest
import torch

from hierphase.devices import resolve_device
from hierphase.learned.settings import TrainConfig as LearnedTrainConfig
from hierphase.mdlm.train import TrainConfig as MaskedTrainConfig
from hierphase.optimisation import OptimisationSettings
from hierphase.training import ProgressLog, adamw_with_schedule, optimizer_step, warmup_cosine


def test_warmup_cosine_against_its_definition():
    f = warmup_cosine(4, 20, 0.1)
    # warm-up: (step + 1) / warmup; then 0.1 + 0.9 * (1 + cos(pi * (step - 4) / 16)) / 2
    assert [f(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert f(4) == pytest.approx(1.0)
    assert f(12) == pytest.approx(0.1 + 0.9 * 0.5)  # half way down the cosine
    assert f(20) == pytest.approx(0.1) and f(500) == pytest.approx(0.1)
    g = warmup_cosine(0, 10)
    assert g(0) == 1.0 and g(10) == pytest.approx(0.0)
    lr = torch.optim.lr_scheduler.LambdaLR(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=2.0), f)
    assert lr.get_last_lr() == [0.5]  # the scheduler applies the factor from step 0


def _tiny_net(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 1))


def test_adamw_with_schedule_decays_matrices_only_and_follows_warmup_cosine():
    net = _tiny_net()
    cfg = OptimisationSettings(steps=10, lr=0.5, weight_decay=0.3, warmup=2, min_lr_ratio=0.2)
    optimizer, scheduler = adamw_with_schedule(net, cfg)
    decay, no_decay = optimizer.param_groups
    assert decay["weight_decay"] == 0.3 and no_decay["weight_decay"] == 0.0
    assert [tuple(p.shape) for p in decay["params"]] == [(4, 3), (1, 4)]
    assert [tuple(p.shape) for p in no_decay["params"]] == [(4,), (4,), (4,), (1,)]
    factor = warmup_cosine(2, 10, 0.2)
    for step in range(12):
        assert scheduler.get_last_lr()[0] == pytest.approx(0.5 * factor(step))
        optimizer.step()
        scheduler.step()


@pytest.mark.parametrize("grad_clip", [0.0, 1e-3])
def test_optimizer_step_is_clip_then_step_at_the_current_rate(grad_clip):
    """Against the same update written out with torch's own calls, on a twin network."""
    cfg = OptimisationSettings(steps=5, lr=0.1, warmup=2, grad_clip=grad_clip)
    x = torch.randn(8, 3, generator=torch.Generator().manual_seed(1))
    nets = [_tiny_net(), _tiny_net()]
    loops = [adamw_with_schedule(net, cfg) for net in nets]
    for _ in range(3):
        for net, (optimizer, _) in zip(nets, loops):
            optimizer.zero_grad()
            (net(x) ** 2).mean().backward()
        expected_lr = loops[1][0].param_groups[0]["lr"]
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(nets[1].parameters(), grad_clip)
        loops[1][0].step()
        loops[1][1].step()
        assert optimizer_step(nets[0], *loops[0], grad_clip) == expected_lr
        for a, b in zip(nets[0].parameters(), nets[1].parameters()):
            assert torch.equal(a, b)
    moved = [(a - b).abs().max() for a, b in zip(_tiny_net().parameters(), nets[0].parameters())]
    assert max(moved) > 0


def test_both_training_configs_share_the_settings_and_their_checks():
    # the learned branch's defaults, which the config's defaults and old checkpoints rely on
    assert LearnedTrainConfig().to_dict() == {
        "steps": 2000, "batch_size": 128, "lr": 2e-3, "weight_decay": 0.0, "warmup": 100,
        "min_lr_ratio": 0.05, "grad_clip": 1.0, "log_every": 50, "checkpoint_every": 500,
        "time_focus": {"upper": 1.0, "weight": 0.0}}
    assert list(MaskedTrainConfig().to_dict())[-2:] == ["eps", "antithetic"]
    for config in (OptimisationSettings, LearnedTrainConfig, MaskedTrainConfig):
        for bad, message in [({"steps": 0}, "steps must be an int >= 1"),
                             ({"batch_size": 2.0}, "batch_size must be an int"),
                             ({"steps": 5, "warmup": 6}, "warmup must be <= steps"),
                             ({"lr": 0.0}, r"lr must be a finite number in \[0.0, inf\] and > 0"),
                             ({"lr": True}, "lr must be a finite number"),
                             ({"weight_decay": float("nan")}, "weight_decay"),
                             ({"min_lr_ratio": 1.5}, "min_lr_ratio"),
                             ({"grad_clip": -1.0}, "grad_clip")]:
            with pytest.raises(ValueError, match=message):
                config(**bad)
    with pytest.raises(ValueError, match=r"eps must be a finite number in \[0.0, 1.0\] and < 1"):
        MaskedTrainConfig(eps=1.0)
    assert MaskedTrainConfig(eps=0.5, lr=np.float32(0.01)).eps == 0.5  # NumPy numbers pass


def test_progress_lines_every_log_every_steps(caplog):
    plog = ProgressLog("train x", total=10, log_every=4, logger=logging.getLogger("t"))
    with caplog.at_level(logging.INFO, logger="t"):
        for step in range(1, 11):
            plog.step(step, loss=1.0 / step)
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split()[3] for line in lines] == ["4/10", "8/10", "10/10"]  # and the last step
    assert lines[0].startswith("train x: step 4/10 (40.0%) loss 0.25 rate ")
    assert "steps/s ETA " in lines[0] and lines[-1].endswith("ETA 00:00:00")
    with pytest.raises(ValueError, match="log_every"):
        ProgressLog("x", 10, 0)


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None) == resolve_device("auto")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="images.device is 'cuda:1' but no CUDA"):
            resolve_device("cuda:1", key="images.device")


@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_no_import_cycle_between_the_digits_cnn_and_the_classifiers():
    """The digits CNN module stands alone; the classifier registry imports it, not the reverse."""
    code = ("import sys, hierphase.images.digits_cnn; "
            "assert 'hierphase.images.classifiers' not in sys.modules; "
            "from hierphase.images.classifiers import build_classifier; "
            "clf = build_classifier('digits_cnn', None, device='cpu', random_init=True); "
            "print(len(clf.layer_names))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "9"
