"""requirements.lock, which `make` installs, pins every dependency pyproject.toml names
(with the dev extra) at a version pyproject.toml allows: the two cannot drift apart."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def pinned() -> dict[str, str]:
    found: dict[str, str] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, _, version = line.partition("==")
            found[canonicalize_name(Requirement(name.strip()).name)] = version.split(";")[0].strip()
    return found


def test_every_dependency_is_pinned_within_its_range() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    lock = pinned()
    for spec in map(Requirement, wanted):
        name = canonicalize_name(spec.name)
        assert name in lock, f"{spec.name} is not in requirements.lock: run make lock"
        assert spec.specifier.contains(lock[name], prereleases=True), (
            f"requirements.lock pins {spec.name}=={lock[name]}, outside {spec.specifier}: "
            "run make lock"
        )


def test_the_linters_are_pinned_exactly() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    dev: dict[str, str] = {
        str(canonicalize_name(Requirement(r).name)): r
        for r in project["optional-dependencies"]["dev"]
    }
    for tool in ("ruff", "mypy"):
        assert "==" in dev[tool], f"{tool} must be pinned in pyproject.toml"
