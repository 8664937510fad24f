"""The import contracts of ``make lint`` (import-linter, see pyproject.toml) hold, and
they catch what they exist for: a deliberate forbidden import makes them fail."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(src: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(src)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=src.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_tree_keeps_every_contract() -> None:
    result = _lint(ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("events/services.py", "from daylock.staging import seed", "No domain app imports"),
        (
            "core/services.py",
            "import daylock.testing.discord_emulator",
            "Only the composition root",
        ),
        ("config.py", "import daylock.guardrails", "a lower layer never imports"),
        ("guardrails.py", "import daylock.events.models", "a lower layer never imports"),
        ("core/services.py", "import daylock.accounts.permissions", "The core app imports no"),
        ("seeded_accounts.py", "import daylock.config", "a lower layer never imports"),
        ("seeded_accounts.py", "import daylock.staging.seed", "a lower layer never imports"),
    ],
)
def test_a_forbidden_import_breaks_the_lint(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    src = tmp_path / "src"
    shutil.copytree(
        ROOT / "src" / "daylock", src / "daylock", ignore=shutil.ignore_patterns("__pycache__")
    )
    target = src / "daylock" / module
    target.write_text(target.read_text() + f"\n{line}  # noqa\n")
    result = _lint(src)
    assert result.returncode != 0, result.stdout
    assert contract in result.stdout and "BROKEN" in result.stdout
