"""Generate docs/plugin_reference.md from the code's own docstrings and types.

The plugin API reference is written by this module, never by hand, so it cannot
drift from the code: every name in ``framework.__all__`` and every hook in
``framework.hookspecs`` is listed with its signature, its fields (each with the
attribute docstring written right under it in the source) and its docstring.
``tests/test_docs.py`` regenerates the page and fails when the committed copy
differs. Regenerate with::

    python -m framework.docs_reference > docs/plugin_reference.md

Sources are read with :mod:`ast`, not imported objects' ``__annotations__``: the
annotations stay as written (``pd.DataFrame``, not a resolved class), nothing
heavy is imported, and field docstrings, which Python discards, are kept.
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GROUPS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    (
        "Every component",
        "every-component",
        "What every component receives, and what its optional `validate(ctx)` returns.",
        ("StepContext", "Finding", "KINDS", "TASKS"),
    ),
    (
        "Registration and hooks",
        "registration-and-hooks",
        "How a plugin announces itself; the hooks are listed under [Hooks](#hooks) below.",
        ("hookimpl", "Register", "HOOK_API_VERSION"),
    ),
    ("Sources", "sources", "Kind `source`, named by `data.source`.", ("Source",)),
    (
        "Checks",
        "checks",
        "Kind `check`, named by `checks:` and `monitor.checks`.",
        ("Check", "CheckOutcome"),
    ),
    ("Splitters", "splitters", "Kind `split`, named by `split:`.", ("Splitter",)),
    ("Transforms", "transforms", "Kind `transform`, named by `preprocess:`.", ("Transform",)),
    (
        "Models",
        "models",
        "Kind `model`, named by `model:`; saved with safe formats only.",
        ("Model", "save_skops", "load_skops"),
    ),
    ("Metrics", "metrics", "Kind `metric`, named by the keys of `gate:`.", ("Metric",)),
    (
        "Deploy targets",
        "deploy-targets",
        "Kind `deploy`, named by `deploy:`; run only after the gate passed.",
        (
            "DeployTarget",
            "Release",
            "DeployOutcome",
            "replace_directory",
            "write_release_package",
            "deploy_path_findings",
            "protected_refusal",
            "deploy_file_findings",
            "file_refusal",
            "mark_file",
            "DEPLOY_MARKER",
        ),
    ),
    (
        "Drift tests",
        "drift-tests",
        "Kind `drift_test`, named by `monitor.drift`.",
        ("DriftTest", "DriftResult", "ColumnProfile"),
    ),
    (
        "Runtimes",
        "runtimes",
        "Kind `runtime`, named by `serve.runtime` / `--runtime`; verified at registration "
        "(docs/runtimes.md).",
        (
            "Runtime",
            "Scorer",
            "RawColumns",
            "Tolerance",
            "EXACT",
            "FLOAT32",
            "RuntimeUnavailable",
            "Verdict",
            "ModelPackage",
            "Predictions",
            "category_coder",
            "native_scorer",
        ),
    ),
    (
        "Lifecycle events",
        "lifecycle-events",
        "What trackers and other observers receive from the lifecycle hooks.",
        ("RunInfo", "StepInfo", "STEPS"),
    ),
    (
        "Errors",
        "errors",
        "Raise these for bad input: the user sees the message and exit code 2, "
        "no traceback. Any other exception is reported as a bug in your plugin.",
        ("UserError", "DataError", "SpecError", "StoreError", "Problem"),
    ),
    (
        "Data helpers",
        "data-helpers",
        "What the built-in sources and transforms use; reuse them for the same behaviour.",
        (
            "role_of",
            "columns_with_role",
            "text_as_categories",
            "did_you_mean",
            "check_csv_header",
            "check_parquet_whole",
            "check_parquet_text",
            "bounded_glob",
            "parquet_files",
            "decimals_as_floats",
            "refuse_huge_integers",
            "rows_as_frame",
            "require_regular",
        ),
    ),
    (
        "Stored models and data",
        "stored-models-and-data",
        "For tools built on a store.",
        ("read_snapshot", "score_file", "__version__"),
    ),
)
"""(title, anchor, introduction, names) per section, in the page's order."""

EXECUTION_GROUP: tuple[str, str, str, tuple[str, ...]] = (
    "Execution engines",
    "execution-engines",
    "Kind `execution`, named by `execution:`; imported from `framework.execution` "
    "(`from framework.execution import Executor, Scope, ...`), the public API for "
    "executor plugins. The guide: [Execution engines](plugins.md#execution-engines).",
    (
        "Executor",
        "Scope",
        "Table",
        "Split",
        "Prepared",
        "Evaluation",
        "RowsRecord",
        "build_executor",
        "executor_for",
        "content_rule",
        "ContentRule",
        "content_split",
        "require_both_sides",
        "require_two_classes",
        "DEFAULT",
        "KIND",
    ),
)
"""The section for ``framework.execution``'s names (not re-exported by ``framework``)."""

ALIASES = {"DEPLOY_MARKER": "MARKER"}
"""Names ``framework`` exports under another name than their module's."""

ROLE = re.compile(r":(?:class|func|meth|attr|data|mod|exc):`~?([^`]+)`")


def markdown(doc: str | None) -> str:
    """reStructuredText-ish docstrings as Markdown: roles and double backticks become code."""
    if not doc:
        return ""
    text = ROLE.sub(r"`\1`", inspect.cleandoc(doc))
    text = text.replace("``", "`")
    return re.sub(r"::\n", ":\n", text)


@dataclass(frozen=True)
class Field:
    """One annotated attribute of a class, as written in its source."""

    name: str
    annotation: str
    default: str | None
    doc: str


def _default(node: ast.expr | None) -> str | None:
    if node is None:
        return None
    if isinstance(node, ast.Call) and ast.unparse(node.func) == "field":
        for keyword in node.keywords:
            if keyword.arg == "default_factory":
                factory = ast.unparse(keyword.value)
                return {"dict": "{}", "list": "[]"}.get(factory, f"{factory}()")
            if keyword.arg == "default":
                return ast.unparse(keyword.value)
        return None
    return ast.unparse(node)


def _docstring_after(body: list[ast.stmt], index: int) -> str:
    following = body[index + 1] if index + 1 < len(body) else None
    if (
        isinstance(following, ast.Expr)
        and isinstance(following.value, ast.Constant)
        and isinstance(following.value.value, str)
    ):
        return following.value.value
    return ""


def fields(node: ast.ClassDef) -> list[Field]:
    """Annotated class attributes in source order, each with the docstring under it."""
    found = []
    for index, statement in enumerate(node.body):
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            annotation = ast.unparse(statement.annotation)
            if annotation.startswith("ClassVar"):
                continue
            found.append(
                Field(
                    statement.target.id,
                    annotation,
                    _default(statement.value),
                    _docstring_after(node.body, index),
                )
            )
    return found


def signature(node: ast.FunctionDef, *, drop_self: bool = False) -> str:
    """``(arg: type = default, *, key: type) -> result`` as written in the source."""
    args = node.args
    parts: list[str] = []
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    for arg, default in zip(positional, defaults, strict=True):
        parts.append(_arg(arg, default))
    if drop_self and parts and positional[0].arg in ("self", "cls"):
        parts.pop(0)
    if args.vararg:
        parts.append("*" + _arg(args.vararg, None))
    elif args.kwonlyargs:
        parts.append("*")
    for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        parts.append(_arg(arg, default))
    if args.kwarg:
        parts.append("**" + _arg(args.kwarg, None))
    result = f" -> {ast.unparse(node.returns)}" if node.returns else ""
    return f"({', '.join(parts)}){result}"


def _arg(arg: ast.arg, default: ast.expr | None) -> str:
    text = arg.arg + (f": {ast.unparse(arg.annotation)}" if arg.annotation else "")
    if default is not None:
        text += f" = {ast.unparse(default)}" if arg.annotation else f"={ast.unparse(default)}"
    return text


_trees: dict[str, ast.Module] = {}


def _tree(module: str) -> ast.Module:
    if module not in _trees:
        source = Path(inspect.getfile(sys.modules[module])).read_text(encoding="utf-8")
        _trees[module] = ast.parse(source)
    return _trees[module]


def _definition(module: str, name: str) -> ast.stmt | None:
    for node in _tree(module).body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef) and node.name == name:
            return node
    return None


def _constant_doc(module: str, name: str) -> str:
    """The docstring written under a module-level constant, if any."""
    body = _tree(module).body
    for index, node in enumerate(body):
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return _docstring_after(body, index)
    return ""


def _methods(node: ast.ClassDef) -> Iterator[ast.FunctionDef]:
    for statement in node.body:
        if not isinstance(statement, ast.FunctionDef):
            continue
        if not statement.name.startswith("_") or statement.name == "__call__":
            yield statement


def _decorators(node: ast.FunctionDef) -> list[str]:
    return [ast.unparse(d) for d in node.decorator_list]


def render_class(name: str, obj: type) -> list[str]:
    node = _definition(obj.__module__, obj.__qualname__)
    if node is None:  # a class a module re-exports from another one
        node = _definition(obj.__module__, name)
    assert isinstance(node, ast.ClassDef), f"{name}: no class definition found"
    decorators = [ast.unparse(d).split("(")[0] for d in node.decorator_list]
    bases = [ast.unparse(b) for b in node.bases]
    if name == "Register":
        what = "protocol: the signature of the `register` callback"
    elif "Protocol" in bases:
        what = "protocol: a component needs these attributes and methods, not a base class"
    elif issubclass(obj, BaseException):
        what = "exception, subclass of " + ", ".join(f"`{b}`" for b in bases)
    elif "dataclass" in decorators:
        what = "dataclass"
    else:
        what = "class"
    if "dataclass" in decorators and what != "dataclass":
        what += ", dataclass"
    if any("frozen=True" in ast.unparse(d) for d in node.decorator_list):
        what += ", frozen"
    lines = [f"### `{name}`", "", f"*{what}* — `{obj.__module__}.{obj.__qualname__}`", ""]
    doc = markdown(ast.get_docstring(node, clean=False))
    if doc:
        lines += [doc, ""]
    init = next(
        (s for s in node.body if isinstance(s, ast.FunctionDef) and s.name == "__init__"), None
    )
    if init is not None and "Protocol" not in bases:
        lines += [f"`{name}{signature(init, drop_self=True)}`", ""]
    elif "dataclass" in decorators and "Protocol" not in bases:
        lines += [f"`{name}({_dataclass_arguments(fields(node))})`", ""]
    members = fields(node)
    if members:
        lines += ["| field | type | default | meaning |", "| --- | --- | --- | --- |"]
        for member in members:
            default = "—" if member.default is None else f"`{member.default}`"
            meaning = " ".join(markdown(member.doc).split()).replace("|", "\\|")
            annotation = member.annotation.replace("|", "\\|")
            lines.append(f"| `{member.name}` | `{annotation}` | {default} | {meaning} |")
        lines.append("")
    for method in _methods(node):
        marks = _decorators(method)
        prefix = "classmethod " if "classmethod" in marks else ""
        prefix = "property " if "property" in marks else prefix
        drop = "staticmethod" not in marks
        shown = "register" if method.name == "__call__" else method.name
        lines += [f"- {prefix}`{shown}{signature(method, drop_self=drop)}`"]
        method_doc = markdown(ast.get_docstring(method, clean=False))
        if method_doc:
            lines += ["", *("  " + line if line else "" for line in method_doc.splitlines())]
        lines.append("")
    return lines


def _dataclass_arguments(members: list[Field]) -> str:
    return ", ".join(
        member.name if member.default is None else f"{member.name}={member.default}"
        for member in members
    )


def render_function(name: str, obj: Any) -> list[str]:
    node = _definition(obj.__module__, obj.__name__)
    assert isinstance(node, ast.FunctionDef), f"{name}: no function definition found"
    lines = [f"### `{name}`", "", f"`{name}{signature(node)}` — `{obj.__module__}`", ""]
    doc = markdown(ast.get_docstring(node, clean=False))
    return lines + ([doc, ""] if doc else [])


def render_constant(name: str, obj: Any, module: str) -> list[str]:
    lines = [f"### `{name}`", ""]
    if name == "__version__":
        lines += ["The installed specops version, a string (`framework.__version__`).", ""]
        return lines
    lines += [f"`{name} = {obj!r}` — `{module}`", ""]
    doc = markdown(_constant_doc(module, ALIASES.get(name, name)))
    return lines + ([doc, ""] if doc else [])


def _home_of_constant(name: str) -> str:
    """The module that assigns a re-exported constant (``framework`` itself if none)."""
    import framework

    candidates = ("framework.components", "framework.events", "framework.hookspecs")
    for module in candidates:
        if _constant_doc(module, name) or hasattr(sys.modules.get(module), name):
            return module
    if name in ALIASES:
        return "framework.ownership"
    return framework.__name__


def render_name(name: str, home: str = "framework") -> list[str]:
    import importlib

    module = importlib.import_module(home)
    obj = getattr(module, name)
    if name == "hookimpl":
        return [
            "### `hookimpl`",
            "",
            "`framework.hookimpl` — pluggy's marker for the project `specops`.",
            "",
            markdown(_constant_doc("framework.hookspecs", "hookimpl")),
            "",
        ]
    if inspect.isclass(obj):
        return render_class(name, obj)
    if inspect.isfunction(obj):
        return render_function(name, obj)
    return render_constant(name, obj, _home_of_constant(name) if home == "framework" else home)


def render_hooks() -> list[str]:
    from framework import hookspecs

    lines = ["## Hooks", "", markdown(hookspecs.__doc__), ""]
    for node in _tree("framework.hookspecs").body:
        if not (isinstance(node, ast.FunctionDef) and node.name.startswith("specops_")):
            continue
        first = "firstresult=True" in " ".join(_decorators(node))
        lines += [f"### `{node.name}`", "", f"`{node.name}{signature(node)}`", ""]
        if first:
            lines += ["*firstresult*: the first non-None result wins.", ""]
        lines += [markdown(ast.get_docstring(node, clean=False)), ""]
    return lines


def render() -> str:
    """The whole reference page, deterministic for a given source tree."""
    import framework

    public = [n for n in framework.__all__]
    placed = {name for *_, names in GROUPS for name in names}
    unknown = sorted(placed - set(public))
    if unknown:
        raise ValueError(f"GROUPS names what framework does not export: {', '.join(unknown)}")
    groups = list(GROUPS)
    rest = tuple(sorted(n for n in public if n not in placed))
    if rest:
        groups.append(("Other names", "other-names", "Exported, not yet grouped.", rest))
    lines = [
        "# Plugin API reference",
        "",
        "<!-- Generated by `python -m framework.docs_reference > docs/plugin_reference.md`;",
        "     do not edit: tests/test_docs.py fails when this page and the code disagree. -->",
        "",
        "Everything a plugin imports comes from `framework` (`from framework import ...`);",
        "this page lists all of it, with the hooks a plugin implements. The guide with a",
        "complete example per component kind is [plugins.md](plugins.md).",
        "",
        "Contents: "
        + " · ".join(f"[{title}](#{anchor})" for title, anchor, _, _ in [*groups, EXECUTION_GROUP])
        + " · [Hooks](#hooks)",
        "",
    ]
    for title, _anchor, intro, names in groups:
        lines += [f"## {title}", "", intro, ""]
        for name in names:
            lines += render_name(name)
    title, _anchor, intro, names = EXECUTION_GROUP
    lines += [f"## {title}", "", intro, ""]
    for name in names:
        lines += render_name(name, "framework.execution")
    lines += render_hooks()
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
