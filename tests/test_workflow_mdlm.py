"""The MDLM branch of the workflow, end to end on the smoke preset in temporary copies, the other
branches switched off by workflow/presets/only-mdlm.yaml.

One run with ``-c2`` gives the tables and figures that most tests inspect; a second, fresh copy
makes the tables (figures left out) with ``-c1``, compared byte for byte with the first (every
draw is seeded from the config and the job's wildcards, whatever runs beside it). Dry runs then
check what a change of the config plans: nothing after a finished run, a new training-set size
its own training and sweep only. The published checkpoint's path runs end to end on a tiny random
MDLM written in the published file layout, and a missing one is refused naming its key.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from workflow_helpers import (SMOKE, assert_figures_drawn, branch_smoke_run, copy_workflow,
                              planned_jobs, run_snakemake, table_bytes, undeclared_results,
                              with_overlay)

from hierphase import io
from hierphase.mdlm.model import DiffusionTransformer, TransformerConfig

pytestmark = pytest.mark.slow
ONLY = "workflow/presets/only-mdlm.yaml"
FILES = [SMOKE, ONLY]
G, T = "results/mdlm/grammar", "results/mdlm/text"
#: The pooled tables of the smoke preset, with their layouts.
LAYOUTS = {f"{G}/tables/kept": "mdlm_grammar_kept",
           f"{G}/tables/correlations": "mdlm_grammar_correlations",
           f"{G}/tables/susceptibility": "mdlm_grammar_susceptibility",
           f"{G}/tables/gap": "mdlm_grammar_gap", f"{T}/tables/curves": "mdlm_text_curves",
           f"{T}/tables/chi": "mdlm_text_chi", f"{T}/tables/peaks": "mdlm_text_peaks"}
FIGURES = ("grammar/kept", "grammar/chi", "text/chi", "text/xi")


def _smoke(work: Path) -> dict:
    return yaml.safe_load((work / SMOKE).read_text())["mdlm"]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> Path:
    """The smoke preset's MDLM branch alone, run once with -c2."""
    return branch_smoke_run(tmp_path_factory.mktemp("mdlm-smoke") / "work", "mdlm")


def test_smoke_run_makes_every_table_with_its_sidecar_and_every_figure(smoke):
    for stem, layout in LAYOUTS.items():
        table = io.read_table(smoke / f"{stem}.parquet", layout)
        assert len(table) > 0, stem
        csv = pd.read_csv(smoke / f"{stem}.csv")
        assert list(csv.columns) == list(table.columns) and len(csv) == len(table)
    cfg = _smoke(smoke)
    for P in cfg["grammar"]["P"]:
        loss = io.read_table(smoke / f"{G}/models/P{P}/loss.parquet", "mdlm_loss")
        assert loss["step"].max() == cfg["grammar"]["training"]["steps"]
        assert not (smoke / f"{G}/models/P{P}/model.pt.resume").exists()
    assert json.loads((smoke / f"{T}/tokenizer.json").read_text())
    assert_figures_drawn(smoke / "results/mdlm/figures", FIGURES)
    assert undeclared_results(smoke) == []


def test_tables_hold_every_planned_measurement(smoke):
    cfg = _smoke(smoke)
    g, t = cfg["grammar"], cfg["text"]
    kept = pd.read_parquet(smoke / f"{G}/tables/kept.parquet")
    found = set(kept[["model", "P", "level"]].itertuples(index=False, name=None))
    assert found == {(m, P, lv) for m, P in [("exact", 0)] + [("mdlm", P) for P in g["P"]]
                     for lv in g["levels"]}
    exact = kept[(kept["model"] == "exact") & (kept["observable"] == "grammatical")]
    assert (exact["value"] == 1.0).all() and (kept["n"] == g["n_test"]).all()
    gap = pd.read_parquet(smoke / f"{G}/tables/gap.parquet")
    assert sorted(set(gap["P"])) == sorted(g["P"]) and len(gap) == len(g["P"]) * len(g["levels"])
    chi = pd.read_parquet(smoke / f"{T}/tables/chi.parquet")
    assert set(chi["model"]) == {"mdlm", "shuffled", "ngram"}
    assert set(chi["cutoff"]) == {f"r<={R}" for R in t["cutoffs"]} | {"all"}
    assert sorted(set(chi["t"])) == sorted(t["levels"])
    assert (chi["n_x0"] == t["n_passages"]).all() and (chi["n_traj"] == t["n_maskings"]).all()
    peaks = pd.read_parquet(smoke / f"{T}/tables/peaks.parquet")
    assert len(peaks) == 3 * (len(t["cutoffs"]) + 1)


def test_c1_and_c2_give_byte_identical_tables(smoke, tmp_path):
    """The tables (parquet, CSV, sidecars) and the data and model files of a fresh -c1 run equal
    the -c2 run's, byte for byte."""
    work = copy_workflow(tmp_path / "work")
    targets = [f"{stem}.csv" for stem in LAYOUTS]
    run_snakemake(work, "-c1", *targets, configfile=FILES)
    ours = table_bytes(work)
    reference = {k: v for k, v in table_bytes(smoke).items() if k.startswith("results/mdlm/")}
    assert len(ours) > 30 and set(ours) == set(reference)
    assert [path for path in ours if ours[path] != reference[path]] == []
    models = [f"{G}/models/P{P}/model.pt" for P in _smoke(smoke)["grammar"]["P"]]
    for path in [f"{G}/data.pt", f"{T}/data.pt", f"{T}/tokenizer.json", f"{T}/model/model.pt",
                 *models]:
        assert (work / path).read_bytes() == (smoke / path).read_bytes(), path


def test_rerun_plans_nothing(smoke):
    out = run_snakemake(smoke, "-n", "mdlm", configfile=FILES).stdout
    assert "Nothing to be done" in out and planned_jobs(out) == [], out[-3000:]


def test_adding_a_training_set_size_plans_only_its_model(smoke):
    P = _smoke(smoke)["grammar"]["P"] + [32]
    files = with_overlay(smoke, FILES, {"mdlm": {"grammar": {"P": P}}})
    jobs = planned_jobs(run_snakemake(smoke, "-n", "mdlm", configfile=files).stdout)
    assert sorted((rule, w.get("P", w.get("denoiser"))) for rule, w in jobs
                  if rule in ("mdlm_grammar_train", "mdlm_grammar_sweep")) == [
        ("mdlm_grammar_sweep", "P32"), ("mdlm_grammar_train", "32")]
    assert sorted(rule for rule, _ in jobs if rule not in (
        "mdlm_grammar_train", "mdlm_grammar_sweep")) == sorted([
            "mdlm", "mdlm_grammar_aggregate", "mdlm_fig_grammar_kept", "mdlm_fig_grammar_chi"])


def _tiny_published(folder: Path, vocab: int) -> None:
    """A random MDLM in the published release's layout: config.json and model.safetensors with
    the backbone's parameters under ``backbone.``."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    net = DiffusionTransformer(TransformerConfig(vocab_size=vocab, hidden=16, n_blocks=1,
                                                 n_heads=2, cond_dim=8))
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.3)
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({
        "model_type": "mdlm", "vocab_size": vocab, "model_length": 32, "hidden_dim": 16,
        "cond_dim": 8, "n_blocks": 1, "n_heads": 2, "dropout": 0.1, "time_conditioning": False}))
    save_file({f"backbone.{k}": v.contiguous() for k, v in net.state_dict().items()},
              str(folder / "model.safetensors"))


def test_published_checkpoint_runs_end_to_end_and_a_missing_one_is_refused(smoke):
    local = smoke / "resources/published"
    local.mkdir(parents=True)
    tokenizer = local / "tokenizer.json"
    tokenizer.write_text((smoke / f"{T}/tokenizer.json").read_text())
    from hierphase.text.corpus import load_tokenizer

    _tiny_published(local / "mdlm", load_tokenizer(tokenizer).vocab_size + 1)
    published = {"enabled": True, "checkpoint": "resources/published/mdlm",
                 "tokenizer": "resources/published/tokenizer.json", "corpus": None,
                 "n_heads": 2, "use_ema": True, "length": 24, "n_passages": 6}
    files = with_overlay(smoke, FILES, {"mdlm": {"published": published}})
    jobs = planned_jobs(run_snakemake(smoke, "-n", "mdlm", configfile=files).stdout)
    assert sorted(rule for rule, _ in jobs) == sorted([
        "mdlm", "mdlm_published_protocol", "mdlm_text_aggregate", "mdlm_fig_text_chi",
        "mdlm_fig_text_xi"])
    run_snakemake(smoke, "-c2", "mdlm", configfile=files)
    chi = io.read_table(smoke / f"{T}/tables/chi.parquet", "mdlm_text_chi")
    assert set(chi["model"]) == {"mdlm", "shuffled", "ngram", "published"}
    assert (chi.loc[chi["model"] == "published", "n_x0"] == 6).all()
    files = with_overlay(smoke, FILES, {"mdlm": {"published": {**published,
                                                    "checkpoint": "resources/none"}}})
    proc = run_snakemake(smoke, "-n", "mdlm", configfile=files, check=False)
    assert proc.returncode != 0 and planned_jobs(proc.stdout) == []
    assert "Invalid config key 'mdlm.published.checkpoint': 'resources/none' is not there" \
        in proc.stdout, proc.stdout[-3000:]
