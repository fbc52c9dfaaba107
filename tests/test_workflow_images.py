"""Images branch of the workflow, end to end in temporary copies: the smoke preset's images
branch (tables' schema and ranges, a larger or otherwise sharded sweep replans the shards and
sweeps but not the training split or the trainings, deleting a sweep shard replans only that
shard and its descendants and reproduces the same numbers), and the ImageNet preset's rules on generated JPEGs
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

from hierphase.tables import PATCH_CORRELATIONS_COLUMNS, PATCH_SUSCEPTIBILITY_COLUMNS
from workflow_helpers import (SMOKE, copy_workflow, logs_with_carriage_returns, planned_jobs,
                              run_snakemake, undeclared_results)

torch.set_num_threads(1)
pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore:.*torch.cuda.amp.custom:FutureWarning")]


# ----------------------------------------------------------------------------------- workflow
ONLY_IMAGES = {"rhm": {"enabled": False}, "learned": {"enabled": False},
               "grammar": {"enabled": False}, "mdlm": {"enabled": False}}


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


def _check_patch_tables(tables: Path, dataset: str, corr_cfg, K: int, grids: dict):
    """The patch-correlation tables: columns, one row per (embedding, k), the grids, C exactly 0
    and chi, xi undefined at k = 0 (x̂0 = x0 in every run), intervals around the estimates."""
    corr = pd.read_parquet(tables / "patch_correlations.parquet")
    sus = pd.read_parquet(tables / "patch_susceptibility.parquet")
    assert list(corr.columns) == PATCH_CORRELATIONS_COLUMNS
    assert list(sus.columns) == PATCH_SUSCEPTIBILITY_COLUMNS
    k_grid = sorted(corr_cfg["k_grid"])
    assert sorted(sus["embedding"].unique()) == sorted(grids)
    assert (sus["dataset"] == dataset).all()
    assert (sus["n_x0"] == corr_cfg["n_images"]).all() and (sus["n_traj"] == corr_cfg["n_traj"]).all()
    for embedding, (h, w) in grids.items():
        rows = sus[sus["embedding"] == embedding]
        assert rows["k"].tolist() == k_grid  # one row per k, in order
        np.testing.assert_allclose(rows["t_over_T"], np.asarray(k_grid) / K)
        assert (rows["grid_h"] == h).all() and (rows["grid_w"] == w).all()
        c = corr[corr["embedding"] == embedding]
        assert len(c) == len(k_grid) * len(np.unique([a * a + b * b for a in range(h)
                                                      for b in range(w)]))
    zero = sus["k"] == 0
    assert sus.loc[zero, ["chi", "xi"]].isna().all().all() and (sus.loc[zero, "delta"] == 0).all()
    assert (corr.loc[corr["k"] == 0, ["C", "C_lo", "C_hi"]] == 0).all().all()
    moved = sus[~zero]
    assert (moved["delta"] > 0).all() and np.isfinite(moved["chi"]).all()
    assert ((moved["chi_lo"] <= moved["chi"] + 1e-9) & (moved["chi"] <= moved["chi_hi"] + 1e-9)).all()
    pd.testing.assert_frame_equal(pd.read_csv(tables / "patch_susceptibility.csv"), sus,
                                  check_dtype=False)
    return corr, sus


def test_smoke_preset_images_branch_end_to_end_and_resume(tmp_path):
    work = _copy_workflow(tmp_path / "work")
    cfg = [SMOKE, "only_images.yaml"]
    smoke = yaml.safe_load((work / SMOKE).read_text())["images"]
    _snakemake(work, "-c2", "images", configfiles=cfg)
    assert logs_with_carriage_returns(work) == []  # progress bars are lines in job logs
    run = f"digits/{smoke['model']['name']}/digits_cnn"
    tables = work / "results/images/tables" / run
    n_images = 10 * smoke["n_per_class"]
    kept, sim = _check_tables(tables, "digits", n_images, smoke["k_grid"], smoke["respaced_steps"],
                              len(DC.DIGITS_LAYERS))
    corr_cfg = smoke["correlations"]
    _check_patch_tables(tables, "digits", corr_cfg, smoke["respaced_steps"],
                        {"classifier": (8, 8), "pixels": (8, 8)})
    patch_bytes = {name: (tables / name).read_bytes()
                   for name in ("patch_correlations.parquet", "patch_susceptibility.parquet",
                                "patch_correlations.csv", "patch_susceptibility.csv")}
    # the correlation jobs again with one core: the same bytes
    _snakemake(work, "-c1", "images", "--forcerun", "images_corr_sweep", configfiles=cfg)
    assert {name: (tables / name).read_bytes() for name in patch_bytes} == patch_bytes
    quality = pd.read_parquet(tables / "quality.parquet")
    assert quality["metric"].tolist() == ["classifier_held_out_accuracy",
                                          "samples_confidence_gt_0.9"]
    assert quality["value"].between(0, 1).all()
    for fig in ("grid", "class_kept", "layer_similarity", "samples", "correlations"):
        for ext in ("png", "pdf"):
            assert (work / "results/images/figures" / run / f"{fig}.{ext}").stat().st_size > 1000
    assert undeclared_results(work) == []
    weights = work / "results/images/classifiers/digits/digits_cnn.pt"
    assert read_sidecar(weights)["output"] == "digits_cnn.pt"  # its own, not the history's
    # nothing left to do
    dry = _snakemake(work, "-n", "images", configfiles=cfg)
    assert planned_jobs(dry.stdout) == []
    # a sweep of more images, or cut otherwise: the shards are recut and everything that reads
    # them runs again; the training split and what reads only it (the trainings, the quality
    # check) are not planned
    resize = work / "sweep_size.yaml"
    for change in ({"n_per_class": 3}, {"shard_size": 7}):
        resize.write_text(yaml.safe_dump({"images": change}))
        dry = _snakemake(work, "-n", "images", configfiles=cfg + [resize.name])
        replanned = {rule for rule, _ in planned_jobs(dry.stdout)}
        assert not replanned & {"images_split", "images_train_ddpm", "images_train_classifier",
                                "images_quality"}, (change, replanned)
        assert {"images_data", "images_stats", "images_sweep", "images_measure",
                "images_aggregate", "images_corr_sweep"} <= replanned, (change, replanned)
    # keys that only the sweeps, measurements and figures read (and the device): no data or
    # training job is planned again, the sweeps are
    overlay = work / "evaluation_only.yaml"
    overlay.write_text(yaml.safe_dump({"images": {
        "device": "auto", "batch_size": 10, "respaced_steps": 20, "k_grid": [0, 5, 20],
        "quality": {"n_samples": 4, "confidence": 0.8}, "grid_images": 1,
        "seeds": {"sweep": 1, "samples": 1}}}))
    dry = _snakemake(work, "-n", "images", configfiles=cfg + [overlay.name])
    replanned = {rule for rule, _ in planned_jobs(dry.stdout)}
    assert not replanned & {"images_split", "images_data", "images_train_ddpm",
                            "images_train_classifier"}, replanned
    assert {"images_sweep", "images_measure", "images_quality"} <= replanned, replanned
    # a run killed while sweeping (k, shard): that sweep shard (written atomically, so absent),
    # its measurement and everything aggregated after it are missing; the rest is on disk
    k, shard = max(smoke["k_grid"]), -(-n_images // smoke["shard_size"]) - 1  # the last shard
    model = smoke["model"]["name"]
    (work / f"results/images/sweep/digits/{model}/k{k}/shard{shard}.pt").unlink()
    (work / f"results/images/measure/{run}/k{k}/shard{shard}.parquet").unlink()
    for path in list(tables.glob("class_kept.*")) + list(tables.glob("layer_similarity.*")):
        path.unlink()
    # and while running correlation job (k, shard): its table and the pooled tables are missing
    corr_k, corr_shard = max(corr_cfg["k_grid"]), 0
    (work / f"results/images/correlations/{run}/k{corr_k}/shard{corr_shard}.parquet").unlink()
    for path in tables.glob("patch_*"):
        path.unlink()
    for fig in ("class_kept", "layer_similarity", "correlations"):
        for ext in ("png", "pdf"):
            (work / "results/images/figures" / run / f"{fig}.{ext}").unlink()
    dry = _snakemake(work, "-n", "images", configfiles=cfg)
    planned = planned_jobs(dry.stdout)
    rules = sorted(rule for rule, _ in planned)
    # the x0 -> x0_hat grid shows images of the first shard: it is redrawn when that shard is
    expected = ["images_sweep", "images_measure", "images_aggregate", "images_fig_class_kept",
                "images_fig_layer_similarity", "images_corr_sweep", "images_corr_aggregate",
                "images_fig_correlations", "images"] + ["images_fig_grid"] * (shard == 0)
    assert rules == sorted(expected), rules
    measures = [wc for rule, wc in planned if rule == "images_measure"]
    assert measures == [{"k": str(k), "shard": str(shard)}]
    sweeps = [wc for rule, wc in planned if rule == "images_sweep"]
    assert sweeps == [{"k": str(k), "shard": str(shard)}]
    corr_jobs = [wc for rule, wc in planned if rule == "images_corr_sweep"]
    assert corr_jobs == [{"k": str(corr_k), "shard": str(corr_shard)}]
    # rerunning reproduces the same numbers (per-image seeds, deterministic CPU)
    _snakemake(work, "-c2", "images", configfiles=cfg)
    pd.testing.assert_frame_equal(pd.read_parquet(tables / "class_kept.parquet"), kept)
    pd.testing.assert_frame_equal(pd.read_parquet(tables / "layer_similarity.parquet"), sim)
    assert {name: (tables / name).read_bytes() for name in patch_bytes} == patch_bytes


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


@pytest.mark.torchvision
def test_imagenet_preset_rules_on_generated_jpegs(tmp_path):
    """The ImageNet preset with its four inputs replaced by local fakes: 12 generated JPEGs in 3
    classes with devkit labels, a tiny random ADM checkpoint, a random ConvNeXt-Base state dict and
    a tiny random CLIP ViT (7 x 7 patches of a 28 px crop, as ViT-B/32 on a 224 crop)."""
    from torchvision.models import convnext_base
    from transformers import CLIPVisionConfig, CLIPVisionModel

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
    CLIPVisionModel(CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                     num_attention_heads=4, image_size=28, patch_size=4)
                    ).save_pretrained(res / "clip")
    work = _copy_workflow(tmp_path / "work")
    corr = {"n_images": 4, "shard_size": 3, "n_traj": 3, "k_grid": [2, 4], "n_boot": 20,
            "embeddings": {"clip": {"weights": str(res / "clip"), "crop": 28},
                           "pixels": {"patch": 4, "crop": 28}}}
    override = {"images": {
        "device": "cpu", "threads": 1,
        "data": {"image_size": 32, "imagenet": {"val_dir": str(res / "val"),
                                                "labels": str(res / "gt.txt"), "n_classes": 3}},
        "model": {"path": str(res / "adm.pt"), "adm_flags": flags},
        "classifier": {"weights": str(res / "convnext.pth")},
        "n_per_class": 2, "respaced_steps": 4, "k_grid": [0, 4], "shard_size": 3,
        "batch_size": 6, "correlations": corr}}
    (work / "fake_imagenet.yaml").write_text(yaml.safe_dump(override))
    cfg = ["only_images.yaml", "workflow/presets/imagenet.yaml", "fake_imagenet.yaml"]
    # CLIP weights that are not there: refused before any job, the key named
    missing = {"images": {"correlations": {"embeddings": {"clip": {"weights": str(res / "no")}}}}}
    (work / "no_clip.yaml").write_text(yaml.safe_dump(missing))
    proc = _snakemake(work, "-n", "images", configfiles=cfg + ["no_clip.yaml"], check=False)
    assert proc.returncode != 0
    assert "images.correlations.embeddings.clip.weights" in proc.stdout
    dry = _snakemake(work, "-n", "images", configfiles=cfg)
    planned = planned_jobs(dry.stdout)
    assert sum(rule == "images_sweep" for rule, _ in planned) == 4  # 2 k x 2 shards of 3
    # images 0..3 in correlation shards {0, 1, 2}, {3}: the second reads data shard 1 only
    assert sum(rule == "images_corr_sweep" for rule, _ in planned) == 4  # 2 k x 2 shards
    assert not any(rule.startswith("images_train") or rule in ("images_split", "images_quality")
                   for rule, _ in planned)
    assert sum(rule == "images_data" for rule, _ in planned) == 1
    _snakemake(work, "-c2", "images", configfiles=cfg)
    tables = work / "results/images/tables/imagenet-val/adm-256-uncond/convnext_base"
    _check_tables(tables, "imagenet-val", 6, [0, 4], 4, 41)
    # CLIP tokens and pixel blocks of the 28 px crop (7 x 7), ConvNeXt's stage-3 map (2 x 2 at
    # 32 px), measured on the same runs
    _check_patch_tables(tables, "imagenet-val", corr, 4,
                        {"clip": (7, 7), "classifier": (2, 2), "pixels": (7, 7)})
    shard = torch.cat([read_shard(work / f"results/images/data/imagenet-val/shard{i}.pt")["images"]
                       for i in range(2)])
    assert shard.shape == (6, 3, 32, 32)
    labels = [read_shard(work / f"results/images/data/imagenet-val/shard{i}.pt")["labels"].tolist()
              for i in range(2)]
    assert labels == [[3, 7, 9], [3, 7, 9]]  # classes interleaved, label order
    assert (work / "results/images/figures/imagenet-val/adm-256-uncond/convnext_base/grid.png").is_file()
    assert undeclared_results(work) == []
