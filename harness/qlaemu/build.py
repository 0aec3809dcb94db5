"""Idempotent, cached build of QEMU with the qla2532 model overlaid.

Everything ``./qlaemu test`` needs on a fresh Debian 12 machine is done here
(or in :mod:`qlaemu.apt`), each step skipped when its result is present:

1. :func:`qlaemu.apt.ensure_apt_sources` and
   :func:`qlaemu.apt.ensure_packages`: a ``deb-src`` entry for the machine's
   archive, build dependencies and firmware packages.
2. :func:`ensure_qemu_source`: Debian's ``qemu`` source package (7.2 plus
   Debian's patches) downloaded into ``CACHE_DIR/src`` and unpacked into
   ``BUILD_DIR/qemu-src``, then the overlay (:func:`apply_overlay`): two
   symlinks into the repository and the build hooks of
   ``qemu/build-hooks.patch`` applied with ``patch -p1``.
3. :func:`ensure_qemu`: configure once into ``BUILD_DIR/qemu``, then always
   run an incremental ``ninja`` for ``qemu-system-x86_64``.

The repository's top-level ``meson.build`` calls the same code
(``./qlaemu build``).  No QEMU code is copied into the repository.  Tool
output goes to log files in ``BUILD_DIR/logs``; progress lines
(``[setup] ...``) go to stderr.  Every failure is a
:class:`qlaemu.host.SetupError` whose message includes the log's tail.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

from . import apt, host, paths
from .host import SetupError

__all__ = [
    "SetupError",
    "ensure_qemu_source",
    "ensure_qemu",
    "qemu_data_dirs",
    "run_qtests",
    "time_incremental_rebuild",
]

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
#: The device's qtests: a plain qtest on q35 (PCIe) and qgraph tests that
#: are part of QEMU's qos-test, on the libqos driver node "qla2532".
QTEST_NAME = "qla2532-pcie-test"
QTEST_TARGET = "tests/qtest/" + QTEST_NAME          # ninja target name
QTEST_MESON_NAME = "qtest-x86_64/" + QTEST_NAME     # `meson test` name
QOS_TARGET = "tests/qtest/qos-test"
QOS_MESON_NAME = "qtest-x86_64/qos-test"
#: The qgraph path of the device's tests (qos-test -p: only these run).
QOS_PATH = ("/x86_64/pc/i440FX-pcihost/pci-bus-pc/pci-bus/qla2532/"
            "qla2532-tests")
#: meson's log of each run (BUILD_DIR/qemu/meson-logs/<name>.txt, with
#: the TAP output).
QTEST_LOGS = ("qla2532-pcie-testlog", "qla2532-qos-testlog")
#: The repository's qtest files and where they are linked in QEMU's tree.
QTEST_FILES = ("qla2532-test.c", "qla2532-pcie-test.c", "libqos/qla2532.c",
               "libqos/qla2532.h", "fuzz/qla2532_fuzz.c")

#: The QEMU build hooks: a patch against Debian's QEMU 7.2 tree.
HOOKS_PATCH = paths.REPO / "qemu" / "build-hooks.patch"
#: The copy of the applied patch kept in the QEMU tree (to revert it when
#: the repository's patch changes).
APPLIED_PATCH = ".qla2532-emu-hooks.patch"
#: The line the regex hooks of earlier versions left before each of their
#: insertions; such a tree is reverted before the patch is applied.
OLD_MARKER = "# qlaemu-overlay:"


# --------------------------------------------------------------------------
# QEMU source and overlay
# --------------------------------------------------------------------------

def _find_dsc(src_dir: Path) -> Path | None:
    """Return the newest ``qemu_*.dsc`` in *src_dir*, or None."""
    dscs = list(src_dir.glob("qemu_*.dsc"))
    if not dscs:
        return None
    key = functools.cmp_to_key(apt.version_cmp)
    return max(dscs, key=lambda p: key(p.stem.split("_", 1)[1]))


def _qemu_src_dir() -> Path:
    return Path(paths.BUILD_DIR) / "qemu-src"


def _patch(src: Path, patch: Path, *extra: str) -> int:
    """``patch -p1 --batch`` of ``patch`` in ``src``; the exit status."""
    return host.run_step(["patch", "-p1", "--batch", "--silent",
                          "--no-backup-if-mismatch", *extra, "-d", src,
                          "-i", patch], "overlay", check=False)


def _revert_old_hooks(src: Path) -> None:
    """Remove what the regex hooks of earlier harness versions inserted
    (each block: the ``# qlaemu-overlay: NAME`` line and what follows up to
    the block's end), so that the patch applies to a tree they edited."""
    blocks = {"hw/meson.build": 1, "hw/Kconfig": 1, "meson.build": 3,
              "tests/qtest/meson.build": 3}
    for rel, n in blocks.items():
        f = src / rel
        lines = f.read_text().split("\n")
        out, skip = [], 0
        for line in lines:
            if skip:
                skip -= 1
                continue
            if line.startswith(OLD_MARKER):
                skip = n
                continue
            out.append(line)
        f.write_text("\n".join(out).rstrip("\n") + "\n")


def apply_overlay(src: Path) -> None:
    """Link the device into QEMU tree ``src`` and apply the build hooks.

    Symlinks (re-pointed every time, like ``ln -sfn``, because the
    repository may have moved): ``hw/qla2532 -> paths.HW_DIR`` and each of
    :data:`QTEST_FILES` in ``tests/qtest`` to ``paths.QTEST_DIR``.

    The hooks are :data:`HOOKS_PATCH` (``subdir('qla2532')`` in
    hw/meson.build, ``source qla2532/Kconfig`` in hw/Kconfig, the trace
    events directory in meson.build, the qtest in tests/qtest/meson.build,
    the fc-link/fc-initiator/fc-capture/fc-replayer/fc-remote object types
    in qapi/qom.json, which -object and object-add check, and fc-remote
    among the objects made after the chardevs in softmmu/vl.c), and one
    fix: softmmu/icount.c does not warp the clock while a vCPU has
    instructions it has not accounted (docs/race.md §4).
    The applied patch is kept in the tree as :data:`APPLIED_PATCH`; when the
    repository's patch differs, the old one is reverted (``patch -R``) and
    the new one applied.  Idempotent.

    Raises:
        SetupError: the patch does not apply (the tree is not Debian's QEMU
            7.2, or was edited): remove BUILD_DIR/qemu-src to re-extract it.
    """
    host.symlink(src / "hw" / "qla2532", Path(paths.HW_DIR))
    for rel in QTEST_FILES:
        host.symlink(src / "tests" / "qtest" / rel,
                     Path(paths.QTEST_DIR) / rel)
    applied = src / APPLIED_PATCH
    want = HOOKS_PATCH.read_bytes()
    if applied.is_file():
        if applied.read_bytes() == want:
            return
        if _patch(src, applied, "-R") != 0:
            raise SetupError(f"cannot revert the old build hooks {applied} "
                             f"in {src}; remove {src} to re-extract it")
        applied.unlink()
    if OLD_MARKER in (src / "hw" / "meson.build").read_text():
        _revert_old_hooks(src)
    if _patch(src, HOOKS_PATCH, "--forward") != 0:
        raise SetupError(f"{HOOKS_PATCH} does not apply to {src} (log "
                         f"{host.log_dir() / 'overlay.log'}); remove {src} "
                         "to re-extract Debian's tree")
    applied.write_bytes(want)


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
            apt.ensure_apt_sources()
            host.progress("downloading Debian's qemu source package into "
                          f"{cache}")
            host.run_step(["apt-get", *apt.APT_OPTS, "source",
                           "--download-only", "qemu"], "source", cwd=cache)
            dsc = _find_dsc(cache)
            if dsc is None:
                raise SetupError(
                    f"apt-get source left no qemu_*.dsc in {cache}")
        host.progress(f"unpacking {dsc.name} into {src}")
        tmp = src.with_name(src.name + ".tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        if src.exists():
            shutil.rmtree(src)
        src.parent.mkdir(parents=True, exist_ok=True)
        host.run_step(["dpkg-source", "-x", dsc, tmp], "source")
        os.replace(tmp, src)
    apply_overlay(src)
    return src


# --------------------------------------------------------------------------
# build
# --------------------------------------------------------------------------

#: Set to "1" (``./qlaemu test --sanitize``): every QEMU the harness
#: builds and runs is the ASan + UBSan build in ``BUILD_DIR/qemu-san``.
SANITIZE_ENV = "QLAEMU_SANITIZE"
#: ``configure`` of that build: QEMU's --enable-sanitizers
#: (-fsanitize=address,undefined) on the same target and firmware path.
SAN_CONFIGURE_ARGS: tuple[str, ...] = CONFIGURE_ARGS + (
    "--enable-sanitizers", "--disable-werror")


def sanitized() -> bool:
    """Whether this process builds and runs the sanitizer build."""
    return os.environ.get(SANITIZE_ENV) == "1"


def _qemu_build_dir() -> Path:
    return Path(paths.BUILD_DIR) / ("qemu-san" if sanitized() else "qemu")


def _configure_args() -> tuple[str, ...]:
    return SAN_CONFIGURE_ARGS if sanitized() else CONFIGURE_ARGS


def _check_device_sources() -> None:
    """Raise SetupError if the repository lacks files the hooks refer to."""
    need = [Path(paths.HW_DIR) / n for n in ("meson.build", "Kconfig",
                                             "trace-events")]
    need += [Path(paths.QTEST_DIR) / rel for rel in QTEST_FILES]
    need.append(HOOKS_PATCH)
    missing = [str(p) for p in need if not p.is_file()]
    if missing:
        raise SetupError("device sources missing: " + ", ".join(missing))


CONFIGURE_STAMP = ".qlaemu-configure-args"


def _needs_configure(bld: Path, args: Sequence[str] = CONFIGURE_ARGS
                     ) -> bool:
    """True if *bld* has no build.ninja or was configured with other args."""
    stamp = bld / CONFIGURE_STAMP
    return (not (bld / "build.ninja").is_file() or not stamp.is_file()
            or stamp.read_text() != "\n".join(args) + "\n")


def _configure(src: Path, bld: Path,
               args: Sequence[str] = CONFIGURE_ARGS) -> None:
    """Run ``configure`` in a fresh *bld*, then record the arguments."""
    if bld.exists():            # half-configured or configured differently
        shutil.rmtree(bld)
    bld.mkdir(parents=True)
    host.progress(f"configuring QEMU in {bld}")
    host.run_step([src / "configure", *args], "configure", cwd=bld)
    (bld / CONFIGURE_STAMP).write_text("\n".join(args) + "\n")


def configured_build(bld: Path, args: Sequence[str],
                     packages: Sequence[str] = ()) -> Path:
    """Another build of the same overlaid QEMU source (e.g. the libFuzzer
    build, :mod:`qlaemu.fuzz`): packages, source and overlay ensured,
    *bld* configured with *args* unless it already is, Debian's firmware
    linked into its ``qemu-bundle`` (:func:`_link_firmware`).  Serialised
    with the set-up lock.

    Args:
        bld: the build directory.
        args: ``configure`` arguments.
        packages: Debian packages this build needs besides the usual ones.
    Returns:
        The QEMU source directory.
    Raises:
        SetupError: a step failed.
    """
    with host.lock("setup"):
        apt.ensure_packages(packages)
        src = ensure_qemu_source()
        _check_device_sources()
        if _needs_configure(bld, args):
            _configure(src, bld, args)
        _link_firmware(bld)
        return src


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
        host.symlink(link, Path(d))


def _ninja(targets: Sequence[str], log: str = "ninja",
           bld: Path | None = None) -> None:
    host.run_step(["ninja", "-C", bld or _qemu_build_dir(), *targets], log)


def ninja(bld: Path, targets: Sequence[str], log: str) -> None:
    """``ninja -C bld targets``, its output in the set-up log *log*.

    Raises:
        SetupError: the build failed (message holds the log tail).
    """
    _ninja(targets, log, bld)


#: "<sources stamp> <binary mtime_ns>" of the last successful
#: ensure_qemu, in the build directory.
BUILT_STAMP = ".qlaemu-built"


def _sources_stamp() -> int:
    """The newest mtime (ns) of the repository's QEMU inputs: the device,
    the qtests and the build hooks."""
    files = [p for p in Path(paths.HW_DIR).iterdir() if p.is_file()]
    files += [Path(paths.QTEST_DIR) / rel for rel in QTEST_FILES]
    files.append(HOOKS_PATCH)
    return max((p.stat().st_mtime_ns for p in files if p.exists()),
               default=0)


def ensure_qemu(force: bool = False) -> Path:
    """Build (incrementally) and return the path of ``qemu-system-x86_64``.

    Ensures packages, source and overlay; runs ``configure`` only when
    ``BUILD_DIR/qemu/build.ninja`` is missing (or :data:`CONFIGURE_ARGS`
    changed since, recorded in :data:`CONFIGURE_STAMP`); always runs
    ``ninja qemu-system-x86_64`` (meson re-generates itself if a
    meson.build/Kconfig changed).  Serialised with a file lock.  When no
    repository input of the build (the device, the qtests, the hooks) is
    newer and the binary is the one the last successful call left
    (:data:`BUILT_STAMP`), it returns at once: a no-op ninja costs
    ~0.6 s, a fifth of a warm race from a snapshot.  Edits made by hand
    in ``BUILD_DIR/qemu-src`` outside the overlay are not seen then:
    ``./qlaemu build`` rebuilds.

    Args:
        force: always run the build (``./qlaemu build``).

    Returns:
        Absolute path of the binary.
    Raises:
        SetupError: any step failed (message holds the log tail).
    """
    binary = _qemu_build_dir() / QEMU_BINARY_TARGET
    if not force and _built_stamp_ok(binary):
        return binary
    with host.lock("setup"):
        apt.ensure_packages()
        src = ensure_qemu_source()
        _check_device_sources()
        bld = _qemu_build_dir()
        binary = bld / QEMU_BINARY_TARGET
        if _needs_configure(bld, _configure_args()):
            _configure(src, bld, _configure_args())
        _link_firmware(bld)
        if binary.exists():
            host.progress("building QEMU (incremental)")
        else:
            host.progress("building QEMU (first time takes ~3 min)")
        t0 = time.monotonic()
        _ninja([QEMU_BINARY_TARGET])
        host.progress(f"QEMU ready in {time.monotonic() - t0:.1f}s: {binary}")
        (bld / BUILT_STAMP).write_text(_built_stamp(binary))
        return binary


def _built_stamp(binary: Path) -> str:
    return "%d %d" % (_sources_stamp(), binary.stat().st_mtime_ns)


def _built_stamp_ok(binary: Path) -> bool:
    """The binary is the one the last successful build left, and no
    repository input changed since."""
    try:
        return (binary.parent / BUILT_STAMP).read_text() == \
            _built_stamp(binary) and not _needs_configure(
                binary.parent, _configure_args())
    except OSError:
        return False


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
    """Build and run the device's qtests.

    Builds ``qemu-system-x86_64``, ``tests/qtest/qla2532-pcie-test`` and
    ``tests/qtest/qos-test`` with ninja, then runs ``meson test
    --no-rebuild`` twice, so the tests get exactly QEMU's qtest environment
    (``QTEST_QEMU_BINARY``, ``QTEST_QEMU_IMG``, ``G_TEST_DBUS_DAEMON``, ...),
    TAP parsing and its timeout: the PCIe qtest, and qos-test limited to
    the device's qgraph tests (``-p`` :data:`QOS_PATH`).  Output is
    streamed to stdout (test output included when *verbose*); meson's logs
    are :data:`QTEST_LOGS`.

    Returns:
        The CompletedProcess of the second run, or of the first when it
        failed; ``returncode`` 0 means both passed.
    Raises:
        SetupError: building QEMU or the test executables failed.
    """
    ensure_qemu()
    with host.lock("setup"):
        host.progress(f"building {QTEST_TARGET} and {QOS_TARGET}")
        _ninja([QEMU_BINARY_TARGET, QTEST_TARGET, QOS_TARGET])
    res = None
    for (name, extra), logbase in zip(
            ((QTEST_MESON_NAME, []),
             (QOS_MESON_NAME, ["--test-args", f"-p {QOS_PATH}"])),
            QTEST_LOGS):
        cmd = ["meson", "test", "-C", str(_qemu_build_dir()), "--no-rebuild",
               "--print-errorlogs", "--logbase", logbase, *extra, name]
        if verbose:
            cmd.insert(2, "--verbose")
        sys.stdout.flush()
        res = subprocess.run(cmd, stdin=subprocess.DEVNULL)
        if res.returncode != 0:
            return res
    return res


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
    with host.lock("setup"):
        _ninja([QEMU_BINARY_TARGET])
    return time.monotonic() - t0
