"""Images branch in process: digits data and models, and the stage's glue.

- hierphase.images.digits_data, digits_cnn, ddpm_training: upsampling checked against an
  independent numpy computation, the split is deterministic / stratified / disjoint, the sweep shards are the held-out split's
  first images of every class, interleaved, the shift
  augmentation equals explicit slicing, training is reproducible and the saved models load
  through the engine's adapters.
- hierphase.stages.images: the aggregated tables against direct counting, per-image seeds
  independent of sharding.
The images workflow end to end: tests/test_workflow_images.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from hierphase.images import ddpm_training as DT
from hierphase.images import digits_cnn as DC
from hierphase.images import digits_data as DD
from hierphase.stages import images as P
from hierphase.images.shards import read_shard, to_model_scale
from hierphase.io import read_sidecar
from hierphase.stats import wilson_interval

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore:.*torch.cuda.amp.custom:FutureWarning")


# ------------------------------------------------------------------------------------ digits data
def test_nearest_upsampling_is_block_replication_of_rescaled_levels():
    from sklearn.datasets import load_digits

    raw = load_digits().images  # (1797, 8, 8), levels 0..16
    data = DD.load_digits_images(16, "nearest")
    expected = np.round(np.kron(raw, np.ones((2, 2))) * 255 / 16).astype(np.uint8)
    assert data["images"].shape == (1797, 1, 16, 16) and data["images"].dtype == torch.uint8
    np.testing.assert_array_equal(data["images"][:, 0].numpy(), expected)
    assert data["names"][5] == "digits-0005" and len(set(data["names"])) == 1797


def test_bilinear_upsampling_keeps_range_and_means():
    from sklearn.datasets import load_digits

    raw = load_digits().images * 255 / 16
    data = DD.load_digits_images(16, "bilinear")["images"][:, 0].double().numpy()
    assert data.min() >= 0 and data.max() <= 255
    # output pixel 3 of 16 maps to source coordinate (3 + 0.5) / 2 - 0.5 = 1.25 (align_corners
    # False): weight 0.75 on source pixel 1 and 0.25 on pixel 2, along each axis
    patch = raw[:, 1:3, 1:3]
    manual = np.einsum("i,nij,j->n", np.array([0.75, 0.25]), patch, np.array([0.75, 0.25]))
    np.testing.assert_allclose(data[:, 3, 3], manual, atol=0.51)
    with pytest.raises(ValueError, match="multiple of 8"):
        DD.load_digits_images(12)


def test_split_is_deterministic_stratified_and_disjoint():
    data = DD.load_digits_images(8)
    train, held = DD.split_digits(data, 0.2, seed=3)
    train2, held2 = DD.split_digits(data, 0.2, seed=3)
    assert train["names"] == train2["names"] and held["names"] == held2["names"]
    assert not set(train["names"]) & set(held["names"])
    assert len(train["names"]) + len(held["names"]) == 1797
    counts = np.bincount(data["labels"].numpy())
    np.testing.assert_array_equal(np.bincount(held["labels"].numpy()), np.round(0.2 * counts))
    other = DD.split_digits(data, 0.2, seed=4)[1]
    assert other["names"] != held["names"]


def test_select_per_class_interleaves_and_sweep_shards_come_from_held_out(tmp_path):
    data = DD.load_digits_images(16)
    _, held = DD.split_digits(data, 0.2, seed=0)
    chosen = DD.select_per_class(held, 3)
    assert chosen["labels"].tolist() == list(range(10)) * 3
    with pytest.raises(ValueError, match="n_per_class"):
        DD.select_per_class(held, 1000)
    assert DD.write_digits_split(tmp_path / "train.pt", tmp_path / "held.pt", seed=0) == \
        (len(data["names"]) - len(held["names"]), len(held["names"]))
    paths = [tmp_path / f"shard{i}.pt" for i in range(3)]
    split = dict(image_size=16, upsample="bilinear", held_out_fraction=0.2, seed=0)
    sizes = DD.write_sweep_shards(tmp_path / "held.pt", paths, n_per_class=2, **split)
    assert sizes == [7, 7, 6]
    shards = [read_shard(p) for p in paths]
    names = sum((s["names"] for s in shards), [])
    # the first two held-out images of every class, by direct lookup in the held-out file
    held_file = read_shard(tmp_path / "held.pt")
    first = {c: [n for n, label in zip(held_file["names"], held_file["labels"].tolist())
                 if label == c][:2] for c in range(10)}
    assert names == [first[c][i] for i in range(2) for c in range(10)]
    assert not set(names) & set(read_shard(tmp_path / "train.pt")["names"])
    assert shards[0]["images"].dtype == torch.uint8 and shards[0]["images"].shape[1:] == (1, 16, 16)
    assert read_sidecar(paths[0])["held_out_fraction"] == 0.2
    # shards are cut from the held-out split the sidecars name, never from another file
    with pytest.raises(ValueError, match="held_out_path.*held_out_fraction"):
        DD.write_sweep_shards(tmp_path / "held.pt", paths, n_per_class=2,
                              **{**split, "held_out_fraction": 0.3})
    with pytest.raises(ValueError, match="held_out_path.*split"):
        DD.write_sweep_shards(tmp_path / "train.pt", paths, n_per_class=2, **split)


def test_random_shift_equals_explicit_translation():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(6, 1, 8, 8)
    out = DC._random_shift(x, 2, torch.Generator().manual_seed(0))
    dx = torch.randint(0, 5, (6,), generator=gen)
    dy = torch.randint(0, 5, (6,), generator=gen)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), value=-1.0)
    for i in range(6):
        expected = padded[i, :, dy[i]:dy[i] + 8, dx[i]:dx[i] + 8]
        torch.testing.assert_close(out[i], expected, rtol=0, atol=0)


# ---------------------------------------------------------------------------------- digits models
@pytest.fixture(scope="module")
def small_digits():
    data = DD.load_digits_images(16)
    train, held = DD.split_digits(data, 0.2, seed=0)
    return DD._subset(train, np.arange(0, len(train["names"]), 4)), held


@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_classifier_training_is_reproducible_and_loads_as_feature_classifier(small_digits, tmp_path):
    train, held = small_digits
    cfg = DC.ClassifierTrainConfig(epochs=2, width=8)
    state, history = DC.train_digits_classifier(train, held, cfg, seed=1, device="cpu", progress=False)
    state2, _ = DC.train_digits_classifier(train, held, cfg, seed=1, device="cpu", progress=False)
    for key, value in state["state_dict"].items():
        torch.testing.assert_close(value, state2["state_dict"][key], rtol=0, atol=0)
    assert list(history.columns) == ["epoch", "train_loss", "train_accuracy", "held_out_accuracy"]
    assert history["held_out_accuracy"].between(0, 1).all()
    torch.save(state, tmp_path / "cnn.pt")
    from hierphase.images.classifiers import build_classifier

    clf = build_classifier("digits_cnn", tmp_path / "cnn.pt", device="cpu")
    assert clf.layer_names == DC.DIGITS_LAYERS
    x = to_model_scale(held["images"][:5])
    logits, feats = clf(x)
    module = DC.load_digits_cnn_module(tmp_path / "cnn.pt")
    with torch.no_grad():
        torch.testing.assert_close(logits, module(x))
    assert feats["stem"].shape == (5, 8, 256) and feats["block3"].shape == (5, 32, 16)
    assert feats["classifier"].shape == (5, 10, 1)
    accuracy = DC.classifier_accuracy(module, held)
    assert accuracy == pytest.approx(float(history["held_out_accuracy"].iloc[-1]))


@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_ddpm_training_is_reproducible_and_loads_through_the_adapter(small_digits, tmp_path):
    from hierphase.images.diffusion import forward_backward
    from hierphase.images.models import load_diffusers_unet

    train, _ = small_digits
    cfg = DT.DDPMTrainConfig(steps=3, batch_size=8, warmup=1, block_out_channels=(8, 16))
    loss = DT.train_digits_ddpm(train["images"], tmp_path / "a", cfg, seed=0, device="cpu",
                               progress=False)
    DT.train_digits_ddpm(train["images"], tmp_path / "b", cfg, seed=0, device="cpu", progress=False)
    assert list(loss.columns) == ["step", "loss", "lr"] and loss["step"].iloc[-1] == 3
    a = load_diffusers_unet(tmp_path / "a", device="cpu")
    b = load_diffusers_unet(tmp_path / "b", device="cpu")
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)
    assert (a.image_size, a.channels, a.learned_variance) == (16, 1, False)
    sched = __import__("json").loads((tmp_path / "a" / "scheduler_config.json").read_text())
    assert sched["beta_schedule"] == "linear" and sched["num_train_timesteps"] == 1000
    assert sched["prediction_type"] == "epsilon"
    x0 = to_model_scale(train["images"][:2])
    out = forward_backward(a, x0, 2, [1, 2], progress=False, num_steps=4)
    assert out.x0_hat.shape == x0.shape


# -------------------------------------------------------------------------------------- glue
def test_image_seeds_depend_on_the_image_not_the_shard():
    seeds = P.image_seeds(0, "sweep", 5, ["a", "b", "c"])
    assert P.image_seeds(0, "sweep", 5, ["c"]) == seeds[2:]
    assert P.image_seeds(0, "sweep", 6, ["a"]) != seeds[:1]
    assert len(set(seeds)) == 3


def test_sweep_at_k0_needs_no_model_and_returns_the_clean_images(tmp_path):
    assert P.load_sweep_model(0, "train", tmp_path / "not-there") is None
    with pytest.raises(FileNotFoundError):
        P.load_sweep_model(1, "train", tmp_path / "not-there")
    images = torch.randint(0, 256, (3, 1, 8, 8), dtype=torch.uint8)
    shard = {"images": images, "names": ["a", "b", "c"], "labels": torch.tensor([0, 1, 2])}
    x0_hat, record = P.sweep_shard(None, shard, 0, num_steps=10, seed=0, batch_size=2,
                                   progress=False)
    assert torch.equal(x0_hat, images)
    assert (record["k"], record["K"], record["t_over_T"]) == (0, 10, 0.0)


def _fake_measure(rng, names, k, K, layers):
    rows = []
    for name in names:
        kept = bool(rng.random() < 0.7)
        for depth, layer in enumerate(layers):
            rows.append({"name": name, "label": 0, "k": k, "K": K, "t": 10 * k,
                         "t_over_T": k / K, "pred_x0": 1, "pred_x0_hat": 1 if kept else 2,
                         "kept": kept, "layer": layer, "depth": depth,
                         "similarity": float(rng.normal(0.5, 0.1))})
    return pd.DataFrame(rows)[P.MEASURE_COLUMNS]


def test_aggregate_against_direct_counts():
    rng = np.random.default_rng(0)
    layers = ["a", "b", "c"]
    shards = [_fake_measure(rng, [f"x{i}" for i in range(s * 7, s * 7 + 7)], k, 4, layers)
              for k in (1, 3) for s in range(2)]
    kept, sim = P.aggregate(shards, dataset="d", model="m", classifier="c")
    assert list(kept.columns) == P.CLASS_KEPT_COLUMNS
    assert list(sim.columns) == P.LAYER_SIMILARITY_COLUMNS
    allrows = pd.concat(shards)
    for k in (1, 3):
        per_image = allrows[(allrows.k == k) & (allrows.layer == "a")]
        row = kept[kept.k == k].iloc[0]
        assert row.n == 14 and row.kept == pytest.approx(per_image.kept.mean())
        lo, hi = wilson_interval(per_image.kept.sum(), 14)
        assert (row.ci_low, row.ci_high) == pytest.approx((lo, hi))
        for depth, layer in enumerate(layers):
            values = allrows[(allrows.k == k) & (allrows.layer == layer)].similarity.to_numpy()
            r = sim[(sim.k == k) & (sim.layer == layer)].iloc[0]
            assert r.depth == depth and r.n == 14
            assert r.similarity == pytest.approx(values.mean())
            half = 1.959963984540054 * values.std(ddof=1) / np.sqrt(14)
            assert r.ci_high - r.similarity == pytest.approx(half)
    with pytest.raises(ValueError, match="overlapping"):
        P.aggregate(shards + shards[:1], dataset="d", model="m", classifier="c")


def test_quality_table_flags_targets():
    q = P.quality_table(accuracy=0.98, n_held_out=100, confidences=[0.95] * 7 + [0.5] * 3,
                        confidence=0.9, min_accuracy=0.97, min_confident_fraction=0.8,
                        dataset="digits", model="m", classifier="c")
    assert q["value"].tolist() == pytest.approx([0.98, 0.7])
    assert q["passed"].tolist() == [True, False]


# ------------------------------------------------------------------------ patch change correlations
def _tiny_unet(channels=1, size=8):
    from diffusers import UNet2DModel

    from hierphase.images.models import wrap_diffusers_unet

    torch.manual_seed(3)
    unet = UNet2DModel(sample_size=size, in_channels=channels, out_channels=channels,
                       block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4,
                       down_block_types=("DownBlock2D", "DownBlock2D"),
                       up_block_types=("UpBlock2D", "UpBlock2D"))
    return wrap_diffusers_unet(unet.eval().requires_grad_(False))


def _clean(n=3, size=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"images": torch.randint(0, 256, (n, 1, size, size), dtype=torch.uint8, generator=g),
            "labels": torch.arange(n), "names": [f"img{i}" for i in range(n)]}


def test_trajectory_seeds_depend_on_image_k_and_run_only():
    seeds = P.trajectory_seeds(0, 5, "a", 4)
    assert len(set(seeds)) == 4 and P.trajectory_seeds(0, 5, "a", 2) == seeds[:2]
    assert P.trajectory_seeds(0, 6, "a", 1) != seeds[:1]
    assert P.trajectory_seeds(0, 5, "b", 1) != seeds[:1]


def test_correlation_shard_equals_a_dense_recomputation_one_run_at_a_time():
    """Every trajectory rerun alone (batch 1, its own seed), embedded, delta per patch by hand,
    the dense covariance over the runs of each image binned by hand: the job's pair sums."""
    from hierphase.images.diffusion import forward_backward
    from hierphase.images.embeddings import PixelPatches
    from hierphase.images.shards import to_uint8
    from hierphase.tables import PATCH_PAIR_SUM_COLUMNS

    model, clean, k, n_traj = _tiny_unet(), _clean(), 3, 4
    embeddings = {"pix": PixelPatches(2), "big": PixelPatches(4)}
    table = P.correlation_shard(model, embeddings, clean, k, n_traj=n_traj, num_steps=5, seed=7,
                                batch_size=8, progress=False)  # two images per batch
    assert list(table.columns) == PATCH_PAIR_SUM_COLUMNS
    assert table["embedding"].unique().tolist() == ["pix", "big"]
    x0 = to_model_scale(clean["images"])
    for i, name in enumerate(clean["names"]):
        seeds = P.trajectory_seeds(7, k, name, n_traj)
        runs = torch.cat([to_model_scale(to_uint8(forward_backward(
            model, x0[i:i + 1], k, [s], 1, False, num_steps=5).x0_hat)) for s in seeds])
        for emb_name, patch in (("pix", 2), ("big", 4)):
            side = 8 // patch
            delta = np.zeros((n_traj, side, side))
            for t, a, b in np.ndindex(delta.shape):
                block = (slice(a * patch, (a + 1) * patch), slice(b * patch, (b + 1) * patch))
                diff = (runs[t, :, block[0], block[1]].double()
                        - x0[i, :, block[0], block[1]].double())
                delta[t, a, b] = float(diff.square().mean().sqrt())
            flat = delta.reshape(n_traj, -1)
            cov = flat.T @ flat / n_traj - np.outer(flat.mean(0), flat.mean(0))
            coords = np.indices((side, side)).reshape(2, -1)
            d2 = ((coords[:, :, None] - coords[:, None, :]) ** 2).sum(0)
            rows = table[(table["embedding"] == emb_name) & (table["name"] == name)]
            assert rows["distance"].tolist() == sorted(np.unique(d2).tolist())
            expect = [cov[d2 == key].sum() for key in rows["distance"]]
            np.testing.assert_allclose(rows["pair_sum"], expect, rtol=1e-9, atol=1e-12)
            assert rows["delta"].iloc[0] == pytest.approx(delta.mean())
            assert (rows[["grid_h", "grid_w", "n_traj", "k", "K"]].to_numpy()
                    == [side, side, n_traj, k, 5]).all()


def test_correlation_shard_at_k0_changes_nothing():
    from hierphase.images.embeddings import PixelPatches

    table = P.correlation_shard(None, {"pix": PixelPatches(2)}, _clean(2), 0, n_traj=3,
                                num_steps=5, seed=0, batch_size=4, progress=False)
    assert (table["pair_sum"] == 0.0).all() and (table["delta"] == 0.0).all()
    assert (table["t_over_T"] == 0.0).all()


def test_correlation_images_span_shards():
    from hierphase.images.shards import shard_bounds

    a, b = _clean(3, seed=1), _clean(4, seed=2)
    b["names"] = [f"b{i}" for i in range(4)]
    got = P.correlation_images([a, b], 10, 12, 15)  # positions 12..14 of a set where a starts at 10
    assert got["names"] == ["img2", "b0", "b1"]
    assert torch.equal(got["images"], torch.cat([a["images"][2:], b["images"][:2]]))
    with pytest.raises(ValueError, match="not all in the given shards"):
        P.correlation_images([a], 10, 12, 15)
    for n, parts in ((200, 2), (10, 3), (7, 7), (5, 2)):
        expect = np.array_split(np.arange(n), parts)
        assert [(int(p[0]), int(p[-1]) + 1) for p in expect] == shard_bounds(n, parts)


def test_aggregate_patch_correlations_against_summarise():
    from hierphase.correlations import lattice_bins, lattice_pair_sums, summarise
    from hierphase.tables import PATCH_CORRELATIONS_COLUMNS, PATCH_SUSCEPTIBILITY_COLUMNS

    rng = np.random.default_rng(1)
    bins = lattice_bins((3, 3), periodic=False)
    deltas = {(emb, k, name): rng.exponential(size=(5, 3, 3)) + rng.exponential(size=(5, 1, 1))
              for emb in ("b", "a") for k in (2, 4) for name in ("x0", "x1", "x2", "x3")}

    def shard(names, k):
        rows = []
        for emb in ("b", "a"):
            for name in names:
                d = deltas[(emb, k, name)]
                rows.append(pd.DataFrame({
                    "embedding": emb, "name": name, "k": k, "K": 4, "t": 100 * k,
                    "t_over_T": k / 4, "grid_h": 3, "grid_w": 3, "n_traj": 5,
                    "distance": bins.distance, "r": bins.r,
                    "pair_sum": lattice_pair_sums(d, periodic=False), "delta": d.mean()}))
        return pd.concat(rows, ignore_index=True)

    shards = [shard(["x2", "x3"], 4), shard(["x0", "x1"], 4), shard(["x0", "x1"], 2),
              shard(["x2", "x3"], 2)]
    corr, sus = P.aggregate_patch_correlations(shards, dataset="d", model="m", classifier="c",
                                               n_boot=50, seed=3)
    assert list(corr.columns) == PATCH_CORRELATIONS_COLUMNS
    assert list(sus.columns) == PATCH_SUSCEPTIBILITY_COLUMNS
    assert sus[["embedding", "k"]].values.tolist() == [["b", 2], ["b", 4], ["a", 2], ["a", 4]]
    for emb in ("a", "b"):
        for k in (2, 4):
            pairs = np.stack([lattice_pair_sums(deltas[(emb, k, n)], periodic=False)
                              for n in ("x0", "x1", "x2", "x3")])
            ref = summarise(pairs, bins, 5, n_boot=50, seed=3)
            row = sus[(sus.embedding == emb) & (sus.k == k)].iloc[0]
            for col in ("chi", "chi_lo", "chi_hi", "xi", "xi_lo", "xi_hi"):
                assert row[col] == pytest.approx(ref.susceptibility[col].iloc[0])
            assert row["delta"] == pytest.approx(np.mean([deltas[(emb, k, n)].mean()
                                                          for n in ("x0", "x1", "x2", "x3")]))
            got = corr[(corr.embedding == emb) & (corr.k == k)]
            np.testing.assert_allclose(got["C"], ref.correlations["C"])
            np.testing.assert_allclose(got["C_hi"], ref.correlations["C_hi"])
    # the order the shards come in changes nothing
    again = P.aggregate_patch_correlations(shards[::-1], dataset="d", model="m", classifier="c",
                                           n_boot=50, seed=3)
    pd.testing.assert_frame_equal(again[1].sort_values(["embedding", "k"]).reset_index(drop=True),
                                  sus.sort_values(["embedding", "k"]).reset_index(drop=True))
    with pytest.raises(ValueError, match="overlapping"):
        P.aggregate_patch_correlations(shards + shards[:1], dataset="d", model="m",
                                       classifier="c", n_boot=5, seed=0)
