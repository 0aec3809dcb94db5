"""Command line of qla2532-emu (``./qlaemu COMMAND``).

Commands:
    test [pytest args]   ensure packages, run harness/tests with pytest
    probe                boot the guest with the device, report what Linux sees
    race                 the race scenario (not implemented yet: runs probe)
    scenario FILE        run a scenario of the simulated initiator against
                         the target-mode driver; summary, checks, JSON
    shell                interactive busybox guest with the device attached
    bench                print timing figures (no assertions)

Every command does its own set-up (packages, QEMU build, guest image) and is
idempotent.  Exit status: 0 success, 1 scenario failure, 2 set-up error.
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


def _add_common(p: argparse.ArgumentParser) -> None:
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
    """The --opt values joined as 'k=v,k2=v2'."""
    return ",".join(getattr(args, "opt", None) or [])


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


def cmd_race(args) -> int:
    print("race scenario not implemented yet (issue #5); "
          "ran probe instead", flush=True)
    rc = _run_probe(args, "target")
    print("race scenario not implemented yet (issue #5); "
          "ran probe instead (probe %s)" % ("passed" if rc == 0 else "failed"))
    return rc


def cmd_scenario(args) -> int:
    """Run one scenario file; exit 0 passed, 1 failed, 2 broken run."""
    from . import scenario as scenario_mod
    scenario_mod.check_driver(args.driver)
    _setup()
    r = scenario_mod.run_scenario(
        args.file, driver=args.driver, device_opts=_device_opts(args),
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
    src = paths.HW_DIR / "qla2532.c"
    try:
        dt = build.time_incremental_rebuild(src)
        print("  incremental rebuild after touching %s: %.1f s"
              % (src.relative_to(paths.REPO), dt))
    except FileNotFoundError:
        print("  incremental rebuild: %s does not exist" % src)
    return 0


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
    r = sub.add_parser("race", help="race scenario (issue #5)")
    r.add_argument("--json", metavar="FILE", help="write the result here")
    _add_common(r)
    r.set_defaults(func=cmd_race)
    sc = sub.add_parser("scenario", help="run a scenario against the "
                        "target-mode driver (docs/scenario.md)")
    sc.add_argument("file", help="scenario JSON file, e.g. traces/basic.json")
    sc.add_argument("--driver", default="debian-6.1", metavar="PROFILE",
                    help="driver profile (default debian-6.1, the only one)")
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
    args, extra = parser.parse_known_args(argv)
    if extra:
        if args.command != "test":
            parser.error("unrecognized arguments: %s" % " ".join(extra))
        args.pytest_args = extra + list(args.pytest_args)
    from . import build
    try:
        return args.func(args)
    except (build.SetupError, guest.GuestError) as e:
        print("qlaemu: set-up failed: %s" % e, file=sys.stderr)
        return 2
    except ValueError as e:         # e.g. a malformed --opt
        print("qlaemu: %s" % e, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
