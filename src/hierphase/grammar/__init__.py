"""Probabilistic context-free grammars: language-like data whose parse tree is latent and
ambiguous, with the exact posterior of a noisy sentence by inside-outside.

- :mod:`~hierphase.grammar.pcfg`: the :class:`Grammar` (CNF, frozen tensors) and its sources:
  random ensembles with tunable ambiguity, the RHM written as a grammar;
- :mod:`~hierphase.grammar.text`: grammars read from NLTK's PCFG notation;
- :mod:`~hierphase.grammar.inside`: inside-outside (posterior marginals of tokens, labelled spans
  and the root), exact joint posterior samples, sentences of a given length with their trees.
"""

from .inside import (BACKENDS, Posterior, Trees, length_probability, posterior, sample_posterior,
                     sample_sentences, span_chart)
from .pcfg import (Grammar, make_grammar, random_grammar, rhm_grammar, rhm_level_marginals)
from .text import parse_pcfg, read_pcfg

__all__ = ["Grammar", "make_grammar", "random_grammar", "rhm_grammar", "rhm_level_marginals",
           "BACKENDS", "Posterior", "Trees", "posterior", "sample_posterior",
           "sample_sentences", "length_probability", "span_chart", "parse_pcfg", "read_pcfg"]
