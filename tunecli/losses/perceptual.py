"""Losses measured in the feature space of a frozen :class:`~tunecli.losses.features.VGGFeatures`.

All losses return one float32 value per sample, shape ``(B,)``, differentiable w.r.t. ``out``
(the target side is a constant). Images are RGB ``(B, 3, H, W)`` on the [0, 1] scale.

Multi-scale style: the shipped encoder ends at relu3_1, whose receptive field is small (24x24
pixels), so a painting's brush strokes can be larger than what any layer sees. Measuring the
style on downscaled copies as well (``scales=(1.0, 0.5, 0.25)``) lets the same layers see larger
structures. :func:`style_grams` keys a Gram by :func:`style_key` (``"relu3_1"`` at scale 1,
``"relu3_1@0.5"`` at scale 0.5) and :func:`style_loss` reads the scales back from those keys, so
the output is always measured at the scales the painting was.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from tunecli.losses._checks import require_images, require_same_shape, upcast_to_float32
from tunecli.losses.features import VGGFeatures, feature_layer

FeatureDistance = Literal["l1", "l2"]


def _layer_weights(layers: Sequence[str], weights: Sequence[float] | None) -> list[float]:
    if isinstance(layers, str):
        raise TypeError(f"layers must be a sequence of layer names, got the string {layers!r}")
    if len(layers) == 0:
        raise ValueError("layers must name at least one feature layer")
    if len(set(layers)) != len(layers):
        raise ValueError(f"layers must not repeat a name, got {list(layers)}")
    if weights is None:
        return [1.0] * len(layers)
    if len(weights) != len(layers):
        raise ValueError(f"weights must give one value per layer: {len(weights)} weights for {len(layers)} layers")
    if not all(math.isfinite(w) for w in weights):
        raise ValueError(f"weights must be finite, got {list(weights)}")
    return [float(w) for w in weights]


def feature_loss(
    extractor: VGGFeatures,
    out: Tensor,
    target: Tensor,
    layers: Sequence[str],
    weights: Sequence[float] | None = None,
    distance: FeatureDistance = "l1",
) -> Tensor:
    """Perceptual (content) loss per sample, shape ``(B,)``.

    ``Σ_l weights[l] · mean_{c,h,w} |φ_l(out) - φ_l(target)|`` (``distance="l1"``, the default) or
    with the squared difference (``distance="l2"``): the mean, not the sum, over each layer's
    features, so layers of different sizes are comparable; ``weights`` (one per layer, default 1)
    are not normalized. ``out`` and ``target`` are ``(B, 3, H, W)`` RGB in [0, 1] of the same shape;
    the target's features are computed without gradient."""
    require_images(out, "out", channels=3)
    require_images(target, "target", channels=3)
    require_same_shape(out, target, ("out", "target"))
    if distance not in ("l1", "l2"):
        raise ValueError(f"distance must be 'l1' or 'l2', got {distance!r}")
    out_features = extractor(out, layers)
    with torch.no_grad():
        target_features = extractor(target, layers)
    return feature_distance(out_features, target_features, layers, weights, distance)


def feature_distance(
    out_features: Mapping[str, Tensor],
    target_features: Mapping[str, Tensor],
    layers: Sequence[str],
    weights: Sequence[float] | None = None,
    distance: FeatureDistance = "l1",
) -> Tensor:
    """:func:`feature_loss` on features already extracted: ``Σ_l weights[l] · mean_{c,h,w}
    d(out_features[l], target_features[l])``, shape ``(B,)`` float32; ``d`` is ``|·|`` (``"l1"``)
    or ``(·)²`` (``"l2"``). Lets several objectives share one pass of the extractor."""
    if distance not in ("l1", "l2"):
        raise ValueError(f"distance must be 'l1' or 'l2', got {distance!r}")
    layer_weights = _layer_weights(layers, weights)
    first = out_features[layers[0]]
    total = torch.zeros(first.shape[0], dtype=torch.promote_types(first.dtype, torch.float32), device=first.device)
    for name, weight in zip(layers, layer_weights, strict=True):
        require_same_shape(out_features[name], target_features[name], ("out features", "target features"))
        difference = upcast_to_float32(out_features[name]) - upcast_to_float32(target_features[name])
        per_value = difference.abs() if distance == "l1" else difference.square()
        total = total + weight * per_value.mean(dim=(1, 2, 3))
    return total


def gram_matrix(features: Tensor) -> Tensor:
    """Gram matrices of ``features`` ``(B, C, H, W)``: ``G[b] = F_b F_bᵀ / (C·H·W)`` with ``F_b`` the
    ``(C, H·W)`` feature matrix of sample b; shape ``(B, C, C)``, float32 (or float64).

    Dividing by C·H·W makes the Gram independent of the image size, so a painting's Grams can be
    compared with those of crops of another size. Computed with autocast off: in float16 the sums
    over H·W of VGG activations (hundreds each) overflow."""
    require_images(features, "features")
    batch, channels, height, width = features.shape
    if height * width == 0:
        raise ValueError(f"features must have at least one pixel, got shape {tuple(features.shape)}")
    flat = upcast_to_float32(features).reshape(batch, channels, height * width)
    with torch.autocast(device_type=features.device.type, enabled=False):
        return flat @ flat.transpose(1, 2) / (channels * height * width)


def style_key(layer: str, scale: float) -> str:
    """Key of the Gram of ``layer`` measured on the image rescaled by ``scale``: ``"relu2_1"`` at
    scale 1, ``"relu2_1@0.5"`` otherwise."""
    return layer if scale == 1.0 else f"{layer}@{scale:g}"


def _parse_style_key(key: str) -> tuple[str, float]:
    layer, _, scale = key.partition("@")
    try:
        return layer, float(scale) if scale else 1.0
    except ValueError:
        raise ValueError(f"style Gram key {key!r} is not 'layer' or 'layer@scale'") from None


def _check_scale(scale: float) -> None:
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"style scales must be finite and > 0, got {scale}")


def _rescaled(images: Tensor, scale: float) -> Tensor:
    """``images`` resized by ``scale`` (bilinear, antialiased when shrinking); itself at scale 1."""
    if scale == 1.0:
        return images
    height, width = images.shape[-2:]
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=scale < 1)


def style_grams(
    extractor: VGGFeatures, image: Tensor, layers: Sequence[str], scales: Sequence[float] = (1.0,)
) -> dict[str, Tensor]:
    """The Gram matrices of a style image, to precompute once for :func:`style_loss`.

    ``image`` is RGB ``(1, 3, H, W)`` in [0, 1] (a batch of B paintings gives B Grams each).
    Returns ``{style_key(layer, scale): (1, C, C)}`` for every layer and scale, computed without
    gradient. Each scale (> 0, typically <= 1) must leave the image large enough for the deepest
    layer (relu3_1: 5x5 pixels)."""
    require_images(image, "image", channels=3)
    _layer_weights(layers, None)
    if len(scales) == 0 or len(set(scales)) != len(scales):
        raise ValueError(f"scales must be non-empty without repeats, got {list(scales)}")
    with torch.no_grad():
        return output_grams(extractor, image, layers, scales)


def output_grams(
    extractor: VGGFeatures, images: Tensor, layers: Sequence[str], scales: Sequence[float] = (1.0,)
) -> dict[str, Tensor]:
    """The Gram matrices ``(B, C, C)`` of ``images`` (RGB ``(B, 3, H, W)`` in [0, 1]) for every
    layer and scale, keyed by :func:`style_key`, *with* gradient: one extractor pass per scale,
    to share between the style losses of several paintings (:func:`gram_distance`)."""
    require_images(images, "images", channels=3)
    _layer_weights(layers, None)
    if len(scales) == 0 or len(set(scales)) != len(scales):
        raise ValueError(f"scales must be non-empty without repeats, got {list(scales)}")
    grams: dict[str, Tensor] = {}
    for scale in scales:
        _check_scale(scale)
        features = extractor(_rescaled(images, scale), layers)
        for layer in layers:
            grams[style_key(layer, scale)] = gram_matrix(features[layer])
    return grams


def style_loss(
    extractor: VGGFeatures,
    out: Tensor,
    target_grams: Mapping[str, Tensor],
    layers: Sequence[str],
    weights: Sequence[float] | None = None,
) -> Tensor:
    """Style loss per sample, shape ``(B,)``: ``Σ_l weights[l] Σ_s ‖G_l(out at scale s) - T_{l,s}‖²_F``.

    ``target_grams`` maps :func:`style_key` keys to Grams ``(1 or B, C, C)`` (as from
    :func:`style_grams`); for each layer in ``layers`` the scales are those its keys name, and
    ``out`` (RGB ``(B, 3, H, W)`` in [0, 1]) is rescaled to each of them. Keys of other layers are
    ignored. Grams are normalized by C·H·W (:func:`gram_matrix`), so the loss does not depend on
    the crop size; ``weights`` (one per layer, default 1) are not normalized, and scales are summed."""
    require_images(out, "out", channels=3)
    _layer_weights(layers, weights)
    grams_by_layer_scale: dict[tuple[str, float], Tensor] = {}
    for key, gram in target_grams.items():
        layer_scale = _parse_style_key(key)
        if layer_scale in grams_by_layer_scale:
            raise ValueError(f"target_grams has two Grams for {layer_scale[0]} at scale {layer_scale[1]:g}")
        grams_by_layer_scale[layer_scale] = gram
    layers_at_scale: dict[float, list[str]] = {}
    for layer in layers:
        scales = [scale for (gram_layer, scale) in grams_by_layer_scale if gram_layer == layer]
        if not scales:
            raise ValueError(f"target_grams has no Gram for {layer} (it holds {', '.join(target_grams) or 'nothing'})")
        for scale in scales:
            _check_scale(scale)
            layers_at_scale.setdefault(scale, []).append(layer)
    out_grams: dict[str, Tensor] = {}
    for scale, scale_layers in layers_at_scale.items():
        features = extractor(_rescaled(out, scale), scale_layers)
        out_grams.update({style_key(layer, scale): gram_matrix(features[layer]) for layer in scale_layers})
    return gram_distance(out_grams, target_grams, layers, weights)


def gram_distance(
    out_grams: Mapping[str, Tensor],
    target_grams: Mapping[str, Tensor],
    layers: Sequence[str],
    weights: Sequence[float] | None = None,
) -> Tensor:
    """:func:`style_loss` on Grams already computed (:func:`output_grams`): ``Σ_l weights[l]
    Σ_s ‖out_grams[l@s] − target_grams[l@s]‖²_F`` over the target's keys of ``layers``, shape
    ``(B,)`` float32. ``out_grams`` must hold every such key."""
    layer_weights = dict(zip(layers, _layer_weights(layers, weights), strict=True))
    total: Tensor | None = None
    for key, target in target_grams.items():
        layer, _scale = _parse_style_key(key)
        if layer not in layer_weights:
            continue
        if key not in out_grams:
            raise ValueError(f"out_grams has no Gram for {key!r} (it holds {', '.join(out_grams) or 'nothing'})")
        gram = out_grams[key]
        batch = gram.shape[0]
        if target.ndim != 3 or target.shape[1:] != gram.shape[1:] or target.shape[0] not in (1, batch):
            raise ValueError(
                f"target_grams[{key!r}] must have shape (1 or {batch}, {gram.shape[1]}, {gram.shape[2]}), "
                f"got {tuple(target.shape)}"
            )
        distance = layer_weights[layer] * (gram - upcast_to_float32(target)).square().sum(dim=(1, 2))
        total = distance if total is None else total + distance
    if total is None:
        raise ValueError(f"target_grams holds no Gram of {', '.join(layers)}")
    return total


def patch_grams(features: Tensor, patch: int) -> Tensor:
    """Gram matrices of the non-overlapping ``patch`` × ``patch`` patches of ``features``
    ``(B, C, H, W)``: shape ``(B, N, C, C)`` with N = ⌊H/patch⌋·⌊W/patch⌋ (rows, then columns; a
    remainder at the bottom/right is left out), each normalized like :func:`gram_matrix` (by
    C·patch²). Float32, autocast off."""
    require_images(features, "features")
    batch, channels, height, width = features.shape
    if patch < 1 or patch > min(height, width):
        raise ValueError(f"patch must be in [1, {min(height, width)}] for features of shape {tuple(features.shape)}")
    rows, cols = height // patch, width // patch
    cropped = features[:, :, : rows * patch, : cols * patch]
    # (B, C, rows, patch, cols, patch) -> (B·rows·cols, C, patch, patch): a reshape, not an unfold,
    # whose backward pass is a slow scatter; each patch is then one "image" for gram_matrix
    tiles = cropped.reshape(batch, channels, rows, patch, cols, patch).permute(0, 2, 4, 1, 3, 5)
    grams = gram_matrix(tiles.reshape(batch * rows * cols, channels, patch, patch))
    return grams.reshape(batch, rows * cols, channels, channels)


def texture_distance(
    out_features: Mapping[str, Tensor],
    target_features: Mapping[str, Tensor],
    layers: Sequence[str],
    patch: int = 16,
    weights: Sequence[float] | None = None,
) -> Tensor:
    """Patch texture loss per sample, shape ``(B,)`` float32 (EnhanceNet's texture loss, Sajjadi
    et al., ICCV 2017): ``Σ_l weights[l] · mean_patches ‖G(out patch) − G(target patch)‖²_F``
    with :func:`patch_grams` of the ``patch`` × ``patch`` *image* patches, i.e. ``patch /
    downsampling`` feature pixels at each layer (``patch`` must be a multiple of every layer's
    downsampling). Unlike :func:`feature_distance` it does not ask for the target's features at
    the same places, only for the same local texture statistics, so it rewards restored texture
    where a pixel or feature distance rewards the blurred average."""
    layer_weights = _layer_weights(layers, weights)
    first = out_features[layers[0]]
    total = torch.zeros(first.shape[0], dtype=torch.float32, device=first.device)
    for name, weight in zip(layers, layer_weights, strict=True):
        require_same_shape(out_features[name], target_features[name], ("out features", "target features"))
        downsampling = feature_layer(name).downsampling
        if patch % downsampling:
            raise ValueError(f"patch {patch} is not a multiple of {name}'s downsampling {downsampling}")
        side = patch // downsampling
        difference = patch_grams(out_features[name], side) - patch_grams(target_features[name], side)
        total = total + weight * difference.square().sum(dim=(-1, -2)).mean(dim=1)
    return total


def total_variation(x: Tensor) -> Tensor:
    """Anisotropic total variation per sample, shape ``(B,)``: the mean of ``|x[p] - x[q]|`` over all
    pairs of horizontally or vertically neighbouring pixels p, q, and over channels.

    ``x`` is ``(B, C, H, W)`` with at least two pixels. All pairs count alike, so for an image
    that only changes along W by ``d`` per pixel the value is ``d · H(W-1) / (H(W-1) + (H-1)W)``."""
    require_images(x, "x")
    height, width = x.shape[-2:]
    if height * width < 2:
        raise ValueError(f"total_variation needs at least two pixels, got {height}x{width}")
    values = upcast_to_float32(x)
    horizontal = (values[..., :, 1:] - values[..., :, :-1]).abs().sum(dim=(1, 2, 3))
    vertical = (values[..., 1:, :] - values[..., :-1, :]).abs().sum(dim=(1, 2, 3))
    pairs = x.shape[1] * (height * (width - 1) + (height - 1) * width)
    return (horizontal + vertical) / pairs
