"""Idempotent, cached set-up of the QEMU tree that hosts the qla2532 model.

Everything ``./qlaemu test`` needs on a fresh Debian 12 machine is done here,
each step skipped when its result is already present:

1. :func:`ensure_apt_sources` -- a ``deb-src`` entry for the archive the
   machine already uses (needed by ``apt-get source``).
2. :func:`ensure_packages` -- build dependencies and firmware packages.
3. :func:`ensure_qemu_source` -- Debian's ``qemu`` source package (7.2 plus
   Debian's patches) downloaded into ``CACHE_DIR/src`` and unpacked into
   ``BUILD_DIR/qemu-src``, then our overlay (two symlinks into the repository
   and four one-line build hooks; see :data:`HOOKS`).
4. :func:`ensure_qemu` -- configure once into ``BUILD_DIR/qemu``, then always
   run an incremental ``ninja`` for ``qemu-system-x86_64``.

No QEMU code is copied into the repository.  Tool output goes to log files in
``BUILD_DIR/logs``; progress lines (``[setup] ...``) go to stderr.  Every
failure is reported as :class:`SetupError` whose message includes the tail of
the relevant log.

Paths are read from :mod:`qlaemu.paths` at call time (``paths.BUILD_DIR``
etc.), so tests may monkeypatch them.
"""
from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from . import paths

__all__ = [
    "SetupError",
    "ensure_apt_sources",
    "ensure_packages",
    "ensure_qemu_source",
    "ensure_qemu",
    "qemu_data_dirs",
    "run_qtests",
    "time_incremental_rebuild",
]

#: Debian packages needed to build and run QEMU with Debian's firmware and to
#: build the guest image.  ``gcc``/``libc6-dev`` are added to the list of the
#: brief because a minimal Debian 12 has no compiler.
BASE_PACKAGES: tuple[str, ...] = (
    "gcc", "libc6-dev",
    "ninja-build", "meson", "pkg-config", "libglib2.0-dev",
    "libpixman-1-dev", "zlib1g-dev", "libfdt-dev", "flex", "bison",
    "python3-pytest", "busybox-static", "cpio", "kmod", "seabios",
    "qemu-system-data", "dpkg-dev", "xz-utils",
    # efi-e1000.rom etc.: the pc machine's default NIC (created unless
    # -nodefaults/-nic none, e.g. in every qtest) refuses to start without it.
    "ipxe-qemu",
)

#: ``configure`` arguments.  ``--firmwarepath`` makes the binary find
#: Debian's firmware (``bios-256k.bin`` lives in /usr/share/seabios) without
#: ``-L``; this matters for qtests, whose harness cannot pass ``-L``.  A
#: binary run from the build tree looks for every configured path inside
#: ``<build>/qemu-bundle`` (see ``get_relocated_path()``), hence
#: :func:`_link_firmware`.
CONFIGURE_ARGS: tuple[str, ...] = (
    "--target-list=x86_64-softmmu",
    "--disable-install-blobs",
    "--disable-docs",
    "--firmwarepath=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu",
)

#: Firmware directories of the Debian packages ``seabios``,
#: ``qemu-system-data`` and ``ipxe-qemu``, and files the pc machine needs
#: from them.
DATA_DIRS: tuple[str, ...] = ("/usr/share/seabios", "/usr/share/qemu",
                              "/usr/lib/ipxe/qemu")
FIRMWARE_FILES: tuple[str, ...] = ("bios-256k.bin", "kvmvapic.bin",
                                   "linuxboot_dma.bin", "efi-e1000.rom")

QEMU_BINARY_TARGET = "qemu-system-x86_64"
QTEST_NAME = "qla2532-test"
QTEST_TARGET = "tests/qtest/" + QTEST_NAME          # ninja target name
QTEST_MESON_NAME = "qtest-x86_64/" + QTEST_NAME     # `meson test` name

# Locations of apt's configuration and state; module globals so that tests
# can point them at a scratch directory.
APT_ETC = Path("/etc/apt")
APT_LISTS = Path("/var/lib/apt/lists")
OUR_SOURCES_NAME = "qlaemu-src"     # .sources (deb822) / .list (one-line)

MARKER = "# qlaemu-overlay:"
LOG_TAIL_LINES = 40
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}
APT_OPTS = ("-o", "DPkg::Lock::Timeout=300")


class SetupError(RuntimeError):
    """A set-up step failed; the message says which and shows its log tail."""


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def _progress(msg: str) -> None:
    """Print one ``[setup]`` progress line on stderr."""
    print(f"[setup] {msg}", file=sys.stderr, flush=True)


def _log_dir() -> Path:
    d = Path(paths.BUILD_DIR) / "logs"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _tail(path: Path, n: int = LOG_TAIL_LINES) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


def _run(cmd: Sequence[str | os.PathLike], log: str, *,
         cwd: Path | None = None, env: dict[str, str] | None = None,
         check: bool = True) -> int:
    """Run *cmd* with stdout+stderr appended to ``BUILD_DIR/logs/<log>.log``.

    Args:
        cmd: argv.
        log: log file stem.
        cwd: working directory.
        env: variables added to the current environment.
        check: raise on non-zero exit status.
    Returns:
        The exit status.
    Raises:
        SetupError: *check* is true and the command failed or is missing; the
            message holds the command, log path and log tail (also printed).
    """
    logfile = _log_dir() / f"{log}.log"
    full_env = dict(os.environ, **(env or {}))
    argv = [str(c) for c in cmd]
    with open(logfile, "a") as fh:
        fh.write(f"\n$ {' '.join(argv)}   (cwd={cwd or os.getcwd()})\n")
        fh.flush()
        try:
            rc = subprocess.call(argv, cwd=cwd, env=full_env, stdout=fh,
                                 stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL)
        except FileNotFoundError as exc:
            fh.write(f"{exc}\n")
            rc = 127
    if rc != 0 and check:
        tail = _tail(logfile)
        print(tail, file=sys.stderr)
        raise SetupError(f"`{' '.join(argv)}` failed (exit {rc}); "
                         f"log: {logfile}\n{tail}")
    return rc


@contextlib.contextmanager
def _lock(name: str) -> Iterator[None]:
    """Serialise set-up between concurrent harness processes (flock)."""
    bd = Path(paths.BUILD_DIR)
    bd.mkdir(parents=True, exist_ok=True)
    with open(bd / f".{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


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


def _read_apt_config(exclude: set[Path]) -> tuple[list[tuple[Path, str, dict]],
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
    stanzas, lines = _read_apt_config(exclude=ours)
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


def _sync_file(path: Path, text: str) -> bool:
    """Make *path* hold *text* (remove it when *text* is empty).

    Returns:
        True when the file system was changed.
    """
    if not text:
        if path.exists():
            path.unlink()
            return True
        return False
    if path.is_file() and path.read_text() == text:
        return False
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.chmod(0o644)
    os.replace(tmp, path)
    return True


def _lists_present(kind: str) -> bool:
    """True if apt has downloaded index files of *kind* (Packages/Sources)."""
    return APT_LISTS.is_dir() and any(APT_LISTS.glob(f"*_{kind}*"))


def _apt_update() -> None:
    _progress("apt-get update")
    _run(["apt-get", *APT_OPTS, "update"], "apt", env=APT_ENV)


def ensure_apt_sources() -> None:
    """Ensure a ``deb-src`` entry exists for the Debian archive in use.

    Writes ``/etc/apt/sources.list.d/qlaemu-src.sources`` (copies of the
    ``Types: deb`` stanzas with ``Types: deb-src``, all other fields kept, so
    apt sees no conflicting ``Signed-By``) and/or ``qlaemu-src.list`` (one-line
    ``deb`` entries rewritten to ``deb-src``).  Nothing is written for entries
    already covered by a deb-src entry elsewhere.  ``apt-get update`` runs only
    when a file changed or no ``Sources`` index has been downloaded yet.

    Raises:
        SetupError: no apt source at all, or ``apt-get update`` failed.
        PermissionError: not root and a file must change.
    """
    sources_text, list_text = _derive_deb_src()
    d = APT_ETC / "sources.list.d"
    changed = _sync_file(d / f"{OUR_SOURCES_NAME}.sources", sources_text)
    changed |= _sync_file(d / f"{OUR_SOURCES_NAME}.list", list_text)
    stanzas, lines = _read_apt_config(exclude=set())
    if not any("deb-src" in fl["types"].split() for _f, _r, fl in stanzas) \
            and not any(m.group(1) == "deb-src" for _f, m in lines):
        raise SetupError(f"no apt 'deb' source found under {APT_ETC} to "
                         "derive a deb-src entry from")
    if changed:
        _progress("added deb-src entries for the Debian archive")
    if (changed or not _lists_present("Sources")
            or not _lists_present("Packages")):
        _apt_update()


# --------------------------------------------------------------------------
# packages
# --------------------------------------------------------------------------

def _missing_packages(pkgs: Iterable[str]) -> list[str]:
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
        SetupError: installation failed after the retry.
    """
    missing = _missing_packages([*BASE_PACKAGES, *extra])
    if not missing:
        return
    _progress(f"installing Debian packages: {' '.join(missing)}")
    cmd = ["apt-get", *APT_OPTS, "install", "-y", "--no-install-recommends",
           *missing]
    if not _lists_present("Packages"):
        _apt_update()
    if _run(cmd, "apt", env=APT_ENV, check=False) != 0:
        _apt_update()
        _run(cmd, "apt", env=APT_ENV)
    still = _missing_packages(missing)
    if still:
        raise SetupError(f"packages still not installed: {' '.join(still)}")


# --------------------------------------------------------------------------
# QEMU source and overlay
# --------------------------------------------------------------------------

def _dpkg_version_cmp(a: str, b: str) -> int:
    if a == b:
        return 0
    gt = subprocess.call(["dpkg", "--compare-versions", a, "gt", b]) == 0
    return 1 if gt else -1


def _find_dsc(src_dir: Path) -> Path | None:
    """Return the newest ``qemu_*.dsc`` in *src_dir*, or None."""
    dscs = list(src_dir.glob("qemu_*.dsc"))
    if not dscs:
        return None
    key = functools.cmp_to_key(_dpkg_version_cmp)
    return max(dscs, key=lambda p: key(p.stem.split("_", 1)[1]))


def _qemu_src_dir() -> Path:
    return Path(paths.BUILD_DIR) / "qemu-src"


def _symlink(link: Path, target: Path) -> bool:
    """``ln -sfn target link``, atomically.  Returns True if it changed.

    Raises:
        SetupError: *link* exists and is not a symlink.
    """
    if link.is_symlink():
        if os.readlink(link) == str(target):
            return False
    elif link.exists():
        raise SetupError(f"{link} exists and is not a symlink; remove it "
                         "(for the QEMU tree: remove the whole tree to "
                         "re-extract it)")
    tmp = link.with_name(link.name + ".qlaemu-tmp")
    if tmp.is_symlink():
        tmp.unlink()
    tmp.symlink_to(target)
    os.replace(tmp, link)
    return True


def _hook_append(rel: str, name: str, text: str):
    """Hook that appends *text* at the end of *rel*."""
    def apply(content: str) -> str:
        return content.rstrip("\n") + f"\n{MARKER} {name}\n{text}\n"
    return rel, name, apply


def _hook_after(rel: str, name: str, pattern: str, text: str):
    """Hook that inserts *text* after the first match of regex *pattern*."""
    def apply(content: str) -> str:
        m = re.search(pattern, content, re.M | re.S)
        if not m:
            raise SetupError(f"cannot apply overlay hook {name!r}: pattern "
                             f"{pattern!r} not found in {rel}")
        ins = f"{MARKER} {name}\n{text}\n"
        return content[:m.end()] + ins + content[m.end():]
    return rel, name, apply


#: The overlay's build hooks, ``(file relative to the QEMU tree, marker
#: name, function old text -> new text)``.  Each is applied once, guarded by
#: the line ``# qlaemu-overlay: <name>``:
#:
#: ``hw/meson.build`` / ``hw-subdir``
#:     ``subdir('qla2532')`` appended, so meson reads hw/qla2532/meson.build
#:     (which adds qla2532.c to ``softmmu_ss`` under ``CONFIG_QLA2532``).
#: ``hw/Kconfig`` / ``hw-kconfig``
#:     ``source qla2532/Kconfig`` appended, so minikconf knows
#:     ``config QLA2532`` (``default y if PCI_DEVICES``).
#: ``meson.build`` / ``trace-events``
#:     a block ``if have_system / trace_events_subdirs += ['hw/qla2532'] /
#:     endif`` inserted right after 7.2's ``if have_system`` list of hw trace
#:     dirs (and so before ``subdir('trace')`` reads the list); tracetool then
#:     generates ``trace/trace-hw_qla2532.h`` from hw/qla2532/trace-events,
#:     which hw/qla2532/trace.h includes.
#: ``tests/qtest/meson.build`` / ``qtest``
#:     after ``qtests_x86_64 = qtests_i386``: ``qla2532-test`` appended to
#:     ``qtests_x86_64`` if ``config_all_devices.has_key('CONFIG_QLA2532')``,
#:     the same guard style as ``am53c974-test``/``megasas`` tests.  meson
#:     then builds ``tests/qtest/qla2532-test`` from qla2532-test.c and
#:     registers test ``qtest-x86_64/qla2532-test`` (suites qtest,
#:     qtest-x86_64) with QEMU's usual qtest environment.
HOOKS = (
    _hook_append("hw/meson.build", "hw-subdir", "subdir('qla2532')"),
    _hook_append("hw/Kconfig", "hw-kconfig", "source qla2532/Kconfig"),
    _hook_after("meson.build", "trace-events",
                r"^if have_system\n  trace_events_subdirs \+= \[\n"
                r"(?:    [^\n]*\n)*?  \]\nendif\n",
                "if have_system\n  trace_events_subdirs += [ 'hw/qla2532' ]\n"
                "endif"),
    _hook_after("tests/qtest/meson.build", "qtest",
                r"^qtests_x86_64 = qtests_i386\n",
                "if config_all_devices.has_key('CONFIG_QLA2532')\n"
                "  qtests_x86_64 += [ 'qla2532-test' ]\nendif"),
)


def apply_overlay(src: Path) -> None:
    """Apply the symlinks and :data:`HOOKS` to QEMU tree *src* (idempotent).

    Symlinks (re-pointed every time, like ``ln -sfn``, because the repository
    may have moved): ``hw/qla2532 -> paths.HW_DIR`` and
    ``tests/qtest/qla2532-test.c -> paths.QTEST_DIR/qla2532-test.c``.

    Raises:
        SetupError: a hook's anchor is missing in *src*.
    """
    _symlink(src / "hw" / "qla2532", Path(paths.HW_DIR))
    _symlink(src / "tests" / "qtest" / f"{QTEST_NAME}.c",
             Path(paths.QTEST_DIR) / f"{QTEST_NAME}.c")
    for rel, name, apply in HOOKS:
        f = src / rel
        content = f.read_text()
        if f"{MARKER} {name}\n" in content:
            continue
        f.write_text(apply(content))


def ensure_qemu_source() -> Path:
    """Return ``BUILD_DIR/qemu-src``: Debian's patched QEMU 7.2 + overlay.

    Downloads the ``qemu`` source package into ``CACHE_DIR/src`` unless a
    ``qemu_*.dsc`` is already there, unpacks it with ``dpkg-source -x`` (which
    applies Debian's patches) unless the tree exists, then
    :func:`apply_overlay`.

    Returns:
        Path of the QEMU source tree.
    Raises:
        SetupError: download, unpacking or the overlay failed.
    """
    src = _qemu_src_dir()
    if not (src / "meson.build").is_file():
        cache = Path(paths.CACHE_DIR) / "src"
        cache.mkdir(parents=True, exist_ok=True)
        dsc = _find_dsc(cache)
        if dsc is None:
            ensure_apt_sources()
            _progress(f"downloading Debian's qemu source package into {cache}")
            _run(["apt-get", *APT_OPTS, "source", "--download-only", "qemu"],
                 "source", cwd=cache)
            dsc = _find_dsc(cache)
            if dsc is None:
                raise SetupError(
                    f"apt-get source left no qemu_*.dsc in {cache}")
        _progress(f"unpacking {dsc.name} into {src}")
        tmp = src.with_name(src.name + ".tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        if src.exists():
            shutil.rmtree(src)
        src.parent.mkdir(parents=True, exist_ok=True)
        _run(["dpkg-source", "-x", dsc, tmp], "source")
        os.replace(tmp, src)
    apply_overlay(src)
    return src


# --------------------------------------------------------------------------
# build
# --------------------------------------------------------------------------

def _qemu_build_dir() -> Path:
    return Path(paths.BUILD_DIR) / "qemu"


def _check_device_sources() -> None:
    """Raise SetupError if the repository lacks files the hooks refer to."""
    need = [Path(paths.HW_DIR) / n for n in ("meson.build", "Kconfig",
                                             "trace-events")]
    need.append(Path(paths.QTEST_DIR) / f"{QTEST_NAME}.c")
    missing = [str(p) for p in need if not p.is_file()]
    if missing:
        raise SetupError("device sources missing: " + ", ".join(missing))


CONFIGURE_STAMP = ".qlaemu-configure-args"


def _needs_configure(bld: Path) -> bool:
    """True if *bld* has no build.ninja or was configured with other args."""
    stamp = bld / CONFIGURE_STAMP
    return (not (bld / "build.ninja").is_file() or not stamp.is_file()
            or stamp.read_text() != "\n".join(CONFIGURE_ARGS) + "\n")


def _configure(src: Path, bld: Path) -> None:
    """Run ``configure`` in a fresh *bld*, then record the arguments."""
    if bld.exists():            # half-configured or configured differently
        shutil.rmtree(bld)
    bld.mkdir(parents=True)
    _progress(f"configuring QEMU in {bld}")
    _run([src / "configure", *CONFIGURE_ARGS], "configure", cwd=bld)
    (bld / CONFIGURE_STAMP).write_text("\n".join(CONFIGURE_ARGS) + "\n")


def _link_firmware(bld: Path) -> None:
    """Symlink ``qemu-bundle/<dir>`` -> ``<dir>`` for each of DATA_DIRS.

    QEMU 7.2 run from its build directory prefixes its firmware path with
    ``<build>/qemu-bundle``, which ``--disable-install-blobs`` leaves without
    firmware; these links make the configured ``--firmwarepath`` (Debian's
    directories) resolve there as well.  meson's postconf script only adds
    links to ``qemu-bundle``, so ours survive reconfiguration.
    """
    for d in DATA_DIRS:
        link = bld / "qemu-bundle" / d.lstrip("/")
        link.parent.mkdir(parents=True, exist_ok=True)
        _symlink(link, Path(d))


def _ninja(targets: Sequence[str], log: str = "ninja") -> None:
    _run(["ninja", "-C", _qemu_build_dir(), *targets], log)


def ensure_qemu() -> Path:
    """Build (incrementally) and return the path of ``qemu-system-x86_64``.

    Ensures packages, source and overlay; runs ``configure`` only when
    ``BUILD_DIR/qemu/build.ninja`` is missing (or :data:`CONFIGURE_ARGS`
    changed since, recorded in :data:`CONFIGURE_STAMP`); always runs
    ``ninja qemu-system-x86_64`` (meson re-generates itself if a
    meson.build/Kconfig changed).  Serialised with a file lock.

    Returns:
        Absolute path of the binary.
    Raises:
        SetupError: any step failed (message holds the log tail).
    """
    with _lock("setup"):
        ensure_packages()
        src = ensure_qemu_source()
        _check_device_sources()
        bld = _qemu_build_dir()
        binary = bld / QEMU_BINARY_TARGET
        if _needs_configure(bld):
            _configure(src, bld)
        _link_firmware(bld)
        if binary.exists():
            _progress("building QEMU (incremental)")
        else:
            _progress("building QEMU (first time takes ~3 min)")
        t0 = time.monotonic()
        _ninja([QEMU_BINARY_TARGET])
        _progress(f"QEMU ready in {time.monotonic() - t0:.1f}s: {binary}")
        return binary


def qemu_data_dirs() -> list[str]:
    """Return the ``-L`` directories with Debian's firmware.

    Returns:
        ``["/usr/share/seabios", "/usr/share/qemu", "/usr/lib/ipxe/qemu"]``
        (the last one holds ``efi-e1000.rom`` for the default NIC).
    Raises:
        SetupError: one of :data:`FIRMWARE_FILES` is in none of them
            (packages ``seabios``/``qemu-system-data``/``ipxe-qemu``
            missing).
    """
    dirs = list(DATA_DIRS)
    missing = [f for f in FIRMWARE_FILES
               if not any(os.path.isfile(os.path.join(d, f)) for d in dirs)]
    if missing:
        raise SetupError(f"firmware {', '.join(missing)} not found in "
                         f"{', '.join(dirs)}; install seabios, "
                         "qemu-system-data and ipxe-qemu")
    return dirs


def run_qtests(verbose: bool = True) -> subprocess.CompletedProcess:
    """Build and run QEMU's qtest ``qtest-x86_64/qla2532-test``.

    Builds ``qemu-system-x86_64`` and ``tests/qtest/qla2532-test`` with ninja,
    then runs ``meson test --no-rebuild`` so the test gets exactly QEMU's qtest
    environment (``QTEST_QEMU_BINARY``, ``QTEST_QEMU_IMG``,
    ``G_TEST_DBUS_DAEMON``, ...), TAP parsing and its 30 s timeout.  Output is
    streamed to stdout (test output included when *verbose*).

    Returns:
        The ``meson test`` CompletedProcess; ``returncode`` 0 means pass.
    Raises:
        SetupError: building QEMU or the test executable failed.
    """
    ensure_qemu()
    with _lock("setup"):
        _progress(f"building {QTEST_TARGET}")
        _ninja([QEMU_BINARY_TARGET, QTEST_TARGET])
    cmd = ["meson", "test", "-C", str(_qemu_build_dir()), "--no-rebuild",
           "--print-errorlogs", QTEST_MESON_NAME]
    if verbose:
        cmd.insert(2, "--verbose")
    sys.stdout.flush()
    return subprocess.run(cmd, stdin=subprocess.DEVNULL)


def time_incremental_rebuild(touch: Path) -> float:
    """Touch *touch* (update its mtime), rebuild the binary, return seconds.

    Args:
        touch: a source file of the build (e.g. ``HW_DIR/"qla2532.c"``).
    Returns:
        Wall-clock seconds of the ``ninja`` run.
    Raises:
        SetupError: the build failed.
        FileNotFoundError: *touch* does not exist.
    """
    os.utime(touch)
    t0 = time.monotonic()
    with _lock("setup"):
        _ninja([QEMU_BINARY_TARGET])
    return time.monotonic() - t0
