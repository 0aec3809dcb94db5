"""Pair: the target and a real initiator -- the unmodified qla2xxx
initiator on an emulated ISP2532 -- on one emulated FC link, judged by the
tools storage people use (issue #13).

Link ``cable``: one guest with the dual-port card,
its two ports cabled to each other (an ``fc-link`` object, ``link=`` and
``port1-link=``, docs/link.md §9).  Port 0 is the target -- stock
qla2xxx with ``qlini_mode=exclusive`` and LIO's ramdisk, as ``probe
--mode mixed`` -- and port 1 the stock qla2xxx initiator, whose Command
Type 7 IOCBs the model turns into FCP exchanges (hw/qla2532/isp-ini.c).
In the guest (harness/guest/pair.sh) the LUN appears as /dev/sdX; then
``sg_inq``, ``sg_vpd -p di``, ``sg_readcap -l``, ``sg_luns``, ``sg_turs``,
a ``fio`` verify job (crc32c, random writes then the reads that check
them) and libiscsi's ``iscsi-test-cu`` suites over SG_IO on /dev/sgN, from
Debian's packages (qlaemu.tools).  Optionally the initiator then issues a
LIP during a read and reads the disk again, judged with the target card's
CTIO completions (:mod:`qlaemu.pairlip`, docs/pair.md).

Link ``remote``: two guests, each a QEMU with a one-port card, their
links joined by a chardev (``fc-remote``, docs/link.md §10;
:mod:`qlaemu.linked`): the target guest runs the driver profile under test
in target mode (stock LIO or an out-of-tree profile such as SCST's) and
serves until the initiator guest -- stock qla2xxx, the tools above -- is
done.  Both run on the host's clock (no -icount).

A run is PASS when the LUN appeared with LIO's identity, every sg3_utils
command answered correctly (capacity = the ramdisk's, VPD 0x83 naming the
target port's WWPN), fio verified with 0 errors, no iscsi-test-cu test
failed, and the initiator's port logged no qla2xxx failure; FAIL when one
of these did not hold; INCONCLUSIVE when the guest did not get that far.
"""
import dataclasses
import json
import re
import shutil
import tempfile
import time
from pathlib import Path

from . import (driver, image, kmsg, linked, pairiscsi, pairlip, paths, probe,
               profiles, stacks, tools, verdict, vm)
from .results import PairResult

LINKS = ("cable", "remote")
#: fio verify job size, MiB (the issue asks for at least 64).
FIO_MIB = 64
#: The LUN: a LIO ramdisk of this many 4 KiB pages (96 MiB).
RD_PAGES = 24576
#: iscsi-test-cu families / suites run by default: every SCSI suite (the
#: ones that do not apply to the LUN skip themselves and say why).
SUITES = ("SCSI",)
#: Seconds the guest waits for the LUN and the target's session.
PORT_WAIT_S = 30
#: The link capture of a run (only with capture=True: a fio job's data
#: frames make it large).
CAPTURE_NAME = probe.CAPTURE_NAME


def target_stack(profile) -> str:
    """'scst' for a profile that loads SCST, else 'lio' (the target stack
    whose identity and answers the verdict expects)."""
    return "scst" if "scst" in profiles.load_profile(profile).modules \
        else "lio"


def _iscsi_vars(iscsi: bool) -> dict:
    return {"ISCSI": int(iscsi), "IQN": pairiscsi.IQN,
            "TARGET_IP": pairiscsi.TARGET_IP,
            "INITIATOR_IP": pairiscsi.INITIATOR_IP}


def pair_script(wwn: str, fio_mib: int, suites, lip: bool,
                virtio: bool = False, target_local: bool = True,
                iscsi: bool = False) -> str:
    """The initiator guest's /scenario.sh (harness/guest/pair.sh); with
    ``target_local`` the target port ``wwn`` ('21:00:...') is port 0 of the
    same guest, set up as in probe's mixed mode; with ``iscsi`` the suites
    run over iSCSI too (qlaemu.pairiscsi)."""
    return image.script("pair", {
        "WWN": wwn, "RD_PAGES": RD_PAGES, "TARGET_LOCAL": int(target_local),
        "SESS": probe.lio_sessions_path(wwn) if target_local else "",
        "PORT_WAIT_S": PORT_WAIT_S, "FIO_MIB": int(fio_mib),
        "SUITES": " ".join(suites), "LIP": 1 if lip else 0,
        "VIRTIO": 1 if virtio else 0, **_iscsi_vars(iscsi)},
        driver.setup_functions(probe.MIXED_LOAD, "LIO_LIKE_TARGETCLI=1\n"
                               + driver.LIO_CONFIGURE)
        if target_local else "")


def target_script(wwn: str, profile, wait_s: float,
                  iscsi: bool = False) -> str:
    """The target guest's /scenario.sh of link ``remote``
    (harness/guest/pair-target.sh): ``profile`` in target mode on port
    ``wwn``; LIO (stock profiles) as targetcli sets it up; with ``iscsi``
    also LIO's iSCSI target of the same LUN (qlaemu.pairiscsi)."""
    return image.script("pair-target", {
        "WWN": wwn, "RD_PAGES": RD_PAGES, "LIO_LIKE_TARGETCLI": 1,
        "SESS": probe.lio_sessions_path(wwn)
        if target_stack(profile) == "lio" else "",
        "WAIT_S": int(wait_s), **_iscsi_vars(iscsi)},
        driver.target_functions(profile, wwn))


def virtio_modules() -> dict:
    """{guest path: bytes} of the virtio-scsi baseline disk's modules
    (pairiscsi.guest_modules), for ``vm.run(extra_files=)``."""
    return pairiscsi.guest_modules(("virtio_pci", "virtio_scsi"))


#: QEMU -icount of a pair: the instruction count is the guest's clock, as
#: in scenario runs (qlaemu.scenario), so a run repeats and fio's figures
#: are virtual time.
ICOUNT = "shift=3,sleep=off"


def device_args(wwpn: int, wwnn: int, capture=None, virtio_img=None,
                icount: str | None = ICOUNT) -> list:
    """QEMU arguments of the cabled card: an fc-link object, both ports on
    it, and an fc-capture on it if ``capture`` names a file; with
    ``virtio_img`` (a raw file) also a virtio-scsi disk on it, the
    baseline of the fio figures; ``-icount icount`` and a virtual-clock
    RTC from a fixed date unless ``icount`` is None."""
    args = ["-object", "fc-link,id=fc0"]
    if icount:
        args += ["-icount", icount,
                 "-rtc", "base=2020-01-01T00:00:00,clock=vm"]
    if capture:
        args += ["-object", "fc-capture,id=cap0,link=fc0,file="
                 + probe.qemu_opt_escape(capture)]
    return args + virtio_args(virtio_img) + [
        "-device", "qla2532,bus=rp0,wwpn=0x%016x,wwnn=0x%016x,link=fc0,"
        "port1-link=fc0" % (wwpn, wwnn)]


def virtio_args(img) -> list:
    """QEMU arguments of the virtio-scsi baseline disk on raw file ``img``
    ([] for None)."""
    if not img:
        return []
    return ["-drive", "file=%s,if=none,format=raw,id=vd0"
            % probe.qemu_opt_escape(img), "-device", "virtio-scsi-pci,id=vs0",
            "-device", "scsi-hd,drive=vd0,bus=vs0.0"]


def judge(r: PairResult) -> tuple:
    """(verdict, reasons) of a pair run (the module's doc)."""
    if not r.disk:
        return verdict.INCONCLUSIVE, [
            "no LUN appeared on the initiator (exit %s): %s" % (
                r.exit, r.lun_wait or "the guest did not report")]
    why = []
    inq = r.sg.get("inq", {})
    want = stacks.VENDORS[r.target_stack]
    if (inq.get("vendor"), inq.get("rc")) != (want, 0):
        why.append("sg_inq: vendor %r rc %s" % (inq.get("vendor"),
                                                inq.get("rc")))
    cap = r.sg.get("readcap", {})
    want = RD_PAGES * 4096 // 512
    if (cap.get("blocks"), cap.get("block_bytes")) != (want, 512):
        why.append("sg_readcap: %s blocks of %s bytes, not %d of 512"
                   % (cap.get("blocks"), cap.get("block_bytes"), want))
    name = "naa." + probe.format_wwn(r.target_wwpn).replace(":", "")
    di = r.sg.get("vpd_di", {})
    if r.target_stack == "scst":
        # SCST's vdisk names the target port by its relative port ID only
        # (scst_vdisk.c vdisk_dev_id_vpd); LIO by its WWPN as well
        if di.get("relative_ports") != [1]:
            why.append("sg_vpd -p di: relative target ports %s, not [1]"
                       % di.get("relative_ports"))
    elif name not in di.get("target_port_names", []):
        why.append("sg_vpd -p di: no target port designator %s" % name)
    for cmd in ("luns", "turs"):
        if r.sg.get(cmd, {}).get("rc") != 0:
            why.append("sg_%s: rc %s" % (cmd, r.sg.get(cmd, {}).get("rc")))
    if r.fio.get("error") != 0:
        why.append("fio verify: error %s" % r.fio.get("error"))
    for t in r.failed_tests:
        if t.get("not_applicable"):
            continue
        why.append("iscsi-test-cu %s.%s failed: %s" % (
            t["suite"], t["test"], "; ".join(t["reasons"]) or "no reason"))
    if r.initiator_errors:
        why.append("the initiator's qla2xxx logged %d failure(s), first: %s"
                   % (len(r.initiator_errors), r.initiator_errors[0]))
    if r.lip is not None:
        why += pairlip.judge(r.lip_view, r.lip_failures,
                             r.target_ctio_status)
    return (verdict.FAIL, why) if why else (verdict.PASS, [])


def run_pair(link: str = "cable", fio_mib: int = FIO_MIB, suites=SUITES,
             lip: bool = False, capture: bool = False,
             virtio_baseline: bool = False, icount: str | None = ICOUNT,
             run_name: str | None = None, timeout_s: float = 1800,
             wwpn: int = probe.DEFAULT_WWPN,
             wwnn: int = probe.DEFAULT_WWNN, profile=None,
             target_opts=(), initiator_opts=(),
             iscsi: bool = False) -> PairResult:
    """Boot the pair, run the tools, judge.

    Args:
        link: 'cable' (one guest, the card's ports cabled to each other)
            or 'remote' (a target guest and an initiator guest, each its
            own QEMU, linked by fc-remote; ``icount`` is then ignored).
        fio_mib: the fio job's size, MiB (1 .. the LUN's 96).
        suites: iscsi-test-cu families or suites, e.g. ('SCSI',) or
            ('SCSI.Inquiry', 'SCSI.Read10'); () runs none.
        lip: the initiator issues a LIP during a read, then re-reads.
        capture: keep the link's pcap (every data frame: large).
        virtio_baseline: run the fio job again on a virtio-scsi disk of
            the same QEMU (a sparse raw file in the artifacts), the
            baseline of the figures (``fio_virtio``).
        icount: QEMU -icount (default :data:`ICOUNT`), None for none (the
            guest's clock is then the host's).
        run_name: artifact directory name; default pair-<stamp>.
        timeout_s: bound on the guest run, seconds.
        wwpn, wwnn: the target port's names (the initiator's: each plus
            one).
        profile: the target's driver profile with link 'remote' (a
            profiles.Profile, name or None: the stock default); 'cable'
            runs stock LIO.
        target_opts, initiator_opts: more qla2532 properties ('k=v') of
            the target's / the initiator's card, e.g.
            'prli-complete-latency-us=2000', 'ini-write-underrun=short';
            with 'cable' (one card) only target_opts, for the card.
        iscsi: link 'remote' with LIO: the suites run over iSCSI as well,
            against the same LUN (qlaemu.pairiscsi), and are compared.

    Returns:
        PairResult (its ``verdict``/``exit_code``: PASS 0, FAIL 1,
        INCONCLUSIVE 125, as the race's).

    Raises:
        ValueError: an unknown link, fio_mib out of range or a suite name
            with characters other than letters, digits, '.' and '_'.
        tools.ToolsError, image.GuestError, kernels.KernelError,
            host.SetupError: the tools, image, kernel or QEMU cannot be had.
    """
    if link not in LINKS:
        raise ValueError("link must be one of %s, not %r" % (LINKS, link))
    if iscsi and (link != "remote" or target_stack(profile) != "lio"):
        raise ValueError("iscsi needs link 'remote' and a LIO target (SCST's "
                         "iSCSI target needs its own daemon, not built)")
    if link == "cable" and initiator_opts:
        raise ValueError("initiator_opts need link 'remote': with 'cable' "
                         "both ports are one card (use target_opts)")
    bad = [o for o in list(target_opts) + list(initiator_opts)
           if not re.fullmatch(r"[a-z0-9-]+=[^,]+", o)]
    if bad:
        raise ValueError("not a device property 'key=value' without "
                         "commas: %s" % ", ".join(map(repr, bad)))
    if not 1 <= int(fio_mib) <= RD_PAGES * 4096 // 2**20:
        raise ValueError("fio_mib must be 1..%d (the LUN), not %r"
                         % (RD_PAGES * 4096 // 2**20, fio_mib))
    bad = [s for s in suites if not re.fullmatch(r"[A-Za-z0-9_.]+", s)]
    if bad:
        raise ValueError("not a suite name: %s" % ", ".join(bad))
    t0 = time.monotonic()
    archive = tools.ensure_archive()
    name = run_name or "pair-%s" % time.strftime("%Y%m%d-%H%M%S")
    adir = paths.ARTIFACTS_DIR / name
    adir.mkdir(parents=True, exist_ok=True)
    pcap = adir / CAPTURE_NAME
    pcap.unlink(missing_ok=True)
    wwn = probe.format_wwn(wwpn)
    if link == "remote":
        return _run_remote(adir, wwpn, wwnn, fio_mib, suites, lip, capture,
                           virtio_baseline, timeout_s, profile, archive, t0,
                           target_opts, initiator_opts, iscsi)
    img = _virtio_img(adir, virtio_baseline)
    card = adir / "card-link.json"
    card.unlink(missing_ok=True)
    res = vm.run(pair_script(wwn, fio_mib, suites, lip, virtio_baseline),
                 device_args=_with_opts(device_args(
                     wwpn, wwnn, pcap if capture else None, img, icount),
                     list(target_opts) + ["report-file="
                                          + probe.qemu_opt_escape(card)]),
                 timeout_s=timeout_s, log_path=adir / "console.log",
                 archives=[archive],
                 extra_files=virtio_modules() if virtio_baseline else None)
    if img:
        img.unlink(missing_ok=True)
    return _result(res, adir, link, wwpn, fio_mib, suites, lip,
                   pcap if pcap.exists() else None, time.monotonic() - t0,
                   target_report=_read_json(card))


def _read_json(path) -> dict | None:
    """A report file's JSON, or None when QEMU wrote none (or not JSON)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _virtio_img(adir, wanted: bool):
    """The virtio-scsi baseline disk: a sparse raw file of the LUN's size
    in ``adir`` (the caller removes it), or None if not ``wanted``."""
    if not wanted:
        return None
    img = adir / "virtio.img"
    with open(img, "wb") as f:
        f.truncate(RD_PAGES * 4096)
    return img


def _with_opts(args: list, opts) -> list:
    """``args`` with ``opts`` ('k=v') added to its last ``-device``."""
    return args[:-1] + [",".join([args[-1]] + list(opts))]


def _run_remote(adir, wwpn, wwnn, fio_mib, suites, lip, capture, virtio,
                timeout_s, profile, archive, t0, target_opts,
                initiator_opts, iscsi) -> PairResult:
    """Link 'remote' of :func:`run_pair`: the two guests (qlaemu.linked)."""
    wwn = probe.format_wwn(wwpn)
    prof = profiles.load_profile(profile)
    stack = target_stack(prof)
    dev = "qla2532,bus=rp0,ports=1,link=fc0,wwpn=0x%016x,wwnn=0x%016x," \
        "report-file=%s"
    pcaps = {side: adir / ("%s-%s" % (side, CAPTURE_NAME))
             for side in ("target", "initiator")}
    links = {side: adir / ("%s-link.json" % side)
             for side in ("target", "initiator")}
    for p in list(pcaps.values()) + list(links.values()):
        p.unlink(missing_ok=True)
    img = _virtio_img(adir, virtio)
    net = Path(tempfile.mkdtemp(prefix="qlaemu-net-")) / "eth.sock"
    nic = {side: pairiscsi.net_args(net, side == "target") if iscsi else []
           for side in ("target", "initiator")}
    mods = pairiscsi.guest_modules(
        (pairiscsi.NIC_MODULES if iscsi else ()) +
        (("virtio_scsi", "virtio_pci") if virtio else ())) \
        if iscsi or virtio else None
    ini_args = virtio_args(img) + nic["initiator"] + _with_opts(
        ["-device", dev % (wwpn + 1, wwnn + 1,
                           probe.qemu_opt_escape(links["initiator"]))],
        initiator_opts)
    try:
        lr = linked.run(
            linked.Guest(target_script(wwn, profile, timeout_s, iscsi),
                         nic["target"] + _with_opts(["-device", dev % (
                             wwpn, wwnn, probe.qemu_opt_escape(
                                 links["target"]))], target_opts),
                         adir / "target-console.log", timeout_s, profile,
                         extra_files=pairiscsi.guest_modules(
                             pairiscsi.TARGET_MODULES) if iscsi else None,
                         capture=pcaps["target"] if capture else None),
            linked.Guest(pair_script(wwn, fio_mib, suites, lip, virtio,
                                     False, iscsi),
                         ini_args, adir / "console.log", timeout_s,
                         archives=(archive,), extra_files=mods,
                         capture=pcaps["initiator"] if capture else None))
    finally:
        shutil.rmtree(net.parent, ignore_errors=True)
        if img:
            img.unlink(missing_ok=True)
    tgt = lr.first.sections if lr.first else {}
    traw = tgt.get("dmesg_raw", "")
    (adir / "target-dmesg-raw.txt").write_text(traw)
    (adir / "target-setup.log").write_text(tgt.get("setup", ""))
    reports = {side: _read_json(f) for side, f in links.items()}
    # no initiator guest if the target never got ready: its result then
    res = lr.second or dataclasses.replace(lr.first, sections={}, marks=[])
    r = _result(res, adir, "remote", wwpn, fio_mib, suites, lip,
                pcaps["initiator"] if capture else None,
                time.monotonic() - t0, initiator_host=None,
                target_stack=stack, target_report=reports["target"])
    r.target_errors = kmsg.qla_warnings(traw, max_level=3)
    r.target_exit = lr.first.exit if lr.first else "none"
    r.target_ready_s = lr.ready_s
    r.target_console_log = str(adir / "target-console.log")
    r.target_sessions = probe.session_names(tgt.get("sessions", ""))
    r.target_setup_failure = driver.setup_failure(tgt.get("setup", ""),
                                                  profile)
    r.driver = prof.name
    if iscsi:
        r.iscsi_tests = [t for k in sorted(res.sections)
                         if k.startswith("iscsi_suite_")
                         for t in tools.parse_suite(res.sections[k])["tests"]]
        r.fc_vs_iscsi = pairiscsi.compare(r.tests, r.iscsi_tests) \
            if r.iscsi_tests else []
        if not r.iscsi_tests:
            r.iscsi_error = " | ".join(
                ln for k in sorted(res.sections) if k.startswith("iscsi_s")
                for ln in res.sections[k].splitlines()[:2]) or \
                "the initiator guest did not get to the iSCSI suites"
    r.link_reports = {side: (rep or {}).get("remote")
                      for side, rep in reports.items()}
    for why in (lr.note, r.target_setup_failure and
                "the target's set-up: " + r.target_setup_failure,
                *link_disagreements(r.link_reports)):
        if why:
            r.reasons.append(why)
    if r.verdict == verdict.PASS and r.reasons:
        r.verdict = verdict.FAIL
        r.exit_code = verdict.EXIT_CODES[r.verdict]
    r.write(adir / "pair.json")
    return r


def link_disagreements(reports: dict) -> list:
    """What the two QEMUs' fc-remote reports ({side: the link report's
    ``remote``, or None}) say went wrong on the link: a side without a
    report, address disagreements, frames lost, protocol errors."""
    why = []
    for side, rep in sorted(reports.items()):
        if not rep:
            why.append("the %s QEMU wrote no link report" % side)
            continue
        for key in ("address_mismatches", "frames_lost", "protocol_errors"):
            if rep.get(key):
                why.append("the %s QEMU's link: %s %s"
                           % (side, key, rep[key]))
    return why


def _result(res, adir, link, wwpn, fio_mib, suites, lip, pcap,
            wall_s, initiator_host="0000:01:00.1",
            target_stack="lio", target_report=None) -> PairResult:
    s = res.sections
    lun = (s.get("lun_wait") or "").split()
    raw = s.get("dmesg_raw", "")
    (adir / "dmesg-raw.txt").write_text(raw)
    errors = kmsg.qla_warnings(raw, max_level=3)
    tests = []
    for key in sorted(k for k in s if k.startswith("suite_")):
        (adir / ("%s.txt" % key)).write_text(s[key])
        tests += tools.parse_suite(s[key])["tests"]
    for t in tests:
        na = stacks.NOT_APPLICABLE[target_stack].get(
            "%s.%s" % (t["suite"], t["test"]))
        if t["result"] == "failed" and na:
            t["not_applicable"] = na
    disk = s.get("disk") and probe.parse_kv(s.get("disk", ""))
    r = PairResult(
        link=link, exit=res.exit, verdict=verdict.INCONCLUSIVE,
        target_wwpn=wwpn, initiator_wwpn=wwpn + 1, artifacts=str(adir),
        console_log=str(res.console_log), wall_s=round(wall_s, 1),
        guest_s=round(res.duration_s, 1), marks=res.marks,
        lun_wait=" ".join(lun), disk=lun[2] if len(lun) > 2 else "",
        sg_device=lun[3] if len(lun) > 3 else "",
        disk_sysfs=disk or {},
        size_sectors=int(s["size"]) if s.get("size", "").strip().isdigit()
        else None,
        sg={"inq": tools.parse_sg_inq(s.get("sg_inq")),
            "vpd_di": tools.parse_vpd_di(s.get("sg_vpd_di")),
            "readcap": tools.parse_readcap(s.get("sg_readcap")),
            "luns": {"rc": tools.rc(s.get("sg_luns")),
                     "luns": re.findall(r"^\s+([0-9a-f]{16})\s*$",
                                        s.get("sg_luns") or "", re.M)},
            "turs": {"rc": tools.rc(s.get("sg_turs"))}},
        fio=dict(tools.parse_fio(s.get("fio")), size_mib=fio_mib),
        fio_virtio=dict(tools.parse_fio(s.get("fio_virtio")), size_mib=fio_mib)
        if s.get("fio_virtio") else None,
        suites=list(suites), tests=tests,
        suite_counts=dict(tools.result_counts(tests),
                          not_applicable=sum(1 for t in tests
                                             if t.get("not_applicable"))),
        lip=(s.get("lip") or "").strip() if lip else None,
        lip_view=pairlip.parse_lip(s.get("lip")) if lip else {},
        lip_failures=pairlip.kernel_failures(s.get("lip_dmesg")),
        target_ctio_status=pairlip.ctio_status(target_report),
        lip_prli_to_command_us=pairlip.prli_to_first_command_us(
            target_report) if lip else None,
        initiator_errors=[e for e in errors if initiator_host is None
                          or initiator_host in e],
        target_errors=[e for e in errors if initiator_host is not None
                       and initiator_host not in e],
        pcap=str(pcap) if pcap else None)
    r.target_stack = target_stack
    r.verdict, r.reasons = judge(r)
    r.exit_code = verdict.EXIT_CODES[r.verdict]
    r.write(adir / "pair.json")
    return r
