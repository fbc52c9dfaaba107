"""Images branch of the workflow, end to end in temporary copies: the smoke preset's images
branch (tables' schema and ranges, deleting a sweep shard replans only that shard and its
descendants and reproduces the same numbers), and the ImageNet preset's rules on generated JPEGs
with a tiny random ADM and a randomly initialised ConvNeXt-Base (never a download). The digits
data and models and the stage's glue, in process: tests/test_stages_images.py.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from hierphase.images import digits_cnn as DC
from hierphase.stages import images as P
from hierphase.images.shards import read_shard
from hierphase.io import read_sidecar

from workflow_helpers import SMOKE, copy_workflow, planned_jobs, run_snakemake, undeclared_results

torch.set_num_threads(1)
pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore:.*torch.cuda.amp.custom:FutureWarning")]


# ----------------------------------------------------------------------------------- workflow
ONLY_IMAGES = {"rhm": {"enabled": False}, "learned": {"enabled": False}}


def _copy_workflow(dest: Path) -> Path:
    """The workflow copied into ``dest``, plus an overlay that switches the other branches off."""
    copy_workflow(dest)
    (dest / "only_images.yaml").write_text(yaml.safe_dump(ONLY_IMAGES))
    return dest


def _snakemake(work: Path, *args: str, configfiles=(), check=True) -> subprocess.CompletedProcess:
    return run_snakemake(work, *args, configfile=list(configfiles) or None, check=check)


def _check_tables(tables: Path, dataset: str, n_images: int, k_grid, K: int, n_layers: int):
    kept = pd.read_parquet(tables / "class_kept.parquet")
    sim = pd.read_parquet(tables / "layer_similarity.parquet")
    assert list(kept.columns) == P.CLASS_KEPT_COLUMNS
    assert list(sim.columns) == P.LAYER_SIMILARITY_COLUMNS
    assert kept["k"].tolist() == sorted(k_grid) and (kept["n"] == n_images).all()
    assert (kept["dataset"] == dataset).all()
    np.testing.assert_allclose(kept["t_over_T"], np.asarray(sorted(k_grid)) / K)
    assert kept["kept"].between(0, 1).all()
    assert (kept["ci_low"] <= kept["kept"] + 1e-9).all()
    assert (kept["kept"] <= kept["ci_high"] + 1e-9).all()
    assert len(sim) == len(k_grid) * n_layers and sim["similarity"].between(-1 - 1e-6, 1 + 1e-6).all()
    assert sorted(sim["depth"].unique()) == list(range(n_layers))
    # k = 0 returns x0 itself: class kept and every layer identical
    assert kept.loc[kept.k == 0, "kept"].item() == 1.0
    np.testing.assert_allclose(sim.loc[sim.k == 0, "similarity"], 1.0, atol=1e-5)
    pd.testing.assert_frame_equal(pd.read_csv(tables / "class_kept.csv"), kept, check_dtype=False)
    return kept, sim


def test_smoke_preset_images_branch_end_to_end_and_resume(tmp_path):
    work = _copy_workflow(tmp_path / "work")
    cfg = [SMOKE, "only_images.yaml"]
    smoke = yaml.safe_load((work / SMOKE).read_text())["images"]
    _snakemake(work, "-c2", "images", configfiles=cfg)
    run = f"digits/{smoke['model']['name']}/digits_cnn"
    tables = work / "results/images/tables" / run
    n_images = 10 * smoke["n_per_class"]
    kept, sim = _check_tables(tables, "digits", n_images, smoke["k_grid"], smoke["respaced_steps"],
                              len(DC.DIGITS_LAYERS))
    quality = pd.read_parquet(tables / "quality.parquet")
    assert quality["metric"].tolist() == ["classifier_held_out_accuracy",
                                          "samples_confidence_gt_0.9"]
    assert quality["value"].between(0, 1).all()
    for fig in ("grid", "class_kept", "layer_similarity", "samples"):
        for ext in ("png", "pdf"):
            assert (work / "results/images/figures" / run / f"{fig}.{ext}").stat().st_size > 1000
    assert undeclared_results(work) == []
    weights = work / "results/images/classifiers/digits/digits_cnn.pt"
    assert read_sidecar(weights)["output"] == "digits_cnn.pt"  # its own, not the history's
    # nothing left to do
    dry = _snakemake(work, "-n", "images", configfiles=cfg)
    assert planned_jobs(dry.stdout) == []
    # keys that only the sweeps, measurements and figures read (and the device): no data or
    # training job is planned again, the sweeps are
    overlay = work / "evaluation_only.yaml"
    overlay.write_text(yaml.safe_dump({"images": {
        "device": "auto", "batch_size": 10, "respaced_steps": 20, "k_grid": [0, 5, 20],
        "quality": {"n_samples": 4, "confidence": 0.8}, "grid_images": 1,
        "seeds": {"sweep": 1, "samples": 1}}}))
    dry = _snakemake(work, "-n", "images", configfiles=cfg + [overlay.name])
    replanned = {rule for rule, _ in planned_jobs(dry.stdout)}
    assert not replanned & {"images_data", "images_train_ddpm", "images_train_classifier"}, replanned
    assert {"images_sweep", "images_measure", "images_quality"} <= replanned, replanned
    # a run killed while sweeping (k, shard): that sweep shard (written atomically, so absent),
    # its measurement and everything aggregated after it are missing; the rest is on disk
    k, shard = max(smoke["k_grid"]), -(-n_images // smoke["shard_size"]) - 1  # the last shard
    model = smoke["model"]["name"]
    (work / f"results/images/sweep/digits/{model}/k{k}/shard{shard}.pt").unlink()
    (work / f"results/images/measure/{run}/k{k}/shard{shard}.parquet").unlink()
    for path in list(tables.glob("class_kept.*")) + list(tables.glob("layer_similarity.*")):
        path.unlink()
    for fig in ("class_kept", "layer_similarity"):
        for ext in ("png", "pdf"):
            (work / "results/images/figures" / run / f"{fig}.{ext}").unlink()
    dry = _snakemake(work, "-n", "images", configfiles=cfg)
    planned = planned_jobs(dry.stdout)
    rules = sorted(rule for rule, _ in planned)
    # the x0 -> x0_hat grid shows images of the first shard: it is redrawn when that shard is
    expected = ["images_sweep", "images_measure", "images_aggregate", "images_fig_class_kept",
                "images_fig_layer_similarity", "images"] + ["images_fig_grid"] * (shard == 0)
    assert rules == sorted(expected), rules
    measures = [wc for rule, wc in planned if rule == "images_measure"]
    assert measures == [{"k": str(k), "shard": str(shard)}]
    sweeps = [wc for rule, wc in planned if rule == "images_sweep"]
    assert sweeps == [{"k": str(k), "shard": str(shard)}]
    # rerunning reproduces the same numbers (per-image seeds, deterministic CPU)
    _snakemake(work, "-c2", "images", configfiles=cfg)
    pd.testing.assert_frame_equal(pd.read_parquet(tables / "class_kept.parquet"), kept)
    pd.testing.assert_frame_equal(pd.read_parquet(tables / "layer_similarity.parquet"), sim)


def test_missing_paths_name_the_config_key(tmp_path):
    work = _copy_workflow(tmp_path / "work")
    bad = {"images": {"model": {"kind": "diffusers", "path": str(tmp_path / "nope")}}}
    (work / "bad.yaml").write_text(yaml.safe_dump(bad))
    proc = _snakemake(work, "-n", "images", configfiles=["only_images.yaml", "bad.yaml"],
                      check=False)
    assert proc.returncode != 0 and "images.model.path" in proc.stdout
    bad = {"images": {"k_grid": [0, 500]}}
    (work / "bad.yaml").write_text(yaml.safe_dump(bad))
    proc = _snakemake(work, "-n", "images", configfiles=["only_images.yaml", "bad.yaml"],
                      check=False)
    assert proc.returncode != 0 and "images.k_grid" in proc.stdout


def _jpeg(path: Path, w: int, h: int, colour) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(w * h)
    pixels = np.clip(np.asarray(colour)[None, None] + rng.integers(-40, 40, (h, w, 3)), 0, 255)
    Image.fromarray(pixels.astype(np.uint8)).save(path, quality=90)


def test_imagenet_preset_rules_on_generated_jpegs(tmp_path):
    """The ImageNet preset with its three inputs replaced by local fakes: 12 generated JPEGs in 3
    classes with devkit labels, a tiny random ADM checkpoint, a random ConvNeXt-Base state dict."""
    from torchvision.models import convnext_base

    from hierphase.images import models as M

    res = tmp_path / "resources"
    labels = []
    for i in range(12):
        label = [7, 3, 9][i % 3]
        _jpeg(res / "val" / f"ILSVRC2012_val_{i + 1:08d}.JPEG", 40 + 3 * i, 36 + (5 * i) % 17,
              (20 * label, 100, 255 - 20 * label))
        labels.append(label)
    (res / "gt.txt").write_text("".join(f"{v}\n" for v in labels))
    flags = dict(image_size=32, num_channels=32, num_res_blocks=1, channel_mult="1,2",
                 attention_resolutions="8", num_head_channels=16)
    torch.manual_seed(0)
    torch.save(M.build_adm(M.AdmFlags(**flags)).state_dict(), res / "adm.pt")
    torch.save(convnext_base(weights=None).state_dict(), res / "convnext.pth")
    work = _copy_workflow(tmp_path / "work")
    override = {"images": {
        "device": "cpu", "threads": 1,
        "data": {"image_size": 32, "imagenet": {"val_dir": str(res / "val"),
                                                "labels": str(res / "gt.txt"), "n_classes": 3}},
        "model": {"path": str(res / "adm.pt"), "adm_flags": flags},
        "classifier": {"weights": str(res / "convnext.pth")},
        "n_per_class": 2, "respaced_steps": 4, "k_grid": [0, 4], "shard_size": 6,
        "batch_size": 6}}
    (work / "fake_imagenet.yaml").write_text(yaml.safe_dump(override))
    cfg = ["only_images.yaml", "workflow/presets/imagenet.yaml", "fake_imagenet.yaml"]
    dry = _snakemake(work, "-n", "images", configfiles=cfg)
    planned = planned_jobs(dry.stdout)
    assert sum(rule == "images_sweep" for rule, _ in planned) == 2  # 2 k x 1 shard of 6
    assert not any(rule.startswith("images_train") or rule == "images_quality" for rule, _ in planned)
    _snakemake(work, "-c2", "images", configfiles=cfg)
    tables = work / "results/images/tables/imagenet-val/adm-256-uncond/convnext_base"
    _check_tables(tables, "imagenet-val", 6, [0, 4], 4, 41)
    shard = read_shard(work / "results/images/data/imagenet-val/shard0.pt")
    assert shard["images"].shape == (6, 3, 32, 32)
    assert shard["labels"].tolist() == [3, 7, 9, 3, 7, 9]  # classes interleaved, label order
    assert (work / "results/images/figures/imagenet-val/adm-256-uncond/convnext_base/grid.png").is_file()
    assert undeclared_results(work) == []
