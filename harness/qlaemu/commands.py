"""The commands of ``./qlaemu`` (:mod:`qlaemu.cli` parses the command
line and calls them): each takes the argparse namespace and returns the
process exit status.
"""
import os
import subprocess
import sys
import time
from pathlib import Path

from . import (apt, bench, build, capture, host, image, kernels,
               matrix as matrix_mod, modbuild, pair, paths, profiles,
               pointrace, report, sanitize, sweep, tools, verdict, vm)
from . import fuzz as fuzz_mod
from . import probe as probe_mod
from . import race as race_mod
from . import replay as replay_mod
from . import scenario as scenario_mod
from . import snapshot as snapshot_mod


def apply_machine_args(args) -> None:
    """Select the kernel and memory of this process's guests.

    Raises:
        kernels.KernelError, ValueError: a bad --kernel / --memory.
    """
    kernels.select(getattr(args, "kernel", None))
    vm.set_memory(getattr(args, "memory", None))


def _device_opts(args) -> str:
    """--topology's properties (race.TOPOLOGY_OPTS) and the --opt values,
    'k=v,k2=v2'."""
    topo = race_mod.TOPOLOGY_OPTS.get(getattr(args, "topology", None) or "")
    return ",".join(([topo] if topo else [])
                    + list(getattr(args, "opt", None) or []))


def _setup() -> None:
    """Build QEMU (or use $QLAEMU_QEMU) and the guest image (idempotent)."""
    vm.qemu_binary()
    image.prepare()


def cmd_test(args) -> int:
    """pytest over harness/tests; with ``--sanitize`` the sanitizer run
    (:mod:`qlaemu.sanitize`): its tests on the ASan + UBSan QEMU, then
    every sanitizer report counted (any is a failure)."""
    apt.ensure_packages()
    env = dict(os.environ)
    env["PYTHONPATH"] = str(paths.REPO / "harness") + (
        ":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    selection = ["harness/tests"]
    logdir = None
    if args.sanitize:
        logdir = sanitize.prepare(env)
        selection = [] if args.pytest_args else list(sanitize.TESTS)
    cmd = ["/usr/bin/python3", "-m", "pytest", *selection, "-v", "-ra",
           *args.pytest_args]
    sys.stdout.flush()
    t0 = time.monotonic()
    rc = subprocess.run(cmd, cwd=paths.REPO, env=env).returncode
    if logdir is not None:
        reports = sanitize.reports(logdir)
        print(sanitize.summary(reports, logdir, time.monotonic() - t0))
        rc = rc or (1 if reports else 0)
    return rc


def _run_probe(args, mode: str) -> int:
    _setup()
    r = probe_mod.probe(mode=mode, wwpn=args.wwpn, wwnn=args.wwnn,
                        accel=args.accel, device_opts=_device_opts(args))
    print(report.probe_summary(r))
    if getattr(args, "json", None):
        r.write(args.json)
        print("  json: %s" % args.json)
    _write_pcap(args, [r.pcap])
    return 0 if r.ok else 1


def cmd_probe(args) -> int:
    return _run_probe(args, args.mode)


def _race_setup() -> str | None:
    """QEMU and the stock image; the error text instead of raising."""
    try:
        _setup()
    except (host.SetupError, image.GuestError, kernels.KernelError) as e:
        return "%s: %s" % (type(e).__name__, e)
    return None


def _write_pcap(args, files, device_opts=None, **facts) -> None:
    """--pcap: the run's capture(s) to the file the user named, and with
    ``device_opts`` the conditions a replay needs next to it
    (capture.write_conditions); a run that left none is said on stderr
    (the verdict stands)."""
    if not getattr(args, "pcap", None):
        return
    try:
        capture.copy(files, args.pcap)
        print("  pcap: %s" % args.pcap)
        if device_opts is not None:
            capture.write_conditions(args.pcap, device_opts,
                                     command=args.command, **facts)
    except (capture.CaptureError, OSError) as e:
        print("qlaemu: --pcap: %s" % e, file=sys.stderr)


def _write_race_outputs(args, r) -> None:
    if getattr(args, "json", None):
        r.write(args.json)
        print("  json: %s" % args.json)
    if getattr(args, "junit", None):
        Path(args.junit).write_text(report.junit_xml(r))
        print("  junit: %s" % args.junit)
    opts = ["prli-complete-latency-us=%d" % r.latency_us, _device_opts(args)]
    _write_pcap(args, [r.pcap], ",".join(o for o in opts if o),
                driver=(r.driver or {}).get("name"),
                lips=getattr(args, "lips", 0))


def _run_race(args, prof):
    """race.run_race (or, with --snapshot, pointrace.run_race) with the
    race options of the command line."""
    run = pointrace.run_race if args.snapshot else race_mod.run_race
    return run(
        driver=prof, latency_us=args.latency_us,
        first_cmd_us=args.first_cmd_us, seed=args.seed, trace=args.trace,
        scenario_overrides=race_mod.lip_overrides(args.lips,
                                                  args.lip_delay_ms),
        timeout_s=args.timeout, ready_timeout_s=args.ready_timeout,
        device_opts=_device_opts(args), ladder=args.ladder)


def _race_result(args, setup_error=None):
    if setup_error:
        return race_mod.setup_failure(setup_error, args)
    try:
        prof = resolve_driver(args)
    except profiles.ProfileError as e:
        return race_mod.setup_failure(race_mod.error_text(e), args)
    return _run_race(args, prof)


def cmd_race(args) -> int:
    """The race: verdict PASS 0 / FAIL 1 / INCONCLUSIVE 125."""
    r = _race_result(args, _race_setup())
    print(report.race_summary(r, timeline_lines=args.timeline))
    _write_race_outputs(args, r)
    return r.exit_code


def cmd_sweep(args) -> int:
    """The latency x first-command-delay grid in one boot."""
    err = _race_setup()
    if err:
        print("qlaemu: set-up failed: %s" % err, file=sys.stderr)
        return verdict.EXIT_CODES[verdict.INCONCLUSIVE]

    def progress(p):
        print("  latency %6d us, first command %6d us: %-12s %5.2f s  %s"
              % (p.latency_us, p.first_cmd_us, p.verdict,
                 p.wall_s or 0, (p.reasons or [""])[0][:70]),
              flush=True)
    try:
        prof = resolve_driver(args)
    except profiles.ProfileError as e:
        print("qlaemu: %s" % e, file=sys.stderr)
        return verdict.EXIT_CODES[verdict.INCONCLUSIVE]
    if not 1 <= args.jobs <= 16 or (args.jobs > 1 and not args.snapshot):
        print("qlaemu: --jobs must be 1..16 and needs --snapshot",
              file=sys.stderr)
        return 2
    r = sweep.run_sweep(
        device_opts=_device_opts(args),
        latencies=args.latencies, delays=args.delays, driver=prof,
        seed=args.seed, trace=args.trace,
        scenario_overrides=race_mod.lip_overrides(args.lips,
                                                  args.lip_delay_ms),
        point_timeout_s=args.point_timeout, progress=progress,
        snapshot=args.snapshot, jobs=args.jobs)
    print(report.sweep_summary(r))
    if args.json:
        r.write(args.json)
        print("  json: %s" % args.json)
    _write_pcap(args, [r.pcap] + [p.pcap for p in r.points])
    return r.exit_code


def _wants_tree(args) -> bool:
    """True when the named profile builds a tree and has none of its own
    (no --driver, or an out-of-tree profile such as scst-legacy)."""
    if not args.driver and not args.profile_dir:
        return True
    try:
        prof = profiles.load_profile(args.profile_dir or args.driver)
    except profiles.ProfileError:
        return False            # reported by resolve_driver
    return prof.kind == "out-of-tree" and prof.driver_tree is None


def cmd_bisect_step(args) -> int:
    """One step of ``git bisect run``: 0 good, 1 bad, 125 skip, 255 stop."""
    if not args.driver_tree and _wants_tree(args):
        # git bisect run runs us in the tree being bisected
        args.driver_tree = os.getcwd()
    err = _race_setup()
    if err:
        print("qlaemu bisect-step: the machine is not ready (%s); stopping "
              "the bisection" % err, file=sys.stderr)
        return verdict.EXIT_ABORT
    try:
        prof = resolve_driver(args)
    except profiles.ProfileError as e:
        print("qlaemu bisect-step: bad profile (%s); stopping the "
              "bisection" % e, file=sys.stderr)
        return verdict.EXIT_ABORT
    try:
        race_mod.build_profile(prof)
    except profiles.BuildError as e:
        print("qlaemu bisect-step: the driver does not build: %s\n"
              "verdict: INCONCLUSIVE (exit 125, skip this commit)" % e)
        r = race_mod.setup_failure(race_mod.error_text(e), args,
                                   build_error=True, profile=prof)
        _write_race_outputs(args, r)
        return verdict.EXIT_CODES[verdict.INCONCLUSIVE]
    except profiles.ProfileError as e:
        print("qlaemu bisect-step: %s; stopping the bisection" % e,
              file=sys.stderr)
        return verdict.EXIT_ABORT
    r = _run_race(args, prof)
    print(report.race_summary(r, timeline_lines=args.timeline))
    _write_race_outputs(args, r)
    return r.exit_code


def cmd_matrix(args) -> int:
    """drivers x kernels x topologies x variants x latencies: the table of
    docs/field-report.md.  Exit 0 when every cell ran (whatever its
    verdicts), 125 when a cell could not be set up."""
    err = _race_setup()
    if err:
        print("qlaemu: set-up failed: %s" % err, file=sys.stderr)
        return 125

    def progress(row):
        print("  %-12s %-12s %-5s %-9s %6d us: %-12s %s" % (
            row.driver, row.kernel, row.topology, row.variant,
            row.latency_us, row.verdict,
            "" if row.verdict == verdict.PASS else row.label), flush=True)
    m = matrix_mod.run_matrix(
        driver_tree=args.driver_tree, drivers=args.drivers,
        kernel_specs=args.kernels, topologies=args.topologies,
        variants=args.variants, latencies=args.latencies,
        first_cmd_us=args.first_cmd_us, lips=args.lips, progress=progress)
    print(matrix_mod.markdown(m))
    matrix_mod.write(m, args.json, args.markdown)
    return 125 if any(c.setup_error for c in m.cells) else 0


def cmd_scenario(args) -> int:
    """Run one scenario file; exit 0 passed, 1 failed, 2 broken run."""
    try:
        prof = resolve_driver(args)
    except profiles.ProfileError as e:
        print("qlaemu: %s" % e, file=sys.stderr)
        return 2
    _setup()
    try:
        modbuild.ensure_modules(prof)
    except profiles.DriverError as e:
        print("qlaemu: %s" % e, file=sys.stderr)
        return 2
    if args.snapshot and (args.link_objects or
                          args.wwpn != probe_mod.DEFAULT_WWPN or
                          args.wwnn != probe_mod.DEFAULT_WWNN):
        print("qlaemu: --snapshot runs on the device's own link with the "
              "default names (no --link-objects, --wwpn, --wwnn)",
              file=sys.stderr)
        return 2
    try:
        if args.snapshot:
            r = pointrace.run_scenario(
                args.file, driver=prof, device_opts=_device_opts(args),
                icount=args.icount or None, timeout_s=args.timeout)
        else:
            r = scenario_mod.run_scenario(
                args.file, driver=prof, device_opts=_device_opts(args),
                icount=args.icount or None, timeout_s=args.timeout,
                wwpn=args.wwpn, wwnn=args.wwnn,
                link_objects=args.link_objects)
    except snapshot_mod.SnapshotError as e:
        print("qlaemu: %s" % e, file=sys.stderr)
        return 2
    print(report.scenario_summary(r, timeline_lines=args.timeline))
    if args.json:
        r.write(args.json)
        print("  json: %s" % args.json)
    _write_pcap(args, [r.pcap], _device_opts(args), driver=r.driver,
                scenario=Path(r.scenario).name)
    return {"passed": 0, "failed": 1}.get(r.status, 2)


def cmd_replay(args) -> int:
    """Replay a capture: exit 0 as captured, 1 diverges, 125 cannot run."""
    err = _race_setup()
    try:
        prof = None if err else resolve_driver(args)
    except profiles.ProfileError as e:
        err = race_mod.error_text(e)
    if err:
        print("qlaemu replay: cannot run: %s" % err, file=sys.stderr)
        return verdict.EXIT_CODES[verdict.INCONCLUSIVE]
    r = replay_mod.run_replay(
        args.capture, driver=prof, as_initiator=args.as_initiator,
        scale_pct=args.scale_pct, timeout_s=args.timeout,
        device_opts=_device_opts(args), link_objects=args.link_objects)
    print(report.replay_summary(r))
    if args.json:
        r.write(args.json)
        print("  json: %s" % args.json)
    if args.junit:
        Path(args.junit).write_text(report.junit_xml(
            r, case="replay", summary=report.replay_summary))
        print("  junit: %s" % args.junit)
    _write_pcap(args, [r.pcap])
    return r.exit_code


def cmd_pair(args) -> int:
    apply_machine_args(args)
    try:
        prof = resolve_driver(args)
        if args.link == "cable" and not prof.is_stock:
            raise ValueError("--link cable runs stock LIO on port 0; a "
                             "driver profile needs --link remote")
        _setup()
        modbuild.ensure_modules(prof)
        r = pair.run_pair(link=args.link, fio_mib=args.fio_mib,
                          suites=args.suites, lip=args.lip,
                          capture=bool(args.pcap),
                          virtio_baseline=args.virtio_baseline,
                          timeout_s=args.timeout, profile=prof,
                          target_opts=args.target_opt,
                          initiator_opts=args.initiator_opt,
                          iscsi=args.iscsi)
    except (ValueError, tools.ToolsError, host.SetupError, image.GuestError,
            kernels.KernelError, profiles.ProfileError,
            profiles.DriverError) as e:
        print("qlaemu pair: %s" % e, file=sys.stderr)
        return verdict.EXIT_CODES[verdict.INCONCLUSIVE]
    print(report.pair_summary(r))
    if args.json:
        r.write(args.json)
    if args.junit:
        Path(args.junit).write_text(report.pair_junit_xml(r))
    _write_pcap(args, [r.pcap] if r.pcap else [])
    return r.exit_code


def cmd_shell(args) -> int:
    _setup()
    wwn = probe_mod.format_wwn(args.wwpn)
    banner = image.banner()
    if args.mode == "target":
        banner += ("LIO target for this port (after the two modprobes):\n"
                   "  mkdir -p /sys/kernel/config/target/qla2xxx/%s/"
                   "tpgt_1/lun\n" % wwn)
    res = vm.run("", device_args=probe_mod.device_args(
        args.wwpn, args.wwnn, device_opts=_device_opts(args)),
        accel=args.accel, interactive=True,
        extra_files={"etc/qlaemu-banner": banner})
    print("\nguest exited (%s) after %.1f s; console log: %s"
          % (res.exit, res.duration_s, res.console_log))
    return 0


def cmd_bench(args) -> int:
    _setup()
    return bench.run(args)


def resolve_driver(args):
    """The driver profile the command line names (qlaemu.driver.Profile).

    Raises:
        qlaemu.driver.ProfileError: no such profile, bad --profile-var or
            --patches.
    """
    return race_mod.resolve_profile(
        getattr(args, "driver", None), getattr(args, "driver_tree", None),
        getattr(args, "profile_dir", None),
        profile_vars=profiles.parse_vars(getattr(args, "profile_var",
                                                 None)),
        patches=getattr(args, "patches", None))


def cmd_fuzz(args) -> int:
    """A libFuzzer campaign (qlaemu.fuzz): 0 no crash, 1 crash, 2 set-up."""
    try:
        if args.coverage:
            print(fuzz_mod.coverage_summary(fuzz_mod.coverage(
                args.target, args.corpus)))
            return 0
        r = fuzz_mod.run_fuzz(args.minutes, corpus=args.corpus,
                              target=args.target)
    except (ValueError, host.SetupError) as e:
        print("qlaemu fuzz: %s" % e, file=sys.stderr)
        return 2
    print(fuzz_mod.summary(r))
    return 1 if r.crashes or r.rc else 0


def cmd_build(args) -> int:
    """Build QEMU with the device overlaid (``meson compile qemu`` runs
    this); with ``--qtest`` also build and run the device's qtest."""
    binary = build.ensure_qemu(force=True)
    print(binary)
    if args.qtest:
        return build.run_qtests().returncode
    return 0
