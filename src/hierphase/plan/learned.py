"""Planning of the learned branch (trained denoisers on RHM data): config checks through the
package's validators, memory and job counts, wildcard values, file patterns, seeds, targets and
figure table."""

from __future__ import annotations

from hierphase.memory import (bp_reference_bytes, bp_trajectories_bytes, job_mb,
                              tree_unet_correlation_bytes, tree_unet_generation_bytes,
                              tree_unet_sweep_bytes, tree_unet_training_bytes, trees_bytes)

from .branch import ExperimentBranch
from .checks import check_rhm_params, package_check
from .figures import Figure

__all__ = ["LearnedBranch"]

DIR = "results/learned"
RULES = f"{DIR}/rules/{{experiment}}/rules.pt"
# One trained model's folders: models/ (weights, loss) and eval/ (its generation and sweep tables)
RUN = "{experiment}/{process}/P{P}/seed{train_seed}"
MODEL = f"{DIR}/models/{RUN}"
EVAL = f"{DIR}/eval/{RUN}"
# Exact BP on the same states as the models, per (experiment, process)
BP_DIR = f"{DIR}/bp/{{experiment}}/{{process}}"
BP = f"{BP_DIR}/kept.parquet"
# Change correlations: per model in EVAL, exact BP in BP_DIR, pooled here
CORR = f"{DIR}/correlations"
CORR_TABLES = ("correlations", "susceptibility")
TABLES = f"{DIR}/tables"
FIGURES = f"{DIR}/figures"
# Learning curves: weights kept at these training steps (the last one is the model itself), and
# one validity table per (model, step)
SNAPSHOT = f"{MODEL}/snapshots/step{{step}}.pt"
CURVE_POINT = f"{EVAL}/curve/step{{step}}.parquet"


class LearnedBranch(ExperimentBranch):
    """Learned branch: rules -> per model train, generate, sweep, correlations; per (experiment,
    process) exact BP on the same states -> tables -> figures."""

    name = "learned"
    description = "Trained denoisers on RHM data, swept like exact BP."
    # the file patterns, for the rules
    (DIR, RULES, RUN, MODEL, EVAL, BP_DIR, BP, CORR, CORR_TABLES, TABLES, FIGURES,
     SNAPSHOT, CURVE_POINT) = (
        DIR, RULES, RUN, MODEL, EVAL, BP_DIR, BP, CORR, CORR_TABLES, TABLES, FIGURES,
        SNAPSHOT, CURVE_POINT)

    def check(self) -> None:
        """Constraints between keys through the package's own validators (RHM parameters,
        schedule, optimisation, network), the device, memory, jobs."""
        from hierphase.learned.settings import NetworkConfig
        from hierphase.schedule import GaussianSchedule

        learned, ctx = self.config, self.context
        package_check("learned.schedule", lambda: GaussianSchedule(**learned["schedule"]))
        for process in {p for e in learned["experiments"].values() for p in e["processes"]}:
            package_check("learned.training", lambda: self.training(process))
        ctx.check_device("learned.device", learned["device"])
        self.snapshots = package_check("learned.learning_curve", self.snapshot_steps)
        net = learned["network"]
        for name, exp in learned["experiments"].items():
            key = f"learned.experiments.{name}"
            check_rhm_params(key, exp["v"], exp["m"], exp["s"], exp["L"], exp["n_classes"])
            package_check("learned.network", lambda: NetworkConfig(
                in_channels=exp["v"] + 1, vocab=exp["v"], s=exp["s"], L=exp["L"],
                width=net["width"], blocks=net["blocks"], expansion=net["expansion"],
                time_conditioning=net["time_conditioning"]))
            sweep, per_data = self.sweep_bytes(exp), self.sweep_bytes(exp, batch_size=1)
            ctx.check_mem_mb("learned.evaluation.n_sweep" if 2 * per_data > sweep
                             else "learned.sampling.batch_size", job_mb(sweep),
                             f"a sweep job of experiment {name} (n_sweep = "
                             f"{learned['evaluation']['n_sweep']}, sampling batch_size = "
                             f"{learned['sampling']['batch_size']})")
            for n_key, n in self.generation_sizes().items():
                # the key of the largest part: the batch, the training set or the samples
                gen, unbatched = self.generation_bytes(exp, n), self.generation_bytes(exp, n, 1)
                training_set = self.generation_bytes(exp, 1, 1)
                drive = ("learned.sampling.batch_size" if 2 * (gen - unbatched) > gen
                         else f"{key}.P" if 2 * training_set > gen else n_key)
                ctx.check_mem_mb(drive, job_mb(gen), f"a generation job of experiment {name} "
                                 f"({n_key.split('.', 1)[1]} = {n}, P = {max(exp['P'])})")
            n_sweep, corr = learned["evaluation"]["n_sweep"], learned["correlations"]
            ctx.check_mem_mb("learned.evaluation.n_sweep", job_mb(self.reference_bytes(exp)),
                             f"exact BP's sweep of experiment {name} (n_sweep = {n_sweep})")
            n_runs = corr["n_x0"] * corr["n_traj"]
            for process in exp["processes"]:
                ctx.check_mem_mb("learned.correlations.n_traj", job_mb(max(
                    self.corr_bytes(exp, process), self.corr_bp_bytes(exp, process))),
                    f"a correlation job of experiment {name} ({n_runs} runs: n_x0 x n_traj)")
            batch, data = self.training_bytes(exp)
            ctx.check_mem_mb(f"{key}.P" if data > batch else "learned.training.batch_size",
                             job_mb(batch, data), f"a training job of experiment {name} "
                             f"(batch_size = {learned['training']['batch_size']}, "
                             f"P = {max(exp['P'])}, network width = {net['width']})")
            # per model: training, generation, sweep, correlations, a curve point per snapshot;
            # per process: rules, exact BP's sweep and correlations
            runs = len(exp["processes"]) * len(exp["P"]) * len(exp["seeds"])
            self.jobs[f"{key}.P"] = (4 + len(self.snapshots)) * runs + 3 * len(exp["processes"])

    def training_bytes(self, exp: dict, P: int | None = None) -> tuple[int, int]:
        """Bytes of a training job of ``exp`` (its largest P unless given): the network's
        training on one batch (:func:`hierphase.memory.tree_unet_training_bytes`, the input's
        channels at their most, v + 1) and its training set (P trees)."""
        net, v = self.config["network"], exp["v"]
        batch = tree_unet_training_bytes(v + 1, v, exp["s"], exp["L"], net["width"], net["blocks"],
                                         net["expansion"], self.config["training"]["batch_size"])
        return batch, trees_bytes(exp["s"], exp["L"], P or max(exp["P"]))

    def sweep_bytes(self, exp: dict, batch_size: int | None = None) -> int:
        """Bytes of a learned model's sweep job of ``exp`` (learned.evaluation.n_sweep data,
        sampled in batches of learned.sampling.batch_size unless given):
        :func:`hierphase.memory.tree_unet_sweep_bytes`."""
        net, learned = self.config["network"], self.config
        return tree_unet_sweep_bytes(exp["v"], exp["s"], exp["L"], net["width"], net["expansion"],
                                     learned["evaluation"]["n_sweep"],
                                     batch_size or learned["sampling"]["batch_size"])

    def generation_sizes(self) -> dict[str, int]:
        """Samples a generation job draws (learned.evaluation.n_generated) and, with a learning
        curve, a curve point's (learned.learning_curve.n_generated), by key."""
        sizes = {"learned.evaluation.n_generated": self.config["evaluation"]["n_generated"]}
        if self.snapshots:
            sizes["learned.learning_curve.n_generated"] = self.curve["n_generated"]
        return sizes

    def generation_bytes(self, exp: dict, n: int, batch_size: int | None = None,
                         P: int | None = None) -> int:
        """Bytes of a generation (or curve-point) job of ``exp`` drawing ``n`` samples in
        batches of learned.sampling.batch_size unless given, against the largest training set
        unless ``P``: :func:`hierphase.memory.tree_unet_generation_bytes`."""
        net = self.config["network"]
        return tree_unet_generation_bytes(
            exp["v"], exp["s"], exp["L"], net["width"], net["expansion"], n,
            batch_size or self.config["sampling"]["batch_size"], P or max(exp["P"]))

    def generation_mem_mb(self, wildcards) -> int:
        return job_mb(self.generation_bytes(self.exp(wildcards),
                                            self.config["evaluation"]["n_generated"],
                                            P=int(wildcards.P)))

    def curve_mem_mb(self, wildcards) -> int:
        return job_mb(self.generation_bytes(self.exp(wildcards), self.curve["n_generated"],
                                            P=int(wildcards.P)))

    def sweep_mem_mb(self, wildcards) -> int:
        return job_mb(self.sweep_bytes(self.exp(wildcards)))

    def train_mem_mb(self, wildcards) -> int:
        return job_mb(*self.training_bytes(self.exp(wildcards), int(wildcards.P)))

    def reference_bytes(self, exp: dict) -> int:
        """Bytes of exact BP's sweep of ``exp`` (learned.evaluation.n_sweep data at once):
        :func:`hierphase.memory.bp_reference_bytes`."""
        return bp_reference_bytes(exp["v"], exp["s"], exp["L"], self.config["evaluation"]["n_sweep"])

    def reference_mem_mb(self, wildcards) -> int:
        return job_mb(self.reference_bytes(self.exp(wildcards)))

    def corr_bytes(self, exp: dict, process: str) -> int:
        """Bytes of a learned model's correlation job of ``exp`` under ``process``
        (:func:`hierphase.memory.tree_unet_correlation_bytes`)."""
        net, corr = self.config["network"], self.config["correlations"]
        return tree_unet_correlation_bytes(
            exp["v"], exp["s"], exp["L"], net["width"], net["expansion"], corr["n_x0"],
            corr["n_traj"], self.config["sampling"]["batch_size"], process)

    def corr_mem_mb(self, wildcards) -> int:
        return job_mb(self.corr_bytes(self.exp(wildcards), wildcards.process))

    def corr_bp_bytes(self, exp: dict, process: str) -> int:
        """Bytes of exact BP's correlation job of ``exp`` under ``process``: posterior samples of
        the n_x0 x n_traj runs at once (:func:`hierphase.memory.bp_trajectories_bytes`)."""
        corr = self.config["correlations"]
        return bp_trajectories_bytes(exp["v"], exp["s"], exp["L"], corr["n_x0"] * corr["n_traj"],
                                     process)

    def corr_bp_mem_mb(self, wildcards) -> int:
        return job_mb(self.corr_bp_bytes(self.exp(wildcards), wildcards.process))

    def training(self, process: str):
        """TrainConfig of the models of ``process``: learned.training with that process's
        time_focus."""
        from hierphase.learned.settings import TrainConfig

        training = dict(self.config["training"])
        training["time_focus"] = training.get("time_focus", {}).get(process, {})
        return TrainConfig(**training)

    def snapshot_steps(self) -> list[int]:
        """Training steps whose weights the learning curves evaluate (learned.learning_curve)."""
        from hierphase.learned.curves import snapshot_steps

        curve = self.config.get("learning_curve", {})
        return snapshot_steps(self.config["training"]["steps"], curve["snapshots"], curve["first"])

    # ------------------------------------------------------------------ views of the config
    @property
    def curve(self) -> dict:
        return self.config.get("learning_curve", {})

    def wildcards(self) -> dict:
        return {"experiment": set(self.experiments),
                "process": {p for e in self.experiments.values() for p in e["processes"]},
                "P": r"\d+", "train_seed": r"\d+", "step": r"\d+"}

    # ------------------------------------------------------------------ per-job values
    def job_seed(self, stage: str):
        """A params function: the seed of one job (the branch's seed) from the wildcards its stage
        depends on: "rules" the experiment's rule draw; "data" the training set of (experiment,
        P, training seed), the same for every process; "train" and "generate" one model; "sweep"
        and "correlations" the test trees and noisy states of (experiment, process), shared by the
        learned models and exact BP."""

        def seed(wc):
            if stage == "rules":
                parts = (wc.experiment, self.exp(wc)["rule_seed"])
            elif stage == "data":
                parts = (wc.experiment, int(wc.P), int(wc.train_seed))
            elif stage in ("sweep", "correlations"):
                parts = (wc.experiment, wc.process)
            else:
                parts = (wc.experiment, wc.process, int(wc.P), int(wc.train_seed))
            return self.seed(stage, *parts)

        return seed

    def sample_steps(self, wildcards) -> int:
        """Reverse steps of the sampler of the job's process (learned.sampling.steps)."""
        return self.config["sampling"]["steps"][wildcards.process]

    def training_dict(self, wildcards) -> dict:
        return self.training(wildcards.process).to_dict()

    def grid(self, block: str):
        """A params function: the noise grid of the job's process in ``block`` (evaluation or
        correlations)."""
        return lambda wc: self.config[block]["grid"][wc.process]

    def runs(self) -> list[tuple]:
        """Every trained model: (experiment, process, P, seed)."""
        return [(name, proc, P, seed) for name, exp in self.experiments.items()
                for proc in exp["processes"] for P in exp["P"] for seed in exp["seeds"]]

    def run_files(self, kind: str) -> list[str]:
        """One file per trained model: the train/generation/sweep output named ``kind``."""
        folder = MODEL if kind == "loss" else EVAL
        return [f"{folder}/{kind}.parquet".format(experiment=e, process=p, P=P, train_seed=s)
                for e, p, P, s in self.runs()]

    def snapshot_outputs(self) -> list[str]:
        """The snapshot files of one training job (patterns): every snapshot step but the last,
        which is the model itself."""
        return [SNAPSHOT.replace("{step}", str(k)) for k in self.snapshots[:-1]]

    def snapshot_weights(self, wildcards) -> str:
        """The weights a curve point evaluates: the snapshot of its step, or the model at the
        last."""
        wc = dict(wildcards.items())
        if int(wc["step"]) == self.snapshots[-1]:
            return f"{MODEL}/model.pt".format(**wc)
        return SNAPSHOT.format(**wc)

    def rules_files(self) -> list[str]:
        """The rules file of every experiment (figures that need the RHM itself, e.g. its size)."""
        return [RULES.format(experiment=name) for name in self.experiments]

    def curve_files(self) -> list[str]:
        return [CURVE_POINT.format(experiment=e, process=p, P=P, train_seed=s, step=k)
                for e, p, P, s in self.runs() for k in self.snapshots]

    def bp_files(self, name: str = "kept") -> list[str]:
        """One file per (experiment, process) of exact BP: its kept table, or a correlation
        table."""
        return [f"{BP_DIR}/{name}.parquet".format(experiment=exp_name, process=proc)
                for exp_name, exp in self.experiments.items() for proc in exp["processes"]]

    def corr_files(self, name: str) -> list[str]:
        """Every model's and exact BP's correlation table ``name`` (correlations,
        susceptibility)."""
        return self.bp_files(name) + self.run_files(name)

    # ------------------------------------------------------------------ targets and figures
    def targets(self) -> list[str]:
        """Tables and every figure."""
        tables = [f"{TABLES}/{t}.csv" for t in ("kept", "evaluation", "validity", "distance", "loss")]
        if self.snapshots:
            tables += [f"{TABLES}/{t}.csv" for t in ("learning_curve", "sample_complexity")]
        tables += [f"{CORR}/{t}.csv" for t in (*CORR_TABLES, "chi_distance")]
        return [t for fig in self.figures() for t in fig.targets()] + tables

    def figure(self, rule: str, name: str, inputs: dict, **fields) -> Figure:
        caption = fields.pop("caption", name)
        return Figure(rule=rule, path=f"{FIGURES}/{name}", inputs=inputs,
                      caption=f"learned/{caption}.rst", category="RHM, learned denoisers",
                      draw=f"hierphase.stages.figures.learned:{rule}",
                      conda="../../envs/learned.yaml", log=f"logs/learned/figures/{name}.log",
                      **fields)

    def figures(self) -> list[Figure]:
        per_process = tuple({"experiment": n, "process": p}
                            for n, e in self.experiments.items() for p in e["processes"])
        curves = ({},) if getattr(self, "snapshots", None) else ()
        return [
            self.figure("learned_fig_kept", "kept_{experiment}_{process}",
                        {"kept": f"{TABLES}/kept.parquet"}, caption="kept",
                        subcategory="{experiment}", instances=per_process),
            self.figure("learned_corr_fig_chi", "chi_{experiment}_{process}",
                        {"susceptibility": f"{CORR}/susceptibility.parquet"}, caption="chi",
                        subcategory="{experiment}", instances=per_process),
            self.figure("learned_fig_distance", "distance",
                        {"distance": f"{TABLES}/distance.parquet"},
                        params={"tolerance": self.config["evaluation"]["tolerance"]}),
            self.figure("learned_fig_loss", "loss", {"loss": f"{TABLES}/loss.parquet"}),
            self.figure("learned_fig_validity_vs_P", "validity_vs_P",
                        {"validity": f"{TABLES}/validity.parquet"}),
            self.figure("learned_fig_memorized_vs_P", "memorized_vs_P",
                        {"evaluation": f"{TABLES}/evaluation.parquet",
                         "rules": self.rules_files()}),
            self.figure("learned_fig_learning_curve", "learning_curve",
                        {"curve": f"{TABLES}/learning_curve.parquet"}, instances=curves),
            self.figure("learned_fig_sample_complexity", "sample_complexity",
                        {"sample_complexity": f"{TABLES}/sample_complexity.parquet",
                         "rules": self.rules_files()},
                        caption="sample_complexity_fig", instances=curves),
        ]
