"""Every hook specops calls, in one place.

Two kinds of hook live here:

* **Registration hooks** (``specops_register_*``) are called once, when the plugin
  manager starts. Each receives a ``register`` callback; a plugin calls it once per
  component it provides::

      register("csv", CsvSource, params_schema={...}, summary="Read a CSV file")

  The framework owns the table of components keyed by (kind, type): it lists them,
  composes the spec's JSON Schema from their ``params_schema``, and refuses two
  plugins that claim the same type. ``factory(**params)`` must be cheap: import
  heavy libraries inside the component's methods, not at module level.

* **Lifecycle event hooks** (``specops_run_*``, ``specops_step_*``) are called by the
  engine as a run proceeds. Any number of plugins may implement them (tracking,
  timing, progress, notifications); their return values are ignored. One that
  raises is reported once on stderr and recorded in the run's ``observer_errors``,
  and the run goes on: an observer must not destroy a run. A plugin whose events
  must not be lost (the store's own tracker) sets ``SPECOPS_REQUIRED = True`` (a
  module attribute, or a class attribute of an in-process plugin); its failure
  ends the run.

The component protocols (what a source, a model, ... must provide) are documented
in :mod:`framework.components`.

The hooks, their arguments and those protocols together are the **hook API**, versioned
by :data:`HOOK_API_VERSION`. A plugin module may declare which versions it supports
(``SPECOPS_HOOK_API = ">=1.0,<2"``, or just ``"1"``); specops refuses a plugin that
declares none it provides, naming both versions, instead of failing mid-run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from framework.components import Register
    from framework.events import RunInfo, StepInfo

HOOK_API_VERSION = "1.3"
"""The hook API this specops provides, ``MAJOR.MINOR``.

A minor bump only adds (a new hook, a new optional field, a new keyword with a
default): plugins written for ``1.0`` keep working with ``1.3``. A major bump
removes or changes something a plugin may rely on (a hook's arguments, a
protocol's method, what a hook must return); plugins declaring ``<2`` are then
refused with a message rather than failing mid-run.

1.1 added the ``execution`` kind (:func:`specops_register_executors`, the protocol in
:mod:`framework.execution`) and the optional distributed methods of the components.
1.2 added the store backend kinds ``metadata_store`` and ``artifact_store``
(:func:`specops_register_metadata_stores`, :func:`specops_register_artifact_stores`, the
protocols in :mod:`framework.store`) and the ``tracker`` kind
(:func:`specops_register_trackers`, ``tracking:`` in a spec).
1.3 added the ``runtime`` kind (:func:`specops_register_runtimes`, the protocol in
:mod:`framework.runtimes.base`, ``serve.runtime`` in a spec): faster, verified forms of a
stored model for serving and batch scoring.
"""

hookspec = pluggy.HookspecMarker("specops")
hookimpl = pluggy.HookimplMarker("specops")
"""Marker for plugin hook implementations: ``@hookimpl def specops_register_models(...)``."""

# -------------------------------------------------------------------------
# Registration: one hook per kind of component
# -------------------------------------------------------------------------


@hookspec
def specops_register_sources(register: Register) -> None:
    """Register data sources (kind ``source``): they load a table for ``data.source``."""


@hookspec
def specops_register_checks(register: Register) -> None:
    """Register data checks (kind ``check``): they judge a table for ``checks:``."""


@hookspec
def specops_register_splits(register: Register) -> None:
    """Register splitters (kind ``split``): they cut a table into train and test."""


@hookspec
def specops_register_transforms(register: Register) -> None:
    """Register preprocessing transforms (kind ``transform``) for ``preprocess:``."""


@hookspec
def specops_register_models(register: Register) -> None:
    """Register model types (kind ``model``) for ``model.type``."""


@hookspec
def specops_register_metrics(register: Register) -> None:
    """Register metrics (kind ``metric``), named by the keys of ``gate:``."""


@hookspec
def specops_register_deploy_targets(register: Register) -> None:
    """Register deploy targets (kind ``deploy``) for ``deploy:``."""


@hookspec
def specops_register_drift_tests(register: Register) -> None:
    """Register drift tests (kind ``drift_test``) that ``specops monitor`` runs per column,
    named by ``monitor.drift`` (``numeric``, ``categorical``, ``columns``)."""


@hookspec
def specops_register_executors(register: Register) -> None:
    """Register executors (kind ``execution``) for ``execution.type``: where a run's
    data-heavy work happens (``local``, ``dask``); protocol in :mod:`framework.execution`."""


@hookspec
def specops_register_trackers(register: Register) -> None:
    """Register trackers (kind ``tracker``) for ``tracking:``: lifecycle-event observers a
    run reports to beside the store (an MLflow server); see :mod:`framework.trackers`."""


@hookspec
def specops_register_metadata_stores(register: Register) -> None:
    """Register metadata store backends (kind ``metadata_store``), named by the URL scheme
    of ``store.url`` / ``--store`` (``sqlite``, ``postgresql``). The factory is called as
    ``factory(url, params, workdir, *, read_only=...)`` and returns a
    :class:`framework.store.backends.MetadataBackend`."""


@hookspec
def specops_register_artifact_stores(register: Register) -> None:
    """Register artifact store backends (kind ``artifact_store``), named by the URL scheme
    of ``store.artifacts`` / ``--artifacts`` (``file``, ``s3``). The factory is called as
    ``factory(url, params, workdir, *, read_only=...)`` and returns a
    :class:`framework.store.backends.ArtifactBackend`."""


@hookspec
def specops_register_runtimes(register: Register) -> None:
    """Register prediction runtimes (kind ``runtime``) for ``serve.runtime`` /
    ``--runtime``: ways to compile a stored model package into a faster form (an ONNX
    graph, compiled trees) that registration verifies against the native predictions.
    The factory is called with no arguments and returns a :class:`framework.Runtime`;
    register it without a params schema. See docs/runtimes.md."""


# -------------------------------------------------------------------------
# Resolution: an escape hatch for claiming steps by predicate
# -------------------------------------------------------------------------


@hookspec(firstresult=True)
def specops_resolve_component(kind: str, type_name: str, params: dict[str, Any]) -> Any | None:
    """Return the component that will run a step of ``kind`` with spec ``type_name``.

    Called once per component named by a spec, with its ``params`` as written.
    The first non-None result wins. The framework's own ``trylast`` resolver builds
    the registered factory; implement this only to claim steps by a predicate that
    a type name cannot express (a URI scheme, say), and return None otherwise.
    """


# -------------------------------------------------------------------------
# Lifecycle events: tracking, timing, progress, notifications
# -------------------------------------------------------------------------


@hookspec
def specops_run_start(run: RunInfo) -> None:
    """Called before the first step of ``specops run``; ``run`` names the spec and run id."""


@hookspec
def specops_step_start(run: RunInfo, step: StepInfo) -> None:
    """Called before a step (``ingest``, ``check``, ... ``deploy``) begins."""


@hookspec
def specops_step_end(run: RunInfo, step: StepInfo) -> None:
    """Called after a step finished; ``step.status``, ``step.seconds`` and
    ``step.outputs`` say how it went (``passed``, ``failed`` or ``skipped``)."""


@hookspec
def specops_step_error(run: RunInfo, step: StepInfo, error: BaseException) -> None:
    """Called when a step raised; the run ends after this (exit 2 for bad input)."""


@hookspec
def specops_run_end(run: RunInfo) -> None:
    """Called once when the run is over, whatever its outcome (``run.status``)."""
