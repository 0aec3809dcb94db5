"""Command line of qla2532-emu (``./qlaemu COMMAND``).

Commands:
    test [pytest args]   ensure packages, run harness/tests with pytest
    probe                boot the guest with the device, report what Linux sees
    race                 the PRLI race against a driver: PASS / FAIL /
                         INCONCLUSIVE (exit 0 / 1 / 125, for git bisect run)
    sweep                the race over a grid of PRLI-complete latency x
                         first-command delay, many points per boot
    bisect-step          build a driver tree and run the race (git bisect run)
    scenario FILE        run a scenario of the simulated initiator against
                         the target-mode driver; summary, checks, JSON
    shell                interactive busybox guest with the device attached
    bench                print timing figures (no assertions)

Every command does its own set-up (packages, QEMU build, guest image) and is
idempotent.  Exit status: 0 success, 1 scenario failure, 2 set-up error;
race, sweep and bisect-step: 0 PASS, 1 FAIL, 125 INCONCLUSIVE (bisect-step:
255 when the bisection must stop, e.g. a broken profile or machine).
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from . import guest, paths
from . import probe as probe_mod


def _wwn(text: str) -> int:
    """argparse type: '0x2100...' or '21:00:...' -> int."""
    t = text.replace(":", "")
    return int(t, 16) if ":" in text else int(t, 0)


def _setup() -> None:
    """Build QEMU (or use $QLAEMU_QEMU) and the guest image (idempotent)."""
    guest.qemu_binary()
    guest.prepare()


def _add_machine_args(p: argparse.ArgumentParser) -> None:
    """--kernel, --memory, --topology: the guest every command boots."""
    from . import kernels
    p.add_argument("--topology", choices=("loop", "p2p"),
                   default=None,
                   help="the link: loop (FC-AL, as in the field report) or "
                   "p2p; default: both ports loop preferred, so the driver "
                   "chooses")
    p.add_argument("--kernel", metavar="SPEC", default=None,
                   help="guest kernel: %s (default %s), or a path to a "
                   "linux-image-*.deb" % (", ".join(kernels.DEBIAN_KERNELS),
                                          kernels.DEFAULT_KERNEL))
    p.add_argument("--memory", metavar="MIB", type=int, default=None,
                   help="guest RAM in MiB (default %d: above 4 GiB, like a "
                   "server, so drivers use 64-bit DMA)"
                   % guest.DEFAULT_MEMORY_MIB)


def _apply_machine_args(args) -> None:
    """Select the kernel and memory of this process's guests.

    Raises:
        kernels.KernelError, ValueError: a bad --kernel / --memory.
    """
    from . import kernels
    kernels.select(getattr(args, "kernel", None))
    guest.set_memory(getattr(args, "memory", None))


def _add_common(p: argparse.ArgumentParser) -> None:
    _add_machine_args(p)
    p.add_argument("--accel", choices=("tcg", "kvm"), default="tcg",
                   help="QEMU accelerator (default tcg; kvm hung once)")
    p.add_argument("--wwpn", type=_wwn, default=probe_mod.DEFAULT_WWPN,
                   help="device port name (default %s)"
                   % probe_mod.format_wwn(probe_mod.DEFAULT_WWPN))
    p.add_argument("--wwnn", type=_wwn, default=probe_mod.DEFAULT_WWNN,
                   help="device node name")
    p.add_argument("--opt", metavar="KEY=VALUE", action="append",
                   type=_opt, default=[],
                   help="extra qla2532 device property, repeatable, e.g. "
                   "--opt conn-option=1 --opt partner-conn-option=3")


def _opt(text: str) -> str:
    """argparse type: one 'key=value' device property."""
    key, eq, _ = text.partition("=")
    if not eq or not key or "," in text:
        raise argparse.ArgumentTypeError(
            "expected KEY=VALUE without commas, got %r" % text)
    return text


def _device_opts(args) -> str:
    """--topology's properties (race.TOPOLOGY_OPTS) and the --opt values,
    'k=v,k2=v2'."""
    from . import race as race_mod
    topo = race_mod.TOPOLOGY_OPTS.get(getattr(args, "topology", None) or "")
    return ",".join(([topo] if topo else [])
                    + list(getattr(args, "opt", None) or []))


def cmd_test(args) -> int:
    from . import build
    build.ensure_packages()
    env = dict(os.environ)
    env["PYTHONPATH"] = str(paths.REPO / "harness") + (
        ":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = ["/usr/bin/python3", "-m", "pytest", "harness/tests", "-v", "-ra",
           *args.pytest_args]
    sys.stdout.flush()
    return subprocess.run(cmd, cwd=paths.REPO, env=env).returncode


def _run_probe(args, mode: str) -> int:
    _setup()
    r = probe_mod.probe(mode=mode, wwpn=args.wwpn, wwnn=args.wwnn,
                        accel=args.accel, device_opts=_device_opts(args))
    print(probe_mod.summary(r))
    if getattr(args, "json", None):
        Path(args.json).write_text(json.dumps(r, indent=2) + "\n")
        print("  json: %s" % args.json)
    return 0 if r["ok"] else 1


def cmd_probe(args) -> int:
    return _run_probe(args, args.mode)


def _race_setup() -> str | None:
    """QEMU and the stock image; the error text instead of raising."""
    from . import build
    try:
        _setup()
    except (build.SetupError, guest.GuestError) as e:
        return "%s: %s" % (type(e).__name__, e)
    return None


def _write_race_outputs(args, r) -> None:
    from . import race as race_mod
    if getattr(args, "json", None):
        Path(args.json).write_text(json.dumps(r, indent=2) + "\n")
        print("  json: %s" % args.json)
    if getattr(args, "junit", None):
        Path(args.junit).write_text(race_mod.junit_xml(r))
        print("  junit: %s" % args.junit)


def _run_race(args, prof) -> dict:
    """race.run_race with the race options of the command line."""
    from . import race as race_mod
    return race_mod.run_race(
        driver=prof, latency_us=args.latency_us,
        first_cmd_us=args.first_cmd_us, seed=args.seed, trace=args.trace,
        scenario_overrides=race_mod.lip_overrides(args.lips,
                                                  args.lip_delay_ms),
        timeout_s=args.timeout, ready_timeout_s=args.ready_timeout,
        device_opts=_device_opts(args))


def _race_result(args, setup_error=None) -> dict:
    from . import driver as driver_mod
    from . import race as race_mod
    if setup_error:
        return race_mod.setup_failure(setup_error, args)
    try:
        prof = resolve_driver(args)
    except driver_mod.ProfileError as e:
        return race_mod.setup_failure(race_mod._err(e), args)
    return _run_race(args, prof)


def cmd_race(args) -> int:
    """The race: verdict PASS 0 / FAIL 1 / INCONCLUSIVE 125."""
    from . import race as race_mod
    r = _race_result(args, _race_setup())
    print(race_mod.race_summary(r, timeline_lines=args.timeline))
    _write_race_outputs(args, r)
    return r["exit_code"]


def cmd_sweep(args) -> int:
    """The latency x first-command-delay grid in one boot."""
    from . import race as race_mod
    err = _race_setup()
    if err:
        print("qlaemu: set-up failed: %s" % err, file=sys.stderr)
        return race_mod.EXIT_CODES[race_mod.INCONCLUSIVE]

    def progress(p):
        print("  latency %6d us, first command %6d us: %-12s %5.2f s  %s"
              % (p["latency_us"], p["first_cmd_us"], p["verdict"],
                 p.get("wall_s") or 0, (p["reasons"] or [""])[0][:70]),
              flush=True)
    from . import driver as driver_mod
    try:
        prof = resolve_driver(args)
    except driver_mod.ProfileError as e:
        print("qlaemu: %s" % e, file=sys.stderr)
        return race_mod.EXIT_CODES[race_mod.INCONCLUSIVE]
    r = race_mod.run_sweep(
        device_opts=_device_opts(args),
        latencies=args.latencies, delays=args.delays, driver=prof,
        seed=args.seed, trace=args.trace,
        scenario_overrides=race_mod.lip_overrides(args.lips,
                                                  args.lip_delay_ms),
        point_timeout_s=args.point_timeout, progress=progress)
    print(race_mod.sweep_summary(r))
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=2) + "\n")
        print("  json: %s" % args.json)
    return r["exit_code"]


def _wants_tree(args) -> bool:
    """True when the named profile builds a tree and has none of its own
    (no --driver, or an out-of-tree profile such as scst-legacy)."""
    from . import driver as driver_mod
    if not args.driver and not args.profile_dir:
        return True
    try:
        prof = driver_mod.load_profile(args.profile_dir or args.driver)
    except driver_mod.ProfileError:
        return False            # reported by resolve_driver
    return prof.kind == "out-of-tree" and prof.driver_tree is None


def cmd_bisect_step(args) -> int:
    """One step of ``git bisect run``: 0 good, 1 bad, 125 skip, 255 stop."""
    from . import driver as driver_mod
    from . import race as race_mod
    if not args.driver_tree and _wants_tree(args):
        # git bisect run runs us in the tree being bisected
        args.driver_tree = os.getcwd()
    err = _race_setup()
    if err:
        print("qlaemu bisect-step: the machine is not ready (%s); stopping "
              "the bisection" % err, file=sys.stderr)
        return race_mod.EXIT_ABORT
    try:
        prof = resolve_driver(args)
    except driver_mod.ProfileError as e:
        print("qlaemu bisect-step: bad profile (%s); stopping the "
              "bisection" % e, file=sys.stderr)
        return race_mod.EXIT_ABORT
    try:
        race_mod.build_profile(prof)
    except driver_mod.BuildError as e:
        print("qlaemu bisect-step: the driver does not build: %s\n"
              "verdict: INCONCLUSIVE (exit 125, skip this commit)" % e)
        r = race_mod.setup_failure(race_mod._err(e), args, build_error=True,
                                   profile=prof)
        _write_race_outputs(args, r)
        return race_mod.EXIT_CODES[race_mod.INCONCLUSIVE]
    except driver_mod.ProfileError as e:
        print("qlaemu bisect-step: %s; stopping the bisection" % e,
              file=sys.stderr)
        return race_mod.EXIT_ABORT
    r = _run_race(args, prof)
    print(race_mod.race_summary(r, timeline_lines=args.timeline))
    _write_race_outputs(args, r)
    return r["exit_code"]


def _names(text: str) -> list:
    """argparse type: 'a,b,c' -> ['a', 'b', 'c']."""
    out = [x.strip() for x in text.split(",") if x.strip()]
    if not out:
        raise argparse.ArgumentTypeError("expected a comma-separated list")
    return out


def cmd_matrix(args) -> int:
    """drivers x kernels x topologies x variants x latencies: the table of
    docs/field-report.md.  Exit 0 when every cell ran (whatever its
    verdicts), 125 when a cell could not be set up."""
    from . import matrix as matrix_mod
    err = _race_setup()
    if err:
        print("qlaemu: set-up failed: %s" % err, file=sys.stderr)
        return 125

    def progress(row):
        print("  %-12s %-12s %-5s %-9s %6d us: %-12s %s" % (
            row["driver"], row["kernel"], row["topology"], row["variant"],
            row["latency_us"], row["verdict"],
            "" if row["verdict"] == "PASS" else row["label"]), flush=True)
    m = matrix_mod.run_matrix(
        driver_tree=args.driver_tree, drivers=args.drivers,
        kernel_specs=args.kernels, topologies=args.topologies,
        variants=args.variants, latencies=args.latencies,
        first_cmd_us=args.first_cmd_us, lips=args.lips, progress=progress)
    print(matrix_mod.markdown(m))
    matrix_mod.write(m, args.json, args.markdown)
    return 125 if any(c.get("setup_error") for c in m["cells"]) else 0


def cmd_scenario(args) -> int:
    """Run one scenario file; exit 0 passed, 1 failed, 2 broken run."""
    from . import driver as driver_mod
    from . import scenario as scenario_mod
    try:
        prof = resolve_driver(args)
    except driver_mod.ProfileError as e:
        print("qlaemu: %s" % e, file=sys.stderr)
        return 2
    _setup()
    try:
        driver_mod.ensure_modules(prof)
    except driver_mod.DriverError as e:
        print("qlaemu: %s" % e, file=sys.stderr)
        return 2
    r = scenario_mod.run_scenario(
        args.file, driver=prof, device_opts=_device_opts(args),
        icount=args.icount or None, timeout_s=args.timeout,
        wwpn=args.wwpn, wwnn=args.wwnn)
    print(scenario_mod.summary(r, timeline_lines=args.timeline))
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=2) + "\n")
        print("  json: %s" % args.json)
    return {"passed": 0, "failed": 1}.get(r["status"], 2)


def cmd_shell(args) -> int:
    _setup()
    wwn = probe_mod.format_wwn(args.wwpn)
    banner = guest.BANNER
    if args.mode == "target":
        banner += ("LIO target for this port (after the two modprobes):\n"
                   "  mkdir -p /sys/kernel/config/target/qla2xxx/%s/"
                   "tpgt_1/lun\n" % wwn)
    res = guest.run("", device_args=probe_mod.device_args(
                        args.wwpn, args.wwnn,
                        device_opts=_device_opts(args)),
                    accel=args.accel, interactive=True,
                    extra_files={"etc/qlaemu-banner": banner})
    print("\nguest exited (%s) after %.1f s; console log: %s"
          % (res.exit, res.duration_s, res.console_log))
    return 0


def cmd_bench(args) -> int:
    from . import build
    _setup()
    print("bench: warm probe wall time (initiator, %s)" % args.accel)
    for i in (1, 2):
        t0 = time.monotonic()
        r = probe_mod.probe(mode="initiator", accel=args.accel,
                            run_name="bench-probe-%d" % i)
        print("  probe run %d: %.1f s wall (guest %.1f s, exit=%s, ok=%s)"
              % (i, time.monotonic() - t0, r["duration_s"], r["exit"],
                 r["ok"]), flush=True)
    _bench_race(args)
    src = paths.HW_DIR / "qla2532.c"
    try:
        dt = build.time_incremental_rebuild(src)
        print("  incremental rebuild after touching %s: %.1f s"
              % (src.relative_to(paths.REPO), dt))
    except FileNotFoundError:
        print("  incremental rebuild: %s does not exist" % src)
    return 0


def race_defaults():
    """The qlaemu.race module (its defaults name the CLI's)."""
    from . import race as race_mod
    return race_mod


def _us_list(text: str) -> list:
    """argparse type: '0,1000,2000' -> [0, 1000, 2000] (non-negative)."""
    try:
        vals = [int(x, 0) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("expected comma-separated "
                                         "integers, got %r" % text)
    if not vals or any(v < 0 for v in vals):
        raise argparse.ArgumentTypeError("expected non-negative integers, "
                                         "got %r" % text)
    return vals


def _add_profile_args(p: argparse.ArgumentParser) -> None:
    """The driver-under-test options every command that loads it takes."""
    rm = race_defaults()
    p.add_argument("--driver", metavar="PROFILE", default=None,
                   help="driver profile: a name in driver-under-test/ "
                   "(debian-6.1, debian-6.1-src, scst-legacy, scst-32gbit, "
                   "qla2xxx-tree) or a profile directory (default %s; with "
                   "--driver-tree: %s)" % (rm.DEFAULT_DRIVER, rm.TREE_PROFILE))
    p.add_argument("--driver-tree", metavar="DIR", default=None,
                   help="the driver source an out-of-tree profile builds "
                   "(a qla2xxx tree, or an SCST checkout for scst-*)")
    p.add_argument("--profile-dir", metavar="DIR", default=None,
                   help="your own profile (profile.json, build/load/"
                   "configure scripts) for --driver-tree")
    p.add_argument("--profile-var", metavar="NAME=VALUE", action="append",
                   default=[], help="a variable for the profile's scripts, "
                   "repeatable (e.g. --profile-var QLINI_MODE=disabled)")
    p.add_argument("--patches", metavar="DIR", default=None,
                   help="a patch series (quilt series file, else *.patch) "
                   "applied with patch -p1 to the driver source before the "
                   "build")


def resolve_driver(args):
    """The driver profile the command line names (qlaemu.driver.Profile).

    Raises:
        qlaemu.driver.ProfileError: no such profile, bad --profile-var or
            --patches.
    """
    from . import driver as driver_mod
    from . import race as race_mod
    return race_mod.resolve_profile(
        getattr(args, "driver", None), getattr(args, "driver_tree", None),
        getattr(args, "profile_dir", None),
        profile_vars=driver_mod.parse_vars(getattr(args, "profile_var",
                                                   None)),
        patches=getattr(args, "patches", None))


def _add_driver_args(p: argparse.ArgumentParser) -> None:
    _add_profile_args(p)
    _add_machine_args(p)
    p.add_argument("--seed", type=int, default=0,
                   help="seed of anything random (nothing is; recorded)")
    p.add_argument("--trace", metavar="FILE", default=None,
                   help="race scenario (default traces/prli-race.json)")
    p.add_argument("--lips", type=int, default=0, metavar="N",
                   help="the initiator originates a LIP after each of the "
                   "first N passes and runs the scenario again after its "
                   "new login: the race after a LIP (default 0)")
    p.add_argument("--lip-delay-ms", type=int,
                   default=race_defaults().DEFAULT_LIP_DELAY_MS, metavar="MS",
                   help="virtual ms from the end of a pass to its LIP "
                   "(default %d)" % race_defaults().DEFAULT_LIP_DELAY_MS)


def _add_race_args(p: argparse.ArgumentParser) -> None:
    rm = race_defaults()
    _add_driver_args(p)
    p.add_argument("--latency-us", type=int, default=rm.DEFAULT_LATENCY_US,
                   metavar="N", help="prli-complete-latency, us (default "
                   "%d)" % rm.DEFAULT_LATENCY_US)
    p.add_argument("--first-cmd-us", type=int,
                   default=rm.DEFAULT_FIRST_CMD_US, metavar="N",
                   help="first command this long after the PRLI LS_ACC, us "
                   "(default %d)" % rm.DEFAULT_FIRST_CMD_US)
    p.add_argument("--timeout", type=float, default=300, metavar="S",
                   help="hard limit on the guest, seconds (default 300)")
    p.add_argument("--ready-timeout", type=float, default=120, metavar="S",
                   help="bound on boot and driver set-up, seconds "
                   "(default 120)")
    p.add_argument("--timeline", type=int, default=60, metavar="N",
                   help="timeline lines printed (default 60)")
    p.add_argument("--json", metavar="FILE", help="write the result here")
    p.add_argument("--junit", metavar="FILE", help="write JUnit XML here")
    p.add_argument("--opt", metavar="KEY=VALUE", action="append",
                   type=_opt, default=[],
                   help="extra qla2532 device property, repeatable")


#: Goals printed next to the race figures of ``bench`` (issue #5).
GOAL_WARM_RACE_S = 10.0
GOAL_SWEEP_100_S = 300.0


def _bench_race(args) -> None:
    """bench: warm race, sweep throughput, configured vs observed latency.

    Figures, not assertions.
    """
    from . import race as race_mod
    print("bench: race (stock driver, defaults)", flush=True)
    race_mod.run_race(run_name="bench-race-0")          # warms caches
    t0 = time.monotonic()
    r = race_mod.run_race(run_name="bench-race-1")
    dt = time.monotonic() - t0
    print("  warm race: %.1f s to verdict %s (goal <= %.0f s: %s)"
          % (dt, r["verdict"], GOAL_WARM_RACE_S,
             "met" if dt <= GOAL_WARM_RACE_S else "MISSED"), flush=True)
    lats, delays = (0, 1000, 5000, 9000), (100, 10000)
    t0 = time.monotonic()
    s = race_mod.run_sweep(latencies=lats, delays=delays,
                           run_name="bench-sweep")
    dt = time.monotonic() - t0
    tm = s["timings"]
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
        obs = sorted({x for p in s["points"] if p["latency_us"] == lat
                      for x in p.get("prli_latency_us") or []})
        print("    configured %6d us: observed %s" % (
            lat, ", ".join("%g us" % x for x in obs) or "no completion seen"))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qlaemu", description=__doc__,
                                formatter_class=argparse.
                                RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("test", help="run the test suite (pytest)")
    t.add_argument("pytest_args", nargs=argparse.REMAINDER,
                   help="passed to pytest")
    t.set_defaults(func=cmd_test)
    pr = sub.add_parser("probe", help="boot with the device and report")
    pr.add_argument("--mode", choices=probe_mod.MODES, default="initiator")
    pr.add_argument("--json", metavar="FILE", help="write the result here")
    _add_common(pr)
    pr.set_defaults(func=cmd_probe)
    r = sub.add_parser("race", help="the PRLI race: PASS/FAIL/INCONCLUSIVE "
                       "(exit 0/1/125)")
    _add_race_args(r)
    r.set_defaults(func=cmd_race)
    sw = sub.add_parser("sweep", help="the race over latency x first-"
                        "command delay, one boot")
    _add_driver_args(sw)
    sw.add_argument("--latencies", type=_us_list, metavar="L1,L2,...",
                    default=list(race_defaults().DEFAULT_LATENCIES),
                    help="prli-complete-latency values, us (default "
                    "0,1000,...,9000)")
    sw.add_argument("--delays", type=_us_list, metavar="D1,D2,...",
                    default=list(race_defaults().DEFAULT_DELAYS),
                    help="first-command delays after the PRLI LS_ACC, us "
                    "(default 100,1000,...,9000)")
    sw.add_argument("--point-timeout", type=float, default=60, metavar="S",
                    help="wall-clock bound per point, seconds (default 60)")
    sw.add_argument("--json", metavar="FILE", help="write the result here")
    sw.add_argument("--opt", metavar="KEY=VALUE", action="append",
                    type=_opt, default=[],
                    help="extra qla2532 device property, repeatable (e.g. "
                    "last-login-state=session)")
    sw.set_defaults(func=cmd_sweep)
    bs = sub.add_parser("bisect-step", help="for git bisect run: build the "
                        "driver tree, run the race, exit 0/1/125")
    _add_race_args(bs)
    bs.set_defaults(func=cmd_bisect_step)
    mx = sub.add_parser("matrix", help="the race over drivers x kernels x "
                        "topologies x login-state variants x latencies "
                        "(docs/field-report.md)")
    from . import matrix as matrix_mod
    mx.add_argument("--driver-tree", metavar="DIR", default=None,
                    help="the SCST checkout for the scst-* drivers")
    mx.add_argument("--drivers", type=_names,
                    default=list(matrix_mod.DEFAULT_DRIVERS),
                    metavar="P1,P2", help="driver profiles (default %s)"
                    % ",".join(matrix_mod.DEFAULT_DRIVERS))
    mx.add_argument("--kernels", type=_names,
                    default=list(matrix_mod.DEFAULT_KERNELS),
                    metavar="K1,K2", help="guest kernels (default %s)"
                    % ",".join(matrix_mod.DEFAULT_KERNELS))
    mx.add_argument("--topologies", type=_names,
                    default=list(matrix_mod.DEFAULT_TOPOLOGIES),
                    metavar="T1,T2", help="loop, p2p (default both)")
    mx.add_argument("--variants", type=_names,
                    default=list(matrix_mod.DEFAULT_VARIANTS),
                    metavar="V1,V2", help="last-login-state variants "
                    "(default previous,session)")
    mx.add_argument("--latencies", type=_us_list,
                    default=list(matrix_mod.DEFAULT_LATENCIES),
                    metavar="L1,L2", help="PRLI-complete latencies, us "
                    "(default 0,2000,5000)")
    mx.add_argument("--first-cmd-us", type=int,
                    default=race_defaults().DEFAULT_FIRST_CMD_US,
                    metavar="N", help="first command after the PRLI "
                    "LS_ACC, us (default %d)"
                    % race_defaults().DEFAULT_FIRST_CMD_US)
    mx.add_argument("--lips", type=int, default=1, metavar="N",
                    help="LIPs after the first pass (default 1)")
    mx.add_argument("--json", metavar="FILE", help="write the rows here")
    mx.add_argument("--markdown", metavar="FILE",
                    help="write the table here")
    mx.set_defaults(func=cmd_matrix)
    sc = sub.add_parser("scenario", help="run a scenario against the "
                        "target-mode driver (docs/scenario.md)")
    sc.add_argument("file", help="scenario JSON file, e.g. traces/basic.json")
    _add_profile_args(sc)
    sc.add_argument("--json", metavar="OUT", help="write the result here")
    sc.add_argument("--timeout", type=float, default=180,
                    help="hard limit on the guest run, seconds (default 180)")
    sc.add_argument("--icount", default="shift=3,sleep=off",
                    help="QEMU -icount value; '' for none "
                    "(default shift=3,sleep=off)")
    sc.add_argument("--timeline", type=int, default=40, metavar="N",
                    help="notable events printed (default 40)")
    _add_common(sc)
    sc.set_defaults(func=cmd_scenario)
    s = sub.add_parser("shell", help="interactive guest shell")
    s.add_argument("--mode", choices=probe_mod.MODES, default="initiator",
                   help="which commands the banner suggests")
    _add_common(s)
    s.set_defaults(func=cmd_shell)
    b = sub.add_parser("bench", help="print timing figures")
    _add_common(b)
    b.set_defaults(func=cmd_bench)
    return p


def main(argv=None) -> int:
    """Entry point; returns the process exit status."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bisect-step"]:
        # git bisect run takes exit 2 (argparse's) for "bad": a usage
        # error must stop the bisection instead
        try:
            args, extra = parser.parse_known_args(argv)
        except SystemExit as e:
            return 255 if e.code else 0
        if extra:
            print("qlaemu bisect-step: unrecognized arguments: %s"
                  % " ".join(extra), file=sys.stderr)
            return 255
    else:
        args, extra = parser.parse_known_args(argv)
    if extra:
        if args.command != "test":
            parser.error("unrecognized arguments: %s" % " ".join(extra))
        args.pytest_args = extra + list(args.pytest_args)
    from . import build, kernels
    from . import race as race_mod
    try:
        _apply_machine_args(args)
        if hasattr(args, "lips"):
            race_mod.lip_overrides(args.lips,
                                   getattr(args, "lip_delay_ms", 0))
    except (kernels.KernelError, ValueError, race_mod.RaceError) as e:
        print("qlaemu: %s" % e, file=sys.stderr)
        return 255 if args.command == "bisect-step" else 2
    try:
        return args.func(args)
    except (build.SetupError, guest.GuestError, kernels.KernelError) as e:
        print("qlaemu: set-up failed: %s" % e, file=sys.stderr)
        return 255 if args.command == "bisect-step" else 2
    except ValueError as e:         # e.g. a malformed --opt
        print("qlaemu: %s" % e, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
