"""Build hook: fetch the portal's pinned, integrity-checked front-end files before packaging.

Everything else about the build is in pyproject.toml. ``build_py`` runs for wheels (and sdist to
wheel builds); editable installs get the same files from ``make`` (scripts/fetch-assets), which is
what this runs too. See docs/decisions/0006-portal-assets.md.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildPyWithAssets(build_py):
    def run(self) -> None:
        subprocess.run([sys.executable, str(ROOT / "scripts" / "fetch-assets")], check=True)
        super().run()


setup(cmdclass={"build_py": BuildPyWithAssets})
