"""Grammars written in NLTK's PCFG notation, read by a small parser of our own.

The notation, one production or a set of alternatives per line::

    # a comment; blank lines are skipped
    %start S                      (optional; else the first rule's left-hand side is the start)
    S -> NP VP [1.0]
    NP -> Det N [0.6] | 'John' [0.4]
    Det -> 'the' [0.7] | "a" [0.3]

Nonterminals are bare names; terminals are quoted with ``'`` or ``"`` (no escapes); every
alternative ends with its probability in brackets; a line ending in ``\\`` continues on the next.
The probabilities of each left-hand side must sum to 1 within :data:`TEXT_TOLERANCE` (they are then
rescaled to sum to 1 exactly).

Chomsky normal form is made where it can be without changing the trees' meaning:

* a right-hand side of ``k > 2`` symbols ``A -> X1 X2 .. Xk`` is binarised into
  ``A -> X1 A|<X2-..-Xk>``, ``A|<X2-..-Xk> -> X2 A|<X3-..-Xk>``, ... (auxiliary nonterminals,
  probability 1, marked in :attr:`Grammar.auxiliary`);
* a terminal inside a right-hand side of two or more symbols gets an auxiliary preterminal
  ``<'word'> -> 'word'`` of probability 1.

Refused, with the line: unit rules ``A -> B`` (removing them would merge trees and, with cycles,
need a matrix inverse; rewrite the grammar without them), empty right-hand sides, rules that are
not ``symbols [probability]``.
"""

from __future__ import annotations

import math
import os
import re

import torch

from .pcfg import Grammar, make_grammar

__all__ = ["parse_pcfg", "read_pcfg", "TEXT_TOLERANCE"]

#: Largest deviation from 1 of one left-hand side's probabilities that the reader accepts.
TEXT_TOLERANCE = 1e-6

_TOKEN = re.compile(r"""\s*(?:(?P<quoted>'[^']*'|"[^"]*")|(?P<prob>\[[^\]]*\])|(?P<bar>\|)"""
                    r"""|(?P<name>[^\s'"\[\]|]+))""")
_NAME = re.compile(r"^[^\s'\"\[\]|]+$")


class _Terminal(str):
    """A terminal symbol (quoted in the text)."""


def _alternatives(text: str, lineno: int):
    """[(symbols, probability)] of one right-hand side text; symbols are str (nonterminal) or
    :class:`_Terminal`."""
    out, symbols, pos = [], [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"line {lineno}: cannot read {text[pos:].strip()!r}")
        pos = m.end()
        if m.group("quoted") is not None:
            symbols.append(_Terminal(m.group("quoted")[1:-1]))
        elif m.group("name") is not None:
            if m.group("name") == "->":
                raise ValueError(f"line {lineno}: a second '->'")
            symbols.append(m.group("name"))
        elif m.group("prob") is not None:
            raw = m.group("prob")[1:-1].strip()
            try:
                p = float(raw)
            except ValueError:
                raise ValueError(f"line {lineno}: probability [{raw}] is not a number") from None
            if not (0.0 <= p <= 1.0 and math.isfinite(p)):
                raise ValueError(f"line {lineno}: probability [{raw}] must lie in [0, 1]")
            if not symbols:
                raise ValueError(f"line {lineno}: empty right-hand side before [{raw}] "
                                 "(empty productions are not supported)")
            out.append((tuple(symbols), p))
            symbols = []
        else:  # bar
            if symbols:
                raise ValueError(f"line {lineno}: alternative {' '.join(symbols)!r} has no "
                                 "[probability]")
            if not out:
                raise ValueError(f"line {lineno}: '|' with no alternative before it")
    if symbols:
        raise ValueError(f"line {lineno}: alternative {' '.join(symbols)!r} has no [probability]")
    if not out:
        raise ValueError(f"line {lineno}: no right-hand side")
    return out


def _strip_comment(line: str) -> str:
    """``line`` up to its first ``#`` outside a quoted terminal."""
    quote = None
    for pos, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            return line[:pos]
    return line


def _logical_lines(text: str):
    """(line number, text) with comments stripped and ``\\`` continuations joined."""
    pending, first = "", None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw).rstrip()
        if first is None:
            first = lineno
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full, start_line = pending + line, first
        pending, first = "", None
        if full.strip():
            yield start_line, full.strip()
    if pending.strip():
        raise ValueError(f"line {first}: the text ends inside a '\\' continuation")


def parse_pcfg(text: str) -> Grammar:
    """A :class:`Grammar` from text in NLTK's PCFG notation (see the module docstring), brought
    to CNF where possible. Raises ValueError naming the line for anything it cannot read or
    refuses; TypeError if ``text`` is not a str."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    start = None
    rules: list[tuple[str, tuple, float, int]] = []
    for lineno, line in _logical_lines(text):
        if line.startswith("%"):
            parts = line.split()
            if parts[0] != "%start" or len(parts) != 2 or not _NAME.match(parts[1]):
                raise ValueError(f"line {lineno}: only '%start NAME' is understood, got {line!r}")
            start = parts[1]
            continue
        if "->" not in line:
            raise ValueError(f"line {lineno}: expected 'LHS -> RHS [p] | ...', got {line!r}")
        lhs, rhs = line.split("->", 1)
        lhs = lhs.strip()
        if not _NAME.match(lhs):
            raise ValueError(f"line {lineno}: left-hand side {lhs!r} must be one unquoted name")
        for symbols, p in _alternatives(rhs, lineno):
            if len(symbols) == 1 and not isinstance(symbols[0], _Terminal):
                raise ValueError(f"line {lineno}: unit rule {lhs} -> {symbols[0]} is not in Chomsky "
                                 "normal form and is not converted (write the grammar without "
                                 "unit rules)")
            rules.append((lhs, symbols, p, lineno))
    if not rules:
        raise ValueError("the text holds no production")
    return _to_cnf(rules, start if start is not None else rules[0][0])


def _to_cnf(rules, start: str) -> Grammar:
    first_line: dict[str, int] = {}
    totals: dict[str, float] = {}
    for lhs, _, p, lineno in rules:
        first_line.setdefault(lhs, lineno)
        totals[lhs] = totals.get(lhs, 0.0) + p
    for lhs, total in totals.items():
        if abs(total - 1.0) > TEXT_TOLERANCE:
            raise ValueError(f"line {first_line[lhs]}: the probabilities of {lhs} sum to "
                             f"{total:.10g}, not 1")
    for lhs, symbols, _, lineno in rules:
        for x in symbols:
            if not isinstance(x, _Terminal) and x not in totals:
                raise ValueError(f"line {lineno}: nonterminal {x!r} has no production")
    if start not in totals:
        raise ValueError(f"start symbol {start!r} has no production")
    names = list(totals)
    index = {x: i for i, x in enumerate(names)}
    auxiliary = [False] * len(names)
    terminals: list[str] = []
    t_index: dict[str, int] = {}
    binary: dict[tuple[int, int, int], float] = {}
    lexical: dict[tuple[int, int], float] = {}

    def nonterminal(name: str) -> int:
        if name not in index:
            index[name] = len(names)
            names.append(name)
            auxiliary.append(True)
        return index[name]

    def terminal(word: str) -> int:
        if word not in t_index:
            t_index[word] = len(terminals)
            terminals.append(word)
        return t_index[word]

    def symbol(x) -> int:
        if isinstance(x, _Terminal):
            pre = nonterminal(f"<'{x}'>")
            lexical[(pre, terminal(x))] = 1.0
            return pre
        return index[x]

    def add_binary(key, p, lineno):
        if key in binary and auxiliary[key[0]] is False:
            raise ValueError(f"line {lineno}: the production {names[key[0]]} -> {names[key[1]]} "
                             f"{names[key[2]]} appears twice")
        binary[key] = p

    for lhs, symbols, p, lineno in rules:
        p = p / totals[lhs]
        a = index[lhs]
        if len(symbols) == 1:
            key = (a, terminal(symbols[0]))
            if key in lexical:
                raise ValueError(f"line {lineno}: the production {lhs} -> '{symbols[0]}' appears twice")
            lexical[key] = p
            continue
        ids = [symbol(x) for x in symbols]
        parent, prob = a, p
        for j in range(len(ids) - 2):
            rest = "-".join(str(x) for x in symbols[j + 1:])
            aux = nonterminal(f"{lhs}|<{rest}>")
            add_binary((parent, ids[j], aux), prob, lineno)
            parent, prob = aux, 1.0
        add_binary((parent, ids[-2], ids[-1]), prob, lineno)
    n, v = len(names), len(terminals)
    if v == 0:
        raise ValueError("the grammar has no terminal")
    lex = torch.zeros((n, v), dtype=torch.float64)
    for (a, t), p in lexical.items():
        lex[a, t] = p
    root = torch.zeros(n, dtype=torch.float64)
    root[index[start]] = 1.0
    keys = list(binary)
    return make_grammar(torch.tensor(keys, dtype=torch.long).reshape(-1, 3),
                        [binary[k] for k in keys], lex, root, nonterminals=names,
                        terminals=terminals, auxiliary=auxiliary)


def read_pcfg(path: str | os.PathLike) -> Grammar:
    """:func:`parse_pcfg` of a UTF-8 text file; errors name the file and the line."""
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    try:
        return parse_pcfg(text)
    except ValueError as err:
        raise ValueError(f"{os.fspath(path)}: {err}") from None
