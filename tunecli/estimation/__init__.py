"""Estimating a degradation's level from the image itself (``--alpha auto``).

- :mod:`tunecli.estimation.noise` — σ of additive white Gaussian noise from one image (pure
  numpy: weak-texture patches, PCA, and a model of 8-bit clipping).
- :mod:`tunecli.estimation.auto_alpha` — ``--alpha auto``: the estimate turned into a tuning
  vector by the model's task (:meth:`tunecli.tasks.Task.alpha_for_noise`).

Nothing here imports torch.
"""
