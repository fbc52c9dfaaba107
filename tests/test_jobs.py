"""What every workflow job does first (hierphase.jobs): the GPU check of a job that asked for a GPU
(hierphase.devices.require_gpus), and its log file, where progress bars become lines."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import pytest
import torch

from hierphase import devices, jobs

OLD_DRIVER = "535.104.05"
MODEL = "NVIDIA A100-SXM4-80GB"


def _fake_proc(tmp_path, version_line: str, models=(MODEL,)):
    """A /proc/driver/nvidia as the kernel driver writes it: its version, one folder per GPU."""
    proc = tmp_path / "nvidia"
    (proc / "gpus").mkdir(parents=True)
    (proc / "version").write_text(version_line + "\nGCC version:  gcc version 12.2.0 (Debian)\n")
    for i, model in enumerate(models):
        gpu = proc / "gpus" / f"0000:{i + 1:02x}:00.0"
        gpu.mkdir()
        (gpu / "information").write_text(f"Model: \t\t {model}\nIRQ:   \t\t 42\n"
                                         f"Bus Type: \t PCIe\n")
    return proc


@pytest.fixture
def no_cuda(monkeypatch):
    """torch as on a node whose driver it cannot use: CUDA not available (what torch reports for a
    driver older than its CUDA), and no nvidia-smi to ask."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices.shutil, "which", lambda name, path=None: None)


def test_gpu_job_on_an_unusable_gpu_names_device_and_driver(tmp_path, monkeypatch, no_cuda):
    proc = _fake_proc(tmp_path, "NVRM version: NVIDIA UNIX x86_64 Kernel Module  "
                                f"{OLD_DRIVER}  Sat Aug 19 01:15:15 UTC 2023")
    monkeypatch.setattr(devices, "NVIDIA_PROC", proc)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    with pytest.raises(RuntimeError) as err:
        jobs.check_gpus({"gpu": 1, "mem_mb": 4000}, "learned_train")
    message = str(err.value)
    print(message)
    assert "rule learned_train asked for 1 GPU(s) but CUDA is not usable" in message
    assert MODEL in message
    assert f"NVIDIA driver {OLD_DRIVER} (too old" in message
    assert "built for CUDA 13.0, which needs NVIDIA driver >= 580.65.06" in message
    assert "CUDA_VISIBLE_DEVICES='0'" in message


def test_gpu_job_without_a_driver_says_so(tmp_path, monkeypatch, no_cuda):
    monkeypatch.setattr(devices, "NVIDIA_PROC", tmp_path / "absent")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with pytest.raises(RuntimeError, match=r"rule images_sweep asked for 1 GPU\(s\) but CUDA is "
                                           r"not usable.*no NVIDIA driver.*CUDA_VISIBLE_DEVICES "
                                           r"is unset"):
        jobs.check_gpus({"gpu": 1}, "images_sweep")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(RuntimeError, match=r"CUDA_VISIBLE_DEVICES='' \(no GPU given to this job\)"):
        devices.require_gpus(1, job="rule images_sweep")


def test_gpu_that_cannot_run_the_code_is_named(tmp_path, monkeypatch):
    """CUDA reports a device, but a computation on it fails (a GPU this torch has no kernels for, a
    driver/runtime mismatch): the device, the error and the driver are named."""
    proc = _fake_proc(tmp_path, "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  "
                                "580.82.07  Release Build  (dvs-builder@U16-I3-B13-4-1)",
                      models=("Tesla K80",))
    monkeypatch.setattr(devices, "NVIDIA_PROC", proc)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "Tesla K80")

    def no_kernel(*args, **kwargs):
        raise RuntimeError("CUDA error: no kernel image is available for execution on the device")

    monkeypatch.setattr(devices.torch, "arange", no_kernel)
    with pytest.raises(RuntimeError) as err:
        devices.require_gpus(1, job="rule learned_sweep")
    message = str(err.value)
    assert "rule learned_sweep asked for 1 GPU(s) but Tesla K80 cannot run" in message
    assert "no kernel image" in message and "NVIDIA driver 580.82.07" in message
    assert "too old" not in message


def test_too_few_gpus(monkeypatch, tmp_path):
    monkeypatch.setattr(devices, "NVIDIA_PROC", tmp_path / "absent")
    monkeypatch.setattr(devices.shutil, "which", lambda name, path=None: None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(RuntimeError, match=r"asked for 2 GPU\(s\) but only 1 is visible"):
        devices.require_gpus(2, job="rule learned_train")


def test_jobs_without_a_gpu_are_not_checked(monkeypatch, no_cuda):
    jobs.check_gpus({"gpu": 0, "mem_mb": 1000}, "learned_train")
    jobs.check_gpus({"mem_mb": 1000}, "rhm_sweep")


def test_a_device_job_logs_checks_the_gpu_pins_threads_and_reads_its_device(
        tmp_path, monkeypatch, no_cuda):
    from types import SimpleNamespace

    logged = []
    monkeypatch.setattr(jobs, "log_to", logged.append)  # the test's own stderr stays
    smk = SimpleNamespace(log=[str(tmp_path / "job.log")], resources={"gpu": 0}, rule="x",
                          threads=1, config={"learned": {"device": "cpu"}})
    assert jobs.start_device_job(smk, "learned") == "cpu"
    assert logged == [str(tmp_path / "job.log")]
    with pytest.raises(RuntimeError, match="GPU"):
        jobs.start_device_job(SimpleNamespace(**{**vars(smk), "resources": {"gpu": 1}}),
                              "learned")


@pytest.mark.parametrize("resources, error", [("gpu=1", TypeError), ({"gpu": -1}, ValueError),
                                              ({"gpu": "1"}, ValueError),
                                              ({"gpu": True}, ValueError)])
def test_check_gpus_refuses_bad_input(resources, error):
    with pytest.raises(error, match="resources"):
        jobs.check_gpus(resources, "x")


def test_require_gpus_refuses_bad_input():
    with pytest.raises(ValueError, match="n must be"):
        devices.require_gpus(0)
    with pytest.raises(TypeError, match="job must be"):
        devices.require_gpus(1, job=3)


def test_explicit_cuda_setting_explains_why(monkeypatch, tmp_path, no_cuda):
    monkeypatch.setattr(devices, "NVIDIA_PROC", tmp_path / "absent")
    with pytest.raises(RuntimeError, match=r"images.device is 'cuda' but no CUDA device is usable: "
                                           r"this torch .* no NVIDIA driver"):
        devices.resolve_device("cuda", key="images.device")


def test_nvidia_smi_when_proc_is_absent(monkeypatch, tmp_path):
    """Without /proc/driver/nvidia (some containers) the driver comes from nvidia-smi."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'NVIDIA H100 80GB HBM3, 570.86.15'\n"
                   "echo 'NVIDIA H100 80GB HBM3, 570.86.15'\n")
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    assert devices.nvidia_driver(tmp_path / "absent") == (
        "570.86.15", ["NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3"])


# -- logs


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_progress_lines_by_hand():
    """tqdm's writes (a redraw after each carriage return, a newline on close) become whole lines:
    the first redraw, then one per interval, and the bar's last state."""
    import io

    out, clock = io.StringIO(), Clock()
    err = jobs.ProgressLines(out, every=10, clock=clock)
    err.write("starting\n")
    for i in range(101):
        clock.t = i * 0.5  # one redraw every half second, 50 s in all
        err.write(f"\rtrain:  {i:3d}/100 [00:{int(clock.t):02d}<?, 2.00step/s]   ")
    err.write("\n")
    err.write("done\n")
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert lines[0] == "starting" and lines[-1] == "done"
    bars = [ln for ln in lines if ln.startswith("train:")]
    # redraws at t = 0, 10, 20, 30, 40, 50 s (every 20th), the last one being the bar's end
    assert [int(re.search(r"(\d+)/100", b).group(1)) for b in bars] == [0, 20, 40, 60, 80, 100]
    # a bar cleared for a log line: its held state first (5/9, within the interval), then the line
    clock.t += 10
    err.write("\rsweep: 3/9 [00:01<00:02, 3.0it/s]")
    clock.t += 1
    err.write("\rsweep: 4/9 [00:01<00:01, 3.0it/s]")
    err.write("\rsweep: 5/9 [00:02<00:01, 3.0it/s]")
    err.write("\r" + " " * 40 + "\r")
    err.write("a warning\n")
    assert out.getvalue().splitlines()[-4:] == ["done", "sweep: 3/9 [00:01<00:02, 3.0it/s]",
                                                "sweep: 5/9 [00:02<00:01, 3.0it/s]", "a warning"]
    with pytest.raises(ValueError, match="every"):
        jobs.ProgressLines(out, every=-1)


JOB = """
import logging, sys, time, warnings
from tqdm import tqdm
from tqdm.auto import tqdm as auto_tqdm
from hierphase import jobs
from hierphase.training import progress_log

jobs.log_to(sys.argv[1], progress_every=float(sys.argv[2]))
log = logging.getLogger("hierphase.test")
log.info("job starts")
with progress_log("train", 400, 100) as plog:
    bar = tqdm(range(400), desc="train", mininterval=0)
    for step in bar:
        if (step + 1) % 100 == 0:
            plog.step(step + 1, loss=1.0 / (step + 1))
bar.close()
for _ in auto_tqdm(range(300), desc="sweep", mininterval=0, leave=False):
    time.sleep(0.001)
warnings.warn("a warning in between")
for _ in tqdm(range(50), desc="last", mininterval=0):
    pass
log.info("job ends")
"""


@pytest.mark.parametrize("every", [0.0, 3600.0])
@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_job_log_has_no_carriage_returns(tmp_path, every):
    """A job process as the workflow's scripts start it (jobs.log_to), running tqdm bars (plain and
    tqdm.auto, kept and cleared), a training progress log through logging_redirect_tqdm and a
    warning: the log holds lines only, with each bar's count, rate and time left."""
    log = tmp_path / "job.log"
    subprocess.run([sys.executable, "-c", textwrap.dedent(JOB), str(log), str(every)],
                   check=True, timeout=120)
    text = log.read_text()
    assert "\r" not in text
    assert "job starts" in text and "job ends" in text and "a warning in between" in text
    train = [ln for ln in text.splitlines() if ln.startswith("train:")]
    assert train and "400/400" in train[-1]
    assert re.search(r"400/400 \[\d\d:\d\d<00:00, +[\d.]+(it/s|s/it)\]", train[-1]), train[-1]
    assert any(ln.startswith("sweep:") and "300/300" in ln for ln in text.splitlines())
    assert any("last: 100%" in ln and "50/50" in ln for ln in text.splitlines())
    # each log line once, after the state of the bar it interrupts
    steps = [ln for ln in text.splitlines() if "INFO train: step" in ln]
    assert len(steps) == 4 and all(re.search(r"ETA \d\d:\d\d:\d\d$", ln) for ln in steps)
    assert "\ntrain: step" not in text
    sweep = [ln for ln in text.splitlines() if ln.startswith("sweep:")]
    if every == 3600.0:  # rate-limited: the sweep starts within the hour of the first line
        assert len(sweep) == 1 and "300/300" in sweep[0], sweep  # its final state only
    else:
        assert len(sweep) > 10


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine where CUDA is not usable")
def test_gpu_rule_without_a_usable_gpu_fails_in_its_job(tmp_path):
    """The smoke preset's learned branch asking for a GPU (learned.resources.gpus: 1, device
    auto, as the paper preset does) on this machine, where CUDA is not usable: the training job
    fails at once, before training, its log saying why; nothing is trained on the CPU."""
    from workflow_helpers import SMOKE, copy_workflow, run_snakemake

    work = copy_workflow(tmp_path / "work")
    (work / "gpu.yaml").write_text("learned: {resources: {gpus: 1}}\n")
    model = "results/learned/models/main/masking/P64/seed0/model.pt"
    log = work / "logs/learned/train/main/masking/P64/seed0.log"
    proc = run_snakemake(work, "-c1", model, configfile=[SMOKE, "gpu.yaml"], check=False)
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert "Error in rule learned_train" in proc.stdout
    text = log.read_text()
    assert "rule learned_train asked for 1 GPU(s) but CUDA is not usable here" in text, text
    assert f"built for CUDA {torch.version.cuda}" in text or "built without CUDA" in text
    assert "NVIDIA driver" in text
    assert not (work / model).exists() and "step" not in text.split("asked for")[0]
