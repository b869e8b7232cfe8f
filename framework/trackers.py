"""Trackers: the observers a spec's ``tracking:`` section adds beside the store.

```yaml
tracking:
  - {type: mlflow, params: {uri: "http://127.0.0.1:5000", experiment: churn}}
```

A tracker is a component of kind ``tracker`` (registered through
``specops_register_trackers``, built like any other from ``{type, params}``) whose
object implements lifecycle event hooks (``specops_run_start``, ``specops_step_end``,
``specops_run_end``, ...), exactly as the store's own :class:`framework.tracking.StoreTracker`
does. The engine registers each one for the length of a run (:func:`trackers_for`)
and unregisters it after; it is never required, so one that raises (a server down, a
time-out) is reported once on stderr and in the run's ``observer_errors``, and the run
goes on, recorded in specops' own store.

A tracker may also have ``bind(records)``: it is then handed a :class:`RunRecords`,
what it may read of the run from specops' own store (the stored spec with secrets as
placeholders, the params, the model version exported to a format), so it never holds
the store itself, and never sees a value from ``${env:...}``.

This module holds the glue the spec, the validator and the engine call; the hook,
the kind and the schema lines live where every kind's do.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from framework.plugins import Plugins
    from framework.spec.model import ComponentSpec, Spec
    from framework.store import Store

KIND = "tracker"
SECTION = "tracking"
"""The spec's key: a list of ``{type, params}``."""


def tracking_components(data: Mapping[str, Any]) -> Iterator[tuple[str, tuple[Any, ...], Any]]:
    """``(kind, key path, node)`` of each ``tracking:`` entry, for the validator's
    component pass (:func:`framework.spec.validate.component_paths`): each type must be
    registered and its params must match its schema, each at its own line."""
    items = data.get(SECTION)
    if isinstance(items, list):
        for index, node in enumerate(items):
            yield KIND, (SECTION, index), node


def tracking_specs(data: Mapping[str, Any]) -> tuple[ComponentSpec, ...]:
    """The validated ``tracking:`` entries, typed (for :class:`framework.spec.model.Spec`)."""
    from framework.spec.model import ComponentSpec

    return tuple(
        ComponentSpec.from_node(KIND, node, f"{SECTION}[{index}]")
        for index, node in enumerate(data.get(SECTION) or [])
    )


def trackers_for(spec: Spec, plugins: Plugins, store: Store) -> list[object]:
    """The spec's trackers, built and bound to ``store``, in the order of ``tracking:``;
    the engine registers each for the run (named by :func:`tracker_name`) and
    unregisters it after."""
    return build_trackers(getattr(spec, SECTION, ()), plugins, store)


def build_trackers(
    entries: tuple[ComponentSpec, ...] | list[ComponentSpec], plugins: Plugins, store: Store
) -> list[object]:
    """Each entry's component (``plugins.build``: a factory that raises names its
    plugin), handed the run's records when it asks for them (``bind``)."""
    trackers = []
    for entry in entries:
        tracker = plugins.build(KIND, entry.type, entry.kwargs())
        bind = getattr(tracker, "bind", None)
        if callable(bind):
            bind(RunRecords(store))
        trackers.append(tracker)
    return trackers


def tracker_name(position: int, type_name: str) -> str:
    """The plugin name a tracker has while it is registered for a run: what a failure
    warning and the run's ``observer_errors`` call it (``tracking[0] mlflow``)."""
    return f"{SECTION}[{position}] {type_name}"


class RunRecords:
    """What a tracker may read of a run from specops' own store, at any hook.

    Everything it returns is as the store keeps it: ``${env:...}`` values as their
    placeholders, passwords in URLs masked. :meth:`hide` does the same to any other
    text a tracker sends out (a step's detail, an error)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @property
    def store_folder(self) -> Path:
        """The store's local folder (a local store's ``.specops``, a shared store's working
        directory): nothing outside specops may write there, e.g. a tracker's own
        database or files."""
        return Path(self._store.root)

    def spec(self, run_id: str) -> dict[str, Any] | None:
        """The run's effective spec as stored (profiles and ``--set`` applied, secrets as
        placeholders), or None when the run was never recorded (it failed to start)."""
        record = self._store.run(run_id)
        return None if record is None else record.spec

    def params(self, run_id: str) -> dict[str, Any]:
        """The run's flattened params (``model.params.num_leaves``), as ``runs show`` lists them."""
        return self._store.params(run_id)

    def export(self, name: str, version: int, destination: Path, format: str = "mlflow") -> Path:
        """Write model version ``name/version`` to ``destination`` in ``format`` (what
        ``specops models export`` writes; every file verified by hash on the way)."""
        from framework.errors import StoreError

        if format != "mlflow":
            raise ValueError(f"unknown export format {format!r}; formats: mlflow")
        found = self._store.version(name, version)
        if found is None:
            raise StoreError(f"no model version {name}/{version} in the store")
        from framework.export_mlflow import export_mlflow

        return export_mlflow(self._store, found, destination)

    @staticmethod
    def hide(value: Any) -> Any:
        """``value`` with ``${env:...}`` values and URL passwords hidden."""
        from framework.redact import scrub

        return scrub(value)
