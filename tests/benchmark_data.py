"""Where the optional benchmark data folder is (real kernel sets, the partial VGG-19): the
``TUNECLI_DATA`` environment variable, else ``shared/data`` beside the checkout. Tests that need
it skip, saying where they looked, when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR = Path(os.environ.get("TUNECLI_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
