"""References as users write them: models (``NAME``, ``NAME@ALIAS`` or ``NAME/VERSION``)
and runs (an id or a unique prefix of one).

``NAME`` alone means the champion. Resolving a reference that points nowhere is
bad input (exit 2) and says what does exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from framework.errors import StoreError, UserError
from framework.store import CHAMPION, ModelVersion, Store, StoreAddress
from framework.store.store import RunRecord
from framework.suggest import did_you_mean

ALIAS = r"[a-z][a-z0-9_-]*"
ALIAS_PATTERN = re.compile(rf"^{ALIAS}$")
REF_PATTERN = re.compile(
    rf"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:@(?P<alias>{ALIAS})|/(?P<version>\d+))?$"
)


@dataclass(frozen=True)
class ModelRef:
    name: str
    alias: str | None = None
    version: int | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}/{self.version}"
        return f"{self.name}@{self.alias or CHAMPION}"


def parse_ref(text: str) -> ModelRef:
    """Parse a reference; ``NAME`` means ``NAME@champion``."""
    match = REF_PATTERN.match(text.strip())
    if not match:
        raise UserError(f"not a model reference: {text!r}; write NAME, NAME@ALIAS or NAME/VERSION")
    version = match.group("version")
    return ModelRef(
        match.group("name"),
        alias=match.group("alias") or (None if version else CHAMPION),
        version=int(version) if version else None,
    )


def resolve(store: Store, ref: ModelRef | str) -> ModelVersion:
    """The stored version a reference points at, or a StoreError naming what exists."""
    ref = parse_ref(ref) if isinstance(ref, str) else ref
    names = store.model_names()
    if ref.name not in names:
        raise StoreError(
            f"no model named '{ref.name}' in {store.display_url}{did_you_mean(ref.name, names)}; "
            f"models: {', '.join(names) or 'none yet'}"
        )
    number = ref.version if ref.version is not None else store.alias(ref.name, ref.alias or "")
    if number is None:
        aliases = store.aliases(ref.name)
        known = ", ".join(f"@{a} -> {v}" for a, v in sorted(aliases.items())) or "none"
        raise StoreError(f"model '{ref.name}' has no alias '{ref.alias}'; aliases: {known}")
    found = store.version(ref.name, number)
    if found is None:
        versions = [str(v) for v in store.version_numbers(ref.name)]
        raise StoreError(
            f"model '{ref.name}' has no version {number}; versions: {', '.join(versions)}"
        )
    return found


RECENT_RUNS = 5  # listed when a run id is unknown or ambiguous


def find_run(store: Store, text: str) -> RunRecord:
    """A run by its id or a unique prefix; unknown or ambiguous is bad input (exit 2)."""
    text = text.strip()
    exact = store.run(text)
    if exact is not None:
        return exact
    matches = store.run_ids(text) if text else []
    if len(matches) == 1:
        found = store.run(matches[0])
        assert found is not None
        return found
    if matches:
        shown = ", ".join(matches[:RECENT_RUNS]) + (" ..." if len(matches) > RECENT_RUNS else "")
        raise StoreError(
            f"run id prefix '{text}' is ambiguous: {len(matches)} runs match ({shown}); "
            "give more characters"
        )
    recent = store.run_ids()[:RECENT_RUNS]
    raise StoreError(
        f"no run '{text}' in {store.display_url}; "
        f"most recent runs: {', '.join(recent) or 'none yet'}"
    )


def store_root(argument: str | None, artifacts: str | None = None) -> Path:
    """The local directory of the store a command reads: --store (a directory or a
    URL), else $SPECOPS_STORE, else the nearest .specops. For a URL (a shared store)
    that directory is the local workdir (scratch, caches, server records), and
    ``Store(directory)`` in this process opens the shared store it stands for."""
    return store_address(argument, artifacts).workdir


def store_address(argument: str | None, artifacts: str | None = None) -> StoreAddress:
    """Where the store a command reads is: --store URL|DIR, else $SPECOPS_STORE, else the
    nearest .specops; --artifacts URL, else $SPECOPS_ARTIFACTS, else the recorded one."""
    from framework.store.addressing import command_address, use_address

    address = command_address(argument, artifacts=artifacts)
    use_address(address)
    return address
