# Learned branch: trained denoisers on RHM data, swept forward-backward like exact BP.
# rules -> per (experiment, process, P, seed): train -> generate (grammaticality, memorisation),
# sweep (kept table) and change correlations; per (experiment, process): exact BP's sweep and
# change correlations on the same noisy states -> tables -> figures.


include: "learned_common.smk"


rule learned:
    """Target: only the learned branch (`snakemake learned`)."""
    input:
        learned_targets(),
    localrule: True


# On a cluster only training, generation and the sweeps (learned and BP) get jobs of their own.
localrules:
    learned_rules,
    learned_tables,
    learned_curves,
    learned_fig_validity_vs_P,
    learned_fig_memorized_vs_P,
    learned_fig_learning_curve,
    learned_fig_sample_complexity,
    learned_fig_kept,
    learned_fig_distance,
    learned_fig_loss,
    learned_corr_aggregate,
    learned_corr_fig_chi,


rule learned_rules:
    output:
        rules=LEARNED_RULES,
        meta=sidecar(LEARNED_RULES),
    log:
        "logs/learned/rules/{experiment}.log",
    conda:
        "../../envs/learned.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        v=lambda wc: learned_exp(wc)["v"],
        m=lambda wc: learned_exp(wc)["m"],
        s=lambda wc: learned_exp(wc)["s"],
        L=lambda wc: learned_exp(wc)["L"],
        n_classes=lambda wc: learned_exp(wc)["n_classes"] or learned_exp(wc)["v"],
        seed=lambda wc: learned_seed("rules", wc),
    script:
        "../scripts/learned_rules.py"


rule learned_train:
    input:
        rules=rules.learned_rules.output.rules,
    output:
        model=f"{LEARNED_MODEL}/model.pt",
        loss=f"{LEARNED_MODEL}/loss.parquet",
        loss_csv=f"{LEARNED_MODEL}/loss.csv",
        meta=sidecar(f"{LEARNED_MODEL}/loss.parquet"),
        snapshots=learned_snapshot_outputs(),
    log:
        "logs/learned/train/{experiment}/{process}/P{P}/seed{train_seed}.log",
    benchmark:
        "logs/benchmarks/learned/train/{experiment}/{process}/P{P}/seed{train_seed}.tsv"
    conda:
        "../../envs/learned.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(LEARNED["resources"]["train_runtime"]),
        gpu=LEARNED["resources"]["gpus"],
    params:
        schedule=LEARNED["schedule"],
        network=LEARNED["network"],
        training=lambda wc: learned_training(wc.process).to_dict(),
        snapshot_steps=LEARNED_SNAPSHOTS[:-1],
        data_seed=lambda wc: learned_seed("data", wc),
        seed=lambda wc: learned_seed("train", wc),
    script:
        "../scripts/learned_train.py"


rule learned_generation:
    input:
        rules=rules.learned_rules.output.rules,
        model=rules.learned_train.output.model,
    output:
        table=f"{LEARNED_EVAL}/generation.parquet",
        meta=sidecar(f"{LEARNED_EVAL}/generation.parquet"),
        validity=f"{LEARNED_EVAL}/validity.parquet",
        validity_meta=sidecar(f"{LEARNED_EVAL}/validity.parquet"),
    log:
        "logs/learned/generation/{experiment}/{process}/P{P}/seed{train_seed}.log",
    benchmark:
        "logs/benchmarks/learned/generation/{experiment}/{process}/P{P}/seed{train_seed}.tsv"
    conda:
        "../../envs/learned.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(60),
        gpu=LEARNED["resources"]["gpus"],
    params:
        n=LEARNED["evaluation"]["n_generated"],
        sample_steps=learned_sample_steps,
        batch_size=LEARNED["sampling"]["batch_size"],
        data_seed=lambda wc: learned_seed("data", wc),
        seed=lambda wc: learned_seed("generate", wc),
    script:
        "../scripts/learned_generation.py"


rule learned_curve_point:
    input:
        rules=rules.learned_rules.output.rules,
        weights=learned_snapshot_weights,
    output:
        table=LEARNED_CURVE_POINT,
        meta=sidecar(LEARNED_CURVE_POINT),
    log:
        "logs/learned/curve/{experiment}/{process}/P{P}/seed{train_seed}/step{step}.log",
    benchmark:
        "logs/benchmarks/learned/curve/{experiment}/{process}/P{P}/seed{train_seed}/step{step}.tsv"
    conda:
        "../../envs/learned.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(60),
        gpu=LEARNED["resources"]["gpus"],
    params:
        n=LEARNED_CURVE.get("n_generated"),
        sample_steps=learned_sample_steps,
        batch_size=LEARNED["sampling"]["batch_size"],
        data_seed=lambda wc: learned_seed("data", wc),
        # the final model's seed at every step: the curve's points differ by the weights only
        seed=lambda wc: learned_seed("generate", wc),
    script:
        "../scripts/learned_curve_point.py"


rule learned_sweep:
    input:
        rules=rules.learned_rules.output.rules,
        model=rules.learned_train.output.model,
    output:
        table=f"{LEARNED_EVAL}/kept.parquet",
        meta=sidecar(f"{LEARNED_EVAL}/kept.parquet"),
    log:
        "logs/learned/sweep/{experiment}/{process}/P{P}/seed{train_seed}.log",
    benchmark:
        "logs/benchmarks/learned/sweep/{experiment}/{process}/P{P}/seed{train_seed}.tsv"
    conda:
        "../../envs/learned.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(60),
        gpu=LEARNED["resources"]["gpus"],
    params:
        grid=lambda wc: LEARNED["evaluation"]["grid"][wc.process],
        n=LEARNED["evaluation"]["n_sweep"],
        sample_steps=learned_sample_steps,
        batch_size=LEARNED["sampling"]["batch_size"],
        rule_seed=lambda wc: learned_exp(wc)["rule_seed"],
        seed=lambda wc: learned_seed("sweep", wc),
    script:
        "../scripts/learned_sweep.py"


rule learned_bp_reference:
    input:
        rules=rules.learned_rules.output.rules,
    output:
        table=LEARNED_BP,
        meta=sidecar(LEARNED_BP),
    log:
        "logs/learned/bp/{experiment}/{process}.log",
    benchmark:
        "logs/benchmarks/learned/bp/{experiment}/{process}.tsv"
    conda:
        "../../envs/learned.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(30),
    params:
        schedule=LEARNED["schedule"],
        grid=lambda wc: LEARNED["evaluation"]["grid"][wc.process],
        n=LEARNED["evaluation"]["n_sweep"],
        rule_seed=lambda wc: learned_exp(wc)["rule_seed"],
        seed=lambda wc: learned_seed("sweep", wc),
    script:
        "../scripts/learned_bp_reference.py"


rule learned_tables:
    input:
        kept=learned_run_files("kept"),
        bp=learned_bp_files(),
        generation=learned_run_files("generation"),
        validity=learned_run_files("validity"),
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
        validity=f"{LEARNED_DIR}/tables/validity.parquet",
        validity_csv=f"{LEARNED_DIR}/tables/validity.csv",
        distance=f"{LEARNED_DIR}/tables/distance.parquet",
        distance_csv=f"{LEARNED_DIR}/tables/distance.csv",
        loss=f"{LEARNED_DIR}/tables/loss.parquet",
        loss_csv=f"{LEARNED_DIR}/tables/loss.csv",
        meta=[
            sidecar(f"{LEARNED_DIR}/tables/{name}.parquet")
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
        points=learned_curve_files(),
        validity=rules.learned_tables.output.validity,
    output:
        learning_curve=f"{LEARNED_DIR}/tables/learning_curve.parquet",
        learning_curve_csv=f"{LEARNED_DIR}/tables/learning_curve.csv",
        sample_complexity=f"{LEARNED_DIR}/tables/sample_complexity.parquet",
        sample_complexity_csv=report(
            f"{LEARNED_DIR}/tables/sample_complexity.csv",
            caption="../report/learned/sample_complexity.rst",
            category="RHM, learned denoisers",
        ),
        meta=[
            sidecar(f"{LEARNED_DIR}/tables/{name}.parquet")
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
        thresholds=LEARNED_CURVE.get("thresholds"),
        min_samples=LEARNED_CURVE.get("min_samples"),
    script:
        "../scripts/learned_curves.py"


rule learned_fig_validity_vs_P:
    input:
        validity=rules.learned_tables.output.validity,
    output:
        png=report(
            f"{LEARNED_DIR}/figures/validity_vs_P.png",
            caption="../report/learned/validity_vs_P.rst",
            category="RHM, learned denoisers",
        ),
        pdf=f"{LEARNED_DIR}/figures/validity_vs_P.pdf",
    log:
        "logs/learned/figures/validity_vs_P.log",
    conda:
        "../../envs/learned.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/learned_fig_validity_vs_P.py"


rule learned_fig_memorized_vs_P:
    input:
        evaluation=rules.learned_tables.output.evaluation,
        rules=learned_rules_files(),
    output:
        png=report(
            f"{LEARNED_DIR}/figures/memorized_vs_P.png",
            caption="../report/learned/memorized_vs_P.rst",
            category="RHM, learned denoisers",
        ),
        pdf=f"{LEARNED_DIR}/figures/memorized_vs_P.pdf",
    log:
        "logs/learned/figures/memorized_vs_P.log",
    conda:
        "../../envs/learned.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/learned_fig_memorized_vs_P.py"


rule learned_fig_learning_curve:
    input:
        curve=rules.learned_curves.output.learning_curve,
    output:
        png=report(
            f"{LEARNED_DIR}/figures/learning_curve.png",
            caption="../report/learned/learning_curve.rst",
            category="RHM, learned denoisers",
        ),
        pdf=f"{LEARNED_DIR}/figures/learning_curve.pdf",
    log:
        "logs/learned/figures/learning_curve.log",
    conda:
        "../../envs/learned.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/learned_fig_learning_curve.py"


rule learned_fig_sample_complexity:
    input:
        sample_complexity=rules.learned_curves.output.sample_complexity,
        rules=learned_rules_files(),
    output:
        png=report(
            f"{LEARNED_DIR}/figures/sample_complexity.png",
            caption="../report/learned/sample_complexity_fig.rst",
            category="RHM, learned denoisers",
        ),
        pdf=f"{LEARNED_DIR}/figures/sample_complexity.pdf",
    log:
        "logs/learned/figures/sample_complexity.log",
    conda:
        "../../envs/learned.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/learned_fig_sample_complexity.py"


rule learned_fig_kept:
    input:
        kept=rules.learned_tables.output.kept,
    output:
        png=report(
            f"{LEARNED_DIR}/figures/kept_{{experiment}}_{{process}}.png",
            caption="../report/learned/kept.rst",
            category="RHM, learned denoisers",
            subcategory="{experiment}",
        ),
        pdf=f"{LEARNED_DIR}/figures/kept_{{experiment}}_{{process}}.pdf",
    log:
        "logs/learned/figures/kept_{experiment}_{process}.log",
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
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        tolerance=LEARNED["evaluation"]["tolerance"],
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


rule learned_corr_sweep:
    input:
        rules=rules.learned_rules.output.rules,
        model=rules.learned_train.output.model,
    output:
        correlations=f"{LEARNED_EVAL}/correlations.parquet",
        correlations_meta=sidecar(f"{LEARNED_EVAL}/correlations.parquet"),
        susceptibility=f"{LEARNED_EVAL}/susceptibility.parquet",
        susceptibility_meta=sidecar(f"{LEARNED_EVAL}/susceptibility.parquet"),
    log:
        "logs/learned/correlations/{experiment}/{process}/P{P}/seed{train_seed}.log",
    benchmark:
        "logs/benchmarks/learned/correlations/{experiment}/{process}/P{P}/seed{train_seed}.tsv"
    conda:
        "../../envs/learned.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(60),
        gpu=LEARNED["resources"]["gpus"],
    params:
        grid=lambda wc: LEARNED["correlations"]["grid"][wc.process],
        n_x0=LEARNED["correlations"]["n_x0"],
        n_traj=LEARNED["correlations"]["n_traj"],
        n_boot=LEARNED["correlations"]["n_boot"],
        sample_steps=learned_sample_steps,
        batch_size=LEARNED["sampling"]["batch_size"],
        rule_seed=lambda wc: learned_exp(wc)["rule_seed"],
        seed=lambda wc: learned_seed("correlations", wc),
    script:
        "../scripts/learned_corr_sweep.py"


rule learned_corr_bp:
    input:
        rules=rules.learned_rules.output.rules,
    output:
        correlations=f"{LEARNED_BP_DIR}/correlations.parquet",
        correlations_meta=sidecar(f"{LEARNED_BP_DIR}/correlations.parquet"),
        susceptibility=f"{LEARNED_BP_DIR}/susceptibility.parquet",
        susceptibility_meta=sidecar(f"{LEARNED_BP_DIR}/susceptibility.parquet"),
    log:
        "logs/learned/correlations/{experiment}/{process}/bp.log",
    benchmark:
        "logs/benchmarks/learned/correlations/{experiment}/{process}/bp.tsv"
    conda:
        "../../envs/learned.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(30),
    params:
        schedule=LEARNED["schedule"],
        grid=lambda wc: LEARNED["correlations"]["grid"][wc.process],
        n_x0=LEARNED["correlations"]["n_x0"],
        n_traj=LEARNED["correlations"]["n_traj"],
        n_boot=LEARNED["correlations"]["n_boot"],
        rule_seed=lambda wc: learned_exp(wc)["rule_seed"],
        seed=lambda wc: learned_seed("correlations", wc),
    script:
        "../scripts/learned_corr_bp.py"


rule learned_corr_aggregate:
    input:
        correlations=learned_corr_files("correlations"),
        susceptibility=learned_corr_files("susceptibility"),
    output:
        correlations=f"{LEARNED_CORR}/correlations.parquet",
        correlations_meta=sidecar(f"{LEARNED_CORR}/correlations.parquet"),
        correlations_csv=f"{LEARNED_CORR}/correlations.csv",
        susceptibility=f"{LEARNED_CORR}/susceptibility.parquet",
        susceptibility_meta=sidecar(f"{LEARNED_CORR}/susceptibility.parquet"),
        susceptibility_csv=f"{LEARNED_CORR}/susceptibility.csv",
        chi_distance=f"{LEARNED_CORR}/chi_distance.parquet",
        chi_distance_meta=sidecar(f"{LEARNED_CORR}/chi_distance.parquet"),
        chi_distance_csv=report(
            f"{LEARNED_CORR}/chi_distance.csv",
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


rule learned_corr_fig_chi:
    input:
        susceptibility=rules.learned_corr_aggregate.output.susceptibility,
    output:
        png=report(
            f"{LEARNED_DIR}/figures/chi_{{experiment}}_{{process}}.png",
            caption="../report/learned/chi.rst",
            category="RHM, learned denoisers",
            subcategory="{experiment}",
        ),
        pdf=f"{LEARNED_DIR}/figures/chi_{{experiment}}_{{process}}.pdf",
    log:
        "logs/learned/figures/chi_{experiment}_{process}.log",
    conda:
        "../../envs/learned.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/learned_corr_fig_chi.py"
