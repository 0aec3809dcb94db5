"""The sweep: the race at every (PRLI-complete latency, first-command
delay) point of a grid, in one boot (``./qlaemu sweep``; issue #5).

Per point the host writes a variant of the scenario, ``qom-set``s
``prli-complete-latency-us``, ``scenario`` (which clears the report) and
``capture`` (the point's pcap) and injects ``link-event lip``, so the
initiator logs in again and the new scenario starts; then it polls the
report until the point is decided (:func:`qlaemu.race.poll_point`) and
judges it as the race does (:func:`qlaemu.verdict.judge`).

With ``snapshot`` the sweep starts from the ready point
(:mod:`qlaemu.snapshot`, the race's) instead of a boot, and runs hands
off: the device stops the VM after each point's scenario
(``stop-after-done-ns``), the host waits for that STOP, reads the report
once, sets the next point and ``cont``s.
"""
import json
import threading
import time
from pathlib import Path

from . import control, pictures, scenario
from . import snapshot as snapshot_mod
from .evidence import analyse
from .results import SweepPoint, SweepResult
from .race import (DEFAULT_DELAYS, DEFAULT_LATENCIES, POINT_TIMEOUT_S,
                   POLL_S, RACE_TRACE, artifacts_dir, error_text, guest_facts,
                   SETTLE_NS, prepare_driver, setup_errors, total_bound_ns,
                   idle_scenario, load_trace, poll_point, write_variant)
from .verdict import (EXIT_CODES, FAIL, INCONCLUSIVE, PASS, RunState,
                      fail_label, judge)


def run_sweep(latencies=DEFAULT_LATENCIES, delays=DEFAULT_DELAYS,
              driver=None, driver_tree=None, profile_dir=None, seed: int = 0,
              trace=None, run_name: str | None = None,
              point_timeout_s: float = POINT_TIMEOUT_S,
              ready_timeout_s: float = 120, icount: str = "shift=3,sleep=off",
              poll_s: float = POLL_S, progress=None,
              scenario_overrides: dict | None = None,
              device_opts: str = "", snapshot: bool = False,
              jobs: int = 1) -> SweepResult:
    """Run the race at every (latency, first-command delay) in one boot.

    Per point: write the scenario variant, qom-set prli-complete-latency-us
    and scenario (the report is cleared), qom-set link-event lip, poll
    until the initiator is done (:func:`poll_point`), judge.

    Args:
        latencies, delays: the grid (µs).
        progress: optional callable(results.SweepPoint) after each point.
        snapshot: start from the ready point and run hands off (module
            docstring); the first sweep or race of a driver and options
            saves it.
        jobs: with ``snapshot`` and a saved point, this many QEMUs load
            it and share the grid (every ``jobs``-th point each); each
            point's verdict is the same, its timeline depends on the
            points its QEMU ran before it.
        (others as :func:`qlaemu.race.run_race`)

    Returns:
        results.SweepResult: its points (results.SweepPoint), matrix
        {latency: {delay: verdict}}, boundary, and verdict (FAIL if any
        point failed, PASS if all passed, else INCONCLUSIVE); also
        written to ``sweep.json`` in the artifacts.
    """
    t_start = time.monotonic()
    adir = artifacts_dir(run_name, "sweep")
    pdir = adir / "points"
    pdir.mkdir(parents=True, exist_ok=True)
    latencies, delays = list(latencies), list(delays)
    out = SweepResult(latencies=latencies, delays=delays, seed=seed,
                      artifacts=str(adir))
    grid = [(lat, d) for lat in latencies for d in delays]
    try:
        base = load_trace(trace)
        out.scenario = str(Path(trace or RACE_TRACE).resolve())
        prof = prepare_driver(out, driver, driver_tree, profile_dir)
    except setup_errors() as e:
        out.setup_error = error_text(e)
        out.points = [_point(lat, d, INCONCLUSIVE, [out.setup_error])
                      for lat, d in grid]
        return _finish_sweep(out, t_start)
    variants = {d: write_variant(base, d, pdir,
                                 overrides=scenario_overrides)
                for d in delays}
    scens = {d: json.loads(f.read_text()) for d, f in variants.items()}
    snap = None
    run_args = dict(path=idle_scenario(pdir),
                    device_opts="prli-complete-latency-us=0"
                    + ("," + device_opts if device_opts else ""))
    try:
        if snapshot:
            run_args["device_opts"] = snapshot_mod.point_opts(device_opts,
                                                              SETTLE_NS)
            snap = snapshot_mod.for_target_run(
                prof, run_args["device_opts"], icount)
            warm = snap.exists()
            run_args.update(
                path=snap.idle, capture=False,
                qemu_args=snap.incoming_args() if warm else ["-S"],
                boot_data=snap.boot_data() if warm else "")
            out.timings["snapshot_start"] = "snapshot" if warm else "boot"
        if snap is None or not warm:
            jobs = 1
        slices = [grid[i::max(1, jobs)] for i in range(max(1, jobs))]
        runs = _run_workers(slices, adir.name, dict(
            variants=variants, scens=scens, pdir=pdir, points=out.points,
            point_timeout_s=point_timeout_s,
            ready_timeout_s=ready_timeout_s, poll_s=poll_s,
            progress=progress, snap=snap), dict(
            driver=prof, icount=icount, ready_timeout_s=ready_timeout_s,
            finish_margin_s=30, trace=False, **run_args))
        r = runs[0]
        out.timings["jobs"] = len(runs)
    except setup_errors() as e:
        out.setup_error = error_text(e)
        r = None
    if r is not None and snap is not None:
        out.setup_error = snapshot_mod.problem(
            snap, out.timings["snapshot_start"] == "snapshot", r)
    done = {(p.latency_us, p.first_cmd_us) for p in out.points}
    why = ("the guest did not get to this point (guest exit %s)"
           % (r.exit if r else None)
           + (": %s" % out.setup_error if out.setup_error else ""))
    out.points += [_point(lat, d, INCONCLUSIVE, [why])
                   for lat, d in grid if (lat, d) not in done]
    if r is not None:
        ctl = guest_facts(out, r)
        out.timings.update({"boot_to_ready_s": ctl.get("ready_s"),
                            "points_s": max(
                                (x.controller or {}).get("points_s") or 0
                                for x in runs),
                            "guest_s": r.duration_s})
        for k in ("load_s", "save_s", "bytes", "point", "point_ns"):
            if k in ctl:
                out.timings["snapshot_" + k] = ctl[k]
        if r.exit != "poweroff":
            out.console_tail = r.console_tail
    return _finish_sweep(out, t_start)


def _run_workers(slices: list, run_name: str, ctl_args: dict,
                 run_args: dict) -> list:
    """One guest run (scenario.run_scenario) per slice of the grid, in
    parallel threads (each a QEMU of its own); their results in slice
    order.  ``ctl_args``: :func:`_sweep_controller`'s arguments but the
    grid; ``run_args``: run_scenario's but the controller, run name and
    timeout."""
    results = [None] * len(slices)
    errors = []

    def work(i):
        try:
            grid = slices[i]
            timeout = (ctl_args["ready_timeout_s"] + 60 + len(grid) *
                       (ctl_args["point_timeout_s"] + 2))
            results[i] = scenario.run_scenario(
                controller=_sweep_controller(grid, **ctl_args),
                run_name=run_name + ("-w%d" % i if i else ""),
                timeout_s=timeout, **run_args)
        except BaseException as e:      # noqa: BLE001 - re-raised below
            errors.append(e)
    threads = [threading.Thread(target=work, args=(i,), daemon=True)
               for i in range(1, len(slices))]
    for t in threads:
        t.start()
    work(0)
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def _sweep_point(ctl, lat: int, d: int, variant: Path, scen: dict,
                 pdir: Path, point_timeout_s: float,
                 poll_s: float, hands_off: bool = False) -> SweepPoint:
    """One point in the guest: set the latency and the scenario,
    originate a LIP, poll until decided, judge.  ``hands_off``: the VM
    is paused (at the ready point, or by the device after the previous
    point); ``cont`` and wait for the device's STOP instead of polling."""
    t0 = time.monotonic()
    stem = "lat%d-d%d" % (lat, d)
    pcap = pdir / (stem + ".pcap")
    pcap.unlink(missing_ok=True)
    try:
        # the point's own capture starts before its LIP
        for prop, value in (("prli-complete-latency-us", int(lat)),
                            ("scenario", str(variant)),
                            ("capture", str(pcap)),
                            ("link-event", "lip")):
            ctl.qmp("qom-set", path=scenario.HBA_PATH, property=prop,
                    value=value)
        stopped = None
        if hands_off:
            ctl.qmp("cont")
            stopped = ctl.wait_event("STOP", point_timeout_s)
        rep, stop, polls = poll_point(
            ctl, total_bound_ns(scen),
            5.0 if stopped is not None else point_timeout_s, poll_s)
    except control.GuestExited as e:
        return _point(lat, d, INCONCLUSIVE, ["the guest exited: %s" % e])
    (pdir / (stem + ".report.json")).write_text(json.dumps(rep))
    ev = analyse(rep, scen)
    v = judge(ev, RunState(guest_exit=None, stop=stop))
    p = _point(lat, d, v.verdict, v.reasons, ev, stop)
    p.wall_s = round(time.monotonic() - t0, 2)
    p.polls = polls
    p.pcap = str(pcap)
    return p


def _sweep_controller(grid, variants, scens, pdir, points, point_timeout_s,
                      ready_timeout_s, poll_s, progress, snap=None):
    """The sweep's host side: every point of ``grid`` in turn; with
    ``snap`` (qlaemu.snapshot.Snapshot) from its ready point, hands off."""
    def controller(ctl):
        info = {}
        if snap is not None:
            info = snapshot_mod.reach_point(ctl, snap, scenario.HBA_PATH,
                                            ready_timeout_s,
                                            pdir.parent / "console.log")
        else:
            ctl.wait_mark("ready", ready_timeout_s)
        t_ready = ctl.elapsed_s()
        for lat, d in grid:
            p = _sweep_point(ctl, lat, d, variants[d], scens[d], pdir,
                             point_timeout_s, poll_s, snap is not None)
            points.append(p)
            if p.wall_s is None:
                continue            # the guest exited
            if progress:
                progress(p)
            if p.stop == "wall-timeout":
                # the guest no longer makes progress: do not wait
                # point_timeout_s on every remaining point
                break
        t_end = ctl.elapsed_s()
        if snap is not None:
            ctl.qmp("cont")
        ctl.send("finish")
        return dict(info, ready_s=round(t_ready, 2),
                    points_s=round(t_end - t_ready, 2), done=True)
    return controller


def _point(lat, d, verdict, reasons, ev=None, stop=None) -> SweepPoint:
    """The SweepPoint of (``lat``, ``d``) µs from its evidence ``ev``
    (evidence.analyse; None when the point did not run)."""
    ev = ev or {}
    return SweepPoint(
        latency_us=lat, first_cmd_us=d, verdict=verdict,
        label=fail_label(ev, verdict), reasons=reasons, stop=stop,
        ctio_status=ev.get("ctio_status", {}),
        iocb_errors=ev.get("iocb_errors", {}),
        forced_logouts=ev.get("forced_logouts", {}),
        logins=ev.get("logins"),
        elapsed_ms=round(ev["elapsed_ns"] / 1e6, 3)
        if ev.get("elapsed_ns") is not None else None,
        prli_latency_us=ev.get("prli_latency_us", []))


def matrix(points: list) -> dict:
    """{latency: {delay: verdict}} of sweep points (results.SweepPoint)."""
    m = {}
    for p in points:
        m.setdefault(p.latency_us, {})[p.first_cmd_us] = p.verdict
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
        by_d.setdefault(p.first_cmd_us, []).append(p)
    for d, ps in by_d.items():
        ps = sorted(ps, key=lambda p: p.latency_us)
        fails = [p.latency_us for p in ps if p.verdict == FAIL]
        passes = [p.latency_us for p in ps if p.verdict == PASS]
        ff = fails[0] if fails else None
        out[d] = {"first_fail_latency_us": ff,
                  "last_pass_latency_us": max(
                      [x for x in passes if ff is None or x < ff],
                      default=None),
                  "monotonic": ff is None or all(
                      p.verdict == FAIL for p in ps if p.latency_us >= ff)}
    return out


def _finish_sweep(out: SweepResult, t_start) -> SweepResult:
    """Order the points by the grid, derive matrix, boundary, counts and
    the verdict, record timings and write sweep.json."""
    def order(p):
        return (out.latencies.index(p.latency_us)
                if p.latency_us in out.latencies else 0,
                out.delays.index(p.first_cmd_us)
                if p.first_cmd_us in out.delays else 0)
    pts = sorted(out.points, key=order)
    out.points = pts
    out.matrix = {str(k): {str(d): v for d, v in row.items()}
                  for k, row in matrix(pts).items()}
    out.boundary = {str(k): v for k, v in boundary(pts).items()}
    verdicts = [p.verdict for p in pts]
    out.counts = {v: verdicts.count(v) for v in (PASS, FAIL, INCONCLUSIVE)}
    out.verdict = (FAIL if FAIL in verdicts else
                   PASS if verdicts and all(v == PASS for v in verdicts)
                   else INCONCLUSIVE)
    out.exit_code = EXIT_CODES[out.verdict]
    out.timings["wall_s"] = round(time.monotonic() - t_start, 2)
    timed = [p.wall_s for p in pts if p.wall_s is not None]
    if timed:
        out.timings["per_point_s"] = round(sum(timed) / len(timed), 3)
        out.timings["points_per_min"] = round(
            60.0 * len(timed) / max(sum(timed), 1e-6), 1)
    Path(out.artifacts).mkdir(parents=True, exist_ok=True)
    out.heatmap, out.heatmap_error = pictures.try_draw(
        pictures.heatmap, out, Path(out.artifacts) / "sweep.svg")
    out.write(Path(out.artifacts) / "sweep.json")
    return out
