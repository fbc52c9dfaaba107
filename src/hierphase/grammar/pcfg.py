"""Probabilistic context-free grammars in Chomsky normal form (CNF), and two of their sources.

A :class:`Grammar` has ``N`` nonterminals and ``V`` terminals. Its rules are

* binary, ``A -> B C`` between nonterminals: ``binary[r] = (A, B, C)`` with probability
  ``binary_prob[r]``;
* lexical, ``A -> a`` with ``a`` a terminal: probability ``lexical[A, a]`` (dense ``(N, V)``);

and the tree's root is drawn from ``root`` (``(N,)``; a start symbol is a one-hot ``root``). Every
nonterminal's rules sum to 1. A sentence's probability is the sum over its parse trees of the
product of the root probability and of every rule used.

Sources here: :func:`random_grammar` (a seeded ensemble with tunable ambiguity) and
:func:`rhm_grammar` (the Random Hierarchy Model written as a grammar: one nonterminal set per
level, so only the RHM's own trees have nonzero probability). :mod:`hierphase.grammar.text` reads
a grammar written in NLTK's PCFG notation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..params import is_int
from ..rhm import Rules
from ..seeding import derive_seed, torch_generator
from ._checks import check_count

__all__ = ["Grammar", "make_grammar", "grammar_to_dict", "grammar_from_dict", "random_grammar", "rhm_grammar", "rhm_level_marginals",
           "PROBABILITY_LAWS", "SUM_TOLERANCE", "MAX_ATTEMPTS"]

#: Largest deviation from 1 of a nonterminal's rule probabilities (or of the root's) accepted.
SUM_TOLERANCE = 1e-9
#: Most draws :func:`random_grammar` makes to find a grammar deriving the requested lengths.
MAX_ATTEMPTS = 100
#: Laws of the rule probabilities within one nonterminal that :func:`random_grammar` draws.
PROBABILITY_LAWS = ("uniform", "zipf")


@dataclass(frozen=True, eq=False)
class Grammar:
    """A PCFG in CNF (see the module docstring). Build it with :func:`make_grammar`, which checks
    it; tensors are float64 (probabilities) and int64 (rule indices), on the CPU.

    ``auxiliary[A]`` marks nonterminals introduced to binarise longer rules (their spans are not
    constituents of the grammar the user wrote)."""

    nonterminals: tuple[str, ...]
    terminals: tuple[str, ...]
    binary: torch.Tensor
    binary_prob: torch.Tensor
    lexical: torch.Tensor
    root: torch.Tensor
    auxiliary: tuple[bool, ...]

    @property
    def n_nonterminals(self) -> int:
        return len(self.nonterminals)

    @property
    def n_terminals(self) -> int:
        return len(self.terminals)

    @property
    def n_binary(self) -> int:
        return int(self.binary.shape[0])

    def __repr__(self) -> str:  # tensors would flood the repr
        return (f"Grammar(N={self.n_nonterminals}, V={self.n_terminals}, "
                f"binary_rules={self.n_binary}, lexical_rules={int((self.lexical > 0).sum())})")


def make_grammar(binary, binary_prob, lexical, root, nonterminals=None, terminals=None,
                 auxiliary=None) -> Grammar:
    """A checked :class:`Grammar`. ``binary`` (R, 3) ints ``(A, B, C)``; ``binary_prob`` (R,);
    ``lexical`` (N, V); ``root`` (N,). Names default to ``"N<i>"`` and ``"t<a>"``.

    Raises ValueError naming the argument: shapes, indices out of range, a repeated binary rule,
    probabilities outside [0, 1] (or NaN), a nonterminal whose rules do not sum to 1 (within
    :data:`SUM_TOLERANCE`), a root that does not sum to 1."""
    lexical = torch.as_tensor(lexical, dtype=torch.float64).clone()
    if lexical.dim() != 2 or lexical.shape[0] < 1 or lexical.shape[1] < 1:
        raise ValueError(f"lexical must have shape (N, V) with N, V >= 1, got {tuple(lexical.shape)}")
    n, v = lexical.shape
    binary = torch.as_tensor(binary).reshape(-1, 3)
    if binary.is_floating_point() or binary.dtype == torch.bool:
        raise ValueError("binary must hold integer nonterminal indices (A, B, C)")
    binary = binary.long().clone()
    binary_prob = torch.as_tensor(binary_prob, dtype=torch.float64).reshape(-1).clone()
    if binary_prob.shape[0] != binary.shape[0]:
        raise ValueError(f"binary_prob has {binary_prob.shape[0]} entries for {binary.shape[0]} "
                         "binary rules")
    if binary.numel() and (binary.min() < 0 or binary.max() >= n):
        raise ValueError(f"binary: nonterminal indices must lie in [0, N={n})")
    root = torch.as_tensor(root, dtype=torch.float64).reshape(-1).clone()
    if root.shape[0] != n:
        raise ValueError(f"root must have N={n} entries, got {root.shape[0]}")
    for name, p in (("binary_prob", binary_prob), ("lexical", lexical), ("root", root)):
        if p.numel() and not bool(((p >= 0) & (p <= 1)).all()):
            raise ValueError(f"{name}: probabilities must lie in [0, 1] (no NaN)")
    if binary.shape[0]:
        codes = (binary[:, 0] * n + binary[:, 1]) * n + binary[:, 2]
        if codes.unique().numel() != codes.numel():
            raise ValueError("binary: a rule A -> B C appears twice")
    totals = lexical.sum(1).index_add(0, binary[:, 0], binary_prob)
    bad = ((totals - 1).abs() > SUM_TOLERANCE).nonzero().flatten().tolist()
    nonterminals = _names(nonterminals, n, "N", "nonterminals")
    terminals = _names(terminals, v, "t", "terminals")
    if bad:
        raise ValueError(f"rules of nonterminal {nonterminals[bad[0]]!r} sum to "
                         f"{float(totals[bad[0]]):.12g}, not 1 ({len(bad)} nonterminal(s) off)")
    if abs(float(root.sum()) - 1) > SUM_TOLERANCE:
        raise ValueError(f"root sums to {float(root.sum()):.12g}, not 1")
    auxiliary = tuple(bool(x) for x in (auxiliary if auxiliary is not None else [False] * n))
    if len(auxiliary) != n:
        raise ValueError(f"auxiliary must have N={n} entries, got {len(auxiliary)}")
    return Grammar(nonterminals=nonterminals, terminals=terminals, binary=binary,
                   binary_prob=binary_prob, lexical=lexical, root=root, auxiliary=auxiliary)


def grammar_to_dict(grammar: Grammar) -> dict:
    """Plain dict (tensors and lists of str/bool) for :func:`hierphase.io.save_tensors`."""
    return {"nonterminals": list(grammar.nonterminals), "terminals": list(grammar.terminals),
            "binary": grammar.binary.clone(), "binary_prob": grammar.binary_prob.clone(),
            "lexical": grammar.lexical.clone(), "root": grammar.root.clone(),
            "auxiliary": list(grammar.auxiliary)}


def grammar_from_dict(data: dict) -> Grammar:
    """Inverse of :func:`grammar_to_dict`, checked by :func:`make_grammar`."""
    missing = {"nonterminals", "terminals", "binary", "binary_prob", "lexical", "root",
               "auxiliary"} - set(data)
    if missing:
        raise ValueError(f"grammar dict lacks {sorted(missing)}")
    return make_grammar(data["binary"], data["binary_prob"], data["lexical"], data["root"],
                        nonterminals=data["nonterminals"], terminals=data["terminals"],
                        auxiliary=data["auxiliary"])


def _names(names, count: int, prefix: str, what: str) -> tuple[str, ...]:
    if names is None:
        return tuple(f"{prefix}{i}" for i in range(count))
    names = tuple(str(x) for x in names)
    if len(names) != count:
        raise ValueError(f"{what} must have {count} names, got {len(names)}")
    if len(set(names)) != count:
        raise ValueError(f"{what}: names must be distinct")
    return names


# ----------------------------------------------------------------------------- random ensemble
def _rule_probabilities(k: int, law: str, exponent: float, gen: torch.Generator) -> torch.Tensor:
    """``k`` probabilities: equal, or ``∝ rank**-exponent`` over a random order of the ranks."""
    if law == "uniform" or k == 1:
        return torch.full((k,), 1.0 / k, dtype=torch.float64)
    ranks = torch.randperm(k, generator=gen).to(torch.float64) + 1
    w = ranks ** (-exponent)
    return w / w.sum()


def _draw_rhs(n_parents: int, per_parent: int, n_options: int, overlap: float,
              gen: torch.Generator) -> torch.Tensor:
    """(n_parents, per_parent) right-hand sides coded in ``range(n_options)``, distinct within a
    parent. Each slot is shared (drawn uniformly from all options, so it may coincide with another
    parent's), else exclusive (an option no other parent uses); ``round((1 - overlap) * slots)``
    slots, chosen uniformly, are exclusive."""
    n_slots = n_parents * per_parent
    n_exclusive = int(round((1.0 - overlap) * n_slots))
    shared = torch.ones(n_slots, dtype=torch.bool)
    shared[torch.randperm(n_slots, generator=gen)[:n_exclusive]] = False
    shared = shared.reshape(n_parents, per_parent)
    if n_exclusive > n_options:
        raise ValueError(f"random_grammar: {n_exclusive} exclusive right-hand sides needed but only "
                         f"{n_options} exist; raise overlap or lower the rules per nonterminal")
    pool = torch.randperm(n_options, generator=gen)
    exclusive = pool[:n_exclusive].tolist()
    # shared slots avoid the reserved options, unless too few others are left for one parent
    most_shared = int(shared.sum(1).max()) if n_parents else 0
    reserved = set(exclusive) if n_options - n_exclusive >= most_shared else set()
    out = torch.full((n_parents, per_parent), -1, dtype=torch.long)
    out[~shared] = torch.tensor(exclusive, dtype=torch.long)
    for a, k in shared.nonzero().tolist():
        used = set(out[a].tolist())
        while True:  # a uniform draw among the options not reserved and not used by this parent
            code = int(torch.randint(n_options, (1,), generator=gen))
            if code not in used and code not in reserved:
                break
        out[a, k] = code
    return out


def random_grammar(n_nonterminals: int, n_preterminals: int, n_terminals: int, n_binary: int,
                   n_lexical: int, overlap: float, seed: int, law: str = "uniform",
                   zipf_exponent: float = 1.0, n_roots: int = 1,
                   lengths: Sequence[int] = ()) -> Grammar:
    """A random PCFG with tunable ambiguity, seeded.

    Nonterminals ``0 .. n_phrasal - 1`` (``n_phrasal = n_nonterminals - n_preterminals``) are
    phrasal: each has ``n_binary`` binary rules ``A -> B C`` with ``B, C`` any nonterminal; the
    last ``n_preterminals`` are preterminals: each has ``n_lexical`` lexical rules ``A -> a``.
    The root is uniform over the first ``n_roots`` (phrasal) nonterminals: the sentence's class.

    Ambiguity has three knobs: ``n_binary`` (how many right-hand sides, hence parse trees, a
    phrasal nonterminal has), ``overlap`` in [0, 1] (a fraction ``overlap`` of all right-hand
    sides, chosen at random, is drawn from all ``N**2`` pairs (or ``V`` terminals) so that
    different nonterminals may share it, the others are reserved to their parent alone: at 0 a
    right-hand side determines its parent, as in the RHM, at 1 the yields of different
    nonterminals overlap freely) and the law of the rule probabilities within a nonterminal:
    ``"uniform"`` or ``"zipf"`` (``∝ rank**-zipf_exponent``, ranks in a random order, as in
    power-law RHMs).

    Not every draw derives sentences of every length (a phrasal nonterminal may only rewrite
    into phrasal ones, or only into even lengths): with ``lengths``, draws are repeated (attempt
    ``j`` uses the seed ``derive_seed(seed, "grammar.random", j)``, at most
    :data:`MAX_ATTEMPTS`) until the root derives a sentence of each length in ``lengths``; the
    ensemble is then the one conditioned on that. ValueError if no attempt succeeds."""
    for name, value, lo in (("n_nonterminals", n_nonterminals, 2), ("n_preterminals", n_preterminals, 1),
                            ("n_terminals", n_terminals, 1), ("n_binary", n_binary, 1),
                            ("n_lexical", n_lexical, 1), ("n_roots", n_roots, 1), ("seed", seed, 0)):
        check_count(name, value, lo)
    n_phrasal = n_nonterminals - n_preterminals
    if n_phrasal < 1:
        raise ValueError(f"n_preterminals must be < n_nonterminals={n_nonterminals}, "
                         f"got {n_preterminals}")
    if n_roots > n_phrasal:
        raise ValueError(f"n_roots must be <= the {n_phrasal} phrasal nonterminals, got {n_roots}")
    if n_binary > n_nonterminals**2:
        raise ValueError(f"n_binary must be <= N**2={n_nonterminals**2}, got {n_binary}")
    if n_lexical > n_terminals:
        raise ValueError(f"n_lexical must be <= n_terminals={n_terminals}, got {n_lexical}")
    overlap = float(overlap)
    if not 0.0 <= overlap <= 1.0:
        raise ValueError(f"overlap must lie in [0, 1], got {overlap}")
    if law not in PROBABILITY_LAWS:
        raise ValueError(f"law must be one of {PROBABILITY_LAWS}, got {law!r}")
    zipf_exponent = float(zipf_exponent)
    if not (zipf_exponent >= 0 and math.isfinite(zipf_exponent)):
        raise ValueError(f"zipf_exponent must be finite and >= 0, got {zipf_exponent}")
    lengths = tuple(lengths)
    if not all(is_int(n) and n >= 1 for n in lengths):
        raise ValueError(f"lengths must be ints >= 1, got {lengths!r}")
    from .inside import length_probability

    for attempt in range(MAX_ATTEMPTS if lengths else 1):
        gen = torch_generator(derive_seed(int(seed), "grammar.random", attempt))
        g = _draw_grammar(n_nonterminals, n_preterminals, n_terminals, n_binary, n_lexical,
                          overlap, law, zipf_exponent, n_roots, gen)
        if all(length_probability(g, n) > -math.inf for n in lengths):
            return g
    raise ValueError(f"random_grammar: no draw in {MAX_ATTEMPTS} derives sentences of every "
                     f"length in {lengths}; give phrasal nonterminals more rules or more "
                     "preterminal children")


def _draw_grammar(n_nonterminals, n_preterminals, n_terminals, n_binary, n_lexical, overlap,
                  law, zipf_exponent, n_roots, gen) -> Grammar:
    n_phrasal = n_nonterminals - n_preterminals
    n = n_nonterminals
    pairs = _draw_rhs(n_phrasal, n_binary, n * n, overlap, gen)
    words = _draw_rhs(n_preterminals, n_lexical, n_terminals, overlap, gen)
    parents = torch.arange(n_phrasal).repeat_interleave(n_binary)
    binary = torch.stack([parents, pairs.reshape(-1) // n, pairs.reshape(-1) % n], dim=1)
    binary_prob = torch.cat([_rule_probabilities(n_binary, law, zipf_exponent, gen)
                             for _ in range(n_phrasal)])
    lexical = torch.zeros((n, n_terminals), dtype=torch.float64)
    for j in range(n_preterminals):
        lexical[n_phrasal + j, words[j]] = _rule_probabilities(n_lexical, law, zipf_exponent, gen)
    root = torch.zeros(n, dtype=torch.float64)
    root[:n_roots] = 1.0 / n_roots
    names = [f"X{i}" for i in range(n_phrasal)] + [f"P{j}" for j in range(n_preterminals)]
    return make_grammar(binary, binary_prob, lexical, root, nonterminals=names)


# ----------------------------------------------------------------------------- the RHM
@dataclass(frozen=True)
class _RHMLayout:
    """Index of the nonterminal for level ``l``, symbol ``a``: ``offsets[l] + a``; level ``L``
    are the preterminals (one per leaf symbol)."""
    offsets: tuple[int, ...]
    n_nonterminals: int


def _rhm_layout(rules: Rules) -> _RHMLayout:
    offsets, total = [], 0
    for level in range(rules.L + 1):
        offsets.append(total)
        total += rules.n_symbols(level)
    n_aux = sum(rules.n_symbols(level) * rules.m * (rules.s - 2) for level in range(rules.L))
    return _RHMLayout(tuple(offsets), total + n_aux)


def rhm_grammar(rules: Rules) -> Grammar:
    """The RHM ``rules`` as a CNF grammar that gives the RHM's trees (and only them) the RHM's
    probabilities.

    Nonterminals: ``"L<l>:<a>"`` for symbol ``a`` at level ``l = 0 .. L`` (level 0 the classes,
    level ``L`` the preterminals ``L<L>:<a> -> a`` with probability 1), then, for ``s > 2``,
    auxiliary ones. Rule ``k`` of symbol ``a`` at level ``l``, ``a -> (c_1 .. c_s)`` with
    probability ``1/m``, becomes ``a -> c_1 Y_1``, ``Y_1 -> c_2 Y_2``, ..., ``Y_{s-2} -> c_{s-1}
    c_s`` (the ``Y`` are auxiliary, one set per rule, each with one rule of probability 1).
    A level-``l`` nonterminal derives exactly ``s**(L - l)`` tokens, so the split of every span is
    forced and a sentence of ``d = s**L`` tokens has the RHM's tree or none. The root is uniform
    over the classes."""
    layout = _rhm_layout(rules)
    s, m, L = rules.s, rules.m, rules.L
    names = [f"L{level}:{a}" for level in range(L + 1) for a in range(rules.n_symbols(level))]
    binary, probs = [], []
    next_aux = len(names)
    for level in range(L):
        table = rules.tables[level].tolist()
        child = layout.offsets[level + 1]
        for a, rhs_list in enumerate(table):
            for k, rhs in enumerate(rhs_list):
                left = layout.offsets[level] + a
                p = 1.0 / m
                for i in range(s - 2):
                    names.append(f"L{level}:{a}/{k}.{i + 1}")
                    binary.append((left, child + rhs[i], next_aux))
                    probs.append(p)
                    left, p = next_aux, 1.0
                    next_aux += 1
                binary.append((left, child + rhs[-2], child + rhs[-1]))
                probs.append(p)
    lexical = torch.zeros((layout.n_nonterminals, rules.v), dtype=torch.float64)
    lexical[layout.offsets[L] + torch.arange(rules.v), torch.arange(rules.v)] = 1.0
    root = torch.zeros(layout.n_nonterminals, dtype=torch.float64)
    root[: rules.n_classes] = 1.0 / rules.n_classes
    n_named = layout.offsets[L] + rules.v
    auxiliary = [False] * n_named + [True] * (layout.n_nonterminals - n_named)
    return make_grammar(torch.tensor(binary, dtype=torch.long), probs, lexical, root,
                        nonterminals=names, terminals=[str(a) for a in range(rules.v)],
                        auxiliary=auxiliary)


def rhm_level_marginals(rules: Rules, span_marginals: torch.Tensor) -> list[torch.Tensor]:
    """The RHM's per-level posterior marginals, in the format of :func:`hierphase.bp.marginals`
    (L+1 tensors (batch, s**l, v_l)), read off the span marginals ``(batch, d, d, N)`` of
    :func:`hierphase.grammar.inside_outside` on :func:`rhm_grammar` ``(rules)``: node ``j`` of
    level ``l`` is the span starting at ``j * s**(L-l)`` of width ``s**(L-l)``, labelled by the
    level-``l`` nonterminals (level ``L``: the preterminals, i.e. the tokens)."""
    layout = _rhm_layout(rules)
    d = rules.d
    if span_marginals.dim() != 4 or tuple(span_marginals.shape[1:]) != (d, d, layout.n_nonterminals):
        raise ValueError(f"span_marginals must have shape (batch, {d}, {d}, "
                         f"{layout.n_nonterminals}), got {tuple(span_marginals.shape)}")
    out = []
    for level in range(rules.L + 1):
        width = rules.s ** (rules.L - level)
        starts = torch.arange(rules.s**level) * width
        lo = layout.offsets[level]
        out.append(span_marginals[:, starts, width - 1, lo:lo + rules.n_symbols(level)])
    return out
