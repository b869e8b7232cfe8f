"""Where the training rows sit on the cluster, decided by partition index, not by the scheduler.

LightGBM's data-parallel training (``lightgbm.dask``) gives each worker the partitions
it happens to hold: each worker finds the histogram bins of its share of the features
from its own rows, and a worker's rank is its place in the ``machines`` list. So the
same rows trained twice can give two different models when the scheduler put the
partitions elsewhere the second time (``specops reproduce`` then reports a different
model). Here the placement is a rule: partition ``i`` goes to group ``i mod n``,
concatenated in partition order, and group ``j`` trains as rank ``j``, so the same data
on the same number of workers gives the same rows on each rank, in the same order. A
group is held by the worker that already holds most of its partitions (the machine does
not matter to the model, only the rank does), so the rows rarely move::

    placed = place(client, [X, y, weights], workers=None) -> Placement
    placed.collections   # the collections, one partition per worker, held there
    placed.workers       # group j's worker at j; len() is the count to record
    RankedClient(client, placed.workers)  # the client to hand lightgbm.dask: rank j
                                          # is placed.workers[j], training group j

Each group is computed once on its worker and held there (``allow_other_workers=False``):
the tasks LightGBM adds on top of it (it packs each partition's X, y and weights) depend
only on data held by that worker, so the scheduler usually runs them there (and where it
does not, the rank below does not follow it).

The rank is the other half: lightgbm.dask lists its machines (and so numbers its ranks,
which decide who finds the bins of which features and the order histograms are summed)
in the order ``Client.who_has`` returns its parts, and trains each part on the worker
named there. distributed returns them in the order of a set of random task keys, and a
part (a new task wrapping a group) may have been run or copied on another worker than
its group's. :class:`RankedClient` answers with the placement: part ``j`` on
``workers[j]``, in partition order, so rank ``j`` is the worker holding group ``j``
whatever the cluster's addresses, ports or scheduling (two LocalClusters started apart
write the same model).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Placement:
    """Collections regrouped one partition per worker, and the workers, in rank order."""

    collections: list[Any]
    workers: list[str]
    futures: list[list[Any]]
    """Per collection, its groups' futures (group ``j`` held on ``workers[j]``)."""


def sorted_workers(client: Any) -> list[str]:
    """The cluster's worker addresses, sorted: rank ``j`` is the ``j``-th of them."""
    return sorted(client.scheduler_info(n_workers=-1)["workers"])


def groups(partitions: int, workers: int) -> list[list[int]]:
    """Partition indices per worker: ``i`` goes to ``i mod workers`` (at most as many
    groups as partitions, so no worker is left with no rows)."""
    count = min(partitions, workers)
    return [list(range(j, partitions, count)) for j in range(count)]


def place(
    client: Any, collections: Sequence[Any], workers: Sequence[str] | None = None
) -> Placement:
    """``collections`` (dask DataFrames/Series partitioned alike) regrouped by
    :func:`groups`, one group per worker of ``workers`` (default: every worker); each
    group is the partitions concatenated in index order, computed on its worker and kept
    there. The originals are left as they were (release them to free their memory).

    Group ``j`` goes to the worker that already holds most of its partitions (ties and
    groups whose rows are elsewhere: the next free worker by address). Which machine
    holds a group does not change the model (rank ``j`` is group ``j`` wherever it
    sits, see :class:`RankedClient`); moving every training row to a worker chosen by
    address alone cost a transfer of the whole training split in half the runs."""
    import dask
    import dask.dataframe as dd
    from distributed import wait

    addresses = sorted(workers) if workers is not None else sorted_workers(client)
    if not addresses:
        raise RuntimeError("the Dask cluster has no workers")
    counts = {collection.npartitions for collection in collections}
    if len(counts) != 1:
        raise ValueError(f"the collections are partitioned differently: {sorted(counts)}")
    plan = groups(counts.pop(), len(addresses))
    # each partition computed where the scheduler finds its input (no move), then looked up
    computed = [client.compute(collection.to_delayed()) for collection in collections]
    wait([future for futures in computed for future in futures])
    _raise_errors([future for futures in computed for future in futures])
    owners = _owners(client, computed[0], plan, addresses)
    placed = []
    for collection, parts in zip(collections, computed, strict=True):
        futures = [
            client.compute(
                dask.delayed(_concat)(*[parts[i] for i in indices]),
                workers=[address],
                allow_other_workers=False,
            )
            for indices, address in zip(plan, owners, strict=True)
        ]
        placed.append((collection, futures))
    everything = [future for _, futures in placed for future in futures]
    wait(everything)
    _raise_errors(everything)
    del computed  # the groups hold the rows now
    return Placement(
        collections=[
            dd.from_delayed(futures, meta=collection._meta, verify_meta=False)
            for collection, futures in placed
        ],
        workers=list(owners),
        futures=[futures for _, futures in placed],
    )


def _owners(
    client: Any, parts: list[Any], plan: list[list[int]], addresses: list[str]
) -> list[str]:
    """The worker for each group: the free one of ``addresses`` holding most of the
    group's partitions (``parts``: futures), else the first free one by address."""
    where = client.who_has(parts)
    free = list(addresses)
    owners: list[str] = []
    for indices in plan:
        held: dict[str, int] = {}
        for i in indices:
            for worker in where.get(parts[i].key, ()):
                if worker in free:
                    held[worker] = held.get(worker, 0) + 1
        best = max(free, key=lambda worker: (held.get(worker, 0), -free.index(worker)))
        owners.append(best)
        free.remove(best)
    return owners


def _raise_errors(futures: list[Any]) -> None:
    for future in futures:
        if future.status == "error":
            future.result()  # raises the task's own error here, not inside LightGBM


def _concat(*parts: Any) -> Any:
    import pandas as pd

    return parts[0] if len(parts) == 1 else pd.concat(parts)


class RankedClient:
    """``client`` with one difference: :meth:`who_has` answers in the order given and,
    for one future per placed group (LightGBM's parts, in partition order), names the
    group's worker, so lightgbm.dask, which ranks its machines in that order and trains
    each part where ``who_has`` names, makes rank ``j`` the worker holding group ``j``.
    Everything else is the client's own."""

    def __init__(self, client: Any, workers: Sequence[str] | None = None) -> None:
        self._client = client
        self._workers = list(workers) if workers is not None else None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def who_has(self, futures: Any = None, **kwargs: Any) -> dict[Any, Any]:
        """Where each future trains. LightGBM's part ``j`` is a new task wrapping group
        ``j``: the scheduler may run it, or copy it, on another worker (a busy worker's
        task is stolen), and the real answer would then rank that worker, or give two
        parts one machine. The placement's worker is named instead; LightGBM's
        training task there fetches the part if it is elsewhere."""
        if futures is None:
            return self._client.who_has(None, **kwargs)
        futures = list(futures)
        if self._workers is not None and len(futures) == len(self._workers):
            return {
                future.key: [worker] for future, worker in zip(futures, self._workers, strict=True)
            }
        found = self._client.who_has(futures, **kwargs)
        return {future.key: found[future.key] for future in futures}
