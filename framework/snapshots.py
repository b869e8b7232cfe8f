"""Reading back the data a run ingested, from the store's content-addressed snapshots.

Every run records its data's content hash; unless ``store.snapshot_data`` is off,
the table itself is kept once per distinct hash as an Arrow IPC blob. A recorded
dataset version can then be trained on again (``source: {type: snapshot}``) or a
run reproduced exactly (``specops reproduce``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from framework.errors import StoreError
from framework.store import Store

if TYPE_CHECKING:
    import pandas as pd


def find_dataset(store: Store, prefix: str) -> str:
    """The full data hash for a hash or a unique prefix of one."""
    rows = store.db.execute(
        "SELECT hash FROM datasets WHERE hash LIKE ? ORDER BY first_seen", (f"{prefix}%",)
    ).fetchall()
    if len(rows) == 1:
        return str(rows[0][0])
    if not rows:
        known = store.db.execute(
            "SELECT hash FROM datasets ORDER BY first_seen DESC LIMIT 5"
        ).fetchall()
        listed = ", ".join(row[0][:12] for row in known) or "none"
        raise StoreError(f"no dataset version {prefix!r} in {store.root}; recent: {listed}")
    raise StoreError(f"dataset prefix {prefix!r} is ambiguous: {len(rows)} versions match")


def read_snapshot(store_root: Path, data_hash: str) -> pd.DataFrame:
    """The table a run ingested, hash-checked before it is parsed."""
    import tempfile

    import pandas as pd

    store = Store.open_existing(store_root, write=False)
    try:
        full = find_dataset(store, data_hash)
        blob = store.snapshot_blob(full)
        if blob is None:
            raise StoreError(
                f"dataset {full[:12]} was recorded without a snapshot (store.snapshot_data: false)"
            )
        scratch = None if store.read_only else store.root  # a read-only store: system temp
        with tempfile.TemporaryDirectory(dir=scratch, prefix=".load-") as tmp:
            local = Path(tmp) / "snapshot.arrow"
            store.artifacts.copy_out(blob, f"snapshot of dataset {full[:12]}", local)
            return pd.read_feather(local)
    finally:
        store.close()
