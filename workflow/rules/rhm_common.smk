# RHM branch bookkeeping: config shortcuts, checks, seeds, wildcard constraints, input and
# target functions.


def check_rhm_config(rhm):
    """Constraints between keys, which JSON schema cannot express."""
    for name, exp in rhm["experiments"].items():
        key = f"rhm.experiments.{name}"
        v, m, s = exp["v"], exp["m"], exp["s"]
        if m > v ** (s - 1):
            raise config_error(
                f"{key}.m",
                f"m = {m} exceeds v^(s-1) = {v ** (s - 1)} (v = {v}, s = {s}): each level needs "
                f"v*m distinct s-tuples out of v^s. Lower m or raise v.",
            )
        n_classes = exp["n_classes"] or v
        if n_classes * m > v**s:
            raise config_error(
                f"{key}.n_classes",
                f"n_classes * m = {n_classes * m} exceeds v^s = {v ** s}: the root needs "
                f"n_classes*m distinct s-tuples. Lower n_classes or m.",
            )
        if exp["levels_L"] is not None and exp["levels_L"] not in exp["L"]:
            raise config_error(
                f"{key}.levels_L",
                f"levels_L = {exp['levels_L']} is not one of the depths L = {exp['L']}.",
            )


check_rhm_config(config["rhm"])

RHM = config["rhm"]
RHM_EXPERIMENTS = RHM["experiments"]
RHM_TIME_PROCESSES = ("gaussian", "masking", "uniform")
RHM_RULES = "results/rhm/rules/{experiment}/L{L}/rules{rule_seed}/rules.pt"
RHM_TREES = "results/rhm/data/{experiment}/L{L}/rules{rule_seed}/trees.pt"
RHM_SWEEP = "results/rhm/sweep/{experiment}/L{L}/rules{rule_seed}/{process}/shard{shard}.parquet"
RHM_KEPT = "results/rhm/aggregate/{experiment}/kept.parquet"
RHM_THEORY = "results/rhm/theory/{experiment}/L{L}.parquet"
RHM_THEORY_SUMMARY = "results/rhm/theory/{experiment}/summary.parquet"
RHM_FIGURES = "results/rhm/figures/{experiment}"


wildcard_constraints:
    experiment=wildcard_values("experiment", RHM_EXPERIMENTS),
    process=wildcard_values(
        "process", {p for e in RHM_EXPERIMENTS.values() for p in e["processes"]}
    ),
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


def rhm_theory_tables(wildcards):
    exp = rhm_exp(wildcards)
    return expand(RHM_THEORY, experiment=wildcards.experiment, L=exp["L"])


def rhm_mem_mb(wildcards):
    """Sweep memory: ~1 GB of libraries plus BP's messages and marginals (float64, all levels)."""
    exp = rhm_exp(wildcards)
    nodes = 2 * exp["s"] ** int(wildcards.L)
    return 1000 + int(4 * exp["batch_size"] * nodes * exp["v"] * 8 / 2**20)


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
    return targets
