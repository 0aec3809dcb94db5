"""Evidence of a run, from the device's report (its event log, counters
and the simulated initiator's state): pure functions, unit-tested.

One timeline (:func:`timeline`) serves every command: the login timeline
of PLOGI, PRLI, LS_ACC, login-state changes, ATIOs, CTIO completions,
rejected IOCBs, LOGO/PRLO, the initiator's logins, logouts, command
completions, LIPs and scenario-done, in virtual time.  :func:`analyse`
gathers what a verdict (:mod:`qlaemu.verdict`) is judged on.

Event fields follow the device's report (docs/scenario.md): ``t_ns``
(virtual ns), ``source`` ('isp' or 'initiator'), ``event`` and the event's
own fields.
"""
import json
import re


def qemu_refusal(stderr: str) -> str:
    """Why QEMU refused to start: its last stderr line without the
    ``qemu-system-x86_64: -device ...: `` / ``-object ...: `` prefix that
    repeats the whole option (e.g. ``qla2532: scenario F: commands[0]:
    unknown key 'blockz'``); "" for empty stderr."""
    lines = (stderr or "").strip().splitlines()
    if not lines:
        return ""
    return re.sub(r"^qemu-system-\S+: (-(device|object) \S+: )?", "",
                  lines[-1])


#: ELS command codes (FC-LS-3 table 4).
ELS_PLOGI, ELS_LOGO, ELS_PRLI, ELS_PRLO = 0x03, 0x05, 0x20, 0x21
#: ELS command codes, for printing the ISP's counters ("0x05" -> LOGO).
ELS_NAMES = {0x02: "LS_ACC", 0x01: "LS_RJT", 0x03: "PLOGI", 0x05: "LOGO",
             0x20: "PRLI", 0x21: "PRLO", 0x52: "ADISC", 0x04: "FLOGI",
             0x0a: "PDISC", 0x16: "RRQ", 0x23: "SCR", 0x61: "RSCN"}
#: Firmware login states (qla_def.h PDS_*), as the report's login-state.
LOGIN_STATES = {0x03: "PLOGI pending", 0x04: "PLOGI complete",
                0x05: "PRLI pending", 0x06: "PRLI complete",
                0x07: "port unavailable", 0x09: "PRLO pending",
                0x11: "LOGO pending"}
#: CTIO completion status values (qla_target.h).
CTIO_SUCCESS = 0x01
CTIO_ABORTED = 0x02
CTIO_TIMEOUT = 0x0b
CTIO_PORT_LOGGED_OUT = 0x29
#: Statuses tolerated on an exchange the initiator aborted (ABTS): its
#: pending data-out CTIO ends 0x0b (CTIO timeout) or 0x02 (aborted).
ABORT_STATUSES = (CTIO_ABORTED, CTIO_TIMEOUT)
#: Fields of an event that are not part of its identity when two runs'
#: timelines are compared (virtual times and durations).
TIME_FIELDS_RE = re.compile(r"(^t_ns$|_ns$)")
#: One line of QEMU's ``qla2532_iocb`` trace (hw/qla2532/trace-events).
IOCB_TRACE_RE = re.compile(
    r"qla2532_iocb port \d+ request\[(\d+)\] type 0x([0-9a-f]+) "
    r"count (\d+) handle 0x([0-9a-f]+)")


def pass_bound_ns(scen: dict) -> int:
    """Virtual-time bound on one pass of ``scen`` done by a healthy target.

    The worst case the scenario itself allows: every BIOS-scan INQUIRY and
    every attempt of every command timing out, with its ABTS unanswered
    (2 x ``command-timeout-ms``), plus the gaps.
    """
    timeout = int(str(scen.get("command-timeout-ms", 2000)), 0) * 1_000_000
    retries = int(str(scen.get("retries", 2)), 0)
    busy = int(str(scen.get("busy-delay-us", 1000)), 0) * 1000
    gap = int(str(scen.get("command-gap-us", 20)), 0) * 1000
    first = int(str(scen.get("first-command-delay-us", 100)), 0) * 1000
    total = first
    bs = scen.get("bios-scan")
    if isinstance(bs, dict):
        n = int(str(bs.get("max-inquiry", 8)), 0)
        iv = int(str(bs.get("interval-ms", 500)), 0) * 1_000_000
        total += n * (max(iv, 2 * timeout) + gap)
    for c in scen.get("commands", []):
        r = int(str(c.get("retries", retries)), 0)
        d = int(str(c.get("delay-us", 0)), 0) * 1000
        total += (r + 1) * (2 * timeout + busy + gap) + d
    return total


def _first(events, pred):
    return next((e for e in events if pred(e)), None)


def _is(e, source, event, **fields):
    return (e.get("source") == source and e.get("event") == event
            and all(e.get(k) == v for k, v in fields.items()))


#: entry_status bits of a response entry (qla_def.h RF_*): what the
#: firmware found wrong with an IOCB it rejected.
ENTRY_STATUS_BITS = ((0x20, "RF_INV_E_ORDER"), (0x10, "RF_INV_E_COUNT"),
                     (0x08, "RF_INV_E_PARAM"), (0x04, "RF_INV_E_TYPE"),
                     (0x02, "RF_BUSY"))


def entry_status_names(status: int) -> str:
    """'RF_INV_E_PARAM' for 0x08; bits joined with '|'; '0' for none."""
    names = [n for b, n in ENTRY_STATUS_BITS if status & b]
    rest = status & ~sum(b for b, _ in ENTRY_STATUS_BITS)
    if rest:
        names.append("0x%02x" % rest)
    return "|".join(names) or "0"


def timeline(events: list, t0: int | None = None) -> list:
    """The login timeline of a run: one dict per notable event.

    PLOGI, PRLI, LS_ACC, login-state changes (4->5 at the PRLI LS_ACC,
    5->6 PRLI complete), the first ATIO after each login (and every other
    ATIO), CTIO completions with their status, rejected IOCBs, LOGO /
    PRLO, the initiator's logins (``relogin`` after the first), logouts,
    command completions and failures, LIPs and scenario-done.

    Args:
        events: report events (oldest first).
        t0: virtual ns that ``t_us`` is relative to (default: the first
            PLOGI, else the first event).

    Returns:
        list of {"t_ns", "t_us" (relative, float), "source", "event",
        "what" (short label), "detail"}.
    """
    if not events:
        return []
    if t0 is None:
        p = _first(events, lambda e: e.get("els") == ELS_PLOGI
                   or (e.get("source") == "initiator"
                       and e.get("els") == "PLOGI"))
        t0 = (p or events[0]).get("t_ns", 0)
    out = []
    st = {"logins": 0, "atio_seen": False, "prli_ox": set()}
    for e in events:
        src = e.get("source")
        entry = (_isp_entry(e, st) if src == "isp" else
                 _initiator_entry(e, st) if src == "initiator" else None)
        if entry is None:
            continue
        what, detail = entry
        t = e.get("t_ns", 0) or 0
        out.append({"t_ns": t, "t_us": round((t - t0) / 1000.0, 3),
                    "source": src, "event": e.get("event"),
                    "what": what.strip(), "detail": detail or ""})
    return out


def _login_state_entry(e: dict) -> tuple:
    a, b = e.get("from", 0), e.get("to", 0)
    what = {(5, 6): "PRLI complete (5->6)",
            (4, 5): "PRLI LS_ACC (4->5)"}.get((a, b),
                                              "login state %d->%d" % (a, b))
    return what, "handle 0x%x: %s -> %s" % (
        e.get("handle", 0), LOGIN_STATES.get(a, hex(a)),
        LOGIN_STATES.get(b, hex(b)))


def _isp_entry(e: dict, st: dict) -> tuple | None:
    """(what, detail) of an ISP event for :func:`timeline`, or None."""
    ev, els = e.get("event"), e.get("els")
    if ev == "els-received":
        if e.get("reply"):
            return None
        if els == ELS_PRLI:
            st["prli_ox"].add(e.get("ox_id"))
        return "%s received" % els_name(els), "from 0x%06x ox_id 0x%04x" % (
            e.get("s_id", 0) or 0, e.get("ox_id", 0) or 0)
    if ev == "els-sent":
        what = "%s sent" % els_name(els)
        if e.get("reply") and e.get("ox_id") in st["prli_ox"]:
            what += " (PRLI)"
        return what, "to 0x%06x ox_id 0x%04x" % (e.get("d_id", 0) or 0,
                                                 e.get("ox_id", 0) or 0)
    if ev == "login-state":
        return _login_state_entry(e)
    if ev == "atio":
        what = "ATIO" if st["atio_seen"] else "first ATIO"
        st["atio_seen"] = True
        return what, "ox_id 0x%04x opcode 0x%02x exchange 0x%x login " \
            "state 0x%x" % (e.get("ox_id", 0), e.get("opcode", 0),
                            e.get("exchange", 0), e.get("login_state", 0))
    if ev == "iocb-error":
        es = e.get("entry_status", 0) or 0
        return "IOCB 0x%02x rejected" % (e.get("entry_type", 0) or 0), \
            "entry_status 0x%02x (%s) handle 0x%x" % (
                es, entry_status_names(es), e.get("handle", 0) or 0)
    if ev == "ctio-done":
        fl = e.get("flags", 0) or 0
        what = "CTIO 0x%02x" % (e.get("status", 0) or 0)
        if fl & 0x4000:
            what += " (terminate)"
        return what, "exchange 0x%x flags 0x%04x" % (e.get("exchange", 0),
                                                     fl)
    return None


def _initiator_entry(e: dict, st: dict) -> tuple | None:
    """(what, detail) of an initiator event for :func:`timeline`, or
    None."""
    ev = e.get("event")
    if ev == "logged-in":
        st["logins"] += 1
        st["atio_seen"] = False
        return ("login" if st["logins"] == 1 else "relogin",
                "#%d" % st["logins"])
    if ev == "logged-out":
        return ("logged out why=%s" % e.get("why"),
                "command outstanding: %s" % e.get("command_outstanding"))
    if ev == "completed":
        return ("%s status 0x%02x" % (e.get("op"), e.get("status", 0) or 0),
                "step %s ox_id 0x%04x" % (e.get("step"),
                                          e.get("ox_id", 0) or 0))
    if ev in ("command-failed", "timeout", "abts-sent"):
        return ("%s %s" % (e.get("op", ""), ev),
                e.get("reason") or e.get("why") or "")
    if ev == "lip-sent":
        return "LIP sent", "LIP 0x%04x (#%s)" % (e.get("lip", 0) or 0,
                                                 e.get("number"))
    if ev == "scenario-done":
        return "scenario done", "pass %s all_passed %s" % (
            e.get("pass"), e.get("all_passed"))
    return None


def prli_latencies(events: list) -> list:
    """Observed PRLI latencies: virtual µs from login-state 4->5 (the PRLI
    LS_ACC) to the next 5->6 (PRLI complete) of the same handle, with no
    other change in between; a direct 4->6 (no latency) counts as 0."""
    out = []
    pending = {}
    for e in events:
        if not _is(e, "isp", "login-state"):
            continue
        h = e.get("handle")
        if (e.get("from"), e.get("to")) == (4, 6):
            out.append(0.0)         # completed with the LS_ACC
            pending.pop(h, None)
        elif (e.get("from"), e.get("to")) == (4, 5):
            pending[h] = e.get("t_ns", 0)
        elif (e.get("from"), e.get("to")) == (5, 6) and h in pending:
            out.append(round((e.get("t_ns", 0) - pending.pop(h)) / 1000.0,
                             3))
        else:
            pending.pop(h, None)
    return out


def analyse(report: dict, scen: dict | None = None) -> dict:
    """The evidence of one race run or sweep point.

    Args:
        report: the device report (a QMP snapshot).
        scen: the scenario dict (for the bound).

    Returns:
        dict: ctio_status ({"0x29": n}), forced_logouts ({isp_logo,
        isp_prlo, initiator_logo}), initiator (outcomes: done,
        all_passed, passes, bios_scan, commands [...], counters, logins),
        logins, first_login_ns, done_ns, virtual_time_ns, elapsed_ns
        (first login to done), bound_ns, events (:func:`timeline`),
        prli_latency_us (observed), unexpected_ctios.
    """
    events = report.get("events", []) or []
    ini = report.get("initiator") or {}
    login = _first(events, lambda e: _is(e, "initiator", "logged-in"))
    t_login = login.get("t_ns") if login else None
    ctio, iocb_errors = _status_counts(events)
    dones = [e.get("t_ns") for e in events
             if _is(e, "initiator", "scenario-done")]
    done_ns = dones[-1] if dones and ini.get("done") else None
    # passes that ran to their end with a failed step or BIOS scan (the
    # initiator reports only the last pass's commands; with --lips there
    # are several)
    passes_failed = [e.get("pass") for e in events
                     if _is(e, "initiator", "scenario-done")
                     and not e.get("all_passed")]
    return {
        "ctio_status": ctio,
        "iocb_errors": iocb_errors,
        "passes_failed": passes_failed,
        "forced_logouts": forced_logouts(events, t_login),
        "initiator": _initiator_outcome(ini),
        "logins": sum(1 for e in events
                      if _is(e, "initiator", "logged-in")),
        "first_login_ns": t_login,
        "done_ns": done_ns,
        "virtual_time_ns": report.get("virtual_time_ns"),
        "elapsed_ns": (done_ns - t_login) if done_ns is not None
        and t_login is not None else None,
        "bound_ns": pass_bound_ns(scen) if scen else None,
        "events": timeline(events),
        "prli_latency_us": prli_latencies(events),
        "unexpected_ctios": unexpected_ctios(events),
    }


def _status_counts(events: list) -> tuple:
    """({"0x29": n} CTIO completions by status, {"type 0x12 entry_status
    0x04": n} rejected IOCBs), each sorted by key."""
    ctio, iocb_errors = {}, {}
    for e in events:
        if _is(e, "isp", "ctio-done"):
            k = "0x%02x" % (e.get("status", 0) or 0)
            ctio[k] = ctio.get(k, 0) + 1
        elif _is(e, "isp", "iocb-error"):
            k = "type 0x%02x entry_status 0x%02x" % (
                e.get("entry_type", 0) or 0, e.get("entry_status", 0) or 0)
            iocb_errors[k] = iocb_errors.get(k, 0) + 1
    return dict(sorted(ctio.items())), dict(sorted(iocb_errors.items()))


def forced_logouts(events: list, t_login: int | None) -> dict:
    """Logouts by the target from the first login on: {"isp_logo": ISP
    LOGOs to the initiator, "isp_prlo": PRLOs, "initiator_logo": the
    initiator's ``logged-out why=logo``}."""
    # the initiator's port IDs: a reset of the ISP can move it (a loop
    # before the target is enabled, point to point after)
    ini_ids = {e.get("port_id") for e in events
               if _is(e, "initiator", "logged-in")}
    after = [e for e in events if t_login is not None
             and e.get("t_ns", 0) >= t_login]

    def isp_sent(code):
        return sum(1 for e in after if _is(e, "isp", "els-sent")
                   and not e.get("reply") and e.get("els") == code
                   and (not ini_ids or e.get("d_id") in ini_ids))
    return {"isp_logo": isp_sent(ELS_LOGO), "isp_prlo": isp_sent(ELS_PRLO),
            "initiator_logo": sum(1 for e in after if _is(
                e, "initiator", "logged-out", why="logo"))}


def _initiator_outcome(ini: dict) -> dict:
    """The initiator's outcome as the verdict reads it."""
    counters = ini.get("counters", {}) or {}
    return {
        "present": bool(ini),
        "done": bool(ini.get("done")),
        "all_passed": bool(ini.get("all_passed")),
        "phase": ini.get("phase"),
        "passes": ini.get("passes"),
        "passes_done": ini.get("passes_done"),
        "bios_scan": ini.get("bios_scan"),
        "commands": [{k: c.get(k) for k in (
            "index", "op", "name", "result", "passed", "attempts",
            "total_attempts", "status", "sense_key", "asc", "ascq",
            "reasons") if k in c} for c in ini.get("commands", []) or []],
        "interruptions": len(ini.get("interruptions", []) or []),
        "counters": {k: counters.get(k) for k in (
            "issued", "completed", "good", "failed", "timed_out",
            "aborted", "retried", "logins", "logouts",
            "bios_scan_inquiries", "bad_frames") if k in counters},
    }


def topology_of(fc_host: dict) -> str | None:
    """What the driver brought up, from its fc_host attributes.

    ``"loop (LPort (private loop), port_id 0x000002)"`` or
    ``"p2p (Point-To-Point (direct nport connection), ...)"``; None when
    the guest reported no fc_host (scsi_transport_fc's port_type names,
    drivers/scsi/scsi_transport_fc.c fc_port_type_names).
    """
    pt = fc_host.get("port_type")
    if not pt:
        return None
    kind = ("loop" if "LPort" in pt else           # LPort, NLPort
            "p2p" if "Point-To-Point" in pt else
            "fabric" if "NPort" in pt else "unknown")
    return "%s (%s, port_id %s)" % (kind, pt, fc_host.get("port_id", "?"))


def els_counters(report: dict) -> dict:
    """The ELS counter groups of the report (ISP and simulated initiator).

    Returns:
        {"isp_sent": {...}, "isp_received": {...}, "isp_replies_sent":
        {...}, "isp_replies_received": {...}, "initiator_sent": {...},
        "initiator_received": {...}}; ISP keys are ELS codes ("0x05"),
        initiator keys names ("LOGO"); missing groups are {}.
    """
    c = report.get("counters", {})
    return {
        "isp_sent": dict(c.get("isp_els_sent", {})),
        "isp_received": dict(c.get("isp_els_received", {})),
        "isp_replies_sent": dict(c.get("isp_els_replies_sent", {})),
        "isp_replies_received": dict(c.get("isp_els_replies_received", {})),
        "initiator_sent": dict(c.get("initiator_els_sent", {})),
        "initiator_received": dict(c.get("initiator_els_received", {})),
    }


def annotate_ctios(events: list) -> list:
    """CTIO completions joined with their command.

    Each ``isp`` ``ctio-done`` event is matched to the latest earlier
    ``isp`` ``atio`` with the same exchange address (addresses are
    reused), which gives the initiator's OX_ID and the opcode.

    Returns:
        list of dicts: index (in ``events``), t_ns, exchange, status,
        flags, handle, ox_id (None if no ATIO matched), opcode.
    """
    atio_of = {}
    out = []
    for i, e in enumerate(events):
        if e.get("source") != "isp":
            continue
        if e.get("event") == "atio":
            atio_of[e.get("exchange")] = e
        elif e.get("event") == "ctio-done":
            a = atio_of.get(e.get("exchange"))
            out.append({"index": i, "t_ns": e.get("t_ns"),
                        "exchange": e.get("exchange"),
                        "status": e.get("status"), "flags": e.get("flags"),
                        "handle": e.get("handle"),
                        "ox_id": a.get("ox_id") if a else None,
                        "opcode": a.get("opcode") if a else None})
    return out


def aborted_ox_ids(events: list) -> set:
    """OX_IDs of exchanges the initiator aborted (its ``abts-sent``)."""
    return {e.get("ox_id") for e in events
            if e.get("source") == "initiator"
            and e.get("event") == "abts-sent"}


def unexpected_ctios(events: list) -> list:
    """CTIO completions that a healthy run must not have.

    Everything but CTIO_SUCCESS (0x01) is unexpected, except 0x0b/0x02 on
    an exchange whose command the initiator aborted with ABTS.

    Returns:
        the offending entries of :func:`annotate_ctios`.
    """
    aborted = aborted_ox_ids(events)
    bad = []
    for c in annotate_ctios(events):
        if c["status"] == CTIO_SUCCESS:
            continue
        if c["status"] in ABORT_STATUSES and c["ox_id"] in aborted:
            continue
        bad.append(c)
    return bad


def event_signature(events: list, until_ns: int | None = None) -> list:
    """Events as comparable tuples, without virtual times.

    Args:
        events: the report's events.
        until_ns: keep only events with ``t_ns <= until_ns``.

    Returns:
        list of ``(source, event, ((field, value), ...))`` with the fields
        sorted and every ``t_ns`` / ``*_ns`` field left out.
    """
    out = []
    for e in events:
        if until_ns is not None and e.get("t_ns", 0) > until_ns:
            break
        fields = tuple(sorted((k, json.dumps(v, sort_keys=True))
                              for k, v in e.items()
                              if k not in ("source", "event")
                              and not TIME_FIELDS_RE.search(k)))
        out.append((e.get("source"), e.get("event"), fields))
    return out


def done_time_ns(report: dict) -> int | None:
    """Virtual time of the last ``scenario-done`` event, or None."""
    t = None
    for e in report.get("events", []):
        if e.get("source") == "initiator" and e.get("event") == \
                "scenario-done":
            t = e.get("t_ns")
    return t


def els_name(code) -> str:
    if isinstance(code, int):
        return ELS_NAMES.get(code, "0x%02x" % code)
    return str(code)


def iocb_counts(trace_text: str) -> dict:
    """Request-queue IOCBs from the ``qla2532_iocb`` trace.

    Returns:
        {"0x12": {"1": n, "3": m}, ...}: per IOCB type, how many had each
        entry count (an entry count > 1 means continuation IOCBs, i.e. more
        data segment descriptors than the IOCB itself holds).
    """
    out = {}
    for _, typ, count, _ in IOCB_TRACE_RE.findall(trace_text):
        d = out.setdefault("0x%02x" % int(typ, 16), {})
        d[count] = d.get(count, 0) + 1
    return out
