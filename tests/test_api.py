"""The notebook API: ``import servicemap as sm`` and docs/python-api.md."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import servicemap as sm
from servicemap.errors import DataQualityWarning

DOC = Path(__file__).resolve().parents[1] / "docs" / "python-api.md"
STUB = Path(sm.__file__).with_suffix(".pyi")


def _code_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_every_public_name_is_documented_in_python_api_md():
    documented = set(re.findall(r"^\| `(\w+)` \|", DOC.read_text(encoding="utf-8"), flags=re.M))
    assert documented == set(sm.__all__) - {"__version__"}


@pytest.mark.parametrize("name", [n for n in sm.__all__ if n != "__version__"])
def test_every_public_name_loads_and_has_a_docstring(name):
    value = getattr(sm, name)
    assert value.__doc__ and value.__doc__.strip()
    assert value.__module__.startswith("servicemap.")


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'no_such_thing'"):
        sm.no_such_thing  # noqa: B018


def test_the_type_stub_names_exactly_the_public_names():
    tree = ast.parse(STUB.read_text(encoding="utf-8"))
    imported = {
        alias.asname
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert imported == set(sm.__all__) - {"__version__"}
    modules = {
        alias.asname: node.module
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    for name, module in modules.items():
        assert getattr(sm, name).__module__ == module, name


def test_importing_the_package_loads_no_wing():
    code = (
        "import sys, servicemap; "
        "print(sorted(m for m in sys.modules if m.startswith('servicemap.')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_walk_through_runs(tmp_path, monkeypatch):
    """Every code block of docs/python-api.md runs, in order, in one namespace."""
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    with warnings.catch_warnings():
        # The bundled directory's data-quality warnings are expected in a notebook.
        warnings.simplefilter("ignore", DataQualityWarning)
        for block in _code_blocks():
            exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102
    joined = namespace["joined"]
    assert len(joined) == 43
    assert "gap_score" in joined.columns
    assert (tmp_path / "coverage.html").is_file()
    assert (tmp_path / "maps" / "index.html").is_file()
    public = namespace["public"]
    assert public.loc[public["confidential"], "postcode"].eq("").all()
