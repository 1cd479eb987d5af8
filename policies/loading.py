"""Reading catalog files: YAML without repeated keys, validated into `policies.format`.

Every problem is reported as a `CatalogIssue` naming the file, the path inside it
(`plans[2].targets.sev1.resolution`) and what is wrong; a `CatalogError` carries all of
them, across every file of a directory. A loaded catalog records its file's digest,
which every snapshot resolved from it carries.
"""

from __future__ import annotations

import difflib
import hashlib
import types
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from policies.format import Catalog, PolicyError, check_references

CATALOG_DIR = Path(__file__).parent / "catalogs"


@dataclass(frozen=True)
class CatalogIssue:
    """One problem in one catalog file."""

    file: str
    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.location}: {self.message}"


class CatalogError(PolicyError):
    """One or more catalog files are invalid; `issues` lists every problem found."""

    def __init__(self, issues: Sequence[CatalogIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


# --------------------------------------------------------------------------- reading files


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key repeated in one mapping (YAML keeps the last silently)."""


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode) -> Any:
    seen: set[object] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} appears twice in this mapping", key_node.start_mark
            )
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _mapping_without_duplicates,
)


def load_catalog(path: str | Path) -> Catalog:
    """Load and validate one catalog file; CatalogError lists every problem.

    Reference checks (`check_references`) run once the file matches the format, so a
    file with format errors is reported first for those.
    """
    path = Path(path)
    file = str(path)
    try:
        content = path.read_bytes()
    except OSError as error:
        raise CatalogError([CatalogIssue(file, "(file)", f"cannot read: {error}")]) from None
    try:
        data = yaml.load(content, Loader=_StrictLoader)
    except yaml.YAMLError as error:
        raise CatalogError([CatalogIssue(file, *_yaml_problem(error))]) from None
    if not isinstance(data, dict):
        raise CatalogError([CatalogIssue(file, "(top level)", "expected a mapping of fields")])
    try:
        catalog = Catalog.model_validate(data)
    except ValidationError as error:
        raise CatalogError(
            [CatalogIssue(file, _location(e["loc"]), _message(e)) for e in error.errors()]
        ) from None
    problems = list(check_references(catalog))
    if problems:
        raise CatalogError([CatalogIssue(file, where, what) for where, what in problems])
    catalog._digest = file_digest(content)
    catalog._path = path
    return catalog


def file_digest(content: bytes) -> str:
    """'sha256:<hex>' of a catalog file's bytes, as every snapshot resolved from it records."""
    return "sha256:" + hashlib.sha256(content).hexdigest()


def load_catalogs(directory: str | Path = CATALOG_DIR) -> dict[str, Catalog]:
    """Load every `*.yaml` file of a directory, keyed by catalog id.

    Raises CatalogError with the problems of every file, not only the first bad one.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise CatalogError([CatalogIssue(str(directory), "(directory)", "not a directory")])
    catalogs: dict[str, Catalog] = {}
    issues: list[CatalogIssue] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            catalog = load_catalog(path)
        except CatalogError as error:
            issues.extend(error.issues)
            continue
        if catalog.id in catalogs:
            other = catalogs[catalog.id].path
            message = f"catalog id {catalog.id!r} is also used by {other}"
            issues.append(CatalogIssue(str(path), "id", message))
            continue
        catalogs[catalog.id] = catalog
    if issues:
        raise CatalogError(issues)
    return catalogs


# --------------------------------------------------------------------------- problems as issues


def _yaml_problem(error: yaml.YAMLError) -> tuple[str, str]:
    mark = getattr(error, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
    problem = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    return where, f"YAML: {problem}" + (f" ({context})" if context else "")


def _location(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text or "(top level)"


def _message(error: Any) -> str:
    kind, msg, loc = error["type"], error["msg"], error["loc"]
    if kind == "extra_forbidden":
        allowed = _fields_at(loc[:-1])
        text = f"unknown field {loc[-1]!r}"
        if allowed:
            guess = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            text += f"; did you mean {guess[0]!r}?" if guess else ""
            text += f" (allowed: {', '.join(allowed)})"
        return text
    if kind == "missing":
        return "required field is missing"
    msg = msg.removeprefix("Value error, ")
    value = error.get("input")
    if kind not in ("value_error", "assertion_error") and isinstance(
        value, str | int | float | Decimal | date
    ):
        msg += f" (got {value!r})"
    return msg


def _fields_at(loc: Sequence[int | str]) -> list[str] | None:
    """Field names allowed at a location, walking the catalog models' annotations."""
    current: Any = Catalog
    for part in loc:
        current = _step(_unwrap(current), part)
        if current is None:
            return None
    model = _unwrap(current)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [field.alias or name for name, field in model.model_fields.items()]
    return None


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            options = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(options) != 1:
                return None
            annotation = options[0]
        else:
            return annotation


def _step(annotation: Any, part: int | str) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, field in annotation.model_fields.items():
            if part in (name, field.alias):
                return field.annotation
        return None
    origin = get_origin(annotation)
    if origin in (list, tuple) and isinstance(part, int):
        return get_args(annotation)[0]
    if origin is dict and isinstance(part, str):
        return get_args(annotation)[1]
    return None
