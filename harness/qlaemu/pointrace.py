"""Runs from the ready point: ``./qlaemu race --snapshot`` and
``./qlaemu scenario --snapshot`` (issue #11).

The same race as :func:`qlaemu.race.run_race` -- the same scenario
variant, evidence and verdict rules -- started from the saved ready point
of :mod:`qlaemu.snapshot` instead of a boot: the host sets the point's
``prli-complete-latency-us``, scenario and capture there, injects a LIP
(the race starts at the initiator's relogin, as a sweep point does and as
the field report's "after every LIP" says), ``cont``s, and sends nothing
until the device stops the VM :data:`qlaemu.race.SETTLE_NS` after the
scenario.  The first run of a (driver, options) boots to the point and
saves it; later ones load it (docs/migration.md §5).  A scenario file runs
the same way: set at the point, started by the LIP, judged as
:func:`qlaemu.scenario.run_scenario` judges it.
"""
import json
import re
import time
from pathlib import Path

from . import paths, probe, scenario
from . import snapshot as snapshot_mod
from .race import (DEFAULT_FIRST_CMD_US, DEFAULT_LATENCY_US, POLL_S,
                   SETTLE_NS, error_text, finish_race, judge_run,
                   poll_point, prepare_race, setup_errors, total_bound_ns)
from .results import RaceResult, ScenarioResult
from .verdict import RunState


def run_race(driver=None, driver_tree=None, profile_dir=None,
             latency_us: int = DEFAULT_LATENCY_US,
             first_cmd_us: int = DEFAULT_FIRST_CMD_US, seed: int = 0,
             trace=None, run_name: str | None = None,
             scenario_overrides: dict | None = None,
             timeout_s: float = 300, ready_timeout_s: float = 120,
             icount: str = "shift=3,sleep=off", device_opts: str = "",
             poll_s: float = POLL_S, capture: bool = True,
             ladder: bool = True) -> RaceResult:
    """The race from the ready point.

    Arguments and result as :func:`qlaemu.race.run_race`; the result's
    ``scenario["snapshot"]`` is the snapshot's directory and its timings
    add ``snapshot_start`` ("boot": this run saved the point; "snapshot":
    it loaded it), ``snapshot_save_s`` or ``snapshot_load_s`` (s),
    ``snapshot_bytes``, ``snapshot_point`` ("device"/"host") and
    ``snapshot_point_ns`` (the point's virtual time).  A state QEMU
    refuses makes the run INCONCLUSIVE, naming the snapshot.
    """
    out, prof, scen_file, scen, t_start = prepare_race(
        driver, driver_tree, profile_dir, latency_us, first_cmd_us, seed,
        trace, run_name, scenario_overrides)
    if prof is None:
        return out
    adir = Path(out.artifacts)
    base_opts = snapshot_mod.point_opts(device_opts, SETTLE_NS)
    try:
        snap = snapshot_mod.for_target_run(prof, base_opts, icount)
    except (snapshot_mod.SnapshotError, *setup_errors()) as e:
        return finish_race(out, {}, RunState(setup_error=error_text(e)),
                           t_start)
    out.scenario["snapshot"] = str(snap.dir)
    report = adir / "race-report.json"
    try:
        r = _run_from_point(
            prof, snap, base_opts, adir,
            [("prli-complete-latency-us", int(latency_us)),
             ("scenario", str(scen_file))], capture, report,
            total_bound_ns(scen), icount, timeout_s, ready_timeout_s,
            poll_s)
    except setup_errors() as e:
        return finish_race(out, {}, RunState(setup_error=error_text(e)),
                           t_start)
    return judge_run(out, r, report, scen, t_start, ladder)


def run_scenario(path, driver="debian-6.1", device_opts: str = "",
                 icount: str | None = "shift=3,sleep=off",
                 timeout_s: float = 180, run_name: str | None = None,
                 ready_timeout_s: float = scenario.READY_TIMEOUT_S,
                 capture: bool = True) -> ScenarioResult:
    """The scenario ``path`` from the ready point of the driver profile
    ``driver`` with ``device_opts``: ``qom-set`` there as its scenario
    (and ``capture``), a LIP, hands off until the device stops the VM
    after it.  Arguments and result as
    :func:`qlaemu.scenario.run_scenario` (the result's ``controller``
    adds the snapshot's start, load/save time and point).

    Raises:
        scenario.ScenarioError: an unknown driver, an unreadable file,
            reserved device options.
        snapshot.SnapshotError, image.GuestError, kernels.KernelError,
            host.SetupError: set-up.
    """
    prof = scenario.check_driver(driver)
    scen = Path(path).resolve()
    try:
        data = json.loads(scen.read_text())
    except (OSError, ValueError) as e:
        raise scenario.ScenarioError("scenario %s: %s" % (path, e)) from e
    name = (data.get("name") if isinstance(data, dict) else None) \
        or scen.stem
    run = run_name or "scenario-%s-%s" % (
        re.sub(r"[^A-Za-z0-9_.-]", "_", name), time.strftime("%Y%m%d-%H%M%S"))
    adir = paths.ARTIFACTS_DIR / run
    adir.mkdir(parents=True, exist_ok=True)
    base_opts = snapshot_mod.point_opts(device_opts, SETTLE_NS)
    snap = snapshot_mod.for_target_run(prof, base_opts, icount)
    r = _run_from_point(
        prof, snap, base_opts, adir, [("scenario", str(scen))], capture,
        adir / "report-at-done.json",
        total_bound_ns(data if isinstance(data, dict) else {}), icount,
        timeout_s, ready_timeout_s, POLL_S)
    r.scenario, r.name = str(scen), name
    if r.setup_error:
        r.status = "error"
    r.write(adir / "result.json", exclude=("report", "events"))
    return r


def _run_from_point(prof, snap, base_opts: str, adir: Path, props: list,
                    capture: bool, report: Path, bound_ns: int, icount,
                    timeout_s: float, ready_timeout_s: float,
                    poll_s: float):
    """One guest run from the ready point ``snap``: ``props`` (then the
    run's capture, then a LIP) set there, hands off until the device's
    STOP, decided as :func:`qlaemu.race.poll_point` does (``bound_ns``)
    and the report written to ``report``.  Returns the
    results.ScenarioResult, its ``setup_error`` naming a snapshot QEMU
    refused."""
    warm = snap.exists()
    props = list(props)
    if capture:
        props.append(("capture", str(adir / probe.CAPTURE_NAME)))
    props.append(("link-event", "lip"))

    def decide(ctl, stopped):
        return poll_point(ctl, bound_ns, 5.0 if stopped else 30.0, poll_s)
    r = scenario.run_scenario(
        snap.idle, driver=prof, device_opts=base_opts, icount=icount,
        timeout_s=timeout_s, run_name=adir.name,
        controller=snapshot_mod.point_controller(
            snap, scenario.HBA_PATH, props, report, decide, timeout_s,
            ready_timeout_s, adir / "console.log"),
        ready_timeout_s=ready_timeout_s, finish_margin_s=30, capture=False,
        qemu_args=snap.incoming_args() if warm else ["-S"],
        boot_data=snap.boot_data() if warm else "")
    r.setup_error = r.setup_error or snapshot_mod.problem(snap, warm, r)
    return r
