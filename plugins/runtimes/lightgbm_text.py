"""A LightGBM model's trees as Treelite's model, read from the model's own checked text.

Treelite parses LightGBM's ``model.txt`` itself (``treelite.frontend.load_lightgbm_model``),
so a compiled runtime gets its trees without LightGBM: no ``Booster`` is built and
``lightgbm`` (with the scikit-learn and scipy it imports, ~0.6 s of CPU) is never
imported by ``specops predict`` or a server that scores with compiled trees. The text is
the one the model plugin read and checked (``LightGBMModel.model_text``); the result is
byte for byte what ``treelite.frontend.from_lightgbm`` makes from a booster of that text
(which hands Treelite the booster's ``model_to_string()``, the same text), so trees stored
at registration compare equal, and a mismatch still means: not loaded.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework import RuntimeUnavailable

if TYPE_CHECKING:
    from framework import ModelPackage


def lightgbm_trees(package: ModelPackage) -> Any:
    """Treelite's model of the package's LightGBM trees, from the model's checked text.

    The text goes through a private temporary file (Treelite's public reader takes a
    path). Treelite refusing it is a RuntimeUnavailable: the version then scores natively,
    where LightGBM's own reader gives its verdict."""
    import treelite
    from treelite.core import TreeliteError

    text = package.model.model_text
    with tempfile.TemporaryDirectory(prefix="specops-lightgbm-") as folder:
        path = Path(folder) / "model.txt"
        path.write_bytes(text.encode("utf-8"))  # exactly the text: no newline translation
        try:
            return treelite.frontend.load_lightgbm_model(path)
        except TreeliteError as exc:
            raise RuntimeUnavailable(f"Treelite cannot read the model's trees: {exc}") from exc
