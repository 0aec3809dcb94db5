"""The race with a real initiator (issue #13 item 4): what the LIP step of a
pair (``pair --lip``) shows, from both sides, and its verdict.

The initiator guest (harness/guest/pair.sh) reads the whole disk into
memory, starts a direct read, writes 1 to its fc_host's ``issue_lip``
during it, waits (at most 30 s) for the port to be Online and the disk to
be there, reads the disk again and compares.  The target's card may have
``prli-complete-latency-us`` set (``pair --target-opt``: the field
report's window between the PRLI LS_ACC and the firmware's PRLI state
machine being done, docs/race.md).

The initiator's view: the port's state, whether the disk is still there,
the direct read's errors, the compare, and its kernel's lines since the
LIP (I/O errors, the SCSI midlayer's failed commands, the rport's loss).
The target's evidence: its card's CTIO completions by status from its
link report (0x29 PORT LOGGED OUT is the field's symptom; qla_target.c
qlt_do_ctio_completion) -- for link ``remote`` the target QEMU's
``report-file``, for ``cable`` the one card's.

The step passes when the port is Online, the disk is there, the read
during the LIP had no error, the disk reads back the same, the kernel
logged no I/O error or failed command since the LIP and no CTIO completed
0x29; it fails otherwise, naming each; with no ``lip`` section the guest
did not get there (the pair's verdict is then INCONCLUSIVE by its own
rules).
"""
import re

#: Kernel lines since the LIP that show the initiator lost I/O or the LUN.
KERNEL_FAILURE_RE = re.compile(
    r"I/O error|FAILED Result|rejecting I/O to offline device|"
    r"remote port .* blocked|dev_loss_tmo|Synchronizing SCSI cache")
#: CTIO status of a CTIO the firmware ended because the initiator was not
#: logged in (qla_target.h CTIO_PORT_LOGGED_OUT).
CTIO_PORT_LOGGED_OUT = "0x29"


def parse_lip(text: str) -> dict:
    """The guest's ``lip`` section -> {wait_s, state, disk (bool), same
    (bool), read_errors (the direct read's error lines)}; {} for none."""
    if not text:
        return {}
    m = re.search(r"wait=(\d+) state=(\S*) disk=(yes|no)", text)
    return {"wait_s": int(m.group(1)) if m else None,
            "state": m.group(2) if m else None,
            "disk": bool(m) and m.group(3) == "yes",
            "same": bool(re.search(r"^same$", text, re.M)),
            "read_errors": [ln for ln in text.splitlines()
                            if "error" in ln.lower()]}


def kernel_failures(dmesg: str) -> list:
    """Lines of ``dmesg`` (the initiator's, since the LIP) that show lost
    I/O or a lost LUN (:data:`KERNEL_FAILURE_RE`)."""
    return [ln for ln in (dmesg or "").splitlines()
            if KERNEL_FAILURE_RE.search(ln)]


def ctio_status(report: dict | None) -> dict:
    """{status '0xNN': count} of the CTIOs a link report's card
    completed ({} without a report)."""
    return dict(((report or {}).get("counters") or {}).get("ctio_status")
                or {})


def prli_to_first_command_us(report: dict | None) -> float | None:
    """From a target card's link report: µs from the LS_ACC of the last
    PRLI it accepted to the first FCP command (ATIO) after it -- how far
    the real initiator's first command comes after the window
    ``prli-complete-latency-us`` opens; None without either event."""
    acc = None
    last_prli = False
    for e in (report or {}).get("events") or []:
        if e.get("event") == "els-received" and not e.get("reply"):
            last_prli = e.get("els") == 0x20
        elif (e.get("event") == "els-sent" and e.get("reply") and last_prli
              and e.get("els") == 0x02):
            acc, last_prli = e["t_ns"], False
    if acc is None:
        return None
    for e in report["events"]:
        if e.get("event") == "atio" and e["t_ns"] > acc:
            return round((e["t_ns"] - acc) / 1000, 1)
    return None


def judge(view: dict, failures: list, ctio: dict) -> list:
    """Why the LIP step failed ([] when it passed): ``view`` from
    :func:`parse_lip`, ``failures`` from :func:`kernel_failures`, ``ctio``
    from :func:`ctio_status`."""
    why = []
    if view.get("state") != "Online":
        why.append("after the LIP the initiator's port is %s, not Online "
                   "(waited %s s)" % (view.get("state"), view.get("wait_s")))
    if not view.get("disk"):
        why.append("after the LIP the initiator lost the LUN")
    elif not view.get("same"):
        why.append("after the LIP the disk did not read back the same")
    for line in view.get("read_errors", [])[:3]:
        why.append("the read during the LIP: %s" % line.strip())
    if failures:
        why.append("the initiator's kernel logged %d I/O failure line(s) "
                   "since the LIP, first: %s" % (len(failures),
                                                 failures[0].strip()))
    if ctio.get(CTIO_PORT_LOGGED_OUT):
        why.append("the target's card completed %d CTIO(s) PORT LOGGED OUT "
                   "(0x29)" % ctio[CTIO_PORT_LOGGED_OUT])
    return why
