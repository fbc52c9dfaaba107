# RHM branch, exact: rules -> clean data -> forward-backward sweeps with exact BP (one job per
# shard of the noise grid) -> one tidy kept table per experiment -> mean-field theory -> figures.
# Only the sweeps are heavy: on a cluster every other rule runs on the submitting node.


RHM = PLAN["rhm"]


rule rhm:
    """Target: only the RHM branch (`snakemake rhm`)."""
    input:
        RHM.targets(),
    localrule: True


localrules:
    rhm_rules,
    rhm_data,
    rhm_aggregate,
    rhm_theory,
    rhm_theory_summary,
    rhm_corr_theory,
    rhm_corr_aggregate,
    rhm_corr_exponents,
    rhm_phase_aggregate,
    rhm_phase_table,
    rhm_scaling,
    rhm_depth,
    rhm_population_summary,
    rhm_critical,


rule rhm_rules:
    output:
        rules=RHM.RULES,
        meta=sidecar(RHM.RULES),
    log:
        "logs/rhm/rules/{experiment}/L{L}/rules{rule_seed}.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        v=RHM.param("v"),
        m=RHM.param("m"),
        s=RHM.param("s"),
        n_classes=RHM.n_classes,
        seed=RHM.job_seed("rules"),
    script:
        "../scripts/rhm_rules.py"


rule rhm_data:
    input:
        rules=rules.rhm_rules.output.rules,
    output:
        trees=RHM.TREES,
        meta=sidecar(RHM.TREES),
    log:
        "logs/rhm/data/{experiment}/L{L}/rules{rule_seed}.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=RHM.data_mem_mb,
        runtime=10,
    params:
        n_samples=RHM.param("n_samples"),
        seed=RHM.job_seed("data"),
    script:
        "../scripts/rhm_data.py"


rule rhm_sweep:
    input:
        rules=rules.rhm_rules.output.rules,
        trees=rules.rhm_data.output.trees,
    output:
        table=RHM.SWEEP,
        meta=sidecar(RHM.SWEEP),
        csv=RHM.SWEEP.replace(".parquet", ".csv"),
    log:
        "logs/rhm/sweep/{experiment}/L{L}/rules{rule_seed}/{process}/shard{shard}.log",
    benchmark:
        "logs/benchmarks/rhm/sweep/{experiment}/L{L}/rules{rule_seed}/{process}/shard{shard}.tsv"
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(RHM.sweep_mem_mb),
        runtime=per_attempt(60),
    params:
        values=RHM.sweep_values,
        schedule=RHM.schedule,
        batch_size=RHM.param("batch_size"),
        seed=RHM.job_seed("sweep", "process"),
    script:
        "../scripts/rhm_sweep.py"


rule rhm_aggregate:
    input:
        shards=RHM.sweep_shards,
    output:
        table=RHM.KEPT,
        meta=sidecar(RHM.KEPT),
        csv=RHM.KEPT.replace(".parquet", ".csv"),
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
        table=RHM.THEORY,
        meta=sidecar(RHM.THEORY),
        csv=RHM.THEORY.replace(".parquet", ".csv"),
    log:
        "logs/rhm/theory/{experiment}/L{L}.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        v=RHM.param("v"),
        m=RHM.param("m"),
        s=RHM.param("s"),
        n_classes=RHM.n_classes,
        points=RHM.config["theory_points"],
    script:
        "../scripts/rhm_theory.py"


rule rhm_theory_summary:
    output:
        table=RHM.THEORY_SUMMARY,
        meta=sidecar(RHM.THEORY_SUMMARY),
        csv=RHM.THEORY_SUMMARY.replace(".parquet", ".csv"),
    log:
        "logs/rhm/theory/{experiment}/summary.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        v=RHM.param("v"),
        m=RHM.param("m"),
        s=RHM.param("s"),
    script:
        "../scripts/rhm_theory_summary.py"


rule rhm_corr_sweep:
    input:
        rules=rules.rhm_rules.output.rules,
        trees=rules.rhm_data.output.trees,
    output:
        correlations=f"{RHM.CORR_SHARD}/correlations.parquet",
        correlations_meta=sidecar(f"{RHM.CORR_SHARD}/correlations.parquet"),
        susceptibility=f"{RHM.CORR_SHARD}/susceptibility.parquet",
        susceptibility_meta=sidecar(f"{RHM.CORR_SHARD}/susceptibility.parquet"),
    log:
        "logs/rhm/correlations/sweep/{experiment}/L{L}/rules{rule_seed}/{process}/shard{shard}.log",
    benchmark:
        "logs/benchmarks/rhm/correlations/sweep/{experiment}/L{L}/rules{rule_seed}/{process}/shard{shard}.tsv"
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(RHM.corr_mem_mb),
        runtime=per_attempt(60),
    params:
        values=RHM.corr_values,
        schedule=RHM.schedule,
        n_x0=RHM.corr_param("n_x0"),
        n_traj=RHM.corr_param("n_traj"),
        n_boot=RHM.corr_param("n_boot"),
        seed=RHM.job_seed("correlations", "process"),
    script:
        "../scripts/rhm_corr_sweep.py"


rule rhm_corr_control:
    input:
        unpack(RHM.control_inputs),
    output:
        correlations=f"{RHM.CONTROL_SHARD}/correlations.parquet",
        correlations_meta=sidecar(f"{RHM.CONTROL_SHARD}/correlations.parquet"),
        susceptibility=f"{RHM.CONTROL_SHARD}/susceptibility.parquet",
        susceptibility_meta=sidecar(f"{RHM.CONTROL_SHARD}/susceptibility.parquet"),
    log:
        "logs/rhm/correlations/controls/{control}/{process}/shard{shard}.log",
    benchmark:
        "logs/benchmarks/rhm/correlations/controls/{control}/{process}/shard{shard}.tsv"
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(RHM.control_mem_mb),
        runtime=per_attempt(60),
    params:
        control=RHM.control,
        values=RHM.control_values,
        schedule=RHM.config["schedule"],
        seed=RHM.control_seed,
    script:
        "../scripts/rhm_corr_control.py"


rule rhm_corr_theory:
    output:
        correlations=f"{RHM.CORR_THEORY}/correlations.parquet",
        correlations_meta=sidecar(f"{RHM.CORR_THEORY}/correlations.parquet"),
        susceptibility=f"{RHM.CORR_THEORY}/susceptibility.parquet",
        susceptibility_meta=sidecar(f"{RHM.CORR_THEORY}/susceptibility.parquet"),
    log:
        "logs/rhm/correlations/theory/{experiment}/L{L}.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        v=RHM.param("v"),
        m=RHM.param("m"),
        s=RHM.param("s"),
        n_classes=RHM.n_classes,
        points=RHM.config["theory_points"],
    script:
        "../scripts/rhm_corr_theory.py"


rule rhm_corr_aggregate:
    input:
        correlations=RHM.corr_inputs("correlations"),
        susceptibility=RHM.corr_inputs("susceptibility"),
    output:
        correlations=f"{RHM.CORR}/correlations.parquet",
        correlations_meta=sidecar(f"{RHM.CORR}/correlations.parquet"),
        correlations_csv=f"{RHM.CORR}/correlations.csv",
        susceptibility=f"{RHM.CORR}/susceptibility.parquet",
        susceptibility_meta=sidecar(f"{RHM.CORR}/susceptibility.parquet"),
        susceptibility_csv=f"{RHM.CORR}/susceptibility.csv",
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
        exponents=f"{RHM.CORR}/exponents.parquet",
        exponents_meta=sidecar(f"{RHM.CORR}/exponents.parquet"),
        exponents_csv=f"{RHM.CORR}/exponents.csv",
        lengths=f"{RHM.CORR}/lengths.parquet",
        lengths_meta=sidecar(f"{RHM.CORR}/lengths.parquet"),
        lengths_csv=f"{RHM.CORR}/lengths.csv",
        level_exponents=f"{RHM.CORR}/level_exponents.parquet",
        level_exponents_meta=sidecar(f"{RHM.CORR}/level_exponents.parquet"),
        level_exponents_csv=f"{RHM.CORR}/level_exponents.csv",
        signature=f"{RHM.CORR}/signature.parquet",
        signature_meta=sidecar(f"{RHM.CORR}/signature.parquet"),
        signature_csv=f"{RHM.CORR}/signature.csv",
    log:
        "logs/rhm/correlations/exponents.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        critical=RHM.critical,
        a_infinite=RHM.a_infinite,
        seed=RHM.exponents_seed(),
    script:
        "../scripts/rhm_corr_exponents.py"


# ----------------------------------------------------------------------------- phase diagram
# One sweep job per (s, v, m) and rule draw (rules, data and the class curves at every depth of its
# grid), the sweeps in one table, the phase-diagram table, two figures.


rule rhm_phase_sweep:
    output:
        table=RHM.PHASE_SWEEP,
        meta=sidecar(RHM.PHASE_SWEEP),
    log:
        "logs/rhm/phase_diagram/sweep/s{s}/v{v}/m{m}/rules{rule_seed}.log",
    benchmark:
        "logs/benchmarks/rhm/phase_diagram/sweep/s{s}/v{v}/m{m}/rules{rule_seed}.tsv"
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(RHM.phase_mem_mb),
        runtime=per_attempt(60),
    params:
        depths=RHM.phase_depths,
        values=RHM.phase_values(),
        n_samples=RHM.phase_setting("n_samples"),
        batch_size=RHM.phase_setting("batch_size"),
        n_classes=RHM.phase_setting("n_classes"),
        seed=RHM.phase_seed,
    script:
        "../scripts/rhm_phase_sweep.py"


rule rhm_phase_aggregate:
    input:
        sweeps=RHM.phase_sweeps,
    output:
        table=RHM.PHASE_KEPT,
        meta=sidecar(RHM.PHASE_KEPT),
        csv=RHM.PHASE_KEPT.replace(".parquet", ".csv"),
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
        table=RHM.PHASE_TABLE,
        meta=sidecar(RHM.PHASE_TABLE),
        csv=RHM.PHASE_TABLE.replace(".parquet", ".csv"),
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


# ----------------------------------------------------------------------------- finite-size scaling
# Of the class curve, from the kept tables only (docs/finite_size_scaling.md): half points,
# 90-10% widths and crossings per depth, eps* (or t*) extrapolated to L -> infinity and nu.


rule rhm_scaling:
    input:
        kept=rules.rhm_aggregate.output.table,
    output:
        table=f"{RHM.SCALING}/scaling.parquet",
        meta=sidecar(f"{RHM.SCALING}/scaling.parquet"),
        csv=f"{RHM.SCALING}/scaling.csv",
        points=f"{RHM.SCALING}/points.parquet",
        points_meta=sidecar(f"{RHM.SCALING}/points.parquet"),
        points_csv=f"{RHM.SCALING}/points.csv",
    log:
        "logs/rhm/scaling/{experiment}.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        v=RHM.param("v"),
        m=RHM.param("m"),
        s=RHM.param("s"),
        n_classes=RHM.n_classes,
        processes=RHM.scaling["processes"],
        L_min=RHM.scaling["L_min"],
        L_max=RHM.scaling["L_max"],
    script:
        "../scripts/rhm_scaling.py"


# ----------------------------------------------------------------------------- depth estimate
# The depth of held-out RHMs read off chi and C at the peak, calibrated on RHMs of known depth.


rule rhm_depth:
    input:
        correlations=rules.rhm_corr_aggregate.output.correlations,
        susceptibility=rules.rhm_corr_aggregate.output.susceptibility,
    output:
        estimates=f"{RHM.DEPTH}/estimates.parquet",
        estimates_meta=sidecar(f"{RHM.DEPTH}/estimates.parquet"),
        estimates_csv=f"{RHM.DEPTH}/estimates.csv",
        calibration=f"{RHM.DEPTH}/calibration.parquet",
        calibration_meta=sidecar(f"{RHM.DEPTH}/calibration.parquet"),
        calibration_csv=f"{RHM.DEPTH}/calibration.csv",
    log:
        "logs/rhm/depth/estimates.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        experiment=RHM.depth_setting("experiment"),
        calibration=RHM.depth_setting("calibration"),
        feature=RHM.depth_setting("feature"),
        k_fit=RHM.depth_setting("k_fit"),
    script:
        "../scripts/rhm_depth.py"


# ----------------------------------------------------------------------------- critical point
# Population dynamics of BP's messages over random rules (one job per point and replica), then
# eps* and nu side by side: population dynamics, exact BP's class-curve width and correlation
# lengths, annealed mean field.


rule rhm_population:
    output:
        table=RHM.POPULATION,
        meta=sidecar(RHM.POPULATION),
    log:
        "logs/rhm/critical/population/s{s}/v{v}/m{m}/replica{replica}.log",
    benchmark:
        "logs/benchmarks/rhm/critical/population/s{s}/v{v}/m{m}/replica{replica}.tsv"
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(RHM.population_mem_mb),
        runtime=per_attempt(60),
    params:
        depths=RHM.population_setting("depths"),
        n_per_value=RHM.population_setting("n_per_value"),
        seed=RHM.population_seed,
    script:
        "../scripts/rhm_population.py"


# The same replica's class curve, its 90-10% width at each width depth.


rule rhm_population_widths:
    output:
        table=RHM.POPULATION_WIDTHS,
        meta=sidecar(RHM.POPULATION_WIDTHS),
    log:
        "logs/rhm/critical/population/s{s}/v{v}/m{m}/widths{replica}.log",
    benchmark:
        "logs/benchmarks/rhm/critical/population/s{s}/v{v}/m{m}/widths{replica}.tsv"
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(RHM.population_mem_mb),
        runtime=per_attempt(60),
    params:
        depths=RHM.population_setting("depths"),
        width_depths=RHM.population_setting("width_depths"),
        n_per_value=RHM.population_setting("n_per_value"),
        seed=RHM.population_seed,
    script:
        "../scripts/rhm_population_widths.py"


# The population's own tables (summary per point and depth, nu over windows of depths and from
# the widths), then eps* and nu side by side with exact BP's and annealed mean field's.


rule rhm_population_summary:
    input:
        unpack(RHM.population_summary_inputs),
    output:
        population=f"{RHM.CRITICAL}/population.parquet",
        population_meta=sidecar(f"{RHM.CRITICAL}/population.parquet"),
        population_csv=f"{RHM.CRITICAL}/population.csv",
        extrapolation=f"{RHM.CRITICAL}/extrapolation.parquet",
        extrapolation_meta=sidecar(f"{RHM.CRITICAL}/extrapolation.parquet"),
        extrapolation_csv=f"{RHM.CRITICAL}/extrapolation.csv",
        windows=f"{RHM.CRITICAL}/local_exponents.parquet",
        windows_meta=sidecar(f"{RHM.CRITICAL}/local_exponents.parquet"),
        windows_csv=f"{RHM.CRITICAL}/local_exponents.csv",
        widths=f"{RHM.CRITICAL}/width_exponents.parquet",
        widths_meta=sidecar(f"{RHM.CRITICAL}/width_exponents.parquet"),
        widths_csv=f"{RHM.CRITICAL}/width_exponents.csv",
    log:
        "logs/rhm/critical/population.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/rhm_population_summary.py"


rule rhm_critical:
    input:
        unpack(RHM.critical_inputs),
    output:
        estimates=f"{RHM.CRITICAL}/estimates.parquet",
        estimates_meta=sidecar(f"{RHM.CRITICAL}/estimates.parquet"),
        estimates_csv=f"{RHM.CRITICAL}/estimates.csv",
    log:
        "logs/rhm/critical/estimates.log",
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        scaled=RHM.critical_scaled(),
        experiments=RHM.critical_experiments(),
    script:
        "../scripts/rhm_critical.py"


# Exact BP against population dynamics RHM by RHM: each RHM of every experiment at a population
# point, its class curve's half point from the sweeps and from the population with its own
# rules (infinitely many data).


rule rhm_same_rules:
    input:
        kept=RHM.same_rules_inputs,
    output:
        table=f"{RHM.CRITICAL}/same_rules.parquet",
        meta=sidecar(f"{RHM.CRITICAL}/same_rules.parquet"),
        csv=f"{RHM.CRITICAL}/same_rules.csv",
    log:
        "logs/rhm/critical/same_rules.log",
    benchmark:
        "logs/benchmarks/rhm/critical/same_rules.tsv"
    conda:
        "../../envs/rhm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(RHM.same_rules_mem_mb),
        runtime=per_attempt(60),
    params:
        experiments=RHM.same_rules_experiments(),
        n_per_value=RHM.population_setting("n_per_value"),
        picks=RHM.SAME_RULES_PICKS,
        seed=RHM.seed("same_rules"),
    script:
        "../scripts/rhm_same_rules.py"
