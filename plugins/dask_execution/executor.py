"""``DaskExecutor``: the lifecycle's data plane on a Dask cluster (``execution: dask``).

It implements :class:`framework.execution.Executor` by wiring the step modules of
this package (each owned by its step's engineers) around one ``distributed.Client``:
the engine sequences the steps, this class hands each the dask collections the
previous one made, and only small results (counts, statistics, metrics, the fitted
scikit-learn pipeline and LightGBM model) reach this process.

Components opt in to distributed work with optional methods
(:mod:`framework.components`); :meth:`DaskExecutor.validate` refuses a spec naming
one without them, at its spec line, before anything runs.

Worker failures: reading, checking, splitting and transforming are pure Dask graphs,
so a lost worker's tasks are recomputed elsewhere by Dask itself. LightGBM's
distributed training is not: its workers form one network for the whole fit, so a
worker lost mid-fit ends the run with a clear error (exit 2) and no version is
registered (registration comes after training; the store is untouched).

Importing this module is cheap: dask, distributed and pandas are imported inside
the methods.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from framework import Finding
from plugins.dask_execution.cluster import DEFAULT_DASHBOARD, DEFAULT_TIMEOUT, ClusterSettings

if TYPE_CHECKING:
    from distributed import Client

    from framework.components import StepContext
    from framework.execution import Say
    from framework.plugins import Plugins
    from framework.spec.model import ComponentSpec, Spec

# what a component needs to run here, and what to use instead (kind -> method, hint)
NEEDS: dict[str, tuple[str, str]] = {
    "source": (
        "load_distributed",
        "use a csv, parquet or sql source (they load as Dask dataframes), or execution: local",
    ),
    "check": ("run_distributed", "remove the check, or use execution: local"),
    "split": (
        "content_rule",
        "use split random or stratified (rows chosen by content and seed), or execution: local",
    ),
    "transform": (
        "fit_distributed",
        "use impute, scale, one_hot, ordinal or drop, or execution: local",
    ),
    "model": ("fit_distributed", "use lightgbm (lightgbm.dask), or execution: local"),
}
WHAT: dict[str, str] = {
    "source": "cannot load its data as a Dask dataframe (it has no load_distributed)",
    "check": "cannot run as a distributed aggregation (it has no run_distributed)",
    "split": "chooses rows by position, which depends on partitions (it has no content_rule)",
    "transform": "cannot fit on a Dask dataframe (it has no fit_distributed)",
    "model": "does not train on a Dask cluster (it has no fit_distributed)",
}


class DaskExecutor:
    """Runs a spec's data-heavy steps on a Dask cluster; built from ``execution.params``."""

    def __init__(
        self,
        address: str | None = None,
        n_workers: int | None = None,
        threads_per_worker: int | None = None,
        memory_limit: str | int | None = None,
        dashboard_address: str | None = DEFAULT_DASHBOARD,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.settings = ClusterSettings(
            address=address,
            n_workers=n_workers,
            threads_per_worker=threads_per_worker,
            memory_limit=memory_limit,
            dashboard_address=dashboard_address,
            timeout=float(timeout),
        )
        self._client: Client | None = None

    # ------------------------------------------------------------------
    # no data, no connection: validate, plan

    def validate(self, spec: Spec, plugins: Plugins) -> list[tuple[str, Finding]]:
        """Every component of ``spec`` that cannot run on Dask, at its spec path, with
        what to use instead; and cluster params that contradict each other."""
        found: list[tuple[str, Finding]] = []
        for component in [spec.source, *spec.checks, spec.split, *spec.preprocess, spec.model]:
            method, hint = NEEDS[component.kind]
            if not _provides(plugins, component, method):
                message = (
                    f"{_kind_name(component.kind)} '{component.type}' {WHAT[component.kind]}: "
                    "it cannot run with execution type dask"
                )
                found.append((component.path, Finding(message, hint=hint)))
        if self.settings.address:
            for key in ("n_workers", "threads_per_worker", "memory_limit"):
                if getattr(self.settings, key) is not None:
                    found.append(
                        (
                            "execution",
                            Finding(
                                f"{key} shapes a LocalCluster; with address the "
                                "cluster's own workers are used",
                                key=key,
                                hint=f"remove {key}, or remove address to start a LocalCluster",
                            ),
                        )
                    )
        return found

    def describe(self, spec: Spec, plugins: Plugins, ctx: StepContext) -> list[str]:
        """Where the run happens and how many partitions the source yields."""
        lines = [f"runs on {self.settings.where()}"]
        if self.settings.address:
            lines.append(
                "the cluster's workers need specops and the spec's plugins installed, "
                "in this process's versions"
            )
        source = plugins.build("source", spec.source.type, spec.source.kwargs())
        count = getattr(source, "partitions", None)
        if callable(count):
            partitions = count(ctx)
            lines.append(f"source '{spec.source.type}' yields {partitions:,} partition(s)")
        return lines

    # ------------------------------------------------------------------
    # the cluster

    @contextmanager
    def session(self, say: Say) -> Iterator[None]:
        """Connect to ``address`` or start a LocalCluster for the run; close what was
        started (never an existing cluster), whatever happened."""
        from plugins.dask_execution.cluster import open_cluster

        with open_cluster(self.settings, say) as client:
            self._client = client
            try:
                yield
            finally:
                self._client = None

    @property
    def client(self) -> Client:
        """The session's client; a step called outside ``session`` is a bug of the caller."""
        if self._client is None:
            raise RuntimeError("DaskExecutor used outside its session()")
        return self._client


def _provides(plugins: Plugins, component: ComponentSpec, method: str) -> bool:
    """Whether the component has ``method``: read on its class when the factory is
    one (nothing built), else on a built component (factories are cheap)."""
    entry = plugins.registry.find(component.kind, component.type)
    if entry is None:
        return True  # an unknown type is validate's own finding, not ours
    factory = entry.factory
    if isinstance(factory, type):
        return callable(getattr(factory, method, None))
    try:
        built = plugins.build(component.kind, component.type, component.kwargs())
    except Exception:  # bad params: reported by validate's schema pass
        return True
    return callable(getattr(built, method, None))


def _kind_name(kind: str) -> str:
    return {"split": "splitter"}.get(kind, kind)
