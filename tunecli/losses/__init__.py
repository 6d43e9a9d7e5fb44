"""Training objectives: pixel, perceptual (VGG feature and style) and adversarial losses.

Every loss maps a batch to one float32 value per sample, shape ``(B,)``, with no reduction over
the batch, so a tunable trainer can form ``Σᵢ ωᵢ·Lᵢ`` with each sample's own ω; only
:func:`discriminator_loss`, which trains the discriminator, is a scalar. Imported only by
training code: this package is where the losses' torch dependencies live.
"""

from tunecli.losses.adversarial import PatchDiscriminator, discriminator_loss, generator_adversarial_loss
from tunecli.losses.features import (
    DEFAULT_FEATURE_FILE,
    DEFAULT_LAYERS,
    FEATURE_LAYERS,
    FeatureLayer,
    VGGFeatures,
    feature_extractor_from_state_dict,
    load_feature_extractor,
)
from tunecli.losses.perceptual import feature_loss, gram_matrix, style_grams, style_key, style_loss, total_variation
from tunecli.losses.pixel import PIXEL_LOSSES, PixelLoss, charbonnier, l1, l2, negative_psnr

__all__ = [
    "DEFAULT_FEATURE_FILE",
    "DEFAULT_LAYERS",
    "FEATURE_LAYERS",
    "PIXEL_LOSSES",
    "FeatureLayer",
    "PatchDiscriminator",
    "PixelLoss",
    "VGGFeatures",
    "charbonnier",
    "discriminator_loss",
    "feature_extractor_from_state_dict",
    "feature_loss",
    "generator_adversarial_loss",
    "gram_matrix",
    "l1",
    "l2",
    "load_feature_extractor",
    "negative_psnr",
    "style_grams",
    "style_key",
    "style_loss",
    "total_variation",
]
