"""The prior of plug-and-play restoration: a denoiser called at a given noise level.

A :class:`Prior` is any callable ``prior(x, sigma) -> x̂`` on float32 ``(C, H, W)`` tensors
(``sigma`` on the 0–255 scale); the algorithm (:func:`tunecli.pnp.hqs.hqs`) knows nothing else
about it. :class:`DenoiserPrior` is the one built from a loaded tunable denoiser
(:class:`tunecli.api.Restorer` of the ``denoise`` task): σ becomes the denoiser's alpha
(:func:`tunecli.degradations.noise.alpha_of_sigma`, clamped to its trained range σ 5–50) and the image
runs through :meth:`tunecli.api.Restorer.restore`, so through the one tiling engine with
``tile="auto"`` and the memory bound of every other command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import torch
from torch import Tensor

from tunecli.degradations.noise import alpha_of_sigma, sigma_of_alpha
from tunecli.errors import UsageError
from tunecli.imageio import Image, ImageMeta

if TYPE_CHECKING:
    from tunecli.api import Restorer, TileSpec

#: Alphas are rounded to this step, so that the σ schedules of different images and runs land on
#: the same few baked networks (:meth:`tunecli.api.Restorer.baked` caches them by ω).
ALPHA_STEP = 0.01

_MODES = {1: "L", 3: "RGB"}


def prior_alpha(sigma: float) -> float:
    """The denoiser's alpha for the prior step at noise level ``sigma`` (0–255): (σ − 5)/45
    clamped to [0, 1] (the trained range σ 5–50) and rounded to :data:`ALPHA_STEP`."""
    return round(round(alpha_of_sigma(sigma) / ALPHA_STEP) * ALPHA_STEP, 6)


class Prior(Protocol):
    """A denoiser at a noise level: ``(C, H, W)`` float32 and σ (0–255) → ``(C, H, W)``."""

    def __call__(self, x: Tensor, sigma: float) -> Tensor: ...


class DenoiserPrior:
    """The tunable denoiser ``restorer`` as a :class:`Prior`.

    ``prior(x, sigma)``: ``x`` float32 ``(C, H, W)`` with C = 1 or 3 (clipped to [0, 1] first: the
    denoiser was trained there), σ on the 0–255 scale; runs at alpha = (σ − 5)/45 rounded to
    :data:`ALPHA_STEP` — σ below 5 runs at 5 and above 50 at 50 (the denoiser's floor and
    ceiling; :attr:`sigmas` records the σ actually used) — and returns float32 ``(C, H, W)``.
    ``tile``, ``overlap``: as for :meth:`tunecli.api.Restorer.restore`. Raises
    :class:`UsageError` when ``restorer`` is not a denoiser with a scalar alpha.
    """

    def __init__(self, restorer: Restorer, tile: TileSpec = "auto", overlap: int | None = None) -> None:
        if restorer.task != "denoise" or not restorer.alpha_space.scalar:
            raise UsageError(
                f"the prior of --kernel deblurring must be a denoiser with one alpha, "
                f"not {restorer.model.name!r} (task {restorer.task})"
            )
        restorer.check_tiling(tile, overlap)
        self.restorer = restorer
        self.tile = tile
        self.overlap = overlap
        #: every σ the denoiser ran at, in call order (after the clamp and the rounding)
        self.sigmas: list[float] = []

    def __call__(self, x: Tensor, sigma: float) -> Tensor:
        if x.ndim != 3 or x.shape[0] not in _MODES:
            raise UsageError(f"the prior takes (C, H, W) tensors with C = 1 or 3, got {tuple(x.shape)}")
        alpha = prior_alpha(sigma)
        self.sigmas.append(sigma_of_alpha(alpha))
        # one (H, W, C) copy, clipped on the way (a 24 MP photo: 300 MB)
        pixels = torch.clamp(x.permute(1, 2, 0), 0.0, 1.0, out=torch.empty(x.shape[1:] + x.shape[:1])).numpy()
        meta = ImageMeta(format="array", dtype="float32", mode=_MODES[x.shape[0]])
        restored = self.restorer.restore(
            Image(pixels=pixels, alpha=None, meta=meta), (1.0 - alpha, alpha), tile=self.tile, overlap=self.overlap
        )
        return torch.from_numpy(restored.image.pixels).permute(2, 0, 1).contiguous()
