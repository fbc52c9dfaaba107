"""Random Hierarchy Model (RHM): production rules, sampled trees, parsing, exact enumeration.

A datum is a tree of depth ``L``: level 0 holds the class (one of ``n_classes``), every other
level holds symbols in ``range(v)``; a node at level ``l`` with value ``a`` is replaced by the
``s``-tuple ``tables[l][a, k]`` of one of its ``m`` rules ``k``. Node ``j`` at level ``l`` has
children ``j*s .. j*s + s - 1`` at level ``l + 1``; level ``L`` holds the ``d = s**L`` leaves.

Within one level no tuple is used twice, so every tuple has at most one parent: the grammar is
unambiguous and :func:`parse` recovers the unique latent tree of any valid datum.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import torch

from .checks import check_int, check_int_array, check_rules, check_seed
from .memory import trees_bytes
from .params import is_int as _is_int
from .params import validate_params
from .seeding import derive_seed, torch_generator

__all__ = [
    "Rules",
    "Parse",
    "validate_params",
    "sample_rules",
    "sample_trees",
    "tree_bytes",
    "check_trees",
    "load_trees",
    "n_data",
    "enumerate_data",
    "parse",
    "LevelValidity",
    "level_validity",
    "rules_to_dict",
    "rules_from_dict",
    "save_rules",
    "load_rules",
]

#: Above this many tuples per level, rules are drawn by rejection instead of a full permutation.
_RANDPERM_LIMIT = 1 << 24
#: Largest number of data :func:`enumerate_data` accepts.
ENUMERATE_LIMIT = 2_000_000


@dataclass(frozen=True, eq=False)
class Rules:
    """The production rules of one RHM.

    ``tables[l]`` is a LongTensor ``(n_parents_l, m, s)``: the ``m`` tuples that symbol ``a`` at
    level ``l`` may produce at level ``l + 1``; ``n_parents_0 = n_classes``, the others ``v``.
    """

    v: int
    m: int
    s: int
    L: int
    n_classes: int
    tables: tuple[torch.Tensor, ...]

    @property
    def d(self) -> int:
        """Number of leaves, ``s**L``."""
        return self.s**self.L

    def n_symbols(self, level: int) -> int:
        """Number of values a level-``level`` latent can take (``n_classes`` at 0, else ``v``)."""
        return self.n_classes if level == 0 else self.v

    def n_nodes(self, level: int) -> int:
        """Number of nodes at ``level``: ``s**level``."""
        return self.s**level

    def __repr__(self) -> str:  # tensors would flood the repr
        return (f"Rules(v={self.v}, m={self.m}, s={self.s}, L={self.L}, "
                f"n_classes={self.n_classes})")


class Parse(NamedTuple):
    """Bottom-up parse of leaves: ``latents[l]`` (n, s**l) with -1 where no valid parent exists;
    ``valid[i]`` is True iff every tuple of datum ``i`` is a rule at every level."""

    latents: list[torch.Tensor]
    valid: torch.Tensor


def _decode(codes: torch.Tensor, v: int, s: int) -> torch.Tensor:
    """Integer codes in [0, v**s) -> digits (..., s), most significant first."""
    digits = []
    rest = codes.clone()
    for _ in range(s):
        digits.append(rest % v)
        rest = rest // v
    return torch.stack(digits[::-1], dim=-1)


def _encode(tuples: torch.Tensor, v: int) -> torch.Tensor:
    """Digits (..., s) -> integer codes, inverse of :func:`_decode`."""
    code = torch.zeros(tuples.shape[:-1], dtype=torch.long)
    for i in range(tuples.shape[-1]):
        code = code * v + tuples[..., i]
    return code


def _distinct_codes(n_total: int, k: int, gen: torch.Generator) -> torch.Tensor:
    """``k`` distinct integers drawn uniformly from ``range(n_total)``, in random order."""
    if n_total <= _RANDPERM_LIMIT:
        return torch.randperm(n_total, generator=gen)[:k]
    chosen: list[int] = []
    seen: set[int] = set()
    while len(chosen) < k:
        draw = torch.randint(n_total, (2 * (k - len(chosen)) + 16,), generator=gen).tolist()
        for c in draw:
            if c not in seen:
                seen.add(c)
                chosen.append(c)
                if len(chosen) == k:
                    break
    return torch.tensor(chosen, dtype=torch.long)


def sample_rules(v: int, m: int, s: int, L: int, n_classes: int | None = None,
                 seed: int = 0) -> Rules:
    """Draw the rules of an RHM: per level, distinct tuples without replacement, ``m`` per parent."""
    n_classes = validate_params(v, m, s, L, n_classes)
    seed = check_seed(seed)
    tables = []
    for level in range(L):
        n_parents = n_classes if level == 0 else v
        gen = torch_generator(derive_seed(seed, "rhm.rules", level))
        codes = _distinct_codes(v**s, n_parents * m, gen)
        tables.append(_decode(codes, v, s).reshape(n_parents, m, s).contiguous())
    return Rules(v=v, m=m, s=s, L=L, n_classes=n_classes, tables=tuple(tables))


def tree_bytes(rules: Rules, n: int) -> int:
    """Peak memory of :func:`sample_trees` for ``n`` trees, in bytes
    (:func:`hierphase.memory.trees_bytes`)."""
    check_rules(rules)
    return trees_bytes(rules.s, rules.L, n)


def _physical_memory() -> int | None:
    """Bytes of physical memory, or None where the platform does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        return None


def sample_trees(rules: Rules, n: int, seed: int) -> list[torch.Tensor]:
    """``n`` data with their whole latent tree: L+1 LongTensors, level l of shape (n, s**l)."""
    check_rules(rules)
    if not _is_int(n) or n < 0:
        raise ValueError(f"n (number of trees) must be an int >= 0, got {n!r}")
    seed = check_seed(seed)
    need, have = tree_bytes(rules, n), _physical_memory()
    if have is not None and need > have:
        raise ValueError(f"sample_trees: {n} trees of depth L={rules.L} (d={rules.d} leaves each) "
                         f"need about {need / 2**30:.3g} GiB, more than this machine's "
                         f"{have / 2**30:.3g} GiB; lower n (or L)")
    gen = torch_generator(derive_seed(seed, "rhm.trees"))
    s, m = rules.s, rules.m
    level = torch.randint(rules.n_classes, (n, 1), generator=gen)
    trees = [level]
    for l in range(rules.L):
        k = torch.randint(m, level.shape, generator=gen)
        children = rules.tables[l][level, k]  # (n, s**l, s)
        level = children.reshape(n, s ** (l + 1))
        trees.append(level)
    return trees


def n_data(rules: Rules) -> int:
    """Number of distinct data: ``n_classes * m**((d-1)/(s-1))``."""
    check_rules(rules)
    return rules.n_classes * rules.m ** ((rules.d - 1) // (rules.s - 1))


def enumerate_data(rules: Rules, limit: int = ENUMERATE_LIMIT) -> list[torch.Tensor]:
    """All data of a (tiny) RHM with their latents, in the format of :func:`sample_trees`."""
    total = n_data(rules)
    limit = check_int(limit, "limit", 0)
    if total > limit:
        raise ValueError(f"enumerate_data: the RHM has {total} data, more than limit={limit}")
    s, m = rules.s, rules.m
    level = torch.arange(rules.n_classes).reshape(-1, 1)
    trees = [level]
    for l in range(rules.L):
        n_nodes = s**l
        n_prev = level.shape[0]
        # every combination of one rule per node: (m**n_nodes, n_nodes), node 0 most significant
        combos = _decode(torch.arange(m**n_nodes), m, n_nodes) if n_nodes > 1 else \
            torch.arange(m).reshape(-1, 1)
        n_comb = combos.shape[0]
        parents = level.repeat_interleave(n_comb, dim=0)  # (n_prev*n_comb, n_nodes)
        ks = combos.repeat(n_prev, 1)
        trees = [t.repeat_interleave(n_comb, dim=0) for t in trees]
        level = rules.tables[l][parents, ks].reshape(n_prev * n_comb, s * n_nodes)
        trees.append(level)
    return trees


def _parent_lookup(rules: Rules, level: int) -> torch.Tensor:
    """LongTensor (v**s,): tuple code -> parent symbol at ``level``, or -1."""
    table = rules.tables[level]
    lookup = torch.full((rules.v**rules.s,), -1, dtype=torch.long)
    codes = _encode(table, rules.v)  # (n_parents, m)
    parents = torch.arange(table.shape[0]).unsqueeze(1).expand_as(codes)
    lookup[codes.reshape(-1)] = parents.reshape(-1)
    return lookup


def parse(rules: Rules, leaves: torch.Tensor) -> Parse:
    """Unique bottom-up parse of leaves (n, d) (values in ``range(v)``).

    ``latents[l]`` holds the parent of each ``s``-tuple at level ``l`` or -1 where the tuple is not
    a rule of that level (or contains a -1). ``valid`` marks data whose whole tree parses.
    """
    check_rules(rules)
    leaves = check_int_array(leaves, "leaves")
    if leaves.dim() != 2 or leaves.shape[1] != rules.d:
        raise ValueError(f"parse: leaves must have shape (n, d={rules.d}), got {tuple(leaves.shape)}")
    if leaves.numel() and (leaves.min() < 0 or leaves.max() >= rules.v):
        raise ValueError(f"parse: leaf values must lie in [0, v={rules.v})")
    n, s, v = leaves.shape[0], rules.s, rules.v
    latents = [leaves]
    current = leaves
    for level in range(rules.L - 1, -1, -1):
        groups = current.reshape(n, s**level, s)
        bad = (groups < 0).any(dim=-1)
        codes = _encode(groups.clamp(min=0), v)
        parent = _parent_lookup(rules, level)[codes]
        parent = torch.where(bad, torch.full_like(parent, -1), parent)
        latents.append(parent)
        current = parent
    latents = latents[::-1]
    valid = latents[0][:, 0] >= 0  # a -1 anywhere propagates to the root
    return Parse(latents=latents, valid=valid)


class LevelValidity(NamedTuple):
    """Per production level ``l = 0 .. L-1`` (level ``l``'s rules make the ``s``-tuples of level
    ``l + 1``; 0 is the class rules, ``L - 1`` the rules that make the leaves), arrays ``(L,)``:

    * ``checked[l]``: tuples of level ``l + 1`` all of whose members parse (every leaf tuple is
      checked; above, a tuple counts only where the parse below it is valid);
    * ``rules[l]``: of those, the tuples that are rules of level ``l``;
    * ``valid_up_to[l]``: data whose parse is valid from the leaves up to level ``l`` (every node
      of level ``l`` has a parent); ``valid_up_to[0]`` counts the fully grammatical data;
    * ``n``: the number of data.
    """

    checked: torch.Tensor
    rules: torch.Tensor
    valid_up_to: torch.Tensor
    n: int


def level_validity(rules: Rules, leaves: torch.Tensor) -> LevelValidity:
    """Counts of :class:`LevelValidity` for data ``leaves`` (n, d), from their :func:`parse`."""
    latents = parse(rules, leaves).latents
    n = latents[0].shape[0]
    checked, valid, up_to = [], [], []
    for level in range(rules.L):
        children = latents[level + 1].reshape(n, rules.s**level, rules.s)
        parents = latents[level] >= 0
        checked.append(int((children >= 0).all(dim=-1).sum()))
        valid.append(int(parents.sum()))
        up_to.append(int(parents.all(dim=1).sum()))
    as_tensor = lambda x: torch.tensor(x, dtype=torch.long)  # noqa: E731
    return LevelValidity(as_tensor(checked), as_tensor(valid), as_tensor(up_to), int(n))


def rules_to_dict(rules: Rules) -> dict:
    """Plain dict (ints and a list of tensors) for ``torch.save`` / :func:`hierphase.io.save_tensors`."""
    check_rules(rules)
    return {"v": rules.v, "m": rules.m, "s": rules.s, "L": rules.L,
            "n_classes": rules.n_classes, "tables": [t.clone() for t in rules.tables]}


def rules_from_dict(data: dict) -> Rules:
    """Inverse of :func:`rules_to_dict`; checks the shapes and the unambiguity of the tables."""
    if not isinstance(data, dict):
        raise TypeError(f"data must be a dict of rules, got {type(data).__name__}")
    missing = [k for k in ("v", "m", "s", "L", "n_classes", "tables") if k not in data]
    if missing:
        raise ValueError(f"data: the rules lack the keys {missing}")
    v, m, s, L, n_classes = (check_int(data[k], f"data[{k!r}]")
                             for k in ("v", "m", "s", "L", "n_classes"))
    n_classes = validate_params(v, m, s, L, n_classes)
    if not isinstance(data["tables"], (list, tuple)):
        raise TypeError(f"data['tables'] must be a list of tensors, got "
                        f"{type(data['tables']).__name__}")
    tables = tuple(check_int_array(t, f"data['tables'][{i}]").contiguous()
                   for i, t in enumerate(data["tables"]))
    if len(tables) != L:
        raise ValueError(f"rules: expected L={L} tables, got {len(tables)}")
    for level, t in enumerate(tables):
        n_par = n_classes if level == 0 else v
        if tuple(t.shape) != (n_par, m, s):
            raise ValueError(f"rules: tables[{level}] has shape {tuple(t.shape)}, expected {(n_par, m, s)}")
        if t.min() < 0 or t.max() >= v:
            raise ValueError(f"rules: tables[{level}] has symbols outside [0, v={v})")
        if _encode(t, v).reshape(-1).unique().numel() != n_par * m:
            raise ValueError(f"rules: tables[{level}] repeats a tuple (grammar must be unambiguous)")
    return Rules(v=v, m=m, s=s, L=L, n_classes=n_classes, tables=tables)


def save_rules(rules: Rules, path: str | os.PathLike | None = None, **sidecar) -> dict:
    """Return the rules as a dict; with ``path``, also write it atomically as ``.pt`` + sidecar."""
    data = rules_to_dict(rules)
    if path is not None:
        from .io import save_tensors

        save_tensors(path, data, **sidecar)
    return data


def check_trees(rules: Rules, trees: Sequence[torch.Tensor], n: int | None = None) -> list[torch.Tensor]:
    """``trees`` as :func:`sample_trees` gives them for ``rules`` (L+1 integer tensors, level l
    of shape (n, s**l), symbols in range; ``n`` given or that of the root level), on the CPU."""
    if not isinstance(trees, (list, tuple)):
        raise TypeError(f"trees must be a list of L+1 tensors, got {type(trees).__name__}")
    if len(trees) != rules.L + 1:
        raise ValueError(f"trees must have L+1 = {rules.L + 1} levels, got {len(trees)}")
    out = []
    for level, t in enumerate(trees):
        t = check_int_array(t, f"trees[{level}]").detach().cpu()
        if n is None and level == 0 and t.ndim:
            n = t.shape[0]
        if tuple(t.shape) != (n, rules.s**level):
            raise ValueError(f"trees[{level}] must have shape (n={n}, {rules.s**level}), "
                             f"got {tuple(t.shape)}")
        if t.numel() and (t.min() < 0 or t.max() >= rules.n_symbols(level)):
            raise ValueError(f"trees[{level}] has values outside [0, {rules.n_symbols(level)})")
        out.append(t)
    return out


def load_trees(path: str | os.PathLike, rules: Rules) -> list[torch.Tensor]:
    """The trees a data job wrote at ``path`` (``{"levels": [...]}``), checked to be trees of
    ``rules``; trees of other rules (another depth, branching or vocabulary, after a config
    change) are refused naming the file."""
    from .io import load_tensors

    data = load_tensors(path)
    try:
        return check_trees(rules, data.get("levels") if isinstance(data, dict) else data)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: not trees of these rules (v = {rules.v}, s = {rules.s}, "
                         f"L = {rules.L}): {e}; delete it and rerun") from None


def load_rules(source: str | os.PathLike | dict) -> Rules:
    """Rules from a dict made by :func:`save_rules` or from a ``.pt`` file written by it."""
    if not isinstance(source, (dict, str, os.PathLike)) or source == "":
        raise TypeError(f"source must be a dict or a path, got {source!r}")
    if not isinstance(source, dict):
        from .io import load_tensors

        source = load_tensors(source)
    return rules_from_dict(source)
