"""Planning of the MDLM branch (masked diffusion language models on a grammar, beside its exact
posterior, and on real text, beside an n-gram control and shuffled passages; a published
checkpoint from a local path): config checks, memory and job counts, wildcard values, file
patterns, seeds, targets and figure table."""

from __future__ import annotations

import json
from pathlib import Path

from hierphase.memory import (job_mb, mdlm_sampling_bytes, mdlm_training_bytes, ngram_bytes,
                              weight_files_bytes)
from hierphase.optimisation import OptimisationSettings

from .branch import Branch, sidecar
from .checks import ConfigError, package_check
from .figures import Figure
from .grammar import GrammarBranch

__all__ = ["MdlmBranch", "TEXT_MODELS", "GRAMMAR_TABLES", "TEXT_TABLES"]

DIR = "results/mdlm"
G = f"{DIR}/grammar"
GRAMMAR_DATA = f"{G}/data.pt"
GRAMMAR_MODEL = f"{G}/models/P{{P}}"
GRAMMAR_SWEEP = f"{G}/sweeps/{{denoiser}}"
GRAMMAR_TABLES_DIR = f"{G}/tables"
T = f"{DIR}/text"
TEXT_DATA = f"{T}/data.pt"
TOKENIZER = f"{T}/tokenizer.json"
TEXT_MODEL = f"{T}/model"
TEXT_PROTOCOL = f"{T}/protocol/{{textmodel}}"
PUBLISHED = f"{DIR}/published"
TEXT_TABLES_DIR = f"{T}/tables"
FIGURES = f"{DIR}/figures"
#: The tables of one grammar sweep (one denoiser), pooled under the same names, and the gap table.
GRAMMAR_TABLES = ("kept", "correlations", "susceptibility")
#: The tables of one protocol run (one denoiser), pooled under the same names, and the peaks.
TEXT_TABLES = ("curves", "chi")
#: The text protocol's denoisers trained or fitted here: the MDLM, the MDLM on the passages
#: shuffled within each, the n-gram control (the published checkpoint has its own rule).
TEXT_MODELS = ("mdlm", "shuffled", "ngram")
#: Bytes of the shipped corpus's text (an upper bound of its tokens, for the checks).
SHIPPED_CORPUS_BYTES = 1_030_000


class MdlmBranch(Branch):
    """MDLM branch: grammar (data -> one MDLM per P -> sweeps of every MDLM and of the exact
    posterior -> pooled tables and the gap table -> figures) and text (data and tokenizer ->
    MDLM -> protocol for the MDLM, shuffled passages, n-gram control and a published
    checkpoint -> pooled tables and peaks -> figures)."""

    name = "mdlm"
    description = "Masked diffusion language models on a grammar (beside its exact posterior) and on text."
    (DIR, GRAMMAR_DATA, GRAMMAR_MODEL, GRAMMAR_SWEEP, GRAMMAR_TABLES_DIR, TEXT_DATA, TOKENIZER,
     TEXT_MODEL, TEXT_PROTOCOL, PUBLISHED, TEXT_TABLES_DIR, FIGURES, GRAMMAR_TABLES,
     TEXT_TABLES) = (DIR, GRAMMAR_DATA, GRAMMAR_MODEL, GRAMMAR_SWEEP, GRAMMAR_TABLES_DIR,
                     TEXT_DATA, TOKENIZER, TEXT_MODEL, TEXT_PROTOCOL, PUBLISHED, TEXT_TABLES_DIR,
                     FIGURES, GRAMMAR_TABLES, TEXT_TABLES)

    # ------------------------------------------------------------------ checks
    def check(self) -> None:
        """What the schema cannot say: the random grammar's right-hand sides, P within the
        training sentences and x0 within the test sentences, the networks' head sizes, warm-ups,
        passages the held-out text can hold, local files that exist, the device, memory, jobs."""
        cfg, ctx = self.config, self.context
        ctx.check_device("mdlm.device", cfg["device"])
        grammar, text, pub = cfg["grammar"], cfg["text"], cfg["published"]
        if grammar["enabled"]:
            self.check_grammar(grammar)
        if text["enabled"]:
            self.check_text(text)
        if pub["enabled"]:
            self.check_published(pub)

    def check_network(self, key: str, part: dict) -> None:
        net = part["network"]
        head = net["hidden"] // net["n_heads"]
        if net["hidden"] % net["n_heads"] or head % 2:
            raise ConfigError(f"{key}.network.hidden", f"{net['hidden']} is not n_heads = "
                              f"{net['n_heads']} times an even head size (rotary embeddings "
                              "rotate pairs); e.g. hidden = 8 * n_heads.")
        training = {k: v for k, v in part["training"].items() if k != "eps"}
        package_check(f"{key}.training", lambda: OptimisationSettings(**training))

    def check_grammar(self, g: dict) -> None:
        key = "mdlm.grammar"
        GrammarBranch.check_random(self, key, g)
        g["P"] = sorted(g["P"])
        if g["P"][-1] > g["n_train"]:
            raise ConfigError(f"{key}.P", f"{g['P'][-1]} training sentences, but n_train = "
                              f"{g['n_train']} are drawn; raise n_train or lower P.")
        corr = g["correlations"]
        if corr["n_x0"] > g["n_test"]:
            raise ConfigError(f"{key}.correlations.n_x0", f"{corr['n_x0']} x0 of n_test = "
                              f"{g['n_test']}: the x0 are the first test sentences.")
        self.check_network(key, g)
        V = g["random"]["n_terminals"] + 1
        self.context.check_mem_mb(f"{key}.training.batch_size", self.train_mb(g, V, max(g["P"])),
                                  f"an MDLM's training on the grammar (batch_size = "
                                  f"{g['training']['batch_size']}, P = {max(g['P'])})")
        self.context.check_mem_mb(f"{key}.sampler.batch_size", self.sample_mb(g, V, g["length"],
                                                                            self.grammar_rows(g)),
                                  "an MDLM's sweep of the grammar")
        # data, one training and one sweep per P, the exact sweep, the pooled tables, 2 figures
        self.jobs[f"{key}.P"] = 2 * len(g["P"]) + 5

    @staticmethod
    def grammar_rows(g: dict) -> int:
        corr = g["correlations"]
        return max(g["n_test"], corr["n_x0"] * corr["n_traj"])

    def check_text(self, t: dict) -> None:
        key = "mdlm.text"
        size = self.corpus_bytes(f"{key}.corpus", t["corpus"])
        held = int(size * t["holdout"])
        if t["n_passages"] * t["length"] > held:
            raise ConfigError(f"{key}.n_passages", f"{t['n_passages']} passages of "
                              f"{t['length']} tokens need {t['n_passages'] * t['length']} "
                              f"held-out tokens; the held-out text has at most {held} (its "
                              "bytes); lower n_passages or length, or raise holdout.")
        self.check_network(key, t)
        V = (t["tokenizer"]["vocab_size"] if t["tokenizer"]["kind"] == "bpe" else 1024) + 1
        windows = max(1, int(size * (1 - t["holdout"])) // t["length"])
        self.context.check_mem_mb(f"{key}.training.batch_size", self.train_mb(t, V, windows),
                                  f"the MDLM's training on text (batch_size = "
                                  f"{t['training']['batch_size']}, length = {t['length']})")
        rows = t["n_passages"] * t["n_maskings"]
        self.context.check_mem_mb(f"{key}.sampler.batch_size", self.sample_mb(t, V, t["length"],
                                                                            rows),
                                  f"the MDLM's protocol ({rows} passages x maskings)")
        self.context.check_mem_mb(f"{key}.ngram.order", self.ngram_mb(t, V - 1),
                                  f"the n-gram control of order {t['ngram']['order']}")
        # data, training, three protocols, the pooled tables, two figures
        self.jobs[f"{key}.levels"] = 8

    def check_published(self, p: dict) -> None:
        key = "mdlm.published"
        for name in ("checkpoint", "tokenizer"):
            path = p[name]
            if path is None or not Path(path).exists():
                raise ConfigError(f"{key}.{name}", ("is not set" if path is None else
                                                     f"{path!r} is not there") + "; set it to the local "
                                  + ("MDLM checkpoint (a directory with config.json and "
                                     "model.safetensors, or a .ckpt/.pt file)" if name ==
                                     "checkpoint" else "tokenizer.json of the checkpoint "
                                     "(e.g. GPT-2's)") + ", or set mdlm.published.enabled false.")
        corpus = p["corpus"] if p["corpus"] is not None else self.config["text"]["corpus"]
        size = self.corpus_bytes(f"{key}.corpus" if p["corpus"] is not None
                                 else "mdlm.text.corpus", corpus)
        if p["n_passages"] * p["length"] > size:
            raise ConfigError(f"{key}.n_passages", f"{p['n_passages']} passages of {p['length']} "
                              f"tokens; the corpus has at most {size} tokens (its bytes).")
        self.context.check_mem_mb("mdlm.text.sampler.batch_size", self.published_mem_mb(None),
                                  "the published checkpoint's protocol")
        self.jobs[f"{key}.checkpoint"] = 1

    def published_mem_mb(self, wildcards) -> int:
        """The published checkpoint's weights (three times: the file, the loaded tensors, the
        network) and its sampling of every passage's maskings; the shape from its config.json,
        or the published small model's for a torch checkpoint."""
        p, t = self.config["published"], self.config["text"]
        path = Path(p["checkpoint"])
        shape = {"vocab_size": 50258, "hidden_dim": 768, "n_blocks": 12, "n_heads": p["n_heads"],
                 "cond_dim": 128}
        if path.is_dir():
            weights = weight_files_bytes(path)
            config = path / "config.json"
            if config.is_file():
                try:
                    given = json.loads(config.read_text())
                    shape.update({k: int(given[k]) for k in shape if k in given})
                except (ValueError, TypeError):
                    pass  # the job's loader names what is wrong with it
        else:
            weights = path.stat().st_size if path.is_file() else 0
        rows = p["n_passages"] * t["n_maskings"]
        return job_mb(3 * weights, mdlm_sampling_bytes(
            shape["vocab_size"], shape["hidden_dim"], shape["n_blocks"], shape["n_heads"],
            shape["cond_dim"], 4, p["length"], t["sampler"]["batch_size"], rows))

    @staticmethod
    def corpus_bytes(key: str, path: str | None) -> int:
        """Bytes of the corpus's text (an upper bound of its tokens): the shipped one's, or the
        local file's (a gzip's four times, a generous guess of its ratio)."""
        if path is None:
            return SHIPPED_CORPUS_BYTES
        p = Path(path)
        if not p.is_file():
            raise ConfigError(key, f"{path!r} is not a file; set it to a local plain-text corpus "
                              "(one document per line), or null for the shipped corpus.")
        return p.stat().st_size * (4 if p.suffix == ".gz" else 1)

    def train_mb(self, part: dict, vocab: int, n_sequences: int) -> int:
        net, tr = part["network"], part["training"]
        return job_mb(mdlm_training_bytes(vocab, net["hidden"], net["n_blocks"], net["n_heads"],
                                          net["cond_dim"], net["mlp_ratio"], self.length(part),
                                          tr["batch_size"], n_sequences))

    def sample_mb(self, part: dict, vocab: int, n: int, rows: int) -> int:
        net = part["network"]
        return job_mb(mdlm_sampling_bytes(vocab, net["hidden"], net["n_blocks"], net["n_heads"],
                                          net["cond_dim"], net["mlp_ratio"], n,
                                          part["sampler"]["batch_size"], rows))

    @staticmethod
    def ngram_mb(t: dict, vocab: int) -> int:
        return job_mb(ngram_bytes(vocab, t["ngram"]["order"], t["length"]))

    @staticmethod
    def length(part: dict) -> int:
        return part["length"]

    # ------------------------------------------------------------------ wildcards and values
    def wildcards(self) -> dict:
        return {"P": r"\d+", "denoiser": "exact|P\\d+", "textmodel": set(TEXT_MODELS)}

    def job_seed(self, stage: str):
        """A params function: the seed of one job from its wildcards. "grammar_data": the
        grammar's draw (with rule_seed); "grammar_train": the training-set size; the sweeps and
        protocols: their stage only, not the denoiser, so that every denoiser sees the same
        masks."""

        def seed(wc):
            if stage == "grammar_data":
                return self.seed(stage, self.config["grammar"]["rule_seed"])
            if stage == "grammar_train":
                return self.seed(stage, int(wc.P))
            return self.seed(stage)

        return seed

    def part(self, name: str):
        """A params function: the section ``name`` (``grammar`` or ``text``) less what the job
        does not read (its network and training are passed on their own)."""
        return lambda wc: self.config[name]

    def sweep_input(self, wildcards) -> dict:
        """The grammar's data and, for an MDLM, its model."""
        out = {"data": GRAMMAR_DATA}
        if wildcards.denoiser != "exact":
            out["model"] = f"{GRAMMAR_MODEL}/model.pt".format(P=wildcards.denoiser[1:])
        return out

    def sweep_P(self, wildcards) -> int:
        return 0 if wildcards.denoiser == "exact" else int(wildcards.denoiser[1:])

    def denoisers(self) -> list[str]:
        return ["exact"] + [f"P{P}" for P in self.config["grammar"]["P"]]

    def sweep_files(self, table: str) -> list[str]:
        return [f"{GRAMMAR_SWEEP}/{table}.parquet".format(denoiser=d) for d in self.denoisers()]

    def protocol_input(self, wildcards) -> dict:
        out = {"data": TEXT_DATA}
        if wildcards.textmodel != "ngram":
            out["model"] = f"{TEXT_MODEL}/model.pt"
        return out

    def protocol_files(self, table: str) -> list[str]:
        files = [f"{TEXT_PROTOCOL}/{table}.parquet".format(textmodel=m) for m in TEXT_MODELS]
        if self.config["published"]["enabled"]:
            files.append(f"{PUBLISHED}/{table}.parquet")
        return files

    def published_input(self, wildcards) -> dict:
        """The checkpoint, its tokenizer and a local corpus: inputs, so that replacing one reruns
        the job."""
        p = self.config["published"]
        out = {"checkpoint": p["checkpoint"], "tokenizer": p["tokenizer"]}
        corpus = p["corpus"] if p["corpus"] is not None else self.config["text"]["corpus"]
        if corpus is not None:
            out["corpus"] = corpus
        return out

    def text_input(self, wildcards) -> dict:
        corpus = self.config["text"]["corpus"]
        return {"corpus": corpus} if corpus is not None else {}

    def cutoffs(self, wildcards) -> list:
        """The cutoffs R of the protocol, then None (every pair)."""
        return [*sorted(self.config["text"]["cutoffs"]), None]

    def train_grammar_mem_mb(self, wildcards) -> int:
        g = self.config["grammar"]
        return self.train_mb(g, g["random"]["n_terminals"] + 1, int(wildcards.P))

    def train_text_mem_mb(self, wildcards) -> int:
        t = self.config["text"]
        V = (t["tokenizer"]["vocab_size"] if t["tokenizer"]["kind"] == "bpe" else 1024) + 1
        size = self.corpus_bytes("mdlm.text.corpus", t["corpus"])
        return self.train_mb(t, V, max(1, int(size * (1 - t["holdout"])) // t["length"]))

    def sweep_mem_mb(self, wildcards) -> int:
        g = self.config["grammar"]
        return self.sample_mb(g, g["random"]["n_terminals"] + 1, g["length"], self.grammar_rows(g))

    def protocol_mem_mb(self, wildcards) -> int:
        t = self.config["text"]
        V = (t["tokenizer"]["vocab_size"] if t["tokenizer"]["kind"] == "bpe" else 1024) + 1
        if wildcards.textmodel == "ngram":
            return self.ngram_mb(t, V - 1)
        return self.sample_mb(t, V, t["length"], t["n_passages"] * t["n_maskings"])

    @staticmethod
    def outputs(folder: str, names, csv: bool = True) -> dict:
        """Tables in ``folder`` by name: each parquet file with its sidecar and, with ``csv``,
        its CSV (the pooled tables; a job's own tables have none)."""
        out = {}
        for t in names:
            out[t] = path = f"{folder}/{t}.parquet"
            out.update({f"{t}_csv": f"{folder}/{t}.csv"} if csv else {})
            out[f"{t}_meta"] = sidecar(path)
        return out

    # ------------------------------------------------------------------ targets and figures
    def targets(self) -> list[str]:
        """The pooled tables (CSV) of each enabled part, and every figure."""
        out = []
        if self.config["grammar"]["enabled"]:
            out += [f"{GRAMMAR_TABLES_DIR}/{t}.csv" for t in (*GRAMMAR_TABLES, "gap")]
        if self.config["text"]["enabled"]:
            out += [f"{TEXT_TABLES_DIR}/{t}.csv" for t in (*TEXT_TABLES, "peaks")]
        return out + [t for fig in self.figures() for t in fig.targets()]

    def figures(self) -> list[Figure]:
        def figure(rule: str, part: str, name: str, inputs: dict, on: bool,
                   params: dict | None = None) -> Figure:
            return Figure(rule=rule, path=f"{FIGURES}/{part}/{name}", inputs=inputs,
                          params=params or {},
                          caption=f"mdlm/{part}_{name}.rst", category="Masked diffusion (MDLM)",
                          subcategory=part, draw=f"hierphase.stages.figures.mdlm:{rule}",
                          instances=({},) if on else (), log=f"logs/mdlm/figures/{part}/{name}.log",
                          conda="../../envs/mdlm.yaml")

        g, t = f"{GRAMMAR_TABLES_DIR}/{{}}.parquet", f"{TEXT_TABLES_DIR}/{{}}.parquet"
        on_g, on_t = self.config["grammar"]["enabled"], self.config["text"]["enabled"]
        return [
            figure("mdlm_fig_grammar_kept", "grammar", "kept",
                   {"kept": g.format("kept")}, on_g,
                   {"min_grammatical": self.config["grammar"]["acceptance"]["min_grammatical"]}),
            figure("mdlm_fig_grammar_chi", "grammar", "chi",
                   {"susceptibility": g.format("susceptibility")}, on_g),
            figure("mdlm_fig_text_chi", "text", "chi", {"chi": t.format("chi")}, on_t),
            figure("mdlm_fig_text_xi", "text", "xi", {"chi": t.format("chi")}, on_t),
        ]
