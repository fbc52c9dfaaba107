# Learned branch bookkeeping: config shortcuts, wildcard constraints, the list of trained models,
# target lists.
from hierphase.learned.curves import snapshot_steps
from hierphase.learned.networks import NetworkConfig
from hierphase.learned.train import TrainConfig
from hierphase.noise import GaussianSchedule
from hierphase.rhm import validate_params

LEARNED = config["learned"]
LEARNED_EXPERIMENTS = LEARNED.get("experiments", {})
LEARNED_DIR = "results/learned"
LEARNED_RULES = f"{LEARNED_DIR}/rules/{{experiment}}/rules.pt"
# One trained model's folders: models/ (weights, loss) and eval/ (its generation and sweep tables)
LEARNED_RUN = "{experiment}/{process}/P{P}/seed{train_seed}"
LEARNED_MODEL = f"{LEARNED_DIR}/models/{LEARNED_RUN}"
LEARNED_EVAL = f"{LEARNED_DIR}/eval/{LEARNED_RUN}"
# Exact BP on the same states as the models, per (experiment, process)
LEARNED_BP_DIR = f"{LEARNED_DIR}/bp/{{experiment}}/{{process}}"
LEARNED_BP = f"{LEARNED_BP_DIR}/kept.parquet"
# Change correlations: per model in LEARNED_EVAL, exact BP in LEARNED_BP_DIR, pooled here
LEARNED_CORR = f"{LEARNED_DIR}/correlations"
LEARNED_CORR_TABLES = ("correlations", "susceptibility")
# Learning curves: weights kept at these training steps (the last one is the model itself), and
# one validity table per (model, step)
LEARNED_CURVE = LEARNED.get("learning_curve", {})
LEARNED_SNAPSHOT = f"{LEARNED_MODEL}/snapshots/step{{step}}.pt"
LEARNED_CURVE_POINT = f"{LEARNED_EVAL}/curve/step{{step}}.parquet"


def learned_mem_mb(exp):
    """Memory of a training or evaluation job, MB, and the key that drives it: ~1 GB of
    libraries, the training set (P trees of int64 symbols), the evaluation's float64 evidence
    (n x v x leaves, a few copies) and the network's float32 activations for one batch
    (width x expansion per node, forward and backward)."""
    leaves, nodes = exp["s"] ** exp["L"], 2 * exp["s"] ** exp["L"]
    net, ev, corr = LEARNED["network"], LEARNED["evaluation"], LEARNED["correlations"]
    per_datum = net["width"] * (2 + 2 * net["blocks"] * net["expansion"]) * nodes * 4
    runs = corr["n_x0"] * corr["n_traj"]  # noisy states of a correlation job
    parts = {
        "P": max(exp["P"]) * nodes * 8,
        "evaluation.n_sweep": 4 * ev["n_sweep"] * exp["v"] * leaves * 8,
        "evaluation.n_generated": 4 * ev["n_generated"] * exp["v"] * leaves * 8,
        "correlations.n_traj": 4 * runs * exp["v"] * leaves * 8,
        "training.batch_size": 3 * LEARNED["training"]["batch_size"] * per_datum,
        "sampling.batch_size": 3 * LEARNED["sampling"]["batch_size"] * per_datum,
    }
    return 1000 + sum(parts.values()) // 2**20, max(parts, key=parts.get)


def check_learned_config(learned):
    """Constraints between keys through the package's own validators (RHM parameters, schedule,
    optimisation, network), the device, memory; returns the jobs each experiment plans.
    """
    package_check("learned.schedule", lambda: GaussianSchedule(**learned["schedule"]))
    for process in {p for e in learned["experiments"].values() for p in e["processes"]}:
        package_check("learned.training", lambda: learned_training(process, learned))
    check_device("learned.device", learned["device"])
    jobs = {}
    for name, exp in learned["experiments"].items():
        key = f"learned.experiments.{name}"
        try:
            validate_params(exp["v"], exp["m"], exp["s"], exp["L"], exp["n_classes"])
        except ValueError as e:
            raise config_error(f"{key}.{rhm_param_named(e)}", str(e)) from None
        net = learned["network"]
        package_check(
            "learned.network",
            lambda: NetworkConfig(
                in_channels=exp["v"] + 1,
                vocab=exp["v"],
                s=exp["s"],
                L=exp["L"],
                width=net["width"],
                blocks=net["blocks"],
                expansion=net["expansion"],
                time_conditioning=net["time_conditioning"],
            ),
        )
        mem_mb, drive = learned_mem_mb(exp)
        check_mem_mb(
            f"{key}.P" if drive == "P" else f"learned.{drive}",
            mem_mb,
            f"a training or evaluation job of experiment {name}",
        )
        # per model: training, generation, sweep, correlations, a curve point per snapshot; per
        # process: rules, exact BP's sweep and correlations
        runs = len(exp["processes"]) * len(exp["P"]) * len(exp["seeds"])
        snapshots = learned_snapshot_steps(learned)
        jobs[f"{key}.P"] = (4 + len(snapshots)) * runs + 3 * len(exp["processes"])
    return jobs


def learned_training(process, learned=LEARNED):
    """TrainConfig of the models of ``process``: learned.training with that process's time_focus."""
    training = dict(learned["training"])
    training["time_focus"] = training.get("time_focus", {}).get(process, {})
    return TrainConfig(**training)


def learned_snapshot_steps(learned):
    """Training steps whose weights the learning curves evaluate (learned.learning_curve)."""
    curve = learned.get("learning_curve", {})
    return package_check(
        "learned.learning_curve",
        lambda: snapshot_steps(
            learned["training"]["steps"], curve["snapshots"], curve["first"]
        ),
    )


LEARNED_JOBS = check_learned_config(LEARNED)
LEARNED_SNAPSHOTS = learned_snapshot_steps(LEARNED)


wildcard_constraints:
    experiment=wildcard_values("experiment", LEARNED_EXPERIMENTS),
    process=wildcard_values(
        "process", {p for e in LEARNED_EXPERIMENTS.values() for p in e["processes"]}
    ),
    P=r"\d+",
    train_seed=r"\d+",
    step=r"\d+",


def learned_exp(wildcards):
    return LEARNED_EXPERIMENTS[wildcards.experiment]


def learned_seed(stage, wildcards):
    """Seed of one job (job_seed) from the wildcards its stage depends on: "rules" the experiment's
    rule draw; "data" the training set of (experiment, P, training seed), the same for every
    process; "train" and "generate" one model; "sweep" and "correlations" the test trees and
    noisy states of (experiment, process), shared by the learned models and exact BP."""
    wc = wildcards
    if stage == "rules":
        parts = (wc.experiment, learned_exp(wc)["rule_seed"])
    elif stage == "data":
        parts = (wc.experiment, int(wc.P), int(wc.train_seed))
    elif stage in ("sweep", "correlations"):
        parts = (wc.experiment, wc.process)
    else:
        parts = (wc.experiment, wc.process, int(wc.P), int(wc.train_seed))
    return job_seed("learned", stage, *parts)


def learned_sample_steps(wildcards):
    """Reverse steps of the sampler of the job's process (learned.sampling.steps)."""
    return LEARNED["sampling"]["steps"][wildcards.process]


def learned_runs():
    """Every trained model: (experiment, process, P, seed)."""
    return [
        (name, proc, P, seed)
        for name, exp in LEARNED_EXPERIMENTS.items()
        for proc in exp["processes"]
        for P in exp["P"]
        for seed in exp["seeds"]
    ]


def learned_run_files(kind):
    """One file per trained model: the train/generation/sweep output named ``kind``."""
    folder = LEARNED_MODEL if kind == "loss" else LEARNED_EVAL
    return [
        f"{folder}/{kind}.parquet".format(experiment=e, process=p, P=P, train_seed=s)
        for e, p, P, s in learned_runs()
    ]


def learned_snapshot_outputs():
    """The snapshot files of one training job (patterns): every snapshot step but the last, which
    is the model itself."""
    return [LEARNED_SNAPSHOT.replace("{step}", str(k)) for k in LEARNED_SNAPSHOTS[:-1]]


def learned_snapshot_weights(wildcards):
    """The weights a curve point evaluates: the snapshot of its step, or the model at the last."""
    wc = dict(wildcards.items())
    if int(wc["step"]) == LEARNED_SNAPSHOTS[-1]:
        return f"{LEARNED_MODEL}/model.pt".format(**wc)
    return LEARNED_SNAPSHOT.format(**wc)


def learned_rules_files():
    """The rules file of every experiment (figures that need the RHM itself, e.g. its size)."""
    return [LEARNED_RULES.format(experiment=name) for name in LEARNED_EXPERIMENTS]


def learned_curve_files():
    return [
        LEARNED_CURVE_POINT.format(experiment=e, process=p, P=P, train_seed=s, step=k)
        for e, p, P, s in learned_runs()
        for k in LEARNED_SNAPSHOTS
    ]


def learned_bp_files(name="kept"):
    """One file per (experiment, process) of exact BP: its kept table, or a correlation table."""
    return [
        f"{LEARNED_BP_DIR}/{name}.parquet".format(experiment=exp_name, process=proc)
        for exp_name, exp in LEARNED_EXPERIMENTS.items()
        for proc in exp["processes"]
    ]


def learned_corr_files(name):
    """Every model's and exact BP's correlation table ``name`` (correlations, susceptibility)."""
    return learned_bp_files(name) + learned_run_files(name)


def learned_targets():
    """Figures (kept overlay and chi per experiment and process, distance vs P, loss curves) and
    tables."""
    figs = [
        f"{LEARNED_DIR}/figures/{fig}_{name}_{proc}.{ext}"
        for fig in ("kept", "chi")
        for name, exp in LEARNED_EXPERIMENTS.items()
        for proc in exp["processes"]
        for ext in ("png", "pdf")
    ]
    figs += [
        f"{LEARNED_DIR}/figures/{f}.{ext}"
        for f in ("distance", "loss")
        for ext in ("png", "pdf")
    ]
    tables = [
        f"{LEARNED_DIR}/tables/{t}.csv"
        for t in ("kept", "evaluation", "validity", "distance", "loss")
    ]
    figs += [
        f"{LEARNED_DIR}/figures/{f}.{ext}"
        for f in ("validity_vs_P", "memorized_vs_P")
        for ext in ("png", "pdf")
    ]
    if LEARNED_SNAPSHOTS:
        tables += [
            f"{LEARNED_DIR}/tables/{t}.csv"
            for t in ("learning_curve", "sample_complexity")
        ]
        figs += [
            f"{LEARNED_DIR}/figures/{f}.{ext}"
            for f in ("learning_curve", "sample_complexity")
            for ext in ("png", "pdf")
        ]
    tables += [
        f"{LEARNED_CORR}/{t}.csv" for t in (*LEARNED_CORR_TABLES, "chi_distance")
    ]
    return figs + tables
