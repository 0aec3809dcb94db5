"""The initiator guest's storage tools: Debian's sg3-utils, fio and
libiscsi-bin with the shared libraries they load, as one extra initramfs
archive appended to a run's image (``vm.run(archives=...)``), and the
readers of what they print (``parse_*``).

The binaries are the host's (Debian 12, the packages of :data:`PACKAGES`,
installed on first use); the guest runs them with the host's glibc and
libraries under the guest kernel.  The archive is built once per set of
package versions and cached in ``BUILD_DIR/guest/tools-<hash>.cpio.gz``.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from . import apt, archive, host, paths

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
        host.SetupError: installing the packages or packing the archive
            (archive.ArchiveError) failed.
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
    archive.pack_newc(stage, out, gzip=True)
    shutil.rmtree(stage, ignore_errors=True)
    return out


# ------------------------------------------------------------------
# Reading their output
# ------------------------------------------------------------------

_SUITE_RE = re.compile(r"^Suite: (\S+)")
_TEST_RE = re.compile(r"^\s*Test: (\S+) \.\.\.(.*)$")
_NOTE_RE = re.compile(r"\[(SKIPPED|FAILED)\] (.*)")


def rc(text: str):
    """The ``rc=N`` line the guest appends to a tool's output -> N, or
    None."""
    m = re.search(r"^rc=(\d+)\s*$", text or "", re.M)
    return int(m.group(1)) if m else None


def parse_sg_inq(text: str) -> dict:
    """``sg_inq`` output -> {vendor, product, revision, rc}."""
    out = {"rc": rc(text)}
    for key, label in (("vendor", "Vendor identification"),
                       ("product", "Product identification"),
                       ("revision", "Product revision level")):
        m = re.search(r"^\s*%s:\s*(.*?)\s*$" % label, text or "", re.M)
        out[key] = m.group(1) if m else None
    return out


def parse_readcap(text: str) -> dict:
    """``sg_readcap -l`` output -> {blocks, block_bytes, rc}."""
    out = {"rc": rc(text), "blocks": None, "block_bytes": None}
    m = re.search(r"Number of logical blocks=(\d+)", text or "")
    if m:
        out["blocks"] = int(m.group(1))
    m = re.search(r"Logical block length=(\d+)", text or "")
    if m:
        out["block_bytes"] = int(m.group(1))
    return out


def parse_vpd_di(text: str) -> dict:
    """``sg_vpd -p di`` output -> {target_port_names (the 'naa.' SCSI name
    strings of target port designators), relative_ports (relative target
    port identifiers, ints), naa (LU designators), rc}."""
    t = text or ""
    return {"rc": rc(t),
            "relative_ports": sorted(int(x, 16) for x in set(re.findall(
                r"Relative target port:\s*0x([0-9a-fA-F]+)", t))),
            "target_port_names": sorted(set(re.findall(
                r"SCSI name string:\s*\n\s*(naa\.[0-9A-Fa-f]+)", t))),
            "naa": sorted(set(re.findall(r"^\s*0x([0-9a-f]{16,32})\s*$", t,
                                         re.M)))}


def parse_fio(text: str) -> dict:
    """fio's JSON output -> {error, read/write: {bytes, bw_bytes, iops,
    runtime_ms}} (None where fio printed no JSON)."""
    i = (text or "").find("{")
    try:
        d = json.loads(text[i:]) if i >= 0 else None
    except ValueError:
        d = None
    if not d or not d.get("jobs"):
        return {"error": None, "parsed": False}
    job = d["jobs"][0]
    out = {"error": job.get("error"), "parsed": True}
    for rw in ("read", "write"):
        x = job.get(rw, {})
        out[rw] = {"bytes": x.get("io_bytes"), "bw_bytes": x.get("bw_bytes"),
                   "iops": round(x.get("iops") or 0, 1),
                   "runtime_ms": x.get("runtime")}
    return out


def result_counts(tests: list) -> dict:
    """{passed, failed, skipped}: how many of :func:`parse_suite`'s
    ``tests`` have each result."""
    return {k: sum(1 for t in tests if t["result"] == k)
            for k in ("passed", "failed", "skipped")}


def parse_suite(text: str) -> dict:
    """``iscsi-test-cu`` (verbose) output -> {tests: [{suite, test,
    result 'passed'|'failed'|'skipped', reasons}], passed, failed,
    skipped, rc}.  A test CUnit counts as passed that printed [SKIPPED]
    is listed as skipped with its reasons."""
    tests, suite, cur = [], None, None

    def close(result):
        cur["result"] = ("failed" if result == "FAILED" else
                         "skipped" if any(r.startswith("SKIPPED")
                                          for r in cur["reasons"])
                         else "passed")
        tests.append(cur)

    for line in (text or "").splitlines():
        m = _SUITE_RE.match(line)
        if m:
            suite = m.group(1)
            continue
        m = _TEST_RE.match(line)
        if m:
            cur = {"suite": suite, "test": m.group(1), "reasons": []}
            line = m.group(2)
        if cur is None:
            continue
        for kind, why in _NOTE_RE.findall(line):
            note = "%s %s" % (kind, why.strip())
            if note not in cur["reasons"]:
                cur["reasons"].append(note)
        end = re.search(r"(passed|FAILED)\s*$", line)
        if end:
            close(end.group(1))
            cur = None
    return dict(tests=tests, rc=rc(text), **result_counts(tests))
