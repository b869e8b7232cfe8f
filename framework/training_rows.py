"""Fingerprints of the rows a model version trained on, so the gate can leave them out.

A model scored on rows it trained on looks better than it is. When the champion
is rescored on a candidate's test split drawn from the same data (another seed,
another split, a retraining window that overlaps the source), many of those rows
were in the champion's training data. Row positions do not survive re-reading
the data, so each row is identified by its content: a 64-bit hash of its feature
values and target (``pandas.util.hash_pandas_object``, vectorised), after
normalising what re-reading may change (integers read back as floats, ``-0.0``,
categories read as text). Identical rows share a fingerprint, which is what
"trained on" means here.

A version records the sorted, distinct fingerprints of its training rows as one
content-addressed blob (8 bytes a row) named in its lineage as ``training_rows``,
with the columns hashed. The blob lives in the store, not in the model package,
so exported packages carry no trace of the training data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework.errors import StoreError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from framework.store import Store

LINEAGE_KEY = "training_rows"
SCHEME = "pandas-hash-uint64/1"
"""How fingerprints are computed; another scheme's fingerprints are never compared."""
MAGIC = b"specops training rows 1\n"
MISSING_TEXT = "\x00specops:missing"
SHA256 = re.compile(r"[0-9a-f]{64}")


def row_hashes(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """One uint64 per row of ``frame`` over ``columns``, stable across re-reads.

    Each column is hashed by ``pandas.util.hash_array`` and the columns are combined
    as ``hash_pandas_object`` combines them, without building a normalised frame
    first (which costs twice the hashing: pandas consolidates the columns).
    """
    import numpy as np
    from pandas.util import hash_array

    combined = np.full(len(frame), 0x345678, dtype="uint64")
    multiplier = np.uint64(1000003)
    with np.errstate(over="ignore"):
        for position, name in enumerate(columns):
            combined ^= hash_array(_normalised(frame[name]))
            combined *= multiplier
            remaining = len(columns) - position
            multiplier += np.uint64(82520 + remaining + remaining)
        combined += np.uint64(97531)
    return combined


def _normalised(column: pd.Series) -> Any:
    """Numbers (and booleans) as float64 with one zero and one NaN; the rest as text."""
    import numpy as np
    import pandas as pd

    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        values = column.to_numpy(dtype="float64", na_value=np.nan) + 0.0  # -0.0 -> 0.0
        values[np.isnan(values)] = np.nan
        return values
    missing = column.isna().to_numpy()
    text = column.astype(str).to_numpy(dtype=object)
    text[missing] = MISSING_TEXT
    return text


@dataclass(frozen=True)
class TrainingRows:
    """The distinct fingerprints (sorted) of a version's training rows, and what was hashed."""

    columns: tuple[str, ...]
    hashes: np.ndarray

    @classmethod
    def of(cls, hashes: np.ndarray, columns: list[str]) -> TrainingRows:
        import numpy as np

        # sort, then drop repeats: np.unique takes 100x longer here (1 s for 800,000)
        ordered = np.sort(hashes)
        distinct = np.ones(len(ordered), dtype=bool)
        distinct[1:] = ordered[1:] != ordered[:-1]
        return cls(tuple(columns), ordered[distinct])

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        """For each fingerprint, whether it is one of these rows (a boolean mask)."""
        import numpy as np

        if len(self.hashes) == 0:
            return np.zeros(len(hashes), dtype=bool)
        at = np.searchsorted(self.hashes, hashes)
        at[at == len(self.hashes)] = 0
        return self.hashes[at] == hashes

    def to_bytes(self) -> bytes:
        return MAGIC + self.hashes.astype("<u8").tobytes()


def record(store: Store, rows: TrainingRows) -> tuple[dict[str, Any], bytes]:
    """Store the fingerprints as a blob; the lineage entry naming it, and its bytes
    (kept to restore the blob should ``store gc`` remove it before a version names it)."""
    data = rows.to_bytes()
    digest = store.artifacts.put_written(lambda path: path.write_bytes(data))
    entry = {
        "blob": digest,
        "rows": len(rows.hashes),
        "columns": list(rows.columns),
        "scheme": SCHEME,
    }
    return entry, data


def ensure_stored(store: Store, entry: dict[str, Any], data: bytes) -> None:
    """After the version row is committed (``gc`` now keeps the blob): put it back if a
    ``gc`` running between :func:`record` and the commit removed it."""
    if not store.artifacts.path_of(entry["blob"]).is_file():
        store.artifacts.put_written(lambda path: path.write_bytes(data))


def load(store: Store, lineage: dict[str, Any], owner: str) -> TrainingRows | None:
    """A version's training rows, hash-checked; None when it recorded none (an older
    specops) or recorded them another way. A missing or damaged blob is a StoreError."""
    import numpy as np

    entry = lineage.get(LINEAGE_KEY)
    if not isinstance(entry, dict) or entry.get("scheme") != SCHEME:
        return None
    digest = entry.get("blob")
    if not isinstance(digest, str) or not SHA256.fullmatch(digest):
        raise StoreError(
            f"training rows of {owner}: the lineage names no valid blob ({digest!r}); "
            "the store's record of that version is damaged"
        )
    path: Path = store.artifacts.verified(digest, f"training rows of {owner}")
    data = path.read_bytes()
    body = data[len(MAGIC) :]
    if not data.startswith(MAGIC) or len(body) % 8:
        raise StoreError(f"training rows of {owner} are not a fingerprint file: {path}")
    hashes = np.frombuffer(body, dtype="<u8").astype("uint64")
    return TrainingRows(tuple(str(c) for c in entry.get("columns", [])), hashes)
