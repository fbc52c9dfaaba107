"""Shipped corpus, tokenizers, passages, shuffled control, and the change-correlation protocol
against denoisers whose correlations are known exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hierphase.seeding import derive_seed, torch_generator
from hierphase.text.corpus import (default_corpus, load_tokenizer, passages, read_corpus, shuffle_within,
                                   split_tokens, train_tokenizer)
from hierphase.text.protocol import CHI_COLUMNS, CURVE_COLUMNS, change_correlations


# ----------------------------------------------------------------------------- corpus, tokenizers
def test_shipped_corpus_is_the_eight_books():
    corpus = default_corpus()
    assert len(corpus.documents) == 236
    assert corpus.documents[0].startswith("In the beginning God created the heaven and the earth.")
    assert corpus.documents[-1].endswith("And Obed begat Jesse, and Jesse begat David.")
    assert len(corpus.text) > 1_000_000


@pytest.fixture(scope="module")
def small_corpus():
    corpus = default_corpus()
    return type(corpus)("first chapters", corpus.documents[:20])


@pytest.mark.parametrize("kind", ["bpe", "char"])
def test_tokenizer_is_deterministic_round_trips_and_saves(small_corpus, kind, tmp_path):
    tok = train_tokenizer(small_corpus, kind, vocab_size=400)
    assert tok.to_json() == train_tokenizer(small_corpus, kind, vocab_size=400).to_json()
    text = small_corpus.documents[3]
    ids = tok.encode(text)
    assert ids.dtype == np.int64 and 0 <= ids.min() and ids.max() < tok.vocab_size
    assert tok.decode(ids) == text
    if kind == "bpe":
        assert tok.vocab_size == 400 and len(ids) < 0.5 * len(text)  # merges learned
    else:
        assert tok.vocab_size == len(set(small_corpus.text))
    tok.save(tmp_path / "tok.json")
    again = load_tokenizer(tmp_path / "tok.json")
    assert np.array_equal(again.encode(text), ids)


def test_missing_paths_name_their_config_keys(tmp_path):
    with pytest.raises(FileNotFoundError, match="text.corpus"):
        read_corpus(tmp_path / "nope.txt")
    with pytest.raises(FileNotFoundError, match="text.tokenizer"):
        load_tokenizer(tmp_path / "nope.json")
    (tmp_path / "wiki.raw").write_text(" = Title = \n\n A line of text . \n")
    assert read_corpus(tmp_path / "wiki.raw").documents == ("= Title =", "A line of text .")


def test_passages_are_distinct_windows_of_the_stream_and_shuffling_keeps_each_row():
    ids = np.arange(1000)
    train, held = split_tokens(ids, 0.3)
    assert len(train) == 700 and np.array_equal(np.concatenate([train, held]), ids)
    rows = passages(held, 5, 40, seed=1)
    starts = [int(np.flatnonzero(held == r[0])[0]) for r in rows]
    for start, row in zip(starts, rows):
        assert start % 40 == 0 and np.array_equal(held[start:start + 40], row)
    assert len(set(starts)) == 5 and starts == sorted(starts)
    assert np.array_equal(rows, passages(held, 5, 40, seed=1))
    with pytest.raises(ValueError, match="n_passages"):
        passages(held, 8, 40, seed=1)
    mixed = shuffle_within(rows, seed=2)
    assert not np.array_equal(mixed, rows)
    assert np.array_equal(np.sort(mixed, axis=1), np.sort(rows, axis=1))


# ----------------------------------------------------------------------------- protocol
def _independent(tokens, mask, level, seed):
    """Each masked token resampled uniformly from 4 ids, independently."""
    gen = torch_generator(seed)
    draw = torch.randint(4, tokens.shape, generator=gen)
    return torch.where(mask, draw, tokens)


def _blocks(size):
    """Masked tokens change in rigid blocks: per block a fair coin says whether every masked token
    of the block becomes (token + 1) mod 4."""
    def denoise(tokens, mask, level, seed):
        gen = torch_generator(seed)
        b, n = tokens.shape
        coin = torch.rand((b, n // size), generator=gen) < 0.5
        flip = coin.repeat_interleave(size, dim=1)
        return torch.where(mask & flip, (tokens + 1) % 4, tokens)
    return denoise


def test_independent_changes_give_chi_one_and_the_exact_changed_fraction():
    x0 = np.random.default_rng(0).integers(0, 4, size=(30, 16))
    out = change_correlations(_independent, x0, [0.3, 0.8], n_maskings=200, seed=1, cutoffs=(2, None),
                              n_boot=200)
    assert list(out.chi.columns) == CHI_COLUMNS and list(out.curves.columns) == CURVE_COLUMNS
    for t in (0.3, 0.8):
        row = out.chi[(out.chi.t == t) & (out.chi.cutoff == "all")].iloc[0]
        assert row.chi_lo <= 1.0 <= row.chi_hi and abs(row.chi - 1) < 0.1
        # a token changes when masked and redrawn as another id: t * 3/4
        n = 30 * 200 * 16
        assert abs(row.changed - 0.75 * t) < 5 * math.sqrt(0.75 * t * (1 - 0.75 * t) / n)
        curve = out.curves[out.curves.t == t]
        assert np.all(np.abs(curve.C[curve.distance > 0]) < 0.02)


@pytest.mark.parametrize("size", [4, 8])
def test_rigid_blocks_give_chi_equal_to_the_block_size_and_its_cutoff_sums(size):
    x0 = np.random.default_rng(1).integers(0, 4, size=(6, size))  # one block per passage
    out = change_correlations(_blocks(size), x0, [1.0], n_maskings=40, seed=2, cutoffs=(1, 2, 5, None),
                              n_boot=50)
    chi = out.chi.set_index("cutoff")
    assert chi.loc["all", "chi"] == pytest.approx(size, rel=1e-9)
    assert chi.loc["all", "xi"] == pytest.approx(math.sqrt((size**2 - 1) / 6), rel=1e-9)
    for R in (1, 2, 5):
        pairs = size + 2 * sum(size - d for d in range(1, min(R, size - 1) + 1))
        assert chi.loc[f"r<={R}", "chi"] == pytest.approx(pairs / size, rel=1e-9)
    assert chi.loc["all", "changed"] == pytest.approx(0.5, abs=0.06)


def test_protocol_is_deterministic_and_checks_its_inputs():
    x0 = np.random.default_rng(0).integers(0, 4, size=(4, 8))
    a = change_correlations(_independent, x0, [0.5], n_maskings=5, seed=3, n_boot=20)
    b = change_correlations(_independent, x0, [0.5], n_maskings=5, seed=3, n_boot=20)
    assert a.chi.equals(b.chi) and a.curves.equals(b.curves)
    with pytest.raises(ValueError, match="n_maskings"):
        change_correlations(_independent, x0, [0.5], n_maskings=1, seed=3)
    with pytest.raises(ValueError, match="levels"):
        change_correlations(_independent, x0, [0.0], n_maskings=5, seed=3)
    with pytest.raises(ValueError, match="cutoffs"):
        change_correlations(_independent, x0, [0.5], n_maskings=5, seed=3, cutoffs=(-1,))


# ----------------------------------------------------------------------------- stage helpers
def test_prepare_train_and_control_on_a_small_slice_of_the_shipped_text():
    from hierphase.mdlm.diffusion import ModelDenoiser
    from hierphase.mdlm.train import TrainConfig
    from hierphase.text.experiment import fit_text_ngram, prepare_text, train_text_model

    corpus = default_corpus()
    corpus = type(corpus)("slice", corpus.documents[:6])
    data = prepare_text(corpus, seed=0, vocab_size=300, n_passages=4, length=16)
    assert data.passages.shape == data.shuffled.shape == (4, 16)
    assert data.train_windows.shape[1] == 16 and data.train_windows.max() < 300
    res = train_text_model(data, dict(hidden=16, n_blocks=1, n_heads=2, cond_dim=8),
                           TrainConfig(steps=3, batch_size=4, warmup=1, log_every=1), seed=1)
    again = train_text_model(data, dict(hidden=16, n_blocks=1, n_heads=2, cond_dim=8),
                             TrainConfig(steps=3, batch_size=4, warmup=1, log_every=1), seed=1)
    assert res.loss_table.equals(again.loss_table) and res.net.cfg.vocab_size == 301
    ngram = fit_text_ngram(data, order=2)
    for den in (ngram.denoiser(), ModelDenoiser(res.net, 300, steps=4)):
        out = change_correlations(den, data.passages, [0.5], n_maskings=3, seed=0, n_boot=10)
        assert len(out.chi) == 4 and (out.chi.changed > 0).all()
