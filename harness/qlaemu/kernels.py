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
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from . import paths

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
    from . import build
    stanzas, _lines = build._read_apt_config(exclude={SOURCES_FILE})
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
    from . import build
    have = set()
    if SOURCES_FILE.is_file():
        text = SOURCES_FILE.read_text()
        for m in re.finditer(r"(?m)^Suites:\s*(.*)$", text):
            have |= {s.replace("-security", "") for s in m.group(1).split()}
    suites = have | {suite}
    changed = build._sync_file(PREFERENCES_FILE, preferences_text(suites))
    changed |= build._sync_file(SOURCES_FILE, sources_text(suites))
    if changed or not _run(["apt-cache", "policy"]).stdout.count(
            "n=%s" % suite):
        build._progress("adding Debian %s to apt's sources (pinned to %d)"
                        % (suite, PIN_PRIORITY))
        try:
            build._apt_update()
        except build.SetupError as e:
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
            if best is None or _vercmp(v.group(1), best[0]) > 0:
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
        if _vercmp(v, ver) > 0:
            ver = v
    return pkg, ver


def _vercmp(a: str, b: str) -> int:
    """dpkg's version order: <0, 0, >0."""
    if a == b:
        return 0
    r = _run(["dpkg", "--compare-versions", a, "gt", b])
    return 1 if r.returncode == 0 else -1


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
