"""The ``batch`` deploy target: score a file with the version the run just released.

The last step of ``specops run`` then leaves predictions next to the model, with
the same checks, chunking and all-or-nothing output as ``specops predict``, computed by
the runtime the spec's ``serve.runtime`` asks for (see :func:`_serve_runtime`). Unlike
``specops predict --output``, where a person names the file at the prompt, ``output``
comes from a spec that runs again and again (and from monitor-triggered retraining),
so it only ever replaces a file this target wrote: see framework/ownership.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from framework import (
    DataError,
    DeployOutcome,
    Finding,
    Register,
    Release,
    StepContext,
    UserError,
    bounded_glob,
    deploy_file_findings,
    file_refusal,
    hookimpl,
    mark_file,
    output_inside_input,
    protected_refusal,
    score_file,
)

OUTPUT_SUFFIXES = (".csv", ".parquet", ".pq")

BATCH_PARAMS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["input", "output"],
    "properties": {
        "input": {
            "description": "The rows to score: a CSV or Parquet file, a directory of "
            "Parquet files, or a glob of CSV or Parquet files (data/day=*/*.parquet); "
            "relative to the spec. Scored file by file, chunk by chunk, into one output.",
            "type": "string",
            "minLength": 1,
        },
        "output": {
            "description": "Where to write the predictions (.csv or .parquet); relative to "
            "the spec. Written in full or not at all, and only over a file this target wrote.",
            "type": "string",
            "minLength": 1,
        },
        "id_column": {
            "description": "A column copied from the input to the output, to join on later.",
            "type": "string",
            "minLength": 1,
        },
        "chunk_rows": {
            "description": "Rows scored at a time; bounds memory.",
            "type": "integer",
            "minimum": 1,
            "maximum": 10_000_000,
            "default": 100000,
        },
    },
}


class BatchTarget:
    """Score ``input`` with the released version and write ``output``."""

    def __init__(
        self,
        input: str,
        output: str,
        id_column: str | None = None,
        chunk_rows: int = 100_000,
    ) -> None:
        self.input = input
        self.output = output
        self.id_column = id_column
        self.chunk_rows = chunk_rows

    def validate(self, ctx: StepContext) -> list[Finding]:
        findings = []
        source = ctx.path(self.input)
        try:
            found = source.exists() or _matches(source)
        except DataError as exc:  # a glob past its bounds: said, not walked further
            findings.append(Finding(exc.message, key="input", hint=exc.hint))
            found = True
        if not found:
            what = "matches no file" if _is_glob(self.input) else "not found"
            findings.append(
                Finding(
                    f"batch input {what}: {source}",
                    key="input",
                    hint="paths are relative to the spec file",
                )
            )
        if Path(self.output).suffix.lower() not in OUTPUT_SUFFIXES:
            findings.append(
                Finding(
                    f"batch output must end in {', '.join(OUTPUT_SUFFIXES)}: {self.output}",
                    key="output",
                )
            )
        else:
            findings += deploy_file_findings(ctx.path(self.output), ctx, key="output")
        inside = output_inside_input(ctx.path(self.output), source)
        if inside:
            findings.append(Finding(inside, key="output", hint="write it outside the input"))
        return findings

    def deploy(self, release: Release, ctx: StepContext) -> DeployOutcome:
        output = ctx.path(self.output)
        refusal = protected_refusal(output, ctx) or file_refusal(output, ctx.run_id)
        if refusal:
            raise UserError(refusal)
        result = score_file(
            release.load(),
            ctx.path(self.input),
            output,
            id_column=self.id_column,
            chunk_rows=self.chunk_rows,
            runtime=_serve_runtime(release),
        )
        owner = {"target": "batch", "model": release.name, "version": release.version}
        mark_file(output, {**owner, "run_id": ctx.run_id})
        summary = (
            f"scored {result.rows:,} rows with {release.name}/{release.version} "
            f"({result.rows_per_second:,.0f} rows/s) -> {result.output}"
        )
        if result.ignored_columns:
            summary += f"; ignored columns: {', '.join(result.ignored_columns)}"
        return DeployOutcome(summary, location=str(result.output))


def _serve_runtime(release: Release) -> str | None:
    """The spec's ``serve.runtime``: the runtime registration verified for this version
    and that scores its batch (the fastest in rows/s under ``auto``); None when the spec
    does not say, which is the version's own recorded choice."""
    serve = (release.spec_document or {}).get("serve")
    runtime = serve.get("runtime") if isinstance(serve, dict) else None
    return runtime if isinstance(runtime, str) and runtime else None


def _is_glob(text: str) -> bool:
    return any(character in text for character in "*?[")


def _matches(pattern: Path) -> bool:
    """Whether a glob input matches a file (a plain path that does not exist does not).
    The walk is bounded and never follows a link for ``**`` (``bounded_glob``): past its
    bounds a DataError, which validate reports as a finding."""
    if not _is_glob(str(pattern)):
        return False
    return any(Path(p).is_file() for p in bounded_glob(str(pattern)))


@hookimpl
def specops_register_deploy_targets(register: Register) -> None:
    register(
        "batch",
        BatchTarget,
        BATCH_PARAMS,
        summary="Score CSV or Parquet files with the new version and write their predictions",
    )
