"""Replay of a capture against the driver under test (``./qlaemu
replay``; docs/replay.md).

The device replays the capture's initiator (hw/qla2532/fc-replay.c: its
``replay`` property) against the target-mode driver, and compares each
frame of the target with the captured one.  This module boots the guest
for it, polls the device's report until the replay is done, and judges:

``PASS`` (0)
    the target behaved as captured: no divergence.
``FAIL`` (1)
    at least one divergence; the first is reported with the captured and
    the live frames around it.
``INCONCLUSIVE`` (125)
    the replay could not run: a capture the device refuses (its reason is
    QEMU's error), the driver did not come up, the guest hung.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from . import capture, evidence, pictures, race, scenario, verdict
from .results import ReplayResult
from .verdict import EXIT_CODES, FAIL, INCONCLUSIVE, PASS

#: Frames shown on each side of the first divergence.
AROUND = 3


def _controller(timeout_s: float, ready_timeout_s: float, poll_s: float,
                snap: Path):
    """The host side: wait for ready, poll until the replay is done (or
    ``timeout_s`` wall seconds), keep the report, send finish."""
    def controller(ctl):
        ctl.wait_mark("ready", ready_timeout_s)
        t_ready = ctl.elapsed_s()
        deadline = time.monotonic() + timeout_s
        rep, done = {}, False
        while True:
            rep = scenario.device_report(ctl)
            done = bool((rep.get("replay") or {}).get("done"))
            if done or time.monotonic() >= deadline:
                break
            time.sleep(poll_s)
        snap.write_text(json.dumps(rep))
        t_done = ctl.elapsed_s()
        ctl.send("finish")
        return {"ready_s": round(t_ready, 2), "done_s": round(t_done, 2),
                "done": done}
    return controller


def merge_opts(*lists: str) -> str:
    """Device properties "k=v,..." merged in order: a later list's value
    of a key replaces an earlier one's (the capture's conditions, then the
    command line)."""
    out = {}
    for opts in lists:
        for item in (opts or "").split(","):
            if item.strip():
                k, _, v = item.partition("=")
                out[k.strip()] = v
    return ",".join("%s=%s" % kv for kv in out.items())


def around(frames: list, idx, n: int = AROUND) -> list:
    """Text lines of ``frames`` (capture.Frame) around index ``idx``,
    ``n`` on each side; '>' marks that frame ([] for None)."""
    if idx is None or not frames:
        return []
    out = []
    for f in frames[max(0, idx - n):idx + n + 1]:
        out.append("%s %6d %14.3f us  %s -> %s  %-14s %s" % (
            ">" if f is frames[idx] else " ", f.number, f.t_ns / 1000.0,
            f.s_id, f.d_id, f.kind, f.info))
    return out


def run_replay(capture_file, driver=None, driver_tree=None,
               profile_dir=None, as_initiator: int | None = None,
               scale_pct: int = 100, run_name: str | None = None,
               timeout_s: float = 300, ready_timeout_s: float = 120,
               icount: str = "shift=3,sleep=off", device_opts: str = "",
               poll_s: float = race.POLL_S,
               link_objects: bool = False) -> ReplayResult:
    """Replay ``capture_file`` against the driver under test.

    Args:
        capture_file: a pcap (link type 225 or 224) with an initiator's
            frames (``--pcap`` of race/scenario, or an analyzer's export).
        driver, driver_tree, profile_dir: as :func:`qlaemu.race.run_race`.
        as_initiator: the WWPN of the port to play (None: the sender of
            the first FCP_CMND).
        device_opts: qla2532 properties; they override the capture's
            conditions (``CAPTURE.json`` beside it, e.g.
            ``race-stock.pcap.json``:
            :func:`qlaemu.capture.read_conditions`).
        scale_pct: the capture's gaps in percent (100: as captured).
        timeout_s: bound on the whole run, wall seconds.
        link_objects: the replayer as an ``-object fc-replayer`` on an
            ``fc-link`` (docs/link.md) instead of the device's property.

    Returns:
        results.ReplayResult (also ``replay.json`` in the artifacts).
    """
    t_start = time.monotonic()
    adir = race.artifacts_dir(run_name, "replay")
    out = ReplayResult(capture=str(Path(capture_file).resolve()),
                       artifacts=str(adir))
    if not Path(capture_file).is_file():
        return _finish(out, t_start, "capture %s: no such file"
                       % capture_file)
    try:
        prof = race.prepare_driver(out, driver, driver_tree, profile_dir)
    except race.setup_errors() as e:
        return _finish(out, t_start, race.error_text(e))
    try:
        cond = capture.read_conditions(capture_file)
    except capture.CaptureError as e:
        return _finish(out, t_start, str(e))
    opts = merge_opts(cond.get("device_opts", ""), device_opts,
                      "replay-scale-pct=%d" % scale_pct,
                      "replay-initiator=0x%016x" % as_initiator
                      if as_initiator else "")
    out.device_opts = opts
    snap = adir / "replay-report.json"
    try:
        r = scenario.run_scenario(
            None, driver=prof, device_opts=opts, icount=icount,
            timeout_s=timeout_s, run_name=adir.name, replay=capture_file,
            controller=_controller(max(10.0, timeout_s - ready_timeout_s
                                       - 30), ready_timeout_s, poll_s,
                                   snap),
            ready_timeout_s=ready_timeout_s, finish_margin_s=30,
            link_objects=link_objects)
    except race.setup_errors() as e:
        return _finish(out, t_start, race.error_text(e))
    race.guest_facts(out, r)
    try:
        rep = json.loads(snap.read_text())
    except (OSError, ValueError):
        rep = r.report or {}
    rp = rep.get("replay") or {}
    out.timings.update({"guest_s": r.duration_s,
                        "boot_to_ready_s": (r.controller or {})
                        .get("ready_s")})
    if r.exit == "qemu-error":
        # the device refused the capture (or the options): QEMU says why
        return _finish(out, t_start, "QEMU: %s" % (
            evidence.qemu_refusal(r.qemu_stderr) or r.exit))
    if r.setup_error:
        return _finish(out, t_start, "driver set-up: %s" % r.setup_error)
    if r.exit == "controller-error":
        # the host side broke (QEMU was stopped): whatever the report
        # file says, the run was not the one asked for
        out.console_tail = r.console_tail
        return _finish(out, t_start, verdict.controller_failure(
            r.controller_error))
    if not rp.get("done"):
        out.console_tail = r.console_tail
        return _finish(out, t_start, "the replay did not finish (guest "
                       "exit %s, %s of %s frames sent)" % (
                           r.exit, rp.get("sent"),
                           rp.get("initiator_frames")))
    _record(out, rp, rep.get("events", []), capture_file)
    return _finish(out, t_start)


def _record(out: ReplayResult, rp: dict, events: list, capture_file):
    """The device's replay report ``rp`` into ``out``; the frames around
    the first divergence and the ladder of the run."""
    out.frames, out.sent = rp.get("frames"), rp.get("sent")
    out.matched = rp.get("matched")
    out.divergences = rp.get("divergences", 0)
    out.counts = rp.get("counts") or {}
    out.first = rp.get("first")
    out.detail = rp.get("detail") or []
    if out.first:
        _around(out, capture_file)
    if out.pcap:
        out.ladder, out.ladder_error = pictures.try_draw(
            pictures.ladder, out.pcap, events,
            Path(out.artifacts) / "ladder.svg",
            title="replay of %s" % Path(capture_file).name)


def _around(out: ReplayResult, capture_file) -> None:
    """The captured and live frames around the first divergence."""
    first = out.first
    try:
        cap = capture.frames(capture_file)
        out.captured_around = around(cap, next(
            (i for i, f in enumerate(cap) if f.number == first.get("frame")),
            None))
        if out.pcap:
            # the last frame on the link by the time of the divergence
            live = capture.frames(out.pcap)
            out.live_around = around(live, max(
                (i for i, f in enumerate(live)
                 if f.t_ns <= first.get("t_ns", 0)), default=None))
    except capture.CaptureError as e:
        out.captured_around = ["(%s)" % e]


def _finish(out: ReplayResult, t_start, error: str | None = None):
    """Judge, record timings, write replay.json."""
    if error is not None:
        out.verdict, out.setup_error = INCONCLUSIVE, error
        out.reasons = [error]
    elif out.divergences:
        f = out.first or {}
        out.verdict = FAIL
        out.reasons = ["%d divergence(s) from the capture (%s); the first: "
                       "%s at capture frame %s, expected %s, got %s" % (
                           out.divergences, ", ".join(
                               "%s %d" % kv for kv in sorted(
                                   out.counts.items())),
                           f.get("kind"), f.get("frame"), f.get("expected"),
                           f.get("got"))]
    else:
        out.verdict = PASS
        out.reasons = ["the target answered all %s frames of the "
                       "initiator as captured" % out.sent]
    out.exit_code = EXIT_CODES[out.verdict]
    out.timings["wall_s"] = round(time.monotonic() - t_start, 2)
    out.write(Path(out.artifacts) / "replay.json")
    return out
