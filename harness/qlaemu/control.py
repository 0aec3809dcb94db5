"""Run-time control of a running guest: the data channel (ttyS1), the
control channel (ttyS2) and QMP, for a ``controller`` callable of
:func:`qlaemu.vm.run` that runs in its own thread while QEMU runs.

Data channel.  Scenario scripts report results in sections::

    qlaemu_section NAME COMMAND [ARGS...]   # stdout of COMMAND
    qlaemu_section_file NAME FILE           # contents of FILE
    qlaemu_begin NAME; ...; qlaemu_end NAME # hand-written blocks
    qlaemu_mark NAME                        # one-line marker, at once

(harness/guest/functions.sh), which write ``@@QLAEMU-BEGIN name@@`` /
``@@QLAEMU-END name@@`` blocks to ``/dev/ttyS1`` -- a second 16550 UART
that QEMU writes to ``data.log``.  The kernel console is only on ttyS0, so
printk lines can never interleave with section data, whatever the
loglevel.  The 8250 driver is built into the Debian kernel, so the channel
exists before any module is loaded.  ttyS1 is put in raw mode so no CR/LF
translation happens.  Closing a tty waits for its output to drain, so a
section is in ``data.log`` before the next command runs.

Control channel (host -> guest).  A third 16550 (``/dev/ttyS2``) is backed
by a unix-socket chardev server (``server=on,wait=off``) when the run has a
``controller``, and by a ``null`` chardev otherwise.  The controller writes
lines with :meth:`GuestControl.send`; a scenario script reads one with
``qlaemu_wait_cmd [timeout_s]``.  ``functions.sh`` keeps ttyS2 open on fd
8 for the whole script and puts it in raw mode without echo: the 8250
driver flushes the UART FIFO whenever the port is opened, so a line sent
while the port is closed would be lost.  While the port is open, unread
input waits in the tty buffer; QEMU stops reading the socket while the UART
FIFO is full, and the host keeps its end of the socket open until QEMU
exits (a hang-up makes QEMU drop what the UART has not taken yet).  ttyS2
gets IRQ 7 instead of the usual 4, which ttyS0 uses: QEMU does not OR two
ISA devices on one line.

QMP.  One client: QEMU's own ``qemu.qmp`` (``python/qemu/qmp`` of the QEMU
source tree the harness builds, its legacy synchronous class).  Its read
limit is raised to :data:`QMP_READ_LIMIT`: the device's ``report`` (the
whole event log) outgrows the library's 256 KiB.
"""
import asyncio
import json
import re
import socket
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

from . import build, host, paths


#: The longest QMP message the client reads, bytes.  ``qemu.qmp`` reads
#: a message as one line through an asyncio stream whose limit is the
#: client's ``_limit`` (QEMU 7.2 ``python/qemu/qmp/qmp_client.py``: 256
#: KiB, "large enough to accept query-qmp-schema").  A longer line is
#: not an error of the command but the end of the connection: the reader
#: task fails ("Separator is found, but chunk is longer than limit") and
#: every pending command gets ``ExecInterruptedError('Disconnected')``.
#: The device's ``report`` holds the whole event log, and a replay of
#: ``traces/basic.pcap`` (910 frames) makes it about 250 KB, more once
#: quoted inside the QMP reply; so the bound is set far above any report.
#: The stream only grows its buffer as far as a line needs.
QMP_READ_LIMIT = 256 * 1024 * 1024


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


def _qemu_python_dir() -> Path:
    """``python/`` of QEMU's source tree (holds the ``qemu.qmp`` package).

    Uses BUILD_DIR/qemu-src if it exists, else asks
    :func:`qlaemu.build.ensure_qemu_source` for it (also with
    ``$QLAEMU_QEMU``: the client comes from Debian's QEMU 7.2 source).

    Raises:
        QMPError: the tree cannot be had.
    """
    d = paths.BUILD_DIR / "qemu-src" / "python"
    if not (d / "qemu" / "qmp").is_dir():
        try:
            d = build.ensure_qemu_source() / "python"
        except host.SetupError as e:
            raise QMPError("QEMU's Python QMP client (python/qemu/qmp of "
                           "the QEMU source tree) cannot be had: %s" % e)
    if not (d / "qemu" / "qmp").is_dir():
        raise QMPError("no python/qemu/qmp in %s" % d.parent)
    return d


def load_qemu_qmp():
    """Import ``qemu.qmp.legacy.QEMUMonitorProtocol`` from QEMU's tree.

    QEMU 7.2's ``python/qemu/qmp`` needs only the standard library
    (asyncio) for the legacy synchronous class.  Its directory is put on
    ``sys.path`` (once).

    Returns:
        the class.

    Raises:
        QMPError: QEMU's source tree is not available or the import fails.
    """
    d = _qemu_python_dir()
    if str(d) not in sys.path:
        sys.path.append(str(d))
    try:
        from qemu.qmp.legacy import QEMUMonitorProtocol
    except ImportError as e:
        raise QMPError("cannot import qemu.qmp from %s: %s" % (d, e)) from e
    return QEMUMonitorProtocol


def set_read_limit(q, limit: int) -> None:
    """Raise the read limit (bytes) of ``q``, a not yet connected
    ``qemu.qmp.legacy.QEMUMonitorProtocol`` (:data:`QMP_READ_LIMIT` says
    why).  The library has no argument for it: the limit is the
    ``_limit`` attribute of its ``QMPClient`` (``q._qmp``), read when the
    connection is opened (``protocol.py`` ``_do_connect``).

    Raises:
        QMPError: this ``qemu.qmp`` has no such attribute (the library
            changed; a silent 256 KiB bound would come back).
    """
    client = getattr(q, "_qmp", None)
    if not isinstance(getattr(client, "_limit", None), int):
        raise QMPError("qemu.qmp changed: no QMPClient._limit to raise the "
                       "read limit (the device's report can pass 256 KiB)")
    client._limit = limit


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
                    # qemu.qmp is asyncio based: this thread needs its own
                    # event loop.
                    self._loop = asyncio.new_event_loop()
                    asyncio.set_event_loop(self._loop)
                    q = cls(str(self.qmp_path))
                    set_read_limit(q, QMP_READ_LIMIT)
                    q.connect()
                    q.settimeout(self.QMP_COMMAND_S)
                    self._qmp = q
                    self.note("QMP connected (qemu.qmp)")
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

    def wait_event(self, name: str, timeout_s: float) -> dict | None:
        """Wait for the QMP event ``name`` (e.g. ``"STOP"``), reading only:
        no command reaches QEMU while it waits, so the guest runs exactly
        as it would with no host at all.  Events that came before the call
        count too; others are dropped.

        Args:
            name: the event's name.
            timeout_s: wall-clock bound, seconds.
        Returns:
            the event dict, or None when it did not come in time.
        Raises:
            GuestExited: QEMU is gone.
            QMPError: QMP is unreachable.
        """
        if self._qmp is None:
            self._connect()
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if self.proc.poll() is not None:
                raise GuestExited("QEMU exited while waiting for %s" % name)
            try:
                ev = self._qmp.pull_event(wait=min(1.0, left))
            except asyncio.TimeoutError:
                continue
            except Exception as e:      # noqa: BLE001 - EOF, ...
                if self.proc.poll() is not None:
                    raise GuestExited("QEMU exited while waiting for %s"
                                      % name) from e
                raise QMPError("QMP event wait failed: %r" % e) from e
            if ev and ev.get("event") == name:
                self.note("QMP <- event %s" % json.dumps(ev)[:300])
                return ev

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
        """Close QMP (called by :func:`qlaemu.vm.run` in the controller's
        thread)."""
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
