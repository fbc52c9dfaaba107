# RHM branch bookkeeping: config shortcuts, checks, seeds, wildcard constraints, input and
# target functions.
from hierphase.finite_size import check_plan as check_scaling_plan
from hierphase.noise import TIME_PROCESSES, GaussianSchedule
from hierphase.rhm import validate_params
from hierphase.theory import critical_noise, nu


def rhm_sweep_mb_per_datum(exp, L):
    """Sweep memory per datum of a batch (MiB): the noise and its log-evidence (three float64
    (d, v) arrays at most, Gaussian) and BP's per-node outputs (16 bytes per node)."""
    d = exp["s"] ** L
    return (3 * d * exp["v"] * 8 + 2 * d * 16) / 2**20


def rhm_sweep_mem_mb(exp, L):
    """Sweep memory: ~1 GB of libraries plus a batch (rhm_sweep_mb_per_datum)."""
    return 1000 + int(exp["batch_size"] * rhm_sweep_mb_per_datum(exp, L))


def check_rhm_config(rhm):
    """Constraints between keys, which JSON schema cannot express (the package's own
    ``validate_params`` for every depth, the depth shown level by level), the sweep memory;
    returns the jobs each experiment plans."""
    package_check("rhm.schedule", lambda: GaussianSchedule(**rhm["schedule"]))
    jobs = {}
    for name, exp in rhm["experiments"].items():
        key = f"rhm.experiments.{name}"
        # absent or switched off: none
        corr = exp.get("correlations")
        if corr is not None and not corr["enabled"]:
            corr = None
        elif corr is not None:
            for required in ("L", "processes"):
                if required not in corr:
                    raise config_error(
                        f"{key}.correlations.{required}",
                        "is required when correlations are enabled.",
                    )
        exp["correlations"] = corr
        for L in exp["L"]:
            try:
                validate_params(exp["v"], exp["m"], exp["s"], L, exp["n_classes"])
            except ValueError as e:
                raise config_error(f"{key}.{rhm_param_named(e)}", str(e)) from None
        if exp["levels_L"] is not None and exp["levels_L"] not in exp["L"]:
            raise config_error(
                f"{key}.levels_L",
                f"levels_L = {exp['levels_L']} is not one of the depths L = {exp['L']}.",
            )
        L = max(exp["L"])
        needs = rhm_sweep_mem_mb(exp, L)
        if needs > config["max_mem_mb"]:
            # linear in batch_size: name it when some batch fits at this depth, else the depth
            fits = int((config["max_mem_mb"] - 1000) // rhm_sweep_mb_per_datum(exp, L))
            check_mem_mb(
                f"{key}.batch_size" if fits >= 1 else f"{key}.L",
                needs,
                f"a sweep job at L = {L} (v = {exp['v']}, s = {exp['s']}, batch_size = "
                f"{exp['batch_size']}; at this depth batch_size <= {fits} fits)",
            )
        check_mem_mb(
            f"{key}.n_samples",
            1000 + exp["n_samples"] * 2 * exp["s"] ** L * 8 // 2**20,
            f"the clean data at L = {L} (n_samples trees of int64 symbols)",
        )
        blocks = sum(len(grid) for grid in exp["processes"].values())
        jobs[f"{key}.processes"] = len(exp["L"]) * len(exp["rule_seeds"]) * (blocks + 2)
        if exp["correlations"] is not None:
            jobs[f"{key}.correlations.processes"] = check_rhm_correlations(
                f"{key}.correlations", exp
            )
    controls = {
        name: block
        for name, block in rhm["controls"].items()
        if block is not None and block["enabled"]
    }
    for name, block in controls.items():
        blocks = sum(len(grid) for grid in block["processes"].values())
        jobs[f"rhm.controls.{name}.processes"] = blocks
    rhm["controls"] = controls
    fss = rhm["finite_size_scaling"]
    package_check(
        "rhm.finite_size_scaling",
        lambda: check_scaling_plan(
            {n: (e["L"], list(e["processes"])) for n, e in rhm["experiments"].items()},
            fss["experiments"],
            fss["processes"],
            fss["L_min"],
            fss["L_max"],
        ),
    )
    if fss["experiments"]:
        jobs["rhm.finite_size_scaling.experiments"] = 3 * len(fss["experiments"])
    return jobs


def rhm_corr_mem_mb(exp, L):
    """Correlation sweep memory: ~1 GB of libraries, the evidence of one BP call (the n_traj runs
    of one datum, float64, with its temporaries) and the sampled trees."""
    runs = exp["correlations"]["n_traj"]
    return 1000 + int(runs * exp["s"] ** L * (3 * exp["v"] + 4) * 8 / 2**20)


def check_rhm_correlations(key, exp):
    """The correlation block of one experiment: depths among the experiment's, data enough,
    memory; returns the jobs it plans."""
    corr = exp["correlations"]
    missing = sorted(set(corr["L"]) - set(exp["L"]))
    if missing:
        raise config_error(
            f"{key}.L",
            f"depths {missing} are not among the experiment's L = {exp['L']}: the correlations "
            "use its rules and data.",
        )
    if corr["rule_seeds"] is None:
        corr["rule_seeds"] = list(exp["rule_seeds"])
    missing = sorted(set(corr["rule_seeds"]) - set(exp["rule_seeds"]))
    if missing:
        raise config_error(
            f"{key}.rule_seeds",
            f"rule draws {missing} are not among the experiment's rule_seeds = "
            f"{exp['rule_seeds']}.",
        )
    if corr["n_x0"] > exp["n_samples"]:
        raise config_error(
            f"{key}.n_x0",
            f"n_x0 = {corr['n_x0']} exceeds the experiment's n_samples = {exp['n_samples']}.",
        )
    check_mem_mb(
        f"{key}.n_traj",
        rhm_corr_mem_mb(exp, max(corr["L"])),
        f"a correlation sweep job at L = {max(corr['L'])} (n_traj = {corr['n_traj']})",
    )
    blocks = sum(len(grid) for grid in corr["processes"].values())
    return len(corr["L"]) * len(corr["rule_seeds"]) * blocks + len(corr["L"])


RHM_JOBS = check_rhm_config(config["rhm"])

RHM = config["rhm"]
RHM_EXPERIMENTS = RHM["experiments"]
RHM_TIME_PROCESSES = TIME_PROCESSES
RHM_RULES = "results/rhm/rules/{experiment}/L{L}/rules{rule_seed}/rules.pt"
RHM_TREES = "results/rhm/data/{experiment}/L{L}/rules{rule_seed}/trees.pt"
RHM_SWEEP = "results/rhm/sweep/{experiment}/L{L}/rules{rule_seed}/{process}/shard{shard}.parquet"
RHM_KEPT = "results/rhm/aggregate/{experiment}/kept.parquet"
RHM_THEORY = "results/rhm/theory/{experiment}/L{L}.parquet"
RHM_THEORY_SUMMARY = "results/rhm/theory/{experiment}/summary.parquet"
RHM_FIGURES = "results/rhm/figures/{experiment}"
RHM_CORR_EXPERIMENTS = {
    name: exp
    for name, exp in RHM_EXPERIMENTS.items()
    if exp["correlations"] is not None
}
RHM_CORR_SHARD = "results/rhm/correlations/sweep/{experiment}/L{L}/rules{rule_seed}/{process}/shard{shard}"
RHM_CORR_THEORY = "results/rhm/correlations/theory/{experiment}/L{L}"
RHM_CORR = "results/rhm/correlations"
RHM_CORR_FIGURES = "results/rhm/figures/correlations"
RHM_CONTROLS = RHM["controls"]
RHM_CONTROL_SHARD = "results/rhm/correlations/controls/{control}/{process}/shard{shard}"
RHM_SCALING_SPEC = RHM["finite_size_scaling"]
RHM_SCALING = "results/rhm/scaling/{experiment}"
#: Mean-field (eps*, nu) of every experiment with correlations; None where there is no transition.
RHM_CORR_CRITICAL = {
    name: (critical_noise(e["v"], e["m"], e["s"]), nu(e["v"], e["m"], e["s"]))
    for name, e in RHM_CORR_EXPERIMENTS.items()
}


wildcard_constraints:
    experiment=wildcard_values("experiment", RHM_EXPERIMENTS),
    process=wildcard_values(
        "process",
        {p for e in RHM_EXPERIMENTS.values() for p in e["processes"]}
        | {
            p
            for e in RHM_CORR_EXPERIMENTS.values()
            for p in e["correlations"]["processes"]
        }
        | {p for c in RHM_CONTROLS.values() for p in c["processes"]},
    ),
    control=alternatives(["gaussian_field", "flat_mixture"]),
    time_process=alternatives(RHM_TIME_PROCESSES),
    L=r"\d+",
    rule_seed=r"\d+",
    shard=r"\d+",


def rhm_block_values(block):
    """The noise values of one grid block (one shard), rounded to 6 decimals, sorted, unique."""
    if "values" in block:
        values = block["values"]
    elif block["num"] == 1:
        values = [block["start"]]
    else:
        step = (block["stop"] - block["start"]) / (block["num"] - 1)
        values = [block["start"] + i * step for i in range(block["num"])]
    return sorted({round(float(x), 6) for x in values})


def rhm_exp(wildcards):
    return RHM_EXPERIMENTS[wildcards.experiment]


def rhm_n_classes(exp):
    return exp["n_classes"] or exp["v"]


def rhm_levels_L(exp):
    return exp["levels_L"] or max(exp["L"])


def rhm_seed(stage, wildcards, *extra):
    """Seed of one job: the config's root seed, the stage and the job's wildcards, nothing else."""
    return job_seed(
        "rhm",
        stage,
        wildcards.experiment,
        int(wildcards.L),
        int(wildcards.rule_seed),
        *extra,
    )


def rhm_sweep_shards(wildcards):
    """Every shard of one experiment: L x rule seed x process x grid block."""
    exp = rhm_exp(wildcards)
    return [
        RHM_SWEEP.format(
            experiment=wildcards.experiment, L=L, rule_seed=r, process=process, shard=k
        )
        for L in exp["L"]
        for r in exp["rule_seeds"]
        for process, blocks in exp["processes"].items()
        for k in range(len(blocks))
    ]


def rhm_corr(wildcards):
    return rhm_exp(wildcards)["correlations"]


def rhm_corr_inputs(table):
    """Input function: the ``table`` (correlations or susceptibility) of every correlation shard
    of every experiment, and the mean-field one of every (experiment, L) with an epsilon grid.
    """

    def inputs(wildcards):
        paths = []
        for name, exp in RHM_CORR_EXPERIMENTS.items():
            corr = exp["correlations"]
            paths += [
                f"{RHM_CORR_SHARD}/{table}.parquet".format(
                    experiment=name, L=L, rule_seed=r, process=process, shard=k
                )
                for L in corr["L"]
                for r in corr["rule_seeds"]
                for process, blocks in corr["processes"].items()
                for k in range(len(blocks))
            ]
            if "epsilon" in corr["processes"]:
                paths += [
                    f"{RHM_CORR_THEORY}/{table}.parquet".format(experiment=name, L=L)
                    for L in corr["L"]
                ]
        for control, block in RHM_CONTROLS.items():
            paths += [
                f"{RHM_CONTROL_SHARD}/{table}.parquet".format(
                    control=control, process=process, shard=k
                )
                for process, blocks in block["processes"].items()
                for k in range(len(blocks))
            ]
        return paths

    return inputs


def rhm_theory_tables(wildcards):
    exp = rhm_exp(wildcards)
    return expand(RHM_THEORY, experiment=wildcards.experiment, L=exp["L"])


def rhm_mem_mb(wildcards):
    return rhm_sweep_mem_mb(rhm_exp(wildcards), int(wildcards.L))


def rhm_targets():
    """Per experiment: the figures its processes allow, the kept table and the theory summary."""
    targets = []
    for name, exp in RHM_EXPERIMENTS.items():
        base = RHM_FIGURES.format(experiment=name)
        figures = ["cobweb"]
        if "epsilon" in exp["processes"]:
            figures += ["class_vs_eps", "levels_vs_eps"]
        figures += [f"time_{p}" for p in RHM_TIME_PROCESSES if p in exp["processes"]]
        targets += [f"{base}/{f}.{ext}" for f in figures for ext in ("png", "pdf")]
        targets += [
            RHM_KEPT.format(experiment=name),
            RHM_THEORY_SUMMARY.format(experiment=name),
        ]
    targets += rhm_scaling_targets()
    if RHM_CORR_EXPERIMENTS or RHM_CONTROLS:
        targets += [
            f"{RHM_CORR}/{t}.parquet"
            for t in ("correlations", "susceptibility", "exponents", "lengths")
        ]
        targets += [
            f"{RHM_CORR_FIGURES}/{f}.{ext}"
            for f in rhm_corr_figures()
            for ext in ("png", "pdf")
        ]
    return targets + rhm_phase_targets()


def rhm_corr_figures():
    """The correlation figures the config allows: per experiment C(r) per process and chi; xi
    against |eps - eps*| and the collapse where the epsilon-process meets a transition; the
    controls beside the RHM."""
    figures = ["controls"]
    for name, exp in RHM_CORR_EXPERIMENTS.items():
        processes = exp["correlations"]["processes"]
        figures += [f"{name}/c_of_r_{p}" for p in processes] + [f"{name}/chi"]
        if "epsilon" in processes and RHM_CORR_CRITICAL[name][0] is not None:
            figures += [f"{name}/xi_scaling", f"{name}/collapse"]
    return figures


# ----------------------------------------------------------------------------- phase diagram
def check_rhm_phase_diagram(rhm):
    """The phase-diagram block (absent or switched off: none): every (v, m, s) of every grid legal
    at every depth (the package's ``validate_params``, the key named with its grid's index), a
    point listed twice only with the same depths, eps values enough, memory; returns its points
    {(s, v, m): depths} and the jobs it plans, or (None, {})."""
    block = rhm.get("phase_diagram")
    if block is None or not block["enabled"]:
        return None, {}
    key = "rhm.phase_diagram"
    if "grids" not in block:
        raise config_error(
            f"{key}.grids", "is required when the phase diagram is enabled."
        )
    points = {}
    for i, grid in enumerate(block["grids"]):
        gkey = f"{key}.grids.{i}"
        ms = grid["m"]
        for v in grid["v"]:
            for m in range(1, v ** (grid["s"] - 1) + 1) if ms == "all" else ms:
                for L in grid["L"]:
                    try:
                        validate_params(v, m, grid["s"], L, block["n_classes"])
                    except ValueError as e:
                        name = rhm_param_named(e)
                        where = f"{key if name == 'n_classes' else gkey}.{name}"
                        raise config_error(where, f"at v = {v}, m = {m}: {e}") from None
                point = (grid["s"], v, m)
                depths = sorted(grid["L"])
                if points.setdefault(point, depths) != depths:
                    raise config_error(
                        f"{gkey}.L",
                        f"the point s = {point[0]}, v = {v}, m = {m} is in another grid with "
                        f"depths {points[point]}; one point has one set of depths.",
                    )
    if len(rhm_block_values_all(block["eps"])) < 3:
        raise config_error(
            f"{key}.eps",
            "needs at least 3 distinct noise values (a class curve and its half point).",
        )
    widest = max(points, key=lambda p: p[1] * p[0] ** max(points[p]))
    s, v, _ = widest
    L = max(points[widest])
    shape = {"s": s, "v": v, "batch_size": block["batch_size"]}
    check_mem_mb(
        f"{key}.batch_size",
        rhm_sweep_mem_mb(shape, L),
        f"a phase-diagram sweep at s = {s}, v = {v}, L = {L} (batch_size = {block['batch_size']})",
    )
    check_mem_mb(
        f"{key}.n_samples",
        1000 + block["n_samples"] * 2 * s**L * 8 // 2**20,
        f"the clean data at s = {s}, L = {L} (n_samples trees of int64 symbols)",
    )
    return points, {f"{key}.grids": len(points) * len(block["rule_seeds"]) + 4}


def rhm_block_values_all(blocks):
    """The noise values of a list of grid blocks together, sorted, unique."""
    return sorted({x for block in blocks for x in rhm_block_values(block)})


RHM_PHASE_POINTS, _phase_jobs = check_rhm_phase_diagram(RHM)
RHM_JOBS.update(_phase_jobs)
RHM_PHASE = RHM.get("phase_diagram")
RHM_PHASE_DIR = "results/rhm/phase_diagram"
RHM_PHASE_SWEEP = (
    f"{RHM_PHASE_DIR}/sweep/s{{s}}/v{{v}}/m{{m}}/rules{{rule_seed}}.parquet"
)
RHM_PHASE_KEPT = f"{RHM_PHASE_DIR}/kept.parquet"
RHM_PHASE_TABLE = f"{RHM_PHASE_DIR}/phase_diagram.parquet"
RHM_PHASE_FIGURES = "results/rhm/figures/phase_diagram"


wildcard_constraints:
    s=r"\d+",
    v=r"\d+",
    m=r"\d+",


def rhm_phase_point(wildcards):
    """(s, v, m) of a phase-diagram job."""
    return int(wildcards.s), int(wildcards.v), int(wildcards.m)


def rhm_phase_mem_mb(wildcards):
    """A phase-diagram sweep's memory: that of a kept sweep at the point's deepest tree."""
    s, v, m = rhm_phase_point(wildcards)
    shape = {"s": s, "v": v, "batch_size": RHM_PHASE["batch_size"]}
    return rhm_sweep_mem_mb(shape, max(RHM_PHASE_POINTS[(s, v, m)]))


def rhm_phase_sweeps(wildcards):
    """Every phase-diagram sweep: point x rule draw."""
    return [
        RHM_PHASE_SWEEP.format(s=s, v=v, m=m, rule_seed=r)
        for (s, v, m) in RHM_PHASE_POINTS
        for r in RHM_PHASE["rule_seeds"]
    ]


def rhm_phase_targets():
    """The phase-diagram table and its figures, when it is enabled."""
    if RHM_PHASE_POINTS is None:
        return []
    return [RHM_PHASE_TABLE, RHM_PHASE_KEPT] + [
        f"{RHM_PHASE_FIGURES}/{f}.{ext}"
        for f in ("plane", "eps_star")
        for ext in ("png", "pdf")
    ]


def rhm_scaling_targets():
    """Finite-size scaling of every experiment it names: the scaling table, its per-depth points
    and the two figures."""
    targets = []
    for name in RHM_SCALING_SPEC["experiments"]:
        base = RHM_SCALING.format(experiment=name)
        figures = RHM_FIGURES.format(experiment=name)
        targets += [
            f"{base}/{t}.{ext}"
            for t in ("scaling", "points")
            for ext in ("parquet", "csv")
        ]
        targets += [
            f"{figures}/scaling_{f}.{ext}"
            for f in ("collapse", "extrapolation")
            for ext in ("png", "pdf")
        ]
    return targets
