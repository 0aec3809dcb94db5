"""Benchmarks (``./qlaemu bench``): timing figures of the harness's runs,
printed next to their goals.  Figures, not assertions (tests do not time
things)."""
import time
from pathlib import Path

from . import build, capture, pair, paths, pictures, pointrace, sweep
from . import probe as probe_mod
from . import race as race_mod
from . import replay as replay_mod


def run(args) -> int:
    """Print every figure (``./qlaemu bench``): probe wall time, the
    race, its capture, the snapshot start, the sweep, the incremental
    rebuild, the pair.  Figures, not assertions; returns 0."""
    print("bench: warm probe wall time (initiator, %s)" % args.accel)
    for i in (1, 2):
        t0 = time.monotonic()
        r = probe_mod.probe(mode="initiator", accel=args.accel,
                            run_name="bench-probe-%d" % i)
        print("  probe run %d: %.1f s wall (guest %.1f s, exit=%s, ok=%s)"
              % (i, time.monotonic() - t0, r.duration_s, r.exit, r.ok),
              flush=True)
    _bench_race(args)
    _bench_pair()
    src = paths.HW_DIR / "qla2532.c"
    try:
        dt = build.time_incremental_rebuild(src)
        print("  incremental rebuild after touching %s: %.1f s"
              % (src.relative_to(paths.REPO), dt))
    except FileNotFoundError:
        print("  incremental rebuild: %s does not exist" % src)
    return 0


#: Goals printed next to the race figures of ``bench`` (issue #5).
GOAL_WARM_RACE_S = 10.0
GOAL_SWEEP_100_S = 300.0


def _bench_capture(with_s: float) -> None:
    """bench: the race without the capture and its ladder, against
    ``with_s`` (a warm race with them), and the cost of reading the
    capture with tshark and drawing the ladder alone."""
    t0 = time.monotonic()
    r = race_mod.run_race(run_name="bench-race-nocapture", capture=False)
    without = time.monotonic() - t0
    print("  capture + ladder overhead on the race: %.1f s with, %.1f s "
          "without (%+.0f %%; goal < 10 %%)" % (
              with_s, without, 100.0 * (with_s - without) / without),
          flush=True)
    r = race_mod.run_race(run_name="bench-race-capture")
    if r.pcap:
        t0 = time.monotonic()
        n = len(capture.frames(r.pcap))
        t1 = time.monotonic()
        pictures.ladder(r.pcap, [], Path(r.artifacts) / "bench-ladder.svg")
        print("  tshark reads the race capture (%d frames) in %.2f s; the "
              "ladder takes %.2f s" % (n, t1 - t0, time.monotonic() - t1))
    trace = paths.REPO / "traces" / "race-stock.pcap"
    t0 = time.monotonic()
    rp = replay_mod.run_replay(trace, run_name="bench-replay")
    print("  replay of %s (%s frames): %.1f s to verdict %s (guest %s s)"
          % (trace.name, rp.frames, time.monotonic() - t0, rp.verdict,
             rp.timings.get("guest_s")), flush=True)


#: Goals of the snapshot start (issue #11).
GOAL_SNAPSHOT_RACE_S = 3.0
GOAL_SNAPSHOT_SWEEP_S = 10.0


def _bench_snapshot() -> None:
    """bench: the race and the default 10 x 10 sweep from the saved ready
    point (the first race saves it if there is none)."""
    print("bench: from the ready point (--snapshot)", flush=True)
    r = pointrace.run_race(run_name="bench-point-0", ladder=False)
    print("  first race --snapshot: %.1f s (%s; verdict %s)" % (
        r.timings["wall_s"], r.timings.get("snapshot_start"), r.verdict))
    for ladder in (False, True):
        t0 = time.monotonic()
        r = pointrace.run_race(run_name="bench-point-1", ladder=ladder)
        dt = time.monotonic() - t0
        print("  warm race --snapshot%s: %.1f s to verdict %s (load %.2f s;"
              " goal <= %.0f s: %s)" % (
                  "" if ladder else " --no-ladder", dt, r.verdict,
                  r.timings.get("snapshot_load_s") or 0,
                  GOAL_SNAPSHOT_RACE_S,
                  "met" if dt <= GOAL_SNAPSHOT_RACE_S else "MISSED"),
              flush=True)
    t0 = time.monotonic()
    s = sweep.run_sweep(run_name="bench-point-sweep", snapshot=True)
    dt = time.monotonic() - t0
    print("  10x10 sweep --snapshot: %.1f s, %.3f s per point (goal <= %.0f"
          " s: %s)" % (dt, s.timings.get("per_point_s") or 0,
                       GOAL_SNAPSHOT_SWEEP_S,
                       "met" if dt <= GOAL_SNAPSHOT_SWEEP_S else "MISSED"),
          flush=True)


def _bench_race(args) -> None:
    """bench: warm race, sweep throughput, configured vs observed latency.

    Figures, not assertions.
    """
    print("bench: race (stock driver, defaults)", flush=True)
    race_mod.run_race(run_name="bench-race-0")          # warms caches
    t0 = time.monotonic()
    r = race_mod.run_race(run_name="bench-race-1")
    dt = time.monotonic() - t0
    print("  warm race: %.1f s to verdict %s (goal <= %.0f s: %s)"
          % (dt, r.verdict, GOAL_WARM_RACE_S,
             "met" if dt <= GOAL_WARM_RACE_S else "MISSED"), flush=True)
    _bench_capture(dt)
    _bench_snapshot()
    lats, delays = (0, 1000, 5000, 9000), (100, 10000)
    t0 = time.monotonic()
    s = sweep.run_sweep(latencies=lats, delays=delays,
                        run_name="bench-sweep")
    dt = time.monotonic() - t0
    tm = s.timings
    per = tm.get("per_point_s") or 0
    est = (tm.get("boot_to_ready_s") or 0) + 100 * per + \
        (tm.get("build_s") or 0)
    print("  sweep %dx%d: %.1f s wall (boot %.1f s); %.3f s per point, "
          "%.0f scenarios per minute" % (
              len(lats), len(delays), dt, tm.get("boot_to_ready_s") or 0,
              per, tm.get("points_per_min") or 0))
    print("  10x10 sweep estimate: %.0f s (goal <= %.0f s: %s)" % (
        est, GOAL_SWEEP_100_S, "met" if est <= GOAL_SWEEP_100_S
        else "MISSED"))
    print("  PRLI latency, configured vs observed (virtual, login-state "
          "4->5 at the LS_ACC to 5->6):")
    for lat in lats:
        obs = sorted({x for p in s.points if p.latency_us == lat
                      for x in p.prli_latency_us or []})
        print("    configured %6d us: observed %s" % (
            lat, ", ".join("%g us" % x for x in obs) or "no completion seen"))


def _bench_pair() -> None:
    """bench: the pair on both links -- ``cable`` (one guest under
    -icount: the guest's clock, fio's figures, is virtual time) and
    ``remote`` (two QEMUs on the host's clock: wall time) --: bring-up to
    the LUN, and the fio verify job through the emulated link against the
    same job on a virtio-scsi disk of the initiator's QEMU."""
    for link, clock in (("cable", "virtual time"), ("remote", "wall time")):
        print("bench: pair (%s; stock qla2xxx initiator, LIO target; fio "
              "in %s)" % (link, clock), flush=True)
        r = pair.run_pair(link=link, suites=(), virtio_baseline=True,
                          run_name="bench-pair-%s" % link)
        wait = (r.lun_wait or "? ? ? ? ?").split()
        print("  pair: %s; %.1f s wall to the result, initiator guest run "
              "%.1f s%s; LUN %s after %s s of waiting in the guest, "
              "answering %s s later"
              % (r.verdict, r.wall_s, r.guest_s,
                 ", target serving after %s s" % r.target_ready_s
                 if link == "remote" else "", r.disk or "none", wait[0],
                 wait[-1]))
        for what, f in (("emulated FC (ISP2532 -> LIO)", r.fio or {}),
                        ("virtio-scsi, same QEMU", r.fio_virtio or {})):
            if f.get("parsed"):
                print("  fio verify %s MiB, %s: write %.1f MB/s %.0f IOPS, "
                      "read %.1f MB/s %.0f IOPS" % (
                          f["size_mib"], what, f["write"]["bw_bytes"] / 1e6,
                          f["write"]["iops"], f["read"]["bw_bytes"] / 1e6,
                          f["read"]["iops"]), flush=True)
