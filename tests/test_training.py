"""Tests of hierphase.training (shared by the learned and images training loops) and of
hierphase.devices."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
import torch

from hierphase.devices import resolve_device
from hierphase.training import ProgressLog, warmup_cosine


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


def test_no_import_cycle_between_the_digits_cnn_and_the_classifiers():
    """The digits CNN module stands alone; the classifier registry imports it, not the reverse."""
    code = ("import sys, hierphase.images.digits_cnn; "
            "assert 'hierphase.images.classifiers' not in sys.modules; "
            "from hierphase.images.classifiers import build_classifier; "
            "clf = build_classifier('digits_cnn', None, device='cpu', random_init=True); "
            "print(len(clf.layer_names))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "9"
