"""What the workflow's text stages call, one function per stage:

* :func:`prepare_text` -- corpus -> tokenizer, training windows, evaluation passages and their
  shuffled copies (:class:`TextData`);
* :func:`train_text_model` -- a masked diffusion transformer trained on the training windows
  (mask id = the tokenizer's vocabulary size);
* :func:`fit_text_ngram` -- the n-gram control fitted to the same training tokens;
* :func:`hierphase.text.protocol.change_correlations` -- the protocol, for any denoiser
  (:class:`hierphase.mdlm.diffusion.ModelDenoiser` for a network, trained here or published
  (:func:`hierphase.mdlm.published.load_published`); ``NgramModel.denoiser()`` for the control).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hierphase.mdlm.model import DiffusionTransformer, TransformerConfig
from hierphase.mdlm.train import TrainConfig, TrainResult, train
from hierphase.text.corpus import Corpus, TextTokenizer, passages, shuffle_within, split_tokens, train_tokenizer
from hierphase.text.ngram import NgramModel, fit_ngram

__all__ = ["TextData", "prepare_text", "train_text_model", "fit_text_ngram"]


@dataclass(frozen=True, eq=False)
class TextData:
    tokenizer: TextTokenizer
    #: (n_windows, length) int64: the training part of the token stream in consecutive windows.
    train_windows: np.ndarray
    #: (n_passages, length) int64: held-out passages, and the same with tokens shuffled per row.
    passages: np.ndarray
    shuffled: np.ndarray


def prepare_text(corpus: Corpus, seed: int, tokenizer: TextTokenizer | None = None, kind: str = "bpe",
                 vocab_size: int = 512, holdout: float = 0.1, n_passages: int = 300, length: int = 128) -> TextData:
    """Tokenise ``corpus`` (with ``tokenizer``, or one trained on the corpus: ``kind``,
    ``vocab_size``), split its token stream (the last ``holdout`` held out), cut the training part
    into windows of ``length`` and draw ``n_passages`` passages from the held-out part."""
    tok = tokenizer if tokenizer is not None else train_tokenizer(corpus, kind, vocab_size)
    ids = tok.encode(corpus.text)
    train_ids, held = split_tokens(ids, holdout)
    n_windows = len(train_ids) // length
    if n_windows < 1:
        raise ValueError(f"the training part holds {len(train_ids)} tokens, fewer than length={length}")
    rows = passages(held, n_passages, length, seed)
    return TextData(tokenizer=tok, train_windows=train_ids[: n_windows * length].reshape(n_windows, length),
                    passages=rows, shuffled=shuffle_within(rows, seed))


def train_text_model(data: TextData, network: TransformerConfig | dict, cfg: TrainConfig, seed: int,
                     **train_kwargs) -> TrainResult:
    """A :class:`DiffusionTransformer` over the tokenizer's ids plus the mask (the last id),
    trained on ``data.train_windows`` (``train_kwargs``: checkpoint, snapshots, device, ... of
    :func:`hierphase.mdlm.train.train`). ``network``: a config, or its fields without
    ``vocab_size``."""
    vocab = data.tokenizer.vocab_size
    if isinstance(network, dict):
        network = TransformerConfig(vocab_size=vocab + 1, **network)
    if network.vocab_size != vocab + 1:
        raise ValueError(f"network.vocab_size must be the tokenizer's {vocab} ids plus the mask, "
                         f"got {network.vocab_size}")
    with torch.random.fork_rng(devices=[]):  # the initial weights, from the seed alone
        torch.manual_seed(int(seed))
        net = DiffusionTransformer(network)
    return train(net, torch.from_numpy(data.train_windows), vocab, cfg, seed, **train_kwargs)


def fit_text_ngram(data: TextData, order: int = 2, alpha: float = 0.1) -> NgramModel:
    """The n-gram control on the training windows' tokens (one stream: windows are consecutive)."""
    return fit_ngram([data.train_windows.reshape(-1)], order, data.tokenizer.vocab_size, alpha)
