"""The grammar branch's glue (hierphase.stages.grammar) and planning (hierphase.plan.grammar), on
tiny grammars, without Snakemake: each stage's outputs, their seeds, the pooled tables, the
finite-size table, the figure glue's choice of length and peaks."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from workflow_helpers import REPO, SMOKE

from hierphase import rhm
from hierphase.grammar import grammar_from_dict, read_pcfg, rhm_grammar, sample_sentences
from hierphase.plan import load_plan_files
from hierphase.plan.grammar import noise_label, shard_bytes
from hierphase.stages import grammar as stage
from hierphase.stages.figures.grammar import chi_peaks, figure_length
from hierphase.tables import TABLES, check_table

TOY = REPO / "workflow/grammars/toy.pcfg"
RANDOM = {"n_nonterminals": 8, "n_preterminals": 3, "n_terminals": 6, "n_binary": 3,
          "n_lexical": 3, "overlap": 0.3, "law": "uniform", "zipf_exponent": 1.0, "n_roots": 3}


@pytest.fixture(scope="module")
def random_grammar():
    tensors, info = stage.draw_grammar("random", random=RANDOM, lengths=[6, 8], seed=11)
    return tensors, info


def test_the_three_sources(random_grammar, tmp_path):
    tensors, info = random_grammar
    g = grammar_from_dict(tensors)
    assert (g.n_nonterminals, g.n_terminals, info["n_roots"]) == (8, 6, 3)
    assert all(v > -math.inf for v in info["log_length_probability"].values())
    again, _ = stage.draw_grammar("random", random=RANDOM, lengths=[6, 8], seed=11)
    assert all(torch.equal(torch.as_tensor(again[k]), torch.as_tensor(tensors[k]))
               for k in ("binary", "binary_prob", "lexical", "root"))
    # the RHM written as a grammar: the RHM branch's draw of the rules
    spec = {"v": 4, "m": 2, "s": 2, "L": 2, "n_classes": None}
    tensors, info = stage.draw_grammar("rhm", rhm=spec, lengths=[4], seed=3)
    expected = rhm_grammar(rhm.sample_rules(4, 2, 2, 2, seed=3))
    assert torch.equal(grammar_from_dict(tensors).binary, expected.binary)
    # a file: read, and every length checked
    tensors, info = stage.draw_grammar("file", path=TOY, lengths=[8, 12], seed=0)
    assert grammar_from_dict(tensors).n_terminals == read_pcfg(TOY).n_terminals == 17
    one = tmp_path / "one.pcfg"
    one.write_text("S -> A A [1.0]\nA -> 'a' [1.0]\n")
    with pytest.raises(ValueError, match=r"one\.pcfg: the grammar derives no sentence of 3 "):
        stage.draw_grammar("file", path=one, lengths=[2, 3], seed=0)
    broken = tmp_path / "broken.pcfg"
    broken.write_text("S -> A [1.0]\n")
    with pytest.raises(ValueError, match=r"broken\.pcfg: line 1: unit rule"):
        stage.draw_grammar("file", path=broken, lengths=[2], seed=0)


def test_sentences_of_one_length_do_not_depend_on_the_others(random_grammar):
    tensors, _ = random_grammar
    both = stage.draw_sentences(tensors, [8, 6], 5, seed=4)
    alone = stage.draw_sentences(tensors, [6], 5, seed=4)
    assert sorted(both) == ["n6", "n8"] and both["n8"]["tokens"].shape == (5, 8)
    assert torch.equal(both["n6"]["tokens"], alone["n6"]["tokens"])
    assert torch.equal(both["n6"]["spans"], alone["n6"]["spans"])
    assert not torch.equal(stage.draw_sentences(tensors, [6], 5, seed=5)["n6"]["tokens"],
                           alone["n6"]["tokens"])


@pytest.fixture(scope="module")
def shards(random_grammar):
    tensors, _ = random_grammar
    sentences = stage.draw_sentences(tensors, [6, 8], 12, seed=1)
    hmm, history = stage.fit_control(tensors, length=8, n_train=40, n_states=3, n_iter=15, seed=2)
    assert all(b >= a - 1e-9 for a, b in zip(history, history[1:]))  # EM never loses likelihood
    kw = dict(experiment="e", process="epsilon", n_x0=4, n_traj=6, n_boot=10)
    out = {}
    for model, den in (("grammar", tensors), ("hmm", hmm)):
        for n in (6, 8):
            for level in (0.3, 0.6):
                out[model, n, level] = stage.sweep_shard(model, den, sentences, n=n, level=level,
                                                         seed=100 + n, **kw)
    return out


def test_a_shard_writes_four_registered_tables(shards):
    for (model, n, level), tables in shards.items():
        assert sorted(tables) == ["cochange", "correlations", "kept", "susceptibility"]
        for name, table in tables.items():
            check_table(table, f"grammar_{name}")
            assert (table["model"] == model).all() and (table["length"] == n).all()
            assert (table["noise"] == level).all()
        kept = tables["kept"]
        assert kept["kept"].between(0, 1).all() and kept["probability"].between(0, 1).all()
        observables = set(kept["observable"])
        assert observables == ({"root", "tokens", "constituent"} if model == "grammar"
                               else {"tokens"})
        base = tables["cochange"]
        base = base[base["weighting"] == "all"]
        assert (base["mean_enclosing_width"] >= base["r"] + 1).all()


def test_a_shard_is_seeded_by_its_seed_only(random_grammar, shards):
    tensors, _ = random_grammar
    sentences = stage.draw_sentences(tensors, [6, 8], 12, seed=1)
    kw = dict(experiment="e", process="epsilon", n=6, level=0.3, n_x0=4, n_traj=6, n_boot=10)
    same = stage.sweep_shard("grammar", tensors, sentences, seed=106, **kw)
    for name, table in same.items():
        pd.testing.assert_frame_equal(table, shards["grammar", 6, 0.3][name])
    other = stage.sweep_shard("grammar", tensors, sentences, seed=7, **kw)
    assert not other["correlations"].equals(same["correlations"])
    with pytest.raises(ValueError, match="no length 7"):
        stage.sweep_shard("grammar", tensors, sentences, seed=1, **{**kw, "n": 7})
    with pytest.raises(ValueError, match="model"):
        stage.sweep_shard("pcfg", tensors, sentences, seed=1, **kw)


def test_pooling_sorts_and_refuses_a_measurement_twice(shards):
    frames = {name: [t[name] for t in reversed(list(shards.values()))]
              for name in stage.SHARD_COLUMNS}
    pooled = stage.aggregate_shards(frames)
    for name, table in pooled.items():
        check_table(table, f"grammar_{name}")
        assert len(table) == sum(len(f) for f in frames[name])
        keys = table[["model", "length", "noise"]].apply(tuple, axis=1).tolist()
        assert keys == sorted(keys)
    with pytest.raises(ValueError, match="appears in two shards"):
        stage.aggregate_shards({"kept": frames["kept"] + frames["kept"][:1]})


def _root_rows(curves: dict) -> pd.DataFrame:
    rows = []
    for n, (noise, probability) in curves.items():
        for x, p in zip(noise, probability):
            rows.append({"experiment": "e", "model": "grammar", "length": n, "process": "epsilon",
                         "noise": x, "observable": "root", "height": -1, "kept": p,
                         "kept_se": 0.01, "probability": p, "probability_se": 0.01,
                         "n_sentences": 100, "n_items": 100})
    return pd.DataFrame(rows)


def test_finite_size_table_finds_half_points_and_crossings():
    noise = np.linspace(0.0, 1.0, 11)
    # from 1 to chance (1/4), steeper with the length, every curve through (0.5, 0.625): each
    # pair crosses at 0.5, the half points (class kept 1/2) lie above it and approach it
    curves = {n: (noise, 0.25 + 0.75 * (0.5 - 0.5 * np.tanh((noise - 0.5) * n / 2)))
              for n in (8, 16, 32, 64)}
    points, fits = stage.finite_size(_root_rows(curves), n_classes=4)
    check_table(points, "grammar_scaling_points")
    check_table(fits, "grammar_scaling")
    assert points["length"].tolist() == [8, 16, 32, 64]
    half = points["eps_half"].to_numpy(float)
    assert (half > 0.5).all() and (np.diff(half) < 0).all()
    np.testing.assert_allclose(points["crossing"].dropna().astype(float), 0.5, atol=1e-9)
    assert points["next_length"].tolist()[:3] == [16, 32, 64]
    assert (np.diff(points["width"].astype(float)) < 0).all()  # sharper with n
    crossing = fits[fits["estimator"] == "crossing"].iloc[0]
    assert crossing["eps_star"] == pytest.approx(0.5, abs=1e-9)
    assert (crossing["length_min"], crossing["length_max"], crossing["n_points"]) == (8, 64, 3)
    # one class: always kept, nothing to estimate
    points, fits = stage.finite_size(_root_rows(curves), n_classes=1)
    assert points["eps_half"].isna().all() and fits["eps_star"].isna().all()


def test_figure_glue_picks_the_control_length_and_each_peak():
    chi = pd.DataFrame({"model": ["grammar"] * 4 + ["hmm"] * 2,
                        "process": ["epsilon"] * 6,
                        "length": [8, 8, 16, 16, 16, 16],
                        "noise": [0.2, 0.6, 0.2, 0.6, 0.2, 0.6],
                        "chi": [5.0, 1.0, 1.0, 3.0, 2.0, np.nan]})
    assert figure_length(chi) == 16
    assert figure_length(chi[chi["model"] == "grammar"].assign(length=[8, 8, 32, 32])) == 32
    peaks = chi_peaks(chi, 16)
    assert peaks[["model", "noise"]].values.tolist() == [["grammar", 0.6], ["hmm", 0.2]]


def test_noise_labels_and_shard_memory():
    assert [noise_label(x) for x in (0.5, 1, 0, 0.1234567, 0.25)] == \
        ["0.5", "1.0", "0.0", "0.123457", "0.25"]
    parts = shard_bytes(128, 64, 12, 16, 32)
    assert set(parts) == {"n_sentences", "correlations.n_traj", "lengths"}
    assert shard_bytes(256, 64, 12, 16, 32)["n_sentences"] == 2 * parts["n_sentences"]


def test_the_smoke_plan_of_the_branch():
    plan = load_plan_files(SMOKE, root=REPO)
    grammar = plan["grammar"]
    exp = grammar.experiments["random"]
    shards = grammar.shards("random")
    n_values = sum(len(v) for v in exp["processes"].values())
    assert len(shards) == n_values * (len(exp["lengths"]) + len(exp["control"]["lengths"]))
    assert len(set(shards)) == len(shards)
    wc = SimpleNamespace(experiment="random", model="hmm", n="16", process="epsilon",
                         noise="0.3")
    seed = grammar.job_seed("shard")
    # the grammar and the HMM denoise the same noisy sentences: the model is not in the seed
    assert seed(wc) == seed(SimpleNamespace(**{**vars(wc), "model": "grammar"}))
    assert seed(wc) != seed(SimpleNamespace(**{**vars(wc), "noise": "0.7"}))
    assert grammar.shard_input(wc)["model"] == "results/grammar/random/hmm.pt"
    assert {"kept", "kept_meta", "cochange", "cochange_meta"} <= set(grammar.shard_outputs())
    assert [f.rule for f in grammar.figures()] == [
        "grammar_fig_class_kept", "grammar_fig_chi", "grammar_fig_c_of_r", "grammar_fig_cochange",
        "grammar_fig_phase_diagram"]
    assert grammar.phase_params()["n_classes"] == {"random": exp["random"]["n_roots"]}
    assert all(f"grammar_{name}" in TABLES for name in stage.SHARD_COLUMNS)
