# Learned branch: trained denoisers on RHM data, swept forward-backward like exact BP.
# rules -> per (experiment, process, P, seed): train -> generate (grammaticality, memorisation),
# sweep (kept table) and change correlations; per (experiment, process): exact BP's sweep and
# change correlations on the same noisy states -> tables -> figures.


LEARNED = PLAN["learned"]


rule learned:
    """Target: only the learned branch (`snakemake learned`)."""
    input:
        LEARNED.targets(),
    localrule: True


# On a cluster only training, generation and the sweeps (learned and BP) get jobs of their own.
localrules:
    learned_rules,
    learned_tables,
    learned_curves,
    learned_corr_aggregate,


rule learned_rules:
    output:
        rules=LEARNED.RULES,
        meta=sidecar(LEARNED.RULES),
    log:
        "logs/learned/rules/{experiment}.log",
    conda:
        "../../envs/learned.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        v=LEARNED.param("v"),
        m=LEARNED.param("m"),
        s=LEARNED.param("s"),
        L=LEARNED.param("L"),
        n_classes=LEARNED.n_classes,
        seed=LEARNED.job_seed("rules"),
    script:
        "../scripts/learned_rules.py"


rule learned_train:
    input:
        rules=rules.learned_rules.output.rules,
    output:
        model=f"{LEARNED.MODEL}/model.pt",
        loss=f"{LEARNED.MODEL}/loss.parquet",
        loss_csv=f"{LEARNED.MODEL}/loss.csv",
        meta=sidecar(f"{LEARNED.MODEL}/loss.parquet"),
        snapshots=LEARNED.snapshot_outputs(),
    log:
        "logs/learned/train/{experiment}/{process}/P{P}/seed{train_seed}.log",
    benchmark:
        "logs/benchmarks/learned/train/{experiment}/{process}/P{P}/seed{train_seed}.tsv"
    conda:
        "../../envs/learned.yaml"
    threads: 1
    resources:
        **gpu_resources(workflow, LEARNED.config["resources"]["gpus"]),
        mem_mb=per_attempt(LEARNED.train_mem_mb),
        runtime=per_attempt(LEARNED.config["resources"]["train_runtime"]),
    params:
        schedule=LEARNED.config["schedule"],
        network=LEARNED.config["network"],
        training=LEARNED.training_dict,
        snapshot_steps=LEARNED.snapshots[:-1],
        data_seed=LEARNED.job_seed("data"),
        seed=LEARNED.job_seed("train"),
    script:
        "../scripts/learned_train.py"


rule learned_generation:
    input:
        rules=rules.learned_rules.output.rules,
        model=rules.learned_train.output.model,
    output:
        table=f"{LEARNED.EVAL}/generation.parquet",
        meta=sidecar(f"{LEARNED.EVAL}/generation.parquet"),
        validity=f"{LEARNED.EVAL}/validity.parquet",
        validity_meta=sidecar(f"{LEARNED.EVAL}/validity.parquet"),
    log:
        "logs/learned/generation/{experiment}/{process}/P{P}/seed{train_seed}.log",
    benchmark:
        "logs/benchmarks/learned/generation/{experiment}/{process}/P{P}/seed{train_seed}.tsv"
    conda:
        "../../envs/learned.yaml"
    threads: 1
    resources:
        **gpu_resources(workflow, LEARNED.config["resources"]["gpus"]),
        mem_mb=per_attempt(LEARNED.generation_mem_mb),
        runtime=per_attempt(60),
    params:
        n=LEARNED.config["evaluation"]["n_generated"],
        sample_steps=LEARNED.sample_steps,
        batch_size=LEARNED.config["sampling"]["batch_size"],
        data_seed=LEARNED.job_seed("data"),
        seed=LEARNED.job_seed("generate"),
    script:
        "../scripts/learned_generation.py"


rule learned_curve_point:
    input:
        rules=rules.learned_rules.output.rules,
        weights=LEARNED.snapshot_weights,
    output:
        table=LEARNED.CURVE_POINT,
        meta=sidecar(LEARNED.CURVE_POINT),
    log:
        "logs/learned/curve/{experiment}/{process}/P{P}/seed{train_seed}/step{step}.log",
    benchmark:
        "logs/benchmarks/learned/curve/{experiment}/{process}/P{P}/seed{train_seed}/step{step}.tsv"
    conda:
        "../../envs/learned.yaml"
    threads: 1
    resources:
        **gpu_resources(workflow, LEARNED.config["resources"]["gpus"]),
        mem_mb=per_attempt(LEARNED.curve_mem_mb),
        runtime=per_attempt(60),
    params:
        n=LEARNED.curve.get("n_generated"),
        sample_steps=LEARNED.sample_steps,
        batch_size=LEARNED.config["sampling"]["batch_size"],
        data_seed=LEARNED.job_seed("data"),
        # the final model's seed at every step: the curve's points differ by the weights only
        seed=LEARNED.job_seed("generate"),
    script:
        "../scripts/learned_curve_point.py"


rule learned_sweep:
    input:
        rules=rules.learned_rules.output.rules,
        model=rules.learned_train.output.model,
    output:
        table=f"{LEARNED.EVAL}/kept.parquet",
        meta=sidecar(f"{LEARNED.EVAL}/kept.parquet"),
    log:
        "logs/learned/sweep/{experiment}/{process}/P{P}/seed{train_seed}.log",
    benchmark:
        "logs/benchmarks/learned/sweep/{experiment}/{process}/P{P}/seed{train_seed}.tsv"
    conda:
        "../../envs/learned.yaml"
    threads: 1
    resources:
        **gpu_resources(workflow, LEARNED.config["resources"]["gpus"]),
        mem_mb=per_attempt(LEARNED.sweep_mem_mb),
        runtime=per_attempt(60),
    params:
        grid=LEARNED.grid("evaluation"),
        n=LEARNED.config["evaluation"]["n_sweep"],
        sample_steps=LEARNED.sample_steps,
        batch_size=LEARNED.config["sampling"]["batch_size"],
        rule_seed=LEARNED.param("rule_seed"),
        seed=LEARNED.job_seed("sweep"),
    script:
        "../scripts/learned_sweep.py"


rule learned_bp_reference:
    input:
        rules=rules.learned_rules.output.rules,
    output:
        table=LEARNED.BP,
        meta=sidecar(LEARNED.BP),
    log:
        "logs/learned/bp/{experiment}/{process}.log",
    benchmark:
        "logs/benchmarks/learned/bp/{experiment}/{process}.tsv"
    conda:
        "../../envs/learned.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(LEARNED.reference_mem_mb),
        runtime=per_attempt(30),
    params:
        schedule=LEARNED.config["schedule"],
        grid=LEARNED.grid("evaluation"),
        n=LEARNED.config["evaluation"]["n_sweep"],
        rule_seed=LEARNED.param("rule_seed"),
        seed=LEARNED.job_seed("sweep"),
    script:
        "../scripts/learned_bp_reference.py"


rule learned_tables:
    input:
        kept=LEARNED.run_files("kept"),
        bp=LEARNED.bp_files(),
        generation=LEARNED.run_files("generation"),
        validity=LEARNED.run_files("validity"),
        loss=LEARNED.run_files("loss"),
    output:
        kept=f"{LEARNED.DIR}/tables/kept.parquet",
        kept_csv=f"{LEARNED.DIR}/tables/kept.csv",
        evaluation=f"{LEARNED.DIR}/tables/evaluation.parquet",
        evaluation_csv=report(
            f"{LEARNED.DIR}/tables/evaluation.csv",
            caption="../report/learned/evaluation.rst",
            category="RHM, learned denoisers",
        ),
        validity=f"{LEARNED.DIR}/tables/validity.parquet",
        validity_csv=f"{LEARNED.DIR}/tables/validity.csv",
        distance=f"{LEARNED.DIR}/tables/distance.parquet",
        distance_csv=f"{LEARNED.DIR}/tables/distance.csv",
        loss=f"{LEARNED.DIR}/tables/loss.parquet",
        loss_csv=f"{LEARNED.DIR}/tables/loss.csv",
        meta=[
            sidecar(f"{LEARNED.DIR}/tables/{name}.parquet")
            for name in ("kept", "evaluation", "validity", "distance", "loss")
        ],
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


rule learned_curves:
    input:
        points=LEARNED.curve_files(),
        validity=rules.learned_tables.output.validity,
    output:
        learning_curve=f"{LEARNED.DIR}/tables/learning_curve.parquet",
        learning_curve_csv=f"{LEARNED.DIR}/tables/learning_curve.csv",
        sample_complexity=f"{LEARNED.DIR}/tables/sample_complexity.parquet",
        sample_complexity_csv=report(
            f"{LEARNED.DIR}/tables/sample_complexity.csv",
            caption="../report/learned/sample_complexity.rst",
            category="RHM, learned denoisers",
        ),
        meta=[
            sidecar(f"{LEARNED.DIR}/tables/{name}.parquet")
            for name in ("learning_curve", "sample_complexity")
        ],
    log:
        "logs/learned/curves.log",
    conda:
        "../../envs/learned.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        thresholds=LEARNED.curve.get("thresholds"),
        min_samples=LEARNED.curve.get("min_samples"),
    script:
        "../scripts/learned_curves.py"


rule learned_corr_sweep:
    input:
        rules=rules.learned_rules.output.rules,
        model=rules.learned_train.output.model,
    output:
        correlations=f"{LEARNED.EVAL}/correlations.parquet",
        correlations_meta=sidecar(f"{LEARNED.EVAL}/correlations.parquet"),
        susceptibility=f"{LEARNED.EVAL}/susceptibility.parquet",
        susceptibility_meta=sidecar(f"{LEARNED.EVAL}/susceptibility.parquet"),
    log:
        "logs/learned/correlations/{experiment}/{process}/P{P}/seed{train_seed}.log",
    benchmark:
        "logs/benchmarks/learned/correlations/{experiment}/{process}/P{P}/seed{train_seed}.tsv"
    conda:
        "../../envs/learned.yaml"
    threads: 1
    resources:
        **gpu_resources(workflow, LEARNED.config["resources"]["gpus"]),
        mem_mb=per_attempt(LEARNED.corr_mem_mb),
        runtime=per_attempt(60),
    params:
        grid=LEARNED.grid("correlations"),
        n_x0=LEARNED.config["correlations"]["n_x0"],
        n_traj=LEARNED.config["correlations"]["n_traj"],
        n_boot=LEARNED.config["correlations"]["n_boot"],
        sample_steps=LEARNED.sample_steps,
        batch_size=LEARNED.config["sampling"]["batch_size"],
        rule_seed=LEARNED.param("rule_seed"),
        seed=LEARNED.job_seed("correlations"),
    script:
        "../scripts/learned_corr_sweep.py"


rule learned_corr_bp:
    input:
        rules=rules.learned_rules.output.rules,
    output:
        correlations=f"{LEARNED.BP_DIR}/correlations.parquet",
        correlations_meta=sidecar(f"{LEARNED.BP_DIR}/correlations.parquet"),
        susceptibility=f"{LEARNED.BP_DIR}/susceptibility.parquet",
        susceptibility_meta=sidecar(f"{LEARNED.BP_DIR}/susceptibility.parquet"),
    log:
        "logs/learned/correlations/{experiment}/{process}/bp.log",
    benchmark:
        "logs/benchmarks/learned/correlations/{experiment}/{process}/bp.tsv"
    conda:
        "../../envs/learned.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(LEARNED.corr_bp_mem_mb),
        runtime=per_attempt(30),
    params:
        schedule=LEARNED.config["schedule"],
        grid=LEARNED.grid("correlations"),
        n_x0=LEARNED.config["correlations"]["n_x0"],
        n_traj=LEARNED.config["correlations"]["n_traj"],
        n_boot=LEARNED.config["correlations"]["n_boot"],
        rule_seed=LEARNED.param("rule_seed"),
        seed=LEARNED.job_seed("correlations"),
    script:
        "../scripts/learned_corr_bp.py"


rule learned_corr_aggregate:
    input:
        correlations=LEARNED.corr_files("correlations"),
        susceptibility=LEARNED.corr_files("susceptibility"),
    output:
        correlations=f"{LEARNED.CORR}/correlations.parquet",
        correlations_meta=sidecar(f"{LEARNED.CORR}/correlations.parquet"),
        correlations_csv=f"{LEARNED.CORR}/correlations.csv",
        susceptibility=f"{LEARNED.CORR}/susceptibility.parquet",
        susceptibility_meta=sidecar(f"{LEARNED.CORR}/susceptibility.parquet"),
        susceptibility_csv=f"{LEARNED.CORR}/susceptibility.csv",
        chi_distance=f"{LEARNED.CORR}/chi_distance.parquet",
        chi_distance_meta=sidecar(f"{LEARNED.CORR}/chi_distance.parquet"),
        chi_distance_csv=report(
            f"{LEARNED.CORR}/chi_distance.csv",
            caption="../report/learned/chi_distance.rst",
            category="RHM, learned denoisers",
        ),
    log:
        "logs/learned/correlations/aggregate.log",
    conda:
        "../../envs/learned.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/learned_corr_aggregate.py"
