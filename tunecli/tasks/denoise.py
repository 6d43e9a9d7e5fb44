"""Tunable denoising: alpha picks the noise level the model assumes.

Objective i of the p = 2 simplex is "restore images degraded by AWGN at σ_i" with σ_0 = 5
(gentle: keeps detail) and σ_1 = 50 (strong) on the 0–255 scale. An intermediate ω trains the
intermediate level ``σ(alpha) = 5 + 45·alpha`` (alpha = ω_1), so a user who knows the noise
level picks ``alpha = (σ − 5) / 45``. Here ω chooses the degradation, and the loss is one pixel
objective of weight 1 (``--loss``).

With ``--unroll N`` the denoiser is trained instead as the prior of ``deblur --kernel``: each
clean crop is blurred circularly by a random kernel of the deblur task (strength
:data:`UNROLL_STRENGTHS`) plus noise of σn = ``--unroll-noise``·ω₁, and the loss is taken on the
last of N HQS iterations run with the network as their prior
(:func:`tunecli.pnp.unrolled.unrolled_hqs`), back-propagated through all of them. The alpha
space and the model's use stay those of a denoiser.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from tunecli.alpha import AlphaAxis, AlphaSpace, Omega
from tunecli.degradations.noise import SIGMA_MAX, SIGMA_MIN, alpha_of_sigma
from tunecli.degradations.noise import sigma_of_alpha as sigma_of_alpha  # the task's scale, re-exported
from tunecli.errors import UsageError
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


#: Noise levels of the validation pass during training (each at its matching alpha).
VALIDATION_SIGMAS = (15.0, 25.0, 50.0)
VALIDATION_SEED = 12345
#: ``--unroll``: the blur strengths (the deblur task's scale, 0–1) of the training kernels, uniform.
UNROLL_STRENGTHS = (0.15, 1.0)

UNROLL = TaskOption(
    "unroll",
    int,
    0,
    "Train as the prior of deblur --kernel: the loss after this many HQS iterations on blurred crops "
    "(8, as deblur --kernel runs; 0: plain denoising).",
    minimum=0,
    maximum=32,
)
UNROLL_NOISE = TaskOption(
    "unroll_noise",
    float,
    20.0,
    "With --unroll: the noise level of the blurred crops is this times alpha (0-255 scale).",
    minimum=0.0,
    maximum=50.0,
)


def alpha_space() -> AlphaSpace:
    """The denoiser's alpha space (p = 2 simplex, user-facing scalar alpha)."""
    return AlphaSpace(
        p=2,
        domain="simplex",
        axes=(
            AlphaAxis("gentle", f"assume light noise (sigma {SIGMA_MIN:g}/255): keep detail"),
            AlphaAxis("strong", f"assume heavy noise (sigma {SIGMA_MAX:g}/255): smooth hard"),
        ),
        default=(0.78, 0.22),
        low=f"gentle: denoise as for sigma {SIGMA_MIN:g} (0-255 scale), keeps fine detail",
        high=f"strong: denoise as for sigma {SIGMA_MAX:g}, smooths the most",
        extra={"sigma_of_alpha": f"sigma = {SIGMA_MIN:g} + {SIGMA_MAX - SIGMA_MIN:g} * alpha (0-255 scale)"},
    )


def sigma_of_omega(omega: Tensor) -> Tensor:
    """Per-sample σ (0–255) of per-sample ω ``(B, 2)``: σ(alpha) with alpha = ω₁."""
    return SIGMA_MIN + (SIGMA_MAX - SIGMA_MIN) * omega[:, 1]


def blur_and_degrade(
    clean: Tensor, omega: Tensor, generator: Generator, noise_max: float, quantize_share: float = 0.5
) -> tuple[Tensor, Tensor, Tensor]:
    """``--unroll``'s training input for ``clean`` ``(B, C, H, W)`` at per-sample ω ``(B, 2)``:
    each crop blurred circularly by its own random kernel (strength uniform in
    :data:`UNROLL_STRENGTHS`), then noise of σn = ``noise_max``·ω₁ (a ``quantize_share`` saved to
    8 bits). Returns the blurred crops, the kernels ``(B, k, k)`` and σn ``(B,)``."""
    import torch

    from tunecli.degradations.blur import blur, kernel_batch
    from tunecli.degradations.noise import awgn_batch

    low, high = UNROLL_STRENGTHS
    kernels = kernel_batch(low + (high - low) * torch.rand(clean.shape[0], generator=generator), generator)
    noise = noise_max * omega[:, 1].to(clean.dtype)
    quantize = torch.rand(clean.shape[0], generator=generator) < quantize_share
    return awgn_batch(blur(clean, kernels, boundary="circular"), noise, generator, quantize), kernels, noise


def degrade(clean: Tensor, omega: Tensor, generator: Generator, quantize_share: float = 0.5) -> Tensor:
    """Training input for ``clean`` ``(B, C, H, W)`` at per-sample ω ``(B, 2)``: noise at
    σ(ω_1), a ``quantize_share`` of the batch saved-to-8-bit."""
    import torch

    from tunecli.degradations.noise import awgn_batch

    sigma = sigma_of_omega(omega)
    quantize = torch.rand(clean.shape[0], generator=generator) < quantize_share
    return awgn_batch(clean, sigma.to(clean.dtype), generator, quantize)


class DenoiseTask(Task):
    name = "denoise"
    summary = "Remove noise; alpha sets the strength (see the model card)."
    example_alpha = "0.3"
    default_model = "denoise-unet-l4"
    default_arch = "unet"
    train_options = (QUANTIZE_SHARE, UNROLL, UNROLL_NOISE)
    eval_options = (
        noise_levels_option([15.0, 25.0, 50.0]),
        TaskOption(
            "noise_kinds",
            str,
            ["float", "8bit"],
            "Noisy inputs: float, 8bit or float,8bit.",
            flag="--noise",
            many=True,
            separator=",",
            choices=("float", "8bit"),
        ),
    )

    measured = (
        MeasuredResults(
            "c8b2c8e1d5d0d049a976dbce6beba2b056ebbebfbc8f2afb8fad40fe569d2923",  # weights/denoise-unet-l4
            (
                ("CBSD68", "PSNR 34.05 / 31.38 / 28.12 dB at σ 15 / 25 / 50 (FFDNet 33.49 / 30.59 / 26.34)"),
                ("McMaster", "PSNR 33.99 / 31.84 / 28.91 dB at σ 15 / 25 / 50 (FFDNet 34.05 / 31.11 / 26.08)"),
                ("speed", "1.31-1.46 s/MP, CPU fp32, 2 threads (FFDNet 1.65-1.82 there)"),
                ("protocol", "all 68 / 18 images, seeded noise saved to 8 bits, alpha (σ - 5)/45, RGB PSNR"),
            ),
            (
                "python bench/denoise_baselines.py DATA_DIR --methods "
                "input,tunecli,tunecli-x8,tunecli-bf16,tunecli-x8-bf16,ffdnet,cbm3d "
                "--json bench/results/denoise_baselines.json",
            ),
            ("bench/results/denoise_baselines.md",),
        ),
        MeasuredResults(
            "92ad5a37b35da31d13e4cff111ad4df64e2ba23ff02cbdbe0330b7a477ce3d85",  # weights/denoise-unet-l4-pnp
            (
                ("use", "the prior of deblur --kernel (--model denoise-unet-l4-pnp); not a plain denoiser"),
                (
                    "deblur_kernel",
                    "Levin09 shakes: PSNR 30.57 / 27.99 / 26.20 dB at σ 2.55 / 7.65 / 15 (with denoise-unet-l4 "
                    "as prior 30.55 / 27.78 / 25.88; best of Wiener, R-L given the kernel 26.23 / 24.29 / 23.33)",
                ),
                (
                    "deblur_kernel_motion",
                    "kernels_12 motion: 30.19 / 27.61 / 25.86 dB (with denoise-unet-l4 30.06 / 27.32 / 25.41; "
                    "best of Wiener, R-L 25.27 / 23.69 / 22.50)",
                ),
                (
                    "denoise",
                    "CBSD68 8-bit: PSNR 33.66 / 30.76 / 24.55 dB at σ 15 / 25 / 50 (denoise-unet-l4 34.05 / 31.38 / 28.12)",
                ),
                (
                    "protocol",
                    "deblur: first 3 images of CBSD68 and McMaster, 256-px crops blurred by 'valid' convolution, "
                    "8-bit noise, default alpha 0.15 with the true σ; denoise: all 68, matching alpha",
                ),
            ),
            (
                "python bench/deblur_baselines.py DATA_DIR --model weights/deblur-unet.safetensors "
                "--denoiser denoise-unet-l4-pnp --sets CBSD68,McMaster --limit 3 --crop 256 --sigmas 2.55,7.65,15 "
                "--kernel-sets levin,motion --kernel-alphas 0,0.15,0.3 "
                "--json bench/results/deblur_kernel_pnp_prior.json",
                "tunecli eval denoise-unet-l4-pnp --data DATA_DIR/test/CBSD68 --sigma 15,25,50 --noise 8bit",
            ),
            ("bench/results/deblur_kernel_pnp_prior.md", "bench/results/denoise_pnp_prior_eval.md"),
        ),
        MeasuredResults(
            "60e0dde496ce5dc28713c694854f5053afb29ab8c33ea006e3b870e3ee11f73b",  # weights/denoise-unet
            (
                ("CBSD68", "PSNR 33.96 / 31.27 / 27.98 dB at σ 15 / 25 / 50 (FFDNet 33.49 / 30.59 / 26.34)"),
                ("McMaster", "PSNR 33.87 / 31.69 / 28.72 dB at σ 15 / 25 / 50 (FFDNet 34.05 / 31.11 / 26.08)"),
                ("speed", "1.02-1.16 s/MP, CPU fp32, 2 threads (FFDNet 1.57-1.68 there)"),
                ("protocol", "all 68 / 18 images, seeded noise saved to 8 bits, alpha (σ - 5)/45, RGB PSNR"),
            ),
            (
                "python bench/denoise_baselines.py DATA_DIR --model denoise-unet --methods input,tunecli,ffdnet "
                "--json bench/results/denoise_baselines_unet.json",
            ),
            ("bench/results/denoise_baselines_unet.md",),
        ),
    )

    def alpha_space(self, config: TrainSettings | None = None) -> AlphaSpace:
        return alpha_space()

    def alpha_for_noise(self, space: AlphaSpace, sigma: float) -> Omega | None:
        """ω = (1 − a, a) with the matching alpha ``a = (σ − 5) / 45`` clipped to [0, 1]
        (:func:`alpha_of_sigma`); None for a space that is not a p = 2 simplex."""
        if not space.scalar:
            return None
        return space.omega_of_scalar(alpha_of_sigma(sigma))

    def check_config(self, config: TrainSettings) -> None:
        from tunecli.degradations.blur import default_kernel_size

        size = default_kernel_size(UNROLL_STRENGTHS[1])
        if config.task_options["unroll"] and config.patch < size:
            raise UsageError(f"--unroll needs --patch of at least {size} (the largest training kernel)")

    def recipe(self, config: TrainSettings, device: torch.device) -> TrainingRecipe:
        recipe = degradation_recipe(config)
        iterations = config.task_options["unroll"]
        if not iterations:
            return recipe
        from tunecli.pnp.unrolled import unrolled_hqs

        def forward(network: Callable[[Tensor, Tensor], Tensor], batch: TrainBatch) -> Tensor:
            return unrolled_hqs(network, batch.inputs, batch.extras["kernels"], batch.extras["noise"], iterations)

        record = {"unrolled": {"iterations": iterations, "blur_strengths": list(UNROLL_STRENGTHS)}}
        return replace(recipe, forward=forward, record={**recipe.record, **record})

    def make_batch(
        self, clean: Tensor, omega: Tensor, generator: Generator, config: TrainSettings, recipe: TrainingRecipe
    ) -> TrainBatch:
        options = config.task_options
        if options["unroll"]:
            blurred, kernels, noise = blur_and_degrade(
                clean, omega, generator, options["unroll_noise"], options["quantize_share"]
            )
            return TrainBatch(blurred, clean, omega, extras={"kernels": kernels, "noise": noise})
        return TrainBatch(degrade(clean, omega, generator, options["quantize_share"]), clean, omega)

    def validation_cases(self, images: Sequence[np.ndarray], config: TrainSettings) -> list[ValidationCase]:
        """Centre crops (≤ 256 px) of each image, seeded 8-bit noise at σ 15, 25 and 50, each
        scored at its matching alpha."""
        import torch

        from tunecli.degradations.noise import awgn_batch

        cases = []
        space = self.alpha_space(config)
        generator = torch.Generator().manual_seed(VALIDATION_SEED)
        for image in images:
            clean = validation_crop(image)
            for sigma in VALIDATION_SIGMAS:
                noisy = awgn_batch(clean, torch.tensor([sigma]), generator, torch.tensor([True]))
                omega = space.omega_of_scalar(alpha_of_sigma(sigma))
                cases.append(ValidationCase(f"psnr_sigma{sigma:g}", noisy, clean, omega))
        return cases

    def evaluate(self, restorer: ModelRunner, images: Sequence[np.ndarray], options: EvalOptions) -> EvalReport:
        """PSNR/SSIM (8-bit quantized output, RGB) per noise kind, σ and alpha; without
        ``alphas`` each σ is scored at its matching alpha."""
        own = self.resolve_options("eval", options.task_options)  # defaults for options not given

        from tunecli.evaluation.evaluate import evaluate_denoiser, rows_to_json

        space = restorer.alpha_space
        fixed = [space.scalar_of(restorer.parse_alpha(a).omega) for a in options.alphas] if options.alphas else None

        def run(noisy: np.ndarray, _sigma: float, alpha: float) -> np.ndarray:
            return restorer.run(noisy, alpha=alpha, tile=options.tile)  # type: ignore[arg-type]

        rows = evaluate_denoiser(
            run,
            images,
            own["sigmas"],
            (lambda s: fixed) if fixed else (lambda s: [round(alpha_of_sigma(s), 4)]),
            noise_kinds=own["noise_kinds"],
            seed=options.seed,
        )
        columns = [
            EvalColumn("noise", "noise"),
            EvalColumn("sigma", "sigma", "g"),
            EvalColumn("alpha", "alpha", ".3f"),
            EvalColumn("psnr", "PSNR", ".2f"),
            EvalColumn("ssim", "SSIM", ".4f"),
            EvalColumn("noisy_psnr", "noisy PSNR", ".2f"),
            EvalColumn("residual_rms", "residual RMS", ".2f"),
            EvalColumn("seconds_per_mp", "s/MP", ".2f"),
        ]
        return EvalReport(columns, rows_to_json(rows))


TASK = register_task(DenoiseTask())
