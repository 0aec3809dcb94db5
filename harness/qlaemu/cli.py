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
    pair                 a real initiator (qla2xxx on the card's other
                         port) against the target: sg3_utils, fio verify,
                         iscsi-test-cu; PASS / FAIL / INCONCLUSIVE
    shell                interactive busybox guest with the device attached
    bench                print timing figures (no assertions)
    fuzz                 a libFuzzer campaign against the device (exit 1 on
                         a crash; docs/hardening.md)
    build                build QEMU with the device (what meson.build calls)

Every command does its own set-up (packages, QEMU build, guest image) and is
idempotent.  Exit status: 0 success, 1 scenario failure, 2 set-up error;
race, sweep and bisect-step: 0 PASS, 1 FAIL, 125 INCONCLUSIVE (bisect-step:
255 when the bisection must stop, e.g. a broken profile or machine).
"""
import argparse
import sys

from . import commands, host, image, kernels, vm
from . import matrix as matrix_mod
from . import pair as pair_mod
from . import probe as probe_mod
from . import fuzz as fuzz_mod
from . import race as race_mod


def _wwn(text: str) -> int:
    """argparse type: '0x2100...' or '21:00:...' -> int."""
    t = text.replace(":", "")
    return int(t, 16) if ":" in text else int(t, 0)


def _add_machine_args(p: argparse.ArgumentParser,
                      topology: bool = True) -> None:
    """--kernel, --memory, --topology: the guest every command boots."""
    if topology:
        p.add_argument("--topology", choices=("loop", "p2p"),
                       default=None,
                       help="the link: loop (FC-AL, as in the field report) "
                       "or p2p; default: both ports loop preferred, so the "
                       "driver chooses")
    p.add_argument("--kernel", metavar="SPEC", default=None,
                   help="guest kernel: %s (default %s), or a path to a "
                   "linux-image-*.deb" % (", ".join(kernels.DEBIAN_KERNELS),
                                          kernels.DEFAULT_KERNEL))
    p.add_argument("--memory", metavar="MIB", type=int, default=None,
                   help="guest RAM in MiB (default %d: above 4 GiB, like a "
                   "server, so drivers use 64-bit DMA)"
                   % vm.DEFAULT_MEMORY_MIB)


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
    rm = race_mod
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
                   default=race_mod.DEFAULT_LIP_DELAY_MS, metavar="MS",
                   help="virtual ms from the end of a pass to its LIP "
                   "(default %d)" % race_mod.DEFAULT_LIP_DELAY_MS)
    p.add_argument("--snapshot", action="store_true",
                   help="start from the saved ready point (driver up, "
                   "target enabled, initiator logged in) instead of a "
                   "boot; the race starts at a LIP there.  The first run "
                   "of a driver and options boots and saves it "
                   "(docs/migration.md §5)")


def _add_pcap(p: argparse.ArgumentParser, what: str = "") -> None:
    p.add_argument("--pcap", metavar="FILE",
                   help="copy the run's link capture (pcap, every frame; "
                   "docs/capture.md) here" + (": " + what if what else ""))


def _add_race_args(p: argparse.ArgumentParser) -> None:
    rm = race_mod
    _add_driver_args(p)
    p.add_argument("--latency-us", type=int, default=rm.DEFAULT_LATENCY_US,
                   metavar="N", help="prli-complete-latency-us (default "
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
    _add_pcap(p)
    p.add_argument("--no-ladder", dest="ladder", action="store_false",
                   help="do not draw the ladder picture (saves ~2 s)")
    p.add_argument("--opt", metavar="KEY=VALUE", action="append",
                   type=_opt, default=[],
                   help="extra qla2532 device property, repeatable")


def _names(text: str) -> list:
    """argparse type: 'a,b,c' -> ['a', 'b', 'c']."""
    out = [x.strip() for x in text.split(",") if x.strip()]
    if not out:
        raise argparse.ArgumentTypeError("expected a comma-separated list")
    return out


def _add_sweep_parser(sub) -> None:
    sw = sub.add_parser("sweep", help="the race over latency x first-"
                        "command delay, one boot")
    _add_driver_args(sw)
    sw.add_argument("--latencies", type=_us_list, metavar="L1,L2,...",
                    default=list(race_mod.DEFAULT_LATENCIES),
                    help="prli-complete-latency-us values (default "
                    "0,1000,...,9000)")
    sw.add_argument("--delays", type=_us_list, metavar="D1,D2,...",
                    default=list(race_mod.DEFAULT_DELAYS),
                    help="first-command delays after the PRLI LS_ACC, us "
                    "(default 100,1000,...,9000)")
    sw.add_argument("--jobs", type=int, default=1, metavar="N",
                    help="with --snapshot: N QEMUs load the ready point and "
                    "share the grid (default 1)")
    sw.add_argument("--point-timeout", type=float, default=60, metavar="S",
                    help="wall-clock bound per point, seconds (default 60)")
    sw.add_argument("--json", metavar="FILE", help="write the result here")
    _add_pcap(sw, "the boot and every point, in order")
    sw.add_argument("--opt", metavar="KEY=VALUE", action="append",
                    type=_opt, default=[],
                    help="extra qla2532 device property, repeatable (e.g. "
                    "last-login-state=session)")
    sw.set_defaults(func=commands.cmd_sweep)


def _add_matrix_parser(sub) -> None:
    mx = sub.add_parser("matrix", help="the race over drivers x kernels x "
                        "topologies x login-state variants x latencies "
                        "(docs/field-report.md)")
    mx.add_argument("--driver-tree", metavar="DIR", default=None,
                    help="the SCST checkout for the scst-* drivers")
    for opt, default, meta, what in (
            ("--drivers", matrix_mod.DEFAULT_DRIVERS, "P1,P2",
             "driver profiles"),
            ("--kernels", matrix_mod.DEFAULT_KERNELS, "K1,K2",
             "guest kernels"),
            ("--topologies", matrix_mod.DEFAULT_TOPOLOGIES, "T1,T2",
             "loop, p2p"),
            ("--variants", matrix_mod.DEFAULT_VARIANTS, "V1,V2",
             "last-login-state variants")):
        mx.add_argument(opt, type=_names, default=list(default), metavar=meta,
                        help="%s (default %s)" % (what, ",".join(default)))
    mx.add_argument("--latencies", type=_us_list,
                    default=list(matrix_mod.DEFAULT_LATENCIES),
                    metavar="L1,L2", help="PRLI-complete latencies, us "
                    "(default 0,2000,5000)")
    mx.add_argument("--first-cmd-us", type=int,
                    default=race_mod.DEFAULT_FIRST_CMD_US,
                    metavar="N", help="first command after the PRLI "
                    "LS_ACC, us (default %d)" % race_mod.DEFAULT_FIRST_CMD_US)
    mx.add_argument("--lips", type=int, default=1, metavar="N",
                    help="LIPs after the first pass (default 1)")
    mx.add_argument("--json", metavar="FILE", help="write the rows here")
    mx.add_argument("--markdown", metavar="FILE",
                    help="write the table here")
    mx.set_defaults(func=commands.cmd_matrix)


def _add_link_objects(p) -> None:
    p.add_argument("--link-objects", action="store_true",
                   help="configure QEMU in the object form: -object fc-link"
                   " and its peers, -device qla2532,link=fc0 (docs/link.md"
                   " §9; the default is the device's own link)")


def _add_scenario_parser(sub) -> None:
    sc = sub.add_parser("scenario", help="run a scenario against the "
                        "target-mode driver (docs/scenario.md)")
    sc.add_argument("file", help="scenario JSON file, e.g. traces/basic.json")
    _add_profile_args(sc)
    sc.add_argument("--json", metavar="OUT", help="write the result here")
    _add_pcap(sc)
    sc.add_argument("--timeout", type=float, default=180,
                    help="hard limit on the guest run, seconds (default 180)")
    sc.add_argument("--icount", default="shift=3,sleep=off",
                    help="QEMU -icount value; '' for none "
                    "(default shift=3,sleep=off)")
    sc.add_argument("--timeline", type=int, default=40, metavar="N",
                    help="timeline events printed (default 40)")
    _add_link_objects(sc)
    sc.add_argument("--snapshot", action="store_true",
                    help="run it from the saved ready point (a LIP starts "
                    "it; docs/migration.md §5)")
    _add_common(sc)
    sc.set_defaults(func=commands.cmd_scenario)


def _add_replay_parser(sub) -> None:
    rp = sub.add_parser("replay", help="replay a capture's initiator "
                        "against the driver; exit 0 as captured, 1 "
                        "diverges, 125 cannot run (docs/replay.md)")
    rp.add_argument("capture", help="pcap (link type 225 or 224), e.g. "
                    "traces/race-stock.pcap or a race's --pcap")
    _add_profile_args(rp)
    _add_machine_args(rp)
    rp.add_argument("--as-initiator", type=_wwn, default=None,
                    metavar="WWPN", help="the port to play (default: the "
                    "sender of the first FCP_CMND)")
    rp.add_argument("--scale-pct", type=int, default=100, metavar="N",
                    help="the capture's gaps in percent (default 100)")
    rp.add_argument("--opt", action="append", metavar="KEY=VALUE",
                    help="extra qla2532 device property (repeatable)")
    rp.add_argument("--timeout", type=float, default=300,
                    help="hard limit on the run, seconds (default 300)")
    rp.add_argument("--json", metavar="FILE", help="write the result here")
    rp.add_argument("--junit", metavar="FILE", help="write JUnit XML here")
    _add_pcap(rp, "the replay's own frames")
    _add_link_objects(rp)
    rp.set_defaults(func=commands.cmd_replay)


def _add_pair_parser(sub) -> None:
    pa = sub.add_parser("pair", help="the target and a real qla2xxx "
                        "initiator on one link: sg3_utils, fio verify, "
                        "iscsi-test-cu (exit 0/1/125)")
    pa.add_argument("--link", choices=pair_mod.LINKS, default="cable",
                    help="cable: one guest, the dual-port card's two ports "
                    "cabled to each other (port 0 target, port 1 "
                    "initiator); remote: a target guest (--driver) and an "
                    "initiator guest, two QEMUs linked by fc-remote")
    pa.add_argument("--fio-mib", type=int, default=pair_mod.FIO_MIB,
                    help="size of the fio verify job, MiB (default %d)"
                    % pair_mod.FIO_MIB)
    pa.add_argument("--suites", default=list(pair_mod.SUITES),
                    type=lambda t: [x.strip() for x in t.split(",")
                                    if x.strip()],
                    help="iscsi-test-cu families/suites, comma separated "
                    "(default %s); '' for none" % ",".join(pair_mod.SUITES))
    pa.add_argument("--lip", action="store_true",
                    help="then a LIP from the initiator during a read, and "
                    "the disk read again (reported, not judged)")
    pa.add_argument("--iscsi", action="store_true",
                    help="with --link remote and LIO: the suites again over "
                    "iSCSI against the same LUN, and the two runs compared")
    pa.add_argument("--virtio-baseline", action="store_true",
                    help="also run the fio job on a virtio-scsi disk of the "
                    "same QEMU, for comparison")
    pa.add_argument("--timeout", type=float, default=1800,
                    help="bound on the guest run, seconds")
    pa.add_argument("--json", metavar="FILE", help="write the result here")
    pa.add_argument("--junit", metavar="FILE", help="JUnit XML: the checks "
                    "and every iscsi-test-cu test")
    for side, eg in (("target", "prli-complete-latency-us=2000"),
                     ("initiator", "ini-write-underrun=short")):
        pa.add_argument("--%s-opt" % side, metavar="KEY=VALUE",
                        action="append", type=_opt, default=[],
                        help="a qla2532 property of the %s's card, "
                        "repeatable (e.g. %s)" % (side, eg))
    _add_pcap(pa, "every data frame too: large")
    _add_machine_args(pa, topology=False)
    _add_profile_args(pa)
    pa.set_defaults(func=commands.cmd_pair)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    p = argparse.ArgumentParser(prog="qlaemu", description=__doc__,
                                formatter_class=argparse.
                                RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("test", help="run the test suite (pytest)")
    t.add_argument("--sanitize", action="store_true",
                   help="run the qtests, the race and the basic scenario "
                   "on QEMU built with ASan and UBSan (BUILD_DIR/qemu-san,"
                   " built the first time: ~30 min); any sanitizer report "
                   "fails (docs/hardening.md)")
    t.add_argument("pytest_args", nargs=argparse.REMAINDER,
                   help="passed to pytest")
    t.set_defaults(func=commands.cmd_test)
    pr = sub.add_parser("probe", help="boot with the device and report")
    pr.add_argument("--mode", choices=probe_mod.MODES, default="initiator")
    pr.add_argument("--json", metavar="FILE", help="write the result here")
    _add_pcap(pr)
    _add_common(pr)
    pr.set_defaults(func=commands.cmd_probe)
    r = sub.add_parser("race", help="the PRLI race: PASS/FAIL/INCONCLUSIVE "
                       "(exit 0/1/125)")
    _add_race_args(r)
    r.set_defaults(func=commands.cmd_race)
    _add_sweep_parser(sub)
    _add_pair_parser(sub)
    bs = sub.add_parser("bisect-step", help="for git bisect run: build the "
                        "driver tree, run the race, exit 0/1/125")
    _add_race_args(bs)
    bs.set_defaults(func=commands.cmd_bisect_step)
    _add_matrix_parser(sub)
    _add_scenario_parser(sub)
    _add_replay_parser(sub)
    s = sub.add_parser("shell", help="interactive guest shell")
    s.add_argument("--mode", choices=probe_mod.MODES, default="initiator",
                   help="which commands the banner suggests")
    _add_common(s)
    s.set_defaults(func=commands.cmd_shell)
    b = sub.add_parser("bench", help="print timing figures")
    _add_common(b)
    b.set_defaults(func=commands.cmd_bench)
    fz = sub.add_parser("fuzz", help="libFuzzer campaign against the "
                        "device (ASan+UBSan); exit 0 no crash, 1 crash, 2 "
                        "set-up error")
    fz.add_argument("--minutes", type=float, default=30,
                    help="campaign length (default 30)")
    fz.add_argument("--target", choices=sorted(fuzz_mod.TARGETS),
                    default=fuzz_mod.DEFAULT_TARGET,
                    help="target-mode (the firmware brought up, IOCBs "
                    "fuzzed; default) or generic (QEMU's generic-fuzz)")
    fz.add_argument("--corpus", metavar="DIR", default=None,
                    help="corpus directory, grown in place (default "
                    "build/fuzz/corpus-target-mode or build/fuzz/corpus)")
    fz.add_argument("--coverage", action="store_true",
                    help="no campaign: run the corpus once and print the "
                    "device's edge coverage per file")
    fz.set_defaults(func=commands.cmd_fuzz)
    bq = sub.add_parser("build", help="build QEMU with the device (and the "
                        "qtest with --qtest); what meson.build calls")
    bq.add_argument("--qtest", action="store_true",
                    help="also build and run the device's qtest")
    bq.set_defaults(func=commands.cmd_build)
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
    try:
        commands.apply_machine_args(args)
        if hasattr(args, "lips"):
            race_mod.lip_overrides(args.lips,
                                   getattr(args, "lip_delay_ms", 0))
    except (kernels.KernelError, ValueError, race_mod.RaceError) as e:
        print("qlaemu: %s" % e, file=sys.stderr)
        return 255 if args.command == "bisect-step" else 2
    try:
        return args.func(args)
    except (host.SetupError, image.GuestError, kernels.KernelError) as e:
        print("qlaemu: set-up failed: %s" % e, file=sys.stderr)
        return 255 if args.command == "bisect-step" else 2
    except ValueError as e:         # e.g. a malformed --opt
        print("qlaemu: %s" % e, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
