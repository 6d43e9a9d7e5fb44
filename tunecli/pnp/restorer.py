"""``tunecli deblur --kernel FILE``: a :class:`~tunecli.api.Restorer` that deblurs with a known
kernel by plug-and-play HQS (:func:`tunecli.pnp.deblur.deblur_with_kernel`), the loaded tunable
denoiser as its prior.

It is a Restorer like any other for the batch runner, sweeps and galleries: the same image
reading and writing, names, ``--json`` and exit codes. Its alpha space is one knob
(:data:`KERNEL_ALPHA`): 0 keeps the most detail (and noise) … 1 smoothest; the noise level is
estimated from each image, and ``--alpha auto`` runs at the documented default
(:data:`tunecli.pnp.deblur.DEFAULT_ALPHA`, the estimated noise level itself).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from tunecli.alpha import AlphaAxis, AlphaSpace, Omega
from tunecli.api import ImageLike, Restored, Restorer, TileSpec, as_image
from tunecli.errors import UsageError
from tunecli.estimation.auto_alpha import AutoAlpha
from tunecli.imageio import Image
from tunecli.pnp.deblur import DEFAULT_ALPHA, deblur_with_kernel, estimate_blurred_noise, load_kernel

#: The alpha of a ``--kernel`` run.
KERNEL_ALPHA = AlphaSpace(
    p=2,
    domain="simplex",
    axes=(
        AlphaAxis("detail", "keeps the most detail (and noise): the prior assumes 0.84x the noise level"),
        AlphaAxis("smooth", "smoothest: the prior assumes 2.67x the noise level"),
    ),
    default=(1.0 - DEFAULT_ALPHA, DEFAULT_ALPHA),
    low="keeps the most detail (and some noise)",
    high="smoothest",
    extra={"default": f"{DEFAULT_ALPHA:g}: the prior assumes the estimated noise level itself"},
)


class KernelDeblurrer(Restorer):
    """Deblurs with ``kernel`` (float32 2-D, sum 1) using the loaded denoiser ``prior`` (a
    :class:`~tunecli.api.Restorer` of the denoise task) as the HQS prior; ``kernel_file``: where
    the kernel came from (for the summary and ``--json``)."""

    def __init__(self, prior: Restorer, kernel: np.ndarray, kernel_file: Path | None = None) -> None:
        if prior.task != "denoise" or not prior.alpha_space.scalar:
            raise UsageError(
                f"--kernel needs a denoiser as its prior (--model), not the {prior.task} model {prior.model.name!r}"
            )
        super().__init__(prior.model, prior.device, prior.dtype, prior.batch_size, prior.ensemble)
        self.prior = prior
        self.kernel = np.asarray(kernel, dtype=np.float32)
        self.kernel_file = kernel_file

    @classmethod
    def from_file(cls, prior: Restorer, path: Path, index: int | None = None) -> KernelDeblurrer:
        """The deblurrer of the kernel in ``path`` (one-line UsageError for a bad file)."""
        return cls(prior, load_kernel(path, index), path)

    @property
    def alpha_space(self) -> AlphaSpace:
        return KERNEL_ALPHA

    @property
    def task(self) -> str:
        return "deblur"

    def kernel_record(self) -> dict[str, Any]:
        """The kernel file and its SHA-256 (``--json``), and the kernel's size."""
        digest = hashlib.sha256(Path(self.kernel_file).read_bytes()).hexdigest() if self.kernel_file else None
        return {
            "file": str(self.kernel_file) if self.kernel_file else None,
            "sha256": digest,
            "size": list(self.kernel.shape),
        }

    def auto_alpha(self, image: ImageLike, name: str = "the image", alpha: str = "auto") -> AutoAlpha:
        """``--alpha auto`` of a kernel run: the estimated noise level, at the default alpha."""
        if str(alpha).strip().lower() != "auto":
            raise UsageError(f"--alpha {alpha}: a --kernel run takes one alpha or auto")
        sigma = estimate_blurred_noise(as_image(image).pixels)
        return AutoAlpha(sigma, KERNEL_ALPHA.omega_of_scalar(DEFAULT_ALPHA))

    def restore(
        self,
        image: ImageLike,
        omega: Omega | AutoAlpha,
        *,
        tile: TileSpec = "auto",
        overlap: int | None = None,
        progress: Any = None,
        omega_map: Any = None,
    ) -> Restored:
        """Deblur ``image`` at ``omega`` of :data:`KERNEL_ALPHA` (or an :class:`AutoAlpha`);
        the alpha channel, if any, is kept as it is."""
        if omega_map is not None:
            raise UsageError("--alpha-map is not available with --kernel; pass one --alpha")
        source = as_image(image)
        auto = omega if isinstance(omega, AutoAlpha) else None
        chosen = auto.omega if auto is not None else KERNEL_ALPHA.validate(tuple(omega))
        sigma = auto.sigma if auto is not None else None
        self.prior.check_tiling(tile, overlap)
        pixels = deblur_with_kernel(
            source.pixels, self.kernel, self.prior, KERNEL_ALPHA.scalar_of(chosen), sigma, tile=tile
        )
        notices = (auto.describe(KERNEL_ALPHA),) if auto is not None else ()
        restored = Image(pixels=pixels.reshape(source.pixels.shape), alpha=source.alpha, meta=source.meta)
        return Restored(restored, tile if isinstance(tile, int) else 0, self.prior.precision, notices, auto)

    def restore_map(self, image: ImageLike, alpha_map: np.ndarray, **kwargs: Any) -> Restored:
        raise UsageError("--alpha-map is not available with --kernel; pass one --alpha")
