"""The test guest under QEMU: boot Debian's kernel with the initramfs
(:mod:`qlaemu.image`), run a script, power off, and return what happened.

:func:`run` starts ``qemu-system-x86_64`` (q35, one CPU, the guest's RAM,
``-nodefaults``) with three UARTs -- the kernel console (ttyS0), the data
channel (ttyS1) and the control channel (ttyS2; :mod:`qlaemu.control`) --
and the caller's device arguments, optionally runs a ``controller`` in a
thread while QEMU runs, and classifies the exit (poweroff, timeout, panic,
qemu-error, controller-error).
"""
import dataclasses
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from . import build, control, image, kernels, paths

BEGIN_RE = re.compile(r"^@@QLAEMU-BEGIN (\S+)@@$")
MARK_RE = re.compile(r"^@@QLAEMU-MARK (\S+)@@$", re.M)
POWEROFF_MARKER = "@@QLAEMU-POWEROFF@@"
DONE_RE = re.compile(r"@@QLAEMU-DONE rc=(\d+)@@")
PANIC_RE = re.compile(r"Kernel panic - not syncing")

#: Anonymous run directories (BUILD_DIR/guest/runs/*) kept; older ones go.
KEEP_RUNS = 20


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
# QEMU
# --------------------------------------------------------------------------

def qemu_binary() -> Path:
    """Path of qemu-system-x86_64 with our device (builds it if needed).

    ``$QLAEMU_QEMU`` overrides it (for experiments with another QEMU).

    Raises:
        host.SetupError: if QEMU cannot be built.
    """
    env = os.environ.get("QLAEMU_QEMU")
    if env:
        return Path(env)
    return build.ensure_qemu()


def qemu_data_dirs() -> list:
    """Firmware/ROM directories to pass with ``-L`` (list of str)."""
    return list(build.qemu_data_dirs())


# --------------------------------------------------------------------------
# Boot
# --------------------------------------------------------------------------

def _new_run_dir(log_path: Path | None) -> Path:
    if log_path is not None:
        d = Path(log_path).parent
        d.mkdir(parents=True, exist_ok=True)
        return d
    runs = paths.BUILD_DIR / "guest" / "runs"
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


@dataclasses.dataclass
class _RunFiles:
    """The files and sockets of one run."""
    run_dir: Path
    stem: str
    console_log: Path
    data_log: Path
    stderr_log: Path
    controller_log: Path | None = None
    qmp_path: Path | None = None
    cmd_path: Path | None = None
    tmp_sock_dir: Path | None = None


def _run_files(log_path, controller, qmp_path) -> _RunFiles:
    """Choose the run's files; sockets go under /tmp when the run
    directory's path is too long for one (sun_path is 108 bytes)."""
    run_dir = _new_run_dir(log_path)
    stem = Path(log_path).stem if log_path else "console"
    f = _RunFiles(run_dir=run_dir, stem=stem,
                  console_log=Path(log_path) if log_path
                  else run_dir / "console.log",
                  data_log=run_dir / (stem + ".data.log"),
                  stderr_log=run_dir / (stem + ".qemu-stderr.log"),
                  qmp_path=Path(qmp_path) if qmp_path else None)
    for p in (f.console_log, f.data_log):
        p.unlink(missing_ok=True)
    if controller is not None:
        f.controller_log = run_dir / (stem + ".controller.log")
        f.controller_log.unlink(missing_ok=True)
        f.cmd_path = run_dir / (stem + ".cmd.sock")
        if f.qmp_path is None:
            f.qmp_path = run_dir / (stem + ".qmp.sock")
        if len(str(f.qmp_path)) > 100 or len(str(f.cmd_path)) > 100:
            f.tmp_sock_dir = Path(tempfile.mkdtemp(prefix="qlaemu-qmp-"))
            if len(str(f.qmp_path)) > 100:
                f.qmp_path = f.tmp_sock_dir / "qmp.sock"
            f.cmd_path = f.tmp_sock_dir / "cmd.sock"
        f.cmd_path.unlink(missing_ok=True)
    return f


def _qemu_argv(f: _RunFiles, initrd: Path, accel: str, memory_mib: int,
               append: str, interactive: bool, device_args) -> list:
    """The QEMU command line of a run."""
    cmdline = "console=ttyS0,115200 panic=-1 loglevel=7 log_buf_len=1M " \
        "rdinit=/init"
    if interactive:
        cmdline += " qlaemu.interactive=1"
    if append:
        cmdline += " " + append
    argv = [str(qemu_binary())]
    for d in qemu_data_dirs():
        argv += ["-L", str(d)]
    argv += ["-machine", "q35", "-accel", accel,
             "-m", str(memory_mib), "-smp", "1",
             "-nodefaults", "-display", "none", "-no-reboot",
             "-kernel", str(kernels.kernel_image()), "-initrd", str(initrd),
             "-append", cmdline,
             "-device", "pcie-root-port,id=rp0,chassis=1,slot=1"]
    if interactive:
        argv += ["-chardev", "stdio,id=con,mux=on,signal=off,logfile=%s"
                 % f.console_log]
    else:
        argv += ["-chardev", "file,id=con,path=%s" % f.console_log]
    argv += ["-serial", "chardev:con",
             "-chardev", "file,id=data,path=%s" % f.data_log,
             "-serial", "chardev:data"]
    if f.cmd_path is not None:
        argv += ["-chardev", "socket,id=cmd,path=%s,server=on,wait=off"
                 % f.cmd_path]
    else:
        argv += ["-chardev", "null,id=cmd"]
    # ttyS2's usual IRQ 4 is ttyS0's: QEMU does not OR two ISA devices
    # on one line, so the UARTs would clear each other's interrupt and
    # input on ttyS2 could stall.  IRQ 7 (no parallel port here) is free.
    argv += ["-device", "isa-serial,chardev=cmd,index=2,iobase=0x3e8,irq=7"]
    if f.qmp_path:
        f.qmp_path.unlink(missing_ok=True)
        argv += ["-qmp", "unix:%s,server=on,wait=off" % f.qmp_path]
    return argv + list(device_args)


@dataclasses.dataclass
class _Supervision:
    """How the QEMU process ended, as :func:`_supervise` saw it."""
    proc: subprocess.Popen | None = None
    timed_out: bool = False
    controller_failed: bool = False
    controller_out: dict = dataclasses.field(default_factory=dict)
    handle: control.GuestControl | None = None
    thread: threading.Thread | None = None


def _supervise(argv: list, f: _RunFiles, timeout_s: float,
               interactive: bool, controller) -> _Supervision:
    """Start QEMU and wait for it (and the controller thread's failure);
    kill it at the time limit."""
    s = _Supervision()
    t0 = time.monotonic()
    with open(f.stderr_log, "wb") as err:
        try:
            s.proc = subprocess.Popen(
                argv, stdin=None if interactive else subprocess.DEVNULL,
                stdout=None if interactive else subprocess.DEVNULL,
                stderr=err, start_new_session=not interactive)
        except OSError as e:
            err.write(("cannot start %s: %s\n" % (argv[0], e)).encode())
            return s
    try:
        if interactive:
            s.proc.wait()
        elif controller is None:
            s.proc.wait(timeout=timeout_s)
        else:
            _supervise_controller(s, f, t0, timeout_s, controller)
    except subprocess.TimeoutExpired:
        s.timed_out = True
        _kill(s.proc)
    except BaseException:
        _kill(s.proc)
        raise
    return s


def _supervise_controller(s: _Supervision, f: _RunFiles, t0: float,
                          timeout_s: float, controller) -> None:
    s.handle = control.GuestControl(s.proc, f.data_log, f.qmp_path,
                                    f.controller_log, t0,
                                    cmd_path=f.cmd_path)
    failed = threading.Event()
    s.thread = threading.Thread(
        target=control._controller_thread, name="qlaemu-controller",
        args=(controller, s.handle, s.controller_out, failed), daemon=True)
    s.thread.start()
    deadline = t0 + timeout_s
    while s.proc.poll() is None:
        if time.monotonic() >= deadline:
            raise subprocess.TimeoutExpired(s.proc.args, timeout_s)
        if failed.is_set():
            s.controller_failed = True
            _kill(s.proc)
            break
        try:
            s.proc.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            pass


def _classify(s: _Supervision, console: str) -> str:
    """The ``GuestResult.exit`` of a run."""
    if s.timed_out:
        return "timeout"
    if s.controller_failed:
        return "controller-error"
    if s.proc is None or s.proc.returncode != 0:
        return "qemu-error"
    if PANIC_RE.search(console):
        return "panic"
    if POWEROFF_MARKER in console or "reboot: Power down" in console:
        return "poweroff"   # init's poweroff, or the user's in a shell
    if not console.strip():
        return "qemu-error"
    return "panic"          # the guest reset without reaching poweroff


def _read(p: Path) -> str:
    try:
        return p.read_bytes().decode("utf-8", "replace").replace("\r", "")
    except FileNotFoundError:
        return ""


def run(script: str, device_args=(), timeout_s: float = 120,
        accel: str = "tcg", extra_files: dict | None = None, append: str = "",
        interactive: bool = False, log_path: Path | None = None,
        qmp_path: Path | None = None, controller=None,
        controller_grace_s: float = 15.0, profile=None,
        memory_mib: int | None = None, archives=()) -> GuestResult:
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
            a thread while QEMU runs; ``handle`` is a
            :class:`qlaemu.control.GuestControl` (``wait_data(regex,
            timeout_s)``, ``wait_mark(name, timeout_s)``, ``qmp(command,
            **args)``, ``send(line)`` to the guest's ``qlaemu_wait_cmd``).
            Its return value goes to ``GuestResult.controller_result``.  If
            it raises, QEMU is stopped and exit is 'controller-error'
            (traceback in ``controller_error``).  It cannot hang the
            harness: its waits are bounded and end when QEMU exits;
            ``timeout_s`` still applies to QEMU.  Not allowed with
            ``interactive``.
        controller_grace_s: after QEMU exited, how long to wait for the
            controller thread to return, seconds; a thread still running
            then is abandoned (daemon) and reported in
            ``controller_error``.
        profile: driver-under-test profile whose modules and scripts the
            image holds (see qlaemu.profiles); None: the stock default.
        memory_mib: guest RAM, MiB (default :func:`memory`).
        archives: more initramfs archives (paths) after the base image,
            e.g. :func:`qlaemu.tools.ensure_archive`'s.

    Returns:
        GuestResult.

    Raises:
        image.GuestError, kernels.KernelError, host.SetupError: when the
            image, the kernel or QEMU cannot be had.
        ValueError: ``controller`` together with ``interactive``.
    """
    if controller is not None and interactive:
        raise ValueError("a controller cannot drive an interactive guest")
    f = _run_files(log_path, controller, qmp_path)
    initrd = image.run_initrd(f.run_dir, f.stem, script, extra_files,
                              profile, archives)
    argv = _qemu_argv(f, initrd, accel, memory_mib or memory(), append,
                      interactive, device_args)
    (f.run_dir / (f.stem + ".qemu-argv")).write_text(
        " ".join("'%s'" % a for a in argv) + "\n")
    t0 = time.monotonic()
    s = _supervise(argv, f, timeout_s, interactive, controller)
    duration = time.monotonic() - t0
    ctl_error = _end_controller(s, controller_grace_s)
    if f.tmp_sock_dir is not None:
        shutil.rmtree(f.tmp_sock_dir, ignore_errors=True)
    for sock in (f.qmp_path, f.cmd_path) if controller is not None else ():
        if sock:
            sock.unlink(missing_ok=True)
    initrd.unlink(missing_ok=True)   # 2.5 MB; base + <stem>.overlay.cpio
    console, data = _read(f.console_log), _read(f.data_log)
    m = DONE_RE.search(data) or DONE_RE.search(console)
    return GuestResult(
        console=console, exit=_classify(s, console),
        stderr=_read(f.stderr_log), duration_s=duration,
        sections=parse_sections(data),
        script_rc=int(m.group(1)) if m else None, data=data,
        console_log=f.console_log, data_log=f.data_log, run_dir=f.run_dir,
        marks=MARK_RE.findall(data),
        controller_result=s.controller_out.get("result"),
        controller_error=ctl_error, controller_log=f.controller_log)


def _end_controller(s: _Supervision, grace_s: float) -> str | None:
    """Close the control channel, join the controller thread; its error."""
    if s.handle is not None:
        s.handle.close_control_channel()
    if s.thread is None:
        return None
    s.thread.join(timeout=grace_s)
    if s.thread.is_alive():
        return ("controller still running %.0f s after QEMU exited;"
                " abandoned" % grace_s)
    return s.controller_out.get("error")
