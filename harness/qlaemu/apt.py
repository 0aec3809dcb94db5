"""apt: the Debian archive the harness installs from.

:func:`ensure_apt_sources` adds a ``deb-src`` entry for the archive the
machine already uses (``apt-get source`` needs one); :func:`ensure_packages`
installs what is missing; :func:`dpkg_version` and :func:`apt_install`
serve the driver builds (exact header and source versions).  Every command
is logged to ``BUILD_DIR/logs/apt.log`` (:mod:`qlaemu.host`).
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Iterable, Sequence

from . import host

#: Debian packages needed to build and run QEMU with Debian's firmware and to
#: build the guest image.  ``gcc``/``libc6-dev`` are listed because a
#: minimal Debian 12 has no compiler; ``patch`` applies the QEMU build
#: hooks (qemu/qemu-7.2-build-hooks.patch).
BASE_PACKAGES: tuple[str, ...] = (
    "gcc", "libc6-dev", "patch",
    "ninja-build", "meson", "pkg-config", "libglib2.0-dev",
    "libpixman-1-dev", "zlib1g-dev", "libfdt-dev", "flex", "bison",
    "python3-pytest", "busybox-static", "cpio", "kmod", "seabios",
    "qemu-system-data", "dpkg-dev", "xz-utils",
    # efi-e1000.rom etc.: the pc machine's default NIC (created unless
    # -nodefaults/-nic none, e.g. in every qtest) refuses to start without it.
    "ipxe-qemu",
    # the link capture (hw/qla2532/fc-capture.c writes pcap through libpcap)
    # and its reader (Wireshark's tshark dissects it: qlaemu.capture)
    "libpcap-dev", "tshark",
    # the pictures of runs (qlaemu.pictures: ladder, heat map)
    "python3-matplotlib",
)

# Locations of apt's configuration and state; module globals so that tests
# can point them at a scratch directory.
APT_ETC = Path("/etc/apt")
APT_LISTS = Path("/var/lib/apt/lists")
OUR_SOURCES_NAME = "qlaemu-src"     # .sources (deb822) / .list (one-line)
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}
APT_OPTS = ("-o", "DPkg::Lock::Timeout=300")


# --------------------------------------------------------------------------
# apt sources
# --------------------------------------------------------------------------

def _split_stanzas(text: str) -> list[str]:
    """Split deb822 text into stanza strings (blank-line separated)."""
    return [s for s in re.split(r"\n[ \t]*\n", text.strip("\n")) if s.strip()]


def _stanza_fields(stanza: str) -> dict[str, str]:
    """Parse a deb822 stanza into ``{lowercase field: value}``.

    Comment lines are ignored and continuation lines joined with spaces.
    """
    fields: dict[str, str] = {}
    key = None
    for line in stanza.splitlines():
        if line.startswith("#"):
            continue
        if line[:1] in (" ", "\t") and key:
            fields[key] += " " + line.strip()
            continue
        if ":" in line:
            key, _, val = line.partition(":")
            key = key.strip().lower()
            fields[key] = val.strip()
    return fields


def _entries(uris: str, suites: str, comps: str) -> set[tuple[str, str, str]]:
    """Expand URIs x Suites x Components into a set of triples."""
    comp_list = comps.split() or [""]
    return {(u.rstrip("/"), s, c) for u in uris.split()
            for s in suites.split() for c in comp_list}


_ONE_LINE = re.compile(
    r"^\s*(deb|deb-src)\s+(\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s*(.*)$")


def read_apt_config(exclude: set[Path]) -> tuple[list[tuple[Path, str, dict]],
                                                 list[tuple[Path, re.Match]]]:
    """Collect deb822 stanzas and one-line entries of apt's source files.

    Args:
        exclude: files to ignore (our own generated files).
    Returns:
        ``(stanzas, lines)``: ``stanzas`` are ``(file, raw text, fields)``,
        ``lines`` are ``(file, match of _ONE_LINE)``.  Disabled stanzas
        (``Enabled: no``) are skipped.
    """
    stanzas: list[tuple[Path, str, dict]] = []
    lines: list[tuple[Path, re.Match]] = []
    d = APT_ETC / "sources.list.d"
    files = sorted(d.glob("*.sources")) if d.is_dir() else []
    for f in files:
        if f in exclude:
            continue
        for raw in _split_stanzas(f.read_text()):
            fields = _stanza_fields(raw)
            if fields.get("enabled", "yes").lower() == "no":
                continue
            if "types" in fields and "uris" in fields:
                stanzas.append((f, raw, fields))
    list_files = [APT_ETC / "sources.list"]
    list_files += sorted(d.glob("*.list")) if d.is_dir() else []
    for f in list_files:
        if f in exclude or not f.is_file():
            continue
        for line in f.read_text().splitlines():
            m = _ONE_LINE.match(line)
            if m:
                lines.append((f, m))
    return stanzas, lines


def _derive_deb_src() -> tuple[str, str]:
    """Compute our deb-src files from the machine's binary entries.

    Returns:
        ``(sources_text, list_text)``: contents for
        ``qlaemu-src.sources`` (deb822) and ``qlaemu-src.list`` (one-line);
        an empty string means "not needed".  A ``Types: deb`` stanza becomes a
        verbatim copy with ``Types: deb-src`` (so ``Signed-By`` and every other
        field stay identical); a ``deb ...`` line becomes ``deb-src ...``.
        Entries whose (URI, suite, component) are already covered by an
        existing deb-src entry are skipped.
    """
    ours = {APT_ETC / "sources.list.d" / f"{OUR_SOURCES_NAME}.sources",
            APT_ETC / "sources.list.d" / f"{OUR_SOURCES_NAME}.list"}
    stanzas, lines = read_apt_config(exclude=ours)
    have_src: set[tuple[str, str, str]] = set()
    for _f, _raw, fl in stanzas:
        if "deb-src" in fl["types"].split():
            have_src |= _entries(fl["uris"], fl.get("suites", ""),
                                 fl.get("components", ""))
    for _f, m in lines:
        if m.group(1) == "deb-src":
            have_src |= _entries(m.group(3), m.group(4), m.group(5))

    out_stanzas = []
    for _f, raw, fl in stanzas:
        types = fl["types"].split()
        if "deb" not in types or "deb-src" in types:
            continue
        if _entries(fl["uris"], fl.get("suites", ""),
                    fl.get("components", "")) <= have_src:
            continue
        new = re.sub(r"(?im)^Types:[^\n]*$", "Types: deb-src", raw, count=1)
        out_stanzas.append(new)
    out_lines = []
    for _f, m in lines:
        if m.group(1) != "deb":
            continue
        if _entries(m.group(3), m.group(4), m.group(5)) <= have_src:
            continue
        rest = m.group(0).lstrip()[len("deb"):].lstrip()
        out_lines.append("deb-src " + rest)
    sources_text = "\n\n".join(out_stanzas) + "\n" if out_stanzas else ""
    list_text = "\n".join(out_lines) + "\n" if out_lines else ""
    return sources_text, list_text


def _lists_present(kind: str) -> bool:
    """True if apt has downloaded index files of *kind* (Packages/Sources)."""
    return APT_LISTS.is_dir() and any(APT_LISTS.glob(f"*_{kind}*"))


def apt_update() -> None:
    host.progress("apt-get update")
    host.run_step(["apt-get", *APT_OPTS, "update"], "apt", env=APT_ENV)


def ensure_apt_sources() -> None:
    """Ensure a ``deb-src`` entry exists for the Debian archive in use.

    Writes ``/etc/apt/sources.list.d/qlaemu-src.sources`` (copies of the
    ``Types: deb`` stanzas with ``Types: deb-src``, all other fields kept, so
    apt sees no conflicting ``Signed-By``) and/or ``qlaemu-src.list`` (one-line
    ``deb`` entries rewritten to ``deb-src``).  Nothing is written for entries
    already covered by a deb-src entry elsewhere.  ``apt-get update`` runs only
    when a file changed or no ``Sources`` index has been downloaded yet.

    Raises:
        host.SetupError: no apt source at all, or ``apt-get update`` failed.
        PermissionError: not root and a file must change.
    """
    sources_text, list_text = _derive_deb_src()
    d = APT_ETC / "sources.list.d"
    changed = host.sync_file(d / f"{OUR_SOURCES_NAME}.sources", sources_text)
    changed |= host.sync_file(d / f"{OUR_SOURCES_NAME}.list", list_text)
    stanzas, lines = read_apt_config(exclude=set())
    if not any("deb-src" in fl["types"].split() for _f, _r, fl in stanzas) \
            and not any(m.group(1) == "deb-src" for _f, m in lines):
        raise host.SetupError(f"no apt 'deb' source found under {APT_ETC} to "
                              "derive a deb-src entry from")
    if changed:
        host.progress("added deb-src entries for the Debian archive")
    if (changed or not _lists_present("Sources")
            or not _lists_present("Packages")):
        apt_update()


# --------------------------------------------------------------------------
# packages
# --------------------------------------------------------------------------

def missing_packages(pkgs: Iterable[str]) -> list[str]:
    """Return the packages of *pkgs* that dpkg does not report installed."""
    pkgs = list(dict.fromkeys(pkgs))
    if not pkgs:
        return []
    res = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package}\t${Status}\n", *pkgs],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    installed = set()
    for line in res.stdout.splitlines():
        name, _, status = line.partition("\t")
        if status.split()[-1:] == ["installed"]:
            installed.add(name.split(":")[0])
    return [p for p in pkgs if p.split(":")[0] not in installed]


def ensure_packages(extra: Sequence[str] = ()) -> None:
    """Install the missing packages of :data:`BASE_PACKAGES` plus *extra*.

    A warm run only calls ``dpkg-query``.  If ``apt-get install`` fails (e.g.
    stale or missing package lists), ``apt-get update`` runs once and the
    install is retried.

    Args:
        extra: more Debian binary package names.
    Raises:
        host.SetupError: installation failed after the retry.
    """
    missing = missing_packages([*BASE_PACKAGES, *extra])
    if not missing:
        return
    host.progress(f"installing Debian packages: {' '.join(missing)}")
    cmd = ["apt-get", *APT_OPTS, "install", "-y", "--no-install-recommends",
           *missing]
    if not _lists_present("Packages"):
        apt_update()
    if host.run_step(cmd, "apt", env=APT_ENV, check=False) != 0:
        apt_update()
        host.run_step(cmd, "apt", env=APT_ENV)
    still = missing_packages(missing)
    if still:
        raise host.SetupError("packages still not installed: "
                              + " ".join(still))


def dpkg_version(pkg: str) -> str | None:
    """Installed version of ``pkg``, or None when it is not installed."""
    p = subprocess.run(["dpkg-query", "-W", "-f=${Status}\t${Version}", pkg],
                       capture_output=True, text=True)
    if p.returncode != 0:
        return None
    status, _, ver = p.stdout.partition("\t")
    return ver if status.split()[-1:] == ["installed"] else None


def version_cmp(a: str, b: str) -> int:
    """-1, 0 or 1 as Debian version ``a`` sorts before, with or after
    ``b`` (``dpkg --compare-versions``)."""
    if a == b:
        return 0
    gt = subprocess.call(["dpkg", "--compare-versions", a, "gt", b]) == 0
    return 1 if gt else -1


def upstream(debian_version: str) -> str:
    """'1:6.1.192-2' -> '6.1.192' (epoch and Debian revision removed)."""
    v = debian_version.split(":", 1)[-1]
    return v.rsplit("-", 1)[0] if "-" in v else v


def apt_install(spec: str) -> bool:
    """``apt-get install -y spec`` (spec may be 'pkg=version').

    Returns:
        True when apt-get succeeded (its output is in the apt log).
    """
    ensure_apt_sources()
    cmd = ["apt-get", *APT_OPTS, "install", "-y", "--no-install-recommends",
           spec]
    return host.run_step(cmd, "apt", env=APT_ENV, check=False) == 0


def apt_log() -> Path:
    """The apt log file, ``BUILD_DIR/logs/apt.log``."""
    return host.log_dir() / "apt.log"
