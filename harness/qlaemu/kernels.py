"""Guest kernels: which Debian kernel the guest boots (``--kernel``).

A kernel is named by a spec:

``debian-6.1`` (default)
    bookworm's ``linux-image-amd64`` dependency, e.g.
    ``linux-image-6.1.0-57-amd64`` 6.1.192-3 (the machine's own suite).
``debian-5.10``
    bullseye's, e.g. ``linux-image-5.10.0-39-amd64``.
``debian-6.12``
    trixie's, e.g. ``linux-image-6.12.57+deb13-amd64``.
a path to a ``linux-image-*.deb``
    the user's own kernel package.  Its headers (for out-of-tree driver
    builds) are ``linux-headers-<release>`` installed from the archive when
    it has them, else ``--kernel-headers`` .debs (see
    :func:`qlaemu.driver.ensure_headers`).

For bullseye and trixie the harness adds the suite to apt's sources itself
(:func:`ensure_suite`): ``/etc/apt/sources.list.d/qlaemu-kernels.sources``,
a copy of the machine's own Debian stanzas with the other suite, and
``/etc/apt/preferences.d/qlaemu-kernels`` pinning that suite to priority
100, so that nothing from it is ever installed or upgraded unless asked for
by exact version (a kernel image is only downloaded and unpacked, never
installed; headers are installed by exact version).

The selection is process-wide (one kernel per command): :func:`select`
(the CLI's ``--kernel``), else ``$QLAEMU_KERNEL``, else ``debian-6.1``.

The selected kernel's package is downloaded into ``CACHE_DIR/debs`` and
unpacked once per version into ``BUILD_DIR/guest/root`` (``root-<tag>``
for the other kernels): :func:`ensure_kernel_root`, :func:`kernel_image`,
:func:`kernel_info`.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from . import apt, host, paths

#: Debian kernels by spec: (suite, upstream series).
DEBIAN_KERNELS = {
    "debian-6.1": ("bookworm", "6.1"),
    "debian-5.10": ("bullseye", "5.10"),
    "debian-6.12": ("trixie", "6.12"),
}
DEFAULT_KERNEL = "debian-6.1"
#: The suite the machine itself runs (its sources need no change).
HOST_SUITE = "bookworm"
SOURCES_FILE = Path("/etc/apt/sources.list.d/qlaemu-kernels.sources")
PREFERENCES_FILE = Path("/etc/apt/preferences.d/qlaemu-kernels")
#: apt priority of the added suites: below 500 (the host's), above 0, so an
#: exact-version request works and nothing else ever comes from them.
PIN_PRIORITY = 100

_selected: str | None = None


class KernelError(RuntimeError):
    """The kernel spec is wrong, or its package cannot be had."""


def select(spec: str | None) -> str:
    """Choose the guest kernel for this process.

    Args:
        spec: a key of :data:`DEBIAN_KERNELS`, a ``linux-image-*.deb`` path,
            or None (keep ``$QLAEMU_KERNEL`` / the default).

    Returns:
        the spec in force.

    Raises:
        KernelError: an unknown spec or a missing .deb.
    """
    global _selected
    if spec is not None:
        check(spec)
        _selected = spec
    return current()


def current() -> str:
    """The kernel spec in force (:func:`select`, $QLAEMU_KERNEL, default)."""
    spec = _selected or os.environ.get("QLAEMU_KERNEL") or DEFAULT_KERNEL
    return spec


def check(spec: str) -> None:
    """Raise KernelError unless ``spec`` names a kernel."""
    if spec in DEBIAN_KERNELS:
        return
    p = Path(spec)
    if p.suffix == ".deb":
        if not p.is_file():
            raise KernelError("--kernel %s: no such file" % spec)
        if not p.name.startswith("linux-image-"):
            raise KernelError("--kernel %s: not a linux-image-*.deb" % spec)
        return
    raise KernelError("unknown kernel %r: one of %s, or a path to a "
                      "linux-image-*.deb" % (spec, ", ".join(DEBIAN_KERNELS)))


def tag(spec: str | None = None) -> str:
    """A file-name-safe name of the kernel, for per-kernel directories:
    'debian-6.1', or 'deb-<package file stem>' for a user's .deb."""
    spec = spec or current()
    if spec in DEBIAN_KERNELS:
        return spec
    return "deb-" + re.sub(r"[^A-Za-z0-9_.+-]", "_", Path(spec).stem)


def user_deb(spec: str | None = None) -> Path | None:
    """The user's kernel .deb of ``spec``, or None for a Debian kernel."""
    spec = spec or current()
    return None if spec in DEBIAN_KERNELS else Path(spec).resolve()


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def _host_stanzas() -> list:
    """The machine's deb822 stanzas for the Debian archive's host suite."""
    stanzas, _lines = apt.read_apt_config(exclude={SOURCES_FILE})
    out = []
    for _f, raw, fl in stanzas:
        suites = fl.get("suites", "").split()
        if "deb" in fl["types"].split() and (
                HOST_SUITE in suites or "%s-security" % HOST_SUITE in suites):
            out.append((raw, fl))
    return out


def sources_text(suites) -> str:
    """deb822 text of ``suites`` (plus their -security), built from the
    machine's own Debian stanzas (same URIs, components and Signed-By).

    Raises:
        KernelError: the machine has no deb822 Debian stanza to copy.
    """
    out = []
    for raw, fl in _host_stanzas():
        host = fl.get("suites", "").split()
        security = any(s.endswith("-security") for s in host)
        new = []
        for s in sorted(suites):
            new.append("%s-security" % s if security else s)
        text = re.sub(r"(?im)^Suites:[^\n]*$", "Suites: " + " ".join(new),
                      raw, count=1)
        text = re.sub(r"(?im)^Types:[^\n]*$", "Types: deb deb-src", text,
                      count=1)
        out.append(text)
    if not out:
        raise KernelError("no deb822 stanza for Debian %s under /etc/apt to "
                          "derive the other suites from" % HOST_SUITE)
    return "\n\n".join(out) + "\n"


def preferences_text(suites) -> str:
    """apt_preferences(5) text pinning ``suites`` to :data:`PIN_PRIORITY`."""
    return "".join("Package: *\nPin: release n=%s\nPin-Priority: %d\n\n"
                   % (s, PIN_PRIORITY) for s in sorted(suites)) \
        + "".join("Package: *\nPin: release n=%s-security\n"
                  "Pin-Priority: %d\n\n" % (s, PIN_PRIORITY)
                  for s in sorted(suites))


def ensure_suite(suite: str) -> None:
    """Make apt know ``suite`` (bullseye, trixie), pinned low; update lists.

    The host's own suite needs nothing.  Suites added earlier are kept.

    Raises:
        KernelError: apt-get update failed.
    """
    if suite == HOST_SUITE:
        return
    have = set()
    if SOURCES_FILE.is_file():
        text = SOURCES_FILE.read_text()
        for m in re.finditer(r"(?m)^Suites:\s*(.*)$", text):
            have |= {s.replace("-security", "") for s in m.group(1).split()}
    suites = have | {suite}
    changed = host.sync_file(PREFERENCES_FILE, preferences_text(suites))
    changed |= host.sync_file(SOURCES_FILE, sources_text(suites))
    if changed or not _run(["apt-cache", "policy"]).stdout.count(
            "n=%s" % suite):
        host.progress("adding Debian %s to apt's sources (pinned to %d)"
                      % (suite, PIN_PRIORITY))
        try:
            apt.apt_update()
        except host.SetupError as e:
            raise KernelError("apt-get update with %s failed: %s"
                              % (suite, e)) from e


def debian_package(spec: str) -> tuple:
    """(package, version) of the Debian kernel image ``spec`` names.

    The newest ``linux-image-<abi>-amd64`` that the suite's
    ``linux-image-amd64`` depends on.

    Raises:
        KernelError: the suite or the package cannot be found.
    """
    suite, series = DEBIAN_KERNELS[spec]
    ensure_suite(suite)
    show = _run(["apt-cache", "show", "linux-image-amd64"]).stdout
    best = None
    for stanza in show.split("\n\n"):
        m = re.search(r"^Depends:.*?(linux-image-(\d+\.\d+)\.[^\s,]*-amd64)",
                      stanza, re.M)
        v = re.search(r"^Version:\s*(\S+)", stanza, re.M)
        if m and v and m.group(2) == series:
            if best is None or apt.version_cmp(v.group(1), best[0]) > 0:
                best = (v.group(1), m.group(1))
    if best is None:
        raise KernelError("Debian %s has no linux-image-amd64 for Linux %s "
                          "(apt-cache show linux-image-amd64)"
                          % (suite, series))
    pkg = best[1]
    pol = _run(["apt-cache", "show", pkg]).stdout
    vers = re.findall(r"^Version:\s*(\S+)", pol, re.M)
    if not vers:
        raise KernelError("apt-cache knows no %s" % pkg)
    ver = vers[0]
    for v in vers[1:]:
        if apt.version_cmp(v, ver) > 0:
            ver = v
    return pkg, ver


def deb_package(deb: Path) -> tuple:
    """(package, version) from a .deb's control file.

    Raises:
        KernelError: not a readable .deb.
    """
    r = _run(["dpkg-deb", "-f", str(deb), "Package", "Version"])
    if r.returncode != 0:
        raise KernelError("%s is not a readable .deb: %s"
                          % (deb, r.stderr.strip()))
    f = dict(ln.split(": ", 1) for ln in r.stdout.splitlines() if ": " in ln)
    if "Package" not in f or "Version" not in f:
        raise KernelError("%s has no Package/Version" % deb)
    return f["Package"], f["Version"]


def memo_file() -> Path:
    """Where the resolved package of the current kernel is remembered."""
    return paths.BUILD_DIR / "guest" / ("kernel-package-%s" % tag())


# --------------------------------------------------------------------------
# The selected kernel's package, unpacked
# --------------------------------------------------------------------------

def _guest_dir() -> Path:
    return paths.BUILD_DIR / "guest"


def _root_dir() -> Path:
    """The unpacked package of the selected kernel: ``root`` for the
    default, ``root-<kernel tag>`` for the others."""
    t = tag()
    return _guest_dir() / ("root" if t == DEFAULT_KERNEL else "root-" + t)


def _deb_dir() -> Path:
    return paths.CACHE_DIR / "debs"


def _sh(cmd, **kw) -> subprocess.CompletedProcess:
    """Run ``cmd`` (list); KernelError with its output on failure."""
    return host.run_captured(cmd, error=KernelError, **kw)


def _apt_lists_stamp() -> str:
    """Changes whenever ``apt-get update`` rewrites the package lists."""
    try:
        return str(os.stat("/var/lib/apt/lists").st_mtime_ns)
    except OSError:
        return "none"


def kernel_package() -> tuple:
    """Resolve the Debian kernel image package behind linux-image-amd64.

    apt-cache is asked once per state of /var/lib/apt/lists (about 1 s);
    the answer is remembered in BUILD_DIR/guest/kernel-package.

    Returns:
        (package name, version), e.g.
        ('linux-image-6.1.0-56-amd64', '6.1.192-2').

    Raises:
        KernelError: if apt-cache does not know the packages and no .deb is
            cached.
    """
    deb = user_deb()
    if deb is not None:
        return deb_package(deb)
    memo = memo_file()
    stamp = _apt_lists_stamp()
    try:
        key, pkg, ver = memo.read_text().split()
        if key == stamp:
            return pkg, ver
    except (OSError, ValueError):
        pass
    pkg, ver = _kernel_package_apt()
    memo.parent.mkdir(parents=True, exist_ok=True)
    memo.write_text("%s %s %s\n" % (stamp, pkg, ver))
    return pkg, ver


def _kernel_package_apt() -> tuple:
    """kernel_package() without the memo."""
    if current() != DEFAULT_KERNEL:
        return debian_package(current())
    try:
        dep = _sh(["apt-cache", "depends", "linux-image-amd64"]).stdout
        m = re.search(r"Depends:\s*(linux-image-[0-9][^\s]*-amd64)", dep)
        if not m:
            raise KernelError("no kernel in: %s" % dep)
        pkg = m.group(1)
        show = _sh(["apt-cache", "show", "--no-all-versions", pkg]).stdout
        ver = re.search(r"^Version:\s*(\S+)", show, re.M).group(1)
        return pkg, ver
    except (KernelError, AttributeError, FileNotFoundError):
        debs = sorted(_cached_debs("linux-image-[0-9]*-amd64_*_amd64.deb"))
        if not debs:
            raise
        name, ver, _ = debs[-1].name.split("_")
        return name, ver


def _cached_debs(pattern: str) -> list:
    """Cached .deb files matching ``pattern`` in CACHE_DIR/{debs,src}."""
    out = []
    for d in (_deb_dir(), paths.CACHE_DIR / "src"):
        if d.is_dir():
            out.extend(d.glob(pattern))
    return out


def kernel_deb() -> Path:
    """Path of the kernel .deb, downloaded into CACHE_DIR/debs if absent.

    Raises:
        KernelError: if apt-get download fails.
    """
    deb = user_deb()
    if deb is not None:
        return deb
    pkg, ver = kernel_package()
    fname = "%s_%s_amd64.deb" % (pkg, ver.replace(":", "%3a"))
    have = _cached_debs(fname)
    if have:
        return have[0]
    _deb_dir().mkdir(parents=True, exist_ok=True)
    _sh(["apt-get", "download", "%s=%s" % (pkg, ver)], cwd=_deb_dir())
    got = list(_deb_dir().glob("%s_*_amd64.deb" % pkg))
    if not got:
        raise KernelError("apt-get download %s left no .deb" % pkg)
    return got[0]


def ensure_kernel_root() -> tuple:
    """Unpack the kernel .deb into BUILD_DIR/guest/root once per version.

    Returns:
        (root dir Path, kernel release str e.g. '6.1.0-56-amd64').

    Raises:
        KernelError: on download / unpack / depmod failure.
    """
    deb = kernel_deb()
    stamp = _root_dir() / ".qlaemu-deb"
    if not (stamp.is_file() and stamp.read_text() == deb.name):
        _guest_dir().mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="root.", dir=_guest_dir()))
        _sh(["dpkg-deb", "-x", str(deb), str(tmp)])
        (tmp / ".qlaemu-deb").write_text(deb.name)
        if _root_dir().exists():
            shutil.rmtree(_root_dir())
        tmp.rename(_root_dir())
    root = _root_dir()
    if not (root / "lib" / "modules").exists() and \
            (root / "usr" / "lib" / "modules").is_dir():
        # merged /usr (trixie's packages ship usr/lib/modules only)
        (root / "lib").mkdir(exist_ok=True)
        os.symlink("../usr/lib/modules", root / "lib" / "modules")
    kvers = sorted(p.name for p in (root / "lib" / "modules").iterdir())
    if len(kvers) != 1:
        raise KernelError("expected one kernel in %s: %r" % (root, kvers))
    kver = kvers[0]
    if not (root / "lib" / "modules" / kver / "modules.dep").is_file():
        # The .deb does not ship modules.dep (its postinst runs depmod).
        _sh(["depmod", "-b", str(root), kver])
    return root, kver


def kernel_info() -> dict:
    """The selected guest kernel, for reports: {"spec" (qlaemu.kernels),
    "package", "version" (Debian), "release" (uname -r)}.

    Raises:
        KernelError: the kernel cannot be had.
    """
    pkg, ver = kernel_package()
    _root, kver = ensure_kernel_root()
    return {"spec": current(), "package": pkg, "version": ver,
            "release": kver}


def kernel_image() -> Path:
    """Path of the guest bzImage (vmlinuz)."""
    root, kver = ensure_kernel_root()
    return root / "boot" / ("vmlinuz-%s" % kver)
