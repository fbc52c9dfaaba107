"""The MDLM branch's glue (hierphase.stages.mdlm), planning (hierphase.plan.mdlm) and figure glue,
on tiny grammars, passages and networks, without Snakemake: each stage's outputs and seeds, the
same masks for every denoiser, resumed training, the pooled, gap and peak tables, the published
checkpoint's path, the plan's refusals."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from workflow_helpers import REPO, SMOKE

from hierphase import io
from hierphase.grammar import grammar_from_dict, parse, sample_sentences
from hierphase.mdlm.model import DiffusionTransformer, TransformerConfig
from hierphase.plan import ConfigError, load_plan_files
from hierphase.stages import mdlm as stage
from hierphase.stages.figures import mdlm as figures
from hierphase.tables import check_table

RANDOM = {"n_nonterminals": 8, "n_preterminals": 3, "n_terminals": 6, "n_binary": 3,
          "n_lexical": 3, "overlap": 0.3, "law": "uniform", "zipf_exponent": 1.0, "n_roots": 3}
NET = {"hidden": 8, "n_blocks": 1, "n_heads": 2, "cond_dim": 4, "mlp_ratio": 2, "dropout": 0.0}
TRAIN = {"steps": 6, "batch_size": 4, "lr": 3e-3, "warmup": 2, "log_every": 2,
         "checkpoint_every": 3}
CORR = {"n_x0": 3, "n_traj": 3, "n_boot": 10}
ONLY = "workflow/presets/only-mdlm.yaml"


@pytest.fixture(scope="module")
def grammar_data():
    return stage.grammar_data(RANDOM, length=6, n_train=16, n_test=8, seed=4)


@pytest.fixture(scope="module")
def grammar_model(grammar_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("grammar-model")
    paths = {"model_path": folder / "model.pt", "loss_parquet": folder / "loss.parquet",
             "loss_csv": folder / "loss.csv"}
    stage.train_grammar_model(grammar_data[0], P=16, network=NET, training=TRAIN, seed=2,
                              **paths)
    return paths


def test_grammar_data_is_seeded_and_grammatical(grammar_data):
    data, info = grammar_data
    g = grammar_from_dict(data["grammar"])
    assert data["train"].shape == (16, 6) and data["test"]["tokens"].shape == (8, 6)
    assert data["test"]["spans"].shape == (8, 11, 3) and info["n_terminals"] == 6
    assert bool(parse(g, data["train"]).grammatical.all())
    again, _ = stage.grammar_data(RANDOM, length=6, n_train=16, n_test=8, seed=4)
    assert torch.equal(again["train"], data["train"])
    assert not torch.equal(data["train"][:8], data["test"]["tokens"])  # two draws


def test_parse_tells_ungrammatical_rows_and_the_root(grammar_data):
    data, _ = grammar_data
    g = grammar_from_dict(data["grammar"])
    trees = sample_sentences(g, 6, 20, 1)
    tokens = torch.cat([trees.tokens, torch.zeros((1, 6), dtype=torch.long)])
    p = parse(g, tokens)
    # the root posterior given a grammatical sentence sums to one; a row of one repeated token
    # either parses or is flagged, never an error
    ok = p.grammatical
    assert bool(ok[:20].all())
    assert torch.allclose(p.root[ok].sum(1), torch.ones(int(ok.sum()), dtype=torch.float64))
    assert bool(torch.isnan(p.root[~ok]).all()) and bool(torch.isinf(p.log_likelihood[~ok]).all())
    with pytest.raises(ValueError, match="terminal ids"):
        parse(g, torch.full((1, 6), 6))


def test_training_writes_model_and_loss_and_resumes_to_the_same_bytes(grammar_data, grammar_model,
                                                                      tmp_path):
    loss = io.read_table(grammar_model["loss_parquet"], "mdlm_loss")
    assert list(loss["step"]) == [2, 4, 6] and set(loss["model"]) == {"grammar"}
    assert (loss["P"] == 16).all() and not Path(f"{grammar_model['model_path']}.resume").exists()
    # an interrupted run: a checkpoint at step 3 left behind, then the job again
    from hierphase.mdlm.train import TrainConfig, train

    paths = {"model_path": tmp_path / "model.pt", "loss_parquet": tmp_path / "loss.parquet",
             "loss_csv": tmp_path / "loss.csv"}
    with torch.random.fork_rng(devices=[]):
        from hierphase.seeding import derive_seed

        torch.manual_seed(derive_seed(2, "init"))
        net = DiffusionTransformer(TransformerConfig(vocab_size=7, **NET))
    train(net, grammar_data[0]["train"][:16].long(), 6, TrainConfig(**TRAIN),
          derive_seed(2, "train"), checkpoint=Path(f"{paths['model_path']}.resume"), stop_after=3)
    assert Path(f"{paths['model_path']}.resume").exists()
    stage.train_grammar_model(grammar_data[0], P=16, network=NET, training=TRAIN, seed=2,
                              **paths)
    assert paths["model_path"].read_bytes() == Path(grammar_model["model_path"]).read_bytes()
    with pytest.raises(ValueError, match="P must lie"):
        stage.train_grammar_model(grammar_data[0], P=17, network=NET, training=TRAIN, seed=2,
                                  **paths)


def test_grammar_sweeps_share_their_masks_and_pool_into_the_gap_table(grammar_data,
                                                                      grammar_model):
    data, _ = grammar_data
    levels = [0.3, 0.7]
    exact = stage.grammar_sweep(data, levels, seed=5, **CORR)
    model = stage.grammar_sweep(data, levels, model_path=grammar_model["model_path"], P=16,
                                seed=5, batch_size=5, **CORR)
    for name, table in (*exact.items(), *model.items()):
        check_table(table, f"mdlm_grammar_{name}")
    kept = exact["kept"]
    assert set(kept["observable"]) == {"grammatical", "class", "tokens"}
    # the exact posterior's samples always parse
    assert (kept.loc[kept["observable"] == "grammatical", "value"] == 1.0).all()
    again = stage.grammar_sweep(data, levels, seed=5, **CORR)
    assert all(again[k].equals(exact[k]) for k in exact)
    # the tokens kept where nothing is masked: the same for both denoisers at level ~0
    low = [1e-9]
    a = stage.grammar_sweep(data, low, seed=5, **CORR)["kept"]
    b = stage.grammar_sweep(data, low, model_path=grammar_model["model_path"], P=16, seed=5,
                            **CORR)["kept"]
    assert (a.loc[a["observable"] == "tokens", "value"] == 1.0).all()
    assert (b.loc[b["observable"] == "tokens", "value"] == 1.0).all()
    pooled = stage.grammar_aggregate({k: [model[k], exact[k]] for k in exact},
                                     min_grammatical=0.95, class_tolerance=0.05)
    gap = pooled["gap"]
    check_table(gap, "mdlm_grammar_gap")
    assert list(gap["level"]) == levels and (gap["P"] == 16).all() and gap["exact_peak"].sum() == 1
    cls = pooled["kept"][pooled["kept"]["observable"] == "class"]
    m = cls[cls["model"] == "mdlm"]["value"].to_numpy()
    e = cls[cls["model"] == "exact"]["value"].to_numpy()
    assert np.allclose(gap["class_gap"], m - e)
    assert list(gap["class_ok"]) == list(np.abs(m - e) <= 0.05)
    with pytest.raises(ValueError, match="two tables"):
        stage.grammar_aggregate({k: [exact[k], exact[k]] for k in exact}, min_grammatical=0.95,
                                class_tolerance=0.05)


@pytest.fixture(scope="module")
def text(tmp_path_factory):
    folder = tmp_path_factory.mktemp("text")
    corpus = folder / "corpus.txt"
    rng = np.random.default_rng(0)
    words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran"]
    corpus.write_text("\n".join(" ".join(rng.choice(words, 30)) for _ in range(60)))
    data, tok = stage.text_data(str(corpus), kind="char", vocab_size=300, holdout=0.2,
                                n_passages=6, length=12, seed=3)
    paths = {"model_path": folder / "model.pt", "loss_parquet": folder / "loss.parquet",
             "loss_csv": folder / "loss.csv"}
    stage.train_text_model(data, network=NET, training=TRAIN, seed=1, **paths)
    return data, tok, paths, corpus


def test_text_protocol_for_the_model_and_both_controls(text):
    data, tok, paths, _ = text
    assert data["passages"].shape == (6, 12)
    assert torch.equal(data["passages"].sort(1).values, data["shuffled"].sort(1).values)
    assert json.loads(tok)["hierphase_char_tokenizer"]
    kw = {"n_maskings": 2, "cutoffs": [5, None], "n_boot": 10, "seed": 7}
    out = {m: stage.text_protocol(m, data, [0.3, 0.6], model_path=paths["model_path"],
                                  ngram={"order": 2, "alpha": 0.1}, **kw)
           for m in ("mdlm", "shuffled", "ngram")}
    for m, tables in out.items():
        check_table(tables["chi"], "mdlm_text_chi")
        assert set(tables["chi"]["cutoff"]) == {"r<=5", "all"}
    again = stage.text_protocol("mdlm", data, [0.3, 0.6], model_path=paths["model_path"], **kw)
    assert again["chi"].equals(out["mdlm"]["chi"])
    pooled = stage.text_aggregate({k: [out[m][k] for m in out] for k in ("curves", "chi")})
    peaks = pooled["peaks"]
    check_table(peaks, "mdlm_text_peaks")
    assert len(peaks) == 6 and set(peaks["t_chi_peak"].dropna()) <= {0.3, 0.6}
    with pytest.raises(ValueError, match="model_path"):
        stage.text_protocol("mdlm", data, [0.5], **kw)
    for name, draw in (("chi", figures.mdlm_fig_text_chi), ("xi", figures.mdlm_fig_text_xi)):
        path = Path(paths["model_path"]).parent / "chi.parquet"
        io.write_table(pooled["chi"], path, table="mdlm_text_chi")
        assert draw({"chi": str(path)}, {}, {}).axes, name


def _published(folder: Path, vocab: int) -> Path:
    """A tiny random MDLM in the published directory layout (config.json, model.safetensors)."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    net = DiffusionTransformer(TransformerConfig(vocab_size=vocab, hidden=8, n_blocks=1,
                                                 n_heads=2, cond_dim=4))
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        "model_type": "mdlm", "vocab_size": vocab, "hidden_dim": 8, "cond_dim": 4, "n_blocks": 1,
        "n_heads": 2, "dropout": 0.0, "time_conditioning": False}))
    save_file({f"backbone.{k}": v.contiguous() for k, v in net.state_dict().items()},
              str(folder / "model.safetensors"))
    return folder


def test_published_checkpoint_runs_the_protocol(text, tmp_path):
    data, tok, _, corpus = text
    tokenizer = tmp_path / "tokenizer.json"
    tokenizer.write_text(tok)
    vocab = len(json.loads(tok)["hierphase_char_tokenizer"])
    ckpt = _published(tmp_path / "ckpt", vocab + 1)
    out = stage.published_protocol(str(ckpt), str(tokenizer), str(corpus), [0.5], n_passages=4,
                                   length=10, n_maskings=2, cutoffs=[None], n_boot=5, seed=1,
                                   n_heads=2, use_ema=True)
    assert set(out["chi"]["model"]) == {"published"} and len(out["chi"]) == 1
    small = _published(tmp_path / "small", vocab)  # its mask would be a token of the tokenizer
    with pytest.raises(ValueError, match="not this checkpoint's tokenizer"):
        stage.published_protocol(str(small), str(tokenizer), str(corpus), [0.5], n_passages=4,
                                 length=10, n_maskings=2, cutoffs=[None], n_boot=5, seed=1,
                                 n_heads=2, use_ema=True)


def test_text_peaks_pick_the_first_largest_value():
    chi = pd.DataFrame({"model": "mdlm", "t": [0.2, 0.4, 0.6], "cutoff": "all", "R": math.inf,
                        "chi": [1.0, 3.0, 3.0], "chi_lo": 0.5, "chi_hi": 4.0,
                        "xi": [1.0, 2.0, np.nan], "xi_lo": 0.0, "xi_hi": 3.0, "changed": 0.1,
                        "n_x0": 4, "n_traj": 2})
    row = stage.text_peaks(chi).iloc[0]
    assert (row["t_chi_peak"], row["chi_peak"], row["t_xi_max"], row["xi_max"]) == (0.4, 3.0, 0.4,
                                                                                     2.0)


def test_plan_seeds_jobs_and_targets():
    plan = load_plan_files(SMOKE, ONLY, root=REPO)
    m = plan["mdlm"]
    assert m.denoisers() == ["exact", "P16", "P64"]
    wc = type("W", (), {"denoiser": "exact", "P": "16", "textmodel": "ngram"})
    assert m.sweep_input(wc) == {"data": m.GRAMMAR_DATA} and m.sweep_P(wc) == 0
    wc.denoiser = "P64"
    assert m.sweep_input(wc)["model"] == "results/mdlm/grammar/models/P64/model.pt"
    # every denoiser of a sweep gets the same seed (the same masks); trainings differ by P
    assert m.job_seed("grammar_sweep")(wc) == m.job_seed("grammar_sweep")(
        type("W", (), {"denoiser": "exact"}))
    assert m.job_seed("grammar_train")(wc) != m.job_seed("grammar_train")(
        type("W", (), {"P": "64"}))
    assert m.protocol_input(wc) == {"data": m.TEXT_DATA}
    assert m.cutoffs(wc) == [5, None]
    assert sum(m.jobs.values()) == 17 and len(m.targets()) == 7 + 8


def test_paper_overlay_plans_with_its_local_files_and_names_the_first_missing(tmp_path,
                                                                             monkeypatch):
    files = [REPO / "workflow/presets/paper.yaml", REPO / "workflow/presets/mdlm-paper.yaml"]
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="'mdlm.text.corpus'"):
        load_plan_files(*files, root=REPO, jobs_run_here=False)
    wiki = tmp_path / "resources/text/wikitext-2-raw"
    wiki.mkdir(parents=True)
    (wiki / "wiki.train.raw").write_text("a b c\n" * 80_000)
    with pytest.raises(ConfigError, match="'mdlm.published.checkpoint'"):
        load_plan_files(*files, root=REPO, jobs_run_here=False)
    (tmp_path / "resources/models").mkdir()
    _published(tmp_path / "resources/models/mdlm-owt", 11)
    with pytest.raises(ConfigError, match="'mdlm.published.tokenizer'"):
        load_plan_files(*files, root=REPO, jobs_run_here=False)
    (tmp_path / "resources/models/gpt2").mkdir()
    (tmp_path / "resources/models/gpt2/tokenizer.json").write_text("{}")
    with pytest.raises(ConfigError, match="'mdlm.published.corpus'"):
        load_plan_files(*files, root=REPO, jobs_run_here=False)
    (wiki / "wiki.test.raw").write_text("a b c\n" * 10_000)
    plan = load_plan_files(*files, root=REPO, jobs_run_here=False)
    m = plan["mdlm"]
    assert "results/mdlm/published/chi.parquet" in m.protocol_files("chi")
    assert m.published_input(None) == {
        "checkpoint": "resources/models/mdlm-owt", "tokenizer":
        "resources/models/gpt2/tokenizer.json", "corpus": "resources/text/wikitext-2-raw/wiki.test.raw"}
    assert m.config["grammar"]["P"][-1] == m.config["grammar"]["n_train"]


@pytest.mark.parametrize("shape", [(17, 32, 2, 4, 32, 4), (513, 64, 3, 4, 16, 2)])
def test_parameter_count_is_the_built_network_s(shape):
    from hierphase.memory import mdlm_parameter_count

    V, d, blocks, heads, cond, r = shape
    net = DiffusionTransformer(TransformerConfig(vocab_size=V, hidden=d, n_blocks=blocks,
                                                 n_heads=heads, cond_dim=cond, mlp_ratio=r))
    assert mdlm_parameter_count(V, d, blocks, cond, r) == sum(p.numel() for p in net.parameters())
