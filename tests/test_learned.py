"""Tests of hierphase.learned: network shape and locality, samplers against exact BP (the exact
denoiser in the network's place), deterministic and resumable training, evaluation tables."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import torch
from oracles import ExactDenoiser
from hostile import RunsCode

from hierphase import noise, rhm
from hierphase.devices import resolve_device
from hierphase.learned import diffusion, evaluate, networks, train
from hierphase.stages import learned as stage
from hierphase.tables import LEARNED_KEPT_COLUMNS

torch.set_num_threads(1)

SCHEDULE = noise.GaussianSchedule()
#: A few training steps of a tiny network: what the glue tests train.
TINY_TRAINING = train.TrainConfig(steps=24, batch_size=16, lr=3e-3, warmup=4, log_every=5,
                                  checkpoint_every=10)
TINY_NETWORK = {"arch": "tree_unet", "width": 16, "blocks": 1, "expansion": 2}


@pytest.fixture(scope="module")
def rules():
    return rhm.sample_rules(8, 3, 2, 3, seed=0)


def tiny_net(proc, rules, width=16, seed=0):
    torch.manual_seed(seed)
    return networks.TreeUNet(networks.NetworkConfig(proc.in_channels, rules.v, rules.s, rules.L, width=width))


# ------------------------------------------------------------------------------------------ network
def test_network_shapes_and_errors(rules):
    net = networks.build_network("tree_unet", networks.NetworkConfig(9, 8, 2, 3, width=8))
    out = net(torch.randn(5, 9, 8), torch.rand(5))
    assert out.shape == (5, 8, 8)
    with pytest.raises(ValueError, match="expects input"):
        net(torch.randn(5, 9, 4), torch.rand(5))
    with pytest.raises(ValueError, match="learned.network.arch"):
        networks.build_network("transformer", networks.NetworkConfig(9, 8, 2, 3))


def test_network_without_time_conditioning_ignores_the_noise_level(rules):
    x = torch.randn(5, 9, 8)
    times = (torch.zeros(5), torch.rand(5), torch.ones(5))
    for conditioned in (True, False):
        torch.manual_seed(0)
        net = networks.TreeUNet(networks.NetworkConfig(9, 8, 2, 3, width=8, time_conditioning=conditioned))
        with torch.no_grad():  # blocks start as the identity (fc2 = 0): give them weights
            for p in net.parameters():
                p.normal_(0.0, 0.3)
        out = [net(x, t) for t in times]
        same = all(torch.equal(out[0], o) for o in out[1:])
        assert same is not conditioned
    # the same modules either way: a checkpoint's weights load into both
    a = networks.TreeUNet(networks.NetworkConfig(9, 8, 2, 3, width=8, time_conditioning=False))
    assert a.state_dict().keys() == net.state_dict().keys()
    with pytest.raises(ValueError, match="time_conditioning"):
        networks.NetworkConfig(9, 8, 2, 3, time_conditioning="no")


def test_down_convolution_mirrors_the_tree():
    """Kernel = stride = s: parent j depends on its s children only."""
    torch.manual_seed(0)
    down = networks.Down(4, 2)
    x = torch.randn(1, 8, 4)
    y = down(x)
    x2 = x.clone()
    x2[0, 4:6] += 1.0  # children of parent 2
    changed = (down(x2) - y).abs().sum(-1)[0] > 0
    assert changed.tolist() == [False, False, True, False]


def test_every_leaf_sees_the_whole_datum():
    """Through the root, every output position depends on every input position."""
    torch.manual_seed(0)
    net = networks.TreeUNet(networks.NetworkConfig(8, 8, 2, 3, width=8))
    for p in net.parameters():  # the zero-initialised residual branches would hide the path
        torch.nn.init.normal_(p, std=0.3)
    x = torch.randn(1, 8, 8, requires_grad=True)
    net(x, torch.tensor([0.5]))[0, :, 0].sum().backward()
    assert (x.grad.abs().sum(1)[0] > 0).all()


# ---------------------------------------------------------------------------------------- samplers
def test_respaced_times():
    assert diffusion.respaced_times(0, 1000, 100) == [0]
    ts = diffusion.respaced_times(300, 1000, 100)
    assert ts[0] == 300 and ts[-1] == 0 and len(ts) == 31
    assert all(a > b for a, b in zip(ts, ts[1:]))
    assert diffusion.respaced_times(3, 1000, 100) == [3, 0]


@pytest.mark.parametrize("name,level,steps", [("masking", 0.5, 8), ("masking", 1.0, 8), ("uniform", 0.2, 200),
                                              ("gaussian", 0.15, 200)])
def test_sampler_with_exact_denoiser_matches_bp(rules, name, level, steps):
    """The reverse sampler driven by exact BP leaf posteriors reproduces BP's kept fractions at
    every level (exact for masking and uniform, up to time discretisation for Gaussian)."""
    proc = diffusion.make_process(name, rules.v, SCHEDULE, steps)
    oracle = ExactDenoiser(rules, proc)
    n = 400
    learned = evaluate.learned_kept_table(rules, proc, oracle, [level], n, seed=11, T=1000, experiment="x",
                                          model="exact", P=0, train_seed=0, rule_seed=0)
    exact = evaluate.bp_kept_table(rules, proc, [level], n, seed=11, T=1000, experiment="x", rule_seed=0)
    # exact posterior samples are always grammatical; the time-discretised samplers nearly so
    assert learned["invalid_rate"].max() <= (0.0 if name == "masking" else 0.02)
    for lv in range(rules.L + 1):
        p_bp = float(exact.loc[exact["level"] == lv, "kept_marginal"].iloc[0])
        p_l = float(learned.loc[learned["level"] == lv, "kept_sampled"].iloc[0])
        se = math.sqrt(max(p_bp * (1 - p_bp), 0.02) / n)
        assert abs(p_l - p_bp) < 4.5 * se + 0.01, (lv, p_l, p_bp)
    # the leaf marginal of the exact denoiser is BP's leaf marginal, computed on the same states
    leaf_l = float(learned.loc[learned["level"] == rules.L, "kept_marginal"].iloc[0])
    leaf_bp = float(exact.loc[exact["level"] == rules.L, "kept_marginal"].iloc[0])
    assert leaf_l == pytest.approx(leaf_bp, abs=1e-5)


def test_exact_denoiser_generates_only_grammatical_data(rules):
    proc = diffusion.make_process("masking", rules.v, SCHEDULE, 8)
    train_leaves = rhm.sample_trees(rules, 50, seed=3)[-1]
    tables = evaluate.generation_tables(rules, proc, ExactDenoiser(rules, proc), train_leaves, 200,
                                        seed=4, experiment="x", model="exact", P=50, train_seed=0)
    table, levels = tables["generation"], tables["validity"]
    assert table["grammatical"].iloc[0] == 1.0
    assert list(table.columns) == evaluate.EVAL_COLUMNS
    # every level of every sample is valid; rows for all samples, then for the novel ones
    assert list(levels.columns) == evaluate.VALIDITY_COLUMNS
    assert levels["samples"].tolist() == ["all"] * rules.L + ["novel"] * rules.L
    assert levels["level"].tolist() == list(range(rules.L)) * 2
    assert (levels["tuples_valid"] == 1.0).all() and (levels["valid_up_to"] == 1.0).all()
    every = levels[levels["samples"] == "all"]
    assert every["n_tuples"].tolist() == [200 * rules.s**lv for lv in range(rules.L)]
    assert (every["valid_up_to_ci_low"] > 0.98).all()
    novel = levels[levels["samples"] == "novel"]
    n_copies = round(table["memorized"].iloc[0] * 200)
    assert (novel["n_samples"] == 200 - n_copies).all()
    # P=50 of 8*3**7 = 17496 possible data: a generalising sampler rarely hits a training datum
    assert table["memorized"].iloc[0] < 0.05


def test_gaussian_input_is_the_exact_likelihood(rules):
    proc = diffusion.make_process("gaussian", rules.v, SCHEDULE)
    leaves = rhm.sample_trees(rules, 20, seed=1)[-1]
    x_t = proc.noise(leaves, 0.2, seed=5)
    inp = proc.net_input(x_t, torch.full((20,), 200))
    ref = noise.gaussian_evidence(x_t, SCHEDULE, 200).exp().transpose(1, 2)
    assert torch.allclose(inp.double(), ref, atol=1e-5)


def test_uniform_input_is_the_exact_likelihood(rules):
    proc = diffusion.make_process("uniform", rules.v, SCHEDULE)
    leaves = rhm.sample_trees(rules, 20, seed=1)[-1]
    for level in (0.0, 0.1, 0.4):
        state = proc.noise(leaves, level, seed=5)
        abar = SCHEDULE.abar(proc._t(level))
        inp = proc.net_input(state, abar)
        ref = noise.uniform_evidence(state, abar, rules.v).exp().transpose(1, 2)
        assert torch.allclose(inp.double(), ref, atol=1e-6), level
        assert torch.allclose(inp.sum(dim=1), torch.ones(20, rules.d))


def test_masking_sampler_keeps_visible_tokens(rules):
    proc = diffusion.make_process("masking", rules.v, SCHEDULE, 3)
    net = tiny_net(proc, rules)
    leaves = rhm.sample_trees(rules, 30, seed=2)[-1]
    state = proc.noise(leaves, 0.5, seed=1)
    out = proc.sample(net, state, 0.5, torch.Generator().manual_seed(0))
    visible = state != rules.v
    assert torch.equal(out[visible], leaves[visible])
    assert (out < rules.v).all()


def test_unknown_process_and_device():
    with pytest.raises(ValueError, match="unknown"):
        diffusion.make_process("absorbing", 8)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="learned.device"):
            resolve_device("cuda", key="learned.device")


# ---------------------------------------------------------------------------------------- training
def _train(rules, steps, checkpoint=None, stop_after=None, process="masking", seed=123, snapshots=()):
    proc = diffusion.make_process(process, rules.v, SCHEDULE, 8)
    net = tiny_net(proc, rules)
    data = rhm.sample_trees(rules, 64, seed=9)[-1]
    cfg = train.TrainConfig(steps=steps, batch_size=16, lr=3e-3, warmup=4, log_every=5, checkpoint_every=7)
    return train.train(proc, net, data, cfg, seed, checkpoint=checkpoint, stop_after=stop_after, progress=False,
                       snapshots=snapshots)


def _same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("process", ["gaussian", "masking", "uniform"])
@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_training_is_deterministic(rules, process):
    a = _train(rules, 20, process=process)
    b = _train(rules, 20, process=process)
    pd.testing.assert_frame_equal(a.loss_table, b.loss_table)
    for (ka, va), (kb, vb) in zip(a.net.state_dict().items(), b.net.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    c = _train(rules, 20, process=process, seed=124)
    assert not a.loss_table["loss"].equals(c.loss_table["loss"])


@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_resume_gives_the_uninterrupted_weights(rules, tmp_path):
    full = _train(rules, 23)
    ckpt = tmp_path / "run.ckpt"
    part = _train(rules, 23, checkpoint=ckpt, stop_after=12)  # stops mid-window (log_every=5)
    assert not part.finished and part.steps_done == 12
    state = train.load_checkpoint(ckpt)
    assert state["step"] == 12 and "optimizer" in state and "generator" in state
    resumed = _train(rules, 23, checkpoint=ckpt)
    assert resumed.finished and resumed.steps_done == 23
    for (k, va), vb in zip(full.net.state_dict().items(), resumed.net.state_dict().values()):
        assert torch.equal(va, vb), k
    pd.testing.assert_frame_equal(full.loss_table, resumed.loss_table)


@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_snapshots_are_the_weights_of_a_run_stopped_there_and_survive_a_resume(rules, tmp_path):
    full = _train(rules, 23, snapshots=[3, 12, 23])
    assert sorted(full.snapshots) == [3, 12, 23]
    # a snapshot is the weights a run stopped at that step has (the learning-rate schedule is the
    # full run's, so the reference is the same run stopped early, not a shorter run)
    for step in (3, 12):
        stopped = _train(rules, 23, checkpoint=tmp_path / f"stop{step}.ckpt", stop_after=step)
        assert _same_weights(full.snapshots[step], stopped.net.state_dict()), step
    assert _same_weights(full.snapshots[23], full.net.state_dict())
    # taking snapshots changes nothing of the training
    plain = _train(rules, 23)
    assert _same_weights(plain.net.state_dict(), full.net.state_dict())
    # killed between two snapshots (checkpoint at step 7, snapshot 3 in it), then resumed
    ckpt = tmp_path / "run.ckpt"
    _train(rules, 23, checkpoint=ckpt, stop_after=10, snapshots=[3, 12, 23])
    assert sorted(train.load_checkpoint(ckpt)["snapshots"]) == [3]
    resumed = _train(rules, 23, checkpoint=ckpt, snapshots=[3, 12, 23])
    for step in (3, 12, 23):
        assert _same_weights(resumed.snapshots[step], full.snapshots[step]), step
    with pytest.raises(ValueError, match="snapshots must be steps"):
        _train(rules, 5, snapshots=[6])


def test_time_focus_draws_its_window_and_plain_ddpm_is_unchanged():
    T, n = 1000, 200_000
    plain = diffusion.TimeFocus()
    gen = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    # inactive: the same draws as uniform steps 1..T
    assert torch.equal(plain.steps(T, n, gen(), "cpu"), torch.randint(T, (n,), generator=gen()) + 1)
    focus = diffusion.TimeFocus(upper=0.4, weight=0.8)
    t = focus.steps(T, n, gen(), "cpu")
    assert t.min() >= 1 and t.max() <= T
    # P(t <= 0.4 T) = weight + (1 - weight) * upper = 0.88; uniform density within each part
    inside = (t <= 400).double().mean().item()
    assert abs(inside - 0.88) < 4 * math.sqrt(0.88 * 0.12 / n)
    frac = focus.fractions(n, gen(), "cpu")
    assert abs((frac < 0.4).double().mean().item() - 0.88) < 4 * math.sqrt(0.88 * 0.12 / n)
    with pytest.raises(ValueError, match="time_focus.upper"):
        train.TrainConfig(time_focus={"upper": 0.0, "weight": 0.5})


@pytest.mark.parametrize("process", ["gaussian", "masking", "uniform"])
@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_time_focus_changes_training_deterministically(rules, process):
    proc = diffusion.make_process(process, rules.v, SCHEDULE, 8)
    data = rhm.sample_trees(rules, 64, seed=9)[-1]
    runs = []
    for focus in ({}, {"upper": 0.3, "weight": 0.9}, {"upper": 0.3, "weight": 0.9}):
        cfg = train.TrainConfig(steps=6, batch_size=16, lr=3e-3, warmup=2, log_every=3, time_focus=focus)
        runs.append(train.train(proc, tiny_net(proc, rules), data, cfg, 1, progress=False))
    assert _same_weights(runs[1].net.state_dict(), runs[2].net.state_dict())
    assert not _same_weights(runs[0].net.state_dict(), runs[1].net.state_dict())


def test_resume_refuses_a_different_run(rules, tmp_path):
    ckpt = tmp_path / "run.ckpt"
    _train(rules, 10, checkpoint=ckpt, stop_after=7)
    other = _train(rules, 10, checkpoint=ckpt, seed=999)  # other seed: fingerprint differs, starts over
    assert other.loss_table["step"].tolist() == [5, 10]
    assert other.loss_table.equals(_train(rules, 10, seed=999).loss_table)


def test_checkpoints_are_byte_reproducible(rules, tmp_path):
    _train(rules, 10, checkpoint=tmp_path / "a.ckpt")
    _train(rules, 10, checkpoint=tmp_path / "b.ckpt")
    assert (tmp_path / "a.ckpt").read_bytes() == (tmp_path / "b.ckpt").read_bytes()


def _truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize("damage", ["junk", "truncated", "empty"])
def test_unreadable_resume_file_is_discarded_and_training_restarts(rules, tmp_path, damage):
    ckpt = tmp_path / "model.pt.resume"
    if damage == "junk":
        ckpt.write_bytes(b"not a checkpoint at all")
    elif damage == "truncated":
        _train(rules, 10, checkpoint=ckpt, stop_after=7)
        _truncated(ckpt)
    else:
        ckpt.write_bytes(b"")
    with pytest.warns(UserWarning, match="discarded unreadable checkpoint"):
        again = _train(rules, 10, checkpoint=ckpt)
    assert again.finished and again.loss_table.equals(_train(rules, 10).loss_table)
    assert train.load_checkpoint(ckpt)["step"] == 10  # a fresh, readable checkpoint replaced it


def test_checkpoint_that_would_run_code_is_refused(rules, tmp_path):
    marker = tmp_path / "code-ran"
    ckpt = tmp_path / "model.pt.resume"
    _train(rules, 10, checkpoint=ckpt, stop_after=7)
    state = train.load_checkpoint(ckpt)
    state["meta"]["payload"] = RunsCode(marker)
    with open(ckpt, "wb") as fh:
        torch.save(state, fh)
    with pytest.raises(ValueError, match="refused"):
        train.load_checkpoint(ckpt)
    with pytest.warns(UserWarning, match="discarded"):  # a resume discards it unread
        assert _train(rules, 10, checkpoint=ckpt).finished
    assert not marker.exists()


@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_training_learns_the_grammar(rules):
    """A short masking run on m=3 data: the loss falls well below the uniform guess log(v), and
    generated data are far more grammatical than the untrained network's."""
    proc = diffusion.make_process("masking", rules.v, SCHEDULE, 8)
    data = rhm.sample_trees(rules, 2048, seed=9)[-1]
    cfg = train.TrainConfig(steps=400, batch_size=128, lr=3e-3, warmup=20, log_every=50)
    untrained = tiny_net(proc, rules, width=32)
    res = train.train(proc, tiny_net(proc, rules, width=32), data, cfg, 5, progress=False)
    assert res.loss_table["loss"].iloc[-1] < 0.85 * math.log(rules.v)
    before = evaluate.generation_tables(rules, proc, untrained, data, 300, 1, "x", "m", 2048, 0)
    after = evaluate.generation_tables(rules, proc, res.net, data, 300, 1, "x", "m", 2048, 0)
    g0, g1 = (t["generation"]["grammatical"].iloc[0] for t in (before, after))
    assert g0 < 0.02 and g1 > 0.1, (g0, g1)
    # the level-0 row of the validity table is the grammatical fraction of the same samples
    assert after["validity"]["valid_up_to"].iloc[0] == g1
    # the untrained network is at chance at the leaves' level (v m / v**s of random tuples), the
    # trained one far above; where neither has learned anything the levels above are at chance too
    leaves = [t["validity"][(t["validity"]["samples"] == "all") & (t["validity"]["level"] == rules.L - 1)]
              for t in (before, after)]
    chance = rules.v * rules.m / rules.v**rules.s
    assert abs(leaves[0]["tuples_valid"].iloc[0] - chance) < 0.1
    assert leaves[1]["tuples_valid_ci_low"].iloc[0] > chance + 0.2


# ------------------------------------------------------------------------------ stages and tables
@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_train_model_writes_checkpoint_and_loss(rules, tmp_path):
    model = tmp_path / "model.pt"
    loss = tmp_path / "loss.parquet"
    table = stage.train_model(rules, "gaussian", SCHEDULE, TINY_TRAINING, **TINY_NETWORK,
                              experiment="x", P=32, train_seed=0, data_seed=1, seed=2,
                              model_path=model, loss_parquet=loss, progress=False)
    assert model.exists() and loss.exists() and not (tmp_path / "model.pt.resume").exists()
    assert table["step"].tolist() == [5, 10, 15, 20, 24]
    proc, net, meta = stage.load_model(model, sample_steps=20)
    assert proc.name == "gaussian" and proc.sample_steps == 20 and proc.schedule == SCHEDULE
    assert meta["P"] == 32 and meta["name"] == "tree_unet_P32_s0" and meta["train_seed"] == 2
    assert "sampling_steps" not in meta  # the model does not depend on how it is sampled
    kept = stage.evaluate_sweep(rules, model, [0.0, 0.3], 20, sample_steps=20, seed=3,
                                experiment="x", P=32, train_seed=0, rule_seed=0, progress=False)
    assert list(kept.columns) == LEARNED_KEPT_COLUMNS
    assert (kept.loc[kept["noise"] == 0.0, "kept_sampled"] == 1.0).all()  # t = 0: nothing to undo
    exact = stage.bp_reference(rules, "gaussian", SCHEDULE, [0.0, 0.3], 20, seed=3, experiment="x",
                               rule_seed=0, progress=False)
    assert (exact["model"] == "bp").all() and exact["P"].isna().all()
    tables = stage.evaluate_generation(rules, model, 16, sample_steps=20, data_seed=1, seed=4,
                                       experiment="x", P=32, train_seed=0)
    assert tables["generation"][["experiment", "P", "seed"]].values.tolist() == [["x", 32, 0]]
    assert tables["validity"][["experiment", "P", "seed"]].drop_duplicates().values.tolist() \
        == [["x", 32, 0]]


@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_train_model_writes_snapshots_that_load_like_the_model(rules, tmp_path):
    """Snapshot files: the weights at their step, with the model's meta and that step; the last
    one is the final model's weights; the model file is what a run without snapshots writes."""
    paths = {step: tmp_path / f"step{step}.pt" for step in (4, 12, 24)}
    kwargs = dict(experiment="x", P=32, train_seed=0, data_seed=1, seed=2, progress=False)
    stage.train_model(rules, "masking", SCHEDULE, TINY_TRAINING, **TINY_NETWORK, **kwargs,
                      model_path=tmp_path / "model.pt", loss_parquet=tmp_path / "loss.parquet",
                      snapshot_paths=paths)
    stage.train_model(rules, "masking", SCHEDULE, TINY_TRAINING, **TINY_NETWORK, **kwargs,
                      model_path=tmp_path / "plain.pt", loss_parquet=tmp_path / "plain.parquet")
    assert (tmp_path / "model.pt").read_bytes() == (tmp_path / "plain.pt").read_bytes()
    _, final, meta = stage.load_model(tmp_path / "model.pt")
    nets = {}
    for step, path in paths.items():
        proc, nets[step], snap_meta = stage.load_model(path, sample_steps=8)
        assert snap_meta["step"] == step and snap_meta["name"] == meta["name"]
    assert _same_weights(nets[24].state_dict(), final.state_dict())
    assert not _same_weights(nets[4].state_dict(), final.state_dict())
    # a snapshot is evaluated like a model
    tables = stage.evaluate_generation(rules, paths[4], 16, sample_steps=8, data_seed=1, seed=4,
                                       experiment="x", P=32, train_seed=0)
    assert len(tables["validity"]) == 2 * rules.L  # all and novel samples


def test_training_set_is_its_seed_s(rules):
    a = stage.training_set(rules, 16, seed=0)
    assert a.shape == (16, rules.d)
    assert torch.equal(a, stage.training_set(rules, 16, seed=0))
    assert not torch.equal(a, stage.training_set(rules, 16, seed=1))
    assert rhm.parse(rules, a).valid.all()


def test_memorized_mask():
    train_leaves = torch.tensor([[0, 1, 2], [3, 4, 5]])
    gen = torch.tensor([[0, 1, 2], [0, 1, 3], [3, 4, 5]])
    assert evaluate.memorized_mask(gen, train_leaves).tolist() == [True, False, True]


def test_class_distance():
    base = dict(experiment="x", process="masking", L=3, rule_seed=0, t=0.0, t_over_T=0.0, ci_low=0.0,
                ci_high=1.0, n=10, invalid_rate=0.0)
    exact = pd.DataFrame([dict(base, model="bp", level=0, noise=z, kept_marginal=k, kept_sampled=k, P=math.nan,
                               seed=math.nan) for z, k in [(0.0, 1.0), (0.5, 0.6), (1.0, 0.125)]])
    learned = pd.DataFrame([dict(base, model="m", level=0, noise=z, kept_marginal=math.nan, kept_sampled=k, P=64,
                                 seed=0) for z, k in [(0.0, 1.0), (0.5, 0.45), (1.0, 0.2)]])
    dist = evaluate.class_distance(learned, exact)
    assert dist["max_abs_diff"].iloc[0] == pytest.approx(0.15)
    assert dist["noise_at_max"].iloc[0] == 0.5
    assert dist["mean_abs_diff"].iloc[0] == pytest.approx((0 + 0.15 + 0.075) / 3)
