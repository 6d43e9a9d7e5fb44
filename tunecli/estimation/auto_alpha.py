"""``--alpha auto``: the tuning vector chosen per image from its estimated noise level (SPEC §3).

The level is :func:`tunecli.estimation.noise.estimate_noise_sigma` of the image; which ω it maps
to is the model's task's (:meth:`tunecli.tasks.Task.alpha_for_noise`: denoise ``alpha =
(σ − 5)/45``, deblur ``noise = σ/30`` with ``blur`` at the model's default). The chosen values
are rounded to 0.01, the precision of the output-file label, so the label names the exact ω
that ran and images of about the same noise share one baked network
(:meth:`tunecli.api.Restorer.baked` keeps the last 8). This module imports no torch (the estimate's
matrix products run on torch, see :mod:`tunecli.estimation.noise`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tunecli.alpha import AlphaSpace, Omega
from tunecli.errors import AlphaError, InputImageError

if TYPE_CHECKING:
    import numpy as np

    from tunecli.tasks import Task

#: The ``--alpha`` value that asks for an estimate.
AUTO = "auto"
#: Chosen alphas are rounded to this step.
ALPHA_STEP = 0.01


def is_auto(alpha: object) -> bool:
    """Whether an ``--alpha`` value (text, number, vector or None) asks for an estimate: ``auto``,
    or a box model's named form with one axis ``auto`` (``noise=auto,blur=0.7``)."""
    if not isinstance(alpha, str):
        return False
    text = alpha.strip().lower()
    return text == AUTO or any(part.partition("=")[2].strip() == AUTO for part in text.split(","))


@dataclass(frozen=True)
class AutoAlpha:
    """What ``--alpha auto`` chose for one image: the estimated noise level ``sigma`` (AWGN,
    0–255 scale) and the tuning vector ``omega`` the model ran at."""

    sigma: float
    omega: Omega

    def to_json(self) -> dict[str, Any]:
        return {"sigma": round(self.sigma, 2), "alpha": list(self.omega)}

    def describe(self, space: AlphaSpace) -> str:
        """The note line: ``noise sigma ≈ 17.3 → alpha 0.27`` (``→ noise=0.58 blur=0.50`` for a box)."""
        chosen = f"alpha {self.omega[1]:.2f}" if space.scalar else space.describe(self.omega)
        return f"noise sigma ≈ {self.sigma:.1f} → {chosen}"


def choose_alpha(
    pixels: np.ndarray, task: Task, space: AlphaSpace, name: str = "the image", fixed: Omega | None = None
) -> AutoAlpha:
    """Estimate the noise of ``pixels`` (float ``(H, W, C)`` in [0, 1]) and pick ω by ``task``;
    with ``fixed`` (from :meth:`~tunecli.tasks.Task.fixed_part_of_auto`) only the axes the task's
    noise mapping sets (:meth:`~tunecli.tasks.Task.noise_axes`) come from the estimate.

    Raises :class:`~tunecli.errors.AlphaError` when the task has no mapping for ``space`` and
    :class:`~tunecli.errors.InputImageError` (naming ``name``) when the image is too small to
    estimate from.
    """
    from tunecli.estimation.noise import estimate_noise_sigma

    try:
        sigma = estimate_noise_sigma(pixels)
    except ValueError as err:
        raise InputImageError(f"{name}: cannot estimate the noise level for --alpha auto ({err})") from None
    omega = task.alpha_for_noise(space, sigma)
    if omega is None:
        raise AlphaError(f"--alpha auto: the {task.name} task has no mapping from a noise level to this alpha space")
    if fixed is not None:
        mapped = task.noise_axes(space)
        omega = tuple(v if n in mapped else f for n, v, f in zip(space.names, omega, fixed, strict=True))
    return AutoAlpha(sigma, space.validate(_rounded(space, omega)))


def _rounded(space: AlphaSpace, omega: Omega) -> Omega:
    """``omega`` on the :data:`ALPHA_STEP` grid: each value of a box; the scalar of a p = 2
    simplex (the other weight is its complement); other simplices as they are."""

    def snap(value: float) -> float:
        return round(round(value / ALPHA_STEP) * ALPHA_STEP, 10)

    if space.domain == "box":
        return tuple(snap(v) for v in omega)
    if space.scalar:
        alpha = snap(omega[1])
        return (round(1.0 - alpha, 10), alpha)
    return omega
