# Learned branch bookkeeping: config shortcuts, wildcard constraints, the list of trained models,
# target lists.

LEARNED = config["learned"]
LEARNED_EXPERIMENTS = LEARNED.get("experiments", {})
LEARNED_DIR = "results/learned"
LEARNED_RULES = f"{LEARNED_DIR}/rules/{{experiment}}/rules.pt"
# One trained model's folders: models/ (weights, loss) and eval/ (its generation and sweep tables)
LEARNED_RUN = "{experiment}/{process}/P{P}/seed{train_seed}"
LEARNED_MODEL = f"{LEARNED_DIR}/models/{LEARNED_RUN}"
LEARNED_EVAL = f"{LEARNED_DIR}/eval/{LEARNED_RUN}"
LEARNED_BP = f"{LEARNED_DIR}/bp/{{experiment}}/{{process}}/kept.parquet"


wildcard_constraints:
    experiment=wildcard_values("experiment", LEARNED_EXPERIMENTS),
    process=wildcard_values(
        "process", {p for e in LEARNED_EXPERIMENTS.values() for p in e["processes"]}
    ),
    P=r"\d+",
    train_seed=r"\d+",


def learned_exp(wildcards):
    return LEARNED_EXPERIMENTS[wildcards.experiment]


def learned_seed(stage, wildcards):
    """Seed of one job (job_seed) from the wildcards its stage depends on: "rules" the experiment's
    rule draw; "data" the training set of (experiment, P, training seed), the same for every
    process; "train" and "generate" one model; "sweep" the test trees and noisy states of
    (experiment, process), shared by the learned models and exact BP."""
    wc = wildcards
    if stage == "rules":
        parts = (wc.experiment, learned_exp(wc)["rule_seed"])
    elif stage == "data":
        parts = (wc.experiment, int(wc.P), int(wc.train_seed))
    elif stage == "sweep":
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


def learned_bp_files():
    return [
        LEARNED_BP.format(experiment=name, process=proc)
        for name, exp in LEARNED_EXPERIMENTS.items()
        for proc in exp["processes"]
    ]


def learned_targets():
    """Figures (kept overlay per experiment and process, distance vs P, loss curves) and tables."""
    figs = [
        f"{LEARNED_DIR}/figures/kept_{name}_{proc}.{ext}"
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
        for t in ("kept", "evaluation", "distance", "loss")
    ]
    return figs + tables
