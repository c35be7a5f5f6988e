"""The wheel and sdist built from this checkout hold what users and packagers need: the
licence text, ``py.typed``, the metadata PyPI shows, and no test code in the wheel.

Built once per session with ``python -m build --no-isolation`` (hatchling from the test
extra; ~1 s, no network)."""

from __future__ import annotations

import email
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out),
                    str(ROOT)], check=True, capture_output=True, text=True, timeout=300)
    return out


def _wheel(dist: Path) -> zipfile.ZipFile:
    (path,) = dist.glob("tripwire_otel-*.whl")
    return zipfile.ZipFile(path)


def _metadata(wheel: zipfile.ZipFile) -> email.message.Message:
    (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    return email.message_from_bytes(wheel.read(name))


def test_wheel_holds_licence_and_py_typed_and_no_tests(dist: Path) -> None:
    wheel = _wheel(dist)
    names = wheel.namelist()
    (licence,) = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
    assert wheel.read(licence) == (ROOT / "LICENSE").read_bytes()
    assert b"Apache License" in wheel.read(licence) and b"Version 2.0" in wheel.read(licence)
    assert "tripwire/py.typed" in names
    assert not [n for n in names if n.startswith(("tests/", "tripwire/tests/"))
                or "/tests/" in n or "__pycache__" in n or n.endswith(".pyc")]
    assert "tripwire/testing/openai_server.py" in names  # the public test helpers are shipped


def test_wheel_metadata(dist: Path) -> None:
    meta = _metadata(_wheel(dist))
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta.get_all("License-File") == ["LICENSE"]
    classifiers = meta.get_all("Classifier")
    assert "Typing :: Typed" in classifiers
    assert any(c.startswith("Programming Language :: Python :: 3.") for c in classifiers)
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL"))
    assert {"Homepage", "Source", "Issues", "Changelog"} <= urls.keys()
    assert "opentelemetry" in meta["Keywords"].split(",")
    # The 78 MB tokenizer data is an extra, not a hard dependency.
    hard = [r for r in meta.get_all("Requires-Dist") if ";" not in r]
    assert not [r for r in hard if r.startswith(("bpe-openai", "tiktoken"))]
    assert "bpe-openai>=0.1; extra == 'tokens'" in meta.get_all("Requires-Dist")


def test_wheel_does_not_register_a_pytest_plugin(dist: Path) -> None:
    wheel = _wheel(dist)
    (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    entry_points = wheel.read(name).decode()
    assert "[pytest11]" not in entry_points
    assert "[opentelemetry_distro]" in entry_points


def test_sdist_holds_licence_sources_and_no_caches(dist: Path) -> None:
    (path,) = dist.glob("tripwire_otel-*.tar.gz")
    with tarfile.open(path) as sdist:
        names = [n.split("/", 1)[1] for n in sdist.getnames() if "/" in n]
    assert "LICENSE" in names and "PKG-INFO" in names and "pyproject.toml" in names
    assert "src/tripwire/py.typed" in names
    assert "src/tripwire/__init__.py" in names
    assert not [n for n in names if "__pycache__" in n or n.startswith((".venv", ".git/"))
                or n.endswith(".pyc")]
