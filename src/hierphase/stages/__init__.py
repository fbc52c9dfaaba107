"""Glue between the workflow's rules and the science: one module per branch (``rhm``, ``learned``,
``images``). Each function takes typed values from a rule's params and inputs, calls the science
modules and returns what the rule writes. Nothing here imports Snakemake."""
