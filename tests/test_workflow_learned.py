"""The learned branch of the workflow, end to end on the smoke preset (a few training steps)."""

from __future__ import annotations

import re
import shutil

import pytest
import torch
import yaml

from workflow_helpers import (SMOKE, copy_workflow, logs_with_carriage_returns, planned_jobs,
                              run_snakemake, undeclared_results)

from hierphase.io import read_table
from hierphase.learned.curves import SAMPLE_COMPLEXITY_COLUMNS
from hierphase.learned.evaluate import LEARNING_CURVE_COLUMNS, VALIDITY_COLUMNS
from hierphase.tables import (LEARNED_CORRELATIONS_TABLE_COLUMNS, LEARNED_KEPT_COLUMNS,
                              LEARNED_SUSCEPTIBILITY_TABLE_COLUMNS)
from hierphase.stages import learned as stage

pytestmark = pytest.mark.slow

TARGETS = [
    "results/learned/figures/distance.png",
    "results/learned/figures/loss.png",
    "results/learned/figures/kept_main_masking.png",
    "results/learned/figures/kept_main_gaussian.png",
    "results/learned/tables/evaluation.csv",
    "results/learned/figures/validity_vs_P.png",
    "results/learned/figures/memorized_vs_P.png",
    "results/learned/figures/learning_curve.png",
    "results/learned/figures/sample_complexity.png",
    "results/learned/figures/chi_main_masking.png",
    "results/learned/figures/chi_main_gaussian.png",
    "results/learned/correlations/chi_distance.csv",
]
#: The rules of the jobs that a change of the network plans: training and what depends on it.
RETRAIN_PLAN = {"learned_train", "learned_generation", "learned_sweep", "learned_tables",
                "learned_fig_kept", "learned_fig_distance", "learned_fig_loss",
                "learned_curve_point", "learned_curves", "learned_fig_validity_vs_P",
                "learned_fig_memorized_vs_P", "learned_fig_learning_curve",
                "learned_fig_sample_complexity", "learned_corr_sweep", "learned_corr_aggregate",
                "learned_corr_fig_chi"}
#: The smoke preset's snapshot steps (learning_curve: 3 snapshots from step 10 of 30).
SMOKE_STEPS = [10, 17, 30]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    work = copy_workflow(tmp_path_factory.mktemp("learned") / "work")
    run_snakemake(work, "-c2", *TARGETS, configfile=SMOKE)
    return work


def test_smoke_trains_evaluates_and_draws(smoke_run):
    work = smoke_run
    for target in TARGETS:
        assert (work / target).stat().st_size > 0, target
    assert undeclared_results(work) == []
    for fig in ("distance", "loss", "kept_main_masking", "kept_main_gaussian"):
        assert (work / f"results/learned/figures/{fig}.pdf").exists()
    evaluation = read_table(work / "results/learned/tables/evaluation.parquet")
    assert set(["experiment", "process", "P", "seed", "grammatical", "memorized", "n_generated"]) <= set(evaluation)
    assert sorted(zip(evaluation["process"], evaluation["P"])) == [("gaussian", 64), ("masking", 64)]
    assert (evaluation["n_generated"] == 64).all()
    assert evaluation["grammatical"].between(0, 1).all() and evaluation["memorized"].between(0, 1).all()
    # per-level validity of the same samples: L = 3 levels per model; level 0 is the grammatical
    # fraction; validity up to a level cannot grow going up
    levels = read_table(work / "results/learned/tables/validity.parquet")
    assert list(levels.columns) == VALIDITY_COLUMNS and len(levels) == 2 * 2 * 3
    for _, model in levels.groupby(["process", "P", "seed", "samples"]):
        assert model["level"].tolist() == [0, 1, 2]
        assert (model["valid_up_to"].diff().dropna() >= 0).all()
    every = levels[levels["samples"] == "all"]
    top = every[every["level"] == 0].merge(evaluation, on=["experiment", "process", "P", "seed"])
    assert (top["valid_up_to"] == top["grammatical"]).all()
    # the learning curve: every model at every snapshot step, the last one the model itself;
    # snapshot files for the steps before it
    curve = read_table(work / "results/learned/tables/learning_curve.parquet")
    assert list(curve.columns) == LEARNING_CURVE_COLUMNS
    assert sorted(set(zip(curve["process"], curve["step"]))) == sorted(
        (p, k) for p in ("gaussian", "masking") for k in SMOKE_STEPS)
    for process in ("gaussian", "masking"):
        folder = work / f"results/learned/models/main/{process}/P64/seed0/snapshots"
        assert sorted(f.name for f in folder.iterdir()) == ["step10.pt", "step17.pt"]
    complexity = read_table(work / "results/learned/tables/sample_complexity.parquet")
    assert list(complexity.columns) == SAMPLE_COMPLEXITY_COLUMNS
    assert sorted(set(complexity["threshold"])) == [0.5, 0.9]

    kept = read_table(work / "results/learned/tables/kept.parquet")
    assert list(kept.columns) == LEARNED_KEPT_COLUMNS
    assert set(kept["model"]) == {"bp", "tree_unet_P64_s0"}
    # 2 processes x 3 noise values x 4 levels, for exact BP and for the model
    assert len(kept) == 2 * 2 * 3 * 4
    clean = kept[kept["t_over_T"] == 0.0]
    assert (clean["kept_sampled"] == 1.0).all() and (clean["invalid_rate"] == 0.0).all()
    assert kept["kept_sampled"].between(0, 1).all() and kept["invalid_rate"].between(0, 1).all()
    assert (kept.loc[kept["model"] == "bp", "invalid_rate"] == 0).all()

    distance = read_table(work / "results/learned/tables/distance.parquet")
    assert len(distance) == 2 and distance["max_abs_diff"].between(0, 1).all()
    loss = read_table(work / "results/learned/tables/loss.parquet")
    assert sorted(loss["step"].unique()) == [10, 20, 30]

    corr = read_table(work / "results/learned/correlations/correlations.parquet")
    chi = read_table(work / "results/learned/correlations/susceptibility.parquet")
    assert list(corr.columns) == LEARNED_CORRELATIONS_TABLE_COLUMNS
    assert list(chi.columns) == LEARNED_SUSCEPTIBILITY_TABLE_COLUMNS
    # 2 processes x 3 noise values x 4 levels, for exact BP and for the model; 4 x0, 8 runs each
    assert set(chi["model"]) == {"bp", "tree_unet_P64_s0"} and len(chi) == 2 * 2 * 3 * 4
    assert (chi["n_traj"] == 8).all() and (chi.loc[chi["level"] == 3, "n_x0"] == 4).all()
    assert (chi.loc[chi["model"] == "bp", "valid_fraction"] == 1.0).all()
    assert chi["valid_fraction"].between(0, 1).all()
    assert len(corr) == 2 * 2 * 3 * (1 + 2 + 3 + 4)  # C per tree distance at each level
    distance = read_table(work / "results/learned/correlations/chi_distance.parquet")
    assert sorted(distance["process"]) == ["gaussian", "masking"]

    model = work / "results/learned/models/main/masking/P64/seed0/model.pt"
    state = torch.load(model, map_location="cpu", weights_only=False)
    assert state["step"] == 30 and {"model", "optimizer", "generator"} <= set(state)
    assert not model.with_name("model.pt.resume").exists()
    proc, net, meta = stage.load_model(model)
    assert meta["P"] == 64 and proc.name == "masking"


def test_job_logs_hold_lines_only(smoke_run):
    """Progress bars in job logs are lines (count, time left, rate), never carriage-return
    redraws."""
    assert logs_with_carriage_returns(smoke_run) == []
    train = next((smoke_run / "logs/learned/train").rglob("*.log")).read_text()
    assert re.search(r"\d+/\d+ \[\d\d:\d\d<", train), train[-2000:]


def test_smoke_rerun_plans_nothing_and_is_reproducible(smoke_run):
    out = run_snakemake(smoke_run, "-n", "-c1", *TARGETS, configfile=SMOKE).stdout
    assert not [job for job in planned_jobs(out) if job[0].startswith("learned")]
    # One model trained, swept and its change correlations measured again, alone on one core (in
    # the smoke run it shared two cores with other jobs): the same tables, to the bit
    one = ["results/learned/models/main/masking/P64/seed0/loss.parquet",
           "results/learned/eval/main/masking/P64/seed0/kept.parquet",
           "results/learned/eval/main/masking/P64/seed0/correlations.parquet",
           "results/learned/eval/main/masking/P64/seed0/susceptibility.parquet"]
    before = [(smoke_run / table).read_bytes() for table in one]
    out = run_snakemake(smoke_run, "-c1", *one, "--forcerun", "learned_train", configfile=SMOKE).stdout
    assert sorted(rule for rule, _ in planned_jobs(out)) == ["learned_corr_sweep", "learned_sweep",
                                                              "learned_train"]
    for table, data in zip(one, before):
        assert (smoke_run / table).read_bytes() == data, table


def test_changing_the_width_retrains_exactly_the_models_and_records_it(smoke_run, tmp_path):
    """A wider network in the config: the plan is the training jobs of the two models and what
    depends on them (not the rules or any other job); a retrained model records the new width."""
    work = tmp_path / "work"
    shutil.copytree(smoke_run, work, symlinks=True)  # keeps the mtimes and snakemake's records
    (work / "wider.yaml").write_text("learned:\n  network: {width: 24}\n")
    files = [SMOKE, "wider.yaml"]
    jobs = planned_jobs(run_snakemake(work, "-n", *TARGETS, configfile=files).stdout)
    trained = sorted(w["process"] for rule, w in jobs if rule == "learned_train")
    assert trained == ["gaussian", "masking"]
    assert {rule for rule, _ in jobs} == RETRAIN_PLAN
    model = "results/learned/models/main/masking/P64/seed0/model.pt"
    assert stage.load_model(work / model)[2]["network"]["width"] == 16  # the smoke preset's
    run_snakemake(work, "-c1", model, configfile=files)
    _, net, meta = stage.load_model(work / model)
    assert meta["network"]["width"] == 24 and net.cfg.width == 24


#: Every key that only evaluation reads, changed: sampler, evaluation sizes and grids, device.
EVALUATION_ONLY = {"learned": {
    "device": "auto",
    "sampling": {"steps": {"gaussian": 10, "masking": 4, "uniform": 10}, "batch_size": 128},
    "evaluation": {"n_generated": 32, "n_sweep": 32, "tolerance": 0.2,
                   "grid": {"gaussian": [0.0, 0.5], "masking": [0.0, 0.25], "uniform": [0.0, 0.5]}},
    "learning_curve": {"n_generated": 16, "thresholds": [0.6]},
    "correlations": {"n_x0": 3, "n_traj": 4, "n_boot": 20,
                     "grid": {"gaussian": [0.5], "masking": [0.25], "uniform": [0.5]}},
}}


def test_evaluation_only_keys_retrain_nothing(smoke_run):
    """Changing how models are evaluated (or where jobs run) reruns the evaluation, never the
    training: training params hold only the keys that change the weights."""
    overlay = smoke_run / "evaluation_only.yaml"
    overlay.write_text(yaml.safe_dump(EVALUATION_ONLY))
    out = run_snakemake(smoke_run, "-n", "-c1", *TARGETS, configfile=[SMOKE, overlay.name]).stdout
    rules = sorted(rule for rule, _ in planned_jobs(out))
    assert "learned_train" not in rules and "learned_rules" not in rules, out[-3000:]
    # the change was seen: both evaluations of both models, and exact BP, run again
    for rule in ("learned_generation", "learned_sweep", "learned_bp_reference",
                 "learned_corr_sweep", "learned_corr_bp"):
        assert rules.count(rule) == 2, (rule, rules)
    # the learning curve is evaluated again from the kept snapshots: every (model, step)
    assert rules.count("learned_curve_point") == 2 * len(SMOKE_STEPS), rules


def test_bad_learned_config_names_the_key_and_runs_nothing(tmp_path):
    work = copy_workflow(tmp_path / "bad")
    bad = work / "bad.yaml"
    bad.write_text("learned:\n  network: {arch: tree_unet, width: 0, blocks: 1, expansion: 2}\n")
    proc = run_snakemake(work, "-n", configfile=bad, check=False)
    assert proc.returncode != 0
    assert "Invalid config key 'learned.network.width': 0 is less than the minimum of 1" \
        in proc.stdout, proc.stdout[-3000:]
    assert planned_jobs(proc.stdout) == [] and not (work / "results").exists()
