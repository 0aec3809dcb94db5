"""Patch series for a driver under test: which kernel files a patch
touches, and applying a series with ``patch -p1`` (:mod:`qlaemu.modbuild`).
"""
from __future__ import annotations

import re
from pathlib import Path

from . import host
from .profiles import BuildError

#: Directory of the driver inside the kernel source.
QLA_SUBDIR = "drivers/scsi/qla2xxx"
#: Directories of the kernel tree a patch may change without effect on the
#: modules built here (documentation and the like).
IGNORED_PATCH_DIRS = ("Documentation/", "MAINTAINERS", "tools/",
                      "samples/", "LICENSES/")

_PATCH_FILE_RE = re.compile(r"^(?:---|\+\+\+) (\S+)")


def patch_paths(patch: Path) -> list:
    """Kernel-tree paths a -p1 patch reads or writes (sorted, unique).

    Raises:
        BuildError: a path is absolute or leaves the tree.
    """
    out = set()
    text = patch.read_text(errors="replace")
    for line in text.splitlines():
        m = _PATCH_FILE_RE.match(line)
        if not m or m.group(1) == "/dev/null":
            continue
        parts = m.group(1).split("/", 1)
        if len(parts) != 2:
            continue
        rel = parts[1]
        if rel.startswith("/") or ".." in rel.split("/"):
            raise BuildError("%s: bad path %s" % (patch, m.group(1)))
        out.add(rel)
    return sorted(out)


def classify(rel: str) -> str:
    """'driver', 'include' or 'ignored' for a patched path, else 'other'."""
    if rel.startswith(QLA_SUBDIR + "/"):
        return "driver"
    if rel.startswith("include/"):
        return "include"
    if any(rel == d or rel.startswith(d) for d in IGNORED_PATCH_DIRS):
        return "ignored"
    return "other"


def apply_series(series, src: Path, fuzz: int, log: Path) -> None:
    """Apply ``series`` (patch files, in order) to ``src`` with -p1.

    ``--forward`` and ``--fuzz=fuzz`` (0: every context line must match;
    offsets are allowed).

    Raises:
        BuildError: a patch does not apply (the tree does not take it).
    """
    for p in series:
        host.progress("applying %s" % p.name, "driver")
        rc = host.run_logged(["patch", "-p1", "--batch", "--forward",
                              "--fuzz=%d" % fuzz, "--no-backup-if-mismatch",
                              "-d", src, "-i", p], log)
        if rc != 0:
            raise BuildError("patch %s does not apply (exit %d); log: "
                             "%s\n%s" % (p, rc, log, host.tail(log, 20)), log)


def touched_paths(series, log: Path) -> dict:
    """{kernel path: patch name} of ``series``.

    Raises:
        BuildError: a patch changes files outside the driver and
            include/, which this profile does not rebuild.
    """
    touched = {}
    for p in series:
        for rel in patch_paths(p):
            touched.setdefault(rel, p.name)
    other = sorted((r, n) for r, n in touched.items()
                   if classify(r) == "other")
    if other:
        raise BuildError(
            "patches change files outside %s and include/, which this "
            "profile does not rebuild: %s" % (QLA_SUBDIR, ", ".join(
                "%s (%s)" % ro for ro in other)), log)
    return touched
