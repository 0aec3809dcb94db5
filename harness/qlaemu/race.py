"""The PRLI race (issue #5): verdicts for ``race``, ``sweep``, ``bisect-step``.

The field report: after every LIP, an FC initiator whose first command
follows the PRLI LS_ACC closely (a QLogic boot BIOS scanning LUN 0) gets
CTIOs completed with PORT LOGGED OUT (0x29); the target driver answers
with a terminate, deletes the session and sends LOGO, the initiator logs
in again, and the cycle repeats (docs/race.md, docs/driver-target-
contract.md §7).  The device reproduces it with ``prli-complete-latency``
(µs from the PRLI LS_ACC to the firmware's PRLI completion, during which
it completes CTIOs for the port with 0x29) and traces/prli-race.json.

:func:`run_race` boots the target-mode guest with a driver profile
(qlaemu.driver) and the race scenario and returns a verdict with its
evidence.  :func:`run_sweep` boots once and runs a grid of (latency,
first-command delay) points in that guest: per point it writes a variant
of the scenario, ``qom-set``s ``prli-complete-latency`` and ``scenario``
(which clears the report) and injects ``link-event lip``, so the
initiator logs in again and the new scenario starts; then it polls the
report until the initiator is done.  Both judge with the same function,
:func:`judge`, on the same evidence, :func:`analyse`.

Verdicts (exit codes for ``git bisect run``):

``PASS`` (0)
    the initiator's pass completed, every command as expected, within the
    scenario's bound, and the target never logged the initiator out.
``FAIL`` (1), "PORT_LOGGED_OUT regression"
    the target logged the initiator out (ISP LOGO / initiator logged-out
    ``why=logo``), or a command failed, or the initiator was not done
    within the scenario's virtual-time bound.
``INCONCLUSIVE`` (125)
    the guest hung or panicked, the driver did not come up (no session at
    all: the initiator never logged in), or set-up / build failed.

Nothing here is random.  ``seed`` is accepted and recorded so that a
future jittered scenario can take it; today it changes nothing.
"""
import json
import re
import time
from pathlib import Path

from . import driver as driver_mod
from . import guest, paths, scenario

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
RACE_TRACE = paths.REPO / "traces" / "prli-race.json"
DEFAULT_DRIVER = driver_mod.DEFAULT_PROFILE
#: Out-of-tree profile used with --driver-tree and no --profile-dir.
TREE_PROFILE = "qla2xxx-tree"
#: ``--topology``: the device properties that ask for it -- the NVRAM
#: connection option of the ISP and of its link partner (qla_fw.h
#: nvram_24xx: 0 loop only, 1 point to point only).  A driver may override
#: its own (Linux 6.1's target mode forces point to point); the verdict
#: states what came up (:func:`topology_of`).
TOPOLOGY_OPTS = {"loop": "conn-option=0,partner-conn-option=0",
                 "p2p": "conn-option=1,partner-conn-option=1"}
#: Default virtual time from the end of a pass to the LIP the initiator
#: originates with --lips (ms): well inside SCST legacy's 35 s deferred
#: session deletion (qla2x00t.c "scheduled for deletion in 35 secs"), as a
#: LIP on a live loop is.
DEFAULT_LIP_DELAY_MS = 1000
#: Default PRLI-complete latency (µs): above the driver's session
#: registration time (the PRLI NOTIFY_ACK to the first CTIO, ~1 ms).
DEFAULT_LATENCY_US = 5000
DEFAULT_FIRST_CMD_US = 100
#: Default sweep grid (µs): 10 latencies x 10 first-command delays.
DEFAULT_LATENCIES = tuple(range(0, 10000, 1000))
DEFAULT_DELAYS = (100,) + tuple(range(1000, 10000, 1000))
#: After the initiator is done, keep watching this much virtual time for
#: a late logout before the point is judged (the fix holds commands up to
#: 200 ms, ql2xtgt_prli_wait_ms).
SETTLE_NS = 200_000_000
#: Virtual time allowed from the start of a point to the initiator's first
#: login (the ISP's link up, PLOGI and PRLI take milliseconds).
LOGIN_BOUND_NS = 30_000_000_000
#: Wall-clock bound per sweep point, seconds.
POINT_TIMEOUT_S = 60.0
#: Seconds between QMP polls of the report (race / sweep).
POLL_S = 0.1
#: ELS codes.
ELS_PLOGI, ELS_LOGO, ELS_PRLI, ELS_PRLO = 0x03, 0x05, 0x20, 0x21
#: Firmware login states (qla_def.h PDS_*), as the report's login-state.
LOGIN_STATES = {0x03: "PLOGI pending", 0x04: "PLOGI complete",
                0x05: "PRLI pending", 0x06: "PRLI complete",
                0x07: "port unavailable", 0x09: "PRLO pending",
                0x11: "LOGO pending"}
#: dmesg lines worth showing as evidence.
DMESG_RE = re.compile(r"qla2xxx|tcm_qla2xxx|qla_target|TARGET_CORE|"
                      r"qla2x00t|qla2xxx_scst|\bscst\b|dev_vdisk|"
                      r"\*\*\*ERROR|"
                      r"target_core|ABORT_TASK|Kernel panic|BUG:|Oops|"
                      r"WARNING:|Call Trace|blocked for more than|"
                      r"sysrq|Unable to handle")


class RaceError(RuntimeError):
    """Invalid race/sweep arguments (not a verdict)."""


# --------------------------------------------------------------------------
# Scenario files
# --------------------------------------------------------------------------

def load_trace(path=None) -> dict:
    """The race scenario (traces/prli-race.json or ``path``) as a dict."""
    p = Path(path or RACE_TRACE)
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise RaceError("scenario %s: %s" % (p, e)) from e
    if not isinstance(data, dict):
        raise RaceError("scenario %s: not a JSON object" % p)
    return data


def lip_overrides(lips: int = 0, lip_delay_ms: int = DEFAULT_LIP_DELAY_MS
                  ) -> dict:
    """Scenario keys for ``--lips N --lip-delay-ms D`` (docs/scenario.md):
    {} for no LIP, else {"lips": N, "lip-delay-ms": D}.

    Raises:
        RaceError: a negative count or delay, or more than 100 LIPs.
    """
    if not 0 <= int(lips) <= 100 or int(lip_delay_ms) < 0:
        raise RaceError("--lips must be 0..100 and --lip-delay-ms >= 0")
    if not lips:
        return {}
    return {"lips": int(lips), "lip-delay-ms": int(lip_delay_ms)}


def write_variant(base: dict, first_cmd_us: int, out_dir: Path,
                  tag: str = "", overrides: dict | None = None) -> Path:
    """Write ``base`` with ``first-command-delay-us`` = ``first_cmd_us``
    and the scenario keys of ``overrides`` (e.g. :func:`lip_overrides`).

    Returns:
        the new file, ``out_dir/<name>-d<us>[-tag].json``.
    """
    data = dict(base)
    data.update(overrides or {})
    data["first-command-delay-us"] = int(first_cmd_us)
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", str(base.get("name", "race")))
    out_dir.mkdir(parents=True, exist_ok=True)
    f = out_dir / ("%s-d%d%s.json" % (name, first_cmd_us,
                                      "-" + tag if tag else ""))
    f.write_text(json.dumps(data, indent=2) + "\n")
    return f


def idle_scenario(out_dir: Path) -> Path:
    """A scenario with no commands (the sweep guest boots with it)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    f = out_dir / "idle.json"
    f.write_text(json.dumps({"name": "idle", "commands": [],
                             "repeat-after-relogin": False}) + "\n")
    return f


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


# --------------------------------------------------------------------------
# Evidence and verdict (pure functions; unit-tested)
# --------------------------------------------------------------------------

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


def login_timeline(events: list, t0: int | None = None) -> list:
    """The login timeline of a run: one dict per notable event.

    PLOGI, PRLI, LS_ACC, login-state changes (4->5 at the PRLI LS_ACC,
    5->6 PRLI complete), the first ATIO after each login (and every other
    ATIO), CTIO completions with their status, LOGO / PRLO, the
    initiator's logins (``relogin`` after the first), logouts, command
    completions and failures, and scenario-done.

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
    logins = 0
    atio_seen = False
    prli_ox = set()
    for e in events:
        src, ev = e.get("source"), e.get("event")
        what = detail = None
        if src == "isp":
            els = e.get("els")
            if ev == "els-received" and not e.get("reply"):
                what = "%s received" % scenario._els(els)
                if els == ELS_PRLI:
                    prli_ox.add(e.get("ox_id"))
                detail = "from 0x%06x ox_id 0x%04x" % (
                    e.get("s_id", 0) or 0, e.get("ox_id", 0) or 0)
            elif ev == "els-sent":
                if e.get("reply"):
                    what = "%s sent" % scenario._els(els)
                    if e.get("ox_id") in prli_ox:
                        what += " (PRLI)"
                else:
                    what = "%s sent" % scenario._els(els)
                detail = "to 0x%06x ox_id 0x%04x" % (
                    e.get("d_id", 0) or 0, e.get("ox_id", 0) or 0)
            elif ev == "els-received":
                continue
            elif ev == "login-state":
                a, b = e.get("from", 0), e.get("to", 0)
                what = "login state %d->%d" % (a, b)
                if (a, b) == (5, 6):
                    what = "PRLI complete (5->6)"
                elif (a, b) == (4, 5):
                    what = "PRLI LS_ACC (4->5)"
                detail = "handle 0x%x: %s -> %s" % (
                    e.get("handle", 0), LOGIN_STATES.get(a, hex(a)),
                    LOGIN_STATES.get(b, hex(b)))
            elif ev == "atio":
                what = "ATIO" if atio_seen else "first ATIO"
                atio_seen = True
                detail = "ox_id 0x%04x opcode 0x%02x exchange 0x%x login " \
                    "state 0x%x" % (e.get("ox_id", 0), e.get("opcode", 0),
                                    e.get("exchange", 0),
                                    e.get("login_state", 0))
            elif ev == "iocb-error":
                what = "IOCB 0x%02x rejected" % (e.get("entry_type", 0) or 0)
                detail = "entry_status 0x%02x (%s) handle 0x%x" % (
                    e.get("entry_status", 0) or 0,
                    entry_status_names(e.get("entry_status", 0) or 0),
                    e.get("handle", 0) or 0)
            elif ev == "ctio-done":
                fl = e.get("flags", 0) or 0
                what = "CTIO 0x%02x" % (e.get("status", 0) or 0)
                if fl & 0x4000:
                    what += " (terminate)"
                detail = "exchange 0x%x flags 0x%04x" % (
                    e.get("exchange", 0), fl)
            else:
                continue
        elif src == "initiator":
            if ev == "logged-in":
                logins += 1
                atio_seen = False
                what = "login" if logins == 1 else "relogin"
                detail = "#%d" % logins
            elif ev == "logged-out":
                what = "logged out why=%s" % e.get("why")
                detail = "command outstanding: %s" % e.get(
                    "command_outstanding")
            elif ev == "completed":
                what = "%s status 0x%02x" % (e.get("op"),
                                             e.get("status", 0) or 0)
                detail = "step %s ox_id 0x%04x" % (e.get("step"),
                                                   e.get("ox_id", 0) or 0)
            elif ev in ("command-failed", "timeout", "abts-sent"):
                what = "%s %s" % (e.get("op", ""), ev)
                detail = e.get("reason") or e.get("why") or ""
            elif ev == "lip-sent":
                what = "LIP sent"
                detail = "LIP 0x%04x (#%s)" % (e.get("lip", 0) or 0,
                                               e.get("number"))
            elif ev == "scenario-done":
                what = "scenario done"
                detail = "pass %s all_passed %s" % (e.get("pass"),
                                                    e.get("all_passed"))
            else:
                continue
        else:
            continue
        t = e.get("t_ns", 0) or 0
        out.append({"t_ns": t, "t_us": round((t - t0) / 1000.0, 3),
                    "source": src, "event": ev, "what": what.strip(),
                    "detail": detail or ""})
    return out


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
        (first login to done), bound_ns, events (login_timeline),
        prli_latency_us (observed), unexpected_ctios.
    """
    events = report.get("events", []) or []
    ini = report.get("initiator") or {}
    login = _first(events, lambda e: _is(e, "initiator", "logged-in"))
    # the initiator's port IDs: a reset of the ISP can move it (a loop
    # before the target is enabled, point to point after)
    ini_ids = {e.get("port_id") for e in events
               if _is(e, "initiator", "logged-in")}
    t_login = login.get("t_ns") if login else None
    ctio = {}
    iocb_errors = {}
    for e in events:
        if _is(e, "isp", "ctio-done"):
            k = "0x%02x" % (e.get("status", 0) or 0)
            ctio[k] = ctio.get(k, 0) + 1
        elif _is(e, "isp", "iocb-error"):
            k = "type 0x%02x entry_status 0x%02x" % (
                e.get("entry_type", 0) or 0, e.get("entry_status", 0) or 0)
            iocb_errors[k] = iocb_errors.get(k, 0) + 1
    after = [e for e in events if t_login is not None
             and e.get("t_ns", 0) >= t_login]
    isp_logo = sum(1 for e in after if _is(e, "isp", "els-sent")
                   and not e.get("reply") and e.get("els") == ELS_LOGO
                   and (not ini_ids or e.get("d_id") in ini_ids))
    isp_prlo = sum(1 for e in after if _is(e, "isp", "els-sent")
                   and not e.get("reply") and e.get("els") == ELS_PRLO
                   and (not ini_ids or e.get("d_id") in ini_ids))
    ini_logo = sum(1 for e in after
                   if _is(e, "initiator", "logged-out", why="logo"))
    dones = [e.get("t_ns") for e in events
             if _is(e, "initiator", "scenario-done")]
    done_ns = dones[-1] if dones and ini.get("done") else None
    cmds = []
    for c in ini.get("commands", []) or []:
        cmds.append({k: c.get(k) for k in (
            "index", "op", "name", "result", "passed", "attempts",
            "total_attempts", "status", "sense_key", "asc", "ascq",
            "reasons") if k in c})
    counters = ini.get("counters", {}) or {}
    bound = pass_bound_ns(scen) if scen else None
    # passes that ran to their end with a failed step or BIOS scan (the
    # initiator reports only the last pass's commands; with --lips there
    # are several)
    passes_failed = [e.get("pass") for e in events
                     if _is(e, "initiator", "scenario-done")
                     and not e.get("all_passed")]
    return {
        "ctio_status": dict(sorted(ctio.items())),
        "iocb_errors": dict(sorted(iocb_errors.items())),
        "passes_failed": passes_failed,
        "forced_logouts": {"isp_logo": isp_logo, "isp_prlo": isp_prlo,
                           "initiator_logo": ini_logo},
        "initiator": {
            "present": bool(ini),
            "done": bool(ini.get("done")),
            "all_passed": bool(ini.get("all_passed")),
            "phase": ini.get("phase"),
            "passes": ini.get("passes"),
            "passes_done": ini.get("passes_done"),
            "bios_scan": ini.get("bios_scan"),
            "commands": cmds,
            "interruptions": len(ini.get("interruptions", []) or []),
            "counters": {k: counters.get(k) for k in (
                "issued", "completed", "good", "failed", "timed_out",
                "aborted", "retried", "logins", "logouts",
                "bios_scan_inquiries", "bad_frames") if k in counters},
        },
        "logins": sum(1 for e in events
                      if _is(e, "initiator", "logged-in")),
        "first_login_ns": t_login,
        "done_ns": done_ns,
        "virtual_time_ns": report.get("virtual_time_ns"),
        "elapsed_ns": (done_ns - t_login) if done_ns is not None
        and t_login is not None else None,
        "bound_ns": bound,
        "events": login_timeline(events),
        "prli_latency_us": prli_latencies(events),
        "unexpected_ctios": scenario.unexpected_ctios(events),
    }


def judge(ev: dict, state: dict) -> tuple:
    """The verdict of a run from its evidence and how the run went.

    Args:
        ev: :func:`analyse` output (may be {} when there is no report).
        state: {"setup_error": str or None, "guest_exit": 'poweroff' /
            'timeout' / 'panic' / ... or None (guest still running, a sweep
            point), "stop": why polling ended ('done', 'bound', 'no-login',
            'wall-timeout', 'guest-exited', 'not-ready'), "port_state": the
            fc_host port_state if known}.

    Returns:
        (verdict, [reasons]).
    """
    if state.get("setup_error"):
        return INCONCLUSIVE, ["set-up: %s" % state["setup_error"]]
    gx = state.get("guest_exit")
    if gx not in (None, "poweroff"):
        why = {"timeout": "the guest hung (killed at the time limit)",
               "panic": "the guest kernel panicked or reset",
               "qemu-error": "QEMU failed",
               "controller-error": "the guest stopped responding to the "
                                   "harness (hang)"}.get(gx, gx)
        return INCONCLUSIVE, [why]
    stop = state.get("stop")
    if stop == "not-ready":
        return INCONCLUSIVE, ["the guest never finished loading the driver "
                              "(hang in set-up)"]
    if not ev or not ev.get("initiator", {}).get("present"):
        return INCONCLUSIVE, ["no device report"]
    if not ev.get("logins"):
        return INCONCLUSIVE, [
            "no session at all: the initiator never logged in (driver not "
            "up; fc_host port_state %s)" % (state.get("port_state")
                                            or "unknown")]
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
        reasons.append("the firmware rejected IOCBs: %s" % _fmt_counts(
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


def relevant_dmesg(dmesg: str, limit: int = 200) -> list:
    """The kernel log lines that matter for the race (driver, LIO, oops)."""
    out = [ln for ln in dmesg.splitlines()
           if DMESG_RE.search(ln) and "qlaemu: mark" not in ln]
    return out[:limit]


# --------------------------------------------------------------------------
# The host controller: one point
# --------------------------------------------------------------------------

def _report(ctl) -> dict:
    text = ctl.qmp("qom-get", path=scenario.HBA_PATH,
                   property="report")["return"]
    return json.loads(text)


def poll_point(ctl, bound_ns: int, wall_timeout_s: float,
               poll_s: float = POLL_S, settle_ns: int = SETTLE_NS) -> tuple:
    """Poll the report until the point is decided.

    Stops when the initiator is done and ``settle_ns`` of virtual time has
    passed since its last scenario-done ('done'); when no login came
    within :data:`LOGIN_BOUND_NS` ('no-login'); when the pass bound times
    the scenario's max passes is over ('bound'); or at the wall-clock
    bound ('wall-timeout').

    Returns:
        (report dict, stop reason, polls).
    """
    deadline = time.monotonic() + wall_timeout_s
    v0 = None
    polls = 0
    while True:
        rep = _report(ctl)
        polls += 1
        vt = rep.get("virtual_time_ns") or 0
        if v0 is None:
            v0 = vt
        ini = rep.get("initiator") or {}
        events = rep.get("events", []) or []
        if ini.get("done"):
            dones = [e.get("t_ns", 0) for e in events
                     if _is(e, "initiator", "scenario-done")]
            if not dones or vt >= dones[-1] + settle_ns:
                return rep, "done", polls
        login = _first(events, lambda e: _is(e, "initiator", "logged-in"))
        if login is None and vt - v0 > LOGIN_BOUND_NS:
            return rep, "no-login", polls
        if login is not None and vt - login.get("t_ns", 0) > bound_ns:
            return rep, "bound", polls
        if time.monotonic() >= deadline:
            return rep, "wall-timeout", polls
        time.sleep(poll_s)


# --------------------------------------------------------------------------
# Profiles
# --------------------------------------------------------------------------

def resolve_profile(driver=None, driver_tree=None, profile_dir=None,
                    profile_vars=None, patches=None):
    """The driver profile of the command-line options.

    ``--driver PROFILE`` (name, directory, or an already resolved
    driver.Profile, returned as it is), or ``--driver-tree DIR`` with
    ``--driver`` / ``--profile-dir`` (default the out-of-tree template
    :data:`TREE_PROFILE`); ``profile_vars`` (``--profile-var``) and
    ``patches`` (``--patches``) as driver.load_profile takes them.

    Raises:
        driver.ProfileError.
    """
    if isinstance(driver, driver_mod.Profile):
        return driver
    if driver_tree is not None:
        return driver_mod.load_profile(profile_dir or driver or TREE_PROFILE,
                                       driver_tree=Path(driver_tree)
                                       .resolve(), profile_vars=profile_vars,
                                       patches=patches)
    return driver_mod.load_profile(profile_dir or driver or DEFAULT_DRIVER,
                                   profile_vars=profile_vars, patches=patches)


def build_profile(prof) -> dict:
    """Build (or find cached) the profile's modules; {name: path}.

    Raises:
        driver.BuildError, driver.ProfileError, build.SetupError.
    """
    return driver_mod.ensure_modules(prof)


def _profile_info(prof) -> dict:
    if prof is None:
        return {}
    return {"name": prof.name, "kind": prof.kind, "dir": str(prof.dir),
            "tree": str(prof.driver_tree) if prof.driver_tree else None,
            "description": prof.description}


def _setup_errors():
    from . import build
    return (driver_mod.DriverError, build.SetupError, guest.GuestError,
            scenario.ScenarioError, RaceError)


# --------------------------------------------------------------------------
# race
# --------------------------------------------------------------------------


def _prepare_driver(out: dict, driver, driver_tree, profile_dir):
    """Resolve and build the driver under test and its guest image.

    Records ``out["driver"]`` and ``out["timings"]["build_s"]`` (seconds).
    Returns the profile.  Raises what :func:`_setup_errors` lists
    (driver.BuildError for a tree that does not build).
    """
    prof = resolve_profile(driver, driver_tree, profile_dir)
    out["driver"] = _profile_info(prof)
    out["kernel"] = guest.kernel_info()
    out["memory_mib"] = guest.memory()
    t = time.monotonic()
    build_profile(prof)
    guest.prepare(None if prof.is_stock else prof)
    out["timings"]["build_s"] = round(time.monotonic() - t, 2)
    return prof

def run_race(driver=None, driver_tree=None, profile_dir=None,
             latency_us: int = DEFAULT_LATENCY_US,
             first_cmd_us: int = DEFAULT_FIRST_CMD_US, seed: int = 0,
             trace=None, run_name: str | None = None,
             scenario_overrides: dict | None = None,
             timeout_s: float = 300, ready_timeout_s: float = 120,
             icount: str = "shift=3,sleep=off", device_opts: str = "",
             poll_s: float = POLL_S) -> dict:
    """Boot the target with the driver under test and run the race.

    Args:
        driver: profile name or directory (default debian-6.1).
        driver_tree: out-of-tree driver source (``--driver-tree``).
        profile_dir: the out-of-tree profile for ``driver_tree`` (default
            driver-under-test/qla2xxx-tree).
        latency_us: device ``prli-complete-latency``.
        first_cmd_us: the scenario's ``first-command-delay-us``.
        seed: recorded; nothing is random.
        trace: scenario file (default traces/prli-race.json).
        run_name: artifact directory name.
        scenario_overrides: scenario keys set on top of the trace, e.g.
            :func:`lip_overrides` (LIPs after each pass).
        timeout_s: hard limit on QEMU, seconds.
        ready_timeout_s: bound on boot + driver set-up, seconds.
        icount: QEMU -icount.
        device_opts: extra qla2532 properties.
        poll_s: seconds between report polls.

    Returns:
        dict: verdict, label, exit_code, reasons, driver, scenario,
        latency_us, first_cmd_us, seed, ctio_status, initiator,
        forced_logouts, events (timeline), dmesg (relevant lines),
        prli_latency_us, stop, guest_exit, console_log, console_tail
        (INCONCLUSIVE), artifacts, timings.
    """
    t_start = time.monotonic()
    run = run_name or "race-%s" % time.strftime("%Y%m%d-%H%M%S")
    adir = paths.ARTIFACTS_DIR / run
    adir.mkdir(parents=True, exist_ok=True)
    out = {"verdict": None, "driver": {}, "latency_us": latency_us,
           "first_cmd_us": first_cmd_us, "seed": seed,
           "artifacts": str(adir), "timings": {}}
    prof = None
    try:
        base = load_trace(trace)
        out["scenario"] = {"trace": str(Path(trace or RACE_TRACE).resolve()),
                           "name": base.get("name")}
        prof = _prepare_driver(out, driver, driver_tree, profile_dir)
    except _setup_errors() as e:
        return _finish_race(out, {}, {"setup_error": _err(e)}, t_start,
                            build_error=isinstance(e, driver_mod.BuildError))
    scen_file = write_variant(base, first_cmd_us, adir,
                              overrides=scenario_overrides)
    out["scenario"]["overrides"] = dict(scenario_overrides or {})
    scen = json.loads(scen_file.read_text())
    out["scenario"]["file"] = str(scen_file)
    bound = pass_bound_ns(scen) * int(str(scen.get("max-passes", 16)), 0)
    snap = adir / "race-report.json"

    def controller(ctl):
        ctl.wait_mark("ready", ready_timeout_s)
        t_ready = ctl.elapsed_s()
        rep, stop, polls = poll_point(
            ctl, bound, max(10.0, timeout_s - t_ready - 30), poll_s)
        snap.write_text(json.dumps(rep))
        t_done = ctl.elapsed_s()
        ctl.send("finish")
        return {"stop": stop, "polls": polls, "ready_s": round(t_ready, 2),
                "verdict_s": round(t_done, 2), "done": stop == "done"}

    opts = "prli-complete-latency=%d" % latency_us
    if device_opts:
        opts += "," + device_opts
    try:
        r = scenario.run_scenario(
            scen_file, driver=prof, device_opts=opts, icount=icount,
            timeout_s=timeout_s, run_name=run, controller=controller,
            ready_timeout_s=ready_timeout_s, finish_margin_s=30)
    except _setup_errors() as e:
        return _finish_race(out, {}, {"setup_error": _err(e)}, t_start,
                            build_error=isinstance(e, driver_mod.BuildError))
    ctl = r.get("controller") or {}
    try:
        rep = json.loads(snap.read_text())
    except (OSError, ValueError):
        rep = {}
    stop = ctl.get("stop")
    err = r.get("controller_error") or ""
    if not stop and ("ready" in err or "wait_mark" in err):
        stop = "not-ready"
    state = {"guest_exit": r["exit"], "stop": stop,
             "setup_error": r.get("setup_error"),
             "port_state": (r.get("fc_host") or {}).get("port_state")}
    ev = analyse(rep, scen) if rep else {}
    out["dmesg"] = relevant_dmesg(r.get("dmesg", ""))
    out["topology"] = topology_of(r.get("fc_host") or {})
    out["guest_exit"] = r["exit"]
    out["console_log"] = r.get("console_log")
    out["controller_error"] = r.get("controller_error")
    out["timings"].update({"boot_to_ready_s": ctl.get("ready_s"),
                           "boot_to_verdict_s": ctl.get("verdict_s"),
                           "guest_s": r.get("duration_s")})
    if r["exit"] != "poweroff" or not rep:
        out["console_tail"] = r.get("console_tail", "")
    return _finish_race(out, ev, state, t_start)


def setup_failure(error: str, args=None, build_error: bool = False,
                  profile=None) -> dict:
    """An INCONCLUSIVE race result for a run that could not be set up.

    Args:
        error: what failed.
        args: the command line's namespace (latency_us, first_cmd_us, seed,
            driver) or None.
        build_error: the driver does not build (JUnit: skipped).
        profile: the driver profile, if it was resolved.
    """
    run = "race-%s" % time.strftime("%Y%m%d-%H%M%S")
    adir = paths.ARTIFACTS_DIR / run
    adir.mkdir(parents=True, exist_ok=True)
    out = {"verdict": None,
           "driver": _profile_info(profile) or {
               "name": getattr(args, "driver", None) or DEFAULT_DRIVER},
           "scenario": {"trace": str(Path(getattr(args, "trace", None)
                                          or RACE_TRACE).resolve())},
           "latency_us": getattr(args, "latency_us", DEFAULT_LATENCY_US),
           "first_cmd_us": getattr(args, "first_cmd_us",
                                   DEFAULT_FIRST_CMD_US),
           "seed": getattr(args, "seed", 0), "artifacts": str(adir),
           "timings": {}}
    return _finish_race(out, {}, {"setup_error": error}, time.monotonic(),
                        build_error=build_error)


def _err(e) -> str:
    msg = "%s: %s" % (type(e).__name__, e)
    log = getattr(e, "log", None)
    if log:
        msg += " (log %s)" % log
    return msg


def _finish_race(out, ev, state, t_start, build_error=False) -> dict:
    verdict, reasons = judge(ev, state)
    out.update({
        "verdict": verdict,
        "label": fail_label(ev, verdict),
        "iocb_errors": ev.get("iocb_errors", {}),
        "exit_code": EXIT_CODES[verdict],
        "reasons": reasons,
        "build_error": build_error,
        "setup_error": state.get("setup_error"),
        "stop": state.get("stop"),
        "ctio_status": ev.get("ctio_status", {}),
        "forced_logouts": ev.get("forced_logouts", {}),
        "initiator": ev.get("initiator", {}),
        "events": ev.get("events", []),
        "prli_latency_us": ev.get("prli_latency_us", []),
        "bound_ns": ev.get("bound_ns"),
        "elapsed_ns": ev.get("elapsed_ns"),
    })
    out.setdefault("dmesg", [])
    out["timings"]["wall_s"] = round(time.monotonic() - t_start, 2)
    adir = Path(out["artifacts"])
    (adir / "race.json").write_text(json.dumps(out, indent=2) + "\n")
    return out


# --------------------------------------------------------------------------
# sweep
# --------------------------------------------------------------------------

def run_sweep(latencies=DEFAULT_LATENCIES, delays=DEFAULT_DELAYS,
              driver=None, driver_tree=None, profile_dir=None, seed: int = 0,
              trace=None, run_name: str | None = None,
              point_timeout_s: float = POINT_TIMEOUT_S,
              ready_timeout_s: float = 120, icount: str = "shift=3,sleep=off",
              poll_s: float = POLL_S, progress=None,
              scenario_overrides: dict | None = None,
              device_opts: str = "") -> dict:
    """Run the race at every (latency, first-command delay) in one boot.

    Per point: write the scenario variant, qom-set prli-complete-latency
    and scenario (the report is cleared), qom-set link-event lip, poll
    until the initiator is done (:func:`poll_point`), :func:`judge`.

    Args:
        latencies, delays: the grid (µs).
        progress: optional callable(point dict) after each point.
        (others as :func:`run_race`)

    Returns:
        dict: driver, latencies, delays, points [{latency_us,
        first_cmd_us, verdict, reasons, ctio_status, forced_logouts,
        wall_s, virtual_ms, prli_latency_us, stop}], matrix
        {latency: {delay: verdict}}, boundary, verdict (FAIL if any point
        failed, PASS if all passed, else INCONCLUSIVE), timings,
        artifacts.
    """
    t_start = time.monotonic()
    run = run_name or "sweep-%s" % time.strftime("%Y%m%d-%H%M%S")
    adir = paths.ARTIFACTS_DIR / run
    pdir = adir / "points"
    pdir.mkdir(parents=True, exist_ok=True)
    latencies, delays = list(latencies), list(delays)
    out = {"driver": {}, "latencies": latencies, "delays": delays,
           "seed": seed, "artifacts": str(adir), "points": [],
           "timings": {}}
    grid = [(lat, d) for lat in latencies for d in delays]
    try:
        base = load_trace(trace)
        out["scenario"] = str(Path(trace or RACE_TRACE).resolve())
        prof = _prepare_driver(out, driver, driver_tree, profile_dir)
    except _setup_errors() as e:
        out["setup_error"] = _err(e)
        out["points"] = [_point(lat, d, INCONCLUSIVE, [out["setup_error"]])
                         for lat, d in grid]
        return _finish_sweep(out, t_start)
    variants = {d: write_variant(base, d, pdir,
                                 overrides=scenario_overrides)
                for d in delays}
    bounds = {}
    for d, f in variants.items():
        sc = json.loads(f.read_text())
        bounds[d] = pass_bound_ns(sc) * int(str(sc.get("max-passes", 16)),
                                            0)
    scens = {d: json.loads(f.read_text()) for d, f in variants.items()}
    points = out["points"]

    def controller(ctl):
        ctl.wait_mark("ready", ready_timeout_s)
        t_ready = ctl.elapsed_s()
        for lat, d in grid:
            t0 = time.monotonic()
            try:
                ctl.qmp("qom-set", path=scenario.HBA_PATH,
                        property="prli-complete-latency", value=int(lat))
                ctl.qmp("qom-set", path=scenario.HBA_PATH,
                        property="scenario", value=str(variants[d]))
                ctl.qmp("qom-set", path=scenario.HBA_PATH,
                        property="link-event", value="lip")
                rep, stop, polls = poll_point(ctl, bounds[d],
                                              point_timeout_s, poll_s)
            except guest.GuestExited as e:
                points.append(_point(lat, d, INCONCLUSIVE,
                                     ["the guest exited: %s" % e]))
                continue
            name = "lat%d-d%d" % (lat, d)
            (pdir / (name + ".report.json")).write_text(json.dumps(rep))
            ev = analyse(rep, scens[d])
            verdict, reasons = judge(ev, {"guest_exit": None, "stop": stop})
            p = _point(lat, d, verdict, reasons, ev, stop)
            p["wall_s"] = round(time.monotonic() - t0, 2)
            p["polls"] = polls
            points.append(p)
            if progress:
                progress(p)
            if stop == "wall-timeout":
                # the guest no longer makes progress: do not wait
                # point_timeout_s on every remaining point
                break
        t_end = ctl.elapsed_s()
        ctl.send("finish")
        return {"ready_s": round(t_ready, 2),
                "points_s": round(t_end - t_ready, 2), "done": True}

    idle = idle_scenario(pdir)
    timeout = ready_timeout_s + len(grid) * (point_timeout_s + 2) + 60
    try:
        r = scenario.run_scenario(
            idle, driver=prof, device_opts="prli-complete-latency=0"
            + ("," + device_opts if device_opts else ""),
            icount=icount, timeout_s=timeout, run_name=run,
            controller=controller, ready_timeout_s=ready_timeout_s,
            finish_margin_s=30, iocb_trace=False)
    except _setup_errors() as e:
        out["setup_error"] = _err(e)
        r = None
    done = {(p["latency_us"], p["first_cmd_us"]) for p in points}
    gx = r["exit"] if r else None
    why = ("the guest did not get to this point (guest exit %s)" % gx)
    for lat, d in grid:
        if (lat, d) not in done:
            points.append(_point(lat, d, INCONCLUSIVE, [why]))
    if r is not None:
        ctl = r.get("controller") or {}
        out["guest_exit"] = gx
        out["console_log"] = r.get("console_log")
        out["controller_error"] = r.get("controller_error")
        out["dmesg"] = relevant_dmesg(r.get("dmesg", ""))
        out["topology"] = topology_of(r.get("fc_host") or {})
        out["timings"].update({"boot_to_ready_s": ctl.get("ready_s"),
                               "points_s": ctl.get("points_s"),
                               "guest_s": r.get("duration_s")})
        if gx != "poweroff":
            out["console_tail"] = r.get("console_tail", "")
    return _finish_sweep(out, t_start)


def _point(lat, d, verdict, reasons, ev=None, stop=None) -> dict:
    ev = ev or {}
    return {"latency_us": lat, "first_cmd_us": d, "verdict": verdict,
            "label": fail_label(ev, verdict),
            "reasons": reasons, "stop": stop,
            "ctio_status": ev.get("ctio_status", {}),
            "iocb_errors": ev.get("iocb_errors", {}),
            "forced_logouts": ev.get("forced_logouts", {}),
            "logins": ev.get("logins"),
            "elapsed_ms": round(ev["elapsed_ns"] / 1e6, 3)
            if ev.get("elapsed_ns") is not None else None,
            "prli_latency_us": ev.get("prli_latency_us", [])}


def matrix(points: list) -> dict:
    """{latency: {delay: verdict}} of sweep points."""
    m = {}
    for p in points:
        m.setdefault(p["latency_us"], {})[p["first_cmd_us"]] = p["verdict"]
    return m


def boundary(points: list) -> dict:
    """Per first-command delay: the smallest latency that fails.

    Returns:
        {delay: {"first_fail_latency_us": int or None, "last_pass_latency_us":
        int or None, "monotonic": every latency above the first failing
        one fails too}}.
    """
    out = {}
    by_d = {}
    for p in points:
        by_d.setdefault(p["first_cmd_us"], []).append(p)
    for d, ps in by_d.items():
        ps = sorted(ps, key=lambda p: p["latency_us"])
        fails = [p["latency_us"] for p in ps if p["verdict"] == FAIL]
        passes = [p["latency_us"] for p in ps if p["verdict"] == PASS]
        ff = fails[0] if fails else None
        out[d] = {"first_fail_latency_us": ff,
                  "last_pass_latency_us": max(
                      [x for x in passes if ff is None or x < ff],
                      default=None),
                  "monotonic": ff is None or all(
                      p["verdict"] == FAIL for p in ps
                      if p["latency_us"] >= ff)}
    return out


def _finish_sweep(out, t_start) -> dict:
    pts = sorted(out["points"], key=lambda p: (
        out["latencies"].index(p["latency_us"])
        if p["latency_us"] in out["latencies"] else 0,
        out["delays"].index(p["first_cmd_us"])
        if p["first_cmd_us"] in out["delays"] else 0))
    out["points"] = pts
    out["matrix"] = {str(k): {str(d): v for d, v in row.items()}
                     for k, row in matrix(pts).items()}
    out["boundary"] = {str(k): v for k, v in boundary(pts).items()}
    verdicts = [p["verdict"] for p in pts]
    out["counts"] = {v: verdicts.count(v) for v in (PASS, FAIL,
                                                    INCONCLUSIVE)}
    out["verdict"] = (FAIL if FAIL in verdicts else
                      PASS if verdicts and all(v == PASS for v in verdicts)
                      else INCONCLUSIVE)
    out["exit_code"] = EXIT_CODES[out["verdict"]]
    wall = time.monotonic() - t_start
    out["timings"]["wall_s"] = round(wall, 2)
    timed = [p["wall_s"] for p in pts if p.get("wall_s") is not None]
    if timed:
        out["timings"]["per_point_s"] = round(sum(timed) / len(timed), 3)
        out["timings"]["points_per_min"] = round(
            60.0 * len(timed) / max(sum(timed), 1e-6), 1)
    Path(out["artifacts"]).mkdir(parents=True, exist_ok=True)
    (Path(out["artifacts"]) / "sweep.json").write_text(
        json.dumps(out, indent=2) + "\n")
    return out


# --------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------

def _fmt_counts(d: dict) -> str:
    return ", ".join("%s: %s" % kv for kv in sorted(d.items())) or "none"


def race_summary(r: dict, timeline_lines: int = 60) -> str:
    """Human-readable verdict and evidence of :func:`run_race`."""
    d = r.get("driver") or {}
    lines = ["race: %s%s" % (r["verdict"], " (%s)" % r.get("label")
                             if r["verdict"] == FAIL else ""),
             "  driver: %s (%s)%s" % (d.get("name", "?"), d.get("kind", "?"),
                                      " tree %s" % d["tree"]
                                      if d.get("tree") else ""),
             "  guest: kernel %s (%s), %s MiB" % (
                 (r.get("kernel") or {}).get("release", "?"),
                 (r.get("kernel") or {}).get("spec", "?"),
                 r.get("memory_mib", "?")),
             "  scenario: %s, first command %d us after the PRLI LS_ACC, "
             "prli-complete-latency %d us, seed %s (nothing is random)" % (
                 (r.get("scenario") or {}).get("trace"), r["first_cmd_us"],
                 r["latency_us"], r.get("seed"))]
    for x in r.get("reasons", []):
        lines.append("  - " + x)
    if r.get("topology"):
        lines.append("  topology the driver brought up: %s" % r["topology"])
    lines.append("  CTIO completions by status: %s"
                 % _fmt_counts(r.get("ctio_status", {})))
    lines.append("  IOCBs rejected by the firmware (entry_status): %s"
                 % _fmt_counts(r.get("iocb_errors", {})))
    fl = r.get("forced_logouts") or {}
    lines.append("  forced logouts: ISP LOGO %s, ISP PRLO %s, initiator "
                 "logged-out why=logo %s" % (fl.get("isp_logo", "-"),
                                             fl.get("isp_prlo", "-"),
                                             fl.get("initiator_logo", "-")))
    ini = r.get("initiator") or {}
    if ini.get("present"):
        bs = ini.get("bios_scan") or {}
        lines.append("  initiator: done=%s all_passed=%s passes=%s logins=%s"
                     % (ini.get("done"), ini.get("all_passed"),
                        ini.get("passes"),
                        (ini.get("counters") or {}).get("logins")))
        if bs.get("configured"):
            lines.append("    BIOS scan: %s after %s INQUIRY(s) (max %s)" % (
                "ok" if bs.get("ok") else "FAILED", bs.get("inquiries"),
                bs.get("max_inquiry")))
        for c in ini.get("commands", []):
            lines.append("    %-4s %s %-16s attempts %s/%s status %s%s" % (
                "ok" if c.get("passed") else "FAIL", c.get("index"),
                c.get("op"), c.get("attempts"), c.get("total_attempts"),
                c.get("status"), ("  " + "; ".join(
                    (c.get("reasons") or [])[:3])) if c.get("reasons")
                else ""))
    if r.get("prli_latency_us"):
        lines.append("  observed PRLI latency (4->5 .. 5->6): %s us"
                     % ", ".join("%g" % x for x in r["prli_latency_us"][:5]))
    dm = r.get("dmesg") or []
    if dm:
        lines.append("  dmesg (%d relevant lines; first 12):" % len(dm))
        lines += ["    " + x for x in dm[:12]]
    tl = r.get("events") or []
    if tl and timeline_lines:
        shown = tl if len(tl) <= timeline_lines else tl[:timeline_lines]
        lines.append("  login timeline (virtual us from the first PLOGI; "
                     "%d of %d):" % (len(shown), len(tl)))
        for e in shown:
            lines.append("    %12.3f  %-10s %-28s %s" % (
                e["t_us"], e["source"], e["what"], e["detail"]))
        if len(tl) > len(shown):
            more = len(tl) - len(shown)
            lines.append("    ... %d more; see --json" % more)
    if r.get("console_tail"):
        lines.append("  console (tail):")
        lines += ["    " + x for x in r["console_tail"].splitlines()[-25:]]
    if r.get("console_log"):
        lines.append("  console log: %s" % r["console_log"])
    t = r.get("timings") or {}
    lines.append("  time: %.1f s wall (build %s s, boot to verdict %s s)"
                 % (t.get("wall_s", 0), t.get("build_s", "-"),
                    t.get("boot_to_verdict_s", "-")))
    lines.append("  artifacts: %s" % r.get("artifacts"))
    lines.append("verdict: %s (exit %d)" % (r["verdict"], r["exit_code"]))
    return "\n".join(lines)


def sweep_summary(r: dict) -> str:
    """The pass/fail matrix and boundary of :func:`run_sweep`."""
    d = r.get("driver") or {}
    lats, delays = r["latencies"], r["delays"]
    m = r["matrix"]
    sym = {PASS: ".", FAIL: "X", INCONCLUSIVE: "?"}
    lines = ["sweep: driver %s (%s), %d points: %s" % (
        d.get("name", "?"), d.get("kind", "?"), len(r["points"]),
        ", ".join("%s %d" % kv for kv in r["counts"].items())),
        "  rows: prli-complete-latency (us); columns: first-command delay "
        "after the PRLI LS_ACC (us); . PASS  X FAIL  ? INCONCLUSIVE"]
    w = max(6, max((len(str(x)) for x in delays), default=1) + 1)
    lines.append("  %8s " % "lat\\d" + "".join("%*s" % (w, x)
                                               for x in delays))
    for lat in lats:
        row = m.get(str(lat), {})
        lines.append("  %8s " % lat + "".join(
            "%*s" % (w, sym.get(row.get(str(x)), " ")) for x in delays))
    lines.append("  boundary (smallest failing latency per delay):")
    for x in delays:
        b = r["boundary"].get(str(x), {})
        ff = b.get("first_fail_latency_us")
        lines.append("    delay %6s us: %s" % (
            x, "no failure" if ff is None else "fails from %s us (passes "
            "up to %s us)%s" % (ff, b.get("last_pass_latency_us"),
                                "" if b.get("monotonic")
                                else ", not monotonic")))
    if r.get("setup_error"):
        lines.append("  set-up: %s" % r["setup_error"])
    if r.get("console_tail"):
        lines.append("  console (tail):")
        lines += ["    " + x for x in r["console_tail"].splitlines()[-15:]]
    t = r.get("timings") or {}
    lines.append("  time: %.1f s wall (build %s s, boot %s s, points %s s; "
                 "%s s per point, %s points/min)" % (
                     t.get("wall_s", 0), t.get("build_s", "-"),
                     t.get("boot_to_ready_s", "-"), t.get("points_s", "-"),
                     t.get("per_point_s", "-"), t.get("points_per_min", "-")))
    lines.append("  artifacts: %s" % r.get("artifacts"))
    lines.append("sweep verdict: %s (exit %d)" % (r["verdict"],
                                                  r["exit_code"]))
    return "\n".join(lines)


def junit_xml(r: dict) -> str:
    """JUnit XML of a race result: one testsuite, one testcase prli-race.

    FAIL -> <failure>; INCONCLUSIVE -> <skipped> for a build error (the
    commit cannot be tested), else <error>.
    """
    import xml.etree.ElementTree as ET
    v = r["verdict"]
    wall = (r.get("timings") or {}).get("wall_s", 0)
    suite = ET.Element("testsuite", {
        "name": "qlaemu.race", "tests": "1",
        "failures": "1" if v == FAIL else "0",
        "errors": "1" if v == INCONCLUSIVE and not r.get("build_error")
        else "0",
        "skipped": "1" if v == INCONCLUSIVE and r.get("build_error")
        else "0",
        "time": "%.2f" % wall})
    props = ET.SubElement(suite, "properties")
    for k, val in (("verdict", v), ("driver", (r.get("driver") or {})
                                    .get("name", "")),
                   ("latency_us", r.get("latency_us")),
                   ("first_cmd_us", r.get("first_cmd_us")),
                   ("seed", r.get("seed")),
                   ("ctio_status", json.dumps(r.get("ctio_status", {})))):
        ET.SubElement(props, "property", {"name": k, "value": str(val)})
    case = ET.SubElement(suite, "testcase", {
        "classname": "qlaemu.race", "name": "prli-race",
        "time": "%.2f" % wall})
    msg = "; ".join(r.get("reasons", []))[:1000]
    if v == FAIL:
        el = ET.SubElement(case, "failure", {"type": r.get("label")
                                             or FAIL_LABEL,
                                             "message": msg})
        el.text = race_summary(r)
    elif v == INCONCLUSIVE:
        tag = "skipped" if r.get("build_error") else "error"
        el = ET.SubElement(case, tag, {"type": INCONCLUSIVE,
                                       "message": msg})
        el.text = race_summary(r)
    out = ET.SubElement(case, "system-out")
    out.text = race_summary(r)
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
