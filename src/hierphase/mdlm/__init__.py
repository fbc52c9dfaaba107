"""Masked (absorbing-state) discrete diffusion language models.

Modules: ``model`` (a bidirectional diffusion transformer whose parameters follow the published
MDLM layout), ``diffusion`` (the continuous-time masked diffusion objective, ancestral
unmasking, forward-backward at a masking level, the denoiser interface), ``train``
(deterministic, resumable training with snapshots and progress lines), ``published`` (loading a
published MDLM checkpoint from a local path).
"""
