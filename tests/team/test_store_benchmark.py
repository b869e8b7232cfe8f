"""benchmarks/store_backends.py's counted run patches the store plugins by name (to count
S3 requests, metadata statements and hashing): every name it patches must still exist,
or the benchmark fails after its timed runs (a rename of the S3 backend's hash function
broke it once, unnoticed until the benchmark was run again)."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytest.importorskip("boto3", reason="the s3 extra is not installed")
pytest.importorskip("psycopg", reason="the postgres extra is not installed")


def test_every_name_the_counted_run_patches_exists() -> None:
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        bench = importlib.import_module("store_backends")
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    modules = dict(re.findall(r"^import ([\w.]+) as (\w+)$", bench.BREAKDOWN, re.MULTILINE))
    aliases = {alias: importlib.import_module(name) for name, alias in modules.items()}
    assert set(aliases) == {"s3", "pg"}
    patched = re.findall(r"^(\w+)\.([\w.]+) = ", bench.BREAKDOWN, re.MULTILINE)
    assert len(patched) >= 4, patched
    for alias, path in patched:
        target = aliases[alias]
        for name in path.split("."):
            assert hasattr(target, name), f"{alias}.{path}: {name} is gone"
            target = getattr(target, name)
        assert callable(target), f"{alias}.{path} is not a function"
