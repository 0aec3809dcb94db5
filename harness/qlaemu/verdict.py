"""Verdicts: PASS, FAIL or INCONCLUSIVE, with reasons and a label, from a
run's evidence (:mod:`qlaemu.evidence`) and how the run went.

``PASS`` (exit 0)
    the initiator's passes completed, every command as expected, within the
    scenario's bound, no CTIO completed 0x29 and the target never logged
    the initiator out.
``FAIL`` (exit 1)
    labelled with what was seen (:func:`fail_label`).
``INCONCLUSIVE`` (exit 125, ``git bisect run``'s skip)
    the guest hung or panicked, the driver did not come up (no session at
    all), its set-up failed, or the build failed.

The race, every sweep point and the matrix are judged by the same
function, :func:`judge`.  A scenario run's checks are :func:`checks`.
"""
import dataclasses

PASS, FAIL, INCONCLUSIVE = "PASS", "FAIL", "INCONCLUSIVE"
#: Exit status of each verdict (git bisect run: good, bad, skip).
EXIT_CODES = {PASS: 0, FAIL: 1, INCONCLUSIVE: 125}
#: Exit status of ``bisect-step`` when the bisection must stop (the
#: profile or the machine is wrong, not the commit): git bisect run
#: aborts on codes > 127.
EXIT_ABORT = 255
#: The name of the failure the race harness looks for.
FAIL_LABEL = "PORT_LOGGED_OUT regression"
#: Labels of a FAIL, by what was seen (:func:`fail_label`), most specific
#: first: CTIO 0x29 and a logout by the target, CTIO 0x29 alone, a logout
#: by the target without 0x29, IOCBs the firmware
#: rejected (entry_status), commands that failed, the time bound.
LABEL_CTIO_29 = "CTIO PORT LOGGED OUT"
LABEL_TARGET_LOGOUT = "target logged the initiator out"
LABEL_IOCB_REJECTED = "IOCB rejected by the firmware"
LABEL_COMMANDS_FAILED = "commands failed"
LABEL_TOO_SLOW = "bound exceeded"


@dataclasses.dataclass
class RunState:
    """How a run went, besides its evidence.

    Attributes:
        setup_error: why set-up failed (build, profile, guest set-up), or
            None.
        guest_exit: 'poweroff', 'timeout', 'panic', 'qemu-error',
            'controller-error' (qlaemu.vm.GuestResult.exit), or None while
            the guest still runs (a sweep point).
        stop: why polling ended: 'done', 'bound', 'no-login',
            'wall-timeout', 'guest-exited', 'not-ready', or None.
        port_state: the fc_host port_state, if known.
        controller_error: the traceback of the host controller's
            exception (guest_exit 'controller-error'), or None.
    """
    setup_error: str | None = None
    guest_exit: str | None = None
    stop: str | None = None
    port_state: str | None = None
    controller_error: str | None = None


@dataclasses.dataclass
class Verdict:
    """The verdict of a run.

    Attributes:
        verdict: PASS, FAIL or INCONCLUSIVE.
        reasons: why, one line each (list of str).
        label: :func:`fail_label` of the verdict.
        exit_code: :data:`EXIT_CODES` of the verdict.
    """
    verdict: str
    reasons: list
    label: str
    exit_code: int


_GUEST_EXITS = {"timeout": "the guest hung (killed at the time limit)",
                "panic": "the guest kernel panicked or reset",
                "qemu-error": "QEMU failed",
                "controller-error": "the harness's controller failed and "
                                    "stopped the guest"}
#: How much of a controller's exception a reason quotes, characters.
_CONTROLLER_QUOTE = 300


def controller_failure(traceback_text: str | None) -> str:
    """One reason line for a host controller's exception
    (``traceback_text``: the traceback qlaemu.vm keeps, or None).  A
    ``TimeoutError`` (a mark or event that did not come in time) is the
    guest's hang; anything else is the harness's own failure (a broken
    QMP connection, a bad reply).  Either way the exception's last line
    is quoted, at most :data:`_CONTROLLER_QUOTE` characters."""
    lines = [ln.strip() for ln in (traceback_text or "").splitlines()
             if ln.strip()]
    last = lines[-1] if lines else ""
    if last.startswith("TimeoutError"):
        head = "the guest stopped responding to the harness (hang)"
    else:
        head = _GUEST_EXITS["controller-error"]
    return ("%s: %s" % (head, last[:_CONTROLLER_QUOTE]) if last else head)


def fmt_counts(d: dict) -> str:
    """'k1: v1, k2: v2' (sorted), or 'none'."""
    return ", ".join("%s: %s" % kv for kv in sorted(d.items())) or "none"


def judge(ev: dict, state: RunState) -> Verdict:
    """The verdict of a run from its evidence and how the run went.

    Args:
        ev: :func:`qlaemu.evidence.analyse` output (may be {} when there
            is no report).
        state: how the run went.

    Returns:
        Verdict.
    """
    verdict, reasons = _judge(ev, state)
    return Verdict(verdict=verdict, reasons=reasons,
                   label=fail_label(ev, verdict),
                   exit_code=EXIT_CODES[verdict])


def _inconclusive(ev: dict, state: RunState) -> list | None:
    """The reasons a run is INCONCLUSIVE before its evidence is read, or
    None."""
    if state.setup_error:
        return ["set-up: %s" % state.setup_error]
    gx = state.guest_exit
    if gx == "controller-error":
        return [controller_failure(state.controller_error)]
    if gx not in (None, "poweroff"):
        return [_GUEST_EXITS.get(gx, gx)]
    if state.stop == "not-ready":
        return ["the guest never finished loading the driver (hang in "
                "set-up)"]
    if not ev or not ev.get("initiator", {}).get("present"):
        return ["no device report"]
    if not ev.get("logins"):
        return ["no session at all: the initiator never logged in (driver "
                "not up; fc_host port_state %s)" % (state.port_state
                                                    or "unknown")]
    return None


def _judge(ev: dict, state: RunState) -> tuple:
    """(verdict, reasons) of :func:`judge`."""
    early = _inconclusive(ev, state)
    if early:
        return INCONCLUSIVE, early
    stop = state.stop
    ini = ev["initiator"]
    forced = ev["forced_logouts"]
    reasons = []
    if forced["isp_logo"] or forced["initiator_logo"] or forced["isp_prlo"]:
        reasons.append(
            "the target logged the initiator out: ISP LOGO x%d, PRLO x%d, "
            "initiator logged-out why=logo x%d" % (
                forced["isp_logo"], forced["isp_prlo"],
                forced["initiator_logo"]))
    n29 = ev["ctio_status"].get("0x29", 0)
    if n29:
        reasons.append("CTIO 0x29 (PORT LOGGED OUT) x%d" % n29)
    if ev.get("iocb_errors"):
        reasons.append("the firmware rejected IOCBs: %s" % fmt_counts(
            {k: "x%d" % n for k, n in ev["iocb_errors"].items()}))
    if stop == "bound":
        reasons.append("the initiator was not done within the scenario's "
                       "bound (%.1f s virtual)"
                       % ((ev.get("bound_ns") or 0) / 1e9))
    elif not ini["done"]:
        if not reasons:
            return INCONCLUSIVE, [
                "the initiator was not done when polling stopped (%s)"
                % (stop or "unknown")]
    elif not ini["all_passed"]:
        bad = [c for c in ini["commands"] if not c.get("passed")]
        bs = ini.get("bios_scan") or {}
        if bs.get("configured") and not bs.get("ok"):
            reasons.append("BIOS scan failed: %s INQUIRYs, none GOOD"
                           % bs.get("inquiries"))
        for c in bad:
            reasons.append("%s %s failed after %s attempt(s): %s" % (
                c.get("index"), c.get("op"), c.get("total_attempts"),
                "; ".join((c.get("reasons") or [])[:3])))
        if not bad and not reasons:
            reasons.append("the initiator's pass did not pass")
    elif ev.get("elapsed_ns") is not None and ev.get("bound_ns") \
            and ev["elapsed_ns"] > ev["bound_ns"]:
        reasons.append("done %.3f s after the first login, bound %.3f s"
                       % (ev["elapsed_ns"] / 1e9, ev["bound_ns"] / 1e9))
    if ini["done"] and ini["all_passed"] and ev.get("passes_failed"):
        reasons.append("pass(es) %s ended with a failed command or BIOS "
                       "scan (the last pass passed)" % ", ".join(
                           str(p) for p in ev["passes_failed"]))
    # A CTIO that completes 0x29 never reached the initiator: its command
    # is lost (the initiator times out and aborts), even when a retry
    # passes later -- the field report's symptom, with or without a
    # logout (docs/race.md §3).
    if reasons:
        return FAIL, reasons
    return PASS, ["every command completed as expected in %.3f ms "
                  "(virtual) after the first login; no logout by the "
                  "target and no CTIO 0x29"
                  % ((ev.get("elapsed_ns") or 0) / 1e6)]


def fail_label(ev: dict, verdict: str) -> str:
    """The label of a verdict: for FAIL, the failure actually seen.

    ``PORT_LOGGED_OUT regression`` (:data:`FAIL_LABEL`) only when a CTIO
    completed 0x29 and the target logged the initiator out (the 0x29 ->
    LOGO -> relogin loop); else :data:`LABEL_CTIO_29` (CTIOs completed
    0x29, no logout), :data:`LABEL_TARGET_LOGOUT`,
    :data:`LABEL_IOCB_REJECTED`, :data:`LABEL_COMMANDS_FAILED` or
    :data:`LABEL_TOO_SLOW`, the first that applies.  PASS and
    INCONCLUSIVE are their own labels.
    """
    if verdict != FAIL:
        return verdict
    forced = ev.get("forced_logouts") or {}
    logout = any(forced.get(k) for k in ("isp_logo", "isp_prlo",
                                         "initiator_logo"))
    n29 = (ev.get("ctio_status") or {}).get("0x29")
    if logout and n29:
        return FAIL_LABEL
    if n29:
        return LABEL_CTIO_29
    if logout:
        return LABEL_TARGET_LOGOUT
    if ev.get("iocb_errors"):
        return LABEL_IOCB_REJECTED
    ini = ev.get("initiator") or {}
    if ini.get("done") and (not ini.get("all_passed")
                            or ev.get("passes_failed")):
        return LABEL_COMMANDS_FAILED
    return LABEL_TOO_SLOW


def checks(result) -> list:
    """The pass/fail checks of a scenario run: list of (name, ok, detail).

    ``result``: a :class:`qlaemu.results.ScenarioResult` (its initiator,
    unexpected_ctios, setup_error, exit and errors are read)."""
    ini = result.initiator or {}
    counters = ini.get("counters", {})
    unexpected = result.unexpected_ctios
    return [
        ("driver set-up", not result.setup_error,
         result.setup_error or "load and configure exited 0"),
        ("guest powered off", result.exit == "poweroff", result.exit),
        ("scenario done", bool(ini.get("done")),
         "phase %s, passes %s" % (ini.get("phase"), ini.get("passes"))),
        ("all commands passed", bool(ini.get("all_passed")),
         "%d of %d" % (sum(1 for c in ini.get("commands", [])
                           if c.get("passed")),
                       len(ini.get("commands", [])))),
        ("CTIO statuses", not unexpected,
         ", ".join("0x%02x on exchange 0x%x (ox_id %s)" % (
             c["status"], c["exchange"],
             "?" if c["ox_id"] is None else "0x%04x" % c["ox_id"])
             for c in unexpected[:8]) or "only 0x01 (0x0b/0x02 on aborted "
         "exchanges)"),
        ("no protocol errors", counters.get("bad_frames", 0) == 0,
         "bad_frames %s" % counters.get("bad_frames", 0)),
        ("no qla2xxx errors", not result.errors,
         "%d lines at level <= 3" % len(result.errors)),
    ]
