"""VGG-19 feature extractor: loading (file, folder, partial files, damaged files), the fixed colour
layer, feature shapes, freezing, gradients to the input, and the real weights (slow)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from benchmark_data import DATA_DIR
from torch import Tensor, nn

from tunecli.errors import CheckpointError, ShapeMismatchError, UsageError
from tunecli.losses import DEFAULT_FEATURE_FILE, VGGFeatures, feature_extractor_from_state_dict, load_feature_extractor

# the state_dict layout of vgg_normalised_conv3_1.pth (SOURCES.md, "Pretrained feature extractor")
CONV3_1_SHAPES: dict[str, tuple[int, ...]] = {
    "0.weight": (3, 3, 1, 1),
    "0.bias": (3,),
    "2.weight": (64, 3, 3, 3),
    "2.bias": (64,),
    "5.weight": (64, 64, 3, 3),
    "5.bias": (64,),
    "9.weight": (128, 64, 3, 3),
    "9.bias": (128,),
    "12.weight": (128, 128, 3, 3),
    "12.bias": (128,),
    "16.weight": (256, 128, 3, 3),
    "16.bias": (256,),
}
KEYS_OF_FILE = {
    "conv1_1": ["0.weight", "0.bias", "2.weight", "2.bias"],
    "conv2_1": ["0.weight", "0.bias", "2.weight", "2.bias", "5.weight", "5.bias", "9.weight", "9.bias"],
    "conv3_1": list(CONV3_1_SHAPES),
}
IMAGENET_MEAN_BGR = (103.939, 116.779, 123.68)
REAL_WEIGHTS = DATA_DIR / "weights" / "vgg19_normalised_wct"


def fake_state(depth: str = "conv3_1", seed: int = 0) -> dict[str, Tensor]:
    """Random weights (small, so activations stay moderate) in the layout of vgg_normalised_<depth>.pth."""
    generator = torch.Generator().manual_seed(seed)
    return {key: 0.1 * torch.randn(CONV3_1_SHAPES[key], generator=generator) for key in KEYS_OF_FILE[depth]}


def save_fake(folder: Path, depth: str = "conv3_1", state: dict[str, Tensor] | None = None) -> Path:
    path = folder / f"vgg_normalised_{depth}.pth"
    torch.save(fake_state(depth) if state is None else state, path)
    return path


def test_loaded_file_gives_documented_feature_shapes(tmp_path: Path) -> None:
    extractor = load_feature_extractor(save_fake(tmp_path))
    features = extractor(torch.rand(2, 3, 32, 32))
    assert list(features) == ["relu1_1", "relu2_1", "relu3_1"]
    assert features["relu1_1"].shape == (2, 64, 32, 32)
    assert features["relu2_1"].shape == (2, 128, 16, 16)
    assert features["relu3_1"].shape == (2, 256, 8, 8)
    cheap = extractor(torch.rand(1, 3, 32, 32), layers=("relu2_2", "relu1_2"))
    assert list(cheap) == ["relu2_2", "relu1_2"]
    assert cheap["relu1_2"].shape == (1, 64, 32, 32)
    assert cheap["relu2_2"].shape == (1, 128, 16, 16)


def test_odd_sizes_round_up_through_the_pools(tmp_path: Path) -> None:
    extractor = load_feature_extractor(save_fake(tmp_path))
    features = extractor(torch.rand(1, 3, 9, 5))
    assert features["relu2_1"].shape[-2:] == (5, 3)
    assert features["relu3_1"].shape[-2:] == (3, 2)


def test_loaded_weights_are_the_files(tmp_path: Path) -> None:
    state = fake_state()
    extractor = load_feature_extractor(save_fake(tmp_path, state=state))
    loaded = extractor.body.state_dict()
    assert set(loaded) == set(state)
    for key, tensor in state.items():
        assert torch.equal(loaded[key], tensor)


def test_sha256_and_source_name_the_file(tmp_path: Path) -> None:
    path = save_fake(tmp_path)
    extractor = load_feature_extractor(str(path))
    assert extractor.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert extractor.source == path


def test_folder_loads_the_conv3_1_file(tmp_path: Path) -> None:
    save_fake(tmp_path, "conv1_1")
    save_fake(tmp_path, "conv3_1")
    extractor = load_feature_extractor(tmp_path)
    assert extractor.source == tmp_path / DEFAULT_FEATURE_FILE
    assert extractor.available_layers == ("relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1")


def test_folder_without_the_conv3_1_file_is_a_usage_error(tmp_path: Path) -> None:
    save_fake(tmp_path, "conv2_1")
    with pytest.raises(
        UsageError, match=r"folder has no vgg_normalised_conv3_1\.pth \(found vgg_normalised_conv2_1\.pth\)"
    ):
        load_feature_extractor(tmp_path)


def test_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"nope\.pth: feature extractor weights not found"):
        load_feature_extractor(tmp_path / "nope.pth")


@pytest.mark.parametrize(
    ("depth", "layers", "deepest_shape"),
    [("conv1_1", ("relu1_1",), (1, 64, 8, 8)), ("conv2_1", ("relu1_1", "relu1_2", "relu2_1"), (1, 128, 4, 4))],
)
def test_shallow_files_offer_only_their_layers(
    tmp_path: Path, depth: str, layers: tuple[str, ...], deepest_shape: tuple[int, ...]
) -> None:
    path = save_fake(tmp_path, depth)
    extractor = load_feature_extractor(path)
    assert extractor.available_layers == layers
    assert extractor(torch.rand(1, 3, 8, 8), layers=layers)[layers[-1]].shape == deepest_shape
    with pytest.raises(UsageError, match=rf"{path.name} has no layer relu3_1 \(it holds {', '.join(layers)}\)"):
        extractor(torch.rand(1, 3, 8, 8), layers=("relu1_1", "relu3_1"))


def test_missing_key_names_file_and_key(tmp_path: Path) -> None:
    state = fake_state()
    del state["5.bias"]
    path = save_fake(tmp_path, state=state)
    with pytest.raises(ShapeMismatchError, match=rf"{path.name}: missing key '5\.bias'") as caught:
        load_feature_extractor(path)
    assert "\n" not in str(caught.value)


def test_gap_in_the_layers_is_a_missing_key(tmp_path: Path) -> None:
    state = {key: tensor for key, tensor in fake_state("conv2_1").items() if not key.startswith("5.")}
    with pytest.raises(ShapeMismatchError, match=r"missing key '5\.weight'"):
        load_feature_extractor(save_fake(tmp_path, state=state))


def test_wrong_shape_names_file_key_and_shapes(tmp_path: Path) -> None:
    state = fake_state()
    state["9.weight"] = torch.zeros(128, 64, 1, 1)
    path = save_fake(tmp_path, state=state)
    with pytest.raises(
        ShapeMismatchError, match=rf"{path.name}: 9\.weight has shape \(128, 64, 1, 1\), expected \(128, 64, 3, 3\)"
    ):
        load_feature_extractor(path)


def test_unexpected_key_is_reported(tmp_path: Path) -> None:
    state = fake_state()
    state["19.weight"] = torch.zeros(256, 256, 3, 3)
    with pytest.raises(ShapeMismatchError, match=r"unexpected key '19\.weight'"):
        load_feature_extractor(save_fake(tmp_path, state=state))


def test_non_finite_weights_are_reported(tmp_path: Path) -> None:
    state = fake_state()
    state["12.bias"][3] = float("nan")
    with pytest.raises(CheckpointError, match=r"12\.bias holds NaN or infinite values"):
        load_feature_extractor(save_fake(tmp_path, state=state))


def test_truncated_file_is_a_checkpoint_error(tmp_path: Path) -> None:
    path = save_fake(tmp_path)
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(
        CheckpointError, match=rf"{path.name}: cannot load feature extractor weights \(damaged"
    ) as caught:
        load_feature_extractor(path)
    assert "\n" not in str(caught.value)


def test_garbage_file_is_a_checkpoint_error(tmp_path: Path) -> None:
    path = tmp_path / "vgg.pth"
    path.write_bytes(b"definitely not weights")
    with pytest.raises(CheckpointError, match=r"vgg\.pth: cannot load feature extractor weights"):
        load_feature_extractor(path)


def test_pickled_module_is_refused_not_unpickled(tmp_path: Path) -> None:
    path = tmp_path / "module.pth"
    torch.save(nn.Conv2d(3, 3, 1), path)
    with pytest.raises(CheckpointError, match="holds Python objects besides tensors") as caught:
        load_feature_extractor(path)
    assert "\n" not in str(caught.value)


def test_file_that_is_not_a_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(3)], path)
    with pytest.raises(CheckpointError, match=r"list\.pth: not a state_dict \(holds a list\)"):
        load_feature_extractor(path)


def test_first_layer_maps_rgb_to_bgr_times_255_minus_mean() -> None:
    state = fake_state("conv1_1")
    swap = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])  # out channel c <- in channel 2-c
    state["0.weight"] = (255.0 * swap).reshape(3, 3, 1, 1)
    state["0.bias"] = -torch.tensor(IMAGENET_MEAN_BGR)
    # relu1_1 channels 0-2 copy the first layer's output (centre tap 1), the others are 0
    state["2.weight"] = torch.zeros(64, 3, 3, 3)
    state["2.weight"][torch.arange(3), torch.arange(3), 1, 1] = 1.0
    state["2.bias"] = torch.zeros(64)
    extractor = feature_extractor_from_state_dict(state)
    rgb = torch.tensor([0.2, 0.5, 0.9]).reshape(1, 3, 1, 1).expand(1, 3, 4, 4)
    expected_bgr = torch.tensor([0.9 * 255 - 103.939, 0.5 * 255 - 116.779, 0.2 * 255 - 123.68])
    torch.testing.assert_close(extractor.body[0](rgb)[0, :, 2, 1], expected_bgr)
    relu1_1 = extractor(rgb, layers=("relu1_1",))["relu1_1"]
    torch.testing.assert_close(relu1_1[0, :3, 2, 1], expected_bgr.clamp_min(0))
    assert relu1_1[0, 3:].abs().max() == 0


def test_parameters_stay_frozen_and_in_eval_mode() -> None:
    extractor = feature_extractor_from_state_dict(fake_state())
    assert not extractor.training
    assert extractor.train() is extractor
    nn.Sequential(extractor).train(True)  # a parent's .train() must not switch it either
    assert not any(module.training for module in extractor.modules())
    assert all(not p.requires_grad for p in extractor.parameters())


def test_gradient_reaches_the_input_and_not_the_weights() -> None:
    extractor = feature_extractor_from_state_dict(fake_state())
    image = torch.rand(1, 3, 16, 16, requires_grad=True)
    extractor(image, layers=("relu3_1",))["relu3_1"].sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0
    assert all(p.grad is None for p in extractor.parameters())


def test_features_of_a_sample_ignore_the_other_samples() -> None:
    extractor = feature_extractor_from_state_dict(fake_state())
    batch = torch.rand(3, 3, 12, 12)
    changed = batch.clone()
    changed[1:] = torch.rand(2, 3, 12, 12)
    assert torch.equal(extractor(batch)["relu3_1"][0], extractor(changed)["relu3_1"][0])


def test_stops_after_the_deepest_layer_asked() -> None:
    extractor = feature_extractor_from_state_dict(fake_state())
    ran: list[int] = []
    for index, module in enumerate(extractor.body):
        module.register_forward_hook(lambda *_, index=index: ran.append(index))
    extractor(torch.rand(1, 3, 8, 8), layers=("relu1_1",))
    assert ran == [0, 1, 2, 3]
    ran.clear()
    extractor(torch.rand(1, 3, 8, 8), layers=("relu2_1", "relu1_1"))
    assert ran == list(range(11))


def test_too_small_input_is_reported() -> None:
    extractor = feature_extractor_from_state_dict(fake_state())
    extractor(torch.rand(1, 3, 5, 5), layers=("relu3_1",))
    with pytest.raises(ValueError, match="relu3_1 needs images of at least 5x5 pixels, got 4x6"):
        extractor(torch.rand(1, 3, 4, 6))


def test_unknown_layer_and_bad_input_are_reported() -> None:
    extractor = VGGFeatures("relu1_1")
    with pytest.raises(UsageError, match="unknown feature layer 'relu4_1'; choose from relu1_1, relu1_2"):
        extractor(torch.rand(1, 3, 8, 8), layers=("relu4_1",))
    with pytest.raises(ValueError, match=r"x must have 3 channels, got shape \(1, 1, 8, 8\)"):
        extractor(torch.rand(1, 1, 8, 8), layers=("relu1_1",))
    with pytest.raises(TypeError, match="sequence of layer names"):
        extractor(torch.rand(1, 3, 8, 8), layers="relu1_1")


@pytest.mark.slow
def test_real_weights_load_and_give_relu3_1_features() -> None:
    if not (REAL_WEIGHTS / DEFAULT_FEATURE_FILE).is_file():
        pytest.skip(f"real VGG-19 weights not present at {REAL_WEIGHTS}")
    extractor = load_feature_extractor(REAL_WEIGHTS)
    assert len(extractor.sha256 or "") == 64
    image = torch.rand(1, 3, 32, 32)
    features = extractor(image, layers=("relu3_1",))
    assert features["relu3_1"].shape == (1, 256, 8, 8)
    assert features["relu3_1"].abs().sum() > 0
    # the real first layer is the documented fixed colour transform
    bgr = extractor.body[0](image)
    expected = image.flip(1) * 255 - torch.tensor(IMAGENET_MEAN_BGR).reshape(1, 3, 1, 1)
    torch.testing.assert_close(bgr, expected, atol=1e-3, rtol=0)
