"""Image I/O: exact round trips, metadata carried byte for byte, one-line errors, atomic writes."""

from __future__ import annotations

import hashlib
import io
import os
import re
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np
import PIL.Image
import PIL.JpegImagePlugin
import png
import pytest
import tifffile
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import ImageCms

from tunecli.errors import InputImageError, OutputError
from tunecli.imageio import (
    SUPPORTED_SUFFIXES,
    Image,
    ImageMeta,
    canonical_format,
    float_to_samples,
    is_image_path,
    output_suffix,
    read_image,
    read_rgb,
    samples_to_float,
    write_image,
)
from tunecli.imageio import writing as writing_module

MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}
SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def camera_exif(orientation: int = 1) -> bytes:
    exif = PIL.Image.Exif()
    exif[271] = "TuneCam"
    exif[272] = "Model 7"
    exif[274] = orientation
    exif[0x8769] = {0x9003: "2024:05:06 07:08:09", 0x9286: b"ASCII\x00\x00\x00hello"}
    return exif.tobytes()


def image_from_samples(samples: np.ndarray, fmt: str, **meta: object) -> Image:
    """An Image holding ``(H, W, K)`` stored samples, K = 1–4 (2 and 4 carry alpha)."""
    channels = samples.shape[2]
    values = samples_to_float(samples)
    colour = 1 if channels <= 2 else 3
    alpha = values[:, :, colour] if channels in (2, 4) else None
    return Image(
        pixels=np.ascontiguousarray(values[:, :, :colour]),
        alpha=alpha,
        meta=ImageMeta(format=fmt, dtype=str(samples.dtype), mode=MODES[channels], **meta),  # type: ignore[arg-type]
    )


def stored_samples(image: Image) -> np.ndarray:
    planes = image.pixels if image.alpha is None else np.concatenate([image.pixels, image.alpha[:, :, None]], axis=2)
    return float_to_samples(planes, image.meta.dtype)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def smooth_samples(height: int, width: int, channels: int) -> np.ndarray:
    """Gentle gradients in 20..220, different per channel."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    planes = [0.5 + 0.5 * np.sin(x / 9.0 + y / 13.0 + 1.3 * c) for c in range(channels)]
    return np.rint(np.stack(planes, axis=2) * 200 + 20).astype(np.uint8)


# ---- names and suffixes ---------------------------------------------------------------------


def test_suffixes_and_format_names() -> None:
    assert SUPPORTED_SUFFIXES == {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
    assert is_image_path(Path("a/B.JPG")) and is_image_path(Path("x.TiFf"))
    assert not is_image_path(Path("x.gif")) and not is_image_path(Path(".x.png.1a2b3c4d.tmp"))
    assert [output_suffix(f) for f in ("png", "jpeg", "jpg", "webp", "bmp", "tiff", "tif")] == [
        ".png",
        ".jpg",
        ".jpg",
        ".webp",
        ".bmp",
        ".tif",
        ".tif",
    ]
    assert canonical_format("JPG") == "jpeg"
    with pytest.raises(OutputError, match=r"^unknown image format 'gif' \(use png, jpg, webp, bmp or tif\)$"):
        output_suffix("gif")


def test_working_range_is_exact_for_every_integer_sample() -> None:
    for dtype, top in (("uint8", 255), ("uint16", 65535)):
        samples = np.arange(top + 1).astype(dtype)
        values = samples_to_float(samples)
        assert values.dtype == np.float32 and values.min() == 0.0 and values.max() == 1.0
        assert np.array_equal(float_to_samples(values, dtype), samples)
    assert np.array_equal(float_to_samples(np.array([-0.5, 0.5 / 255, 1.7], np.float32), "uint8"), [0, 0, 255])


# ---- lossless round trips -------------------------------------------------------------------

LOSSLESS_CASES = [
    ("png", "uint8", (1, 2, 3, 4)),
    ("png", "uint16", (1, 2, 3, 4)),
    ("tiff", "uint8", (1, 2, 3, 4)),
    ("tiff", "uint16", (1, 2, 3, 4)),
    ("tiff", "float32", (1, 2, 3, 4)),
    ("bmp", "uint8", (1, 3)),
    ("webp", "uint8", (3, 4)),
]


@st.composite
def stored_image(draw: st.DrawFn, dtype: str, channels: tuple[int, ...]) -> np.ndarray:
    k = draw(st.sampled_from(channels))
    shape = (draw(st.integers(1, 7)), draw(st.integers(1, 7)), k)
    if dtype != "float32":
        return draw(hnp.arrays(dtype, shape))
    colour = draw(hnp.arrays(np.float32, shape, elements=st.floats(-1e6, 1e6, width=32)))
    if k in (2, 4):  # alpha stays in [0, 1]
        colour[:, :, -1] = draw(hnp.arrays(np.float32, shape[:2], elements=st.floats(0, 1, width=32)))
    return colour


@pytest.mark.parametrize(("fmt", "dtype", "channels"), LOSSLESS_CASES, ids=[f"{c[0]}-{c[1]}" for c in LOSSLESS_CASES])
def test_lossless_round_trip_is_exact(fmt: str, dtype: str, channels: tuple[int, ...]) -> None:
    @settings(max_examples=15, deadline=None)
    @given(samples=stored_image(dtype, channels))
    def round_trip(samples: np.ndarray) -> None:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"out{output_suffix(fmt)}"
            notices = write_image(path, image_from_samples(samples, "png"))  # a lossless source
            assert notices == []
            before = digest(path)
            back = read_image(path)
            assert digest(path) == before
        expected = samples
        if fmt == "webp" and samples.shape[2] == 4 and (samples[:, :, 3] == 255).all():
            expected = samples[:, :, :3]  # libwebp stores no alpha plane when every pixel is opaque
        assert back.meta.format == fmt and back.meta.dtype == dtype
        assert back.meta.mode == MODES[expected.shape[2]]
        assert back.pixels.dtype == np.float32 and back.pixels.shape[:2] == samples.shape[:2]
        assert np.array_equal(stored_samples(back), expected)

    round_trip()


def test_webp_drops_an_all_opaque_alpha_and_keeps_the_colour_exact(tmp_path: Path) -> None:
    samples = np.concatenate([smooth_samples(5, 6, 3), np.full((5, 6, 1), 255, np.uint8)], axis=2)
    path = tmp_path / "opaque.webp"
    assert write_image(path, image_from_samples(samples, "png")) == []
    back = read_image(path)
    assert back.meta.mode == "RGB" and back.alpha is None
    assert np.array_equal(stored_samples(back), samples[:, :, :3])


def test_webp_gray_is_stored_as_rgb(tmp_path: Path) -> None:
    samples = smooth_samples(9, 11, 1)
    notices = write_image(tmp_path / "g.webp", image_from_samples(samples, "png"))
    assert notices == ["WebP has no gray mode: gray written as RGB"]
    back = read_image(tmp_path / "g.webp")
    assert back.meta.mode == "RGB" and back.meta.extra["webp_lossless"] is True
    assert np.array_equal(stored_samples(back), np.repeat(samples, 3, axis=2))


@pytest.mark.parametrize("channels", [1, 2, 3, 4], ids=["L", "LA", "RGB", "RGBA"])
def test_read_rgb_replicates_gray_and_drops_alpha(tmp_path: Path, channels: int) -> None:
    samples = smooth_samples(5, 7, channels)
    write_image(tmp_path / "x.png", image_from_samples(samples, "png"))
    rgb = read_rgb(tmp_path / "x.png")
    colour = samples[:, :, : 3 if channels >= 3 else 1]
    assert rgb.shape == (5, 7, 3) and rgb.dtype == np.float32
    np.testing.assert_array_equal(rgb, np.broadcast_to(colour / np.float32(255), (5, 7, 3)))


def test_sixteen_bit_colour_png_keeps_all_sixteen_bits(tmp_path: Path) -> None:
    samples = np.array([[[1, 12345, 65534, 7], [40000, 2, 3, 65535]]], dtype=np.uint16)
    assert np.any(samples % 257)
    write_image(tmp_path / "deep.png", image_from_samples(samples, "png", icc_profile=SRGB_ICC, exif=camera_exif()))
    raw = (tmp_path / "deep.png").read_bytes()
    assert raw[24:26] == bytes([16, 6])  # IHDR: 16 bits per sample, RGBA
    back = read_image(tmp_path / "deep.png")
    assert back.meta.dtype == "uint16" and back.meta.mode == "RGBA"
    assert np.array_equal(stored_samples(back), samples)
    assert back.meta.icc_profile == SRGB_ICC and back.meta.exif == camera_exif()


@pytest.mark.parametrize(("fmt", "channels"), [("jpeg", 1), ("jpeg", 3), ("webp", 3), ("webp", 4)])
def test_lossy_round_trip_within_tolerance(tmp_path: Path, fmt: str, channels: int) -> None:
    samples = smooth_samples(48, 40, channels)
    source = image_from_samples(samples, "jpeg")  # a lossy source: WebP is written lossy too
    path = tmp_path / f"x{output_suffix(fmt)}"
    assert write_image(path, source) == []
    back = read_image(path)
    assert back.meta.mode == MODES[channels] and back.meta.dtype == "uint8"
    error = np.abs(stored_samples(back).astype(int) - samples.astype(int))
    assert error.mean() < 2.0 and error.max() <= 16


def test_jpeg_quality_is_applied(tmp_path: Path) -> None:
    image = image_from_samples(smooth_samples(64, 64, 3), "png")
    write_image(tmp_path / "q95.jpg", image)
    write_image(tmp_path / "q20.jpg", image, quality=20)
    assert (tmp_path / "q20.jpg").stat().st_size < (tmp_path / "q95.jpg").stat().st_size


@pytest.mark.parametrize(
    "progressive,subsampling", [(True, 0), (False, 1), (True, 2)], ids=["progressive-444", "422", "progressive-420"]
)
def test_jpeg_keeps_the_inputs_progressive_mode_and_subsampling(
    tmp_path: Path, progressive: bool, subsampling: int
) -> None:
    """A JPEG written from a JPEG (format same) is progressive when the input was, with the
    input's chroma subsampling, whatever the quality would choose (4:4:4 from 90 on, else 4:2:0)."""
    source = tmp_path / "src.jpg"
    PIL.Image.fromarray(smooth_samples(16, 24, 3)).save(source, progressive=progressive, subsampling=subsampling)
    image = read_image(source)
    assert image.meta.extra["jpeg_progressive"] is progressive
    assert image.meta.extra["jpeg_subsampling"] == subsampling
    for quality in (None, 50):
        target = tmp_path / f"out-{quality}.jpg"
        write_image(target, image, quality=quality)
        with PIL.Image.open(target) as out:
            assert bool(out.info.get("progressive")) is progressive
            assert PIL.JpegImagePlugin.get_sampling(out) == subsampling


def test_jpeg_from_another_format_follows_the_quality(tmp_path: Path) -> None:
    image = image_from_samples(smooth_samples(16, 24, 3), "png")
    for quality, sampling in ((None, 0), (50, 2)):
        target = tmp_path / f"out-{quality}.jpg"
        write_image(target, image, quality=quality)
        with PIL.Image.open(target) as out:
            assert not out.info.get("progressive") and PIL.JpegImagePlugin.get_sampling(out) == sampling


def test_gray_progressive_jpeg_stays_progressive(tmp_path: Path) -> None:
    source = tmp_path / "gray.jpg"
    PIL.Image.fromarray(smooth_samples(16, 24, 1)[:, :, 0]).save(source, progressive=True)
    image = read_image(source)
    assert "jpeg_subsampling" not in image.meta.extra  # one channel: nothing to subsample
    write_image(tmp_path / "out.jpg", image)
    with PIL.Image.open(tmp_path / "out.jpg") as out:
        assert out.mode == "L" and out.info.get("progressive")


# ---- metadata ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_icc_and_exif_survive_byte_for_byte(tmp_path: Path, fmt: str) -> None:
    exif = camera_exif(orientation=6)
    source = tmp_path / f"src{output_suffix(fmt)}"
    PIL.Image.fromarray(smooth_samples(6, 10, 3)).save(source, icc_profile=SRGB_ICC, exif=exif, dpi=(300, 300))
    image = read_image(source)
    assert image.meta.icc_profile == SRGB_ICC and image.meta.exif == exif
    assert image.pixels.shape == (6, 10, 3)  # stored orientation: EXIF orientation 6 is not applied
    write_image(tmp_path / f"out{output_suffix(fmt)}", image)
    again = read_image(tmp_path / f"out{output_suffix(fmt)}")
    assert again.meta.icc_profile == SRGB_ICC and again.meta.exif == exif
    with PIL.Image.open(tmp_path / f"out{output_suffix(fmt)}") as written:
        assert written.getexif()[274] == 6


def test_png_text_and_dpi_are_carried(tmp_path: Path) -> None:
    info = PIL.PngImagePlugin.PngInfo()
    info.add_text("Comment", "made by a test")
    PIL.Image.fromarray(smooth_samples(4, 4, 3)).save(tmp_path / "a.png", pnginfo=info, dpi=(150, 150))
    image = read_image(tmp_path / "a.png")
    assert image.meta.extra["png_text"] == {"Comment": "made by a test"}
    write_image(tmp_path / "b.png", image)
    with PIL.Image.open(tmp_path / "b.png") as written:
        assert written.text == {"Comment": "made by a test"}
        assert round(written.info["dpi"][0]) == 150


def test_tiff_carries_icc_and_exif_values(tmp_path: Path) -> None:
    samples = smooth_samples(5, 6, 3)
    PIL.Image.fromarray(samples).save(tmp_path / "cam.png", icc_profile=SRGB_ICC, exif=camera_exif(6))
    image = read_image(tmp_path / "cam.png")
    assert write_image(tmp_path / "cam.tif", image) == []
    tif = read_image(tmp_path / "cam.tif")
    assert tif.meta.icc_profile == SRGB_ICC
    assert np.array_equal(stored_samples(tif), samples)  # stored orientation, although Pillow rotates TIFFs
    exif = PIL.Image.Exif()
    exif.load(tif.meta.exif)
    assert (exif[271], exif[272], exif[274]) == ("TuneCam", "Model 7", 6)
    assert exif.get_ifd(0x8769)[0x9003] == "2024:05:06 07:08:09"
    write_image(tmp_path / "back.jpg", tif)
    with PIL.Image.open(tmp_path / "back.jpg") as jpeg:
        assert jpeg.size == (6, 5) and jpeg.getexif()[274] == 6
        assert jpeg.getexif()[272] == "Model 7" and jpeg.getexif().get_ifd(0x8769)[0x9003] == "2024:05:06 07:08:09"


@pytest.mark.parametrize(
    ("dtype", "byteorder"), [("uint16", "<"), ("float32", "<"), ("uint16", ">"), ("uint8", "<"), ("uint8", ">")]
)
def test_colour_tiff_keeps_icc_and_every_exif_directory(tmp_path: Path, dtype: str, byteorder: str) -> None:
    samples = (np.arange(2 * 3 * 4).reshape(2, 3, 4) * 997).astype(np.uint16)
    if dtype == "float32":
        samples = samples.astype(np.float32) / 65535
    elif dtype == "uint8":  # Pillow's TIFF writer would leave a stale interoperability offset
        samples = (samples // 257).astype(np.uint8)
    source = PIL.Image.Exif()
    source.endian = byteorder  # the TIFF is written in the camera block's byte order
    source[270], source[271], source[272], source[274], source[305] = (
        "a test scene", "TuneCam", "Model 7", 3, "RawConv 2.1"
    )  # fmt: skip
    source[0x8769] = {0x9003: "2024:05:06 07:08:09", 0x9286: b"ASCII\x00\x00\x00hello", 0xA005: {1: "R98"}}
    source[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0)}
    image = image_from_samples(samples, "tiff", icc_profile=SRGB_ICC, exif=source.tobytes())
    assert write_image(tmp_path / "d.tif", image) == []
    back = read_image(tmp_path / "d.tif")
    assert back.meta.icc_profile == SRGB_ICC
    assert np.array_equal(stored_samples(back), samples)
    exif = PIL.Image.Exif()
    exif.load(back.meta.exif)
    assert [exif[tag] for tag in (270, 271, 272, 274, 305)] == ["a test scene", "TuneCam", "Model 7", 3, "RawConv 2.1"]
    assert exif.get_ifd(0x8769)[0x9003] == "2024:05:06 07:08:09"
    assert exif.get_ifd(0x8769)[0x9286] == b"ASCII\x00\x00\x00hello"
    assert exif.get_ifd(0xA005) == {1: "R98"}  # the interoperability directory nested in EXIF
    assert exif.get_ifd(0x8825) == {1: "N", 2: (48.0, 51.0, 24.0)}
    with tifffile.TiffFile(tmp_path / "d.tif") as tif:  # a valid TIFF to another reader, tags in order
        assert tif.byteorder == byteorder
        codes = list(tif.pages.first.tags.keys())
        assert codes == sorted(codes) and {0x8769, 0x8825} <= set(codes)
        assert tif.pages.first.tags[0x8769].value["DateTimeOriginal"] == "2024:05:06 07:08:09"
    write_image(tmp_path / "back.jpg", back)  # and on into a JPEG
    with PIL.Image.open(tmp_path / "back.jpg") as jpeg:
        assert jpeg.getexif().get_ifd(0x8769)[0x9003] == "2024:05:06 07:08:09"


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
@pytest.mark.parametrize("mode", ["L", "LA"])
def test_gray_tiff_keeps_every_exif_directory(tmp_path: Path, dtype: str, mode: str) -> None:
    exif = PIL.Image.Exif()
    exif[271] = "TuneCam"
    exif[0x8769] = {0x9003: "2024:05:06 07:08:09", 0xA005: {1: "R98"}}
    rng = np.random.default_rng(3)
    pixels = rng.random((5, 7, 1), dtype=np.float32)
    alpha = rng.random((5, 7), dtype=np.float32) if mode == "LA" else None
    if dtype != "float32":  # levels the file can hold exactly
        levels = np.iinfo(dtype).max
        pixels = np.round(pixels * levels) / levels
        alpha = None if alpha is None else np.round(alpha * levels) / levels
    assert (
        write_image(tmp_path / "g.tif", Image(pixels, alpha, ImageMeta("tiff", dtype, mode, exif=exif.tobytes()))) == []
    )
    back = read_image(tmp_path / "g.tif")
    assert (back.meta.dtype, back.meta.mode) == (dtype, mode)
    np.testing.assert_allclose(back.pixels, pixels, rtol=0, atol=1e-7)
    if alpha is not None:
        np.testing.assert_allclose(back.alpha, alpha, rtol=0, atol=1e-7)
    carried = PIL.Image.Exif()
    carried.load(back.meta.exif)
    assert carried[271] == "TuneCam" and carried.get_ifd(0xA005) == {1: "R98"}


@pytest.mark.parametrize("dtype", ["uint16", "float32"])
@pytest.mark.parametrize("byteorder", ["<", ">"])
@pytest.mark.parametrize("compression", [None, "zlib"])
def test_deep_gray_tiff_reads_exactly_in_either_byte_order(
    tmp_path: Path, dtype: str, byteorder: str, compression: str | None
) -> None:
    """Pillow turns big-endian 16-bit gray into 8-bit-clipped values when converting it, and
    decodes compressed big-endian float samples byte-swapped; both read exactly here."""
    stored = (np.arange(35).reshape(5, 7) * 1871).astype(np.uint16)
    expected = stored / 65535
    if dtype == "float32":
        stored = (stored / 65535).astype(np.float32)
        expected = stored
    tifffile.imwrite(tmp_path / "g.tif", stored, byteorder=byteorder, compression=compression, photometric="minisblack")
    back = read_image(tmp_path / "g.tif")
    assert (back.meta.dtype, back.meta.mode) == (dtype, "L")
    np.testing.assert_allclose(back.pixels[:, :, 0], expected, rtol=0, atol=1e-7)


# ---- conversions on reading -------------------------------------------------------------------


def test_palette_png_with_transparency_becomes_rgba(tmp_path: Path) -> None:
    palette_image = PIL.Image.fromarray(np.array([[0, 1], [2, 1]], np.uint8), mode="P")
    palette_image.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255])
    palette_image.save(tmp_path / "p.png", transparency=1)
    image = read_image(tmp_path / "p.png")
    assert image.meta.mode == "RGBA" and image.meta.notices == ["palette image converted to RGBA"]
    assert image.alpha is not None and image.alpha.tolist() == [[1.0, 0.0], [1.0, 0.0]]
    assert stored_samples(image)[0, 0].tolist() == [255, 0, 0, 255]
    palette_image.save(tmp_path / "opaque.png")
    assert read_image(tmp_path / "opaque.png").meta.notices == ["palette image converted to RGB"]


def test_cmyk_jpeg_converts_with_notice(tmp_path: Path) -> None:
    cmyk = PIL.Image.new("CMYK", (4, 3), (0, 255, 255, 0))
    cmyk.save(tmp_path / "c.jpg")
    image = read_image(tmp_path / "c.jpg")
    assert image.meta.mode == "RGB" and image.meta.icc_profile is None
    assert image.meta.notices == ["converted CMYK to RGB (no usable ICC profile: colours are approximate)"]
    red = stored_samples(image)[1, 1]
    assert red[0] > 240 and red[1] < 15 and red[2] < 15


def test_one_bit_sixteen_bit_gray_and_colour_key(tmp_path: Path) -> None:
    PIL.Image.fromarray(np.array([[True, False]])).save(tmp_path / "bits.png")
    bits = read_image(tmp_path / "bits.png")
    assert bits.meta.notices == ["1-bit image converted to 8-bit gray"] and bits.pixels[..., 0].tolist() == [[1.0, 0.0]]
    gray = np.array([[0, 300], [65535, 300]], np.uint16)
    PIL.Image.fromarray(gray).save(tmp_path / "g16.png", transparency=300)
    keyed = read_image(tmp_path / "g16.png")
    assert keyed.meta.dtype == "uint16" and keyed.meta.mode == "LA"
    assert keyed.meta.notices == ["transparent colour key converted to an alpha channel"]
    assert np.array_equal(stored_samples(keyed)[..., 0], gray) and keyed.alpha.tolist() == [[1, 0], [1, 0]]


def test_sixteen_bit_colour_png_with_colour_key(tmp_path: Path) -> None:
    samples = np.array([[[1, 2, 3], [300, 301, 302]]], np.uint16)
    with (tmp_path / "key16.png").open("wb") as file:
        png.Writer(2, 1, greyscale=False, bitdepth=16, transparent=(300, 301, 302)).write(file, samples.reshape(1, 6))
    image = read_image(tmp_path / "key16.png")
    assert image.meta.mode == "RGBA" and image.meta.dtype == "uint16"
    assert np.array_equal(stored_samples(image)[..., :3], samples) and image.alpha.tolist() == [[1.0, 0.0]]


def test_cmyk_profile_never_reaches_the_rgb_result(tmp_path: Path) -> None:
    PIL.Image.new("CMYK", (2, 2), (0, 0, 0, 255)).save(tmp_path / "c.jpg", icc_profile=SRGB_ICC)
    image = read_image(tmp_path / "c.jpg")
    assert image.meta.icc_profile is None
    assert image.meta.notices == ["converted CMYK to RGB (no usable ICC profile: colours are approximate)"]


@pytest.mark.parametrize(
    "options",
    [{"byteorder": ">"}, {"planarconfig": "separate"}, {"compression": "zlib", "rowsperstrip": 1}],
    ids=["big-endian", "planar", "zlib-strips"],
)
def test_deep_tiff_layouts(tmp_path: Path, options: dict[str, object]) -> None:
    samples = (np.arange(3 * 4 * 3).reshape(3, 4, 3) * 1801 % 65536).astype(np.uint16)
    stored = np.moveaxis(samples, 2, 0) if options.get("planarconfig") == "separate" else samples  # planes first
    tifffile.imwrite(tmp_path / "d.tif", stored, photometric="rgb", **options)  # type: ignore[arg-type]
    assert np.array_equal(stored_samples(read_image(tmp_path / "d.tif")), samples)


def test_premultiplied_alpha_and_extra_pages(tmp_path: Path) -> None:
    straight = np.array([[[0.5, 0.25, 1.0, 0.5], [0.2, 0.2, 0.2, 0.0]]], np.float32)
    stored = straight.copy()
    stored[..., :3] *= stored[..., 3:]
    with tifffile.TiffWriter(tmp_path / "pm.tif") as writer:
        writer.write(stored, photometric="rgb", extrasamples=("assocalpha",))
        writer.write(stored, photometric="rgb", extrasamples=("assocalpha",))
    image = read_image(tmp_path / "pm.tif")
    assert image.meta.notices == [
        "TIFF holds 2 frames or pages; only the first is read",
        "premultiplied alpha converted to straight alpha",
    ]
    assert np.allclose(image.pixels[0, 0], straight[0, 0, :3]) and image.pixels[0, 1].tolist() == [0, 0, 0]
    assert image.alpha.tolist() == [[0.5, 0.0]]


def test_float_gray_tiff_and_one_pixel_image(tmp_path: Path) -> None:
    values = np.array([[-2.5, 0.25, 7.0]], np.float32)
    tifffile.imwrite(tmp_path / "f.tif", values)
    image = read_image(tmp_path / "f.tif")
    assert image.meta.dtype == "float32" and image.meta.mode == "L"
    assert np.array_equal(image.pixels[..., 0], values)
    PIL.Image.new("RGB", (1, 1), (1, 2, 3)).save(tmp_path / "one.png")
    assert stored_samples(read_image(tmp_path / "one.png")).tolist() == [[[1, 2, 3]]]


# ---- bad inputs: one-line errors, input untouched ------------------------------------------------


def tiny_png_declaring(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0\0\0\0")) + chunk(b"IEND", b"")
    )


def encoded(fmt: str, array: np.ndarray, **options: object) -> bytes:
    buffer = io.BytesIO()
    PIL.Image.fromarray(array).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def bad_inputs() -> dict[str, tuple[bytes, str]]:
    """File name → (content, the error's text after "<path>: ", ``#`` standing for a number)."""
    rgb = smooth_samples(96, 96, 3)
    png_bytes, jpeg_bytes = encoded("PNG", rgb), encoded("JPEG", rgb)
    tiff8 = io.BytesIO()
    tifffile.imwrite(tiff8, rgb, photometric="rgb")
    tiff16 = io.BytesIO()
    tifffile.imwrite(tiff16, rgb.astype(np.uint16) * 257, photometric="rgb")
    nan_tiff = io.BytesIO()
    tifffile.imwrite(nan_tiff, np.array([[[0.5, np.nan, 0.0], [np.inf, 0, 0]]], np.float32), photometric="rgb")
    inf_gray = io.BytesIO()
    tifffile.imwrite(inf_gray, np.array([[0.5, -np.inf]], np.float32))
    return {
        "empty.png": (b"", "empty file (0 bytes)"),
        "notes.png": (b"these are notes, not pixels\n", "not a PNG, JPEG, WebP, BMP or TIFF image"),
        "cut.png": (png_bytes[: len(png_bytes) // 2], "damaged or truncated PNG file (image file is truncated)"),
        "cut.jpg": (
            jpeg_bytes[: len(jpeg_bytes) // 2],
            "damaged or truncated JPEG file (image file is truncated (# bytes not processed))",
        ),
        "cut.tif": (
            tiff8.getvalue()[:1500],
            "damaged or truncated TIFF file (image file is truncated (# bytes not processed))",
        ),
        "cut16.tif": (
            tiff16.getvalue()[:2000],
            "damaged or truncated TIFF file (failed to read # bytes, got #)",
        ),
        "anim.gif": (encoded("GIF", rgb), "GIF images are not supported (tunecli reads PNG, JPEG, WebP, BMP and TIFF)"),
        "bomb.png": (
            tiny_png_declaring(100_000, 100_000),
            "image is larger than the limit of 89,478,485 pixels (decompression-bomb guard); "
            "raise the limit with --max-pixels if you trust this file",
        ),
        "nan.tif": (nan_tiff.getvalue(), "float TIFF holds 2 NaN or infinite sample(s); tunecli needs finite values"),
        "inf.tif": (inf_gray.getvalue(), "float TIFF holds 1 NaN or infinite sample(s); tunecli needs finite values"),
    }


@pytest.mark.parametrize("name", list(bad_inputs()))
def test_bad_input_gives_one_line_error_and_is_left_untouched(tmp_path: Path, name: str) -> None:
    content, reason = bad_inputs()[name]
    path = tmp_path / name
    path.write_bytes(content)
    stat_before = path.stat()
    with pytest.raises(InputImageError) as caught:
        read_image(path)
    pattern = re.escape(f"{path}: {reason}").replace("\\#", r"\d+")
    assert re.fullmatch(pattern, str(caught.value)), str(caught.value)
    assert path.read_bytes() == content and path.stat().st_mtime_ns == stat_before.st_mtime_ns


def test_deep_tiff_compression_without_imagecodecs_is_named(tmp_path: Path) -> None:
    """tifffile decodes LZW only with imagecodecs (not a dependency): the error says what to install."""
    tifffile.imwrite(tmp_path / "x.tif", np.ones((2, 4, 3), np.uint16), photometric="rgb", metadata=None)
    data = bytearray((tmp_path / "x.tif").read_bytes())
    (first_ifd,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, first_ifd)
    for entry in range(first_ifd + 2, first_ifd + 2 + 12 * count, 12):
        if struct.unpack_from("<H", data, entry)[0] == 259:  # Compression: none -> LZW
            struct.pack_into("<H", data, entry + 8, 5)
    (tmp_path / "lzw.tif").write_bytes(bytes(data))
    try:
        import imagecodecs  # noqa: F401
    except ImportError:
        with pytest.raises(InputImageError) as caught:
            read_image(tmp_path / "lzw.tif")
        assert str(caught.value) == (
            f"{tmp_path / 'lzw.tif'}: reading LZW-compressed 16-bit colour TIFF needs the optional "
            "'imagecodecs' package (pip install imagecodecs)"
        )
    else:
        pytest.skip("imagecodecs is installed")


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(InputImageError, match=r"nope\.png: no such file$"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(InputImageError, match=r": is a folder, not an image file$"):
        read_image(tmp_path)


def test_pixel_limit_names_the_option_and_none_disables_it(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    PIL.Image.new("RGB", (20, 10)).save(path)
    with pytest.raises(InputImageError) as caught:
        read_image(path, max_pixels=199)
    assert str(caught.value) == (
        f"{path}: 20x10 image has 200 pixels, above the limit of 199 (decompression-bomb guard); "
        "raise the limit with --max-pixels if you trust this file"
    )
    assert read_image(path, max_pixels=200).pixels.shape == (10, 20, 3)
    assert read_image(path, max_pixels=None).pixels.shape == (10, 20, 3)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_a_raised_limit_lifts_pillows_own_guard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str) -> None:
    path = tmp_path / f"big{suffix}"
    PIL.Image.new("RGB", (20, 10)).save(path)
    monkeypatch.setattr(PIL.Image, "MAX_IMAGE_PIXELS", 50)  # Pillow alone would refuse 200 > 2 x 50 pixels
    assert read_image(path, max_pixels=1000).pixels.shape == (10, 20, 3)
    assert read_image(path, max_pixels=None).pixels.shape == (10, 20, 3)
    assert PIL.Image.MAX_IMAGE_PIXELS == 50  # and is left as it was
    with pytest.raises(InputImageError, match=r"20x10 image has 200 pixels, above the limit of 199 "):
        read_image(path, max_pixels=199)


# ---- writing: refusals, atomicity ----------------------------------------------------------------


def test_existing_output_is_refused_unless_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "out.png"
    path.write_bytes(b"precious")
    image = image_from_samples(smooth_samples(3, 3, 3), "png")
    with pytest.raises(OutputError) as caught:
        write_image(path, image)
    assert str(caught.value) == f"{path}: already exists (use --overwrite to replace it or --skip-existing to keep it)"
    assert path.read_bytes() == b"precious" and sorted(os.listdir(tmp_path)) == ["out.png"]
    write_image(path, image, overwrite=True)
    assert np.array_equal(stored_samples(read_image(path)), smooth_samples(3, 3, 3))


@pytest.mark.parametrize("failure", [OSError("disk full"), KeyboardInterrupt()])
def test_failed_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: BaseException) -> None:
    def half_then_fail(file, *args: object) -> None:  # type: ignore[no-untyped-def]
        file.write(b"\x89PNG half of a file")
        raise failure

    monkeypatch.setattr(writing_module, "_encode", half_then_fail)
    image = image_from_samples(smooth_samples(3, 3, 3), "png")
    expected = OutputError if isinstance(failure, OSError) else KeyboardInterrupt
    with pytest.raises(expected) as caught:
        write_image(tmp_path / "sub" / "out.png", image)
    if expected is OutputError:
        assert str(caught.value) == f"{tmp_path / 'sub' / 'out.png'}: could not write the PNG file (disk full)"
    assert os.listdir(tmp_path / "sub") == []


def test_failed_overwrite_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(file, *args: object) -> None:  # type: ignore[no-untyped-def]
        file.write(b"partial")
        raise OSError("disk full")

    path = tmp_path / "out.png"
    path.write_bytes(b"the old output")
    monkeypatch.setattr(writing_module, "_encode", fail)
    with pytest.raises(OutputError):
        write_image(path, image_from_samples(smooth_samples(3, 3, 3), "png"), overwrite=True)
    assert path.read_bytes() == b"the old output" and os.listdir(tmp_path) == ["out.png"]


def test_new_files_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_image(tmp_path / "m.png", image_from_samples(smooth_samples(2, 2, 1), "png"))
    finally:
        os.umask(old)
    assert (tmp_path / "m.png").stat().st_mode & 0o777 == 0o644


def test_write_refusals_are_one_line(tmp_path: Path) -> None:
    image = image_from_samples(smooth_samples(3, 3, 3), "png")
    cases = [
        (tmp_path / "a.jpg", {"bit_depth": "16"}, "JPEG cannot hold 16-bit samples (use PNG or TIFF)"),
        (tmp_path / "a.png", {"bit_depth": "32f"}, "PNG cannot hold 32-bit float samples (use TIFF)"),
        (tmp_path / "a.png", {"bit_depth": "12"}, "unknown bit depth '12' (use auto, 8, 16 or 32f)"),
        (tmp_path / "a.png", {"format": "jpg"}, "the suffix .png does not match the format jpeg"),
        (tmp_path / "a.out", {"format": "gif"}, "unknown image format 'gif' (use png, jpg, webp, bmp or tif)"),
        (tmp_path / "a.jpg", {"quality": 0}, "quality must be between 1 and 100, not 0"),
    ]
    for path, options, reason in cases:
        with pytest.raises(OutputError) as caught:
            write_image(path, image, **options)  # type: ignore[arg-type]
        assert str(caught.value) == f"{path}: {reason}"
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match=r"cannot create the folder"):
        write_image(tmp_path / "file" / "a.png", image)
    array_image = Image(image.pixels, None, ImageMeta("array", "uint8", "RGB"))
    with pytest.raises(OutputError, match=r"a\.out: cannot tell the output format"):
        write_image(tmp_path / "a.out", array_image)
    assert sorted(os.listdir(tmp_path)) == ["file"]


def test_what_a_format_cannot_hold_is_reported(tmp_path: Path) -> None:
    samples = np.full((2, 2, 4), 40000, np.uint16)
    image = image_from_samples(samples, "png", icc_profile=SRGB_ICC, exif=camera_exif())
    notices = write_image(tmp_path / "x.jpg", image)
    assert notices == ["JPEG holds at most 8-bit samples: written as 8-bit", "JPEG has no alpha channel: alpha dropped"]
    back = read_image(tmp_path / "x.jpg")
    assert back.meta.mode == "RGB" and back.meta.exif == camera_exif() and back.meta.icc_profile == SRGB_ICC
    assert write_image(tmp_path / "x.bmp", image)[-2:] == [
        "BMP cannot hold an ICC profile: profile dropped",
        "BMP cannot hold EXIF: EXIF dropped",
    ]
    floats = Image(np.full((2, 2, 3), 0.5, np.float32), None, ImageMeta("tiff", "float32", "RGB"))
    assert write_image(tmp_path / "f.png", floats) == ["PNG holds at most 16-bit samples: written as 16-bit"]
    assert read_image(tmp_path / "f.png").meta.dtype == "uint16"
    assert write_image(tmp_path / "f8.png", floats, bit_depth="8") == []
    assert read_image(tmp_path / "f8.png").meta.dtype == "uint8"
