"""Trained denoisers on RHM data, swept forward-backward like exact BP.

Modules: ``networks`` (the tree-shaped U-Net), ``diffusion`` (Gaussian, masking and uniform-token
processes: x0-prediction losses and reverse samplers), ``train`` (deterministic, resumable training),
``evaluate`` (grammaticality, memorisation, kept tables next to exact BP). The workflow's glue
(one call per stage) is :mod:`hierphase.stages.learned`.
"""
