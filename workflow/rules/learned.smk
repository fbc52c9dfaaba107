# Learned branch: trained denoisers on RHM data, swept forward-backward like exact BP.
# rules -> per (experiment, process, P, seed): train -> generate (grammaticality, memorisation)
# and sweep (kept table) ; per (experiment, process): exact-BP sweep on the same noisy states ->
# tables -> figures. Wildcards are prefixed (lexp, lproc) so they never collide with the RHM ones.
from hierphase.seeding import derive_seed

LEARNED = config["learned"]
LEARNED_EXPERIMENTS = LEARNED.get("experiments", {})
LEARNED_DIR = "results/learned"


def _learned_alternatives(names):
    return "|".join(sorted(names)) if names else "(?!)"


wildcard_constraints:
    lexp=_learned_alternatives(LEARNED_EXPERIMENTS),
    lproc="gaussian|masking|uniform",
    P=r"\d+",
    tseed=r"\d+",


def learned_exp(wildcards):
    return LEARNED_EXPERIMENTS[wildcards.lexp]


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
    stage = {"loss": "models", "generation": "eval", "kept": "eval"}[kind]
    return [
        f"{LEARNED_DIR}/{stage}/{e}/{p}/P{P}/seed{s}/{kind}.parquet"
        for e, p, P, s in learned_runs()
    ]


def learned_bp_files():
    return [
        f"{LEARNED_DIR}/bp/{name}/{proc}/kept.parquet"
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
    figs += [f"{LEARNED_DIR}/figures/{f}.{ext}" for f in ("distance", "loss") for ext in ("png", "pdf")]
    tables = [f"{LEARNED_DIR}/tables/{t}.csv" for t in ("kept", "evaluation", "distance", "loss")]
    return figs + tables


rule learned_rules:
    output:
        rules=f"{LEARNED_DIR}/rules/{{lexp}}/rules.pt",
    log:
        "logs/learned/rules/{lexp}.log",
    conda:
        "../../envs/learned.yaml"
    params:
        v=lambda wc: learned_exp(wc)["v"],
        m=lambda wc: learned_exp(wc)["m"],
        s=lambda wc: learned_exp(wc)["s"],
        L=lambda wc: learned_exp(wc)["L"],
        n_classes=lambda wc: learned_exp(wc)["n_classes"] or learned_exp(wc)["v"],
        seed=lambda wc: derive_seed(config["seed"], "learned-rules", wc.lexp, learned_exp(wc)["rule_seed"]),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/learned_rules.py"


rule learned_train:
    input:
        rules=rules.learned_rules.output.rules,
    output:
        model=f"{LEARNED_DIR}/models/{{lexp}}/{{lproc}}/P{{P}}/seed{{tseed}}/model.pt",
        loss=f"{LEARNED_DIR}/models/{{lexp}}/{{lproc}}/P{{P}}/seed{{tseed}}/loss.parquet",
        loss_csv=f"{LEARNED_DIR}/models/{{lexp}}/{{lproc}}/P{{P}}/seed{{tseed}}/loss.csv",
    log:
        "logs/learned/train/{lexp}/{lproc}/P{P}/seed{tseed}.log",
    benchmark:
        "logs/benchmarks/learned/train/{lexp}/{lproc}/P{P}/seed{tseed}.tsv"
    conda:
        "../../envs/learned.yaml"
    params:
        cfg={k: LEARNED[k] for k in ("device", "schedule", "network", "training", "sampling")},
        root_seed=config["seed"],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=LEARNED["resources"]["train_runtime"],
        gpu=LEARNED["resources"]["gpus"],
    script:
        "../scripts/learned_train.py"


rule learned_generation:
    input:
        rules=rules.learned_rules.output.rules,
        model=rules.learned_train.output.model,
    output:
        table=f"{LEARNED_DIR}/eval/{{lexp}}/{{lproc}}/P{{P}}/seed{{tseed}}/generation.parquet",
    log:
        "logs/learned/generation/{lexp}/{lproc}/P{P}/seed{tseed}.log",
    conda:
        "../../envs/learned.yaml"
    params:
        evaluation=LEARNED["evaluation"],
        batch_size=LEARNED["sampling"]["batch_size"],
        device=LEARNED["device"],
        root_seed=config["seed"],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=LEARNED["resources"]["gpus"],
    script:
        "../scripts/learned_generation.py"


rule learned_sweep:
    input:
        rules=rules.learned_rules.output.rules,
        model=rules.learned_train.output.model,
    output:
        table=f"{LEARNED_DIR}/eval/{{lexp}}/{{lproc}}/P{{P}}/seed{{tseed}}/kept.parquet",
    log:
        "logs/learned/sweep/{lexp}/{lproc}/P{P}/seed{tseed}.log",
    conda:
        "../../envs/learned.yaml"
    params:
        grid=lambda wc: LEARNED["evaluation"]["grid"][wc.lproc],
        n=LEARNED["evaluation"]["n_sweep"],
        batch_size=LEARNED["sampling"]["batch_size"],
        device=LEARNED["device"],
        rule_seed=lambda wc: learned_exp(wc)["rule_seed"],
        root_seed=config["seed"],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=LEARNED["resources"]["gpus"],
    script:
        "../scripts/learned_sweep.py"


rule learned_bp_reference:
    input:
        rules=rules.learned_rules.output.rules,
    output:
        table=f"{LEARNED_DIR}/bp/{{lexp}}/{{lproc}}/kept.parquet",
    log:
        "logs/learned/bp/{lexp}/{lproc}.log",
    conda:
        "../../envs/learned.yaml"
    params:
        cfg={k: LEARNED[k] for k in ("schedule", "sampling")},
        grid=lambda wc: LEARNED["evaluation"]["grid"][wc.lproc],
        n=LEARNED["evaluation"]["n_sweep"],
        rule_seed=lambda wc: learned_exp(wc)["rule_seed"],
        root_seed=config["seed"],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/learned_bp_reference.py"


rule learned_tables:
    input:
        kept=learned_run_files("kept"),
        bp=learned_bp_files(),
        generation=learned_run_files("generation"),
        loss=learned_run_files("loss"),
    output:
        kept=f"{LEARNED_DIR}/tables/kept.parquet",
        kept_csv=f"{LEARNED_DIR}/tables/kept.csv",
        evaluation=f"{LEARNED_DIR}/tables/evaluation.parquet",
        evaluation_csv=report(
            f"{LEARNED_DIR}/tables/evaluation.csv",
            caption="../report/learned/evaluation.rst",
            category="RHM, learned denoisers",
        ),
        distance=f"{LEARNED_DIR}/tables/distance.parquet",
        distance_csv=f"{LEARNED_DIR}/tables/distance.csv",
        loss=f"{LEARNED_DIR}/tables/loss.parquet",
        loss_csv=f"{LEARNED_DIR}/tables/loss.csv",
    log:
        "logs/learned/tables.log",
    conda:
        "../../envs/learned.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/learned_tables.py"


rule learned_fig_kept:
    input:
        kept=rules.learned_tables.output.kept,
    output:
        png=report(
            f"{LEARNED_DIR}/figures/kept_{{lexp}}_{{lproc}}.png",
            caption="../report/learned/kept.rst",
            category="RHM, learned denoisers",
            subcategory="{lexp}",
        ),
        pdf=f"{LEARNED_DIR}/figures/kept_{{lexp}}_{{lproc}}.pdf",
    log:
        "logs/learned/figures/kept_{lexp}_{lproc}.log",
    conda:
        "../../envs/learned.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/learned_fig_kept.py"


rule learned_fig_distance:
    input:
        distance=rules.learned_tables.output.distance,
    output:
        png=report(
            f"{LEARNED_DIR}/figures/distance.png",
            caption="../report/learned/distance.rst",
            category="RHM, learned denoisers",
        ),
        pdf=f"{LEARNED_DIR}/figures/distance.pdf",
    log:
        "logs/learned/figures/distance.log",
    conda:
        "../../envs/learned.yaml"
    params:
        tolerance=LEARNED["evaluation"]["tolerance"],
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/learned_fig_distance.py"


rule learned_fig_loss:
    input:
        loss=rules.learned_tables.output.loss,
    output:
        png=report(
            f"{LEARNED_DIR}/figures/loss.png",
            caption="../report/learned/loss.rst",
            category="RHM, learned denoisers",
        ),
        pdf=f"{LEARNED_DIR}/figures/loss.pdf",
    log:
        "logs/learned/figures/loss.log",
    conda:
        "../../envs/learned.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/learned_fig_loss.py"
