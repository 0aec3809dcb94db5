"""Two guests whose ISP2532s share one emulated FC link: each QEMU has its
own ``fc-link`` with an ``fc-remote`` on it, joined by a unix-socket
chardev (hw/qla2532/fc-remote.c, docs/link.md §10).

The first guest (the *server*, e.g. a target) is booted first and runs
its script until it writes ``qlaemu_mark ready``; then the second guest
(the *client*, e.g. an initiator) boots and runs its script until it
writes ``qlaemu_mark finished``; then the first is told ``done`` on its
control channel (``qlaemu_wait_cmd``) and finishes its script and powers
off; then the second is told ``done`` and does the same.  So each guest's
report is made while the other is still on the link: neither sees the
other's power-off as a loss of light before it reported.  Both QEMUs run on the
host's clock (no ``-icount``: two -icount clocks with sleep=off drift
apart without bound, docs/link.md §10).
"""
import dataclasses
import shutil
import tempfile
import threading
import time
from pathlib import Path

from . import control, vm

#: The mark the first guest writes when the second may start.
READY_MARK = "ready"
#: The mark the second guest writes when it has reported.
FINISHED_MARK = "finished"
#: The line each guest reads when it may finish.
DONE_COMMAND = "done"


def link_args(sock: Path, server: bool, capture: Path | None = None) -> list:
    """QEMU arguments of one side's link: an ``fc-link`` ``fc0``, the
    socket chardev (``server``: listen, else connect and retry every
    second) and the ``fc-remote`` on the link; an ``fc-capture`` of this
    side's view of the link if ``capture`` names a file.  The device
    attaches with ``link=fc0``."""
    mode = "server=on,wait=off" if server else "reconnect=1"
    args = ["-object", "fc-link,id=fc0",
            "-chardev", "socket,id=fcr,path=%s,%s" % (sock, mode),
            "-object", "fc-remote,id=r0,link=fc0,chardev=fcr"]
    if capture:
        args += ["-object", "fc-capture,id=cap0,link=fc0,file=%s"
                 % str(capture).replace(",", ",,")]
    return args


@dataclasses.dataclass
class Guest:
    """One side: what :func:`qlaemu.vm.run` is given (``device_args``
    without the link, which :func:`run` adds) and the side's capture."""
    script: str
    device_args: list
    log_path: Path
    timeout_s: float = 1800
    profile: object = None
    archives: tuple = ()
    extra_files: dict | None = None
    capture: Path | None = None


@dataclasses.dataclass
class LinkedResult:
    """What :func:`run` returns: each guest's :class:`vm.GuestResult`
    (``second`` is None when it never started), ``ready_s`` (host seconds
    until the first guest was ready, None if it never was) and ``note``
    (why the second did not start, or '')."""
    first: vm.GuestResult | None
    second: vm.GuestResult | None
    ready_s: float | None
    note: str = ""


def run(first: Guest, second: Guest, ready_timeout_s: float = 600,
        done_grace_s: float = 120) -> LinkedResult:
    """Boot ``first`` (the socket's server), wait for its ``ready`` mark,
    boot ``second`` (the client) and run it to its ``finished`` mark, send
    ``done`` to ``first`` and wait for its end, then send ``done`` to
    ``second`` and wait for its end (the module's doc).

    Args:
        first, second: the two guests.
        ready_timeout_s: bound on the first guest's way to ``ready``, s.
        done_grace_s: bound on the first guest's end after ``done``, s.

    Returns:
        LinkedResult.  If the first guest exits or does not get ready,
        the second is not started (``second`` None, ``note`` says why).

    Raises:
        what :func:`qlaemu.vm.run` raises for either guest.
    """
    sock_dir = Path(tempfile.mkdtemp(prefix="qlaemu-fc-"))
    sock = sock_dir / "fc.sock"
    ready, done, gone = (threading.Event(), threading.Event(),
                         threading.Event())
    out = {}
    t0 = time.monotonic()

    def wait_for(h: control.GuestControl, event: threading.Event,
                 what: str) -> None:
        while not event.wait(1.0):
            if h.proc.poll() is not None:
                raise control.GuestExited("the guest exited before " + what)

    def controller(h: control.GuestControl):
        out["proc"] = h.proc
        h.wait_mark(READY_MARK, ready_timeout_s)
        ready.set()
        wait_for(h, done, "the other had finished")
        h.send(DONE_COMMAND)

    def controller2(h: control.GuestControl):
        try:
            h.wait_mark(FINISHED_MARK, second.timeout_s)
        finally:
            done.set()
        gone.wait(done_grace_s)
        h.send(DONE_COMMAND)

    def boot_first():
        try:
            out["first"] = vm.run(
                first.script, device_args=link_args(sock, True, first.capture)
                + list(first.device_args), timeout_s=first.timeout_s,
                log_path=first.log_path, controller=controller,
                profile=first.profile, archives=first.archives,
                extra_files=first.extra_files)
        except BaseException as e:      # re-raised in the caller's thread
            out["error"] = e
        finally:
            ready.set()                 # a guest that died is "ready" too
            gone.set()

    th = threading.Thread(target=boot_first, name="qlaemu-linked-first",
                          daemon=True)
    th.start()
    try:
        ready.wait(ready_timeout_s + 60)
        ready_s = time.monotonic() - t0
        if "first" in out or "error" in out or not th.is_alive():
            th.join()
            if "error" in out:
                raise out["error"]
            return LinkedResult(out.get("first"), None, None,
                                "the first guest ended before it was ready")
        res2 = vm.run(second.script,
                      device_args=link_args(sock, False, second.capture)
                      + list(second.device_args),
                      timeout_s=second.timeout_s, log_path=second.log_path,
                      controller=controller2, profile=second.profile,
                      archives=second.archives,
                      extra_files=second.extra_files)
    finally:
        done.set()
        th.join(done_grace_s)
        if th.is_alive() and out.get("proc"):
            out["proc"].terminate()     # vm.run then classifies the exit
            th.join(30)
        shutil.rmtree(sock_dir, ignore_errors=True)
    if "error" in out:
        raise out["error"]
    return LinkedResult(out.get("first"), res2, round(ready_s, 1))
