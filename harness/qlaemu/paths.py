"""Well-known locations of the project.

REPO       the checkout this package lives in.
BUILD_DIR  per-checkout build products (QEMU source tree with our overlay, QEMU
           build directory, guest images); git-ignored.
CACHE_DIR  downloads shared by every checkout on the machine (Debian source and
           binary packages); ``$QLAEMU_CACHE`` or ``~/.cache/qlaemu``.
ARTIFACTS_DIR  each run's files (``$QLAEMU_ARTIFACTS``, BUILD_DIR/artifacts).
"""
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD_DIR = Path(os.environ.get("QLAEMU_BUILD", REPO / "build"))
CACHE_DIR = Path(os.environ.get("QLAEMU_CACHE",
                                Path.home() / ".cache" / "qlaemu"))
HW_DIR = REPO / "hw" / "qla2532"
QTEST_DIR = REPO / "tests" / "qtest"
ARTIFACTS_DIR = Path(os.environ.get("QLAEMU_ARTIFACTS",
                                    BUILD_DIR / "artifacts"))
