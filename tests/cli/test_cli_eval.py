"""``tunecli eval`` of a deblurring model: the kernel file given is the blur that is scored."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import BOX, ModelFactory
from typer.testing import Result

RunCli = Callable[..., Result]
WritePng = Callable[..., Path]


def test_eval_deblur_scores_the_blur_of_the_kernel_file(
    run_cli: RunCli, make_model: ModelFactory, write_png: WritePng, tmp_path: Path
) -> None:
    model = make_model("deblur", space=BOX)
    data = tmp_path / "data"
    for seed in range(2):
        write_png(data / f"{seed}.png", height=24, width=24, seed=seed)
    sharp = np.zeros((5, 5), np.float32)
    sharp[2, 2] = 1.0  # a delta: no blur at all
    kernels = {"sharp": sharp, "box": np.ones((9, 9), np.float32)}
    rows = {}
    for name, kernel in kernels.items():
        np.save(tmp_path / f"{name}.npy", kernel)
        result = run_cli(
            "eval", model, "--data", data, "--kernels", tmp_path / f"{name}.npy", "--sigma", "2.55", "--json"
        )
        assert result.exit_code == 0, result.output
        [row] = json.loads(result.stdout)["rows"]
        assert row["kernels"] == f"{name}.npy (1)" and row["sigma"] == 2.55
        assert all(math.isfinite(row[key]) for key in ("psnr", "ssim", "degraded_psnr"))
        rows[name] = row
    # through a delta only the 8-bit noise of sigma 2.55 degrades the input (clipping at 0 and
    # 255 takes a little off); a 9x9 box wipes out random pixels
    assert rows["sharp"]["degraded_psnr"] == pytest.approx(20 * math.log10(255 / math.sqrt(2.55**2 + 1 / 12)), abs=0.5)
    assert rows["box"]["degraded_psnr"] < rows["sharp"]["degraded_psnr"] - 10
    assert rows["box"]["psnr"] < rows["sharp"]["psnr"] - 3
