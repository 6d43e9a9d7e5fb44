"""A frozen VGG-19 feature extractor (the "normalised" encoder of WCT/AdaIN) loaded from a user file.

The project never ships these weights: a user passes the file (or the folder holding it), see
``SOURCES.md``, "Pretrained feature extractor". The files are plain state_dicts whose keys are
``nn.Sequential`` indices::

    0  Conv2d(3, 3, 1)      fixed: RGB in [0, 1] -> BGR x 255 - ImageNet mean
    1  ReflectionPad2d(1)   2  Conv2d(3, 64, 3)     3  ReLU   -> relu1_1
    4  ReflectionPad2d(1)   5  Conv2d(64, 64, 3)    6  ReLU   -> relu1_2
    7  MaxPool2d(2, ceil_mode=True)
    8  ReflectionPad2d(1)   9  Conv2d(64, 128, 3)   10 ReLU   -> relu2_1
    11 ReflectionPad2d(1)   12 Conv2d(128, 128, 3)  13 ReLU   -> relu2_2
    14 MaxPool2d(2, ceil_mode=True)
    15 ReflectionPad2d(1)   16 Conv2d(128, 256, 3)  17 ReLU   -> relu3_1

``vgg_normalised_conv1_1.pth`` holds indices 0-2, ``..._conv2_1.pth`` 0-9 and ``..._conv3_1.pth``
all of them; an extractor offers the layers its file holds.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from tunecli.errors import CheckpointError, ShapeMismatchError, UsageError
from tunecli.losses._checks import require_images

#: The file :func:`load_feature_extractor` picks when it is given a folder.
DEFAULT_FEATURE_FILE = "vgg_normalised_conv3_1.pth"
#: The layers :meth:`VGGFeatures.forward` returns unless told otherwise.
DEFAULT_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1")


@dataclass(frozen=True)
class FeatureLayer:
    """One ReLU output of the encoder: the index of the 3x3 conv before it, its channels, and its
    size relative to the input (``ceil(side / downsampling)``)."""

    name: str
    conv_index: int
    in_channels: int
    channels: int
    downsampling: int

    @property
    def relu_index(self) -> int:
        return self.conv_index + 1

    @property
    def min_input_side(self) -> int:
        """Smallest input height/width this layer accepts: its reflection padding needs >= 2 pixels,
        and ``ceil(side / downsampling) >= 2`` holds from ``downsampling + 1`` on."""
        return self.downsampling + 1


#: The layers in network order. Each ``MaxPool2d`` sits where ``downsampling`` doubles.
FEATURE_LAYERS: tuple[FeatureLayer, ...] = (
    FeatureLayer("relu1_1", conv_index=2, in_channels=3, channels=64, downsampling=1),
    FeatureLayer("relu1_2", conv_index=5, in_channels=64, channels=64, downsampling=1),
    FeatureLayer("relu2_1", conv_index=9, in_channels=64, channels=128, downsampling=2),
    FeatureLayer("relu2_2", conv_index=12, in_channels=128, channels=128, downsampling=2),
    FeatureLayer("relu3_1", conv_index=16, in_channels=128, channels=256, downsampling=4),
)
_LAYERS_BY_NAME = {layer.name: layer for layer in FEATURE_LAYERS}
_COLOUR_CONV_INDEX = 0


def feature_layer(name: str) -> FeatureLayer:
    """The :class:`FeatureLayer` called ``name`` (``"relu2_1"``, …); a one-line :class:`UsageError`
    naming the choices for any other name."""
    if name not in _LAYERS_BY_NAME:
        raise UsageError(f"unknown feature layer {name!r}; choose from {', '.join(_LAYERS_BY_NAME)}")
    return _LAYERS_BY_NAME[name]


def _expected_shapes(layers: Sequence[FeatureLayer]) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {
        f"{_COLOUR_CONV_INDEX}.weight": (3, 3, 1, 1),
        f"{_COLOUR_CONV_INDEX}.bias": (3,),
    }
    for layer in layers:
        shapes[f"{layer.conv_index}.weight"] = (layer.channels, layer.in_channels, 3, 3)
        shapes[f"{layer.conv_index}.bias"] = (layer.channels,)
    return shapes


def _build_encoder(layers: Sequence[FeatureLayer]) -> nn.Sequential:
    modules: list[nn.Module] = [nn.Conv2d(3, 3, kernel_size=1)]
    downsampling = 1
    for layer in layers:
        if layer.downsampling > downsampling:
            modules.append(nn.MaxPool2d(2, ceil_mode=True))
            downsampling = layer.downsampling
        modules += [nn.ReflectionPad2d(1), nn.Conv2d(layer.in_channels, layer.channels, kernel_size=3), nn.ReLU()]
        assert len(modules) == layer.relu_index + 1, "the module list must follow the file's indices"
    return nn.Sequential(*modules)


class VGGFeatures(nn.Module):
    """Frozen VGG-19 encoder up to ``deepest_layer``: RGB ``(B, 3, H, W)`` in [0, 1] -> named features.

    The parameters never require grad and the module stays in eval mode (``.train()`` does not
    change that), but gradients flow to the input, so a feature loss trains the network that
    produced it. It has no batch statistics: each sample's features depend on that sample only.
    Built directly it has random weights; :func:`load_feature_extractor` fills in a file's.

    Attributes:
        available_layers: the layer names :meth:`forward` can return, in network order.
        sha256: hex digest of the weights file's bytes (``None`` when not loaded from a file).
        source: the weights file (``None`` when not loaded from a file).
    """

    def __init__(self, deepest_layer: str = "relu3_1") -> None:
        super().__init__()
        feature_layer(deepest_layer)  # an unknown name: one-line error
        depth = [layer.name for layer in FEATURE_LAYERS].index(deepest_layer) + 1
        self.available_layers: tuple[str, ...] = tuple(layer.name for layer in FEATURE_LAYERS[:depth])
        self.body = _build_encoder(FEATURE_LAYERS[:depth])
        self.body.requires_grad_(False)
        self.sha256: str | None = None
        self.source: Path | None = None
        self.eval()

    def train(self, mode: bool = True) -> VGGFeatures:
        """Stay in eval mode whatever ``mode`` says: the extractor is a fixed measuring device."""
        return super().train(False)

    def _origin(self) -> str:
        return str(self.source) if self.source is not None else "this feature extractor"

    def _resolve(self, layers: Sequence[str]) -> list[FeatureLayer]:
        if isinstance(layers, str):
            raise TypeError(f"layers must be a sequence of layer names, got the string {layers!r}")
        if len(layers) == 0:
            raise ValueError("layers must name at least one feature layer")
        resolved = []
        for name in layers:
            layer = feature_layer(name)  # an unknown name: one-line error
            if name not in self.available_layers:
                raise UsageError(
                    f"{self._origin()} has no layer {name} (it holds {', '.join(self.available_layers)}); "
                    f"use {DEFAULT_FEATURE_FILE} for layers up to relu3_1"
                )
            resolved.append(layer)
        return resolved

    def forward(self, x: Tensor, layers: Sequence[str] = DEFAULT_LAYERS) -> dict[str, Tensor]:
        """Features of RGB images ``x`` ``(B, 3, H, W)`` in [0, 1] (floating; not clamped).

        Returns ``{name: (B, C, ceil(H / d), ceil(W / d))}`` for each name in ``layers``, in that
        order, with C and d of :data:`FEATURE_LAYERS` (relu1_x: 64, 1; relu2_x: 128, 2;
        relu3_1: 256, 4). Nothing past the deepest requested layer is computed. H and W must be at
        least 2 (relu1_x), 3 (relu2_x) or 5 (relu3_1) pixels."""
        require_images(x, "x", channels=3)
        wanted = self._resolve(layers)
        deepest = max(wanted, key=lambda layer: layer.relu_index)
        if min(x.shape[-2:]) < deepest.min_input_side:
            raise ValueError(
                f"{deepest.name} needs images of at least {deepest.min_input_side}x{deepest.min_input_side} pixels, "
                f"got {x.shape[-2]}x{x.shape[-1]}"
            )
        outputs_at = {layer.relu_index: layer.name for layer in wanted}
        features: dict[str, Tensor] = {}
        for index, module in enumerate(self.body[: deepest.relu_index + 1]):
            x = module(x)
            if index in outputs_at:
                features[outputs_at[index]] = x
        return {name: features[name] for name in layers}


def feature_extractor_from_state_dict(state: object, origin: str = "state dict") -> VGGFeatures:
    """A :class:`VGGFeatures` holding the weights of ``state``, a VGG-19 "normalised" state_dict.

    The keys present choose the depth (``2.*`` only: relu1_1; up to ``9.*``: relu2_1; up to
    ``16.*``: relu3_1). ``origin`` names the source in error messages.

    Raises:
        CheckpointError: ``state`` is not a mapping of names to floating tensors, or holds NaN/inf.
        ShapeMismatchError: a missing or unexpected key, or a tensor of the wrong shape.
    """
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{origin}: not a state_dict (holds a {type(state).__name__})")
    for key, value in state.items():
        if not isinstance(value, Tensor):
            raise CheckpointError(f"{origin}: {key!r} is not a tensor (a {type(value).__name__})")
    present = [
        layer
        for layer in FEATURE_LAYERS
        if f"{layer.conv_index}.weight" in state or f"{layer.conv_index}.bias" in state
    ]
    depth = FEATURE_LAYERS.index(present[-1]) + 1 if present else 1  # with no 3x3 conv, report 2.weight missing
    expected = _expected_shapes(FEATURE_LAYERS[:depth])
    missing = [key for key in expected if key not in state]
    if missing:
        raise ShapeMismatchError(f"{origin}: missing key {missing[0]!r} (not a VGG-19 'normalised' encoder state_dict)")
    unexpected = [key for key in state if key not in expected]
    if unexpected:
        raise ShapeMismatchError(
            f"{origin}: unexpected key {unexpected[0]!r} (not a VGG-19 'normalised' encoder state_dict)"
        )
    for key, shape in expected.items():
        tensor = state[key]
        if tuple(tensor.shape) != shape:
            raise ShapeMismatchError(f"{origin}: {key} has shape {tuple(tensor.shape)}, expected {shape}")
        if not tensor.is_floating_point():
            raise CheckpointError(f"{origin}: {key} has dtype {tensor.dtype}, expected a floating-point tensor")
        if not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{origin}: {key} holds NaN or infinite values (damaged file?)")
    extractor = VGGFeatures(FEATURE_LAYERS[depth - 1].name)
    extractor.body.load_state_dict(dict(state))
    return extractor


def _resolve_weights_path(path: Path) -> Path:
    if path.is_dir():
        candidate = path / DEFAULT_FEATURE_FILE
        if not candidate.is_file():
            found = sorted(p.name for p in path.glob("*.pth"))
            listing = ", ".join(found) if found else "no .pth files"
            raise UsageError(f"{path}: folder has no {DEFAULT_FEATURE_FILE} (found {listing}); pass the file itself")
        return candidate
    if not path.is_file():
        raise UsageError(f"{path}: feature extractor weights not found")
    return path


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def load_feature_extractor(path: str | Path) -> VGGFeatures:
    """Load a frozen :class:`VGGFeatures` from a ``vgg_normalised_conv{1,2,3}_1.pth`` file, or from
    the folder holding them (then ``vgg_normalised_conv3_1.pth``, layers up to relu3_1).

    Only tensors are unpickled (``torch.load(..., weights_only=True)``), never code. The bytes are
    read once, so :attr:`VGGFeatures.sha256` names exactly the weights that were loaded.

    Raises:
        UsageError: the path does not exist, cannot be read, or is a folder without the file.
        CheckpointError: the file is damaged or not a plain state_dict (message names the file).
        ShapeMismatchError: the state_dict lacks a key, has an extra one, or a wrong shape.
    """
    file = _resolve_weights_path(Path(path))
    try:
        content = file.read_bytes()
    except OSError as error:
        raise UsageError(f"{file}: cannot read feature extractor weights ({error.strerror or error})") from None
    try:
        state = torch.load(io.BytesIO(content), map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load raises a zoo of types (KeyError, EOFError, RuntimeError...) for bad bytes
        if isinstance(error, pickle.UnpicklingError):
            reason = "it holds Python objects besides tensors; only plain state_dicts are loaded"
        else:
            reason = f"damaged or not a PyTorch file: {_first_line(error)}"
        raise CheckpointError(f"{file}: cannot load feature extractor weights ({reason})") from None
    extractor = feature_extractor_from_state_dict(state, origin=str(file))
    extractor.sha256 = hashlib.sha256(content).hexdigest()
    extractor.source = file
    return extractor
