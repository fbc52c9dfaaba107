"""Real text for masked diffusion: the shipped corpus and local corpora, tokenizers, passages,
and the controls (an n-gram model denoised exactly, tokens shuffled within passages), with the
change-correlation protocol of the follow-up study (:mod:`hierphase.text.protocol`)."""
