"""Models: shipped checkpoints found by name, checkpoint files by path, and loading.

A :class:`ModelInfo` describes a checkpoint from its header alone (no torch import);
:func:`load_model` builds the network and returns a :class:`LoadedModel` descriptor
(spandrel-style: the bare module plus task, scale, alpha space and tiling contract).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunecli.alpha import AlphaSpace
from tunecli.archs.contract import TilingContract
from tunecli.checkpoint import CheckpointHeader, read_header
from tunecli.errors import (
    CheckpointError,
    CheckpointMetadataError,
    HyperParameterError,
    ModelNotFoundError,
    ShapeMismatchError,
    UnknownArchitectureError,
)

if TYPE_CHECKING:
    from torch import nn

WEIGHTS_ENV = "TUNECLI_WEIGHTS"
SUFFIX = ".safetensors"


def weights_dirs() -> list[Path]:
    """Folders searched for shipped models, in order: ``$TUNECLI_WEIGHTS`` (``os.pathsep``
    separated), the package's bundled ``weights`` (wheel installs), the source tree's
    ``weights/`` (editable installs)."""
    dirs: list[Path] = []
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        dirs.extend(Path(p) for p in env.split(os.pathsep) if p)
    package = Path(__file__).resolve().parent
    dirs.extend([package / "weights", package.parent / "weights"])
    return [d for d in dirs if d.is_dir()]


@dataclass(frozen=True)
class ModelInfo:
    """A checkpoint described from its header: name, file, and the tunecli metadata."""

    name: str
    path: Path
    header: CheckpointHeader

    @property
    def meta(self) -> dict[str, Any]:
        return self.header.meta

    @property
    def task(self) -> str:
        return str(self.meta["task"])

    @cached_property
    def alpha_space(self) -> AlphaSpace:
        try:
            return AlphaSpace.from_json(self.meta["alpha_space"])
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointMetadataError(f"{self.path}: malformed alpha space ({err})") from None

    @property
    def parameters(self) -> int:
        count = 0
        for _, shape in self.header.tensors.values():
            n = 1
            for d in shape:
                n *= d
            count += n
        return count

    @property
    def file_size(self) -> int:
        return self.path.stat().st_size

    @cached_property
    def sha256(self) -> str:
        """The checkpoint file's SHA-256 (read once, when first asked for)."""
        digest = hashlib.sha256()
        with self.path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()


def shipped_models() -> list[ModelInfo]:
    """Every readable checkpoint in the weights folders (first folder wins on a name clash)."""
    found: dict[str, ModelInfo] = {}
    for folder in weights_dirs():
        for path in sorted(folder.glob(f"*{SUFFIX}")):
            name = path.name[: -len(SUFFIX)]
            if name in found or name.endswith(".resume"):  # training states are not models
                continue
            try:
                found[name] = ModelInfo(name, path, read_header(path))
            except CheckpointError:
                continue  # a damaged file in a weights folder must not hide the others
    return [found[n] for n in sorted(found)]


def find_model(name_or_path: str | Path) -> ModelInfo:
    """Resolve a shipped model name or a checkpoint path to its :class:`ModelInfo`.

    A value that names an existing file, or ends in ``.safetensors``, is a path.
    """
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.is_file() or text.endswith(SUFFIX) or os.sep in text:
        return ModelInfo(path.stem, path, read_header(path))
    for info in shipped_models():
        if info.name == text:
            return info
    names = ", ".join(info.name for info in shipped_models()) or "none installed"
    raise ModelNotFoundError(f"no model named {text!r} (installed: {names}); pass a .safetensors path with --model")


@dataclass
class LoadedModel:
    """A ready network with its descriptor.

    ``module`` maps ``(B, C, H, W)`` float in [0, 1] → ``(B, C, H·scale, W·scale)``; call it
    as ``module(x, omega)`` with ω ``(p,)`` or ``(B, p)``, or bake ω first.
    """

    info: ModelInfo
    module: nn.Module
    tiling: TilingContract

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def task(self) -> str:
        return self.info.task

    @property
    def alpha_space(self) -> AlphaSpace:
        return self.info.alpha_space

    @property
    def channels(self) -> int:
        return int(getattr(self.module, "channels", 3))

    @property
    def sha256(self) -> str:
        return self.info.sha256


def build_from_meta(meta: dict[str, Any], path: Path | str = "<model>") -> nn.Module:
    """Build the network named by checkpoint metadata (random weights)."""
    from tunecli.archs.registry import build_arch, get_arch

    arch = meta.get("arch")
    if not isinstance(arch, str) or get_arch(arch) is None:
        raise UnknownArchitectureError(f"{path}: unknown architecture {arch!r}")
    hparams = meta.get("hparams")
    if not isinstance(hparams, dict):
        raise HyperParameterError(f"{path}: hyper-parameters of {arch!r} are not a JSON object")
    try:
        return build_arch(arch, hparams)
    except (TypeError, ValueError) as err:
        raise HyperParameterError(f"{path}: hyper-parameters do not build {arch!r} ({err})") from None


def load_model(name_or_path: str | Path, device: str = "cpu") -> LoadedModel:
    """Load a shipped model by name or a checkpoint by path, strictly, in eval mode.

    Raises :class:`~tunecli.errors.ModelNotFoundError` or a
    :class:`~tunecli.errors.CheckpointError` subclass naming the file.
    """
    from tunecli.checkpoint import load_tensors

    info = find_model(name_or_path)
    module = build_from_meta(info.meta, info.path)
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    stored = {k: shape for k, (_, shape) in info.header.tensors.items()}
    missing = sorted(set(expected) - set(stored))
    unexpected = sorted(set(stored) - set(expected))
    wrong = sorted(k for k in set(expected) & set(stored) if expected[k] != stored[k])
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensor(s) e.g. {missing[0]!r}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} e.g. {unexpected[0]!r}")
        if wrong:
            k = wrong[0]
            parts.append(f"{len(wrong)} shape mismatch(es) e.g. {k!r} {stored[k]} vs {expected[k]}")
        raise ShapeMismatchError(f"{info.path}: tensors do not match {info.meta['arch']!r}: {'; '.join(parts)}")
    module.load_state_dict(load_tensors(info.header), strict=True)
    module.eval().to(device)
    info.alpha_space  # noqa: B018 - validate the alpha space at load time, not mid-run
    return LoadedModel(info, module, module.tiling)


def model_metadata(
    module: nn.Module,
    *,
    task: str,
    alpha_space: AlphaSpace,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Checkpoint metadata (SPEC §7) for a registered architecture instance."""
    from tunecli.archs.registry import get_arch

    name = getattr(module, "arch_name", None)
    spec = get_arch(name) if name else None
    if spec is None:
        raise UnknownArchitectureError(f"{type(module).__name__} is not a registered architecture")
    hparams = dict(module.hparams)  # type: ignore[arg-type]
    tiling: TilingContract = module.tiling  # type: ignore[assignment]
    meta: dict[str, Any] = {
        "arch": name,
        "hparams": hparams,
        "task": task,
        "scale": tiling.scale,
        "alpha_space": alpha_space.to_json(),
        "tiling": tiling.to_json(),
    }
    meta.update(extra or {})
    return meta
