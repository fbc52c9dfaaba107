# RHM branch, exact: rules -> clean data -> forward-backward sweeps with exact BP (one job per
# shard of the noise grid) -> one tidy kept table per experiment -> mean-field theory -> figures.
# Only the sweeps are heavy: on a cluster every other rule runs on the submitting node.


include: "rhm_common.smk"


rule rhm:
    """Target: only the RHM branch (`snakemake rhm`)."""
    input:
        rhm_targets(),
    localrule: True


localrules:
    rhm_rules,
    rhm_data,
    rhm_aggregate,
    rhm_theory,
    rhm_theory_summary,
    rhm_fig_class_vs_eps,
    rhm_fig_levels_vs_eps,
    rhm_fig_time,
    rhm_fig_cobweb,
    rhm_corr_theory,
    rhm_corr_aggregate,
    rhm_corr_exponents,
    rhm_corr_fig_c_of_r,
    rhm_corr_fig_chi,
    rhm_corr_fig_xi_scaling,
    rhm_corr_fig_collapse,
    rhm_corr_fig_controls,
    rhm_phase_aggregate,
    rhm_phase_table,
    rhm_fig_phase_plane,
    rhm_fig_phase_eps_star,
    rhm_scaling,
    rhm_fig_scaling_collapse,
    rhm_fig_scaling_extrapolation,


rule rhm_rules:
    output:
        rules=RHM_RULES,
        meta=sidecar(RHM_RULES),
    log:
        "logs/rhm/rules/{experiment}/L{L}/rules{rule_seed}.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        v=lambda wc: rhm_exp(wc)["v"],
        m=lambda wc: rhm_exp(wc)["m"],
        s=lambda wc: rhm_exp(wc)["s"],
        n_classes=lambda wc: rhm_n_classes(rhm_exp(wc)),
        seed=lambda wc: rhm_seed("rules", wc),
    script:
        "../scripts/rhm_rules.py"


rule rhm_data:
    input:
        rules=rules.rhm_rules.output.rules,
    output:
        trees=RHM_TREES,
        meta=sidecar(RHM_TREES),
    log:
        "logs/rhm/data/{experiment}/L{L}/rules{rule_seed}.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        n_samples=lambda wc: rhm_exp(wc)["n_samples"],
        seed=lambda wc: rhm_seed("data", wc),
    script:
        "../scripts/rhm_data.py"


rule rhm_sweep:
    input:
        rules=rules.rhm_rules.output.rules,
        trees=rules.rhm_data.output.trees,
    output:
        table=RHM_SWEEP,
        meta=sidecar(RHM_SWEEP),
        csv=RHM_SWEEP.replace(".parquet", ".csv"),
    log:
        "logs/rhm/sweep/{experiment}/L{L}/rules{rule_seed}/{process}/shard{shard}.log",
    benchmark:
        "logs/benchmarks/rhm/sweep/{experiment}/L{L}/rules{rule_seed}/{process}/shard{shard}.tsv"
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(rhm_mem_mb),
        runtime=per_attempt(60),
    params:
        values=lambda wc: rhm_block_values(
            rhm_exp(wc)["processes"][wc.process][int(wc.shard)]
        ),
        schedule=lambda wc: (
            RHM["schedule"] if wc.process in RHM_TIME_PROCESSES else None
        ),
        batch_size=lambda wc: rhm_exp(wc)["batch_size"],
        seed=lambda wc: rhm_seed("sweep", wc, wc.process),
    script:
        "../scripts/rhm_sweep.py"


rule rhm_aggregate:
    input:
        shards=rhm_sweep_shards,
    output:
        table=RHM_KEPT,
        meta=sidecar(RHM_KEPT),
        csv=RHM_KEPT.replace(".parquet", ".csv"),
    log:
        "logs/rhm/aggregate/{experiment}.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/rhm_aggregate.py"


rule rhm_theory:
    output:
        table=RHM_THEORY,
        meta=sidecar(RHM_THEORY),
        csv=RHM_THEORY.replace(".parquet", ".csv"),
    log:
        "logs/rhm/theory/{experiment}/L{L}.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        v=lambda wc: rhm_exp(wc)["v"],
        m=lambda wc: rhm_exp(wc)["m"],
        s=lambda wc: rhm_exp(wc)["s"],
        n_classes=lambda wc: rhm_n_classes(rhm_exp(wc)),
        points=RHM["theory_points"],
    script:
        "../scripts/rhm_theory.py"


rule rhm_theory_summary:
    output:
        table=RHM_THEORY_SUMMARY,
        meta=sidecar(RHM_THEORY_SUMMARY),
        csv=RHM_THEORY_SUMMARY.replace(".parquet", ".csv"),
    log:
        "logs/rhm/theory/{experiment}/summary.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        v=lambda wc: rhm_exp(wc)["v"],
        m=lambda wc: rhm_exp(wc)["m"],
        s=lambda wc: rhm_exp(wc)["s"],
    script:
        "../scripts/rhm_theory_summary.py"


rule rhm_fig_class_vs_eps:
    input:
        kept=rules.rhm_aggregate.output.table,
        theory=rhm_theory_tables,
        summary=rules.rhm_theory_summary.output.table,
    output:
        png=report(
            f"{RHM_FIGURES}/class_vs_eps.png",
            caption="../report/rhm/class_vs_eps.rst",
            category="RHM, exact BP",
            subcategory="{experiment}",
        ),
        pdf=f"{RHM_FIGURES}/class_vs_eps.pdf",
    log:
        "logs/rhm/figures/{experiment}/class_vs_eps.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        depths=lambda wc: rhm_exp(wc)["L"],
        n_classes=lambda wc: rhm_n_classes(rhm_exp(wc)),
    script:
        "../scripts/rhm_fig_class_vs_eps.py"


rule rhm_fig_levels_vs_eps:
    input:
        kept=rules.rhm_aggregate.output.table,
        theory=rhm_theory_tables,
        summary=rules.rhm_theory_summary.output.table,
    output:
        png=report(
            f"{RHM_FIGURES}/levels_vs_eps.png",
            caption="../report/rhm/levels_vs_eps.rst",
            category="RHM, exact BP",
            subcategory="{experiment}",
        ),
        pdf=f"{RHM_FIGURES}/levels_vs_eps.pdf",
    log:
        "logs/rhm/figures/{experiment}/levels_vs_eps.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        depth=lambda wc: rhm_levels_L(rhm_exp(wc)),
        n_classes=lambda wc: rhm_n_classes(rhm_exp(wc)),
    script:
        "../scripts/rhm_fig_levels_vs_eps.py"


rule rhm_fig_time:
    input:
        kept=rules.rhm_aggregate.output.table,
    output:
        png=report(
            f"{RHM_FIGURES}/time_{{time_process}}.png",
            caption="../report/rhm/time.rst",
            category="RHM, exact BP",
            subcategory="{experiment}",
        ),
        pdf=f"{RHM_FIGURES}/time_{{time_process}}.pdf",
    log:
        "logs/rhm/figures/{experiment}/time_{time_process}.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        depths=lambda wc: rhm_exp(wc)["L"],
        depth=lambda wc: rhm_levels_L(rhm_exp(wc)),
        n_classes=lambda wc: rhm_n_classes(rhm_exp(wc)),
    script:
        "../scripts/rhm_fig_time.py"


rule rhm_fig_cobweb:
    input:
        summary=rules.rhm_theory_summary.output.table,
    output:
        png=report(
            f"{RHM_FIGURES}/cobweb.png",
            caption="../report/rhm/cobweb.rst",
            category="RHM, exact BP",
            subcategory="{experiment}",
        ),
        pdf=f"{RHM_FIGURES}/cobweb.pdf",
    log:
        "logs/rhm/figures/{experiment}/cobweb.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        v=lambda wc: rhm_exp(wc)["v"],
        m=lambda wc: rhm_exp(wc)["m"],
        s=lambda wc: rhm_exp(wc)["s"],
        depth=lambda wc: rhm_levels_L(rhm_exp(wc)),
    script:
        "../scripts/rhm_fig_cobweb.py"


rule rhm_corr_sweep:
    input:
        rules=rules.rhm_rules.output.rules,
        trees=rules.rhm_data.output.trees,
    output:
        correlations=f"{RHM_CORR_SHARD}/correlations.parquet",
        correlations_meta=sidecar(f"{RHM_CORR_SHARD}/correlations.parquet"),
        susceptibility=f"{RHM_CORR_SHARD}/susceptibility.parquet",
        susceptibility_meta=sidecar(f"{RHM_CORR_SHARD}/susceptibility.parquet"),
    log:
        "logs/rhm/correlations/sweep/{experiment}/L{L}/rules{rule_seed}/{process}/shard{shard}.log",
    benchmark:
        "logs/benchmarks/rhm/correlations/sweep/{experiment}/L{L}/rules{rule_seed}/{process}/shard{shard}.tsv"
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(lambda wc: rhm_corr_mem_mb(rhm_exp(wc), int(wc.L))),
        runtime=per_attempt(60),
    params:
        values=lambda wc: rhm_block_values(
            rhm_corr(wc)["processes"][wc.process][int(wc.shard)]
        ),
        schedule=lambda wc: (
            RHM["schedule"] if wc.process in RHM_TIME_PROCESSES else None
        ),
        n_x0=lambda wc: rhm_corr(wc)["n_x0"],
        n_traj=lambda wc: rhm_corr(wc)["n_traj"],
        n_boot=lambda wc: rhm_corr(wc)["n_boot"],
        seed=lambda wc: rhm_seed("correlations", wc, wc.process),
    script:
        "../scripts/rhm_corr_sweep.py"


rule rhm_corr_control:
    output:
        correlations=f"{RHM_CONTROL_SHARD}/correlations.parquet",
        correlations_meta=sidecar(f"{RHM_CONTROL_SHARD}/correlations.parquet"),
        susceptibility=f"{RHM_CONTROL_SHARD}/susceptibility.parquet",
        susceptibility_meta=sidecar(f"{RHM_CONTROL_SHARD}/susceptibility.parquet"),
    log:
        "logs/rhm/correlations/controls/{control}/{process}/shard{shard}.log",
    benchmark:
        "logs/benchmarks/rhm/correlations/controls/{control}/{process}/shard{shard}.tsv"
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(60),
    params:
        control=lambda wc: {
            k: v for k, v in RHM_CONTROLS[wc.control].items() if k != "processes"
        },
        values=lambda wc: rhm_block_values(
            RHM_CONTROLS[wc.control]["processes"][wc.process][int(wc.shard)]
        ),
        schedule=RHM["schedule"],
        seed=lambda wc: job_seed("rhm", "control", wc.control),
    script:
        "../scripts/rhm_corr_control.py"


rule rhm_corr_theory:
    output:
        correlations=f"{RHM_CORR_THEORY}/correlations.parquet",
        correlations_meta=sidecar(f"{RHM_CORR_THEORY}/correlations.parquet"),
        susceptibility=f"{RHM_CORR_THEORY}/susceptibility.parquet",
        susceptibility_meta=sidecar(f"{RHM_CORR_THEORY}/susceptibility.parquet"),
    log:
        "logs/rhm/correlations/theory/{experiment}/L{L}.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        v=lambda wc: rhm_exp(wc)["v"],
        m=lambda wc: rhm_exp(wc)["m"],
        s=lambda wc: rhm_exp(wc)["s"],
        n_classes=lambda wc: rhm_n_classes(rhm_exp(wc)),
        points=RHM["theory_points"],
    script:
        "../scripts/rhm_corr_theory.py"


rule rhm_corr_aggregate:
    input:
        correlations=rhm_corr_inputs("correlations"),
        susceptibility=rhm_corr_inputs("susceptibility"),
    output:
        correlations=f"{RHM_CORR}/correlations.parquet",
        correlations_meta=sidecar(f"{RHM_CORR}/correlations.parquet"),
        correlations_csv=f"{RHM_CORR}/correlations.csv",
        susceptibility=f"{RHM_CORR}/susceptibility.parquet",
        susceptibility_meta=sidecar(f"{RHM_CORR}/susceptibility.parquet"),
        susceptibility_csv=f"{RHM_CORR}/susceptibility.csv",
    log:
        "logs/rhm/correlations/aggregate.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/rhm_corr_aggregate.py"


rule rhm_corr_exponents:
    input:
        correlations=rules.rhm_corr_aggregate.output.correlations,
        susceptibility=rules.rhm_corr_aggregate.output.susceptibility,
    output:
        exponents=f"{RHM_CORR}/exponents.parquet",
        exponents_meta=sidecar(f"{RHM_CORR}/exponents.parquet"),
        exponents_csv=f"{RHM_CORR}/exponents.csv",
        lengths=f"{RHM_CORR}/lengths.parquet",
        lengths_meta=sidecar(f"{RHM_CORR}/lengths.parquet"),
        lengths_csv=f"{RHM_CORR}/lengths.csv",
    log:
        "logs/rhm/correlations/exponents.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        critical=RHM_CORR_CRITICAL,
        seed=job_seed("rhm", "correlation-exponents"),
    script:
        "../scripts/rhm_corr_exponents.py"


rule rhm_corr_fig_c_of_r:
    input:
        correlations=rules.rhm_corr_aggregate.output.correlations,
    output:
        png=report(
            f"{RHM_CORR_FIGURES}/{{experiment}}/c_of_r_{{process}}.png",
            caption="../report/rhm/corr_c_of_r.rst",
            category="RHM, change correlations",
            subcategory="{experiment}",
        ),
        pdf=f"{RHM_CORR_FIGURES}/{{experiment}}/c_of_r_{{process}}.pdf",
    log:
        "logs/rhm/figures/correlations/{experiment}/c_of_r_{process}.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        L=lambda wc: max(rhm_corr(wc)["L"]),
        eps_star=lambda wc: RHM_CORR_CRITICAL[wc.experiment][0],
    script:
        "../scripts/rhm_corr_fig_c_of_r.py"


rule rhm_corr_fig_chi:
    input:
        susceptibility=rules.rhm_corr_aggregate.output.susceptibility,
    output:
        png=report(
            f"{RHM_CORR_FIGURES}/{{experiment}}/chi.png",
            caption="../report/rhm/corr_chi.rst",
            category="RHM, change correlations",
            subcategory="{experiment}",
        ),
        pdf=f"{RHM_CORR_FIGURES}/{{experiment}}/chi.pdf",
    log:
        "logs/rhm/figures/correlations/{experiment}/chi.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        eps_star=lambda wc: RHM_CORR_CRITICAL[wc.experiment][0],
    script:
        "../scripts/rhm_corr_fig_chi.py"


rule rhm_corr_fig_xi_scaling:
    input:
        correlations=rules.rhm_corr_aggregate.output.correlations,
        susceptibility=rules.rhm_corr_aggregate.output.susceptibility,
        lengths=rules.rhm_corr_exponents.output.lengths,
    output:
        png=report(
            f"{RHM_CORR_FIGURES}/{{experiment}}/xi_scaling.png",
            caption="../report/rhm/corr_xi_scaling.rst",
            category="RHM, change correlations",
            subcategory="{experiment}",
        ),
        pdf=f"{RHM_CORR_FIGURES}/{{experiment}}/xi_scaling.pdf",
    log:
        "logs/rhm/figures/correlations/{experiment}/xi_scaling.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        critical=lambda wc: RHM_CORR_CRITICAL[wc.experiment],
    script:
        "../scripts/rhm_corr_fig_xi_scaling.py"


rule rhm_corr_fig_collapse:
    input:
        correlations=rules.rhm_corr_aggregate.output.correlations,
        susceptibility=rules.rhm_corr_aggregate.output.susceptibility,
        lengths=rules.rhm_corr_exponents.output.lengths,
    output:
        png=report(
            f"{RHM_CORR_FIGURES}/{{experiment}}/collapse.png",
            caption="../report/rhm/corr_collapse.rst",
            category="RHM, change correlations",
            subcategory="{experiment}",
        ),
        pdf=f"{RHM_CORR_FIGURES}/{{experiment}}/collapse.pdf",
    log:
        "logs/rhm/figures/correlations/{experiment}/collapse.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        eps_star=lambda wc: RHM_CORR_CRITICAL[wc.experiment][0],
    script:
        "../scripts/rhm_corr_fig_collapse.py"


rule rhm_corr_fig_controls:
    input:
        correlations=rules.rhm_corr_aggregate.output.correlations,
        susceptibility=rules.rhm_corr_aggregate.output.susceptibility,
    output:
        png=report(
            f"{RHM_CORR_FIGURES}/controls.png",
            caption="../report/rhm/corr_controls.rst",
            category="RHM, change correlations",
            subcategory="controls",
        ),
        pdf=f"{RHM_CORR_FIGURES}/controls.pdf",
    log:
        "logs/rhm/figures/correlations/controls.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        eps_star={name: c[0] for name, c in RHM_CORR_CRITICAL.items()},
    script:
        "../scripts/rhm_corr_fig_controls.py"


# ----------------------------------------------------------------------------- phase diagram
# One sweep job per (s, v, m) and rule draw (rules, data and the class curves at every depth of its
# grid), the sweeps in one table, the phase-diagram table, two figures.


rule rhm_phase_sweep:
    output:
        table=RHM_PHASE_SWEEP,
        meta=sidecar(RHM_PHASE_SWEEP),
    log:
        "logs/rhm/phase_diagram/sweep/s{s}/v{v}/m{m}/rules{rule_seed}.log",
    benchmark:
        "logs/benchmarks/rhm/phase_diagram/sweep/s{s}/v{v}/m{m}/rules{rule_seed}.tsv"
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(rhm_phase_mem_mb),
        runtime=per_attempt(60),
    params:
        depths=lambda wc: RHM_PHASE_POINTS[rhm_phase_point(wc)],
        values=rhm_block_values_all(RHM_PHASE["eps"]) if RHM_PHASE_POINTS else [],
        n_samples=RHM_PHASE["n_samples"] if RHM_PHASE_POINTS else None,
        batch_size=RHM_PHASE["batch_size"] if RHM_PHASE_POINTS else None,
        n_classes=RHM_PHASE["n_classes"] if RHM_PHASE_POINTS else None,
        seed=lambda wc: job_seed(
            "rhm", "phase-diagram", *rhm_phase_point(wc), int(wc.rule_seed)
        ),
    script:
        "../scripts/rhm_phase_sweep.py"


rule rhm_phase_aggregate:
    input:
        sweeps=rhm_phase_sweeps,
    output:
        table=RHM_PHASE_KEPT,
        meta=sidecar(RHM_PHASE_KEPT),
        csv=RHM_PHASE_KEPT.replace(".parquet", ".csv"),
    log:
        "logs/rhm/phase_diagram/aggregate.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/rhm_phase_aggregate.py"


rule rhm_phase_table:
    input:
        kept=rules.rhm_phase_aggregate.output.table,
    output:
        table=RHM_PHASE_TABLE,
        meta=sidecar(RHM_PHASE_TABLE),
        csv=RHM_PHASE_TABLE.replace(".parquet", ".csv"),
    log:
        "logs/rhm/phase_diagram/table.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/rhm_phase_table.py"


rule rhm_fig_phase_plane:
    input:
        table=rules.rhm_phase_table.output.table,
    output:
        png=report(
            f"{RHM_PHASE_FIGURES}/plane.png",
            caption="../report/rhm/phase_plane.rst",
            category="RHM, exact BP",
            subcategory="phase diagram",
        ),
        pdf=f"{RHM_PHASE_FIGURES}/plane.pdf",
    log:
        "logs/rhm/figures/phase_diagram/plane.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/rhm_fig_phase_plane.py"


rule rhm_fig_phase_eps_star:
    input:
        table=rules.rhm_phase_table.output.table,
    output:
        png=report(
            f"{RHM_PHASE_FIGURES}/eps_star.png",
            caption="../report/rhm/phase_eps_star.rst",
            category="RHM, exact BP",
            subcategory="phase diagram",
        ),
        pdf=f"{RHM_PHASE_FIGURES}/eps_star.pdf",
    log:
        "logs/rhm/figures/phase_diagram/eps_star.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/rhm_fig_phase_eps_star.py"


# ----------------------------------------------------------------------------- finite-size scaling
# Of the class curve, from the kept tables only (docs/finite_size_scaling.md): half points,
# 90-10% widths and crossings per depth, eps* (or t*) extrapolated to L -> infinity and nu.


rule rhm_scaling:
    input:
        kept=rules.rhm_aggregate.output.table,
    output:
        table=f"{RHM_SCALING}/scaling.parquet",
        meta=sidecar(f"{RHM_SCALING}/scaling.parquet"),
        csv=f"{RHM_SCALING}/scaling.csv",
        points=f"{RHM_SCALING}/points.parquet",
        points_meta=sidecar(f"{RHM_SCALING}/points.parquet"),
        points_csv=f"{RHM_SCALING}/points.csv",
    log:
        "logs/rhm/scaling/{experiment}.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        v=lambda wc: rhm_exp(wc)["v"],
        m=lambda wc: rhm_exp(wc)["m"],
        s=lambda wc: rhm_exp(wc)["s"],
        n_classes=lambda wc: rhm_n_classes(rhm_exp(wc)),
        processes=RHM_SCALING_SPEC["processes"],
        L_min=RHM_SCALING_SPEC["L_min"],
        L_max=RHM_SCALING_SPEC["L_max"],
    script:
        "../scripts/rhm_scaling.py"


rule rhm_fig_scaling_collapse:
    input:
        kept=rules.rhm_aggregate.output.table,
        scaling=rules.rhm_scaling.output.table,
    output:
        png=report(
            f"{RHM_FIGURES}/scaling_collapse.png",
            caption="../report/rhm/scaling_collapse.rst",
            category="RHM, exact BP",
            subcategory="{experiment}",
        ),
        pdf=f"{RHM_FIGURES}/scaling_collapse.pdf",
    log:
        "logs/rhm/figures/{experiment}/scaling_collapse.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        v=lambda wc: rhm_exp(wc)["v"],
        m=lambda wc: rhm_exp(wc)["m"],
        s=lambda wc: rhm_exp(wc)["s"],
        n_classes=lambda wc: rhm_n_classes(rhm_exp(wc)),
        processes=RHM_SCALING_SPEC["processes"],
    script:
        "../scripts/rhm_fig_scaling_collapse.py"


rule rhm_fig_scaling_extrapolation:
    input:
        points=rules.rhm_scaling.output.points,
        scaling=rules.rhm_scaling.output.table,
    output:
        png=report(
            f"{RHM_FIGURES}/scaling_extrapolation.png",
            caption="../report/rhm/scaling_extrapolation.rst",
            category="RHM, exact BP",
            subcategory="{experiment}",
        ),
        pdf=f"{RHM_FIGURES}/scaling_extrapolation.pdf",
    log:
        "logs/rhm/figures/{experiment}/scaling_extrapolation.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        v=lambda wc: rhm_exp(wc)["v"],
        m=lambda wc: rhm_exp(wc)["m"],
        s=lambda wc: rhm_exp(wc)["s"],
        processes=RHM_SCALING_SPEC["processes"],
    script:
        "../scripts/rhm_fig_scaling_extrapolation.py"
