"""hierphase.plots.correlations on tables with the sweeps' exact schema, built with exact BP on a
small RHM, an exactly denoised Gaussian field and flat class mixture; the ValueError paths."""

import math

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

from hierphase import bp, noise, rhm
from hierphase.correlations import lattice_correlations, tree_change_spins, tree_correlations
from hierphase.plots import correlations as figs
from hierphase.scaling import NuFit, collapse_lengths, fit_nu

matplotlib.use("Agg")

COR_COLUMNS = ["family", "experiment", "model", "process", "L", "rule_seed", "noise", "t_over_T",
               "level", "distance", "r", "C", "C_lo", "C_hi", "n_x0", "n_traj"]
SUS_COLUMNS = ["family", "experiment", "model", "process", "L", "rule_seed", "noise", "t_over_T",
               "level", "chi", "chi_lo", "chi_hi", "xi", "xi_lo", "xi_hi", "class_kept", "n_x0",
               "n_traj"]


def _typed(df: pd.DataFrame, columns) -> pd.DataFrame:
    df = df[columns].copy()
    for c in ("L", "rule_seed", "level", "n_x0", "n_traj"):
        df[c] = df[c].astype("Int64")
    for c in ("family", "experiment", "model", "process"):
        df[c] = df[c].astype(str)
    return df.reset_index(drop=True)


def _ids(family, experiment, model, process, L, rule_seed, level_value, n_x0, n_traj):
    time = process != "epsilon"
    return dict(family=family, experiment=experiment, model=model, process=process,
                L=pd.NA if L is None else L, rule_seed=rule_seed, noise=level_value,
                t_over_T=level_value if time else np.nan, n_x0=n_x0, n_traj=n_traj)


def rhm_tables(v=8, m=2, s=2, Ls=(3, 4), grid=np.linspace(0.2, 1.0, 9), n_x0=6, n_traj=12,
               processes=("epsilon", "masking", "gaussian"), experiment="main", rule_seed=0,
               n_boot=100, mean_field=True):
    """Exact BP forward-backward on an RHM: n_traj posterior samples per x0 (the epsilon evidence
    repeated, fresh masks and Gaussian noise per trajectory), change spins at every level, the
    binned estimator. ``mean_field``: stand-in theory rows (the BP estimate, no interval, no
    counts) for the epsilon process, so that the figures draw their lines."""
    cors, suss = [], []
    for L in Ls:
        rules = rhm.sample_rules(v, m, s, L, seed=rule_seed)
        trees = rhm.sample_trees(rules, n_x0, seed=100 + L)
        repeated = trees[-1].repeat_interleave(n_traj, 0)
        for p_i, process in enumerate(processes):
            for j, level_value in enumerate(grid):
                seed = 1000 * L + 100 * p_i + j
                ev = noise.forward_evidence(process, repeated, v, float(level_value), seed=seed)
                hat = [h.reshape(n_x0, n_traj, -1).numpy()
                       for h in bp.sample_posterior(rules, ev, seed=seed)]
                spins = tree_change_spins([t.numpy() for t in trees], hat)
                out = tree_correlations(spins, s, n_boot=n_boot, seed=seed)
                kept = float((hat[0][:, :, 0] == trees[0].numpy()[:, None, 0]).mean())
                ids = _ids("rhm", experiment, "bp", process, L, rule_seed, float(level_value),
                           n_x0, n_traj)
                cors.append(out.correlations.assign(**{k: v_ for k, v_ in ids.items()
                                                      if k not in ("n_x0", "n_traj")}))
                suss.append(out.susceptibility.assign(class_kept=kept, **{
                    k: v_ for k, v_ in ids.items() if k not in ("n_x0", "n_traj")}))
    cor = _typed(pd.concat(cors), COR_COLUMNS)
    sus = _typed(pd.concat(suss), SUS_COLUMNS)
    if mean_field:
        cor, sus = _with_mean_field(cor, sus)
    return cor, sus


def _with_mean_field(cor, sus):
    def theory(df, cols):
        t = df[df["process"] == "epsilon"].copy()
        t["model"] = "mean_field"
        for c in cols:
            t[f"{c}_lo"] = t[c]
            t[f"{c}_hi"] = t[c]
        t["n_x0"] = pd.array([pd.NA] * len(t), dtype="Int64")
        t["n_traj"] = pd.array([pd.NA] * len(t), dtype="Int64")
        return pd.concat([df, t], ignore_index=True)

    sus = theory(sus, ["chi", "xi"])
    sus.loc[sus["model"] == "mean_field", "class_kept"] = np.nan
    return theory(cor, ["C"]), sus


def gaussian_field_tables(n=8, a=2.0, grid=np.linspace(0.1, 1.0, 6), n_x0=4, n_traj=12, seed=0):
    """Periodic n x n Gaussian field with spectrum |k|^-a, DDPM forward to abar(t), exact
    posterior sample mode by mode (FFT), continuous change |z - z_hat| on the lattice."""
    rng = np.random.default_rng(seed)
    k = np.sqrt(np.add.outer(np.fft.fftfreq(n) ** 2, np.fft.fftfreq(n) ** 2))
    spectrum = np.where(k > 0, np.maximum(k, 1e-9) ** -a, 0.0)
    spectrum /= spectrum.mean()

    def field(size):
        white = np.fft.fft2(rng.standard_normal(size + (n, n)))
        return np.fft.ifft2(white * np.sqrt(spectrum)).real

    schedule = noise.GaussianSchedule()
    cors, suss = [], []
    z0 = field((n_x0,))
    for j, tt in enumerate(grid):
        abar = float(schedule.abar(schedule.step(float(tt))))
        zt = math.sqrt(abar) * z0[:, None] + math.sqrt(1 - abar) * rng.standard_normal(
            (n_x0, n_traj, n, n))
        gain = math.sqrt(abar) * spectrum / (abar * spectrum + 1 - abar)
        var = spectrum * (1 - abar) / (abar * spectrum + 1 - abar)
        mean = np.fft.ifft2(np.fft.fft2(zt) * gain).real
        noise_part = np.fft.ifft2(np.fft.fft2(rng.standard_normal(zt.shape)) * np.sqrt(var)).real
        changes = np.abs(mean + noise_part - z0[:, None])
        out = lattice_correlations(changes, periodic=True, n_boot=100, seed=j)
        ids = _ids("gaussian_field", "gaussian_field", "bp", "gaussian", None, 0, float(tt),
                   n_x0, n_traj)
        drop = ("n_x0", "n_traj")
        cors.append(out.correlations.assign(**{k_: v for k_, v in ids.items() if k_ not in drop}))
        suss.append(out.susceptibility.assign(class_kept=np.nan, **{
            k_: v for k_, v in ids.items() if k_ not in drop}))
    return _typed(pd.concat(cors), COR_COLUMNS), _typed(pd.concat(suss), SUS_COLUMNS)


def flat_mixture_tables(v=8, n_classes=4, d=16, grid=np.linspace(0.2, 1.0, 9), n_x0=6,
                        n_traj=12, seed=0):
    """A class, then d tokens i.i.d. from its distribution; epsilon evidence; exact posterior:
    the class from the product of per-token likelihoods, then each token given the class."""
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(v, 0.3), size=n_classes)  # (classes, v)
    cls = rng.integers(n_classes, size=n_x0)
    x0 = np.stack([rng.choice(v, size=d, p=p[c]) for c in cls])
    cors, suss = [], []
    for j, eps in enumerate(grid):
        ev = np.exp(noise.epsilon_evidence(torch.as_tensor(x0), float(eps), v).numpy())  # (n, d, v)
        joint = p[None, :, None, :] * ev[:, None]  # (n, classes, d, v)
        log_cls = np.log(joint.sum(-1)).sum(-1)  # (n, classes)
        post = np.exp(log_cls - log_cls.max(1, keepdims=True))
        post /= post.sum(1, keepdims=True)
        c_hat = np.stack([rng.choice(n_classes, size=n_traj, p=post[i]) for i in range(n_x0)])
        tok = joint[np.arange(n_x0)[:, None], c_hat]  # (n, n_traj, d, v)
        tok /= tok.sum(-1, keepdims=True)
        u = rng.uniform(size=tok.shape[:-1] + (1,))
        x_hat = (tok.cumsum(-1) < u).sum(-1).clip(max=v - 1)
        spins = np.where(x_hat != x0[:, None], 1, -1).astype(np.int8)
        out = lattice_correlations(spins, periodic=False, n_boot=100, seed=j)
        ids = _ids("flat_mixture", "flat_mixture", "bp", "epsilon", None, 0, float(eps),
                   n_x0, n_traj)
        drop = ("n_x0", "n_traj")
        cors.append(out.correlations.assign(**{k: v_ for k, v_ in ids.items() if k not in drop}))
        suss.append(out.susceptibility.assign(class_kept=float((c_hat == cls[:, None]).mean()),
                                              **{k: v_ for k, v_ in ids.items() if k not in drop}))
    return _typed(pd.concat(cors), COR_COLUMNS), _typed(pd.concat(suss), SUS_COLUMNS)


def all_tables(**rhm_kwargs):
    parts = [rhm_tables(**rhm_kwargs),
             rhm_tables(v=8, m=6, s=2, Ls=(3,), processes=("epsilon",), experiment="no_transition",
                        mean_field=False),
             gaussian_field_tables(), flat_mixture_tables()]
    return (pd.concat([p[0] for p in parts], ignore_index=True),
            pd.concat([p[1] for p in parts], ignore_index=True))


@pytest.fixture(scope="module")
def tables():
    return all_tables()


EPS_STAR = 0.6  # a stand-in: the figures only mark it and measure distances from it


# ----------------------------------------------------------------------------- schema
def test_tables_have_the_sweeps_schema(tables):
    cor, sus = tables
    assert list(cor.columns) == COR_COLUMNS and list(sus.columns) == SUS_COLUMNS
    assert set(cor["family"]) == {"rhm", "gaussian_field", "flat_mixture"}
    assert cor.loc[cor["family"] == "gaussian_field", "L"].isna().all()
    assert str(cor["L"].dtype) == "Int64" and str(sus["n_traj"].dtype) == "Int64"
    assert sus.loc[sus["model"] == "mean_field", "n_x0"].isna().all()


# ----------------------------------------------------------------------------- (a)
def test_c_of_r_draws_bp_points_and_mean_field_lines(tables):
    cor, _ = tables
    fig = figs.c_of_r(cor, "main", "epsilon", 4, eps_star=EPS_STAR)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_xlabel() == "distance r" and ax.get_ylabel() == "C(r)"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "mean field" in labels and "BP (95% CI)" in labels
    noise_labels = [lab for lab in labels if lab.startswith("$\\varepsilon$ = ")]
    assert len(noise_labels) == 5  # default: ends, the grid point nearest eps*, between
    assert "$\\varepsilon$ = 0.6 (nearest $\\varepsilon^*$)" in noise_labels  # ringed
    assert len(ax.get_lines()) >= 5  # the mean-field lines (plus error-bar artists)
    figs.plt.close(fig)


@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_c_of_r_takes_the_nearest_theory_noise_within_half_its_step(tables):
    cor, _ = tables
    bp, mf = cor[cor["model"] == "bp"], cor[cor["model"] == "mean_field"]

    def dashed(table):
        fig = figs.c_of_r(table, "main", "epsilon", 4, eps_star=EPS_STAR)
        n = sum(ln.get_linestyle() == "--" for ln in fig.axes[0].get_lines())
        figs.plt.close(fig)
        return n

    assert dashed(cor) == 5
    assert dashed(pd.concat([bp, mf.assign(noise=mf["noise"] + 0.02)])) == 5  # step 0.1
    assert dashed(pd.concat([bp, mf[np.isclose(mf["noise"], 0.2)]])) == 1  # one point: exact only
    assert dashed(pd.concat([bp, mf[np.isclose(mf["noise"], 0.2)].assign(noise=0.21)])) == 0


def test_c_of_r_given_noises_and_a_lattice(tables):
    cor, _ = tables
    fig = figs.c_of_r(cor, "main", "masking", 3, noises=[0.3, 0.7])
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert [lab.split(" (")[0] for lab in labels[:2]] == ["t/T = 0.3", "t/T = 0.7"]
    assert sum("(largest" in lab for lab in labels) == 1 and "mean field" not in labels
    figs.plt.close(fig)
    fig = figs.c_of_r(cor, "gaussian_field", "gaussian", None)
    assert "L =" not in fig.axes[0].get_title()
    figs.plt.close(fig)


def test_c_of_r_refuses_missing_rows(tables):
    cor, _ = tables
    with pytest.raises(ValueError, match="no experiment='nope'"):
        figs.c_of_r(cor, "nope", "epsilon", 4)
    with pytest.raises(ValueError, match="L=7"):
        figs.c_of_r(cor, "main", "epsilon", 7)
    with pytest.raises(ValueError, match="not on the BP grid"):
        figs.c_of_r(cor, "main", "epsilon", 4, noises=[0.55])
    with pytest.raises(ValueError, match="no BP rows"):
        figs.c_of_r(cor[cor["model"] == "mean_field"], "main", "epsilon", 4)


# ----------------------------------------------------------------------------- (b)
def test_chi_vs_noise_facets_processes_and_marks_class_halves(tables):
    _, sus = tables
    fig = figs.chi_vs_noise(sus, "main", EPS_STAR)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == [r"$\varepsilon$-process", "masking", "Gaussian DDPM"]
    assert fig.axes[0].get_xlabel() == r"noise $\varepsilon$" and fig.axes[1].get_xlabel() == "t / T"
    assert any("varepsilon^*" in t.get_text() for t in fig.axes[0].texts)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert {"L = 3", "L = 4", "mean field", "class kept = 1/2"} <= set(labels)
    # one half-point line per L on the masking panel, where the class is certainly lost by t = T
    bp = sus[(sus["experiment"] == "main") & (sus["process"] == "masking") & (sus["model"] == "bp")
             & (sus["level"] == sus["L"])]
    assert bp.groupby("L")["class_kept"].agg(lambda c: c.max() > 0.5 > c.min()).all()
    dotted = [ln for ln in fig.axes[1].get_lines() if ln.get_linestyle() == ":"]
    assert len(dotted) == 2
    dashed = [ln for ln in fig.axes[0].get_lines() if ln.get_linestyle() == "--"]
    assert len(dashed) == 3  # eps* and the mean-field chi of each L
    figs.plt.close(fig)


def test_chi_vs_noise_survives_nan_chi_and_refuses_all_nan(tables):
    _, sus = tables
    some = sus.copy()
    some.loc[some["noise"] < 0.3, ["chi", "chi_lo", "chi_hi"]] = np.nan
    figs.plt.close(figs.chi_vs_noise(some, "main", EPS_STAR))
    none = sus.assign(chi=np.nan)
    with pytest.raises(ValueError, match="every chi"):
        figs.chi_vs_noise(none, "main", EPS_STAR)
    with pytest.raises(ValueError, match="no BP rows"):
        figs.chi_vs_noise(sus[sus["model"] != "bp"], "main", EPS_STAR)


# ----------------------------------------------------------------------------- (c)
def _fit(sus, L):
    g = sus[(sus["experiment"] == "main") & (sus["process"] == "epsilon") & (sus["model"] == "bp")
            & (sus["L"] == L) & (sus["level"] == L)].sort_values("noise")
    return fit_nu(g["noise"], g["xi"], g["xi_lo"], g["xi_hi"], EPS_STAR, r_max=2**L - 1,
                  max_fraction=1.0, xi_min=0.1)


def test_xi_scaling_two_sides_with_fit_and_mean_field_slope(tables):
    _, sus = tables
    fit = _fit(sus, 4)
    assert np.isfinite(fit.nu)
    fig = figs.xi_scaling(sus, "main", EPS_STAR, fit, nu_mean_field=1.893)
    left, right = fig.axes[:2]
    assert left.get_xscale() == right.get_xscale() == "log" and left.get_yscale() == "log"
    assert "below" in left.get_title() and "above" in right.get_title()
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any(lab.startswith(r"fit: $\nu$ = " + f"{fit.nu:.2f}") for lab in labels)
    assert any("1.893" in lab for lab in labels)
    figs.plt.close(fig)
    per_L = {3: _fit(sus, 3), 4: fit}
    fig = figs.xi_scaling(sus, "main", EPS_STAR, per_L)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert sum("fit (L = " in lab for lab in labels) == sum(np.isfinite(f.nu) for f in per_L.values())
    figs.plt.close(fig)


def test_xi_scaling_draws_given_collapse_lengths_without_saturated_ones(tables):
    _, sus = tables
    lengths = pd.DataFrame({"L": 4, "r_max": 15.0, "noise": [0.2, 0.3, 0.9, 1.0],
                            "xi": [2.0, 3.0, 4.0, 50.0], "xi_lo": [1.5, 2.5, 3.0, 40.0],
                            "xi_hi": [2.5, 3.5, 5.0, 60.0], "n_points": 3,
                            "saturated": [False, False, False, True], "a": 0.5, "a_err": 0.1})
    fig = figs.xi_scaling(sus, "main", EPS_STAR, None, lengths=lengths)
    below, above = fig.axes[:2]
    drawn = sorted(np.concatenate([line.get_ydata() for ax in (below, above)
                                   for line in ax.get_lines() if line.get_marker() == "o"]))
    assert np.allclose(drawn, [2.0, 3.0, 4.0])  # the saturated length is not drawn
    assert "collapse" in below.get_ylabel()
    figs.plt.close(fig)


def test_xi_scaling_refuses_what_it_cannot_draw(tables):
    _, sus = tables
    with pytest.raises(ValueError, match="finite eps_star"):
        figs.xi_scaling(sus, "no_transition", None, None)
    # nothing finite to draw: a figure that says so (a small config must not fail the run)
    fig = figs.xi_scaling(sus.assign(xi=np.nan), "main", EPS_STAR, None)
    assert "no BP rows with a finite xi" in fig.axes[0].texts[0].get_text().replace("\n", " ")
    figs.plt.close(fig)
    empty = NuFit(np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, 0, (np.nan, np.nan), "none")
    figs.plt.close(figs.xi_scaling(sus, "main", EPS_STAR, empty))  # an unfitted NuFit: no line


# ----------------------------------------------------------------------------- (d)
@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_collapse_rescales_by_xi_and_power(tables):
    cor, sus = tables
    fig = figs.collapse(cor, sus, "main", eps_star=EPS_STAR)
    left, right = fig.axes[:2]
    assert right.get_xlabel() == r"$r / \xi$" and right.get_ylabel() == r"$C(r)\, r^{a} / B$"
    assert "fit at the $\\chi$ peak" in right.get_title() and "collapse S" in right.get_title()
    assert left.get_title() == "leaves, L = 4"
    figs.plt.close(fig)
    # xi: the collapse lengths, one rescaled curve per noise with a finite one, x = r / xi
    bp4 = cor[(cor["experiment"] == "main") & (cor["process"] == "epsilon")
              & (cor["model"] == "bp") & (cor["L"] == 4) & (cor["level"] == 4)]
    lengths = collapse_lengths(bp4, a=0.5, n_boot=0)
    finite = lengths[np.isfinite(lengths["xi"])]
    assert len(finite) >= 1
    fig = figs.collapse(cor, sus, "main", a=0.5, L=4)
    assert fig.axes[1].get_title().startswith("a = 0.5;")
    lines = fig.axes[1].get_lines()
    assert len(lines) == len(finite) + 1  # and exp(-r/xi)
    g = bp4[np.isclose(bp4["noise"], finite["noise"].iloc[0]) & (bp4["r"] >= 1) & (bp4["C"] > 0)]
    assert np.allclose(lines[0].get_xdata(), np.sort(g["r"]) / finite["xi"].iloc[0])
    assert np.allclose(lines[0].get_ydata(), g.sort_values("r").eval("C * r ** 0.5")
                       / finite["amplitude"].iloc[0])
    figs.plt.close(fig)
    # given lengths (e.g. with their bootstrap) are used as they are
    given = lengths.assign(L=4, xi=np.where(np.isfinite(lengths["xi"]), 2.0, np.nan))
    fig = figs.collapse(cor, sus, "main", a=0.5, L=4, lengths=given)
    assert np.allclose(fig.axes[1].get_lines()[0].get_xdata(), np.sort(g["r"]) / 2.0)
    figs.plt.close(fig)
    with pytest.raises(ValueError, match="not on the BP grid"):
        figs.collapse(cor, sus, "main", a=1.0, noises=[0.123])


def test_collapse_refuses_missing_rows(tables):
    cor, sus = tables
    with pytest.raises(ValueError, match="no process='masking'"):
        figs.collapse(cor, sus, "flat_mixture", process="masking")
    with pytest.raises(ValueError, match="no BP rows"):
        figs.collapse(cor[cor["model"] != "bp"], sus, "main")
    fig = figs.collapse(cor.assign(C=-1.0), sus, "main", a=1.0)
    assert "no noise with a finite xi" in fig.axes[0].texts[0].get_text().replace("\n", " ")
    figs.plt.close(fig)


# ----------------------------------------------------------------------------- (e)
@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_controls_one_row_per_experiment_in_order(tables):
    cor, sus = tables
    fig = figs.controls(sus, cor, eps_star={"main": EPS_STAR, "no_transition": None})
    axes = np.array(fig.axes).reshape(-1, 2)
    titles = [row[0].get_title() for row in axes]
    assert [t.split(":")[0] for t in titles] == ["RHM", "RHM", "Gaussian field", "flat mixture"]
    assert "main" in titles[0] and "no_transition" in titles[1]
    assert all(row[1].get_yscale() == "log" for row in axes)
    # the Gaussian field has no class: no half-point line; the flat mixture loses its class
    assert not [ln for ln in axes[2][0].get_lines() if ln.get_linestyle() == ":"]
    figs.plt.close(fig)


@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_controls_with_a_subset_and_refusals(tables):
    cor, sus = tables
    sub = sus["family"] != "rhm"
    fig = figs.controls(sus[sub], cor[cor["family"] != "rhm"])
    assert len(fig.axes) == 4
    figs.plt.close(fig)
    fig = figs.controls(sus, cor, experiments=["flat_mixture"], n_noises=5)
    assert len(fig.axes) == 2
    assert len(fig.axes[1].get_legend().get_texts()) == 5
    figs.plt.close(fig)
    with pytest.raises(ValueError, match=r"experiments \['nope'\]"):
        figs.controls(sus, cor, experiments=["nope"])
    with pytest.raises(ValueError, match="no BP rows"):
        figs.controls(sus[sus["model"] == "mean_field"], cor)
