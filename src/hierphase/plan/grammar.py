"""Planning of the grammar branch (probabilistic context-free grammars denoised exactly by
inside-outside, beside an HMM control): config checks, memory and job counts, wildcard values,
file patterns, seeds, targets and figure table."""

from __future__ import annotations

import math
import re
from pathlib import Path

from hierphase.memory import job_mb

from .branch import ExperimentBranch, sidecar
from .checks import ConfigError, check_rhm_params
from .figures import Figure

__all__ = ["GrammarBranch", "noise_label", "shard_bytes", "shard_minutes", "MODELS", "SHARD_TABLES"]

DIR = "results/grammar"
EXP = f"{DIR}/{{experiment}}"
GRAMMAR = f"{EXP}/grammar.pt"
SENTENCES = f"{EXP}/sentences.pt"
HMM = f"{EXP}/hmm.pt"
# One shard: one (model, length, process, noise value); its four tables sit in this folder.
SHARD = f"{EXP}/shards/{{model}}/n{{n}}/{{process}}/noise{{noise}}"
TABLES = f"{EXP}/tables"
#: Across the experiments: where each grammar's class transition sharpens.
PHASE = f"{DIR}/phase/phase_diagram"
FIGURES = f"{DIR}/figures/{{experiment}}"
#: The tables of every shard, pooled per experiment under the same names.
SHARD_TABLES = ("kept", "correlations", "susceptibility", "cochange")
#: The finite-size tables of an experiment (from its pooled kept table).
FINITE_SIZE_TABLES = ("finite_size", "finite_size_fits")
#: The denoisers: the grammar's exact posterior, and the HMM control.
MODELS = ("grammar", "hmm")
PROCESSES = ("epsilon", "masking")
#: Multiply-adds per second one worker of the inside-outside kernels does, at least (a shard's
#: runtime is sized from it, twice over).
KERNEL_RATE = 2e8
#: Largest grammar file the planner reads to size the jobs (bytes).
MAX_FILE_BYTES = 16 * 2**20
#: The largest labelled-span posterior one kept-table pass holds at once
#: (hierphase.grammar.sweeps.SPAN_BYTES; repeated here so that the planner imports no torch).
SPAN_BYTES = 1 << 28
_TOKEN = re.compile(r"""'[^']*'|"[^"]*"|\[[^\]]*\]|[^\s'"\[\]|]+""")


def noise_label(value: float) -> str:
    """The noise value as it appears in a path: rounded to 6 decimals, trailing zeros dropped,
    one decimal kept (0.5 -> "0.5", 1 -> "1.0")."""
    text = f"{round(float(value), 6):.6f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def shard_bytes(n_sentences: int, n: int, n_nonterminals: int, n_terminals: int,
                n_traj: int) -> dict[str, int]:
    """Bytes of a shard job at length ``n``, by the config key that drives each part:
    ``n_sentences``, what grows with the sentences (their evidence, posterior tokens and the
    sampled trees' span charts); ``correlations.n_traj``, the evidence and samples of one x0's
    runs; ``lengths``, one pass's labelled-span posterior (at most :data:`SPAN_BYTES`, twice) and
    the inside and outside charts of one numba worker."""
    b, N, V = n_sentences, n_nonterminals, n_terminals
    return {"n_sentences": b * (4 * 8 * n * V + 8 * n * n + 8 * 8 * n),
            "correlations.n_traj": n_traj * (4 * 8 * n * V + 8 * 8 * n),
            "lengths": 2 * min(SPAN_BYTES, 8 * b * n * n * N) + 2 * 8 * n * n * N}


def shard_minutes(n_sentences: int, n: int, n_rules: int, n_runs: int) -> int:
    """Minutes a shard job asks for: 10, plus twice the inside-outside work at
    :data:`KERNEL_RATE` (about ``n**3 / 6`` multiply-adds per binary rule and sentence, two passes
    per sentence of the kept table and one per run of the correlations)."""
    work = (2 * n_sentences + n_runs) * n**3 / 6 * n_rules
    return 10 + math.ceil(2 * work / KERNEL_RATE / 60)


def _uncommented(line: str) -> str:
    """``line`` up to its first ``#`` outside a quoted terminal."""
    quote = None
    for pos, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            return line[:pos]
    return line


def _file_size(path: str) -> tuple[int, int, int]:
    """(symbols, terminals, binary rules) upper bounds of a grammar text file, without parsing
    it (the parser needs torch): every unquoted word may be a nonterminal (or a binarisation's
    auxiliary) and start a rule, every distinct quoted word is a terminal."""
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    words = [w for line in text.splitlines() for w in _TOKEN.findall(_uncommented(line))]
    quoted = {w for w in words if w[0] in "'\""}
    names = [w for w in words if w[0] not in "'\"[" and w not in ("->", "%start")]
    return max(2, len(names) + len(quoted)), max(1, len(quoted)), max(1, len(names))


class GrammarBranch(ExperimentBranch):
    """Grammar branch: per experiment a grammar -> sentences of each length with their trees and
    an HMM fitted to the grammar's sentences -> one shard per (model, length, process, noise
    value) -> pooled tables, finite-size table -> figures."""

    name = "grammar"
    description = "PCFGs denoised exactly by inside-outside, beside an HMM control."
    (DIR, GRAMMAR, SENTENCES, HMM, SHARD, TABLES, FIGURES, SHARD_TABLES, FINITE_SIZE_TABLES) = (
        DIR, GRAMMAR, SENTENCES, HMM, SHARD, TABLES, FIGURES, SHARD_TABLES, FINITE_SIZE_TABLES)

    # ------------------------------------------------------------------ checks
    def check(self) -> None:
        """What the schema cannot say: the source's own constraints (a random grammar's right-hand
        sides, the RHM's parameters, a file that exists), the lengths, the correlations' x0 and the
        control's lengths among the data, noise values distinct in their paths, memory, jobs."""
        #: (N, V, binary rules) of each experiment's grammar (a file's: upper bounds), for the
        #: jobs' memory and runtime
        self.sizes: dict[str, tuple[int, int, int]] = {}
        for name, exp in self.experiments.items():
            key = f"grammar.experiments.{name}"
            size = getattr(self, f"check_{exp['source']}")(key, exp)
            lengths = exp["lengths"]
            if lengths is None:
                raise ConfigError(f"{key}.lengths", f"is required for a {exp['source']} grammar "
                                  "(the sentence lengths to sweep, e.g. [16, 32, 64]).")
            exp["lengths"] = lengths = sorted(lengths)
            corr, control = exp["correlations"], exp["control"]
            if corr["n_x0"] > exp["n_sentences"]:
                raise ConfigError(f"{key}.correlations.n_x0", f"{corr['n_x0']} x0 of "
                                  f"n_sentences = {exp['n_sentences']}: the x0 are the first "
                                  "sentences of each length; lower it or raise n_sentences.")
            if control["enabled"]:
                chosen = control["lengths"] or [max(lengths)]
                missing = sorted(set(chosen) - set(lengths))
                if missing:
                    raise ConfigError(f"{key}.control.lengths", f"{missing} are not among the "
                                      f"experiment's lengths {lengths}.")
                control["lengths"] = sorted(chosen)
            else:
                control["lengths"] = []
            for process, values in exp["processes"].items():
                labels = [noise_label(v) for v in values]
                twice = sorted({x for x in labels if labels.count(x) > 1})
                if twice:
                    raise ConfigError(f"{key}.processes.{process}", f"values {twice} are given "
                                      "twice (after rounding to 6 decimals).")
            self.check_memory(key, exp, *size)
            shards = sum(len(v) for v in exp["processes"].values()) * (
                len(lengths) + len(control["lengths"]))
            # grammar, sentences, HMM, aggregate, finite size, four figures; the shards
            self.jobs[f"{key}.processes"] = 9 + shards

    def check_random(self, key: str, exp: dict) -> tuple[int, int, int]:
        """hierphase.grammar.random_grammar's own constraints, without drawing (which needs
        torch); returns (N, V, binary rules)."""
        r = exp["random"]
        key = f"{key}.random"
        N, n_pre = r["n_nonterminals"], r["n_preterminals"]
        phrasal = N - n_pre
        if phrasal < 1:
            raise ConfigError(f"{key}.n_preterminals", f"{n_pre} leaves no phrasal nonterminal "
                              f"of n_nonterminals = {N}; it must be smaller.")
        if r["n_roots"] > phrasal:
            raise ConfigError(f"{key}.n_roots", f"{r['n_roots']} roots but only {phrasal} "
                              "phrasal nonterminals (n_nonterminals - n_preterminals).")
        if r["n_binary"] > N * N:
            raise ConfigError(f"{key}.n_binary", f"{r['n_binary']} binary rules per nonterminal "
                              f"but only N^2 = {N * N} right-hand sides exist.")
        if r["n_lexical"] > r["n_terminals"]:
            raise ConfigError(f"{key}.n_lexical", f"{r['n_lexical']} lexical rules per "
                              f"preterminal but only n_terminals = {r['n_terminals']} exist.")
        for slots, options, what in ((phrasal * r["n_binary"], N * N, "binary"),
                                     (n_pre * r["n_lexical"], r["n_terminals"], "lexical")):
            exclusive = int(round((1.0 - float(r["overlap"])) * slots))
            if exclusive > options:
                raise ConfigError(f"{key}.overlap", f"overlap {r['overlap']} reserves {exclusive} "
                                  f"{what} right-hand sides to one parent each, but only "
                                  f"{options} exist; raise overlap or lower the rules per "
                                  "nonterminal.")
        return N, r["n_terminals"], phrasal * r["n_binary"]

    def check_rhm(self, key: str, exp: dict) -> tuple[int, int, int]:
        """The RHM's parameters (hierphase.params.validate_params); its one length, s^L tokens."""
        r = exp["rhm"]
        check_rhm_params(f"{key}.rhm", r["v"], r["m"], r["s"], r["L"], r["n_classes"])
        d = r["s"] ** r["L"]
        if d > 1024:
            raise ConfigError(f"{key}.rhm.L", f"s^L = {d} tokens; at most 1024 (a shorter tree).")
        if exp["lengths"] is not None and exp["lengths"] != [d]:
            raise ConfigError(f"{key}.lengths", f"an RHM grammar derives sentences of s^L = {d} "
                              f"tokens only; set lengths to [{d}] or null.")
        exp["lengths"] = [d]
        classes = r["n_classes"] or r["v"]
        aux = sum((classes if level == 0 else r["v"]) * r["m"] * (r["s"] - 2)
                  for level in range(r["L"]))
        rules = (classes + r["v"] * (r["L"] - 1)) * r["m"] * (r["s"] - 1)
        return classes + r["v"] * r["L"] + aux, r["v"], rules

    def check_file(self, key: str, exp: dict) -> tuple[int, int, int]:
        """A grammar file that exists and is small enough to size the jobs from."""
        path = exp["file"]
        if path is None:
            raise ConfigError(f"{key}.file", "is required when source is 'file': the path of a "
                              "grammar in NLTK's PCFG notation (docs/grammar.md).")
        if not Path(path).is_file():
            raise ConfigError(f"{key}.file", f"{path!r} is not a file; set it to a local grammar "
                              "in NLTK's PCFG notation (relative to the working directory).")
        size = Path(path).stat().st_size
        if not 0 < size <= MAX_FILE_BYTES:
            raise ConfigError(f"{key}.file", f"{path!r} holds {size} bytes; a grammar file holds "
                              f"at least one production and at most {MAX_FILE_BYTES} bytes.")
        return _file_size(path)

    def check_memory(self, key: str, exp: dict, N: int, V: int, R: int) -> None:
        """The largest shard, the HMM's fit, within max_mem_mb."""
        ctx, b = self.context, exp["n_sentences"]
        n = max(exp["lengths"])
        parts = shard_bytes(b, n, N, V, exp["correlations"]["n_traj"])
        ctx.check_mem_mb(f"{key}.{max(parts, key=parts.get)}", job_mb(*parts.values()),
                         f"a shard at length {n} ({b} sentences)")
        control = exp["control"]
        if control["enabled"]:
            ctx.check_mem_mb(f"{key}.control.n_train", self.hmm_mb(exp, N, V),
                             f"the HMM's fit ({control['n_train']} sentences of {n} tokens, "
                             f"{control['n_states']} states)")
        self.sizes[key] = (N, V, R)

    @staticmethod
    def hmm_mb(exp: dict, N: int, V: int) -> int:
        """Baum-Welch on n_train sentences of the largest length: forward, backward, posteriors
        and emissions (b, n, K), the pair posteriors (b, n, K, K), the training set's charts."""
        control, n = exp["control"], max(exp["lengths"])
        b, K = control["n_train"], control["n_states"]
        return job_mb(8 * b * n * (8 * K + 2 * K * K + 2 * V), 8 * n * n * N)

    # ------------------------------------------------------------------ wildcards and values
    def wildcards(self) -> dict:
        return {"experiment": set(self.experiments), "model": set(MODELS),
                "process": {p for e in self.experiments.values() for p in e["processes"]},
                "n": r"\d+", "noise": r"[01]\.\d{1,6}"}

    def size(self, wildcards) -> tuple[int, int, int]:
        return self.sizes[f"grammar.experiments.{wildcards.experiment}"]

    def job_seed(self, stage: str):
        """A params function: the seed of one job from its wildcards. "grammar": the experiment's
        draw (with its rule_seed); "sentences" and "hmm": the experiment; "shard": the
        experiment, length, process and noise value, not the model, so that the grammar and the
        HMM denoise the same noisy sentences."""

        def seed(wc):
            if stage == "grammar":
                return self.seed(stage, wc.experiment, self.exp(wc)["rule_seed"])
            if stage == "shard":
                return self.seed(stage, wc.experiment, int(wc.n), wc.process, wc.noise)
            return self.seed(stage, wc.experiment)

        return seed

    def grammar_settings(self, wildcards) -> dict | None:
        """The settings of the job's grammar source: its random ensemble or its RHM (None for a
        file, which is an input instead)."""
        exp = self.exp(wildcards)
        return exp.get(exp["source"]) if exp["source"] != "file" else None

    def control_fit(self, wildcards) -> dict:
        """What the HMM's fit reads of ``control`` (not the lengths it is swept at)."""
        control = self.exp(wildcards)["control"]
        return {k: control[k] for k in ("n_states", "n_train", "n_iter")}

    def largest_length(self, wildcards) -> int:
        return max(self.exp(wildcards)["lengths"])

    def shard_outputs(self) -> dict:
        """A shard's four tables and their sidecars."""
        out = {}
        for t in SHARD_TABLES:
            out[t] = f"{SHARD}/{t}.parquet"
            out[f"{t}_meta"] = sidecar(out[t])
        return out

    def table_outputs(self, names) -> dict:
        """Tables of an experiment (parquet, CSV and sidecar), by name."""
        out = {}
        for t in names:
            out[t] = f"{TABLES}/{t}.parquet"
            out[f"{t}_csv"] = f"{TABLES}/{t}.csv"
            out[f"{t}_meta"] = sidecar(out[t])
        return out

    def grammar_input(self, wildcards) -> dict:
        """The grammar file of a file source (an input: editing it reruns the experiment)."""
        exp = self.exp(wildcards)
        return {"file": exp["file"]} if exp["source"] == "file" else {}

    def shard_input(self, wildcards) -> dict:
        """The shard's denoiser (the grammar or the HMM) and the sentences."""
        model = GRAMMAR if wildcards.model == "grammar" else HMM
        return {"model": model.format(experiment=wildcards.experiment),
                "sentences": SENTENCES.format(experiment=wildcards.experiment)}

    def level(self, wildcards) -> float:
        return float(wildcards.noise)

    def shard_mem_mb(self, wildcards) -> int:
        exp = self.exp(wildcards)
        N, V, _ = self.size(wildcards)
        return job_mb(*shard_bytes(exp["n_sentences"], int(wildcards.n), N, V,
                                   exp["correlations"]["n_traj"]).values())

    def shard_runtime(self, wildcards) -> int:
        exp, corr = self.exp(wildcards), self.exp(wildcards)["correlations"]
        return shard_minutes(exp["n_sentences"], int(wildcards.n), self.size(wildcards)[2],
                             corr["n_x0"] * corr["n_traj"])

    def hmm_mem_mb(self, wildcards) -> int:
        return self.hmm_mb(self.exp(wildcards), *self.size(wildcards)[:2])

    def n_classes(self, wildcards) -> int:
        """The number of root symbols (classes): n_roots, the RHM's classes, one for a file."""
        return self.classes_of(self.exp(wildcards))

    @staticmethod
    def classes_of(exp: dict) -> int:
        """:meth:`n_classes` of an experiment's settings."""
        if exp["source"] == "random":
            return exp["random"]["n_roots"]
        if exp["source"] == "rhm":
            return exp["rhm"]["n_classes"] or exp["rhm"]["v"]
        return 1

    def shards(self, name: str) -> list[str]:
        """Every shard folder of experiment ``name``."""
        exp = self.experiments[name]
        out = []
        for model in MODELS:
            lengths = exp["lengths"] if model == "grammar" else exp["control"]["lengths"]
            for n in lengths:
                for process, values in sorted(exp["processes"].items()):
                    out += [SHARD.format(experiment=name, model=model, n=n, process=process,
                                         noise=noise_label(v)) for v in sorted(values)]
        return out

    def shard_files(self, table: str):
        """An input function: table ``table`` of every shard of the job's experiment."""
        return lambda wc: [f"{s}/{table}.parquet" for s in self.shards(wc.experiment)]

    # ------------------------------------------------------------------ the phase diagram
    def experiment_tables(self, name: str) -> list[str]:
        """Table ``name`` of every experiment, in the config's order."""
        return [f"{TABLES}/{name}.parquet".format(experiment=e) for e in self.experiments]

    def experiment_files(self, pattern: str) -> list[str]:
        """A per-experiment file (``pattern`` with ``{experiment}``) of every experiment, in the
        config's order."""
        return [pattern.format(experiment=e) for e in self.experiments]

    def phase_outputs(self) -> dict:
        return {"table": f"{PHASE}.parquet", "csv": f"{PHASE}.csv",
                "meta": sidecar(f"{PHASE}.parquet")}

    def phase_params(self) -> dict:
        """What the phase diagram reads of each experiment: its source and the source's
        settings, and its number of classes."""
        return {"experiments": list(self.experiments),
                "sources": {name: {"source": exp["source"],
                                   **({exp["source"]: exp[exp["source"]]}
                                      if exp["source"] != "file" else {})}
                            for name, exp in self.experiments.items()},
                "n_classes": {name: self.classes_of(exp)
                              for name, exp in self.experiments.items()}}

    # ------------------------------------------------------------------ targets and figures
    def targets(self) -> list[str]:
        """Pooled and finite-size tables (CSV) of every experiment, the phase diagram, and every
        figure."""
        tables = [f"{TABLES}/{t}.csv".format(experiment=name) for name in self.experiments
                  for t in (*SHARD_TABLES, *FINITE_SIZE_TABLES)]
        return tables + [f"{PHASE}.csv"] + [t for fig in self.figures() for t in fig.targets()]

    def figures(self) -> list[Figure]:
        each = tuple({"experiment": name} for name in self.experiments)
        tables = {t: f"{TABLES}/{t}.parquet" for t in SHARD_TABLES}

        def figure(rule: str, name: str, inputs: list[str]) -> Figure:
            return Figure(rule=rule, path=f"{FIGURES}/{name}",
                          inputs={t: tables[t] for t in inputs}, caption=f"grammar/{name}.rst",
                          category="Grammar (PCFG, exact inside-outside)",
                          subcategory="{experiment}",
                          draw=f"hierphase.stages.figures.grammar:{rule}", instances=each,
                          log=f"logs/grammar/figures/{{experiment}}/{name}.log",
                          conda="../../envs/rhm.yaml")

        return [
            figure("grammar_fig_class_kept", "class_kept", ["kept"]),
            figure("grammar_fig_chi", "chi", ["susceptibility"]),
            figure("grammar_fig_c_of_r", "c_of_r", ["correlations", "susceptibility"]),
            figure("grammar_fig_cochange", "cochange", ["cochange", "susceptibility"]),
            Figure(rule="grammar_fig_phase_diagram", path=f"{DIR}/figures/phase_diagram",
                   inputs={"phase": f"{PHASE}.parquet"}, caption="grammar/phase_diagram.rst",
                   category="Grammar (PCFG, exact inside-outside)",
                   draw="hierphase.stages.figures.grammar:grammar_fig_phase_diagram",
                   log="logs/grammar/figures/phase_diagram.log", conda="../../envs/rhm.yaml"),
        ]
