"""Run a scenario of the simulated FC initiator against the real driver.

:func:`run_scenario` boots the guest in target mode (qla2xxx
``qlini_mode=disabled``, tcm_qla2xxx, an LIO rd_mcp ramdisk in demo mode:
:func:`qlaemu.probe.target_setup_script`) with the qla2532 device given a
scenario file (docs/scenario.md).  The guest marks ``ready`` and waits on
the control channel; the host controller polls the device's ``report``
property over QMP until the initiator reports ``done`` (or a wall-clock
bound passes), then sends ``finish``.  The guest dumps its kernel log and
powers off, and QEMU writes the report file on exit.

QEMU runs with ``-icount`` (default ``shift=3,sleep=off``): single-threaded
TCG whose virtual clock counts instructions, so the device's event
timeline (virtual ``t_ns``) repeats from run to run.  The QMP polls and
the ``finish`` line are the only inputs from the host; the second comes
after ``done``.

Everything is kept under ``ARTIFACTS_DIR/<run>/``: ``report.json`` (the
device's report file), ``report-at-done.json`` (the QMP snapshot that
showed ``done``), ``console.log`` (+ the data channel, the controller log,
QEMU's argv and stderr), ``dmesg.txt``, ``dmesg-raw.txt``,
``iocb-trace.log`` (QEMU trace of every request-queue IOCB) and
``result.json`` (the dict returned, without the report).
"""
import json
import re
import time
from pathlib import Path

from . import guest, paths
from . import probe as probe_mod

#: Driver profiles in driver-under-test/ (qlaemu.driver); any other
#: profile directory or profile.json path is accepted too.
DRIVERS = {
    "debian-6.1": "Debian's stock qla2xxx / tcm_qla2xxx / LIO modules of "
                  "the linux-image-6.1 guest kernel",
    "debian-6.1-src": "qla2xxx / tcm_qla2xxx built from linux-source-6.1 "
                      "with the profile's patch series",
    "qla2xxx-tree": "an out-of-tree driver tree (--driver-tree DIR)",
}
#: QOM id of the HBA and its QOM path.
HBA_ID = "hba0"
HBA_PATH = "/machine/peripheral/" + HBA_ID
#: Device properties run_scenario sets itself (not allowed in device_opts).
RESERVED_OPTS = ("id", "bus", "wwpn", "wwnn", "scenario", "report-file")
#: CTIO completion status values (qla_target.h).
CTIO_SUCCESS = 0x01
CTIO_ABORTED = 0x02
CTIO_TIMEOUT = 0x0b
CTIO_PORT_LOGGED_OUT = 0x29
#: Statuses tolerated on an exchange the initiator aborted (ABTS): its
#: pending data-out CTIO ends 0x0b (CTIO timeout) or 0x02 (aborted).
ABORT_STATUSES = (CTIO_ABORTED, CTIO_TIMEOUT)
#: ELS command codes, for printing the ISP's counters ("0x05" -> LOGO).
ELS_NAMES = {0x02: "LS_ACC", 0x01: "LS_RJT", 0x03: "PLOGI", 0x05: "LOGO",
             0x20: "PRLI", 0x21: "PRLO", 0x52: "ADISC", 0x04: "FLOGI",
             0x0a: "PDISC", 0x16: "RRQ", 0x23: "SCR", 0x61: "RSCN"}
#: Seconds allowed from QEMU start to the guest's "ready" mark.
READY_TIMEOUT_S = 120
#: Seconds between two QMP polls of the report.
POLL_S = 0.5
#: Seconds the guest and the host keep after "finish" (dmesg, poweroff).
FINISH_MARGIN_S = 30
#: Seconds (guest clock) the guest waits for "finish".
GUEST_WAIT_S = 86400
#: Fields of an event that are not part of its identity when two runs'
#: timelines are compared (virtual times and durations).
TIME_FIELDS_RE = re.compile(r"(^t_ns$|_ns$)")

IOCB_TRACE_RE = re.compile(
    r"qla2532_iocb port \d+ request\[(\d+)\] type 0x([0-9a-f]+) "
    r"count (\d+) handle 0x([0-9a-f]+)")


class ScenarioError(ValueError):
    """The run cannot be set up: unknown driver profile, bad file/options."""


# --------------------------------------------------------------------------
# The guest side
# --------------------------------------------------------------------------

def target_setup(wwpn: int, rd_pages: int = probe_mod.RD_PAGES,
                 profile=None) -> str:
    """Guest shell text that loads the driver under test in target mode.

    Stock and debian-src profiles (and None): the harness's own set-up,
    :func:`qlaemu.probe.target_setup_script` (the src-built modules replace
    the stock ones in the image, so the same modprobes load them).  An
    out-of-tree profile: its load script, then (if that succeeded) its
    configure script or, without one, the harness's LIO set-up minus the
    modprobes.  Output goes to ``/tmp/setup.log`` either way; for an
    out-of-tree profile it holds one ``qlaemu-setup STEP rc=N`` line per
    step run (:func:`setup_failure`).

    Args:
        wwpn: the HBA's port name.
        rd_pages: ramdisk size in 4 KiB pages (exported to the profile's
            scripts as QLAEMU_RD_PAGES).
        profile: a qlaemu.driver.Profile, or None.
    """
    from . import driver as driver_mod
    text = probe_mod.target_setup_script(wwpn, rd_pages)
    if profile is None or profile.kind != "out-of-tree":
        return text
    load = driver_mod.target_load_commands(profile)
    conf = driver_mod.target_configure_commands(
        profile, probe_mod.format_wwn(wwpn))
    if not conf:
        # no configure script: the harness's LIO set-up without modprobes
        m = re.search(r"(?ms)^set -x\n(.*?)^set \+x\n", text)
        conf = "".join(ln + "\n" for ln in m.group(1).splitlines()
                       if not ln.startswith("modprobe "))
        conf = "(\nset -e\n%s)\n" % conf
    pre = text[:text.index("{\n")]
    return pre + """{
set -x
export QLAEMU_RD_PAGES=%(pages)d
%(load)src=$?
echo "qlaemu-setup load rc=$rc"
if [ $rc -eq 0 ]; then
%(conf)secho "qlaemu-setup configure rc=$?"
fi
set +x
} > /tmp/setup.log 2>&1
""" % {"pages": rd_pages, "load": load, "conf": conf}


#: ``qlaemu-setup STEP rc=N`` lines of /tmp/setup.log (:func:`target_setup`).
SETUP_STEP_RE = re.compile(r"^qlaemu-setup (\w+) rc=(\d+)$", re.M)


def setup_failure(setup_log: str, profile=None) -> str | None:
    """Why the driver's set-up failed in the guest, or None.

    Args:
        setup_log: the guest's /tmp/setup.log (the ``setup`` section).
        profile: the driver profile (its scripts are named in the text).

    Returns:
        None when every step that ran exited 0 (or the log has no step
        lines: the harness's own LIO set-up), else e.g. ``"the profile's
        configure script (configure.sh) exited 3: <its last output
        lines>"``.
    """
    steps = SETUP_STEP_RE.findall(setup_log or "")
    for step, rc in steps:
        if int(rc) == 0:
            continue
        name = getattr(profile, step, None) if profile else None
        out = [ln for ln in setup_log.splitlines()
               if not ln.startswith("+") and not SETUP_STEP_RE.match(ln)
               and ln.strip()]
        return "the profile's %s script%s exited %s: %s" % (
            step, " (%s)" % name.name if name else "", rc,
            " | ".join(out[-6:]) or "no output")
    if steps and len(steps) < 2 and steps[0][0] == "load":
        return "the driver set-up stopped after the load script"
    return None


def guest_script(wwpn: int, wait_s: int, rd_pages: int = probe_mod.RD_PAGES,
                 profile=None) -> str:
    """The busybox script: LIO target up, ``ready``, wait, collect, exit.

    Args:
        wwpn: the HBA's port name (names the LIO target).
        wait_s: how long the guest waits for the host's line, seconds.
        rd_pages: ramdisk size in 4 KiB pages.
        profile: driver-under-test profile (qlaemu.driver.Profile) or None
            (the stock modules); see :func:`target_setup`.
    """
    sess = ("/sys/kernel/config/target/qla2xxx/%s/tpgt_1/dynamic_sessions"
            % probe_mod.format_wwn(wwpn))
    return target_setup(wwpn, rd_pages, profile) + r"""
qlaemu_section_file setup /tmp/setup.log
qlaemu_mark ready
cmd=$(qlaemu_wait_cmd %(wait)d)
qlaemu_section cmd echo "rc=$? $cmd"
H=$(ls -d /sys/class/fc_host/host* 2>/dev/null | head -n 1)
if [ -n "$H" ]; then
    qlaemu_kv fc_host $H port_name port_state port_type port_id speed
fi
if [ -e %(sess)s ]; then
    qlaemu_section_file lio_sessions %(sess)s
fi
qlaemu_section dmesg_raw dmesg -r
qlaemu_section dmesg dmesg
""" % {"wait": wait_s, "sess": sess}


# --------------------------------------------------------------------------
# Report analysis (pure functions; unit-tested)
# --------------------------------------------------------------------------

def _hexkey(code: int) -> str:
    return "0x%02x" % code


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


def _fmt_ns(t) -> str:
    return "%12.6f" % (t / 1e9) if isinstance(t, int) else "%12s" % "?"


def _els(code) -> str:
    if isinstance(code, int):
        return ELS_NAMES.get(code, "0x%02x" % code)
    return str(code)


def timeline(events: list, limit: int | None = None) -> list:
    """One line per notable event (logins, ELS, errors, aborts), in order.

    Left out: successful CTIOs other than terminates (flags 0x4000),
    ATIOs and completions with GOOD status, except the first ATIO after
    each login.  ``limit`` bounds the lines.
    """
    out = []
    first_atio = True
    for e in events:
        src, ev = e.get("source"), e.get("event")
        text = None
        if src == "isp":
            if ev in ("els-sent", "els-received"):
                text = "isp %s %s%s %s 0x%06x ox_id 0x%04x" % (
                    "sends" if ev == "els-sent" else "receives",
                    _els(e.get("els")), " reply" if e.get("reply") else "",
                    "to" if ev == "els-sent" else "from",
                    e.get("d_id", e.get("s_id", 0)) or 0, e.get("ox_id", 0))
            elif ev == "login-state":
                text = "isp login state handle 0x%x 0x%x -> 0x%x" % (
                    e.get("handle", 0), e.get("from", 0), e.get("to", 0))
            elif ev == "atio" and first_atio:
                first_atio = False
                text = "isp ATIO ox_id 0x%04x opcode 0x%02x exchange 0x%x " \
                    "(login state 0x%x)" % (
                        e.get("ox_id", 0), e.get("opcode", 0),
                        e.get("exchange", 0), e.get("login_state", 0))
            elif ev == "ctio-done" and (e.get("status") != CTIO_SUCCESS
                                        or e.get("flags", 0) & 0x4000):
                text = "isp CTIO done status 0x%02x exchange 0x%x flags " \
                    "0x%04x%s" % (e.get("status", 0), e.get("exchange", 0),
                                  e.get("flags", 0),
                                  " (terminate)" if e.get("flags", 0) & 0x4000
                                  else "")
            elif ev not in ("atio", "ctio-done"):
                text = "isp %s %s" % (ev, _fields(e))
        elif src == "initiator":
            if ev in ("sent", "received"):
                text = "initiator %s %s%s" % (
                    ev, e.get("els"), " reply" if e.get("reply") else "")
            elif ev == "logged-in":
                first_atio = True
                text = "initiator logged-in"
            elif ev == "command":
                if e.get("step") == -1 or e.get("attempt", 1) > 1:
                    text = "initiator command %s step %s attempt %s pass " \
                        "%s ox_id 0x%04x" % (e.get("op"), e.get("step"),
                                             e.get("attempt"),
                                             e.get("pass"), e.get("ox_id", 0))
            elif ev == "completed":
                if e.get("status") != 0 or e.get("step") == -1:
                    text = "initiator completed %s step %s status 0x%02x" % (
                        e.get("op"), e.get("step"), e.get("status", 0))
            else:
                text = "initiator %s %s" % (ev, _fields(e))
        if text:
            out.append("%s  %s" % (_fmt_ns(e.get("t_ns")), text))
            if limit and len(out) >= limit:
                break
    return out


def _levels(dmesg_raw: str, max_level: int) -> list:
    """Every kernel message at level <= ``max_level`` (no ``<N>``)."""
    out = []
    for line in dmesg_raw.splitlines():
        m = re.match(r"^<(\d+)>(.*)$", line)
        if m and int(m.group(1)) & 7 <= max_level:
            out.append(m.group(2))
    return out


def _fields(e: dict) -> str:
    return " ".join("%s=%s" % (k, v) for k, v in e.items()
                    if k not in ("t_ns", "source", "event"))


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


def driver_errors(dmesg_raw: str, max_level: int = 3) -> list:
    """The QLogic driver's own messages at level <= ``max_level``.

    Unlike :func:`qlaemu.probe.qla_warnings`, only lines whose text starts
    with the driver's name (``qla2xxx``, ql_log's prefix; SCST's
    ``qla2xxx_scst``, ``qla2x00t``, ``scst``, ``dev_vdisk``) or that carry
    SCST's ``***ERROR***`` marker count (probe.DRIVER_LINE_RE): LIO names the
    fabric in its own messages, e.g. the pr_err "ABORT_TASK: Found
    referenced qla2xxx task_tag: 21" that every ABTS produces.

    Args:
        dmesg_raw: ``dmesg -r`` output.
        max_level: syslog level threshold (3: ql_log_warn and worse).

    Returns:
        the matching lines without the ``<N>`` prefix.
    """
    return [line for line in probe_mod.qla_warnings(dmesg_raw, max_level)
            if probe_mod.DRIVER_LINE_RE.search(line)
            and not INFORMATIONAL_RE.search(line)]


#: ql_log message IDs that a driver logs at ql_log_warn (KERN_ERR) although
#: they report success, so they are no failure: SCST's legacy qla2xxx_scst
#: logs link-up as ql_log_warn 0x505f "Link is operational" (its
#: qla_isr.c qla2x00_async_event; Linux logs the same at ql_log_info).
INFORMATIONAL_RE = re.compile(r"qla2xxx \[[^\]]+\]-505f:\d+: Link is "
                              r"operational")


def checks(result: dict) -> list:
    """The pass/fail checks of a run (list of (name, ok, detail))."""
    ini = result.get("initiator") or {}
    counters = ini.get("counters", {})
    unexpected = result.get("unexpected_ctios", [])
    return [
        ("driver set-up", not result.get("setup_error"),
         result.get("setup_error") or "load and configure exited 0"),
        ("guest powered off", result["exit"] == "poweroff",
         result["exit"]),
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
        ("no qla2xxx errors", not result.get("errors"),
         "%d lines at level <= 3" % len(result.get("errors", []))),
    ]


# --------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------

def check_driver(driver, driver_tree=None):
    """The driver profile ``driver`` names; ScenarioError if there is none.

    Args:
        driver: a profile name (driver-under-test/<name>), a profile
            directory or profile.json path, a qlaemu.driver.Profile, or
            None (the default, debian-6.1).
        driver_tree: module tree of an out-of-tree profile.

    Returns:
        qlaemu.driver.Profile.

    Raises:
        ScenarioError: no such profile, or a malformed one.
    """
    from . import driver as driver_mod
    if isinstance(driver, driver_mod.Profile):
        return driver
    try:
        return driver_mod.load_profile(driver, driver_tree=driver_tree)
    except driver_mod.ProfileError as e:
        known = sorted(set(DRIVERS) | set(driver_mod.list_profiles()))
        raise ScenarioError("unknown driver profile %r; available: %s (%s)"
                            % (driver, ", ".join(known), e)) from e


def _device_opts(scenario: Path, report_file: Path, device_opts: str) -> str:
    """The qla2532 properties of a scenario run, ``k=v,...``."""
    user = probe_mod.normalize_opts(device_opts)
    for item in user.split(",")[1:]:
        key = item.partition("=")[0].strip()
        if key in RESERVED_OPTS:
            raise ScenarioError("device option %r is set by run_scenario"
                                % item)

    def esc(p):
        return str(p).replace(",", ",,")     # QEMU option escaping
    return "id=%s,scenario=%s,report-file=%s%s" % (
        HBA_ID, esc(scenario), esc(report_file), user)


def _controller(done_timeout_s: float, poll_s: float, snapshot: Path,
                ready_timeout_s: float = READY_TIMEOUT_S):
    """The host side: wait for ready, poll the report, send finish."""

    def controller(ctl):
        ctl.wait_mark("ready", ready_timeout_s)
        t_ready = ctl.elapsed_s()
        deadline = time.monotonic() + done_timeout_s
        polls = 0
        rep = None
        done = False
        while True:
            text = ctl.qmp("qom-get", path=HBA_PATH,
                           property="report")["return"]
            polls += 1
            rep = json.loads(text)
            if (rep.get("initiator") or {}).get("done"):
                done = True
                snapshot.write_text(text)
                break
            if time.monotonic() >= deadline:
                snapshot.write_text(text)
                break
            time.sleep(poll_s)
        t_done = ctl.elapsed_s()
        ctl.send("finish")
        return {"ready_s": round(t_ready, 2), "done_s": round(t_done, 2),
                "done": done, "polls": polls,
                "virtual_time_ns": rep.get("virtual_time_ns")}
    return controller


def run_scenario(path, driver: str = "debian-6.1", device_opts: str = "",
                 icount: str | None = "shift=3,sleep=off",
                 timeout_s: float = 180, run_name: str | None = None,
                 wwpn: int = probe_mod.DEFAULT_WWPN,
                 wwnn: int = probe_mod.DEFAULT_WWNN,
                 done_timeout_s: float | None = None,
                 poll_s: float = POLL_S, iocb_trace: bool = True,
                 qemu_args=(), driver_tree=None, controller=None,
                 ready_timeout_s: float = READY_TIMEOUT_S,
                 finish_margin_s: float = FINISH_MARGIN_S) -> dict:
    """Boot the target, run the scenario ``path``, collect everything.

    Args:
        path: scenario JSON file (docs/scenario.md).
        driver: driver profile: a name in driver-under-test/ (default
            ``"debian-6.1"``, the stock modules), a profile directory or
            profile.json, or a qlaemu.driver.Profile (:func:`check_driver`).
        device_opts: extra qla2532 properties ``k=v,...`` (e.g.
            ``"prli-complete-latency=5000"``); not id/bus/wwpn/wwnn/
            scenario/report-file.
        icount: QEMU ``-icount`` value, or None/"" for none.
        timeout_s: hard limit on QEMU, seconds.
        run_name: artifact directory name (default scenario-<name>-<stamp>).
        wwpn, wwnn: the HBA's names.
        done_timeout_s: wall-clock bound on waiting for ``initiator.done``
            after ``ready`` (default: what ``timeout_s`` leaves after boot
            and the finish margin).
        poll_s: seconds between QMP polls of the report.
        iocb_trace: record the ``qla2532_iocb`` trace (entry counts of the
            IOCBs the driver queued) into ``iocb-trace.log``.
        qemu_args: more QEMU arguments (list of str).
        driver_tree: module tree of an out-of-tree ``driver`` profile.
        controller: replaces the default host controller (wait for
            ``ready``, poll until done, send ``finish``): a callable
            ``controller(ctl) -> dict`` given the guest.GuestControl; it
            must send ``finish`` itself.  Its dict is the result's
            ``controller`` entry; ``done`` in it is ``done_seen``.
        ready_timeout_s: bound on the guest's ``ready`` mark (default
            controller only), seconds.
        finish_margin_s: how long the controller thread may run on after
            QEMU exited, seconds.

    Returns:
        dict: scenario (abs path), name, driver (the profile name),
        profile (name, kind, dir, tree), device_opts, icount, exit
        (guest.GuestResult.exit), script_rc, report (the device's JSON;
        from the report file, or the last QMP snapshot if QEMU left none),
        report_source ('file', 'qmp' or None), initiator (report
        ``initiator``), ctio_status ({"0x01": n, ...}), ctio_errors
        (annotate_ctios entries with status != 0x01), unexpected_ctios,
        els (els_counters), iocb_counts, events (report events),
        timeline (notable events, str lines), done_seen (the controller
        saw done), done_t_ns (last scenario-done), controller
        ({ready_s, done_s, done, polls, virtual_time_ns}),
        controller_error, dmesg, dmesg_raw, errors (the qla2xxx
        driver's lines at level <= 3: driver_errors), kernel_errors (every
        line at level <= 3), warnings (lines mentioning qla2xxx at level
        <= 4), lio_sessions (at the end),
        fc_host, duration_s, artifacts (dir), checks ([name, ok, detail]),
        ok (every check passed), status ('passed', 'failed', or 'error'
        when the run itself broke or hung: no poweroff, controller
        failure, no report, or ``done`` not seen within the bound),
        qemu_stderr.

    Raises:
        ScenarioError: unknown driver, missing/unreadable scenario file,
            reserved or malformed device options.
        guest.GuestError / build.SetupError: image or QEMU cannot be made.
    """
    prof = check_driver(driver, driver_tree)
    scen = Path(path).resolve()
    try:
        scen_json = json.loads(scen.read_text())
    except (OSError, ValueError) as e:
        raise ScenarioError("scenario %s: %s" % (path, e)) from e
    name = scen_json.get("name") if isinstance(scen_json, dict) else None
    name = name or scen.stem
    run = run_name or "scenario-%s-%s" % (
        re.sub(r"[^A-Za-z0-9_.-]", "_", name), time.strftime("%Y%m%d-%H%M%S"))
    adir = paths.ARTIFACTS_DIR / run
    adir.mkdir(parents=True, exist_ok=True)
    report_file = adir / "report.json"
    snapshot = adir / "report-at-done.json"
    for f in (report_file, snapshot, adir / "iocb-trace.log"):
        f.unlink(missing_ok=True)
    try:
        opts = _device_opts(scen, report_file, device_opts)
    except ValueError as e:
        raise ScenarioError(str(e)) from e
    dargs = probe_mod.device_args(wwpn, wwnn, device_opts=opts)
    if icount:
        # Virtual time from the instruction count, and a guest RTC that
        # starts at a fixed date and runs on that virtual clock: the kernel
        # seeds its hash tables and entropy from the RTC at boot, so with
        # the host's date the guest's instruction count (and every
        # timestamp after boot) drifted by up to ~6 us from run to run.
        dargs += ["-icount", icount,
                  "-rtc", "base=2020-01-01T00:00:00,clock=vm"]
    dargs += list(qemu_args)
    if iocb_trace:
        dargs += ["-trace", "qla2532_iocb", "-D", str(adir / "iocb-trace.log")]
    if done_timeout_s is None:
        done_timeout_s = max(10.0, timeout_s - READY_TIMEOUT_S / 4
                             - FINISH_MARGIN_S)
    # The guest's wait is in virtual time, which under -icount sleep=off
    # runs far ahead of the wall clock while the guest idles: give it a
    # day; the host's timeout_s bounds the run.
    wait_s = GUEST_WAIT_S
    if controller is None:
        controller = _controller(done_timeout_s, poll_s, snapshot,
                                 ready_timeout_s)
    res = guest.run(guest_script(wwpn, wait_s, profile=prof),
                    device_args=dargs, timeout_s=timeout_s,
                    log_path=adir / "console.log", controller=controller,
                    controller_grace_s=finish_margin_s,
                    profile=None if prof.is_stock else prof)
    s = res.sections
    report, source = None, None
    for f, src in ((report_file, "file"), (snapshot, "qmp")):
        try:
            report, source = json.loads(f.read_text()), src
            break
        except (OSError, ValueError):
            continue
    report = report or {}
    events = report.get("events", [])
    # SCST's legacy driver splits each message in two records: joined
    dmesg_raw = probe_mod.join_split_records(s.get("dmesg_raw", ""))
    (adir / "dmesg.txt").write_text(
        probe_mod.join_split_records(s.get("dmesg", "")))
    (adir / "dmesg-raw.txt").write_text(dmesg_raw)
    try:
        trace = (adir / "iocb-trace.log").read_text(errors="replace")
    except OSError:
        trace = ""
    ctios = annotate_ctios(events)
    ctl = res.controller_result or {}
    result = {
        "scenario": str(scen),
        "name": name,
        "driver": prof.name,
        "profile": {"name": prof.name, "kind": prof.kind,
                    "dir": str(prof.dir),
                    "tree": str(prof.driver_tree) if prof.driver_tree
                    else None},
        "device_opts": opts,
        "kernel": guest.kernel_info(),
        "memory_mib": guest.memory(),
        "icount": icount or None,
        "exit": res.exit,
        "script_rc": res.script_rc,
        "report": report,
        "report_source": source,
        "initiator": report.get("initiator"),
        "ctio_status": dict(report.get("counters", {}).get("ctio_status",
                                                           {})),
        "ctio_errors": [c for c in ctios if c["status"] != CTIO_SUCCESS],
        "unexpected_ctios": unexpected_ctios(events),
        "els": els_counters(report),
        "iocb_counts": iocb_counts(trace),
        "events": events,
        "timeline": timeline(events),
        "done_seen": bool(ctl.get("done")),
        "done_t_ns": done_time_ns(report),
        "controller": ctl,
        "controller_error": res.controller_error,
        "dmesg": probe_mod.join_split_records(s.get("dmesg", "")),
        "dmesg_raw": dmesg_raw,
        "errors": driver_errors(dmesg_raw),
        "kernel_errors": _levels(dmesg_raw, 3),
        "warnings": probe_mod.qla_warnings(dmesg_raw),
        "lio_sessions": [x.strip() for x in s.get(
            "lio_sessions", "").replace("\0", "\n").splitlines()
            if x.strip()],
        "fc_host": probe_mod._kv(s.get("fc_host", "")),
        "setup": s.get("setup", ""),
        "setup_error": setup_failure(s.get("setup", ""), prof),
        "duration_s": round(res.duration_s, 2),
        "console_log": str(res.console_log),
        "console_tail": res.console[-4000:],
        "artifacts": str(adir),
        "qemu_stderr": res.stderr,
    }
    result["checks"] = [list(c) for c in checks(result)]
    result["ok"] = all(c[1] for c in result["checks"])
    # a run whose initiator never got done within the bound hung
    broken = (res.exit != "poweroff" or res.controller_error is not None
              or not report or not result["done_seen"]
              or result["setup_error"] is not None)
    result["status"] = ("error" if broken else
                        "passed" if result["ok"] else "failed")
    (adir / "result.json").write_text(json.dumps(
        {k: v for k, v in result.items() if k not in ("report", "events")},
        indent=2) + "\n")
    return result


# --------------------------------------------------------------------------
# Printing
# --------------------------------------------------------------------------

def summary(r: dict, timeline_lines: int = 40) -> str:
    """Human-readable summary of a run_scenario() result (multi-line)."""
    ini = r.get("initiator") or {}
    lines = ["scenario %s (%s, driver %s): %s, exit=%s, %.1f s" % (
        r.get("name"), r.get("scenario"), r.get("driver"),
        r.get("status", "?").upper(), r.get("exit"), r.get("duration_s", 0))]
    lines.append("  device: %s" % r.get("device_opts"))
    k = r.get("kernel") or {}
    lines.append("  guest: kernel %s (%s), %s MiB" % (
        k.get("release", "?"), k.get("spec", "?"), r.get("memory_mib", "?")))
    if r.get("setup_error"):
        lines.append("  driver set-up FAILED: %s" % r["setup_error"])
    if ini:
        lines.append("  initiator: done=%s all_passed=%s phase=%s passes=%s"
                     " (done %s)" % (ini.get("done"), ini.get("all_passed"),
                                     ini.get("phase"), ini.get("passes"),
                                     ini.get("passes_done")))
        bs = ini.get("bios_scan") or {}
        if bs.get("configured"):
            lines.append("  BIOS scan: ok=%s inquiries=%s/%s" % (
                bs.get("ok"), bs.get("inquiries"), bs.get("max_inquiry")))
        for c in ini.get("commands", []):
            lines.append("    %-4s %2d %-16s %-40s attempts %s/%s status %s%s"
                         % ("PASS" if c.get("passed") else "FAIL",
                            c.get("index", 0), c.get("op"),
                            (c.get("name") or "")[:40], c.get("attempts"),
                            c.get("total_attempts"), c.get("status"),
                            ("  " + "; ".join(c.get("reasons", [])[:3]))
                            if c.get("reasons") else ""))
    lines.append("  CTIO status counts: %s" % (", ".join(
        "%s: %s" % kv for kv in sorted(r.get("ctio_status", {}).items()))
        or "none"))
    cnt = ini.get("counters", {})
    isp_logo = r.get("els", {}).get("isp_sent", {}).get("0x05", 0)
    lines.append("  logouts: initiator saw %s (logins %s), ISP sent LOGO %s,"
                 " interruptions %d" % (
                     cnt.get("logouts", 0), cnt.get("logins", 0), isp_logo,
                     len(ini.get("interruptions", []))))
    lines.append("  ELS: isp sent %s, isp received %s" % (
        _els_counts(r.get("els", {}).get("isp_sent", {})),
        _els_counts(r.get("els", {}).get("isp_received", {}))))
    lines.append("  LIO sessions at the end: %s" % (
        ", ".join(r.get("lio_sessions", [])) or "none"))
    lines.append("  checks:")
    for name, ok, detail in r.get("checks", []):
        lines.append("    [%s] %s: %s" % ("ok" if ok else "FAIL", name,
                                          detail))
    for e in r.get("errors", [])[:10]:
        lines.append("    " + e)
    tl = r.get("timeline", [])
    if tl and timeline_lines:
        lines.append("  timeline (virtual s; %d of %d notable events):"
                     % (min(len(tl), timeline_lines), len(tl)))
        lines += ["    " + t for t in tl[:timeline_lines]]
    if r.get("controller_error"):
        lines.append("  controller: " + r["controller_error"].strip()
                     .splitlines()[-1])
    if r.get("exit") == "qemu-error" and r.get("qemu_stderr"):
        lines.append("  qemu: " + r["qemu_stderr"].strip()[-500:])
    lines.append("  artifacts: %s" % r.get("artifacts"))
    return "\n".join(lines)


def _els_counts(d: dict) -> str:
    return ", ".join("%s %s" % (_els(int(k, 16)) if k.startswith("0x")
                                else k, v) for k, v in sorted(d.items())) \
        or "none"
