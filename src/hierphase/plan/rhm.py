"""Planning of the RHM branch (exact BP): its config checks, memory and job counts, wildcard
values, file patterns, seeds, targets and figure table."""

from __future__ import annotations

from types import SimpleNamespace

from hierphase.memory import (MIB, bp_sweep_bytes, bp_trajectories_bytes, flat_mixture_bytes,
                              random_code_bytes,
                              gaussian_field_bytes, job_mb, trees_bytes)

from .branch import ExperimentBranch
from .checks import ConfigError, blocks_values, block_values, check_rhm_params, package_check
from .figures import Figure

__all__ = ["RhmBranch"]

RULES = "results/rhm/rules/{experiment}/L{L}/rules{rule_seed}/rules.pt"
TREES = "results/rhm/data/{experiment}/L{L}/rules{rule_seed}/trees.pt"
SWEEP = "results/rhm/sweep/{experiment}/L{L}/rules{rule_seed}/{process}/shard{shard}.parquet"
KEPT = "results/rhm/aggregate/{experiment}/kept.parquet"
THEORY = "results/rhm/theory/{experiment}/L{L}.parquet"
THEORY_SUMMARY = "results/rhm/theory/{experiment}/summary.parquet"
FIGURES = "results/rhm/figures/{experiment}"
CORR_SHARD = ("results/rhm/correlations/sweep/{experiment}/L{L}/rules{rule_seed}/{process}/"
              "shard{shard}")
CORR_THEORY = "results/rhm/correlations/theory/{experiment}/L{L}"
CORR = "results/rhm/correlations"
CORR_FIGURES = "results/rhm/figures/correlations"
CONTROL_SHARD = "results/rhm/correlations/controls/{control}/{process}/shard{shard}"
SCALING = "results/rhm/scaling/{experiment}"
PHASE_DIR = "results/rhm/phase_diagram"
PHASE_SWEEP = f"{PHASE_DIR}/sweep/s{{s}}/v{{v}}/m{{m}}/rules{{rule_seed}}.parquet"
PHASE_KEPT = f"{PHASE_DIR}/kept.parquet"
PHASE_TABLE = f"{PHASE_DIR}/phase_diagram.parquet"
PHASE_FIGURES = "results/rhm/figures/phase_diagram"
CRITICAL = "results/rhm/critical"
POPULATION = f"{CRITICAL}/population/s{{s}}/v{{v}}/m{{m}}/replica{{replica}}.parquet"
POPULATION_WIDTHS = f"{CRITICAL}/population/s{{s}}/v{{v}}/m{{m}}/widths{{replica}}.parquet"
#: The population's own tables, ``{CRITICAL}/<name>.parquet`` (rule ``rhm_population_summary``).
POPULATION_SUMMARY_TABLES = ("population", "extrapolation", "local_exponents", "width_exponents")
DEPTH = "results/rhm/depth"
DEPTH_FIGURES = "results/rhm/figures/depth"
CONTROLS = ("gaussian_field", "flat_mixture", "random_code", "permuted_rhm")


def sweep_mem_mb(exp: dict, L: int) -> int:
    """A sweep job (one shard at depth L, or a phase-diagram point at its deepest tree): the
    libraries, its n_samples trees and the forward-backward of one batch
    (:func:`hierphase.memory.bp_sweep_bytes`)."""
    return job_mb(trees_bytes(exp["s"], L, exp["n_samples"]),
                  bp_sweep_bytes(exp["v"], exp["s"], L, exp["batch_size"]))


def corr_mem_mb(exp: dict, L: int, process: str) -> int:
    """A correlation sweep job of ``process`` at depth L: the libraries, the experiment's trees
    and the n_traj runs of one datum (:func:`hierphase.memory.bp_trajectories_bytes`)."""
    return job_mb(trees_bytes(exp["s"], L, exp["n_samples"]), bp_trajectories_bytes(
        exp["v"], exp["s"], L, exp["correlations"]["n_traj"], process))


def control_mem_mb(control: str, block: dict, process: str,
                   experiments: dict | None = None) -> int:
    """A control shard of ``process``: the libraries plus the package's estimate of its fields,
    mixture or codes and their runs (:func:`hierphase.memory.gaussian_field_bytes`,
    ``flat_mixture_bytes``, ``random_code_bytes`` at the longest code); the permuted RHM: a
    correlation sweep of its experiment (``experiments``) at its depth."""
    if control == "gaussian_field":
        return job_mb(gaussian_field_bytes(block["shape"], block["n_x0"], block["n_traj"]))
    if control == "random_code":
        from hierphase.theory import code_size

        d = max(block["d"])
        return job_mb(random_code_bytes(code_size(block["v"], d, block["flip_noise"]), d,
                                        block["n_traj"]))
    if control == "permuted_rhm":
        exp = experiments[block["experiment"]]
        return job_mb(trees_bytes(exp["s"], block["L"], exp["n_samples"]), bp_trajectories_bytes(
            exp["v"], exp["s"], block["L"], block["n_traj"], "epsilon"))
    return job_mb(flat_mixture_bytes(block["v"], block["n_classes"], block["d"], block["n_traj"],
                                     process))


#: The config key that sizes each control most, named when it does not fit.
CONTROL_SIZE_KEYS = {"gaussian_field": "shape", "flat_mixture": "d", "random_code": "d",
                     "permuted_rhm": "n_traj"}


def data_mem_mb(n_samples: int, s: int, L: int) -> int:
    """The clean data: n_samples trees drawn (:func:`hierphase.memory.trees_bytes`)."""
    return job_mb(trees_bytes(s, L, n_samples))


class RhmBranch(ExperimentBranch):
    """RHM branch: rules -> data -> sweeps -> kept tables, theory, correlations, finite-size
    scaling and the phase diagram."""

    name = "rhm"
    description = "Exact BP branch on the Random Hierarchy Model."
    # the file patterns, for the rules
    (RULES, TREES, SWEEP, KEPT, THEORY, THEORY_SUMMARY, FIGURES, CORR_SHARD, CORR_THEORY,
     CORR, CORR_FIGURES, CONTROL_SHARD, SCALING, PHASE_DIR, PHASE_SWEEP, PHASE_KEPT,
     PHASE_TABLE, PHASE_FIGURES, CRITICAL, POPULATION, POPULATION_WIDTHS, DEPTH) = (
        RULES, TREES, SWEEP, KEPT, THEORY, THEORY_SUMMARY, FIGURES, CORR_SHARD,
        CORR_THEORY, CORR, CORR_FIGURES, CONTROL_SHARD, SCALING, PHASE_DIR, PHASE_SWEEP,
        PHASE_KEPT, PHASE_TABLE, PHASE_FIGURES, CRITICAL, POPULATION, POPULATION_WIDTHS, DEPTH)

    # ------------------------------------------------------------------ checks
    def check(self) -> None:
        """Constraints between keys, which JSON schema cannot express (the package's own
        ``validate_params`` for every depth, the depth shown level by level), memory, jobs."""
        from hierphase.finite_size import check_plan as check_scaling_plan
        from hierphase.schedule import GaussianSchedule

        rhm, ctx = self.config, self.context
        package_check("rhm.schedule", lambda: GaussianSchedule(**rhm["schedule"]))
        jobs = self.jobs
        for name, exp in rhm["experiments"].items():
            key = f"rhm.experiments.{name}"
            corr = exp.get("correlations")  # absent or switched off: none
            if corr is not None and not corr["enabled"]:
                corr = None
            elif corr is not None:
                for required in ("L", "processes"):
                    if required not in corr:
                        raise ConfigError(f"{key}.correlations.{required}",
                                          "is required when correlations are enabled.")
            exp["correlations"] = corr
            for L in exp["L"]:
                check_rhm_params(key, exp["v"], exp["m"], exp["s"], L, exp["n_classes"])
            if exp["levels_L"] is not None and exp["levels_L"] not in exp["L"]:
                raise ConfigError(f"{key}.levels_L", f"levels_L = {exp['levels_L']} is not one "
                                  f"of the depths L = {exp['L']}.")
            L = max(exp["L"])
            ctx.check_mem_mb(f"{key}.n_samples", data_mem_mb(exp["n_samples"], exp["s"], L),
                             f"the clean data at L = {L} (n_samples trees of int64 symbols)")
            self.check_sweep_mem_mb(key, exp, L, "a sweep job")
            blocks = sum(len(grid) for grid in exp["processes"].values())
            jobs[f"{key}.processes"] = len(exp["L"]) * len(exp["rule_seeds"]) * (blocks + 2)
            if corr is not None:
                jobs[f"{key}.correlations.processes"] = self.check_correlations(
                    f"{key}.correlations", exp)
        controls = {name: block for name, block in rhm["controls"].items()
                    if block is not None and block["enabled"]}
        for name, block in controls.items():
            blocks = sum(len(grid) for grid in block["processes"].values())
            jobs[f"rhm.controls.{name}.processes"] = blocks
        if "random_code" in controls:
            self.check_random_code(controls["random_code"])
        if "permuted_rhm" in controls:
            self.check_permuted_rhm(controls["permuted_rhm"])
        for name, block in controls.items():
            for process in block["processes"]:
                ctx.check_mem_mb(f"rhm.controls.{name}.{CONTROL_SIZE_KEYS[name]}",
                                 control_mem_mb(name, block, process, rhm["experiments"]),
                                 f"a {name} control shard of {process} (its data and their "
                                 "n_traj runs)")
        rhm["controls"] = controls
        fss = rhm["finite_size_scaling"]
        package_check("rhm.finite_size_scaling", lambda: check_scaling_plan(
            {n: (e["L"], list(e["processes"])) for n, e in rhm["experiments"].items()},
            fss["experiments"], fss["processes"], fss["L_min"], fss["L_max"]))
        if fss["experiments"]:
            jobs["rhm.finite_size_scaling.experiments"] = 3 * len(fss["experiments"])
        self.phase_points = self.check_phase_diagram()
        self.population_points = self.check_population()
        self.depth_estimate = self.check_depth_estimate()

    def check_depth_estimate(self) -> dict | None:
        """The depth-estimate block (absent or off: None): its experiment measures change
        correlations of the epsilon-process, the calibration RHMs are among them with two depths
        at least, and one RHM at least is left to estimate; returns the block."""
        block = self.config.get("depth_estimate")
        if block is None or not block["enabled"]:
            return None
        key = "rhm.depth_estimate"
        exp = self.config["experiments"].get(block["experiment"])
        if exp is None:
            raise ConfigError(f"{key}.experiment", f"no experiment {block['experiment']!r}; "
                              f"there are {sorted(self.config['experiments'])}.")
        corr = exp["correlations"]
        if corr is None or "epsilon" not in corr["processes"]:
            raise ConfigError(f"{key}.experiment", f"{block['experiment']} measures no change "
                              "correlations of the epsilon-process: the depth is read off them.")
        cal = block["calibration"]
        for what, have in (("L", corr["L"]), ("rule_seeds", corr["rule_seeds"])):
            missing = sorted(set(cal[what]) - set(have))
            if missing:
                raise ConfigError(f"{key}.calibration.{what}", f"{missing} are not among the "
                                  f"{what} of {block['experiment']}'s correlations ({have}).")
        if len(set(cal["L"])) < 2:
            raise ConfigError(f"{key}.calibration.L", "needs two depths at least: the calibration "
                              "is a line in the depth.")
        if len(corr["L"]) * len(corr["rule_seeds"]) <= len(set(cal["L"])) * len(set(cal["rule_seeds"])):
            raise ConfigError(f"{key}.calibration", f"every RHM of {block['experiment']}'s "
                              "correlations is in the calibration: none is left to estimate.")
        self.jobs[f"{key}.experiment"] = 2
        return block

    def check_population(self) -> list[tuple[int, int, int]]:
        """The population-dynamics block (absent or off: no points): every (v, m, s) legal at its
        depth with a transition in mean field (the replicas bisect for it); returns the points
        (s, v, m)."""
        from hierphase.theory import critical_noise

        block = self.config.get("population")
        if block is None or not block["enabled"]:
            return []
        key = "rhm.population"
        points = []
        for i, point in enumerate(block["points"]):
            v, m, s = point["v"], point["m"], point["s"]
            check_rhm_params(f"{key}.points[{i}]", v, m, s,
                             max(block["depths"] + block["width_depths"]), v)
            if critical_noise(v, m, s) is None:
                raise ConfigError(f"{key}.points[{i}]", f"(v, m, s) = ({v}, {m}, {s}) has no "
                                  "transition in mean field: the population flows to chance at "
                                  "every noise, so there is no eps* to find.")
            points.append((s, v, m))
        if len(set(points)) != len(points):
            raise ConfigError(f"{key}.points", "a point is listed twice")
        # the replicas (and their widths), the critical table and the check against exact BP,
        # RHM by RHM
        per_replica = 2 if block["width_depths"] else 1
        self.jobs[f"{key}.replicas"] = len(points) * block["replicas"] * per_replica + 2
        return points

    def check_random_code(self, block: dict) -> None:
        """Every length a power of 2 (the tokens are binned on a binary tree, as the RHM's
        leaves), and few enough codewords to enumerate."""
        from hierphase.theory import code_size

        key = "rhm.controls.random_code"
        for d in block["d"]:
            if d & (d - 1):
                raise ConfigError(f"{key}.d", f"d = {d} is not a power of 2: the tokens are binned "
                                  "by their tree distance on a binary tree, as the RHM's leaves.")
            package_check(key, lambda d=d: code_size(block["v"], d, block["flip_noise"]))

    def check_permuted_rhm(self, block: dict) -> None:
        """The RHM it permutes: an experiment of this config, one of its depths and rule draws,
        data enough."""
        key = "rhm.controls.permuted_rhm"
        exp = self.config["experiments"].get(block["experiment"])
        if exp is None:
            raise ConfigError(f"{key}.experiment", f"no experiment {block['experiment']!r}; "
                              f"there are {sorted(self.config['experiments'])}.")
        if block["L"] not in exp["L"]:
            raise ConfigError(f"{key}.L", f"L = {block['L']} is not among the depths of "
                              f"{block['experiment']} ({exp['L']}): it permutes that RHM's data.")
        if block["rule_seed"] is None:
            block["rule_seed"] = exp["rule_seeds"][0]
        if block["rule_seed"] not in exp["rule_seeds"]:
            raise ConfigError(f"{key}.rule_seed", f"rule draw {block['rule_seed']} is not among "
                              f"{block['experiment']}'s rule_seeds = {exp['rule_seeds']}.")
        if block["n_x0"] > exp["n_samples"]:
            raise ConfigError(f"{key}.n_x0", f"n_x0 = {block['n_x0']} exceeds "
                              f"{block['experiment']}'s n_samples = {exp['n_samples']}.")

    def check_sweep_mem_mb(self, key: str, exp: dict, L: int, what: str) -> None:
        """A sweep job at depth L within max_mem_mb (:func:`sweep_mem_mb`); its batch grows
        linearly with batch_size: named when some batch fits beside the data, else the depth."""
        ctx = self.context
        needs = sweep_mem_mb(exp, L)
        if needs <= ctx.max_mem_mb:
            return
        data = job_mb(trees_bytes(exp["s"], L, exp["n_samples"]))
        fits = (ctx.max_mem_mb - data) * MIB // bp_sweep_bytes(exp["v"], exp["s"], L, 1)
        ctx.check_mem_mb(f"{key}.batch_size" if fits >= 1 else f"{key}.L", needs,
                         f"{what} at L = {L} (v = {exp['v']}, s = {exp['s']}, batch_size = "
                         f"{exp['batch_size']}; at this depth batch_size <= {max(fits, 0)} fits)")

    def check_correlations(self, key: str, exp: dict) -> int:
        """The correlation block of one experiment: depths among the experiment's, data enough,
        memory; returns the jobs it plans."""
        corr = exp["correlations"]
        missing = sorted(set(corr["L"]) - set(exp["L"]))
        if missing:
            raise ConfigError(f"{key}.L", f"depths {missing} are not among the experiment's L = "
                              f"{exp['L']}: the correlations use its rules and data.")
        if corr["rule_seeds"] is None:
            corr["rule_seeds"] = list(exp["rule_seeds"])
        missing = sorted(set(corr["rule_seeds"]) - set(exp["rule_seeds"]))
        if missing:
            raise ConfigError(f"{key}.rule_seeds", f"rule draws {missing} are not among the "
                              f"experiment's rule_seeds = {exp['rule_seeds']}.")
        if corr["n_x0"] > exp["n_samples"]:
            raise ConfigError(f"{key}.n_x0", f"n_x0 = {corr['n_x0']} exceeds the experiment's "
                              f"n_samples = {exp['n_samples']}.")
        L = max(corr["L"])
        for process in corr["processes"]:
            self.context.check_mem_mb(
                f"{key}.n_traj", corr_mem_mb(exp, L, process),
                f"a correlation sweep job of {process} at L = {L} (n_traj = {corr['n_traj']})")
        blocks = sum(len(grid) for grid in corr["processes"].values())
        return len(corr["L"]) * len(corr["rule_seeds"]) * blocks + len(corr["L"])

    def check_phase_diagram(self) -> dict | None:
        """The phase-diagram block (absent or switched off: None): every (v, m, s) of every grid
        legal at every depth (the key named with its grid's index), a point listed twice only
        with the same depths, eps values enough, memory; returns its points {(s, v, m): depths}."""
        block = self.config.get("phase_diagram")
        if block is None or not block["enabled"]:
            return None
        key = "rhm.phase_diagram"
        if "grids" not in block:
            raise ConfigError(f"{key}.grids", "is required when the phase diagram is enabled.")
        # counted before any point is enumerated ("m: all" at a large v is v^(s-1) points each):
        # past max_jobs the plan's job check refuses it, naming the key that plans most
        most = sum(v ** (grid["s"] - 1) if grid["m"] == "all" else len(grid["m"])
                   for grid in block["grids"] for v in grid["v"])
        if most * len(block["rule_seeds"]) > self.context.max_jobs:
            self.jobs[f"{key}.grids"] = most * len(block["rule_seeds"]) + 4
            return None
        points: dict[tuple[int, int, int], list[int]] = {}
        for i, grid in enumerate(block["grids"]):
            gkey = f"{key}.grids.{i}"
            depths = sorted(grid["L"])

            def check_point(v, m, L):
                try:
                    check_rhm_params(gkey, v, m, grid["s"], L, block["n_classes"])
                except ConfigError as e:
                    where = e.key.replace(gkey, key) if e.key.endswith(".n_classes") else e.key
                    raise ConfigError(where, f"at v = {v}, m = {m}: {e.message}") from None

            for v in grid["v"]:
                ms = range(1, v ** (grid["s"] - 1) + 1) if grid["m"] == "all" else grid["m"]
                # the constraints on m are bounds: every m of the grid is legal at (v, L) when its
                # smallest and largest are; else the first that is not is named (a grid of
                # 10^5 points is checked in milliseconds, not point by point)
                for L in grid["L"]:
                    try:
                        for m in (min(ms), max(ms)):
                            check_rhm_params(gkey, v, m, grid["s"], L, block["n_classes"])
                    except ConfigError:
                        for m in ms:
                            check_point(v, m, L)
                for m in ms:
                    point = (grid["s"], v, m)
                    if points.setdefault(point, depths) != depths:
                        raise ConfigError(
                            f"{gkey}.L", f"the point s = {point[0]}, v = {v}, m = {m} is in "
                            f"another grid with depths {points[point]}; one point has one set of "
                            "depths.")
        if len(blocks_values(block["eps"])) < 3:
            raise ConfigError(f"{key}.eps", "needs at least 3 distinct noise values (a class "
                              "curve and its half point).")
        s, v, _ = widest = max(points, key=lambda p: p[1] * p[0] ** max(points[p]))
        L = max(points[widest])
        self.context.check_mem_mb(
            f"{key}.n_samples", data_mem_mb(block["n_samples"], s, L),
            f"the clean data at s = {s}, L = {L} (n_samples trees of int64 symbols)")
        self.check_sweep_mem_mb(key, {**block, "s": s, "v": v}, L,
                                f"a phase-diagram sweep at s = {s}, v = {v}")
        self.jobs[f"{key}.grids"] = len(points) * len(block["rule_seeds"]) + 4
        return points

    # ------------------------------------------------------------------ views of the config
    @property
    def corr_experiments(self) -> dict:
        return {n: e for n, e in self.experiments.items() if e["correlations"] is not None}

    @property
    def controls(self) -> dict:
        return self.config["controls"]

    @property
    def scaling(self) -> dict:
        return self.config["finite_size_scaling"]

    @property
    def phase(self) -> dict | None:
        return self.config.get("phase_diagram")

    @property
    def critical(self) -> dict:
        """Mean-field (eps*, nu) of every experiment with correlations; None without a
        transition."""
        if not hasattr(self, "_critical"):
            from hierphase.theory import critical_noise, nu

            self._critical = {name: (critical_noise(e["v"], e["m"], e["s"]), nu(e["v"], e["m"], e["s"]))
                              for name, e in self.corr_experiments.items()}
        return self._critical

    @property
    def a_infinite(self) -> dict:
        """Mean field's infinite-depth exponent of C per tree level at eps*
        (:func:`hierphase.theory.correlation_exponent`) of every experiment with correlations;
        None without a transition."""
        from hierphase.theory import correlation_exponent

        return {name: correlation_exponent(e["v"], e["m"], e["s"])
                for name, e in self.corr_experiments.items()}

    def wildcards(self) -> dict:
        from hierphase.schedule import TIME_PROCESSES

        processes = {p for e in self.experiments.values() for p in e["processes"]}
        processes |= {p for e in self.corr_experiments.values()
                      for p in e["correlations"]["processes"]}
        processes |= {p for c in self.controls.values() for p in c["processes"]}
        return {"experiment": set(self.experiments), "process": processes,
                "control": set(CONTROLS), "time_process": set(TIME_PROCESSES),
                "L": r"\d+", "rule_seed": r"\d+", "shard": r"\d+", "replica": r"\d+",
                "s": r"\d+", "v": r"\d+", "m": r"\d+"}

    # ------------------------------------------------------------------ per-job values
    def levels_L(self, wildcards) -> int:
        exp = self.exp(wildcards)
        return exp["levels_L"] or max(exp["L"])

    def depths(self, wildcards) -> list[int]:
        return self.exp(wildcards)["L"]

    def job_seed(self, stage: str, *extra_wildcards: str):
        """A params function: the seed of one job of ``stage`` from its experiment, depth, rule
        draw and the named extra wildcards."""
        return lambda wc: self.seed(stage, wc.experiment, int(wc.L), int(wc.rule_seed),
                                    *(getattr(wc, w) for w in extra_wildcards))

    def schedule(self, wildcards):
        """The Gaussian schedule of a time-based process (its t/T -> step), else None."""
        from hierphase.schedule import TIME_PROCESSES

        return self.config["schedule"] if wildcards.process in TIME_PROCESSES else None

    def sweep_values(self, wildcards) -> list[float]:
        return block_values(self.exp(wildcards)["processes"][wildcards.process][int(wildcards.shard)])

    def corr(self, wildcards) -> dict:
        return self.exp(wildcards)["correlations"]

    def corr_param(self, key: str):
        return lambda wc: self.corr(wc)[key]

    def corr_values(self, wildcards) -> list[float]:
        return block_values(self.corr(wildcards)["processes"][wildcards.process][int(wildcards.shard)])

    def sweep_mem_mb(self, wildcards) -> int:
        return sweep_mem_mb(self.exp(wildcards), int(wildcards.L))

    def corr_mem_mb(self, wildcards) -> int:
        return corr_mem_mb(self.exp(wildcards), int(wildcards.L), wildcards.process)

    def data_mem_mb(self, wildcards) -> int:
        exp = self.exp(wildcards)
        return data_mem_mb(exp["n_samples"], exp["s"], int(wildcards.L))

    def control_inputs(self, wildcards) -> dict:
        """Input function: the permuted RHM's rules and data; nothing for the other controls."""
        if wildcards.control != "permuted_rhm":
            return {}
        block = self.controls["permuted_rhm"]
        keys = dict(experiment=block["experiment"], L=block["L"], rule_seed=block["rule_seed"])
        return {"rules": RULES.format(**keys), "trees": TREES.format(**keys)}

    def control_mem_mb(self, wildcards) -> int:
        return control_mem_mb(wildcards.control, self.controls[wildcards.control],
                              wildcards.process, self.experiments)

    def control(self, wildcards) -> dict:
        """A control's settings but its noise grid."""
        return {k: v for k, v in self.controls[wildcards.control].items() if k != "processes"}

    def control_values(self, wildcards) -> list[float]:
        block = self.controls[wildcards.control]["processes"][wildcards.process]
        return block_values(block[int(wildcards.shard)])

    def control_seed(self, wildcards) -> int:
        return self.seed("control", wildcards.control)

    def sweep_shards(self, wildcards) -> list[str]:
        """Every shard of one experiment: L x rule seed x process x grid block."""
        exp = self.exp(wildcards)
        return [SWEEP.format(experiment=wildcards.experiment, L=L, rule_seed=r, process=process,
                             shard=k)
                for L in exp["L"] for r in exp["rule_seeds"]
                for process, blocks in exp["processes"].items() for k in range(len(blocks))]

    def theory_tables(self, wildcards) -> list[str]:
        return [THEORY.format(experiment=wildcards.experiment, L=L)
                for L in self.exp(wildcards)["L"]]

    def corr_inputs(self, table: str):
        """Input function: the ``table`` (correlations or susceptibility) of every correlation
        shard of every experiment, and the mean-field one of every (experiment, L) with an epsilon
        grid, and of every control shard."""

        def inputs(wildcards=None):
            paths = []
            for name, exp in self.corr_experiments.items():
                corr = exp["correlations"]
                paths += [f"{CORR_SHARD}/{table}.parquet".format(
                              experiment=name, L=L, rule_seed=r, process=process, shard=k)
                          for L in corr["L"] for r in corr["rule_seeds"]
                          for process, blocks in corr["processes"].items()
                          for k in range(len(blocks))]
                if "epsilon" in corr["processes"]:
                    paths += [f"{CORR_THEORY}/{table}.parquet".format(experiment=name, L=L)
                              for L in corr["L"]]
            for control, block in self.controls.items():
                paths += [f"{CONTROL_SHARD}/{table}.parquet".format(
                              control=control, process=process, shard=k)
                          for process, blocks in block["processes"].items()
                          for k in range(len(blocks))]
            return paths

        return inputs

    def exponents_seed(self) -> int:
        return self.seed("correlation-exponents")

    def eps_star(self, wildcards) -> float | None:
        return self.critical[wildcards.experiment][0]

    # critical point
    def population_setting(self, key: str):
        """A population-dynamics setting (None when it is off)."""
        return self.config["population"][key] if self.population_points else None

    def population_seed(self, wildcards) -> int:
        return self.seed("population", int(wildcards.s), int(wildcards.v), int(wildcards.m),
                         int(wildcards.replica))

    def population_mem_mb(self, wildcards) -> int:
        """One replica: at one noise value per depth (the half points' root finding, three at
        least for the derivative), one level's rule products, ``(v, n_per_value, v * m)``
        weights, and about three more arrays of that size, float64. Its widths run one depth
        at a time, so this bounds them too."""
        block = self.config["population"]
        n_eps = max(3, len(block["depths"]))
        return job_mb(self._population_run_bytes(int(wildcards.v), int(wildcards.m), n_eps))

    def _population_run_bytes(self, v: int, m: int, n_eps: int) -> int:
        """A population run at ``n_eps`` noise values: per value one level's rule products,
        ``(v, n_per_value, v * m)`` float64 weights, and about three more arrays that size."""
        return 8 * n_eps * 4 * v * self.config["population"]["n_per_value"] * v * m

    #: Independent population runs per RHM in rule rhm_same_rules: the population's own noise at
    #: fixed rules (2e-4 to 4e-4 in the half point at 200 messages per value, v=32 m=8) over
    #: sqrt(2), below exact BP's error (1e-3 and more at the default's and the paper's data).
    SAME_RULES_PICKS = 2

    def same_rules_experiments(self) -> dict:
        """The experiments that rule rhm_same_rules checks RHM by RHM (exact BP against the
        population with the same rules): those whose (v, m, s) is a population point and whose
        epsilon-process is swept; each with (v, m, s), n_classes and its draws ``[L, rule_seed,
        seed of its rules]`` (the seeds rule rhm_rules draws them from)."""
        points = set(self.population_points)
        return {name: {"v": e["v"], "m": e["m"], "s": e["s"],
                       "n_classes": self.n_classes(SimpleNamespace(experiment=name)),
                       "draws": [[L, rs, self.seed("rules", name, L, rs)]
                                 for L in e["L"] for rs in e["rule_seeds"]]}
                for name, e in self.experiments.items()
                if (e["s"], e["v"], e["m"]) in points and "epsilon" in e["processes"]}

    def same_rules_inputs(self, wildcards=None) -> list[str]:
        """Input function: the kept table of every experiment rhm_same_rules checks."""
        return [KEPT.format(experiment=name) for name in self.same_rules_experiments()]

    def same_rules_mem_mb(self, wildcards=None) -> int:
        """The largest population run of one RHM: three noise values at one depth (as
        :meth:`population_mem_mb`), and the experiments' kept tables."""
        runs = [self._population_run_bytes(e["v"], e["m"], 3)
                for e in self.same_rules_experiments().values()]
        return job_mb(max(runs, default=0) + 2**28)

    def population_tables(self, pattern: str = POPULATION) -> list[str]:
        """Every replica's table of ``pattern`` (its half points, or its widths)."""
        block = self.config.get("population")
        return [pattern.format(s=s, v=v, m=m, replica=r) for (s, v, m) in
                self.population_points for r in range(block["replicas"])]

    def critical_scaled(self) -> list[str]:
        """The experiments with finite-size scaling, in the order of their scaling inputs."""
        return list(self.scaling["experiments"]) if self.population_points else []

    def critical_experiments(self) -> dict:
        """(v, m, s) of every experiment, for matching them with the population's points."""
        return {name: {k: e[k] for k in ("v", "m", "s")} for name, e in self.experiments.items()}

    def population_summary_inputs(self, wildcards=None) -> dict:
        """Input function: every replica and its widths (with width depths)."""
        return {"replicas": self.population_tables(),
                "widths": (self.population_tables(POPULATION_WIDTHS)
                           if self.population_setting("width_depths") else [])}

    def critical_inputs(self, wildcards=None) -> dict:
        """Input function: the population's tables (rule ``rhm_population_summary``), the scaling
        table of every scaled experiment and, with correlations, the exponents table."""
        inputs = {**{t: f"{CRITICAL}/{t}.parquet" for t in POPULATION_SUMMARY_TABLES},
                  "scaling": [f"{SCALING}/scaling.parquet".format(experiment=n)
                              for n in self.critical_scaled()]}
        if self.corr_experiments:
            inputs["exponents"] = f"{CORR}/exponents.parquet"
        return inputs

    # depth estimate
    def depth_setting(self, key: str):
        """A depth-estimate setting (None when it is off)."""
        return None if self.depth_estimate is None else self.depth_estimate[key]

    # phase diagram
    def phase_point(self, wildcards) -> tuple[int, int, int]:
        """(s, v, m) of a phase-diagram job."""
        return int(wildcards.s), int(wildcards.v), int(wildcards.m)

    def phase_depths(self, wildcards) -> list[int]:
        return self.phase_points[self.phase_point(wildcards)]

    def phase_mem_mb(self, wildcards) -> int:
        """A phase-diagram sweep's memory: that of a kept sweep at the point's deepest tree."""
        s, v, m = self.phase_point(wildcards)
        return sweep_mem_mb({**self.phase, "s": s, "v": v}, max(self.phase_points[(s, v, m)]))

    def phase_seed(self, wildcards) -> int:
        return self.seed("phase-diagram", *self.phase_point(wildcards), int(wildcards.rule_seed))

    def phase_setting(self, key: str):
        """A phase-diagram setting (None when the phase diagram is off)."""
        return self.phase[key] if self.phase_points else None

    def phase_values(self) -> list[float]:
        return blocks_values(self.phase["eps"]) if self.phase_points else []

    def phase_sweeps(self, wildcards=None) -> list[str]:
        """Every phase-diagram sweep: point x rule draw."""
        return [PHASE_SWEEP.format(s=s, v=v, m=m, rule_seed=r)
                for (s, v, m) in self.phase_points for r in self.phase["rule_seeds"]]

    # ------------------------------------------------------------------ targets and figures
    def targets(self) -> list[str]:
        """Per experiment the kept table and the theory summary; finite-size scaling's tables;
        the correlation tables; the phase-diagram tables; every figure."""
        targets = []
        for name in self.experiments:
            targets += [KEPT.format(experiment=name), THEORY_SUMMARY.format(experiment=name)]
        for name in self.scaling["experiments"]:
            targets += [f"{SCALING}/{t}.{ext}".format(experiment=name)
                        for t in ("scaling", "points") for ext in ("parquet", "csv")]
        if self.corr_experiments or self.controls:
            targets += [f"{CORR}/{t}.parquet"
                        for t in ("correlations", "susceptibility", "exponents", "lengths",
                                  "level_exponents", "signature")]
        if self.phase_points is not None:
            targets += [PHASE_TABLE, PHASE_KEPT]
        if self.population_points:
            targets += [f"{CRITICAL}/{t}.parquet"
                        for t in (*POPULATION_SUMMARY_TABLES, "estimates")]
            if self.same_rules_experiments():
                targets.append(f"{CRITICAL}/same_rules.parquet")
        if self.depth_estimate is not None:
            targets += [f"{DEPTH}/{t}.parquet" for t in ("estimates", "calibration")]
        return targets + [t for fig in self.figures() for t in fig.targets()]

    def figure(self, rule: str, path: str, caption: str, category: str, **fields) -> Figure:
        return Figure(rule=rule, path=path, caption=f"rhm/{caption}.rst",
                      category=category, draw=f"hierphase.stages.figures.rhm:{rule}",
                      conda="../../envs/rhm.yaml",
                      log="logs/" + path.removeprefix("results/") + ".log", **fields)

    def figures(self) -> list[Figure]:
        from hierphase.schedule import TIME_PROCESSES

        exact, corr = "RHM, exact BP", "RHM, change correlations"
        each = "{experiment}"
        exps = self.experiments
        with_eps = tuple({"experiment": n} for n, e in exps.items() if "epsilon" in e["processes"])
        curves = {"kept": KEPT, "theory": self.theory_tables, "summary": THEORY_SUMMARY}
        n_classes, param = self.n_classes, self.param
        figures = [
            self.figure("rhm_fig_class_vs_eps", f"{FIGURES}/class_vs_eps", "class_vs_eps", exact,
                        subcategory=each, inputs=curves, instances=with_eps,
                        params={"depths": self.depths, "n_classes": n_classes}),
            self.figure("rhm_fig_levels_vs_eps", f"{FIGURES}/levels_vs_eps", "levels_vs_eps",
                        exact, subcategory=each, inputs=curves, instances=with_eps,
                        params={"depth": self.levels_L, "n_classes": n_classes}),
            self.figure("rhm_fig_time", f"{FIGURES}/time_{{time_process}}", "time", exact,
                        subcategory=each, inputs={"kept": KEPT},
                        instances=tuple({"experiment": n, "time_process": p}
                                        for n, e in exps.items() for p in TIME_PROCESSES
                                        if p in e["processes"]),
                        params={"depths": self.depths, "depth": self.levels_L,
                                "n_classes": n_classes}),
            self.figure("rhm_fig_cobweb", f"{FIGURES}/cobweb", "cobweb", exact, subcategory=each,
                        inputs={"summary": THEORY_SUMMARY},
                        instances=tuple({"experiment": n} for n in exps),
                        params={"v": param("v"), "m": param("m"), "s": param("s"),
                                "depth": self.levels_L}, mem_mb=1000, runtime=5),
        ]
        corr_exps = self.corr_experiments
        transition = tuple({"experiment": n} for n, e in corr_exps.items()
                           if "epsilon" in e["correlations"]["processes"]
                           and self.critical[n][0] is not None)
        pooled = {"correlations": f"{CORR}/correlations.parquet",
                  "susceptibility": f"{CORR}/susceptibility.parquet"}
        with_lengths = {**pooled, "lengths": f"{CORR}/lengths.parquet"}
        on = bool(corr_exps or self.controls)
        figures += [
            self.figure("rhm_corr_fig_c_of_r", f"{CORR_FIGURES}/{each}/c_of_r_{{process}}",
                        "corr_c_of_r", corr, subcategory=each,
                        inputs={"correlations": pooled["correlations"]},
                        instances=tuple({"experiment": n, "process": p} for n, e in
                                        corr_exps.items() for p in e["correlations"]["processes"]),
                        params={"L": lambda wc: max(self.corr(wc)["L"]),
                                "eps_star": self.eps_star}),
            self.figure("rhm_corr_fig_chi", f"{CORR_FIGURES}/{each}/chi", "corr_chi", corr,
                        subcategory=each, inputs={"susceptibility": pooled["susceptibility"]},
                        instances=tuple({"experiment": n} for n in corr_exps),
                        params={"eps_star": self.eps_star}),
            self.figure("rhm_corr_fig_xi_scaling", f"{CORR_FIGURES}/{each}/xi_scaling",
                        "corr_xi_scaling", corr, subcategory=each, inputs=with_lengths,
                        instances=transition,
                        params={"critical": lambda wc: self.critical[wc.experiment]}),
            self.figure("rhm_corr_fig_collapse", f"{CORR_FIGURES}/{each}/collapse",
                        "corr_collapse", corr, subcategory=each, inputs=with_lengths,
                        instances=transition, params={"eps_star": self.eps_star}),
            self.figure("rhm_corr_fig_controls", f"{CORR_FIGURES}/controls", "corr_controls",
                        corr, subcategory="controls", inputs=pooled,
                        instances=({},) if on else (),
                        params={"eps_star": {n: c[0] for n, c in self.critical.items()}}),
        ]
        with_levels = tuple({"experiment": n} for n, e in corr_exps.items()
                            if "epsilon" in e["correlations"]["processes"]
                            and self.a_infinite[n] is not None)
        figures += [
            self.figure("rhm_corr_fig_level_exponents", f"{CORR_FIGURES}/{each}/level_exponents",
                        "corr_level_exponents", corr, subcategory=each,
                        inputs={"table": f"{CORR}/level_exponents.parquet"},
                        instances=with_levels),
            self.figure("rhm_corr_fig_signature", f"{CORR_FIGURES}/signature", "corr_signature",
                        corr, subcategory="controls",
                        inputs={"summary": f"{CORR}/signature.parquet", **pooled},
                        instances=({},) if on else ()),
        ]
        figures.append(
            self.figure("rhm_fig_depth_estimate", f"{DEPTH_FIGURES}/depth_estimate",
                        "depth_estimate", corr, subcategory="controls",
                        inputs={"estimates": f"{DEPTH}/estimates.parquet",
                                "calibration": f"{DEPTH}/calibration.parquet"},
                        instances=({},) if self.depth_estimate is not None else ()))
        phase = ({},) if self.phase_points is not None else ()
        table = {"table": PHASE_TABLE}
        figures += [
            self.figure("rhm_fig_phase_plane", f"{PHASE_FIGURES}/plane", "phase_plane", exact,
                        subcategory="phase diagram", inputs=table, instances=phase),
            self.figure("rhm_fig_phase_eps_star", f"{PHASE_FIGURES}/eps_star", "phase_eps_star",
                        exact, subcategory="phase diagram", inputs=table, instances=phase),
        ]
        scaled = tuple({"experiment": n} for n in self.scaling["experiments"])
        processes = self.scaling["processes"]
        figures += [
            self.figure("rhm_fig_scaling_collapse", f"{FIGURES}/scaling_collapse",
                        "scaling_collapse", exact, subcategory=each,
                        inputs={"kept": KEPT, "scaling": f"{SCALING}/scaling.parquet"},
                        instances=scaled,
                        params={"v": param("v"), "m": param("m"), "s": param("s"),
                                "n_classes": n_classes, "processes": processes}),
            self.figure("rhm_fig_scaling_extrapolation", f"{FIGURES}/scaling_extrapolation",
                        "scaling_extrapolation", exact, subcategory=each,
                        inputs={"points": f"{SCALING}/points.parquet",
                                "scaling": f"{SCALING}/scaling.parquet"},
                        instances=scaled,
                        params={"v": param("v"), "m": param("m"), "s": param("s"),
                                "processes": processes}),
        ]
        return figures
