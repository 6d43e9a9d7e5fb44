"""Plug-and-play restoration: a known degradation, a learned denoiser as the prior, and an
algorithm that alternates them — three objects that compose.

- :mod:`tunecli.pnp.physics` — the *physics*: :class:`~tunecli.pnp.physics.BlurOperator`, a known
  blur seen through the image's window of a larger scene, with its adjoint and its exact FFT
  proximal (data) step; the window is extended and tapered so real photos do not ring.
- :mod:`tunecli.pnp.prior` — the *prior*: a denoiser at a noise level,
  :class:`~tunecli.pnp.prior.DenoiserPrior` from a loaded tunable denoiser (run through the
  tiling engine).
- :mod:`tunecli.pnp.hqs` — the *algorithm*: half-quadratic splitting with DPIR's schedule.
- :mod:`tunecli.pnp.deblur` — the entry point for non-blind deblurring with a kernel
  (``tunecli deblur --kernel``): the alpha knob, the noise level, gray and colour arrays.
"""
