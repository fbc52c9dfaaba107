"""Text corpora, tokenizers and passages.

The default corpus ships inside the package (``data/``, its source and licence in
``data/SOURCE.md``): the King James Version of the Bible, books Genesis to Ruth (236 chapters,
1.03 MB of English), one chapter per line, public domain, from Debian's ``bible-kjv-text``
package. A local corpus (e.g. WikiText-2's raw files) is read from a path given in the config.

Tokenizers (:class:`TextTokenizer`): byte-level BPE trained on the corpus with the ``tokenizers``
library (``kind="bpe"``, a vocabulary of ``vocab_size`` ids), characters (``kind="char"``: one id
per distinct character of the corpus, sorted), or a saved ``tokenizer.json`` (e.g. GPT-2's, for a
published checkpoint). Ids are ``0 .. vocab_size - 1``; a model's mask id comes after them.

Passages (:func:`passages`): the token stream of the held-out part of the corpus cut into
consecutive windows of ``length`` tokens, ``n_passages`` of them chosen uniformly without
replacement (seeded) and kept in corpus order; :func:`shuffle_within` permutes the tokens of each
passage independently (the shuffled control).
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from hierphase.seeding import derive_seed

__all__ = ["DEFAULT_CORPUS", "Corpus", "default_corpus", "read_corpus", "TextTokenizer", "train_tokenizer",
           "load_tokenizer", "split_tokens", "passages", "shuffle_within"]

#: The shipped corpus (a file of ``hierphase/text/data``).
DEFAULT_CORPUS = "kjv_genesis_ruth.txt.gz"


@dataclass(frozen=True)
class Corpus:
    """Documents of a corpus, in order, and where they came from."""

    name: str
    documents: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.documents)


def default_corpus() -> Corpus:
    """The shipped corpus: one document per chapter (the text after the tab of each line)."""
    raw = resources.files("hierphase.text").joinpath("data", DEFAULT_CORPUS).read_bytes()
    lines = gzip.decompress(raw).decode("utf-8").splitlines()
    return Corpus("kjv-genesis-ruth", tuple(line.split("\t", 1)[1] for line in lines if line.strip()))


def read_corpus(path: str | os.PathLike | None, key: str = "text.corpus") -> Corpus:
    """A local plain-text corpus (UTF-8; ``.gz`` read compressed), one document per non-blank line
    (WikiText's raw files have one paragraph or heading per line). A missing path raises
    FileNotFoundError naming the config ``key``."""
    if path is None or str(path) == "":
        raise FileNotFoundError(f"{key} is not set: give the path of a local text corpus")
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{key}: no such file {p} (set {key} to a local text corpus)")
    data = p.read_bytes()
    text = (gzip.decompress(data) if p.suffix == ".gz" else data).decode("utf-8")
    docs = tuple(line.strip() for line in text.splitlines() if line.strip())
    if not docs:
        raise ValueError(f"{key}: {p} holds no text")
    return Corpus(p.name, docs)


class TextTokenizer:
    """Text <-> ids, ``0 .. vocab_size - 1`` (wraps a ``tokenizers.Tokenizer`` or a character table)."""

    def __init__(self, kind: str, backend=None, chars: str | None = None):
        self.kind, self._backend, self._chars = kind, backend, chars
        if kind == "char":
            self._index = {c: i for i, c in enumerate(chars)}

    @property
    def vocab_size(self) -> int:
        return len(self._chars) if self.kind == "char" else self._backend.get_vocab_size()

    def encode(self, text: str) -> np.ndarray:
        if self.kind == "char":
            try:
                return np.array([self._index[c] for c in text], dtype=np.int64)
            except KeyError as err:
                raise ValueError(f"character {err.args[0]!r} is not in the tokenizer's alphabet") from None
        return np.array(self._backend.encode(text).ids, dtype=np.int64)

    def decode(self, ids) -> str:
        ids = [int(i) for i in np.asarray(ids).ravel()]
        if self.kind == "char":
            return "".join(self._chars[i] for i in ids)
        return self._backend.decode(ids)

    def to_json(self) -> str:
        """A JSON string that :func:`load_tokenizer` reads back (the ``tokenizers`` format for BPE)."""
        if self.kind == "char":
            import json
            return json.dumps({"hierphase_char_tokenizer": self._chars})
        return self._backend.to_str()

    def save(self, path: str | os.PathLike) -> None:
        from hierphase.io import atomic_path
        with atomic_path(path) as tmp:
            tmp.write_text(self.to_json())


def train_tokenizer(corpus: Corpus, kind: str = "bpe", vocab_size: int = 512) -> TextTokenizer:
    """A tokenizer trained on ``corpus``: byte-level BPE (``vocab_size`` ids, at least the 256
    bytes) or the corpus's characters (``vocab_size`` ignored). Deterministic: the same corpus
    gives the same vocabulary."""
    if kind == "char":
        return TextTokenizer("char", chars="".join(sorted(set(corpus.text))))
    if kind != "bpe":
        raise ValueError(f"kind must be 'bpe' or 'char', got {kind!r}")
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 257:
        raise ValueError(f"vocab_size must be an int > 256 for byte-level BPE, got {vocab_size!r}")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    tok.train_from_iterator(list(corpus.documents), trainer=trainer)
    return TextTokenizer("bpe", backend=tok)


def load_tokenizer(path: str | os.PathLike | None, key: str = "text.tokenizer") -> TextTokenizer:
    """A tokenizer saved by :meth:`TextTokenizer.save` or any ``tokenizers`` JSON file (GPT-2's
    ``tokenizer.json``). A missing path raises FileNotFoundError naming the config ``key``."""
    import json

    if path is None or str(path) == "" or not Path(path).is_file():
        raise FileNotFoundError(f"{key}: no tokenizer file at {path!r} (set {key} to a tokenizer.json)")
    text = Path(path).read_text()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{key}: {path} is not JSON ({err})") from None
    if isinstance(data, dict) and "hierphase_char_tokenizer" in data:
        return TextTokenizer("char", chars=data["hierphase_char_tokenizer"])
    from tokenizers import Tokenizer
    return TextTokenizer("bpe", backend=Tokenizer.from_str(text))


def split_tokens(ids, holdout: float) -> tuple[np.ndarray, np.ndarray]:
    """The token stream split in two: the first ``1 - holdout`` for training, the rest held out."""
    ids = np.asarray(ids, dtype=np.int64)
    if not (isinstance(holdout, (int, float)) and 0 < holdout < 1):
        raise ValueError(f"holdout must be in (0, 1), got {holdout!r}")
    cut = int(round(len(ids) * (1 - holdout)))
    return ids[:cut], ids[cut:]


def passages(ids, n_passages: int, length: int, seed: int) -> np.ndarray:
    """``(n_passages, length)`` int64: non-overlapping windows of the stream ``ids`` (module
    docstring). Raises ValueError when the stream holds fewer than ``n_passages`` windows."""
    ids = np.asarray(ids, dtype=np.int64)
    for name, value in (("n_passages", n_passages), ("length", length)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    n_windows = len(ids) // length
    if n_windows < n_passages:
        raise ValueError(f"n_passages={n_passages} passages of length={length} need {n_passages * length} "
                         f"tokens; the stream has {len(ids)} ({n_windows} windows)")
    rng = np.random.default_rng(derive_seed(int(seed), "text.passages"))
    chosen = np.sort(rng.choice(n_windows, size=n_passages, replace=False))
    return ids[: n_windows * length].reshape(n_windows, length)[chosen].copy()


def shuffle_within(rows, seed: int) -> np.ndarray:
    """Each row's tokens in a random order of its own (the shuffled control), seeded."""
    rows = np.asarray(rows)
    if rows.ndim != 2:
        raise ValueError(f"rows must be 2-D (passages, tokens), got shape {rows.shape}")
    rng = np.random.default_rng(derive_seed(int(seed), "text.shuffle"))
    order = np.argsort(rng.random(rows.shape), axis=1)
    return np.take_along_axis(rows, order, axis=1)
