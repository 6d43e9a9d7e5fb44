"""Perceptual losses: feature distances, Gram matrices, (multi-scale) style loss, total variation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tunecli.losses import VGGFeatures, feature_loss, gram_matrix, style_grams, style_key, style_loss, total_variation
from tunecli.losses.perceptual import feature_distance, patch_grams, texture_distance

LAYERS = ("relu1_1", "relu2_1", "relu3_1")


@pytest.fixture(scope="module")
def extractor() -> VGGFeatures:
    """A random-weight extractor: the properties tested here do not depend on trained weights."""
    torch.manual_seed(0)
    return VGGFeatures()


def images(batch: int, side: int = 12, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, 3, side, side, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("distance", ["l1", "l2"])
def test_feature_loss_matches_hand_computation(extractor: VGGFeatures, distance: str) -> None:
    out, target = images(2, seed=1), images(2, seed=2)
    weights = (0.5, 2.0)
    layers = ("relu1_1", "relu3_1")
    loss = feature_loss(extractor, out, target, layers, weights=weights, distance=distance)  # type: ignore[arg-type]
    out_features, target_features = extractor(out, layers), extractor(target, layers)
    expected = torch.zeros(2)
    for layer, weight in zip(layers, weights, strict=True):
        difference = out_features[layer] - target_features[layer]
        per_value = difference.abs() if distance == "l1" else difference.square()
        expected += weight * per_value.mean(dim=(1, 2, 3))
    assert loss.shape == (2,) and loss.dtype == torch.float32
    torch.testing.assert_close(loss, expected)


def test_feature_loss_is_zero_for_identical_images_and_per_sample(extractor: VGGFeatures) -> None:
    out, target = images(3, seed=1), images(3, seed=2)
    assert torch.equal(feature_loss(extractor, target, target, LAYERS), torch.zeros(3))
    reference = feature_loss(extractor, out, target, LAYERS)
    changed = out.clone()
    changed[1:] = images(2, seed=3)
    assert feature_loss(extractor, changed, target, LAYERS)[0] == reference[0]
    torch.testing.assert_close(feature_loss(extractor, out[:1], target[:1], LAYERS), reference[:1])


def test_feature_loss_gradient_reaches_out_only(extractor: VGGFeatures) -> None:
    out = images(1, seed=1).requires_grad_()
    target = images(1, seed=2).requires_grad_()
    feature_loss(extractor, out, target, ("relu2_1",)).sum().backward()
    assert out.grad is not None and out.grad.abs().sum() > 0
    assert target.grad is None


def test_feature_loss_rejects_bad_arguments(extractor: VGGFeatures) -> None:
    out = images(1)
    with pytest.raises(ValueError, match="distance must be 'l1' or 'l2', got 'l3'"):
        feature_loss(extractor, out, out, LAYERS, distance="l3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="2 weights for 3 layers"):
        feature_loss(extractor, out, out, LAYERS, weights=(1.0, 1.0))
    with pytest.raises(ValueError, match="same shape"):
        feature_loss(extractor, out, images(1, side=13), LAYERS)


def test_gram_matrix_of_a_known_tensor() -> None:
    features = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # (1, 2, 1, 2): rows (1, 2) and (3, 4)
    expected = torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / (2 * 1 * 2)
    torch.testing.assert_close(gram_matrix(features), expected)


def test_gram_matrix_shape_and_size_independence() -> None:
    tile = torch.rand(2, 4, 3, 3)
    assert gram_matrix(tile).shape == (2, 4, 4)
    # a periodic image of 2x2 tiles has the same normalized Gram as one tile
    torch.testing.assert_close(gram_matrix(tile.repeat(1, 1, 2, 2)), gram_matrix(tile))


def test_style_key_format() -> None:
    assert style_key("relu2_1", 1.0) == "relu2_1"
    assert style_key("relu3_1", 0.5) == "relu3_1@0.5"


def test_style_grams_keys_shapes_and_no_gradient(extractor: VGGFeatures) -> None:
    painting = images(1, side=24).requires_grad_()
    grams = style_grams(extractor, painting, LAYERS, scales=(1.0, 0.5))
    assert list(grams) == ["relu1_1", "relu2_1", "relu3_1", "relu1_1@0.5", "relu2_1@0.5", "relu3_1@0.5"]
    assert grams["relu1_1"].shape == (1, 64, 64)
    assert grams["relu3_1@0.5"].shape == (1, 256, 256)
    assert not any(gram.requires_grad for gram in grams.values())


def test_style_loss_is_zero_against_own_grams_and_positive_otherwise(extractor: VGGFeatures) -> None:
    out = images(2, seed=4)
    own = style_grams(extractor, out, LAYERS, scales=(1.0, 0.5))
    torch.testing.assert_close(style_loss(extractor, out, own, LAYERS), torch.zeros(2))
    painting = style_grams(extractor, images(1, side=24, seed=5), LAYERS, scales=(1.0, 0.5))
    loss = style_loss(extractor, out, painting, LAYERS)
    assert loss.shape == (2,) and loss.dtype == torch.float32
    assert bool((loss > 0).all())


def test_style_loss_matches_squared_frobenius_distance(extractor: VGGFeatures) -> None:
    out = images(2, seed=6)
    painting = style_grams(extractor, images(1, side=20, seed=7), ("relu1_1", "relu2_1"))
    loss = style_loss(extractor, out, painting, ("relu1_1", "relu2_1"), weights=(3.0, 0.5))
    features = extractor(out, ("relu1_1", "relu2_1"))
    expected = 3.0 * (gram_matrix(features["relu1_1"]) - painting["relu1_1"]).square().sum(dim=(1, 2))
    expected += 0.5 * (gram_matrix(features["relu2_1"]) - painting["relu2_1"]).square().sum(dim=(1, 2))
    torch.testing.assert_close(loss, expected)


def test_style_loss_measures_the_output_at_the_paintings_scales(extractor: VGGFeatures) -> None:
    out = images(2, side=16, seed=8)
    grams = style_grams(extractor, images(1, side=32, seed=9), ("relu2_1",), scales=(1.0, 0.5))
    full = style_loss(extractor, out, {"relu2_1": grams["relu2_1"]}, ("relu2_1",))
    half = style_loss(extractor, out, {"relu2_1@0.5": grams["relu2_1@0.5"]}, ("relu2_1",))
    torch.testing.assert_close(style_loss(extractor, out, grams, ("relu2_1",)), full + half)
    # the half-scale term is the full-scale loss of the output shrunk to 8x8
    shrunk = F.interpolate(out, size=(8, 8), mode="bilinear", align_corners=False, antialias=True)
    torch.testing.assert_close(half, style_loss(extractor, shrunk, {"relu2_1": grams["relu2_1@0.5"]}, ("relu2_1",)))


def test_style_loss_is_per_sample_and_differentiable(extractor: VGGFeatures) -> None:
    painting = style_grams(extractor, images(1, side=20, seed=10), LAYERS)
    out = images(3, seed=11)
    reference = style_loss(extractor, out, painting, LAYERS)
    changed = out.clone()
    changed[1:] = images(2, seed=12)
    torch.testing.assert_close(style_loss(extractor, changed, painting, LAYERS)[0], reference[0])
    out.requires_grad_()
    style_loss(extractor, out, painting, LAYERS)[0].backward()
    assert out.grad is not None
    assert out.grad[0].abs().sum() > 0 and out.grad[1:].abs().sum() == 0


def test_style_loss_rejects_missing_or_misshapen_grams(extractor: VGGFeatures) -> None:
    out = images(2)
    grams = style_grams(extractor, images(1), ("relu1_1",))
    with pytest.raises(ValueError, match=r"target_grams has no Gram for relu2_1 \(it holds relu1_1\)"):
        style_loss(extractor, out, grams, ("relu1_1", "relu2_1"))
    with pytest.raises(
        ValueError, match=r"target_grams\['relu1_1'\] must have shape \(1 or 2, 64, 64\), got \(3, 64, 64\)"
    ):
        style_loss(extractor, out, {"relu1_1": grams["relu1_1"].expand(3, 64, 64)}, ("relu1_1",))
    with pytest.raises(ValueError, match="is not 'layer' or 'layer@scale'"):
        style_loss(extractor, out, {"relu1_1@half": grams["relu1_1"]}, ("relu1_1",))
    with pytest.raises(ValueError, match="scales must be finite and > 0"):
        style_grams(extractor, images(1), ("relu1_1",), scales=(0.0,))


def test_total_variation_of_a_constant_image_is_zero() -> None:
    assert torch.equal(total_variation(torch.full((2, 3, 5, 7), 0.3)), torch.zeros(2))


def test_total_variation_of_a_ramp_equals_the_hand_value() -> None:
    height, width, step = 4, 5, 0.1
    ramp = (step * torch.arange(width, dtype=torch.float32)).expand(1, 3, height, width)
    # 4*4 horizontal pairs of difference 0.1 and 3*5 vertical pairs of difference 0, per channel
    torch.testing.assert_close(total_variation(ramp), torch.tensor([step * 16 / (16 + 15)]))
    torch.testing.assert_close(total_variation(ramp.transpose(-1, -2)), torch.tensor([step * 16 / (16 + 15)]))


def test_total_variation_is_per_sample_and_differentiable() -> None:
    batch = torch.rand(3, 3, 6, 6, dtype=torch.float64, requires_grad=True)
    assert total_variation(batch).shape == (3,)
    torch.testing.assert_close(total_variation(batch[1:2]), total_variation(batch)[1:2])
    with pytest.raises(ValueError, match="at least two pixels, got 1x1"):
        total_variation(torch.rand(1, 3, 1, 1))


def test_patch_grams_are_the_grams_of_each_patch_in_row_order() -> None:
    features = torch.rand(2, 5, 8, 12)
    grams = patch_grams(features, 4)
    assert grams.shape == (2, 6, 5, 5)
    for index, (row, col) in enumerate((r, c) for r in range(2) for c in range(3)):
        patch = features[:, :, 4 * row : 4 * row + 4, 4 * col : 4 * col + 4]
        torch.testing.assert_close(grams[:, index], gram_matrix(patch))
    # a remainder at the bottom/right is left out; a patch larger than the features is refused
    assert patch_grams(torch.rand(1, 2, 9, 9), 4).shape == (1, 4, 2, 2)
    with pytest.raises(ValueError, match="patch must be in"):
        patch_grams(features, 9)


def _shuffled_within_patches(features: torch.Tensor, patch: int, seed: int) -> torch.Tensor:
    """``features`` with the pixels of each ``patch``-sized patch permuted (the same way in every patch)."""
    batch, channels, height, width = features.shape
    order = torch.randperm(patch * patch, generator=torch.Generator().manual_seed(seed))
    tiles = (
        features.unfold(2, patch, patch)
        .unfold(3, patch, patch)
        .reshape(batch, channels, height // patch, width // patch, -1)
    )
    tiles = tiles[..., order].reshape(batch, channels, height // patch, width // patch, patch, patch)
    return tiles.permute(0, 1, 2, 4, 3, 5).reshape(batch, channels, height, width)


def test_texture_distance_ignores_where_in_the_patch_texture_is_and_feature_distance_does_not() -> None:
    # features shaped like relu1_1 (downsampling 1), relu2_1 (2) and relu3_1 (4) of a 16-px image
    torch.manual_seed(0)
    target = {"relu1_1": torch.rand(2, 4, 16, 16), "relu2_1": torch.rand(2, 6, 8, 8), "relu3_1": torch.rand(2, 8, 4, 4)}
    moved = {
        name: _shuffled_within_patches(value, 8 // downsampling, seed=1)
        for (name, value), downsampling in zip(target.items(), (1, 2, 4), strict=True)
    }
    layers = tuple(target)
    torch.testing.assert_close(texture_distance(moved, target, layers, patch=8), torch.zeros(2), atol=1e-6, rtol=0)
    assert (feature_distance(moved, target, layers) > 0.1).all()
    # a flattened texture (each patch replaced by its mean) is far in texture, per sample
    flat = {name: F.avg_pool2d(v, 8 // d).repeat_interleave(8 // d, 2).repeat_interleave(8 // d, 3)
            for (name, v), d in zip(target.items(), (1, 2, 4), strict=True)}  # fmt: skip
    distance = texture_distance(flat, target, layers, patch=8)
    assert distance.shape == (2,) and (distance > 1e-3).all()


def test_texture_distance_matches_the_hand_sum_and_checks_the_patch() -> None:
    torch.manual_seed(1)
    out = {"relu1_1": torch.rand(1, 3, 8, 8), "relu2_1": torch.rand(1, 3, 4, 4)}
    target = {"relu1_1": torch.rand(1, 3, 8, 8), "relu2_1": torch.rand(1, 3, 4, 4)}
    expected = sum(
        w * (patch_grams(out[n], side) - patch_grams(target[n], side)).square().sum(dim=(-1, -2)).mean(dim=1)
        for n, side, w in (("relu1_1", 4, 1.0), ("relu2_1", 2, 0.5))
    )
    got = texture_distance(out, target, ("relu1_1", "relu2_1"), patch=4, weights=(1.0, 0.5))
    torch.testing.assert_close(got, expected)
    with pytest.raises(ValueError, match="not a multiple of relu2_1's downsampling 2"):
        texture_distance(out, target, ("relu1_1", "relu2_1"), patch=3)
