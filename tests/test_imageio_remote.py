"""Files named by URI (:mod:`tunecli.imageio.remote`): shown without credentials, read and
written by the one reader and writer exactly as local files, atomically, with one-line errors.
Local paths only: ``file://`` through pyarrow, ``memory://`` through fsspec."""

from __future__ import annotations

import sys
from pathlib import Path, PurePosixPath

import numpy as np
import png
import pytest
import tifffile
from PIL import Image as PILImage
from test_imageio import bad_inputs

from tunecli.errors import InputImageError, OutputError, UsageError
from tunecli.imageio import read_image, write_image
from tunecli.imageio.remote import RemotePath, is_uri, location

pytest.importorskip("pyarrow.fs")


def uri(path: Path) -> RemotePath:
    return RemotePath.parse(path.as_uri())


def test_a_uri_is_shown_without_credentials_or_query_and_joins_like_a_path() -> None:
    remote = location("s3://key:secret@bucket/photos/?region=eu-west-1&scheme=http")
    assert isinstance(remote, RemotePath) and str(remote) == "s3://bucket/photos"
    assert "secret" not in repr(remote)
    child = remote / "2024" / "cat.PNG"
    assert str(child) == "s3://bucket/photos/2024/cat.PNG" and child.root == remote.root
    assert (child.name, child.stem, child.suffix) == ("cat.PNG", "cat", ".PNG")
    assert child.relative_to(remote) == PurePosixPath("2024/cat.PNG")
    assert str(child.with_name("dog.png").parent) == "s3://bucket/photos/2024"
    assert child == RemotePath.parse("s3://bucket/photos/2024/cat.PNG")  # the root is not part of the name
    assert str(location("file:///tmp/in/")) == "file:///tmp/in"
    assert isinstance(location("in/photo.png"), Path) and isinstance(location("C:\\in\\x.png"), Path)
    assert not is_uri("s3:/bucket") and is_uri("gs://bucket")


def _sample_folder(folder: Path) -> list[Path]:
    rng = np.random.default_rng(5)
    folder.mkdir()
    rgb = rng.integers(0, 256, (12, 14, 3), dtype=np.uint8)
    PILImage.fromarray(rgb).save(folder / "rgb.png")
    PILImage.fromarray(rng.integers(0, 256, (9, 7, 4), dtype=np.uint8), "RGBA").save(folder / "rgba.png")
    png.from_array(rng.integers(0, 65536, (6, 15), dtype=np.uint16).tolist(), "RGB;16").save(str(folder / "deep.png"))
    tifffile.imwrite(folder / "deep.tif", rng.integers(0, 65536, (8, 6, 3), dtype=np.uint16))
    tifffile.imwrite(folder / "float.tif", rng.random((5, 4), dtype=np.float32))
    PILImage.fromarray(rgb).save(folder / "photo.jpg", quality=80, progressive=True)
    PILImage.fromarray(rgb).save(folder / "photo.webp", lossless=True)
    PILImage.fromarray(rgb).save(folder / "photo.bmp")
    return sorted(folder.iterdir())


def test_a_file_uri_reads_and_writes_what_its_local_path_does(tmp_path: Path) -> None:
    for path in _sample_folder(tmp_path / "in"):
        local, remote = read_image(path), read_image(uri(path))
        assert np.array_equal(remote.pixels, local.pixels), path.name
        assert (remote.alpha is None) == (local.alpha is None)
        assert remote.alpha is None or np.array_equal(remote.alpha, local.alpha)
        assert remote.meta == local.meta, path.name
        notices = write_image(tmp_path / "local" / path.name, local)
        assert write_image(uri(tmp_path / "uri" / path.name), local) == notices
        assert (tmp_path / "uri" / path.name).read_bytes() == (tmp_path / "local" / path.name).read_bytes()
    assert sorted(p.name for p in (tmp_path / "uri").iterdir()) == sorted(p.name for p in (tmp_path / "in").iterdir())


@pytest.mark.parametrize("name", list(bad_inputs()))
def test_a_bad_file_behind_a_uri_fails_in_the_readers_words(tmp_path: Path, name: str) -> None:
    content, _ = bad_inputs()[name]
    (tmp_path / name).write_bytes(content)
    with pytest.raises(InputImageError) as local:
        read_image(tmp_path / name)
    with pytest.raises(InputImageError) as remote:
        read_image(uri(tmp_path / name))
    reason = str(local.value).removeprefix(f"{tmp_path / name}: ")
    assert str(remote.value) == f"{uri(tmp_path / name)}: {reason}"


def test_missing_and_folder_uris_are_named(tmp_path: Path) -> None:
    with pytest.raises(InputImageError, match=r"^file://.*/nope\.png: no such file$"):
        read_image(uri(tmp_path / "nope.png"))
    with pytest.raises(InputImageError, match=r"^file://.*: is a folder, not an image file$"):
        read_image(uri(tmp_path))


def test_an_existing_output_is_kept_and_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    image = read_image(_sample_folder(tmp_path / "in")[0])
    target = uri(tmp_path / "out" / "a.png")
    write_image(target, image)
    before = (tmp_path / "out" / "a.png").read_bytes()
    with pytest.raises(OutputError) as caught:
        write_image(target, image)
    assert str(caught.value) == (
        f"{target}: already exists (use --overwrite to replace it or --skip-existing to keep it)"
    )
    with pytest.raises(OutputError, match=r"^file://.*/b\.png: the image holds NaN"):
        write_image(target.with_name("b.png"), type(image)(np.full_like(image.pixels, np.nan), None, image.meta))
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.png"]
    assert (tmp_path / "out" / "a.png").read_bytes() == before


def test_a_filesystem_without_atomic_uploads_gets_a_temporary_name_then_a_move(tmp_path: Path) -> None:
    """fsspec's in-memory filesystem stands for one like HDFS: no partial file under the name."""
    fsspec = pytest.importorskip("fsspec")
    image = read_image(_sample_folder(tmp_path / "in")[0])
    write_image(tmp_path / "a.png", image)
    target = RemotePath.parse("memory://tunecli-test/out/a.png")
    write_image(target, image)
    memory = fsspec.filesystem("memory")
    assert memory.ls("/tunecli-test/out", detail=False) == ["/tunecli-test/out/a.png"]
    assert memory.cat_file("/tunecli-test/out/a.png") == (tmp_path / "a.png").read_bytes()
    with pytest.raises(OutputError, match="already exists"):
        write_image(target, image)
    assert read_image(target).meta == read_image(tmp_path / "a.png").meta
    assert target.exists() and target.parent.is_dir() and not (target.parent / "b.png").exists()


def test_an_unknown_scheme_or_a_missing_package_is_one_usage_line(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UsageError) as caught:
        RemotePath.parse("nosuch://bucket/in").exists()
    assert str(caught.value) == (
        "nosuch://bucket/in: unknown filesystem nosuch:// "
        "(pyarrow reads file, s3, gs and hdfs; fsspec adds others once their package is installed)"
    )
    monkeypatch.setitem(sys.modules, "pyarrow.fs", None)  # import pyarrow.fs raises ImportError
    with pytest.raises(UsageError) as caught:
        RemotePath.parse("s3://bucket/not-resolved-before").exists()
    assert str(caught.value) == (
        "s3://bucket/not-resolved-before: URIs need pyarrow: pip install pyarrow (it comes with 'tunecli[ray]')"
    )
