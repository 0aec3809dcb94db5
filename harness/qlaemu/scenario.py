"""Run a scenario of the simulated FC initiator against the real driver.

:func:`run_scenario` boots the guest in target mode (qla2xxx
``qlini_mode=disabled``, tcm_qla2xxx, an LIO rd_mcp ramdisk in demo mode:
harness/guest/target-setup.sh, or the driver profile's own scripts) with
the qla2532 device given a scenario file (docs/scenario.md).  The guest
marks ``ready`` and waits on the control channel; the host controller
polls the device's ``report`` property over QMP until the initiator
reports ``done`` (or a wall-clock bound passes), then sends ``finish``.
The guest dumps its kernel log and powers off, and QEMU writes the report
file on exit.

QEMU runs with ``-icount`` (default ``shift=3,sleep=off``): single-threaded
TCG whose virtual clock counts instructions, so the device's event
timeline (virtual ``t_ns``) repeats from run to run.  The QMP polls and
the ``finish`` line are the only inputs from the host; the second comes
after ``done``.

Everything is kept under ``ARTIFACTS_DIR/<run>/``: ``report.json`` (the
device's report file), ``report-at-done.json`` (the QMP snapshot that
showed ``done``), ``console.log`` (+ the data channel, the controller log,
QEMU's argv and stderr), ``dmesg.txt``, ``dmesg-raw.txt``,
``trace.log`` (QEMU trace of every request-queue IOCB and of the
scenario engine, ``qla2532_iocb``, ``qla2532_scenario_load``,
``qla2532_sim_*``) and
``result.json`` (the dict returned, without the report).
"""
import json
import re
import time
from pathlib import Path

from . import driver as driver_mod
from . import evidence, image, kernels, kmsg, paths, profiles, vm
from . import probe as probe_mod
from .results import ScenarioResult
from .verdict import checks

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
RESERVED_OPTS = ("id", "bus", "wwpn", "wwnn", "scenario", "report-file",
                 "capture", "replay")
#: Seconds allowed from QEMU start to the guest's "ready" mark.
READY_TIMEOUT_S = 120
#: Seconds between two QMP polls of the report.
POLL_S = 0.5
#: Seconds the guest and the host keep after "finish" (dmesg, poweroff).
FINISH_MARGIN_S = 30
#: Seconds (guest clock) the guest waits for "finish".
GUEST_WAIT_S = 86400


#: QEMU's trace of the run (``-D``), in the run's artifacts.
TRACE_NAME = "trace.log"


class ScenarioError(ValueError):
    """The run cannot be set up: unknown driver profile, bad file/options."""


def guest_script(wwpn: int, wait_s: int, rd_pages: int = probe_mod.RD_PAGES,
                 profile=None) -> str:
    """The guest's /scenario.sh: the driver under test in target mode,
    ``ready``, wait for the host's line, collect, exit
    (harness/guest/scenario-target.sh).

    Args:
        wwpn: the HBA's port name (names the LIO target).
        wait_s: how long the guest waits for the host's line, seconds.
        rd_pages: ramdisk size in 4 KiB pages.
        profile: driver-under-test profile (qlaemu.profiles.Profile) or
            None (the stock modules).
    """
    wwn = probe_mod.format_wwn(wwpn)
    return image.script("scenario-target", {
        "WWN": wwn, "RD_PAGES": rd_pages, "WAIT_S": wait_s,
        "SESS": probe_mod.lio_sessions_path(wwn)},
        driver_mod.target_functions(profile, wwn))


def check_driver(driver, driver_tree=None):
    """The driver profile ``driver`` names; ScenarioError if there is none.

    Args:
        driver: a profile name (driver-under-test/<name>), a profile
            directory or profile.json path, a qlaemu.profiles.Profile, or
            None (the default, debian-6.1).
        driver_tree: module tree of an out-of-tree profile.

    Returns:
        qlaemu.profiles.Profile.

    Raises:
        ScenarioError: no such profile, or a malformed one.
    """
    if isinstance(driver, profiles.Profile):
        return driver
    try:
        return profiles.load_profile(driver, driver_tree=driver_tree)
    except profiles.ProfileError as e:
        known = sorted(set(DRIVERS) | set(profiles.list_profiles()))
        raise ScenarioError("unknown driver profile %r; available: %s (%s)"
                            % (driver, ", ".join(known), e)) from e


def _device_opts(scenario: Path, report_file: Path, device_opts: str,
                 replay=None) -> str:
    """The qla2532 properties of a scenario run (or, with ``replay``, of a
    capture's replay), ``k=v,...`` (the capture is
    :func:`qlaemu.probe.device_args`'s)."""
    user = probe_mod.normalize_opts(device_opts)
    for item in user.split(",")[1:]:
        key = item.partition("=")[0].strip()
        if key in RESERVED_OPTS:
            raise ScenarioError("device option %r is set by run_scenario"
                                % item)

    esc = probe_mod.qemu_opt_escape
    what = ("replay=" + esc(replay) if replay is not None
            else "scenario=" + esc(scenario))
    return "id=%s,%s,report-file=%s%s" % (HBA_ID, what, esc(report_file),
                                          user)


def device_report(ctl) -> dict:
    """The HBA's ``report`` property (docs/scenario.md), read over QMP
    from a running or paused guest (``ctl``: a control.GuestControl)."""
    return json.loads(ctl.qmp("qom-get", path=HBA_PATH,
                              property="report")["return"])


#: How long a hands-off run waits (wall, s) past the ready bound for the
#: device to stop the VM at the end of the scenario (docs/race.md §4).
STOP_WAIT_S = 60


def hands_off_start(ctl, ready_timeout_s: float):
    """The first half of a hands-off run (QEMU started with ``-S`` and the
    device with ``stop-after-done-ns``): ``cont`` before the first guest
    instruction, then only read -- QMP's STOP event, which the device
    causes after the scenario is done, whether before or after the
    guest's ``ready`` mark.  Without a STOP by the ready bound the guest
    must at least be ready (else :meth:`wait_mark` raises), and the STOP
    gets :data:`STOP_WAIT_S` more.

    Returns:
        (STOP event or None, wall time of ``ready`` in s, or None when it
        was not matched yet).
    """
    ctl.qmp("cont")
    stopped = ctl.wait_event("STOP", ready_timeout_s)
    if stopped is not None:
        return stopped, None
    ctl.wait_mark("ready", 1.0)
    t_ready = ctl.elapsed_s()
    return ctl.wait_event("STOP", STOP_WAIT_S), t_ready


def hands_off_end(ctl, stopped, t_ready, ready_timeout_s: float) -> float:
    """The second half: ``cont`` a stopped VM, wait for ``ready`` unless
    ``t_ready`` says when it came, send ``finish``.  Returns the wall time
    of ready (s)."""
    if stopped is not None:
        ctl.qmp("cont")
    if t_ready is None:
        ctl.wait_mark("ready", ready_timeout_s)
        t_ready = ctl.elapsed_s()
    ctl.send("finish")
    return t_ready


def _controller(done_timeout_s: float, poll_s: float, snapshot: Path,
                ready_timeout_s: float = READY_TIMEOUT_S,
                hands_off: bool = False):
    """The host side: wait for ready, poll the report, send finish; with
    ``hands_off``, wait for the device's STOP instead of polling while the
    guest runs (:func:`hands_off_start`)."""

    def controller(ctl):
        stopped = None
        if hands_off:
            stopped, t_ready = hands_off_start(ctl, ready_timeout_s)
        else:
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
        t_ready = hands_off_end(ctl, stopped, t_ready, ready_timeout_s)
        return {"ready_s": round(t_ready, 2), "done_s": round(t_done, 2),
                "done": done, "polls": polls,
                "stopped_by_device": stopped is not None,
                "virtual_time_ns": rep.get("virtual_time_ns")}
    return controller


def _load_scenario(path) -> tuple:
    """(absolute path, name) of a scenario file.

    Raises:
        ScenarioError: missing or unreadable file.
    """
    scen = Path(path).resolve()
    try:
        scen_json = json.loads(scen.read_text())
    except (OSError, ValueError) as e:
        raise ScenarioError("scenario %s: %s" % (path, e)) from e
    name = scen_json.get("name") if isinstance(scen_json, dict) else None
    return scen, name or scen.stem


def _qemu_args(wwpn, wwnn, opts: str, icount, qemu_args, adir: Path,
               trace: bool, capture, link_objects: bool) -> list:
    form = (probe_mod.object_form_args if link_objects
            else probe_mod.device_args)
    dargs = form(wwpn, wwnn, device_opts=opts, capture=capture)
    if icount:
        # Virtual time from the instruction count, and a guest RTC that
        # starts at a fixed date and runs on that virtual clock: the kernel
        # seeds its hash tables and entropy from the RTC at boot, so with
        # the host's date the guest's instruction count (and every
        # timestamp after boot) drifted by up to ~6 us from run to run.
        dargs += ["-icount", icount,
                  "-rtc", "base=2020-01-01T00:00:00,clock=vm"]
    dargs += list(qemu_args)
    if trace:
        dargs += ["-trace", "qla2532_iocb", "-trace", "qla2532_scenario_load",
                  "-trace", "qla2532_sim_*", "-D", str(adir / TRACE_NAME)]
    return dargs


def run_scenario(path, driver: str = "debian-6.1", device_opts: str = "",
                 icount: str | None = "shift=3,sleep=off",
                 timeout_s: float = 180, run_name: str | None = None,
                 wwpn: int = probe_mod.DEFAULT_WWPN,
                 wwnn: int = probe_mod.DEFAULT_WWNN,
                 done_timeout_s: float | None = None,
                 poll_s: float = POLL_S, trace: bool = True,
                 qemu_args=(), driver_tree=None, controller=None,
                 ready_timeout_s: float = READY_TIMEOUT_S,
                 finish_margin_s: float = FINISH_MARGIN_S,
                 capture: bool = True, replay=None,
                 link_objects: bool = False,
                 boot_data: str = "") -> ScenarioResult:
    """Boot the target, run the scenario ``path``, collect everything.

    Args:
        path: scenario JSON file (docs/scenario.md).
        driver: driver profile: a name in driver-under-test/ (default
            ``"debian-6.1"``, the stock modules), a profile directory or
            profile.json, or a qlaemu.profiles.Profile
            (:func:`check_driver`).
        device_opts: extra qla2532 properties ``k=v,...`` (e.g.
            ``"prli-complete-latency-us=5000"``); not id/bus/wwpn/wwnn/
            scenario/report-file.
        icount: QEMU ``-icount`` value, or None/"" for none.
        timeout_s: hard limit on QEMU, seconds.
        run_name: artifact directory name (default scenario-<name>-<stamp>).
        wwpn, wwnn: the HBA's names.
        done_timeout_s: wall-clock bound on waiting for ``initiator.done``
            after ``ready`` (default: what ``timeout_s`` leaves after boot
            and the finish margin).
        poll_s: seconds between QMP polls of the report.
        trace: record QEMU's ``qla2532_iocb`` trace (entry counts of the
            IOCBs the driver queued) and the scenario engine's trace events
            (``qla2532_scenario_load``, ``qla2532_sim_*``) into
            ``trace.log``.
        qemu_args: more QEMU arguments (list of str).
        driver_tree: module tree of an out-of-tree ``driver`` profile.
        controller: replaces the default host controller (wait for
            ``ready``, poll until done, send ``finish``): a callable
            ``controller(ctl) -> dict`` given the control.GuestControl; it
            must send ``finish`` itself.  Its dict is the result's
            ``controller`` entry; ``done`` in it is ``done_seen``.
        ready_timeout_s: bound on the guest's ``ready`` mark (default
            controller only), seconds.
        finish_margin_s: how long the controller thread may run on after
            QEMU exited, seconds.
        capture: write the link's frames to ``link.pcap`` in the
            artifacts (docs/capture.md); False only to measure its cost.
        replay: a capture whose initiator the device replays instead of
            running ``path`` (None: run the scenario; qlaemu.replay).
        link_objects: configure QEMU in the object form (the link, the
            initiator or replayer and the capture as ``-object``s,
            :func:`qlaemu.probe.object_form_args`) instead of the device's
            own link; the same run.
        boot_data: the data channel of the boot this run goes on from
            (a run started from a saved state, :mod:`qlaemu.snapshot`,
            whose ``qemu_args`` load it): its sections and marks count as
            this run's, before its own.

    Returns:
        results.ScenarioResult; ``status`` is 'passed', 'failed', or
        'error' when the run itself broke or hung.

    Raises:
        ScenarioError: unknown driver, missing/unreadable scenario file,
            reserved or malformed device options.
        image.GuestError, kernels.KernelError, host.SetupError: the image,
            the kernel or QEMU cannot be had.
    """
    prof = check_driver(driver, driver_tree)
    if replay is not None:
        replay = Path(replay).resolve()
        scen, name = replay, "replay-" + replay.stem
    else:
        scen, name = _load_scenario(path)
    run = run_name or "scenario-%s-%s" % (
        re.sub(r"[^A-Za-z0-9_.-]", "_", name), time.strftime("%Y%m%d-%H%M%S"))
    adir = paths.ARTIFACTS_DIR / run
    adir.mkdir(parents=True, exist_ok=True)
    report_file = adir / "report.json"
    snapshot = adir / "report-at-done.json"
    pcap = adir / probe_mod.CAPTURE_NAME
    for f in (report_file, snapshot, adir / TRACE_NAME, pcap):
        f.unlink(missing_ok=True)
    try:
        opts = _device_opts(scen, report_file, device_opts, replay)
    except ValueError as e:
        raise ScenarioError(str(e)) from e
    if done_timeout_s is None:
        done_timeout_s = max(10.0, timeout_s - READY_TIMEOUT_S / 4
                             - FINISH_MARGIN_S)
    if controller is None:
        # hands off while the guest runs (docs/race.md §4), where the
        # device runs the scenario itself
        hands_off = replay is None and not link_objects
        controller = _controller(done_timeout_s, poll_s, snapshot,
                                 ready_timeout_s, hands_off)
        if hands_off:
            opts += ",stop-after-done-ns=1"
            qemu_args = list(qemu_args) + ["-S"]
    dargs = _qemu_args(wwpn, wwnn, opts, icount, qemu_args, adir, trace,
                       pcap if capture else None, link_objects)
    # The guest's wait is in virtual time, which under -icount sleep=off
    # runs far ahead of the wall clock while the guest idles: give it a
    # day; the host's timeout_s bounds the run.
    res = vm.run(guest_script(wwpn, GUEST_WAIT_S, profile=prof),
                 device_args=dargs, timeout_s=timeout_s,
                 log_path=adir / "console.log", controller=controller,
                 controller_grace_s=finish_margin_s,
                 profile=None if prof.is_stock else prof)
    if boot_data:
        res.sections = {**vm.parse_sections(boot_data), **res.sections}
        res.marks = vm.MARK_RE.findall(boot_data) + res.marks
    result = _result(res, prof, scen, name, opts, icount, adir,
                     [(report_file, "file"), (snapshot, "qmp")])
    result.write(adir / "result.json", exclude=("report", "events"))
    return result


def _read_report(candidates) -> tuple:
    """(report dict, 'file' / 'qmp' / None): the first readable one."""
    for f, src in candidates:
        try:
            return json.loads(f.read_text()), src
        except (OSError, ValueError):
            continue
    return {}, None


def _result(res, prof, scen: Path, name: str, opts: str, icount,
            adir: Path, reports) -> dict:
    """The :class:`qlaemu.results.ScenarioResult` of a scenario run:
    ``report`` from the report file, or the last QMP snapshot if QEMU left
    none; ``errors`` the QLogic driver's lines at level <= 3,
    ``kernel_errors`` every line at level <= 3, ``warnings`` lines
    mentioning qla2xxx at level <= 4; ``ok`` when every check passed.
    """
    s = res.sections
    report, source = _read_report(reports)
    events = report.get("events", [])
    # SCST's legacy driver splits each message in two records: joined
    dmesg_raw = kmsg.join_split_records(s.get("dmesg_raw", ""))
    dmesg = kmsg.join_split_records(s.get("dmesg", ""))
    (adir / "dmesg.txt").write_text(dmesg)
    (adir / "dmesg-raw.txt").write_text(dmesg_raw)
    try:
        trace = (adir / TRACE_NAME).read_text(errors="replace")
    except OSError:
        trace = ""
    ctl = res.controller_result or {}
    result = ScenarioResult(
        scenario=str(scen), name=name, driver=prof.name,
        profile={"name": prof.name, "kind": prof.kind,
                 "dir": str(prof.dir),
                 "tree": str(prof.driver_tree) if prof.driver_tree
                 else None},
        device_opts=opts, kernel=kernels.kernel_info(),
        memory_mib=vm.memory(), icount=icount or None,
        exit=res.exit, script_rc=res.script_rc,
        report=report, report_source=source,
        initiator=report.get("initiator"),
        ctio_status=dict(report.get("counters", {}).get("ctio_status",
                                                        {})),
        ctio_errors=[c for c in evidence.annotate_ctios(events)
                     if c["status"] != evidence.CTIO_SUCCESS],
        unexpected_ctios=evidence.unexpected_ctios(events),
        els=evidence.els_counters(report),
        iocb_counts=evidence.iocb_counts(trace),
        events=events, timeline=evidence.timeline(events),
        done_seen=bool(ctl.get("done")),
        done_t_ns=evidence.done_time_ns(report),
        controller=ctl, controller_error=res.controller_error,
        dmesg=dmesg, dmesg_raw=dmesg_raw,
        errors=kmsg.driver_errors(dmesg_raw),
        kernel_errors=kmsg.kernel_errors(dmesg_raw),
        warnings=kmsg.qla_warnings(dmesg_raw),
        lio_sessions=probe_mod.session_names(s.get("lio_sessions", "")),
        fc_host=probe_mod.parse_kv(s.get("fc_host", "")),
        setup=s.get("setup", ""),
        setup_error=driver_mod.setup_failure(s.get("setup", ""), prof),
        duration_s=round(res.duration_s, 2),
        console_log=str(res.console_log),
        console_tail=res.console[-4000:],
        artifacts=str(adir), qemu_stderr=res.stderr or "",
        pcap=str(adir / probe_mod.CAPTURE_NAME)
        if (adir / probe_mod.CAPTURE_NAME).exists() else None,
    )
    result.checks = [list(c) for c in checks(result)]
    result.ok = all(c[1] for c in result.checks)
    # a run whose initiator never got done within the bound hung
    broken = (res.exit != "poweroff" or res.controller_error is not None
              or not report or not result.done_seen
              or result.setup_error is not None)
    result.status = ("error" if broken else
                     "passed" if result.ok else "failed")
    return result
