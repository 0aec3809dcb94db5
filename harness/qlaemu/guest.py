"""The test guest: Debian's kernel + a busybox initramfs, booted under QEMU.

Image layout (all under ``BUILD_DIR/guest``):

    root/                      the kernel .deb unpacked once (keyed by version)
    initramfs-base.cpio.gz     busybox, module closure, firmware, /init
    initramfs-base.key         hash of the inputs of the above
    runs/<name>/               per-run files when the caller gives no log_path

Per run a second, uncompressed newc archive holding ``/scenario.sh`` (and
caller-supplied files) is appended to the base archive; Linux unpacks
concatenated initramfs archives in order.

Data channel.  Scenario scripts report results in sections::

    qlaemu_section NAME COMMAND [ARGS...]   # stdout of COMMAND
    qlaemu_section_file NAME FILE           # contents of FILE
    qlaemu_begin NAME; ...; qlaemu_end NAME # hand-written blocks
    qlaemu_mark NAME                        # one-line marker, at once

which write ``@@QLAEMU-BEGIN name@@`` / ``@@QLAEMU-END name@@`` blocks to
``/dev/ttyS1`` -- a second 16550 UART that QEMU writes to ``data.log``.  The
kernel console is only on ttyS0, so printk lines (e.g. qla2xxx messages fired
by an interrupt while a section is being written) can never interleave with
section data, whatever the loglevel; no ``dmesg -n`` juggling is needed and
the console stays complete for the log.  The 8250 driver is built into the
Debian kernel, so the channel exists before any module is loaded (a
virtio-serial port would first need virtio modules).  ttyS1 is put in raw
mode so no CR/LF translation happens.  Closing a tty waits for its output
to drain, so a section is in ``data.log`` before the next command runs.

Control channel (host -> guest).  A third 16550 (``/dev/ttyS2``) is backed
by a unix-socket chardev server (``server=on,wait=off``) when :func:`run`
has a ``controller``, and by a ``null`` chardev otherwise.  The controller
writes lines with :meth:`GuestControl.send`; a scenario script reads one
with ``qlaemu_wait_cmd [timeout_s]`` (prints it; status 1 on timeout).
``functions.sh`` keeps ttyS2 open on fd 8 for the whole script and puts it
in raw mode without echo: the 8250 driver flushes the UART FIFO whenever
the port is opened, so a line sent while the port is closed would be lost.
While the port is open, unread input waits in the tty buffer; QEMU stops
reading the socket while the UART FIFO is full, and the host keeps its end
of the socket open until QEMU exits (a hang-up makes QEMU drop what the
UART has not taken yet).  ttyS2 gets IRQ 7 instead of the usual 4, which
ttyS0 uses: QEMU does not OR two ISA devices on one line.
"""
import asyncio
import dataclasses
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

from . import firmware, paths


# Locations are read from qlaemu.paths at call time (tests may patch them).
def _guest_dir() -> Path:
    return paths.BUILD_DIR / "guest"


def _root_dir() -> Path:
    """The unpacked kernel package of the selected kernel (qlaemu.kernels):
    ``root`` for the default, ``root-<kernel tag>`` for the others."""
    from . import kernels
    t = kernels.tag()
    return _guest_dir() / ("root" if t == kernels.DEFAULT_KERNEL
                           else "root-" + t)


def _deb_dir() -> Path:
    return paths.CACHE_DIR / "debs"

#: Modules wanted in the guest; their modules.dep closure (and softdeps) is
#: copied.  target_core_mod contains the rd_mcp ramdisk backstore.
MODULES = ("qla2xxx", "tcm_qla2xxx", "target_core_mod", "target_core_file",
           "target_core_iblock", "configfs", "scsi_transport_fc", "sd_mod",
           "sg", "crc64_rocksoft_generic")

#: Modules of MODULES that some kernels do not have (crc64_rocksoft is a
#: softdep of 6.1's t10-pi; 5.10 has no such module).
OPTIONAL_MODULES = ("crc64_rocksoft_generic",)

BEGIN_RE = re.compile(r"^@@QLAEMU-BEGIN (\S+)@@$")
MARK_RE = re.compile(r"^@@QLAEMU-MARK (\S+)@@$", re.M)
POWEROFF_MARKER = "@@QLAEMU-POWEROFF@@"
DONE_RE = re.compile(r"@@QLAEMU-DONE rc=(\d+)@@")
PANIC_RE = re.compile(r"Kernel panic - not syncing")

#: Anonymous run directories (BUILD_DIR/guest/runs/*) kept; older ones go.
KEEP_RUNS = 20

#: Bumped whenever the generated guest files change in a way the hash of
#: this module's inputs would not catch.
IMAGE_FORMAT = 2

INIT_SCRIPT = r"""#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mount -t debugfs debugfs /sys/kernel/debug
modprobe configfs && mount -t configfs configfs /sys/kernel/config
hostname qlaemu
export PATH=/sbin:/bin:/usr/sbin:/usr/bin HOME=/root
mkdir -p /root
stty -F /dev/ttyS1 raw -echo 2>/dev/null
echo "@@QLAEMU-BOOTED@@"
if grep -q qlaemu.interactive=1 /proc/cmdline; then
    cat /etc/qlaemu-banner
    setsid cttyhack sh -l
    rc=$?
else
    sh -c '. /lib/qlaemu/functions.sh; . /scenario.sh'
    rc=$?
fi
echo "@@QLAEMU-DONE rc=$rc@@" >/dev/ttyS1
echo "@@QLAEMU-DONE rc=$rc@@"
sync
echo "@@QLAEMU-POWEROFF@@"
poweroff -f
"""

FUNCTIONS_SH = r"""# Helpers for scenario scripts (sourced before /scenario.sh)
QLAEMU_DATA=${QLAEMU_DATA:-/dev/ttyS1}

# qlaemu_begin NAME / qlaemu_end NAME: bracket a hand-written section;
# write its content to "$QLAEMU_DATA" in between.
qlaemu_begin() { echo "@@QLAEMU-BEGIN $1@@" >"$QLAEMU_DATA"; }
qlaemu_end() { printf '\n@@QLAEMU-END %s@@\n' "$1" >"$QLAEMU_DATA"; }

# qlaemu_section NAME CMD [ARGS...]: stdout+stderr of CMD as section NAME.
qlaemu_section() {
    _n=$1; shift
    { echo "@@QLAEMU-BEGIN $_n@@"; "$@" 2>&1
      printf '\n@@QLAEMU-END %s@@\n' "$_n"; } >"$QLAEMU_DATA"
}

# qlaemu_section_file NAME FILE: contents of FILE as section NAME.
qlaemu_section_file() { qlaemu_section "$1" cat "$2"; }

# qlaemu_mark NAME: one line "@@QLAEMU-MARK NAME@@" on the data channel at
# once (a host-side controller can wait for it), and the same text in the
# kernel log (level 6) so that dmesg shows where the mark was set.
qlaemu_mark() {
    echo "@@QLAEMU-MARK $1@@" >"$QLAEMU_DATA"
    echo "<6>qlaemu: mark $1" >/dev/kmsg 2>/dev/null
}

# The control channel (host -> guest): ttyS2 stays open on fd 8, raw,
# no echo (see guest.py).  Absent on a kernel without a third UART.
QLAEMU_CTL=${QLAEMU_CTL:-/dev/ttyS2}
# (probe in a subshell first: a failing redirection of the special builtin
# exec would end a non-interactive shell)
if [ -c "$QLAEMU_CTL" ] && (exec 8<>"$QLAEMU_CTL") 2>/dev/null; then
    exec 8<>"$QLAEMU_CTL"
    stty raw -echo <&8 2>/dev/null
    QLAEMU_CTL_FD=8
fi

# qlaemu_wait_cmd [TIMEOUT_S]: read one line the host sent with
# GuestControl.send() and print it (without CR/LF).  Waits at most
# TIMEOUT_S seconds (default 600); status 1 and no output on timeout, EOF
# or no control channel.
qlaemu_wait_cmd() {
    [ -n "$QLAEMU_CTL_FD" ] || return 1
    _line=
    IFS= read -r -t "${1:-600}" _line <&8 || return 1
    printf '%s\n' "$(printf '%s' "$_line" | tr -d '\r')"
}

# qlaemu_kv NAME DIR ATTR...: "attr=value" lines for the readable ATTRs.
qlaemu_kv() {
    _n=$1; _d=$2; shift 2
    { echo "@@QLAEMU-BEGIN $_n@@"
      for _a in "$@"; do
          [ -r "$_d/$_a" ] && echo "$_a=$(cat "$_d/$_a" 2>/dev/null)"
      done
      printf '\n@@QLAEMU-END %s@@\n' "$_n"; } >"$QLAEMU_DATA"
}
"""

BANNER = """
================================================================
 qla2532-emu interactive guest (busybox).  qla2xxx is NOT loaded.
   lspci-like view:   grep -l 0x2532 /sys/bus/pci/devices/*/device
   initiator mode:    modprobe qla2xxx
   target mode:       modprobe qla2xxx qlini_mode=disabled
                      modprobe tcm_qla2xxx
   look around:       cat /sys/class/fc_host/host*/port_state; dmesg
   leave:             poweroff -f     (or Ctrl-a x)
================================================================
"""


class GuestError(RuntimeError):
    """The guest image cannot be prepared (apt, dpkg-deb, depmod, cpio)."""


@dataclasses.dataclass
class GuestResult:
    """Outcome of one guest boot.

    Attributes:
        console: kernel console (ttyS0) text, CR stripped.
        exit: 'poweroff' (init reached poweroff), 'timeout' (killed by the
            harness), 'panic' (kernel panic or unexpected reset),
            'qemu-error' (QEMU failed / exited non-zero) or
            'controller-error' (the controller raised; QEMU was stopped).
        stderr: QEMU's stderr.
        duration_s: wall time from QEMU start to exit, seconds.
        sections: {name: text} parsed from the data channel (ttyS1).
        script_rc: exit status of the scenario (or shell), None if unknown.
        data: raw data-channel text.
        console_log: path of the console log file.
        data_log: path of the data-channel log file.
        run_dir: directory holding this run's files.
        marks: names written with ``qlaemu_mark``, in order (list of str).
        controller_result: return value of the ``controller`` callable
            (None without one or when it raised).
        controller_error: None, or the traceback text of an exception the
            controller raised (QEMU was then stopped: exit is
            'controller-error'), or a note that it did not finish.
        controller_log: path of the controller's log (QMP traffic and
            data-channel matches, host times), or None.
    """
    console: str
    exit: str
    stderr: str
    duration_s: float
    sections: dict
    script_rc: int | None = None
    data: str = ""
    console_log: Path | None = None
    data_log: Path | None = None
    run_dir: Path | None = None
    marks: list = dataclasses.field(default_factory=list)
    controller_result: object = None
    controller_error: str | None = None
    controller_log: Path | None = None


def parse_sections(text: str) -> dict:
    """Extract marker blocks from ``text``.

    A block is a line ``@@QLAEMU-BEGIN name@@``, the content, then
    ``\\n@@QLAEMU-END name@@`` on a line of its own.  The helpers always
    write one newline before the end marker; it is not part of the content,
    so content round-trips exactly (with or without a final newline).
    Incomplete blocks (no END, e.g. the guest died) are dropped.  A later
    block with the same name replaces an earlier one.

    Args:
        text: data-channel or console text; CR characters are ignored.

    Returns:
        dict name -> content (str).
    """
    text = text.replace("\r", "")
    out = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = BEGIN_RE.match(lines[i])
        if not m:
            i += 1
            continue
        name = m.group(1)
        end = "@@QLAEMU-END %s@@" % name
        for j in range(i + 1, len(lines)):
            if lines[j] == end:
                out[name] = "\n".join(lines[i + 1:j])
                i = j + 1
                break
        else:
            i += 1
    return out


# --------------------------------------------------------------------------
# Guest memory
# --------------------------------------------------------------------------

#: Default guest RAM, MiB.  A storage server has far more than 4 GiB, and
#: what a QLogic driver does depends on it: with RAM above 4 GiB the DMA
#: mask needs 64 bits and the driver turns 64-bit addressing on ("hdma+" in
#: its banner; qla_os.c qla2x00_config_dma_addressing tests
#: dma_get_required_mask), otherwise it stays off ("hdma-").  On q35, RAM
#: above 2 GiB is split around the 4 GiB hole, so 4096 MiB already puts
#: 2 GiB above 4 GiB.  Under TCG the guest's RAM is allocated on first
#: touch, so the cost is the kernel's page tables: docs/kernels.md has the
#: measured boot times.
DEFAULT_MEMORY_MIB = 4096
#: Smallest and largest --memory accepted (MiB).
MEMORY_RANGE_MIB = (256, 65536)

_memory_mib: int | None = None


def set_memory(mib: int | None) -> int:
    """Set the guest RAM of this process's runs (``--memory``); returns it.

    None keeps ``$QLAEMU_MEMORY`` or :data:`DEFAULT_MEMORY_MIB`.

    Raises:
        ValueError: outside :data:`MEMORY_RANGE_MIB`.
    """
    global _memory_mib
    if mib is not None:
        lo, hi = MEMORY_RANGE_MIB
        if not lo <= int(mib) <= hi:
            raise ValueError("--memory %s MiB: must be %d..%d"
                             % (mib, lo, hi))
        _memory_mib = int(mib)
    return memory()


def memory() -> int:
    """Guest RAM in MiB (:func:`set_memory`, $QLAEMU_MEMORY, default)."""
    if _memory_mib is not None:
        return _memory_mib
    env = os.environ.get("QLAEMU_MEMORY")
    if env:
        try:
            return int(env)
        except ValueError:
            raise ValueError("QLAEMU_MEMORY=%r is not a number of MiB"
                             % env) from None
    return DEFAULT_MEMORY_MIB


# --------------------------------------------------------------------------
# QEMU location
# --------------------------------------------------------------------------

def qemu_binary() -> Path:
    """Path of qemu-system-x86_64 with our device (builds it if needed).

    ``$QLAEMU_QEMU`` overrides it (for experiments with another QEMU).

    Raises:
        build.SetupError: if QEMU cannot be built.
    """
    env = os.environ.get("QLAEMU_QEMU")
    if env:
        return Path(env)
    from . import build
    return build.ensure_qemu()


def qemu_data_dirs() -> list:
    """Firmware/ROM directories to pass with ``-L`` (list of str)."""
    try:
        from . import build
        return list(build.qemu_data_dirs())
    except ImportError:
        return [d for d in ("/usr/share/qemu", "/usr/share/seabios")
                if os.path.isdir(d)]


# --------------------------------------------------------------------------
# Kernel package
# --------------------------------------------------------------------------

def _sh(cmd, **kw) -> subprocess.CompletedProcess:
    """Run ``cmd`` (list), raise GuestError with its output on failure."""
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise GuestError("%s failed (%d): %s%s" % (
            " ".join(map(str, cmd)), p.returncode, p.stdout[-2000:],
            p.stderr[-2000:]))
    return p


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
        GuestError: if apt-cache does not know the packages and no .deb is
            cached.
    """
    from . import kernels
    deb = kernels.user_deb()
    if deb is not None:
        try:
            return kernels.deb_package(deb)
        except kernels.KernelError as e:
            raise GuestError(str(e)) from e
    memo = kernels.memo_file()
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
    from . import kernels
    if kernels.current() != kernels.DEFAULT_KERNEL:
        try:
            return kernels.debian_package(kernels.current())
        except kernels.KernelError as e:
            raise GuestError(str(e)) from e
    try:
        dep = _sh(["apt-cache", "depends", "linux-image-amd64"]).stdout
        m = re.search(r"Depends:\s*(linux-image-[0-9][^\s]*-amd64)", dep)
        if not m:
            raise GuestError("no kernel in: %s" % dep)
        pkg = m.group(1)
        show = _sh(["apt-cache", "show", "--no-all-versions", pkg]).stdout
        ver = re.search(r"^Version:\s*(\S+)", show, re.M).group(1)
        return pkg, ver
    except (GuestError, AttributeError, FileNotFoundError):
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
        GuestError: if apt-get download fails.
    """
    from . import kernels
    deb = kernels.user_deb()
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
        raise GuestError("apt-get download %s left no .deb" % pkg)
    return got[0]


def ensure_kernel_root() -> tuple:
    """Unpack the kernel .deb into BUILD_DIR/guest/root once per version.

    Returns:
        (root dir Path, kernel release str e.g. '6.1.0-56-amd64').

    Raises:
        GuestError: on download / unpack / depmod failure.
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
        raise GuestError("expected one kernel in %s: %r" % (root, kvers))
    kver = kvers[0]
    if not (root / "lib" / "modules" / kver / "modules.dep").is_file():
        # The .deb does not ship modules.dep (its postinst runs depmod).
        _sh(["depmod", "-b", str(root), kver])
    return root, kver


def kernel_info() -> dict:
    """The selected guest kernel, for reports: {"spec" (qlaemu.kernels),
    "package", "version" (Debian), "release" (uname -r)}.

    Raises:
        GuestError: the kernel cannot be had.
    """
    from . import kernels
    pkg, ver = kernel_package()
    _root, kver = ensure_kernel_root()
    return {"spec": kernels.current(), "package": pkg, "version": ver,
            "release": kver}


def kernel_image() -> Path:
    """Path of the guest bzImage (vmlinuz)."""
    root, kver = ensure_kernel_root()
    return root / "boot" / ("vmlinuz-%s" % kver)


# --------------------------------------------------------------------------
# Module closure
# --------------------------------------------------------------------------

def _norm(name: str) -> str:
    return name.replace("-", "_")


def module_closure(moddir: Path, wanted=MODULES) -> list:
    """Modules (paths relative to ``moddir``) needed to load ``wanted``.

    Follows modules.dep and the ``softdep`` lines of modules.softdep (names
    resolved through modules.alias, e.g. crc_t10dif -> crct10dif_generic).

    Args:
        moddir: lib/modules/<kver> holding modules.dep.
        wanted: module names ('-' and '_' equivalent).

    Returns:
        sorted list of relative .ko paths.

    Raises:
        GuestError: if a wanted module is not in modules.dep.
    """
    deps = {}
    byname = {}
    for line in (moddir / "modules.dep").read_text().splitlines():
        if ":" not in line:
            continue
        mod, rest = line.split(":", 1)
        deps[mod] = rest.split()
        base = os.path.basename(mod)
        byname[_norm(base.split(".ko")[0])] = mod
    aliases = {}
    alias_file = moddir / "modules.alias"
    if alias_file.is_file():
        for line in alias_file.read_text().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "alias":
                aliases.setdefault(parts[1], []).append(_norm(parts[2]))
    softdeps = {}
    sd_file = moddir / "modules.softdep"
    if sd_file.is_file():
        for line in sd_file.read_text().splitlines():
            parts = line.split()
            if len(parts) > 2 and parts[0] == "softdep":
                names = [p for p in parts[2:] if not p.endswith(":")]
                softdeps[_norm(parts[1])] = names

    def resolve(name):
        if _norm(name) in byname:
            return [byname[_norm(name)]]
        return [byname[n] for n in aliases.get(name, []) if n in byname]

    todo = []
    for w in wanted:
        found = resolve(w)
        if not found and _norm(w) in OPTIONAL_MODULES:
            continue
        if not found:
            raise GuestError("module %s not in %s/modules.dep" % (w, moddir))
        todo.extend(found)
    seen = set()
    while todo:
        mod = todo.pop()
        if mod in seen:
            continue
        seen.add(mod)
        todo.extend(deps.get(mod, []))
        name = _norm(os.path.basename(mod).split(".ko")[0])
        for sd in softdeps.get(name, []):
            todo.extend(resolve(sd))
    return sorted(seen)


# --------------------------------------------------------------------------
# initramfs
# --------------------------------------------------------------------------

def _busybox() -> Path:
    """The static busybox binary (from busybox-static)."""
    for p in ("/bin/busybox", "/usr/bin/busybox"):
        if os.path.isfile(p):
            with open(p, "rb") as f:
                head = f.read(4096)
            if b"ld-linux" not in head:   # no PT_INTERP: static
                return Path(p)
    raise GuestError("static busybox not found: "
                     "apt-get install busybox-static")


def _cpio(srcdir: Path, out: Path, gzip: bool) -> None:
    """Pack ``srcdir`` into a newc archive ``out`` with the cpio tool."""
    names = subprocess.run(["find", ".", "-mindepth", "1"], cwd=srcdir,
                           capture_output=True, text=True, check=True).stdout
    tmp = out.with_suffix(out.suffix + ".tmp")
    with open(tmp, "wb") as f:
        if gzip:
            cp = subprocess.Popen(["cpio", "--quiet", "-o", "-H", "newc",
                                   "-R", "0:0"], cwd=srcdir,
                                  stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
            gz = subprocess.Popen(["gzip", "-6", "-n"], stdin=cp.stdout,
                                  stdout=f)
            cp.stdout.close()
            _, err = cp.communicate(names.encode())
            gz.wait()
            if cp.returncode or gz.returncode:
                raise GuestError("cpio|gzip failed: %s" % err.decode())
        else:
            p = subprocess.run(["cpio", "--quiet", "-o", "-H", "newc",
                                "-R", "0:0"], cwd=srcdir, input=names.encode(),
                               stdout=f, stderr=subprocess.PIPE)
            if p.returncode:
                raise GuestError("cpio failed: %s" % p.stderr.decode())
    tmp.rename(out)


def _base_inputs(root: Path, kver: str, mods: list) -> str:
    """Hash of everything that goes into the base initramfs."""
    h = hashlib.sha256()
    h.update(("%d %s\n" % (IMAGE_FORMAT, kver)).encode())
    h.update((root / ".qlaemu-deb").read_bytes())
    h.update("\n".join(mods).encode())
    h.update(_busybox().read_bytes())
    h.update(firmware.make_ql2500_fw())
    h.update((INIT_SCRIPT + FUNCTIONS_SH + BANNER).encode())
    return h.hexdigest()


def ensure_base_initramfs(profile=None) -> Path:
    """Build BUILD_DIR/guest/initramfs-base.cpio.gz if its inputs changed.

    Args:
        profile: driver-under-test profile (a driver.Profile, or a name or
            path for driver.load_profile); None is the default (stock)
            profile.  A non-stock profile's image is
            initramfs-base-<profile>-<key>.cpio.gz.

    Returns:
        path of initramfs-base.cpio.gz.

    Raises:
        GuestError: on any failure of the tools involved.
    """
    root, kver = ensure_kernel_root()
    moddir = root / "lib" / "modules" / kver
    from . import driver
    plan = driver.initramfs_plan(profile, moddir, MODULES)
    mods = module_closure(moddir, plan.wanted)
    key = _base_inputs(root, kver, mods) + plan.key
    from . import kernels
    name = "initramfs-base" + ("" if kernels.tag() == kernels.DEFAULT_KERNEL
                               else "@" + kernels.tag()) \
        + ("-" + plan.tag if plan.tag else "")
    base = _guest_dir() / (name + ".cpio.gz")
    key_file = _guest_dir() / (name + ".key")
    if base.is_file() and key_file.is_file() and key_file.read_text() == key:
        return base
    stage = Path(tempfile.mkdtemp(prefix="stage.", dir=_guest_dir()))
    try:
        for d in ("bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev",
                  "tmp", "run", "root", "etc", "lib/firmware", "lib/qlaemu"):
            (stage / d).mkdir(parents=True, exist_ok=True)
        shutil.copy2(_busybox(), stage / "bin" / "busybox")
        os.symlink("busybox", stage / "bin" / "sh")
        smod = stage / "lib" / "modules" / kver
        for rel in mods:
            dst = smod / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            if rel.endswith(".xz"):
                with open(dst.with_suffix(""), "wb") as f:
                    subprocess.run(["xz", "-dc", str(moddir / rel)], stdout=f,
                                   check=True)
            elif rel.endswith(".zst"):
                with open(dst.with_suffix(""), "wb") as f:
                    subprocess.run(["zstd", "-dc", str(moddir / rel)],
                                   stdout=f, check=True)
            else:
                shutil.copy2(moddir / rel, dst)
        for rel, src in plan.replace.items():   # the profile's modules
            dst = smod / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
        for gpath, src in plan.files.items():   # the profile's scripts
            dst = stage / gpath.lstrip("/")
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
            dst.chmod(0o755)
        for f in ("modules.builtin", "modules.builtin.modinfo",
                  "modules.order"):
            if (moddir / f).is_file():
                shutil.copy2(moddir / f, smod / f)
        # modules.dep etc. for exactly the modules we ship (uncompressed).
        _sh(["depmod", "-b", str(stage), kver])
        (stage / "lib" / "firmware" / "ql2500_fw.bin").write_bytes(
            firmware.make_ql2500_fw())
        (stage / "init").write_text(INIT_SCRIPT)
        (stage / "init").chmod(0o755)
        (stage / "lib" / "qlaemu" / "functions.sh").write_text(FUNCTIONS_SH)
        (stage / "etc" / "qlaemu-banner").write_text(BANNER)
        (stage / "etc" / "profile").write_text(
            "export PATH=/sbin:/bin:/usr/sbin:/usr/bin\n"
            ". /lib/qlaemu/functions.sh\nPS1='qlaemu# '\n")
        if os.geteuid() == 0:
            os.mknod(stage / "dev" / "console", 0o600 | 0o020000,
                     os.makedev(5, 1))
        _cpio(stage, base, gzip=True)
        key_file.write_text(key)
        for old in driver.stale_initramfs(_guest_dir(), plan.tag):
            old.unlink(missing_ok=True)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return base


def _run_initrd(run_dir: Path, stem: str, script: str,
                extra_files: dict | None, profile=None) -> Path:
    """Base archive + a per-run newc archive with /scenario.sh and extras.

    Returns:
        run_dir/<stem>.initrd (the concatenation); <stem>.overlay.cpio is
        kept next to it.
    """
    base = ensure_base_initramfs(profile)
    stage = run_dir / (stem + ".overlay")
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir()
    (stage / "scenario.sh").write_text(script)
    (stage / "scenario.sh").chmod(0o755)
    for name, data in (extra_files or {}).items():
        dst = stage / name.lstrip("/")
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(data if isinstance(data, bytes) else data.encode())
    overlay = run_dir / (stem + ".overlay.cpio")
    _cpio(stage, overlay, gzip=False)
    initrd = run_dir / (stem + ".initrd")
    with open(initrd, "wb") as out:
        b = base.read_bytes()
        out.write(b + b"\0" * (-len(b) % 4))
        out.write(overlay.read_bytes())
    shutil.rmtree(stage)
    return initrd


def prepare(profile=None) -> None:
    """Make the kernel root and base initramfs (idempotent)."""
    ensure_base_initramfs(profile)


# --------------------------------------------------------------------------
# Run-time control of a running guest (controller thread)
# --------------------------------------------------------------------------

class GuestExited(RuntimeError):
    """QEMU exited while a controller was waiting for it."""


class QMPError(RuntimeError):
    """A QMP command failed, or QMP could not be reached.

    Attributes:
        response: the QMP response dict (``{"error": {...}}``) when the
            command itself failed, else None.
    """

    def __init__(self, msg: str, response: dict | None = None):
        super().__init__(msg)
        self.response = response


def _qemu_python_dir() -> Path | None:
    """``python/`` of QEMU's source tree (holds the ``qemu.qmp`` package).

    Uses BUILD_DIR/qemu-src if it exists, else asks build.ensure_qemu_source()
    for it.  Returns None (callers fall back to the stdlib client) when the
    tree cannot be had, e.g. with ``$QLAEMU_QEMU`` and no source tree.
    """
    d = paths.BUILD_DIR / "qemu-src" / "python"
    if not (d / "qemu" / "qmp").is_dir():
        try:
            from . import build
            d = build.ensure_qemu_source() / "python"
        except Exception:       # noqa: BLE001 - any failure: use fallback
            return None
    return d if (d / "qemu" / "qmp").is_dir() else None


def load_qemu_qmp():
    """Import ``qemu.qmp.legacy.QEMUMonitorProtocol`` from QEMU's tree.

    QEMU 7.2's ``python/qemu/qmp`` needs only the standard library
    (asyncio) for the legacy synchronous class.  Its directory is put on
    ``sys.path`` (once).

    Returns:
        the class, or None when QEMU's source tree is not available or the
        import fails (the caller then uses :class:`_SocketQMP`).
    """
    d = _qemu_python_dir()
    if d is None:
        return None
    if str(d) not in sys.path:
        sys.path.append(str(d))
    try:
        from qemu.qmp.legacy import QEMUMonitorProtocol
    except ImportError:
        return None
    return QEMUMonitorProtocol


class _SocketQMP:
    """Minimal stdlib QMP client (fallback when ``qemu.qmp`` is missing).

    Only what the controller needs: greeting, ``qmp_capabilities``, one
    command at a time, events skipped.  Every socket operation is bounded by
    ``timeout_s``.
    """

    def __init__(self, path: Path, timeout_s: float):
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout_s)
        self._sock.connect(str(path))
        self._buf = b""
        self._id = 0
        greeting = self._recv()
        if "QMP" not in greeting:
            raise QMPError("no QMP greeting: %r" % greeting)
        self.cmd("qmp_capabilities")

    def _recv(self) -> dict:
        while b"\n" not in self._buf:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise QMPError("QMP connection closed")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name: str, args: dict | None = None) -> dict:
        """Send one command; return its response dict (return or error)."""
        self._id += 1
        msg = {"execute": name, "id": self._id}
        if args:
            msg["arguments"] = args
        self._sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            resp = self._recv()
            if resp.get("id") == self._id:
                return resp

    def close(self) -> None:
        self._sock.close()


class GuestControl:
    """Handle given to a ``controller`` callable of :func:`run`.

    It runs in the controller's thread while QEMU runs.  Every wait is
    bounded: by its own ``timeout_s`` and by the end of the QEMU process
    (the guest's hard timeout still applies).

    Attributes:
        data_log: path of the data-channel log being tailed.
        qmp_path: path of the QMP unix socket.
        log: list of ``(seconds since QEMU start, text)`` entries (QMP
            commands/responses, data-channel matches); also written to the
            controller log file.
        qmp_impl: 'qemu.qmp' or 'socket' once QMP has been used.
    """

    #: Seconds to wait for the QMP socket to accept a connection.
    QMP_CONNECT_S = 15.0
    #: Seconds allowed per QMP command.
    QMP_COMMAND_S = 10.0
    #: Tail poll interval, seconds.
    POLL_S = 0.05

    def __init__(self, proc: subprocess.Popen, data_log: Path,
                 qmp_path: Path, log_file: Path, t0: float,
                 cmd_path: Path | None = None):
        self.proc = proc
        self.data_log = Path(data_log)
        self.qmp_path = Path(qmp_path)
        self.cmd_path = Path(cmd_path) if cmd_path else None
        self._cmd_sock = None
        self.log = []
        self.qmp_impl = None
        self._log_file = log_file
        self._t0 = t0
        self._text = ""
        self._raw = b""
        self._pos = 0          # bytes of data_log read so far
        self._cursor = 0       # wait_data searches from here (str index)
        self._qmp = None
        self._loop = None

    # ------------------------------------------------------------ logging
    def note(self, text: str) -> None:
        """Append ``text`` to the controller log with the time since start."""
        t = time.monotonic() - self._t0
        self.log.append((round(t, 3), text))
        with open(self._log_file, "a") as f:
            f.write("%8.3f %s\n" % (t, text))

    def elapsed_s(self) -> float:
        """Seconds since QEMU was started (host monotonic clock)."""
        return time.monotonic() - self._t0

    # ---------------------------------------------------- data channel
    def _read_more(self) -> None:
        try:
            with open(self.data_log, "rb") as f:
                f.seek(self._pos)
                chunk = f.read()
        except FileNotFoundError:
            return
        if chunk:
            self._pos += len(chunk)
            self._raw += chunk
            # decode only complete UTF-8 text (a chunk may split a char)
            text = self._raw.decode("utf-8", "ignore")
            self._text = text.replace("\r", "")

    def data(self) -> str:
        """The data-channel text written so far (CR removed)."""
        self._read_more()
        return self._text

    def wait_data(self, regex: str, timeout_s: float,
                  from_start: bool = False) -> re.Match:
        """Wait until ``regex`` matches the data channel.

        The search starts at the end of the previous successful match (so
        successive calls consume the channel in order), or at the beginning
        when ``from_start``.  ``re.M`` is set.  Marker lines written by
        ``qlaemu_mark NAME`` are matched by ``r"@@QLAEMU-MARK NAME@@"``.

        Args:
            regex: pattern (str).
            timeout_s: maximum wait, seconds.
            from_start: search the whole channel text.

        Returns:
            the re.Match (on the text returned by :meth:`data`).

        Raises:
            TimeoutError: no match within ``timeout_s`` (the message shows
                the channel's tail).
            GuestExited: QEMU exited before a match.
        """
        pat = re.compile(regex, re.M)
        deadline = time.monotonic() + timeout_s
        while True:
            self._read_more()
            m = pat.search(self._text, 0 if from_start else self._cursor)
            if m:
                self._cursor = m.end()
                self.note("data match %r: %r" % (regex, m.group(0)[:200]))
                return m
            if self.proc.poll() is not None:
                self._read_more()
                m = pat.search(self._text, 0 if from_start else self._cursor)
                if m:
                    self._cursor = m.end()
                    return m
                raise GuestExited("QEMU exited (rc %s) while waiting for %r"
                                  % (self.proc.returncode, regex))
            if time.monotonic() >= deadline:
                raise TimeoutError("no %r on the data channel within %.1f s;"
                                   " tail: %r" % (regex, timeout_s,
                                                  self._text[-500:]))
            time.sleep(self.POLL_S)

    def wait_mark(self, name: str, timeout_s: float) -> re.Match:
        """:meth:`wait_data` for the line of ``qlaemu_mark NAME``."""
        return self.wait_data(r"^@@QLAEMU-MARK %s@@$" % re.escape(name),
                              timeout_s)

    # --------------------------------------------------- control channel
    def send(self, line: str, timeout_s: float = 10.0) -> None:
        """Send one line to the guest's control channel (``/dev/ttyS2``).

        A scenario script reads it with ``qlaemu_wait_cmd``.  The first
        call connects to the chardev socket (retrying until ``timeout_s``);
        the connection stays open until QEMU exits.

        Args:
            line: text without a newline (one is appended).
            timeout_s: bound on connecting and writing, seconds.

        Raises:
            ValueError: ``line`` contains a newline or CR.
            GuestExited: QEMU is gone.
            QMPError: no control socket (``run`` got no controller) or it
                cannot be reached / written in time.
        """
        if "\n" in line or "\r" in line:
            raise ValueError("one line without CR/LF expected: %r" % line)
        if self.cmd_path is None:
            raise QMPError("this run has no control channel")
        if self.proc.poll() is not None:
            raise GuestExited("QEMU exited before send(%r)" % line)
        deadline = time.monotonic() + timeout_s
        last = None
        while self._cmd_sock is None:
            if self.proc.poll() is not None:
                raise GuestExited("QEMU exited before send(%r)" % line)
            try:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(timeout_s)
                sock.connect(str(self.cmd_path))
                self._cmd_sock = sock
                self.note("control channel connected")
            except OSError as e:
                sock.close()
                last = e
                if time.monotonic() >= deadline:
                    raise QMPError("cannot connect to the control channel "
                                   "%s: %r" % (self.cmd_path, last)) from e
                time.sleep(0.1)
        try:
            self._cmd_sock.sendall(line.encode() + b"\n")
        except OSError as e:
            if self.proc.poll() is not None:
                raise GuestExited("QEMU exited during send(%r)" % line)
            raise QMPError("control channel write failed: %r" % e) from e
        self.note("sent %r" % line)

    # ------------------------------------------------------------- QMP
    def _connect(self) -> None:
        cls = load_qemu_qmp()
        deadline = time.monotonic() + self.QMP_CONNECT_S
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise GuestExited("QEMU exited before QMP was connected")
            if self.qmp_path.exists():
                try:
                    if cls is not None:
                        # qemu.qmp is asyncio based: this thread needs its
                        # own event loop.
                        self._loop = asyncio.new_event_loop()
                        asyncio.set_event_loop(self._loop)
                        q = cls(str(self.qmp_path))
                        q.connect()
                        q.settimeout(self.QMP_COMMAND_S)
                        self.qmp_impl = "qemu.qmp"
                    else:
                        q = _SocketQMP(self.qmp_path, self.QMP_COMMAND_S)
                        self.qmp_impl = "socket"
                    self._qmp = q
                    self.note("QMP connected (%s)" % self.qmp_impl)
                    return
                except Exception as e:      # noqa: BLE001 - retried
                    last = e
                    self._close_loop()
            time.sleep(0.1)
        raise QMPError("cannot connect to QMP at %s within %.0f s: %s"
                       % (self.qmp_path, self.QMP_CONNECT_S, last))

    def qmp(self, command: str, **args) -> dict:
        """Execute one QMP command on the running QEMU.

        Hyphenated argument names are passed as ``**{"a-b": v}``.  Example:
        ``ctl.qmp("qom-set", path="/machine/peripheral/hba0",
        property="link-event", value="lip")``.

        Args:
            command: QMP command name.
            **args: its arguments.

        Returns:
            the response dict, ``{"return": ...}``.

        Raises:
            QMPError: the command returned an error (``.response`` holds
                it), or QMP is unreachable / timed out
                (:data:`QMP_COMMAND_S`).
            GuestExited: QEMU is gone.
        """
        if self.proc.poll() is not None:
            raise GuestExited("QEMU exited before QMP %s" % command)
        if self._qmp is None:
            self._connect()
        self.note("QMP -> %s %s" % (command, json.dumps(args)))
        try:
            resp = self._qmp.cmd(command, args or None)
        except Exception as e:      # noqa: BLE001 - timeouts, EOF, ...
            self.note("QMP failed: %r" % e)
            if self.proc.poll() is not None:
                raise GuestExited("QEMU exited during QMP %s" % command)
            raise QMPError("QMP %s failed: %r" % (command, e)) from e
        resp = dict(resp)
        self.note("QMP <- %s" % json.dumps(resp)[:500])
        if "error" in resp:
            raise QMPError("QMP %s: %s" % (command, resp["error"]), resp)
        return resp

    def _close_loop(self) -> None:
        if self._loop is not None:
            try:
                self._loop.close()
            except Exception:       # noqa: BLE001
                pass
            asyncio.set_event_loop(None)
            self._loop = None

    def close_control_channel(self) -> None:
        """Close the control-channel socket (:func:`run` does this once
        QEMU has exited).

        Not earlier: QEMU's socket chardev drops the connection on hang-up
        and with it every byte the UART has not taken yet (its FIFO holds
        16), so closing right after :meth:`send` would lose the tail of
        what was sent.
        """
        c, self._cmd_sock = self._cmd_sock, None
        if c is not None:
            try:
                c.close()
            except OSError:
                pass

    def close(self) -> None:
        """Close QMP (called by :func:`run` in the controller's thread)."""
        q, self._qmp = self._qmp, None
        if q is not None:
            try:
                q.close()
            except Exception:       # noqa: BLE001 - QEMU may be gone
                pass
        self._close_loop()


def _controller_thread(controller, handle: GuestControl, out: dict,
                       failed: threading.Event) -> None:
    """Body of the controller thread: run it, record result or traceback."""
    try:
        out["result"] = controller(handle)
    except BaseException:           # noqa: BLE001 - reported to the caller
        out["error"] = traceback.format_exc()
        handle.note("controller raised:\n" + out["error"])
        failed.set()
    finally:
        handle.close()


# --------------------------------------------------------------------------
# Boot
# --------------------------------------------------------------------------

def _new_run_dir(log_path: Path | None) -> Path:
    if log_path is not None:
        d = Path(log_path).parent
        d.mkdir(parents=True, exist_ok=True)
        return d
    runs = _guest_dir() / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    old = sorted(runs.iterdir())
    for d in old[:max(0, len(old) - KEEP_RUNS + 1)]:
        shutil.rmtree(d, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"),
                                 dir=runs))


def _kill(proc: subprocess.Popen, grace_s: float = 5.0) -> None:
    """SIGTERM then SIGKILL ``proc`` (started in its own session)."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
        if proc.poll() is not None:
            return
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run(script: str, device_args=(), timeout_s: float = 120,
        accel: str = "tcg", extra_files: dict | None = None, append: str = "",
        interactive: bool = False, log_path: Path | None = None,
        qmp_path: Path | None = None, controller=None,
        controller_grace_s: float = 15.0, profile=None,
        memory_mib: int | None = None) -> GuestResult:
    """Boot the guest, run ``script`` as /scenario.sh, power off.

    Args:
        script: busybox sh text; runs after proc/sys/dev/configfs/debugfs
            are mounted, with the qlaemu_* section helpers defined.
        device_args: extra QEMU arguments, e.g.
            ['-device', 'qla2532,bus=rp0,wwpn=0x21000024ff000001'].
        timeout_s: hard limit on the QEMU process, seconds; on expiry QEMU
            gets SIGTERM, then SIGKILL, and exit is 'timeout'.  Ignored
            (no limit) when interactive.
        accel: 'tcg' or 'kvm'.
        extra_files: {guest path: bytes or str} added to the per-run archive.
        append: extra kernel command line.
        interactive: console on stdio with a shell instead of the script.
        log_path: console log file; other run files go next to it (with the
            same stem).  Default: a fresh BUILD_DIR/guest/runs/<stamp>/.
        qmp_path: create a QMP unix socket server there (no wait).  With a
            ``controller`` and no ``qmp_path``, one is made in the run
            directory (or under /tmp if that path is too long for a socket).
        controller: optional callable ``controller(handle) -> any``, run in
            a thread while QEMU runs; ``handle`` is a :class:`GuestControl`
            (``wait_data(regex, timeout_s)``, ``wait_mark(name,
            timeout_s)``, ``qmp(command, **args)``, ``send(line)`` to the
            guest's ``qlaemu_wait_cmd``).  Its return value goes
            to ``GuestResult.controller_result``.  If it raises, QEMU is
            stopped and exit is 'controller-error' (traceback in
            ``controller_error``).  It cannot hang the harness: its waits
            are bounded and end when QEMU exits; ``timeout_s`` still
            applies to QEMU.  Not allowed with ``interactive``.
        controller_grace_s: after QEMU exited, how long to wait for the
            controller thread to return, seconds; a thread still running
            then is abandoned (daemon) and reported in
            ``controller_error``.
        profile: driver-under-test profile whose modules and scripts the
            image holds (see qlaemu.driver); None: the stock default.
        memory_mib: guest RAM, MiB (default :func:`memory`).

    Returns:
        GuestResult.

    Raises:
        GuestError / build.SetupError: when the image or QEMU cannot be made.
        ValueError: ``controller`` together with ``interactive``.
    """
    if controller is not None and interactive:
        raise ValueError("a controller cannot drive an interactive guest")
    qemu = qemu_binary()
    kernel = kernel_image()
    run_dir = _new_run_dir(log_path)
    stem = Path(log_path).stem if log_path else "console"
    console_log = Path(log_path) if log_path else run_dir / "console.log"
    data_log = run_dir / (stem + ".data.log")
    stderr_log = run_dir / (stem + ".qemu-stderr.log")
    for f in (console_log, data_log):
        f.unlink(missing_ok=True)
    initrd = _run_initrd(run_dir, stem, script, extra_files, profile)
    cmdline = "console=ttyS0,115200 panic=-1 loglevel=7 log_buf_len=1M " \
        "rdinit=/init"
    if interactive:
        cmdline += " qlaemu.interactive=1"
    if append:
        cmdline += " " + append
    argv = [str(qemu)]
    for d in qemu_data_dirs():
        argv += ["-L", str(d)]
    argv += ["-machine", "q35", "-accel", accel,
             "-m", str(memory_mib or memory()), "-smp", "1",
             "-nodefaults", "-display", "none", "-no-reboot",
             "-kernel", str(kernel), "-initrd", str(initrd),
             "-append", cmdline,
             "-device", "pcie-root-port,id=rp0,chassis=1,slot=1"]
    if interactive:
        argv += ["-chardev", "stdio,id=con,mux=on,signal=off,logfile=%s"
                 % console_log]
    else:
        argv += ["-chardev", "file,id=con,path=%s" % console_log]
    argv += ["-serial", "chardev:con",
             "-chardev", "file,id=data,path=%s" % data_log,
             "-serial", "chardev:data"]
    ctl_log = None
    tmp_sock_dir = None
    cmd_path = None
    if controller is not None:
        ctl_log = run_dir / (stem + ".controller.log")
        ctl_log.unlink(missing_ok=True)
        cmd_path = run_dir / (stem + ".cmd.sock")
        if qmp_path is None:
            qmp_path = run_dir / (stem + ".qmp.sock")
        if len(str(qmp_path)) > 100 or len(str(cmd_path)) > 100:
            # sun_path is 108 bytes
            tmp_sock_dir = Path(tempfile.mkdtemp(prefix="qlaemu-qmp-"))
            if len(str(qmp_path)) > 100:
                qmp_path = tmp_sock_dir / "qmp.sock"
            cmd_path = tmp_sock_dir / "cmd.sock"
        cmd_path.unlink(missing_ok=True)
        argv += ["-chardev", "socket,id=cmd,path=%s,server=on,wait=off"
                 % cmd_path]
    else:
        argv += ["-chardev", "null,id=cmd"]
    # ttyS2's usual IRQ 4 is ttyS0's: QEMU does not OR two ISA devices
    # on one line, so the UARTs would clear each other's interrupt and
    # input on ttyS2 could stall.  IRQ 7 (no parallel port here) is free.
    argv += ["-device", "isa-serial,chardev=cmd,index=2,iobase=0x3e8,irq=7"]
    if qmp_path:
        Path(qmp_path).unlink(missing_ok=True)
        argv += ["-qmp", "unix:%s,server=on,wait=off" % qmp_path]
    argv += list(device_args)
    (run_dir / (stem + ".qemu-argv")).write_text(
        " ".join("'%s'" % a for a in argv) + "\n")

    timed_out = False
    ctl_failed = False
    ctl_out = {}
    ctl_thread = None
    handle = None
    t0 = time.monotonic()
    with open(stderr_log, "wb") as err:
        try:
            proc = subprocess.Popen(
                argv, stdin=None if interactive else subprocess.DEVNULL,
                stdout=None if interactive else subprocess.DEVNULL,
                stderr=err, start_new_session=not interactive)
        except OSError as e:
            err.write(("cannot start %s: %s\n" % (qemu, e)).encode())
            proc = None
        try:
            if proc is None:
                pass
            elif interactive:
                proc.wait()
            elif controller is None:
                proc.wait(timeout=timeout_s)
            else:
                handle = GuestControl(proc, data_log, Path(qmp_path),
                                      ctl_log, t0, cmd_path=cmd_path)
                failed = threading.Event()
                ctl_thread = threading.Thread(
                    target=_controller_thread, name="qlaemu-controller",
                    args=(controller, handle, ctl_out, failed), daemon=True)
                ctl_thread.start()
                deadline = t0 + timeout_s
                while proc.poll() is None:
                    if time.monotonic() >= deadline:
                        raise subprocess.TimeoutExpired(argv, timeout_s)
                    if failed.is_set():
                        ctl_failed = True
                        _kill(proc)
                        break
                    try:
                        proc.wait(timeout=0.2)
                    except subprocess.TimeoutExpired:
                        pass
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill(proc)
        except BaseException:
            if proc is not None:
                _kill(proc)
            raise
    duration = time.monotonic() - t0
    ctl_error = None
    if handle is not None:
        handle.close_control_channel()
    if ctl_thread is not None:
        ctl_thread.join(timeout=controller_grace_s)
        if ctl_thread.is_alive():
            ctl_error = ("controller still running %.0f s after QEMU exited;"
                         " abandoned" % controller_grace_s)
        else:
            ctl_error = ctl_out.get("error")
    if tmp_sock_dir is not None:
        shutil.rmtree(tmp_sock_dir, ignore_errors=True)
    if controller is not None:
        for sock in (qmp_path, cmd_path):
            if sock:
                Path(sock).unlink(missing_ok=True)
    initrd.unlink(missing_ok=True)   # 2.5 MB; base + <stem>.overlay.cpio

    def read(p):
        try:
            return p.read_bytes().decode("utf-8", "replace").replace("\r", "")
        except FileNotFoundError:
            return ""
    console, data, stderr = read(console_log), read(data_log), read(stderr_log)
    m = DONE_RE.search(data) or DONE_RE.search(console)
    if timed_out:
        status = "timeout"
    elif ctl_failed:
        status = "controller-error"
    elif proc is None or proc.returncode != 0:
        status = "qemu-error"
    elif PANIC_RE.search(console):
        status = "panic"
    elif POWEROFF_MARKER in console or "reboot: Power down" in console:
        status = "poweroff"   # init's poweroff, or the user's in a shell
    elif not console.strip():
        status = "qemu-error"
    else:
        status = "panic"   # the guest reset without reaching poweroff
    return GuestResult(console=console, exit=status, stderr=stderr,
                       duration_s=duration, sections=parse_sections(data),
                       script_rc=int(m.group(1)) if m else None, data=data,
                       console_log=console_log, data_log=data_log,
                       run_dir=run_dir, marks=MARK_RE.findall(data),
                       controller_result=ctl_out.get("result"),
                       controller_error=ctl_error, controller_log=ctl_log)
