"""tools/find-python: the interpreter `make install` builds the venv from (PATH, then pyenv, then uv)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "find-python"


def _executable(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


def _find(bin_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(bin_dir), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run([str(SCRIPT), "3.13"], env=env, capture_output=True, text=True, timeout=10, check=False)


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    """The only folder on PATH: the fakes a test adds, and links to what the script itself runs (a machine whose
    /usr/bin has a python3.13 must not answer for the fakes)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in ("bash", "env", "grep", "sort", "tail"):
        found = shutil.which(tool)
        assert found, tool
        (folder / tool).symlink_to(found)
    return folder


def test_a_python_on_path_wins(bin_dir: Path) -> None:
    python = _executable(bin_dir / "python3.13", "echo Python 3.13.0")
    _executable(bin_dir / "pyenv", "exit 1")
    assert _find(bin_dir).stdout.strip() == str(python)


def test_a_broken_shim_on_path_falls_back_to_pyenv_newest_patch(bin_dir: Path, tmp_path: Path) -> None:
    _executable(bin_dir / "python3.13", "exit 127")  # a pyenv shim whose version is not active
    root = tmp_path / "pyenv"
    for version in ("3.13.0", "3.13.2"):
        _executable(root / "versions" / version / "bin" / "python3.13", "echo Python")
    _executable(
        bin_dir / "pyenv",
        f'case "$1" in root) echo {root};; versions) printf "3.11.7\\n3.13.0\\n3.13.2\\n3.130.1\\n";; esac',
    )
    assert _find(bin_dir).stdout.strip() == str(root / "versions" / "3.13.2" / "bin" / "python3.13")


def test_uv_is_asked_when_neither_has_one(bin_dir: Path) -> None:
    _executable(bin_dir / "uv", 'echo "/opt/uv/cpython-3.13/bin/python3.13"')
    assert _find(bin_dir).stdout.strip() == "/opt/uv/cpython-3.13/bin/python3.13"


def test_none_found_says_what_to_install(bin_dir: Path) -> None:
    result = _find(bin_dir)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "python3.13 is needed" in result.stderr
    assert "pyenv install 3.13" in result.stderr
    assert "uv python install 3.13" in result.stderr
