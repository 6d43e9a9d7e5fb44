"""The public Python API: load, alpha handling, arrays/images/files in and out, baking once."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from torch import Tensor, nn

import tunecli.api
from tunecli.alpha import AlphaAxis, AlphaSpace
from tunecli.api import Restorer, load
from tunecli.archs import TilingContract, TunableNet, build_arch, register_arch
from tunecli.checkpoint import save_checkpoint
from tunecli.errors import AlphaError, TunecliError, UsageError
from tunecli.imageio import Image, ImageMeta
from tunecli.layers import TunableConv2d
from tunecli.models import model_metadata

SPACE = AlphaSpace(2, "simplex", (AlphaAxis("weak"), AlphaAxis("strong")), (0.5, 0.5), low="weak", high="strong")


@register_arch("test-api-upsampler", "tunable 3x3 conv + pixel shuffle ×2 (API tests)")
class ApiUpsampler(TunableNet):
    def __init__(self, channels: int = 3, p: int = 2) -> None:
        super().__init__()
        self.p, self.channels = p, channels
        self.conv = TunableConv2d(channels, channels * 4, 3, p, padding=1)

    @property
    def tiling(self) -> TilingContract:
        return TilingContract(scale=2, size_multiple=1, receptive_radius=1, tile_exact=True)

    def forward(self, x: Tensor, omega: Tensor | None = None) -> Tensor:
        return nn.functional.pixel_shuffle(self.conv(x, omega), 2)


def save_model(folder: Path, arch: str = "tiny", hparams: dict | None = None, task: str = "denoise") -> Path:
    torch.manual_seed(0)
    net = build_arch(arch, {"width": 4} if hparams is None else hparams)
    path = folder / f"{arch}.safetensors"
    save_checkpoint(path, net.state_dict(), model_metadata(net, task=task, alpha_space=SPACE))
    return path


@pytest.fixture()
def restorer(tmp_path: Path) -> Restorer:
    return load(save_model(tmp_path), device="cpu")


def reference(restorer: Restorer, image: np.ndarray, omega: tuple[float, ...]) -> np.ndarray:
    """The network applied directly to the whole image, ``(H, W, C)`` float."""
    x = torch.from_numpy(image).permute(2, 0, 1)[None]
    with torch.inference_mode():
        out = restorer.model.module(x, torch.tensor(omega))
    return out[0].permute(1, 2, 0).numpy()


def test_load_describes_the_model(restorer: Restorer) -> None:
    assert restorer.task == "denoise" and restorer.scale == 1
    assert restorer.precision == "fp32" and restorer.device == torch.device("cpu")
    assert restorer.alpha_space == SPACE


@pytest.mark.parametrize("tile", ["auto", 0, 12])
def test_float_array_matches_the_network(restorer: Restorer, tile: int | str) -> None:
    image = np.random.default_rng(0).random((23, 31, 3), dtype=np.float32)
    out = restorer.run(image, alpha=0.3, tile=tile, overlap=8)  # type: ignore[arg-type]
    assert out.dtype == np.float32 and out.shape == image.shape
    assert np.abs(out - reference(restorer, image, (0.7, 0.3))).max() < 1e-5


def test_integer_arrays_keep_their_type_and_range(restorer: Restorer) -> None:
    rng = np.random.default_rng(1)
    eight = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    out8 = restorer.run(eight, alpha=0.6)
    expected = reference(restorer, eight.astype(np.float32) / 255, (0.4, 0.6))
    assert out8.dtype == np.uint8
    assert np.array_equal(out8, np.clip(np.rint(expected * 255), 0, 255).astype(np.uint8))
    sixteen = rng.integers(0, 65536, (9, 11, 3), dtype=np.uint16)
    assert restorer.run(sixteen).dtype == np.uint16


def test_gray_and_alpha_arrays(restorer: Restorer) -> None:
    rng = np.random.default_rng(2)
    gray = rng.random((10, 12), dtype=np.float32)
    out = restorer.run(gray)
    assert out.shape == (10, 12)
    replicated = reference(restorer, np.repeat(gray[:, :, None], 3, axis=2), (0.5, 0.5))
    assert np.abs(out - replicated.mean(axis=2)).max() < 1e-5  # float data is not clipped
    rgba = rng.integers(0, 256, (10, 12, 4), dtype=np.uint8)
    out_rgba = restorer.run(rgba)
    assert out_rgba.shape == (10, 12, 4)
    assert np.array_equal(out_rgba[:, :, 3], rgba[:, :, 3])  # alpha goes around the model
    assert np.array_equal(out_rgba[:, :, :3], restorer.run(rgba[:, :, :3]))


def test_gray_model_runs_colour_images_channel_by_channel(tmp_path: Path) -> None:
    restorer = load(save_model(tmp_path, hparams={"channels": 1, "width": 4}), device="cpu")
    image = np.random.default_rng(3).random((8, 9, 3), dtype=np.float32)
    out = restorer.run(image, alpha=0.2)
    for c in range(3):
        plane = reference(restorer, image[:, :, c : c + 1], (0.8, 0.2))[:, :, 0]
        assert np.abs(out[:, :, c] - plane).max() < 1e-5


def test_upscaling_resizes_the_alpha_plane(tmp_path: Path) -> None:
    restorer = load(save_model(tmp_path, arch="test-api-upsampler", hparams={}, task="upscale"), device="cpu")
    assert restorer.scale == 2
    rgba = np.zeros((6, 8, 4), dtype=np.float32)
    rgba[:, :, 3] = 0.25
    out = restorer.run(rgba, tile=4, overlap=2)
    assert out.shape == (12, 16, 4)
    assert np.allclose(out[:, :, 3], 0.25, atol=1e-6)


def test_run_on_a_file_returns_an_image(restorer: Restorer, tmp_path: Path) -> None:
    data = np.random.default_rng(4).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    PILImage.fromarray(data).save(tmp_path / "x.png")
    image = restorer.run(tmp_path / "x.png", alpha="0.3")
    assert isinstance(image, Image)
    assert image.meta.format == "png" and image.pixels.shape == (7, 5, 3)
    assert np.array_equal(np.rint(image.pixels * 255).astype(np.uint8), restorer.run(data, alpha=0.3))


def test_float_images_are_not_clipped(restorer: Restorer) -> None:
    """Float samples keep their range (e.g. float TIFF highlights); integer ones are clipped."""
    pixels = np.full((6, 6, 3), 0.99, dtype=np.float32)
    image = Image(pixels, None, ImageMeta(format="tiff", dtype="float32", mode="RGB"))
    restored = restorer.restore(image, (0.5, 0.5))
    assert np.abs(restored.image.pixels - reference(restorer, pixels, (0.5, 0.5))).max() < 1e-5


def test_alpha_forms(restorer: Restorer) -> None:
    assert restorer.parse_alpha(0.3).omega == (0.7, 0.3)
    assert restorer.parse_alpha("0.3").omega == (0.7, 0.3)
    assert restorer.parse_alpha([0.2, 0.8]).omega == (0.2, 0.8)
    assert restorer.parse_alpha(None).omega == (0.5, 0.5)
    assert restorer.parse_alpha("strong=1").omega == (0.0, 1.0)
    normalized = restorer.parse_alpha([1, 3])
    assert normalized.omega == (0.25, 0.75) and normalized.notice
    with pytest.raises(AlphaError, match=r"^alpha 1\.5 is outside \[0, 1\]"):
        restorer.run(np.zeros((4, 4, 3), np.float32), alpha=1.5)


def test_each_alpha_is_baked_once(restorer: Restorer, monkeypatch: pytest.MonkeyPatch) -> None:
    baked: list[tuple[float, ...]] = []
    original = tunecli.api.bake

    def counting_bake(module: nn.Module, omega: Tensor) -> nn.Module:
        baked.append(tuple(omega.tolist()))
        return original(module, omega)

    monkeypatch.setattr(tunecli.api, "bake", counting_bake)
    image = np.random.default_rng(5).random((30, 30, 3), dtype=np.float32)
    for alpha in (0.3, 0.3, 0.6, 0.3):
        restorer.run(image, alpha=alpha, tile=12, overlap=6)  # several tiles per run
    assert len(baked) == 2


class NanInHalf(TunableNet):
    """Returns NaN unless its weights are float32 (what an fp16 overflow looks like); like every
    network it takes float32 input."""

    def __init__(self, dtype: torch.dtype | None) -> None:
        super().__init__()
        self.dtype = dtype

    def forward(self, x: Tensor) -> Tensor:
        assert x.dtype == torch.float32
        return x if self.dtype == torch.float32 else torch.full_like(x, float("nan"))


def test_non_finite_half_precision_output_is_recomputed_in_fp32(
    restorer: Restorer, monkeypatch: pytest.MonkeyPatch
) -> None:
    half = Restorer(restorer.model, torch.device("cpu"), torch.bfloat16)
    monkeypatch.setattr(half, "baked", lambda omega, dtype=None: NanInHalf(dtype))
    pixels = np.random.default_rng(6).random((5, 5, 3), dtype=np.float32)
    restored = half.restore(Image(pixels, None, ImageMeta("png", "uint8", "RGB")), (0.5, 0.5), tile=0)
    assert restored.precision == "fp32"
    assert restored.notices == ("bf16 output had non-finite values; recomputed in fp32",)
    assert np.array_equal(restored.image.pixels, pixels)


def test_cpu_networks_are_baked_channels_last_and_compute_the_same(restorer: Restorer) -> None:
    baked = restorer.baked((0.5, 0.5))
    convs = [m for m in baked.modules() if isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1)]
    assert convs and all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    pixels = np.random.default_rng(8).random((20, 24, 3), dtype=np.float32)
    assert np.abs(restorer.run(pixels, (0.5, 0.5), tile=0) - reference(restorer, pixels, (0.5, 0.5))).max() < 1e-5


def test_out_of_memory_falls_back_to_tiles_and_says_so(restorer: Restorer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A device out-of-memory on the whole image is retried in halved tiles, the result is the
    tile-exact one, and the notice names what did not fit."""
    network = restorer.baked((0.5, 0.5), torch.float32)

    def small_memory(x: Tensor) -> Tensor:
        if x.shape[-1] > 48:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return network(x)

    monkeypatch.setattr(restorer, "baked", lambda omega, dtype=None: small_memory)
    pixels = np.random.default_rng(7).random((96, 96, 3), dtype=np.float32)
    image = Image(pixels, None, ImageMeta("png", "uint8", "RGB"))
    whole = restorer.restore(image, (0.5, 0.5), tile=0)
    assert whole.notices == ("out of memory with the whole image; used 48px tiles",)
    expected = np.clip(reference(restorer, pixels, (0.5, 0.5)), 0, 1)
    assert np.abs(whole.image.pixels - expected).max() < 1e-5
    tiled = restorer.restore(image, (0.5, 0.5), tile=96)
    assert tiled.notices == ("out of memory with 96px tiles; used 48px tiles",)


def test_non_finite_fp32_output_is_an_error(restorer: Restorer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(restorer, "baked", lambda omega, dtype=None: lambda x: x * float("nan"))
    with pytest.raises(TunecliError, match=r"produced non-finite values \(NaN/Inf\)"):
        restorer.run(np.ones((4, 4, 3), np.float32))


def test_tiling_and_array_checks(restorer: Restorer) -> None:
    assert restorer.check_tiling("auto", None) == 22  # 2 × radius 3 + the blending ramp
    with pytest.raises(UsageError, match=r"^--tile \(10\) must be larger than the overlap \(22;"):
        restorer.check_tiling(10, None)
    with pytest.raises(UsageError, match="--overlap must be >= 0"):
        restorer.check_tiling(0, -1)
    with pytest.raises(UsageError, match=r"array with C in 1\.\.4, got shape \(4, 4, 5\)"):
        restorer.run(np.zeros((4, 4, 5), np.float32))
    with pytest.raises(UsageError, match="uint8, uint16 or float array, got int64"):
        restorer.run(np.zeros((4, 4, 3), np.int64))


def test_every_entry_point_takes_what_run_takes(restorer: Restorer, tmp_path: Path) -> None:
    """restore, restore_map and auto_alpha take a numpy array, an Image or a path, as run does."""
    data = np.random.default_rng(5).integers(0, 256, (24, 20, 3), dtype=np.uint8)
    PILImage.fromarray(data).save(tmp_path / "x.png")
    mask = np.tile(np.linspace(0, 1, 20, dtype=np.float32), (24, 1))
    from_file = restorer.restore_map(tmp_path / "x.png", mask, mode="fast", levels=5).image.pixels
    plain = restorer.restore(tmp_path / "x.png", (0.7, 0.3)).image.pixels
    chosen = restorer.auto_alpha(tmp_path / "x.png")
    for image in (data, str(tmp_path / "x.png"), tunecli.api.as_image(data)):
        np.testing.assert_array_equal(restorer.restore_map(image, mask, mode="fast", levels=5).image.pixels, from_file)
        np.testing.assert_array_equal(restorer.restore(image, (0.7, 0.3)).image.pixels, plain)
        assert restorer.auto_alpha(image) == chosen
    np.testing.assert_allclose(plain, restorer.run(data.astype(np.float32) / 255, alpha=0.3).clip(0, 1), atol=1e-6)


IMAGE = np.zeros((8, 8, 3), np.float32)
MASK = np.zeros((8, 8), np.float32)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda r: r.run([[0.1, 0.2]]), UsageError, "a numpy array, a tunecli.imageio.Image or a file path, not list"),
        (lambda r: r.run(None), UsageError, "a file path, not NoneType"),
        (lambda r: r.run(torch.zeros(8, 8, 3)), UsageError, "a file path, not Tensor"),
        (lambda r: r.run(np.zeros((0, 8, 3), np.float32)), UsageError, "at least 1x1 pixels, got shape (0, 8, 3)"),
        (lambda r: r.run(np.full((8, 8, 3), np.nan, np.float32)), UsageError, "the array holds NaN or infinite"),
        (lambda r: r.run(np.zeros((8, 8), bool)), UsageError, "uint8, uint16 or float array, got bool"),
        (lambda r: r.run(IMAGE, alpha=object()), AlphaError, "a sequence of numbers or None, not object"),
        (lambda r: r.run(IMAGE, alpha=True), AlphaError, "a sequence of numbers or None, not bool True"),
        (lambda r: r.run(IMAGE, alpha=["a", "b"]), AlphaError, "not list ['a', 'b']"),
        (lambda r: r.run(IMAGE, overlap="x"), UsageError, "--overlap must be >= 0 (a whole number of pixels), not 'x'"),
        (lambda r: r.run(IMAGE, alpha_map=[[0.5]]), UsageError, "the alpha map must be a float array"),
        (lambda r: r.run(IMAGE, alpha_map=MASK.astype(np.int32)), UsageError, "not an array of int32"),
        (lambda r: r.restore_map(IMAGE, None), UsageError, "the alpha map must be a float array"),
        (lambda r: r.restore_map(IMAGE, MASK, mode="fast", levels="3"), UsageError, "levels must be a whole number"),
        (lambda r: r.restore_map([[0.0]], MASK), UsageError, "not list [[0.0]]"),
        (lambda r: r.restore(IMAGE, (0.5,)), AlphaError, "alpha needs 2 values, got 1"),
        (lambda r: r.restore(IMAGE, "0.5"), AlphaError, "omega must be a sequence of 2 numbers, not str '0.5'"),
        (lambda r: r.parse_alpha({"weak": 1}), AlphaError, "not dict {'weak': 1}"),
        (lambda r: r.parse_alpha([[0.5], [0.5]]), AlphaError, "not list [[0.5], [0.5]]"),
        (lambda r: r.auto_alpha([[1]]), UsageError, "a file path, not list [[1]]"),
    ],
)
def test_bad_arguments_are_one_line_tunecli_errors(
    restorer: Restorer, call: Callable[[Restorer], object], error: type[TunecliError], message: str
) -> None:
    with pytest.raises(error) as raised:
        call(restorer)
    assert message in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name_or_path": 123}, "expected a model name or a .safetensors path, not int 123"),
        ({"device": 5}, "device must be text such as 'auto', not int 5"),
        ({"precision": None}, "precision must be text such as 'auto', not NoneType"),
        ({"batch_size": "2"}, "batch size must be >= 1 (a whole number), not '2'"),
        ({"ensemble": "yes"}, "ensemble must be True or False, not str 'yes'"),
    ],
)
def test_bad_load_arguments_are_usage_errors(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"name_or_path": save_model(tmp_path), "device": "cpu", **kwargs}
    with pytest.raises(UsageError) as raised:
        load(**arguments)  # type: ignore[arg-type]
    assert message in str(raised.value)


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="batch size must be >= 1"):
        load(save_model(tmp_path), device="cpu", batch_size=0)
    with pytest.raises(TunecliError, match="checkpoint file not found"):
        load(tmp_path / "missing.safetensors")


@pytest.mark.parametrize("tile", [0, 12])
def test_ensemble_is_the_mean_over_flips_and_rotations(tmp_path: Path, tile: int) -> None:
    plain = load(save_model(tmp_path), device="cpu")
    ensemble = load(save_model(tmp_path), device="cpu", ensemble=True)
    assert ensemble.ensemble and not plain.ensemble
    image = np.random.default_rng(4).random((23, 31, 3), dtype=np.float32)
    expected = np.zeros_like(image)
    for turns in range(4):
        for mirror in (False, True):
            turned = np.rot90(image[:, ::-1] if mirror else image, turns)
            out = np.rot90(reference(plain, np.ascontiguousarray(turned), (0.7, 0.3)), -turns)
            expected += (out[:, ::-1] if mirror else out) / 8
    got = ensemble.run(image, alpha=0.3, tile=tile, overlap=8)
    assert np.abs(got - expected).max() < 1e-5
    assert np.abs(got - plain.run(image, alpha=0.3, tile=0)).max() > 1e-3  # the tiny net is not symmetric


def test_non_tile_exact_models_run_whole_or_in_tiles_sharing_the_whole_images_statistics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An instance-norm network runs on the whole image up to NON_EXACT_WHOLE_PIXELS (equal to
    running it directly); in tiles every tile shares the whole image's statistics, so tiles give
    the whole-image result (no seams, no change of look) and a large image is normalized with
    statistics measured on a downscaled copy, with a notice."""
    import tunecli.api as api

    path = save_model(tmp_path, arch="stylenet", hparams={"widths": [4, 4, 8], "blocks": 1, "p": 2})
    restorer = load(path, device="cpu")
    assert not restorer.model.tiling.tile_exact
    image = np.random.default_rng(3).random((160, 176, 3), dtype=np.float32)
    image += np.linspace(0, 0.5, 176, dtype=np.float32)[None, :, None]  # the halves differ in look
    image = np.clip(image, 0, 1)
    whole = restorer.restore(_image(image), (0.4, 0.6), tile="auto")
    assert whole.tile == 0 and whole.notices == ()
    np.testing.assert_allclose(whole.image.pixels, reference(restorer, image, (0.4, 0.6)), atol=1e-5)

    # explicit tiles on an image that fits: statistics of the image itself, tiles exact
    tiled = restorer.restore(_image(image), (0.4, 0.6), tile=88)  # the default overlap: 2 radii + ramp
    assert tiled.tile == 88 and tiled.notices == ()
    np.testing.assert_allclose(tiled.image.pixels, whole.image.pixels, atol=1e-5)

    # tiles that each normalized by their own statistics would differ from the whole image
    from tunecli.layers import recorded_statistics, shared_statistics
    from tunecli.tiling import tile_apply_adaptive

    module = restorer.baked((0.4, 0.6))
    batch = torch.from_numpy(image.transpose(2, 0, 1).copy())[None]
    run = partial(
        tile_apply_adaptive,
        module,
        overlap=restorer.check_tiling(88, None),
        scale=1,
        size_multiple=4,
        receptive_radius=restorer.model.tiling.receptive_radius,
        batch_size=1,
        device=torch.device("cpu"),
    )
    own = run(batch, tile=88).image[0].permute(1, 2, 0).numpy()
    own_gap = np.abs(own - whole.image.pixels).mean()
    assert own_gap > 1e-2

    # beyond the whole-image limit: statistics pooled over a first pass in the largest tiles
    # that fit the limit, shared by every tile
    monkeypatch.setattr(api, "NON_EXACT_WHOLE_PIXELS", 95 * 95)
    monkeypatch.setattr(api, "NON_EXACT_TILE", 88)
    large = restorer.restore(_image(image), (0.4, 0.6), tile="auto")
    assert large.tile == 88
    assert len(large.notices) == 1 and "pooled over a first pass in 92px tiles" in large.notices[0]
    # no seams: the same as one whole-image run under those shared statistics
    with recorded_statistics(module) as statistics:
        run(batch, tile=92)
    with shared_statistics(module, statistics):
        seamless = run(batch, tile=0).image[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(large.image.pixels, seamless, atol=1e-5)
    # and closer to the whole-image look than tiles normalized by their own statistics
    assert np.abs(large.image.pixels - whole.image.pixels).mean() < 0.5 * own_gap


def _image(pixels: np.ndarray) -> Image:
    return Image(pixels=pixels, alpha=None, meta=ImageMeta(format="png", dtype="uint8", mode="RGB"))
