"""The PRLI race (issue #5): verdicts for ``race``, ``sweep``, ``bisect-step``.

The field report: after every LIP, an FC initiator whose first command
follows the PRLI LS_ACC closely (a QLogic boot BIOS scanning LUN 0) gets
CTIOs completed with PORT LOGGED OUT (0x29); the target driver answers
with a terminate, deletes the session and sends LOGO, the initiator logs
in again, and the cycle repeats (docs/race.md, docs/driver-target-
contract.md §7).  The device reproduces it with ``prli-complete-latency-us``
(µs from the PRLI LS_ACC to the firmware's PRLI completion, during which
it completes CTIOs for the port with 0x29) and traces/prli-race.json.

:func:`run_race` boots the target-mode guest with a driver profile
(qlaemu.driver) and the race scenario and returns a verdict with its
evidence.  :func:`run_sweep` boots once and runs a grid of (latency,
first-command delay) points in that guest: per point it writes a variant
of the scenario, ``qom-set``s ``prli-complete-latency-us`` and ``scenario``
(which clears the report) and injects ``link-event lip``, so the
initiator logs in again and the new scenario starts; then it polls the
report until the initiator is done.  Both judge with the same function,
:func:`qlaemu.verdict.judge`, on the same evidence,
:func:`qlaemu.evidence.analyse`; the text, JSON and JUnit outputs are in
:mod:`qlaemu.report`.

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

from . import (evidence, host, image, kernels, kmsg, modbuild, paths,
               pictures, profiles, scenario, vm)
from .evidence import analyse, pass_bound_ns
from .results import RaceResult
from .verdict import RunState, judge

RACE_TRACE = paths.REPO / "traces" / "prli-race.json"
DEFAULT_DRIVER = profiles.DEFAULT_PROFILE
#: Out-of-tree profile used with --driver-tree and no --profile-dir.
TREE_PROFILE = "qla2xxx-tree"
#: ``--topology``: the device properties that ask for it -- the NVRAM
#: connection option of the ISP and of its link partner (qla_fw.h
#: nvram_24xx: 0 loop only, 1 point to point only).  A driver may override
#: its own (Linux 6.1's target mode forces point to point); the verdict
#: states what came up (:func:`qlaemu.evidence.topology_of`).
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


# --------------------------------------------------------------------------
# The host controller: one point
# --------------------------------------------------------------------------

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
        rep = scenario.device_report(ctl)
        polls += 1
        vt = rep.get("virtual_time_ns") or 0
        if v0 is None:
            v0 = vt
        ini = rep.get("initiator") or {}
        events = rep.get("events", []) or []
        if ini.get("done"):
            dones = [e.get("t_ns", 0) for e in events
                     if e.get("source") == "initiator"
                     and e.get("event") == "scenario-done"]
            if not dones or vt >= dones[-1] + settle_ns:
                return rep, "done", polls
        login = next((e for e in events if e.get("source") == "initiator"
                      and e.get("event") == "logged-in"), None)
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
    profiles.Profile, returned as it is), or ``--driver-tree DIR`` with
    ``--driver`` / ``--profile-dir`` (default the out-of-tree template
    :data:`TREE_PROFILE`); ``profile_vars`` (``--profile-var``) and
    ``patches`` (``--patches``) as profiles.load_profile takes them.

    Raises:
        profiles.ProfileError.
    """
    if isinstance(driver, profiles.Profile):
        return driver
    if driver_tree is not None:
        return profiles.load_profile(profile_dir or driver or TREE_PROFILE,
                                     driver_tree=Path(driver_tree)
                                     .resolve(), profile_vars=profile_vars,
                                     patches=patches)
    return profiles.load_profile(profile_dir or driver or DEFAULT_DRIVER,
                                 profile_vars=profile_vars, patches=patches)


def build_profile(prof) -> dict:
    """Build (or find cached) the profile's modules; {name: path}.

    Raises:
        driver.BuildError, profiles.ProfileError, build.SetupError.
    """
    return modbuild.ensure_modules(prof)


def _profile_info(prof) -> dict:
    if prof is None:
        return {}
    return {"name": prof.name, "kind": prof.kind, "dir": str(prof.dir),
            "tree": str(prof.driver_tree) if prof.driver_tree else None,
            "description": prof.description}


def setup_errors():
    return (profiles.DriverError, host.SetupError, image.GuestError,
            kernels.KernelError, scenario.ScenarioError, RaceError)


# --------------------------------------------------------------------------
# race
# --------------------------------------------------------------------------

def error_text(e) -> str:
    msg = "%s: %s" % (type(e).__name__, e)
    log = getattr(e, "log", None)
    if log:
        msg += " (log %s)" % log
    return msg


def prepare_driver(out, driver, driver_tree, profile_dir):
    """Resolve and build the driver under test and its guest image.

    Records ``out.driver``, ``out.kernel``, ``out.memory_mib`` and
    ``out.timings["build_s"]`` (seconds) in ``out``, a race or sweep
    result (:mod:`qlaemu.results`).  Returns the profile.  Raises what
    :func:`setup_errors` lists (profiles.BuildError for a tree that does
    not build).
    """
    prof = resolve_profile(driver, driver_tree, profile_dir)
    out.driver = _profile_info(prof)
    out.kernel = kernels.kernel_info()
    out.memory_mib = vm.memory()
    t = time.monotonic()
    build_profile(prof)
    image.prepare(None if prof.is_stock else prof)
    out.timings["build_s"] = round(time.monotonic() - t, 2)
    return prof


def artifacts_dir(run_name: str | None, kind: str) -> Path:
    run = run_name or "%s-%s" % (kind, time.strftime("%Y%m%d-%H%M%S"))
    adir = paths.ARTIFACTS_DIR / run
    adir.mkdir(parents=True, exist_ok=True)
    return adir


def total_bound_ns(scen: dict) -> int:
    """The bound of a run of ``scen``: one pass's bound times its maximum
    number of passes (``max-passes``, default 16)."""
    return pass_bound_ns(scen) * int(str(scen.get("max-passes", 16)), 0)


def guest_facts(out, r) -> dict:
    """Record what the guest run ``r`` (a results.ScenarioResult) showed
    -- dmesg, topology, exit, logs, capture -- in ``out`` (a race or sweep
    result); return its controller's dict."""
    out.dmesg = kmsg.relevant_dmesg(r.dmesg)
    out.topology = evidence.topology_of(r.fc_host or {})
    out.guest_exit = r.exit
    out.console_log = r.console_log
    out.controller_error = r.controller_error
    out.pcap = r.pcap
    return r.controller or {}


def prepare_race(driver, driver_tree, profile_dir, latency_us: int,
                 first_cmd_us: int, seed: int, trace, run_name,
                 scenario_overrides) -> tuple:
    """What every race does before its guest runs: the artifacts, the
    result, the driver built, the scenario variant written (arguments as
    :func:`run_race`).

    Returns:
        (RaceResult, profile, scenario file, scenario dict, start time);
        the profile is None when set-up failed, and the RaceResult is then
        the finished INCONCLUSIVE one.
    """
    t_start = time.monotonic()
    adir = artifacts_dir(run_name, "race")
    out = RaceResult(latency_us=latency_us, first_cmd_us=first_cmd_us,
                     seed=seed, artifacts=str(adir))
    try:
        base = load_trace(trace)
        out.scenario = {"trace": str(Path(trace or RACE_TRACE).resolve()),
                        "name": base.get("name")}
        prof = prepare_driver(out, driver, driver_tree, profile_dir)
    except setup_errors() as e:
        return finish_race(out, {}, RunState(setup_error=error_text(e)),
                           t_start,
                           build_error=isinstance(e, profiles.BuildError)
                           ), None, None, None, t_start
    scen_file = write_variant(base, first_cmd_us, adir,
                              overrides=scenario_overrides)
    out.scenario["overrides"] = dict(scenario_overrides or {})
    out.scenario["file"] = str(scen_file)
    return out, prof, scen_file, json.loads(scen_file.read_text()), t_start


def run_race(driver=None, driver_tree=None, profile_dir=None,
             latency_us: int = DEFAULT_LATENCY_US,
             first_cmd_us: int = DEFAULT_FIRST_CMD_US, seed: int = 0,
             trace=None, run_name: str | None = None,
             scenario_overrides: dict | None = None,
             timeout_s: float = 300, ready_timeout_s: float = 120,
             icount: str = "shift=3,sleep=off", device_opts: str = "",
             poll_s: float = POLL_S, capture: bool = True,
             ladder: bool = True) -> RaceResult:
    """Boot the target with the driver under test and run the race.

    Args:
        driver: profile name or directory (default debian-6.1).
        driver_tree: out-of-tree driver source (``--driver-tree``).
        profile_dir: the out-of-tree profile for ``driver_tree`` (default
            driver-under-test/qla2xxx-tree).
        latency_us: device ``prli-complete-latency-us``.
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
        capture: write the link capture and draw the ladder (False only
            to measure their cost: ``./qlaemu bench``).
        ladder: draw the ladder picture (about 2 s: matplotlib and
            tshark); False leaves ``ladder_error`` "not asked for".

    Returns:
        results.RaceResult: the verdict, its label, exit code and reasons,
        and the evidence (CTIO statuses, forced logouts, the initiator's
        summary, the timeline, the driver's relevant dmesg lines); also
        written to ``race.json`` in the artifacts.
    """
    out, prof, scen_file, scen, t_start = prepare_race(
        driver, driver_tree, profile_dir, latency_us, first_cmd_us, seed,
        trace, run_name, scenario_overrides)
    if prof is None:
        return out
    adir = Path(out.artifacts)
    snap = adir / "race-report.json"
    controller = _race_controller(total_bound_ns(scen), snap, timeout_s,
                                  ready_timeout_s, poll_s)
    opts = "prli-complete-latency-us=%d,stop-after-done-ns=%d" % (
        latency_us, SETTLE_NS)
    if device_opts:
        opts += "," + device_opts
    try:
        r = scenario.run_scenario(
            scen_file, driver=prof, device_opts=opts, icount=icount,
            timeout_s=timeout_s, run_name=adir.name, controller=controller,
            ready_timeout_s=ready_timeout_s, finish_margin_s=30,
            capture=capture, qemu_args=["-S"])
    except setup_errors() as e:
        return finish_race(out, {}, RunState(setup_error=error_text(e)),
                           t_start,
                           build_error=isinstance(e, profiles.BuildError))
    return judge_run(out, r, snap, scen, t_start, ladder)


def judge_run(out: RaceResult, r, snap: Path, scen: dict,
              t_start: float, ladder: bool = True) -> RaceResult:
    """The verdict of a race run ``r`` (results.ScenarioResult) whose
    controller wrote the report it decided on to ``snap``."""
    try:
        rep = json.loads(snap.read_text())
    except (OSError, ValueError):
        rep = {}
    ctl = guest_facts(out, r)
    stop = ctl.get("stop")
    err = r.controller_error or ""
    if not stop and ("ready" in err or "wait_mark" in err):
        stop = "not-ready"
    state = RunState(guest_exit=r.exit, stop=stop,
                     setup_error=r.setup_error,
                     port_state=(r.fc_host or {}).get("port_state"),
                     controller_error=r.controller_error)
    out.timings.update({"boot_to_ready_s": ctl.get("ready_s"),
                        "boot_to_verdict_s": ctl.get("verdict_s"),
                        "guest_s": r.duration_s,
                        # hands off: the device stopped the VM, one read
                        "stopped_by_device": ctl.get("stopped_by_device"),
                        "report_polls": ctl.get("polls")})
    for k in ("start", "load_s", "save_s", "bytes", "point", "point_ns"):
        if k in ctl:
            out.timings["snapshot_" + k] = ctl[k]
    if r.exit != "poweroff" or not rep:
        out.console_tail = r.console_tail
    if out.pcap and rep and ladder:
        _ladder(out, rep)
    elif out.pcap and not ladder:
        out.ladder_error = "not asked for (--no-ladder)"
    return finish_race(out, analyse(rep, scen) if rep else {}, state,
                       t_start)


def _ladder(out: RaceResult, rep: dict) -> None:
    """Draw the race's ladder (ladder.svg) from its capture and report."""
    out.ladder, out.ladder_error = pictures.try_draw(
        pictures.ladder, out.pcap, rep.get("events", []),
        Path(out.artifacts) / "ladder.svg",
        title="race: %s, prli-complete-latency-us %d, first command %d us"
        % (out.driver.get("name"), out.latency_us, out.first_cmd_us))


def _race_controller(bound_ns: int, snap: Path, timeout_s: float,
                     ready_timeout_s: float, poll_s: float):
    """The race's host side.  QEMU starts paused (``-S``): connect QMP and
    ``cont``, so that connecting never lands in the guest's run.  Then wait
    for the device's STOP (``stop-after-done-ns``: the VM pauses
    :data:`SETTLE_NS` after the scenario is done) without sending QEMU
    anything -- the scenario may end before or after the guest's ``ready``
    --, read the report from the paused VM, ``cont``, wait for ``ready``
    and send finish.  A run that does not stop within the ready bound plus
    :data:`qlaemu.scenario.STOP_WAIT_S` (no login, a pass past its bound, a
    hung guest) is decided as before: ``ready``, then polling
    (:func:`poll_point`) (docs/race.md "Bit-identical timelines")."""
    def controller(ctl):
        stopped, t_ready = scenario.hands_off_start(ctl, ready_timeout_s)
        budget = max(10.0, timeout_s - ctl.elapsed_s() - 30)
        rep, stop, polls = poll_point(ctl, bound_ns, budget, poll_s)
        snap.write_text(json.dumps(rep))
        t_done = ctl.elapsed_s()
        t_ready = scenario.hands_off_end(ctl, stopped, t_ready,
                                         ready_timeout_s)
        return {"stop": stop, "polls": polls, "ready_s": round(t_ready, 2),
                "verdict_s": round(t_done, 2), "done": stop == "done",
                "stopped_by_device": stopped is not None}
    return controller


def setup_failure(error: str, args=None, build_error: bool = False,
                  profile=None) -> RaceResult:
    """An INCONCLUSIVE race result for a run that could not be set up.

    Args:
        error: what failed.
        args: the command line's namespace (latency_us, first_cmd_us, seed,
            driver) or None.
        build_error: the driver does not build (JUnit: skipped).
        profile: the driver profile, if it was resolved.
    """
    adir = artifacts_dir(None, "race")
    out = RaceResult(
        driver=_profile_info(profile) or {
            "name": getattr(args, "driver", None) or DEFAULT_DRIVER},
        scenario={"trace": str(Path(getattr(args, "trace", None)
                                    or RACE_TRACE).resolve())},
        latency_us=getattr(args, "latency_us", DEFAULT_LATENCY_US),
        first_cmd_us=getattr(args, "first_cmd_us", DEFAULT_FIRST_CMD_US),
        seed=getattr(args, "seed", 0), artifacts=str(adir))
    return finish_race(out, {}, RunState(setup_error=error),
                       time.monotonic(), build_error=build_error)


def finish_race(out: RaceResult, ev, state: RunState, t_start,
                build_error=False) -> RaceResult:
    """Judge the evidence ``ev`` (evidence.analyse) and ``state``, record
    the verdict and evidence in ``out`` and write race.json."""
    v = judge(ev, state)
    out.verdict, out.label = v.verdict, v.label
    out.exit_code, out.reasons = v.exit_code, v.reasons
    out.build_error = build_error
    out.setup_error, out.stop = state.setup_error, state.stop
    out.iocb_errors = ev.get("iocb_errors", {})
    out.ctio_status = ev.get("ctio_status", {})
    out.forced_logouts = ev.get("forced_logouts", {})
    out.initiator = ev.get("initiator", {})
    out.events = ev.get("events", [])
    out.prli_latency_us = ev.get("prli_latency_us", [])
    out.bound_ns, out.elapsed_ns = ev.get("bound_ns"), ev.get("elapsed_ns")
    out.timings["wall_s"] = round(time.monotonic() - t_start, 2)
    out.write(Path(out.artifacts) / "race.json")
    return out
