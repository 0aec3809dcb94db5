"""The host side's QMP client (qlaemu.control) against a stand-in QMP
server: no QEMU, no guest.

The stand-in speaks QMP as QEMU does (docs/interop/qmp-spec of QEMU: a
greeting, ``qmp_capabilities``, then one JSON reply per line carrying the
command's ``id``), so the client under test is QEMU's own ``qemu.qmp`` as
the harness configures it.
"""
import json
import socket
import threading
import time

import pytest

from qlaemu import control, verdict


class _Running:
    """A stand-in for the QEMU process: always running."""
    returncode = None

    def poll(self):
        return None


def _commands(conn: socket.socket):
    """The JSON objects a client sends on ``conn``, one by one.  QMP is a
    stream of JSON values, not of lines: qemu.qmp ends a command with no
    newline (QEMU parses the stream with its JSON lexer)."""
    dec, buf = json.JSONDecoder(), ""
    while True:
        data = conn.recv(65536)
        if not data:
            return
        buf += data.decode()
        while buf.strip():
            try:
                obj, end = dec.raw_decode(buf.lstrip())
            except ValueError:
                break
            buf = buf.lstrip()[end:]
            yield obj


def _serve(listener: socket.socket, answers: dict, seen: list) -> None:
    """Accept one client on ``listener`` and answer as QEMU's QMP does:
    the greeting, then per command the reply ``answers`` gives for its
    name ({"return": {}} by default) with the command's id, each reply
    one line."""
    conn, _ = listener.accept()
    with conn:
        conn.sendall(json.dumps({"QMP": {"version": {
            "qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""},
            "capabilities": []}}).encode() + b"\r\n")
        for cmd in _commands(conn):
            seen.append(cmd["execute"])
            reply = dict(answers.get(cmd["execute"], {"return": {}}))
            if "id" in cmd:
                reply["id"] = cmd["id"]
            conn.sendall(json.dumps(reply).encode() + b"\r\n")


@pytest.fixture
def stand_in(tmp_path):
    """(start(answers) -> GuestControl, commands seen): a QMP stand-in on
    a unix socket and a GuestControl connected to it."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    path = tmp_path / "qmp.sock"
    listener.bind(str(path))
    listener.listen(1)
    seen, ctls = [], []

    def start(answers):
        threading.Thread(target=_serve, args=(listener, answers, seen),
                         daemon=True).start()
        ctl = control.GuestControl(_Running(), tmp_path / "data.log", path,
                                   tmp_path / "controller.log",
                                   time.monotonic())
        ctls.append(ctl)
        return ctl

    yield start, seen
    for ctl in ctls:
        ctl.close()
    listener.close()


def test_qmp_reads_a_reply_longer_than_the_librarys_limit(stand_in):
    """The device's report of a long replay is one QMP reply of more than
    256 KiB (qemu.qmp's own read limit): it reaches the controller whole.
    With the library's limit the connection broke ('Disconnected'), QEMU
    was stopped and the replay of traces/basic.pcap was judged from what
    the device wrote when killed (a CI failure, 909 of 910 frames)."""
    events = [{"t_ns": i * 1000, "source": "isp", "event": "frame-sent",
               "note": "\"quoted\" %d" % i} for i in range(20000)]
    report = json.dumps({"events": events})
    assert len(json.dumps(report)) > 2 * 256 * 1024
    start, seen = stand_in
    ctl = start({"qom-get": {"return": report}})
    got = ctl.qmp("qom-get", path="/machine/peripheral/hba0",
                  property="report")
    assert json.loads(got["return"]) == {"events": events}
    assert seen == ["qmp_capabilities", "qom-get"]


def test_qmp_error_reply_is_a_qmp_error(stand_in):
    """A command QEMU refuses raises QMPError carrying QEMU's reply."""
    start, _ = stand_in
    err = {"class": "GenericError", "desc": "Property 'x' not found"}
    ctl = start({"qom-get": {"error": err}})
    with pytest.raises(control.QMPError) as e:
        ctl.qmp("qom-get", path="/machine", property="x")
    assert e.value.response == {"error": err}


def test_read_limit_needs_the_librarys_attribute():
    """A qemu.qmp without the attribute is named, not ignored (the
    256 KiB bound would come back silently)."""
    class Bare:
        _qmp = object()
    with pytest.raises(control.QMPError, match="_limit"):
        control.set_read_limit(Bare(), 1 << 20)


def test_controller_failure_names_its_cause():
    """A controller's exception becomes one reason: a TimeoutError is the
    guest's hang, anything else the harness's failure; the exception's
    last line is quoted."""
    tb = ("Traceback (most recent call last):\n  File \"x.py\", line 1\n"
          "qlaemu.control.QMPError: QMP qom-get failed: "
          "ExecInterruptedError('Disconnected')\n")
    why = verdict.controller_failure(tb)
    assert why.startswith("the harness's controller failed")
    assert "ExecInterruptedError('Disconnected')" in why
    hang = verdict.controller_failure(
        "Traceback ...\nTimeoutError: no 'ready' on the data channel\n")
    assert "(hang)" in hang and "no 'ready'" in hang
    assert verdict.controller_failure(None) == (
        "the harness's controller failed and stopped the guest")
    assert len(verdict.controller_failure("E: " + "x" * 5000)) < 400
    j = verdict.judge({}, verdict.RunState(guest_exit="controller-error",
                                           controller_error=tb))
    assert j.verdict == verdict.INCONCLUSIVE and "Disconnected" in j.reasons[0]
