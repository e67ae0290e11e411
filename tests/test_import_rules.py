"""No module of the three packages imports a private (``_name``) module or name of another
package: what crosses a package boundary is public API. Parsed with ``ast``, so imports
inside functions count too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("hpt_data", "hpt_model", "pipelines")


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_imports(source: str, package: str) -> list[str]:
    """``line module names`` for each import in ``source`` (a module of ``package``) of a
    private module or name of another of :data:`PACKAGES`."""
    tree = ast.parse(source)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [(node.module, [a.name for a in node.names])]
        elif isinstance(node, ast.Import):
            modules = [(a.name, []) for a in node.names]
        else:
            continue
        for module, names in modules:
            parts = module.split(".")
            if parts[0] not in PACKAGES or parts[0] == package:
                continue
            bad = [p for p in parts if _private(p)] + [n for n in names if _private(n)]
            if bad:
                found.append(f"{node.lineno} {module} {', '.join(bad)}")
    return found


def test_the_checker_sees_private_imports_at_any_depth() -> None:
    source = (
        "from hpt_model.data.pairs import _helper, public\n"
        "def f():\n"
        "    from hpt_data.stages._frames_io import read_index\n"
        "    import hpt_data._secret\n"
        "from pipelines._x import y\n"  # its own package: allowed
        "from hpt_data.errors import __doc__\n"
    )
    assert private_imports(source, "pipelines") == [
        "1 hpt_model.data.pairs _helper",
        "3 hpt_data.stages._frames_io _frames_io",
        "4 hpt_data._secret _secret",
    ]


@pytest.mark.parametrize("package", PACKAGES)
def test_no_private_name_crosses_a_package_boundary(package: str) -> None:
    found = [
        f"{path.relative_to(ROOT)}:{hit}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for hit in private_imports(path.read_text(encoding="utf-8"), package)
    ]
    assert not found, "\n".join(found)
