"""Tunable deblurring: a 2-D box of how much noise to remove and how strong a blur to undo.

The alpha space is a **box** (p = 2, each axis in [0, 1], the affine ``K0 + Σ ωᵢ·ΔKᵢ`` form):
``noise`` sets the AWGN level the model assumes, ``sigma = 30·noise`` (0–255 scale), and
``blur`` the strength of the blur kernel it undoes (see :mod:`tunecli.degradations.blur`: a
Gaussian of σ = 0.3 + 3.7·blur px, an anisotropic Gaussian, or camera shake of length
25·blur px). Training draws, per sample, a random kernel of strength ω_blur and noise of σ(ω_noise)
(a share saved to 8 bits); ω picks the degradation and the loss is one pixel objective.
(0, 0) leaves an image nearly as it is; (1, 1) undoes the strongest degradation trained.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunecli.alpha import AlphaAxis, AlphaSpace, Omega
from tunecli.tasks.options import TaskOption
from tunecli.tasks.registry import (
    QUANTIZE_SHARE,
    EvalColumn,
    EvalOptions,
    EvalReport,
    MeasuredResults,
    ModelRunner,
    Task,
    TrainBatch,
    TrainingRecipe,
    TrainSettings,
    ValidationCase,
    degradation_recipe,
    noise_levels_option,
    register_task,
    validation_crop,
)

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import Generator, Tensor


NOISE_MAX = 30.0
#: every training kernel is padded to the size of the strongest one
KERNEL_SIZE = 33
#: validation: (blur strength, noise sigma) pairs, seeded kernels
VALIDATION_LEVELS = ((0.5, 7.65), (1.0, 2.55))
VALIDATION_SEED = 4242
#: evaluation without --kernels: seeded synthetic kernels of these strengths
SYNTHETIC_STRENGTHS = (0.25, 0.5, 0.75, 1.0)


def alpha_space() -> AlphaSpace:
    """The deblurrer's alpha space: a p = 2 box (``noise``, ``blur``)."""
    return AlphaSpace(
        p=2,
        domain="box",
        axes=(
            AlphaAxis("noise", f"noise it removes: sigma = {NOISE_MAX:g} * noise (0-255 scale)"),
            AlphaAxis("blur", "blur it undoes: Gaussian sigma 0.3 + 3.7 * blur px, or camera shake 25 * blur px long"),
        ),
        default=(0.2, 0.5),
        extra={
            "noise_of_alpha": f"sigma = {NOISE_MAX:g} * noise (0-255 scale)",
            "blur_of_alpha": "kernel strength = blur: Gaussian sigma 0.3 + 3.7 * blur px, motion length 25 * blur px",
        },
    )


def noise_of_sigma(sigma: float) -> float:
    """The ``noise`` axis value matching AWGN of ``sigma`` (0–255), clipped to [0, 1]."""
    return min(1.0, max(0.0, sigma / NOISE_MAX))


def blur_of_kernel(kernel: np.ndarray) -> float:
    """The ``blur`` axis value matching a kernel: the strength whose Gaussian has the kernel's
    spread (RMS radius about its centroid, see :func:`~tunecli.degradations.blur.kernel_spread`),
    clipped to [0, 1]."""
    from tunecli.degradations.blur import SIGMA_MAX, SIGMA_MIN, kernel_spread

    # an isotropic Gaussian of σ has RMS radius σ·√2
    sigma = kernel_spread(kernel) / 2**0.5
    return min(1.0, max(0.0, (sigma - SIGMA_MIN) / (SIGMA_MAX - SIGMA_MIN)))


def degrade(clean: Tensor, omega: Tensor, generator: Generator, quantize_share: float = 0.5) -> Tensor:
    """Training input for ``clean`` ``(B, C, H, W)`` at per-sample ω ``(B, 2)`` = (noise, blur):
    a random kernel of strength ω_blur per sample (reflect boundary), then AWGN of σ = 30·ω_noise,
    a ``quantize_share`` of the batch saved to 8 bits."""
    import torch

    from tunecli.degradations.blur import blur, kernel_batch
    from tunecli.degradations.noise import awgn_batch

    kernels = kernel_batch(omega[:, 1].clamp(0, 1), generator, KERNEL_SIZE)
    blurred = blur(clean, kernels, boundary="reflect")
    quantize = torch.rand(clean.shape[0], generator=generator) < quantize_share
    return awgn_batch(blurred, NOISE_MAX * omega[:, 0].to(clean.dtype), generator, quantize)


def blurred_noisy(clean: np.ndarray, kernel: np.ndarray, sigma: float, seed: int, index: int) -> np.ndarray:
    """An evaluation input: ``clean`` ``(H, W, 3)`` convolved with ``kernel`` (reflect), then
    seeded 8-bit AWGN of ``sigma``."""
    import torch

    from tunecli.degradations.blur import blur
    from tunecli.degradations.noise import seeded_awgn
    from tunecli.tensors import batch_to_image, image_to_batch

    blurred = blur(image_to_batch(clean), torch.from_numpy(kernel)[None].float(), boundary="reflect")
    return seeded_awgn(batch_to_image(blurred), sigma, seed, index, quantized=True)


class DeblurTask(Task):
    name = "deblur"
    summary = "Remove blur and noise; two knobs, noise= and blur= (see the model card)."
    example_alpha = "noise=0.3,blur=0.7"
    default_model = "deblur-unet"
    default_arch = "unet"
    default_hparams = {"affine": True}  # noqa: RUF012 - a box space needs the affine form
    #: ``tunecli deblur --kernel FILE``: non-blind, HQS with a denoiser as prior (tunecli.pnp)
    kernel_prior = "denoise"
    train_options = (QUANTIZE_SHARE,)
    eval_options = (
        noise_levels_option([2.55, 7.65, 15.0]),
        TaskOption(
            "kernels",
            str,
            None,
            "Blur kernel set: .mat (KAIR/Levin), .npy or a gray image (default: seeded synthetic kernels).",
            metavar="FILE",
        ),
    )

    measured = (
        MeasuredResults(
            "7581d21663783a864818e13f4312cb45b5e4abdca449de2fb20ff66291bb0fc4",  # weights/deblur-unet
            (
                (
                    "gaussian_blur",
                    "PSNR 26.63 / 25.84 / 25.08 dB at σ 2.55 / 7.65 / 15 "
                    "(Wiener given the true kernel 26.65 / 25.08 / 23.94)",
                ),
                (
                    "camera_shake",
                    "Levin09 kernels: PSNR 20.65 / 20.64 / 20.60 dB at σ 2.55 / 7.65 / 15 "
                    "(Wiener 24.12 / 23.54 / 22.78): not handled yet",
                ),
                (
                    "protocol",
                    "first 2 images of CBSD68 and McMaster, 256-px centre crops (reflect boundary), noise saved "
                    "to 8 bits; "
                    "alpha from the true noise and blur (noise σ/30, blur from the kernel's spread)",
                ),
            ),
            (
                "python bench/deblur_baselines.py DATA_DIR --model weights/deblur-unet.safetensors "
                "--sets CBSD68,McMaster --limit 2 --crop 256 --kernel-sets gaussian "
                "--json bench/results/deblur_baselines_gaussian.json",
                "the same without --kernel-sets gaussian, --json bench/results/deblur_baselines.json",
            ),
            ("bench/results/deblur_baselines_gaussian.md", "bench/results/deblur_baselines.md"),
        ),
    )

    def alpha_space(self, config: TrainSettings | None = None) -> AlphaSpace:
        return alpha_space()

    def arch_defaults(self, config: TrainSettings) -> dict[str, Any]:
        return dict(self.default_hparams) if config.arch == self.default_arch else {}

    def omega_map_from(self, source_task: str) -> tuple[tuple[float, ...], tuple[tuple[float, ...], ...]] | None:
        """A denoiser warm-starts the deblurrer: at (noise n, blur b) the new network starts as
        the denoiser at the alpha of the same σ = 30·n, whatever b (the blur axis starts with
        zero deltas and learns from there). With the denoiser's σ = σmin + (σmax − σmin)·α:
        α = (30·n − σmin)/(σmax − σmin), so ω_denoise = (1 − α, α) = offset + matrix @ (n, b)."""
        if source_task != "denoise":
            return None
        from tunecli.tasks.denoise import SIGMA_MAX, SIGMA_MIN
        from tunecli.tasks.denoise import alpha_space as denoise_space

        span = SIGMA_MAX - SIGMA_MIN
        slope = NOISE_MAX / span
        start = -SIGMA_MIN / span  # α at n = 0
        return denoise_space().omega_of_scalar(start), ((-slope, 0.0), (slope, 0.0))

    def alpha_for_noise(self, space: AlphaSpace, sigma: float) -> Omega | None:
        """The space's default with its ``noise`` axis set to ``σ / 30`` clipped to [0, 1]
        (:func:`noise_of_sigma`): the noise is estimated, the blur is not (it keeps the model's
        default); None for a space that is not a box with a ``noise`` axis."""
        if space.domain != "box" or "noise" not in space.names:
            return None
        omega = list(space.default)
        omega[space.names.index("noise")] = noise_of_sigma(sigma)
        return tuple(omega)

    def recipe(self, config: TrainSettings, device: torch.device) -> TrainingRecipe:
        return degradation_recipe(config)

    def make_batch(
        self, clean: Tensor, omega: Tensor, generator: Generator, config: TrainSettings, recipe: TrainingRecipe
    ) -> TrainBatch:
        return TrainBatch(degrade(clean, omega, generator, config.task_options["quantize_share"]), clean, omega)

    def validation_cases(self, images: Sequence[np.ndarray], config: TrainSettings) -> list[ValidationCase]:
        """Centre crops (≤ 256 px), a seeded kernel and 8-bit noise per level, each at the ω
        that matches it (noise σ/30, blur = the kernel's strength)."""
        import torch

        from tunecli.degradations.blur import blur, kernel_batch
        from tunecli.degradations.noise import awgn_batch

        generator = torch.Generator().manual_seed(VALIDATION_SEED)
        cases = []
        for image in images:
            clean = validation_crop(image)
            for strength, sigma in VALIDATION_LEVELS:
                kernel = kernel_batch(torch.tensor([strength]), generator, KERNEL_SIZE)
                degraded = awgn_batch(blur(clean, kernel), torch.tensor([sigma]), generator, torch.tensor([True]))
                cases.append(
                    ValidationCase(
                        f"psnr_blur{strength:g}_sigma{sigma:g}", degraded, clean, (noise_of_sigma(sigma), strength)
                    )
                )
        return cases

    def evaluate(self, restorer: ModelRunner, images: Sequence[np.ndarray], options: EvalOptions) -> EvalReport:
        """PSNR/SSIM (8-bit, RGB) per kernel set and σ: each image blurred by every kernel of
        the set (``--kernels FILE``, else seeded synthetic kernels of strengths 0.25…1),
        reflect boundary, seeded 8-bit noise; scored at the matching alpha (noise σ/30, blur
        from the kernel's spread) or at each ``--alpha``."""
        own = self.resolve_options("eval", options.task_options)  # defaults for options not given
        import numpy as np
        import torch

        from tunecli.evaluation.metrics import psnr, quantize_8bit, ssim

        kernel_file = own["kernels"]
        if kernel_file:
            from tunecli.degradations.kernel_files import read_kernels

            kernels = read_kernels(Path(kernel_file))
            kernel_set = Path(kernel_file).name
        else:
            from tunecli.degradations.blur import random_kernel

            generator = torch.Generator().manual_seed(options.seed)
            kernels = [random_kernel(s, generator).numpy() for s in SYNTHETIC_STRENGTHS]
            kernel_set = "synthetic"
        fixed = [restorer.parse_alpha(a).omega for a in options.alphas] if options.alphas else None
        rows = []
        for sigma in own["sigmas"]:
            per_alpha: dict[str, dict[str, list[float]]] = {}
            for k, kernel in enumerate(kernels):
                alphas = fixed or [(round(noise_of_sigma(sigma), 4), round(blur_of_kernel(kernel), 4))]
                for i, clean in enumerate(images):
                    degraded = blurred_noisy(clean, kernel, sigma, options.seed, 1000 * k + i)
                    for omega in alphas:
                        key = "matching" if fixed is None else ",".join(f"{v:g}" for v in omega)
                        restored = quantize_8bit(restorer.run(degraded, alpha=omega, tile=options.tile))  # type: ignore[arg-type]
                        scores = per_alpha.setdefault(key, {"psnr": [], "ssim": [], "degraded": []})
                        scores["psnr"].append(psnr(restored, clean))
                        scores["ssim"].append(ssim(restored, clean))
                        scores["degraded"].append(psnr(quantize_8bit(degraded), clean))
            for key, scores in per_alpha.items():
                rows.append(
                    {
                        "kernels": f"{kernel_set} ({len(kernels)})",
                        "sigma": sigma,
                        "alpha": key,
                        "psnr": round(float(np.mean(scores["psnr"])), 3),
                        "ssim": round(float(np.mean(scores["ssim"])), 4),
                        "degraded_psnr": round(float(np.mean(scores["degraded"])), 3),
                    }
                )
        columns = [
            EvalColumn("kernels", "kernel set"),
            EvalColumn("sigma", "sigma", "g"),
            EvalColumn("alpha", "alpha"),
            EvalColumn("psnr", "PSNR", ".2f"),
            EvalColumn("ssim", "SSIM", ".4f"),
            EvalColumn("degraded_psnr", "degraded PSNR", ".2f"),
        ]
        return EvalReport(columns, rows, notes=["boundary: reflect; noise: seeded, saved to 8 bits"])


TASK = register_task(DeblurTask())
