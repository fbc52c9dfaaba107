"""Probabilistic context-free grammars: language-like data whose parse tree is latent and
ambiguous, with the exact posterior of a noisy sentence by inside-outside.

- :mod:`~hierphase.grammar.pcfg`: the :class:`Grammar` (CNF, frozen tensors) and its sources:
  random ensembles with tunable ambiguity, the RHM written as a grammar;
- :mod:`~hierphase.grammar.text`: grammars read from NLTK's PCFG notation;
- :mod:`~hierphase.grammar.inside`: inside-outside (posterior marginals of tokens, labelled spans
  and the root), exact joint posterior samples, sentences of a given length with their trees;
- :mod:`~hierphase.grammar.hmm`: the control without hierarchy, an HMM fitted to the sentences;
- :mod:`~hierphase.grammar.sweeps`: one noise level of forward-backward: what is kept, change
  correlations, co-changes against the true constituents;
- :mod:`~hierphase.grammar.phase`: across grammars, whether the class transition sharpens with
  the sentence length, and the RHM's mean field where the grammar is an RHM.
"""

from .inside import (BACKENDS, Parse, Posterior, Trees, compile_kernels, length_probability, parse,
                     posterior, sample_posterior, sample_sentences, span_chart)
from .pcfg import (Grammar, grammar_from_dict, grammar_to_dict, make_grammar, random_grammar,
                   rhm_grammar, rhm_level_marginals)
from .hmm import (HMM, fit_hmm, fit_markov_chain, hmm_from_dict, hmm_posterior,
                  hmm_sample_posterior, hmm_to_dict, make_hmm)
from .sweeps import (change_correlations, change_spins, constituent_cochange, kept_table,
                     summarise_kept, tree_heights)
from .text import parse_pcfg, read_pcfg

__all__ = ["Grammar", "make_grammar", "grammar_to_dict", "grammar_from_dict", "random_grammar", "rhm_grammar", "rhm_level_marginals",
           "BACKENDS", "Parse", "parse", "Posterior", "Trees", "posterior", "sample_posterior",
           "sample_sentences", "length_probability", "span_chart", "compile_kernels", "parse_pcfg", "read_pcfg",
           "HMM", "make_hmm", "hmm_to_dict", "hmm_from_dict", "fit_hmm", "fit_markov_chain", "hmm_posterior", "hmm_sample_posterior",
           "kept_table", "summarise_kept", "change_spins", "change_correlations",
           "constituent_cochange", "tree_heights"]
