"""The local store: runs, datasets, artifacts and the model registry."""

from framework.store.store import CHAMPION, ModelVersion, Store, new_run_id

__all__ = ["CHAMPION", "ModelVersion", "Store", "new_run_id"]
