"""Safe persistence for scikit-learn objects: skops instead of pickle.

Loading a pickle runs whatever code it names. skops stores objects as data and,
on load, refuses types it was not told to trust; we trust only types from the
libraries a specops pipeline is made of, so a crafted file cannot run code.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from framework.errors import StoreError

TRUSTED_LIBRARIES: frozenset[str] = frozenset({"sklearn", "numpy", "scipy"})

# Callables a fitted scikit-learn object legitimately holds (HistGradientBoosting keeps
# ``partial(check_array, ...)``). Anything else callable is refused: a crafted
# ``FunctionTransformer(func=exec)`` must never load.
TRUSTED_NAMES: frozenset[str] = frozenset(
    {"functools.partial", "sklearn.utils.validation.check_array"}
)


def _trusted(name: str) -> bool:
    """Exact allow-listed names, or classes (not functions) of the libraries we build on."""
    if name in TRUSTED_NAMES:
        return True
    module_name, _, attribute = name.rpartition(".")
    if module_name.split(".")[0] not in TRUSTED_LIBRARIES:
        return False
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return False
    return isinstance(getattr(module, attribute, None), type)


def save_skops(obj: Any, path: Path) -> None:
    """Write ``obj`` to ``path`` in skops format."""
    import skops.io as sio

    sio.dump(obj, path)


def load_skops(path: Path) -> Any:
    """Read a skops file, refusing any type outside the trusted libraries."""
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # a truncated or foreign file: never half-load it
        raise StoreError(f"{path.name} is not a readable skops file: {exc}") from exc
    refused = [t for t in untrusted if not _trusted(t)]
    if refused:
        raise StoreError(
            f"{path.name} contains types specops does not trust: {', '.join(sorted(refused))}"
        )
    try:
        return sio.load(path, trusted=list(untrusted))
    except Exception as exc:
        raise StoreError(f"{path.name} could not be loaded: {exc}") from exc
