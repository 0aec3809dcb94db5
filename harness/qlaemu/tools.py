"""The initiator guest's storage tools: Debian's sg3-utils, fio and
libiscsi-bin with the shared libraries they load, as one extra initramfs
archive appended to a run's image (``vm.run(archives=...)``).

The binaries are the host's (Debian 12, the packages of :data:`PACKAGES`,
installed on first use); the guest runs them with the host's glibc and
libraries under the guest kernel.  The archive is built once per set of
package versions and cached in ``BUILD_DIR/guest/tools-<hash>.cpio.gz``.
"""
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

from . import apt, host, paths

#: Debian packages whose programs the initiator runs.
PACKAGES = ("sg3-utils", "fio", "libiscsi-bin")
#: The programs, all in /usr/bin on host and guest.
BINARIES = ("sg_inq", "sg_vpd", "sg_readcap", "sg_luns", "sg_turs",
            "sg_map26", "fio", "iscsi-test-cu")
#: Bumped when what the archive holds changes beyond the packages.
FORMAT = 1

_LDD_RE = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x[0-9a-f]+\)")


class ToolsError(RuntimeError):
    """The tools cannot be had (a package or a library is missing)."""


def _libraries(binary: Path) -> list:
    """The absolute paths ``ldd`` gives for ``binary`` (the dynamic loader
    included).

    Raises:
        ToolsError: ldd failed or named a library it did not find.
    """
    p = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
    if p.returncode:
        raise ToolsError("ldd %s failed: %s" % (binary, p.stderr.strip()))
    missing = [ln.split()[0] for ln in p.stdout.splitlines()
               if "not found" in ln]
    if missing:
        raise ToolsError("%s needs libraries the host lacks: %s"
                         % (binary, ", ".join(missing)))
    return sorted({m.group(1) for m in _LDD_RE.finditer(p.stdout)})


def _files() -> list:
    """Every host file the archive holds: the binaries, then libraries."""
    bins = [Path("/usr/bin") / b for b in BINARIES]
    absent = [str(b) for b in bins if not b.is_file()]
    if absent:
        raise ToolsError("not installed: %s (apt-get install %s)"
                         % (", ".join(absent), " ".join(PACKAGES)))
    libs = set()
    for b in bins:
        libs.update(_libraries(b))
    return bins + [Path(x) for x in sorted(libs)]


def _key(files: list) -> str:
    h = hashlib.sha256(("tools %d\n" % FORMAT).encode())
    for pkg in PACKAGES:
        h.update(("%s %s\n" % (pkg, apt.dpkg_version(pkg))).encode())
    for f in files:
        st = f.stat()
        h.update(("%s %d %d\n" % (f, st.st_size, int(st.st_mtime))).encode())
    return h.hexdigest()[:16]


def ensure_archive() -> Path:
    """The gzip'd newc archive of the tools, built if missing.

    Each file goes to its own path in the guest (its symlinks resolved:
    Debian 12's /lib is a link to /usr/lib, the guest's is not).

    Returns:
        Path of BUILD_DIR/guest/tools-<key>.cpio.gz.

    Raises:
        ToolsError: a binary or a library is missing after the install.
        host.SetupError: installing the packages or cpio failed.
    """
    apt.ensure_packages(PACKAGES)
    files = _files()
    out = paths.BUILD_DIR / "guest" / ("tools-%s.cpio.gz" % _key(files))
    if out.is_file():
        return out
    host.progress("packing the initiator's tools (%s)" % ", ".join(BINARIES))
    stage = out.with_suffix(".stage")
    shutil.rmtree(stage, ignore_errors=True)
    for f in files:
        dst = stage / str(f).lstrip("/")
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.realpath(f), dst)
    names = sorted(str(p.relative_to(stage)) for p in stage.rglob("*"))
    tmp = out.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        cpio = subprocess.Popen(["cpio", "-o", "-H", "newc", "--quiet"],
                                cwd=stage, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE)
        gz = subprocess.Popen(["gzip", "-1"], stdin=cpio.stdout, stdout=fh)
        cpio.stdout.close()
        cpio.communicate("\n".join(names).encode() + b"\n")
        gz.wait()
    if cpio.returncode or gz.returncode:
        tmp.unlink(missing_ok=True)
        raise host.SetupError("packing the tools with cpio/gzip failed")
    shutil.rmtree(stage, ignore_errors=True)
    tmp.rename(out)
    return out
