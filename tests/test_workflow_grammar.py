"""The grammar branch of the workflow, end to end on the smoke preset in temporary copies, the
other branches switched off by workflow/presets/only-grammar.yaml.

One run with ``-c2`` gives the tables and figures that most tests inspect; a second, fresh copy
makes the tables (figures left out) with ``-c1``, compared byte for byte with the first (every
draw is seeded from the config and the job's wildcards, whatever runs beside it). Dry runs then
check what a change of the config plans: nothing after a finished run, a new noise value its own
shards only, a grammar file an input of its grammar job.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from workflow_helpers import (SMOKE, assert_figures_drawn, branch_smoke_run, copy_workflow,
                              planned_jobs, run_snakemake, table_bytes, undeclared_results,
                              with_overlay)

from hierphase import io
from hierphase.plan.grammar import noise_label

pytestmark = pytest.mark.slow
ONLY = "workflow/presets/only-grammar.yaml"
FILES = [SMOKE, ONLY]
TABLES = "results/grammar/random/tables"
#: The pooled and finite-size tables of the smoke preset's experiment, with their layouts.
LAYOUTS = {"kept": "grammar_kept", "correlations": "grammar_correlations",
           "susceptibility": "grammar_susceptibility", "cochange": "grammar_cochange",
           "finite_size": "grammar_scaling_points", "finite_size_fits": "grammar_scaling"}
FIGURES = ("class_kept", "chi", "c_of_r", "cochange")


def _smoke_experiment(work: Path) -> dict:
    return yaml.safe_load((work / SMOKE).read_text())["grammar"]["experiments"]["random"]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> Path:
    """The smoke preset's grammar branch alone, run once with -c2."""
    return branch_smoke_run(tmp_path_factory.mktemp("grammar-smoke") / "work", "grammar")


def test_smoke_run_makes_every_table_with_its_sidecar_and_every_figure(smoke):
    for name, layout in LAYOUTS.items():
        path = smoke / TABLES / f"{name}.parquet"
        table = io.read_table(path, layout)  # the layout its sidecar records, checked
        assert len(table) > 0, name
        assert io.read_sidecar(path)["table"] == layout
        csv = pd.read_csv(smoke / TABLES / f"{name}.csv")
        assert list(csv.columns) == list(table.columns) and len(csv) == len(table)
    for stem in ("grammar", "sentences", "hmm"):
        assert (smoke / f"results/grammar/random/{stem}.meta.json").is_file(), stem
    assert_figures_drawn(smoke / "results/grammar/figures/random", FIGURES)
    assert undeclared_results(smoke) == []


def test_tables_hold_every_planned_measurement(smoke):
    exp = _smoke_experiment(smoke)
    kept = pd.read_parquet(smoke / TABLES / "kept.parquet")
    planned = {("grammar", n, p, v) for n in exp["lengths"]
               for p, values in exp["processes"].items() for v in values}
    planned |= {("hmm", n, p, v) for n in exp["control"]["lengths"]
                for p, values in exp["processes"].items() for v in values}
    for name in ("kept", "correlations", "susceptibility", "cochange"):
        table = pd.read_parquet(smoke / TABLES / f"{name}.parquet")
        found = set(table[["model", "length", "process", "noise"]].itertuples(index=False,
                                                                              name=None))
        assert found == planned, name
    root = kept[kept["observable"] == "root"]
    assert set(root["model"]) == {"grammar"}  # the HMM has no class
    assert (root["n_sentences"] == exp["n_sentences"]).all()
    tokens = kept[kept["observable"] == "tokens"]
    assert (tokens["n_items"] == tokens["length"] * exp["n_sentences"]).all()
    assert kept["kept"].between(0, 1).all() and kept["probability"].between(0, 1).all()
    chi = pd.read_parquet(smoke / TABLES / "susceptibility.parquet")
    assert (chi["n_x0"] == exp["correlations"]["n_x0"]).all()
    assert (chi["n_traj"] == exp["correlations"]["n_traj"]).all()
    points = pd.read_parquet(smoke / TABLES / "finite_size.parquet")
    assert sorted(points["length"].unique()) == sorted(exp["lengths"])
    assert set(points["process"]) == set(exp["processes"])


def _first_crossing(x, q, sigma, level):
    """Where q (falling) first reaches ``level``, interpolated linearly, and its error by the
    delta method from the two bracketing points' errors; NaN if it never does."""
    for a in range(len(x) - 1):
        if q[a] > level >= q[a + 1]:
            w = (q[a] - level) / (q[a] - q[a + 1])
            err = (x[a + 1] - x[a]) / (q[a] - q[a + 1]) * np.hypot((1 - w) * sigma[a],
                                                                   w * sigma[a + 1])
            return x[a] + (x[a + 1] - x[a]) * w, err
    return np.nan, np.nan


def test_phase_diagram_recomputed_from_the_kept_table(smoke):
    """One row per process of the experiment. Its ends (clean sentences, no sentence) are
    recomputed here with the dense torch inside-outside from the run's grammar and sentences,
    its relative class curves' 90-10% widths from the pooled kept table, and its sharpening is
    numpy's weighted fit of log2(width) on log2(n)."""
    from hierphase.grammar import grammar_from_dict, posterior

    exp = _smoke_experiment(smoke)
    phase = io.read_table(smoke / "results/grammar/phase/phase_diagram.parquet", "grammar_phase")
    assert list(phase["process"]) == sorted(exp["processes"])
    assert set(phase["experiment"]) == {"random"} and set(phase["source"]) == {"random"}
    assert (phase["length_min"] == min(exp["lengths"])).all()
    assert (phase["length_max"] == max(exp["lengths"])).all()
    g = grammar_from_dict(io.load_tensors(smoke / "results/grammar/random/grammar.pt"))
    sentences = io.load_tensors(smoke / "results/grammar/random/sentences.pt")
    ends = {}
    for n in exp["lengths"]:
        tokens, root = sentences[f"n{n}"]["tokens"], sentences[f"n{n}"]["spans"][:, 0, 2]
        clean = posterior(g, torch.log(torch.nn.functional.one_hot(tokens, g.n_terminals)
                                       .double()), spans=False, backend="torch").root
        prior = posterior(g, torch.zeros((1, n, g.n_terminals), dtype=torch.float64),
                          spans=False, backend="torch").root[0]
        ends[n] = (float(clean.gather(1, root[:, None]).mean()), float(prior[root].mean()))
    kept = pd.read_parquet(smoke / TABLES / "kept.parquet")
    kept = kept[(kept["model"] == "grammar") & (kept["observable"] == "root")]
    for _, row in phase.iterrows():
        widths, errors = [], []
        for n in exp["lengths"]:
            c = kept[(kept["process"] == row["process"]) & (kept["length"] == n)]
            c = c.sort_values("noise")
            clean, floor = ends[n]
            q = np.concatenate([[1.0], (c["probability"] - floor) / (clean - floor), [0.0]])
            sigma = np.concatenate([[0.0], c["probability_se"] / (clean - floor), [0.0]])
            x = np.concatenate([[0.0], c["noise"], [1.0]])
            (hi, hi_err), (lo, lo_err) = (_first_crossing(x, q, sigma, level)
                                          for level in (0.9, 0.1))
            widths.append(lo - hi)
            errors.append(np.hypot(hi_err, lo_err))
        assert (row["kept_clean"], row["kept_floor"]) == pytest.approx(ends[n], abs=1e-10)
        assert (row["width_first"], row["width_last"]) == pytest.approx(
            (widths[0], widths[-1]), abs=1e-10)
        assert (row["width_first_err"], row["width_last_err"]) == pytest.approx(
            (errors[0], errors[-1]), abs=1e-10)
        widths, errors = np.asarray(widths), np.asarray(errors)
        if not (np.isfinite(widths).all() and (widths > 0).all() and (errors > 0).all()):
            continue
        sigma = errors / (widths * np.log(2))
        coef, cov = np.polyfit(np.log2(exp["lengths"]), np.log2(widths), 1, w=1 / sigma,
                               cov="unscaled")
        assert row["sharpening"] == pytest.approx(coef[0], rel=1e-9)
        assert row["sharpening_err"] == pytest.approx(np.sqrt(cov[0, 0]), rel=1e-9)
        assert row["sharp"] == (coef[0] + 2 * np.sqrt(cov[0, 0]) < 0)
    assert np.isfinite(phase["width_last"]).any()  # the smoke curves do fall inside [0, 1]
    for ext in ("png", "pdf"):
        assert (smoke / f"results/grammar/figures/phase_diagram.{ext}").stat().st_size > 5000


def test_c1_and_c2_give_byte_identical_tables(smoke, tmp_path):
    """The tables (parquet, CSV, sidecars) and the grammar, sentences and HMM files of a fresh
    -c1 run equal the -c2 run's, byte for byte."""
    work = copy_workflow(tmp_path / "work")
    targets = [f"{TABLES}/{name}.csv" for name in LAYOUTS]
    run_snakemake(work, "-c1", *targets, configfile=FILES)
    ours = table_bytes(work)
    reference = {k: v for k, v in table_bytes(smoke).items()
                 if k.startswith("results/grammar/random/")}
    assert len(ours) > 50 and set(ours) == set(reference)
    assert [path for path in ours if ours[path] != reference[path]] == []
    for stem in ("grammar", "sentences", "hmm"):
        path = f"results/grammar/random/{stem}.pt"
        assert (work / path).read_bytes() == (smoke / path).read_bytes(), path


def test_rerun_plans_nothing(smoke):
    out = run_snakemake(smoke, "-n", "grammar", configfile=FILES).stdout
    assert "Nothing to be done" in out and planned_jobs(out) == [], out[-3000:]


def test_adding_a_noise_value_plans_only_its_shards(smoke):
    exp = _smoke_experiment(smoke)
    values = exp["processes"]["epsilon"] + [0.5]
    files = with_overlay(smoke, FILES, {"grammar": {"experiments": {"random": {"processes": {
        "epsilon": values}}}}})
    jobs = planned_jobs(run_snakemake(smoke, "-n", "grammar", configfile=files).stdout)
    shards = sorted((w["model"], int(w["n"]), w["process"], w["noise"])
                    for rule, w in jobs if rule == "grammar_shard")
    assert shards == sorted([("grammar", n, "epsilon", noise_label(0.5)) for n in exp["lengths"]]
                            + [("hmm", n, "epsilon", noise_label(0.5))
                               for n in exp["control"]["lengths"]])
    assert sorted(rule for rule, _ in jobs if rule != "grammar_shard") == sorted([
        "grammar", "grammar_aggregate", "grammar_finite_size", "grammar_fig_class_kept",
        "grammar_fig_chi", "grammar_fig_c_of_r", "grammar_fig_cochange", "grammar_phase_diagram",
        "grammar_fig_phase_diagram"])


def test_a_grammar_file_is_an_input_and_a_missing_one_is_refused_naming_the_key(smoke):
    toy = {"source": "file", "file": "workflow/grammars/toy.pcfg", "lengths": [8],
           "n_sentences": 16, "processes": {"masking": [0.5]}}
    files = with_overlay(smoke, FILES, {"grammar": {"experiments": {"toy": toy}}})
    target = "results/grammar/toy/sentences.pt"
    jobs = planned_jobs(run_snakemake(smoke, "-n", target, configfile=files).stdout)
    assert sorted(rule for rule, _ in jobs) == ["grammar_grammar", "grammar_sentences"]
    run_snakemake(smoke, "-c1", target, configfile=files)
    sentences = io.load_tensors(smoke / target)
    assert sentences["n8"]["tokens"].shape == (16, 8)
    toy_file = smoke / "workflow/grammars/toy.pcfg"  # an edited grammar reruns its experiment
    text = toy_file.read_text()
    assert "V -> 'sees' [0.5] | 'chases' [0.5]" in text
    toy_file.write_text(text.replace("'sees' [0.5] | 'chases' [0.5]", "'sees' [0.6] | 'chases' [0.4]"))
    jobs = planned_jobs(run_snakemake(smoke, "-n", target, configfile=files).stdout)
    assert sorted(rule for rule, _ in jobs) == ["grammar_grammar", "grammar_sentences"]
    files = with_overlay(smoke, FILES,
                         {"grammar": {"experiments": {"toy": {**toy, "file": "no.pcfg"}}}})
    proc = run_snakemake(smoke, "-n", target, configfile=files, check=False)
    assert proc.returncode != 0 and planned_jobs(proc.stdout) == []
    assert "Invalid config key 'grammar.experiments.toy.file': 'no.pcfg' is not a file" \
        in proc.stdout, proc.stdout[-3000:]
