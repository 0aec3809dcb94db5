"""Output: the text summaries of probe, race, sweep and scenario runs,
and the race's JUnit XML.  (JSON is the results' own ``to_json()``,
:mod:`qlaemu.results`.)
"""
import json
import xml.etree.ElementTree as ET

from . import evidence, tools
from .results import (PairResult, ProbeResult, RaceResult, ReplayResult,
                      ScenarioResult, SweepResult)
from .verdict import FAIL, FAIL_LABEL, INCONCLUSIVE, PASS, fmt_counts


def format_timeline(tl: list, limit: int) -> list:
    """Text lines of a timeline (:func:`qlaemu.evidence.timeline`): a
    heading, then at most ``limit`` events, one per line."""
    if not tl or not limit:
        return []
    shown = tl if len(tl) <= limit else tl[:limit]
    lines = ["  login timeline (virtual us from the first PLOGI; %d of %d):"
             % (len(shown), len(tl))]
    for e in shown:
        lines.append("    %12.3f  %-10s %-28s %s" % (
            e["t_us"], e["source"], e["what"], e["detail"]))
    if len(tl) > len(shown):
        lines.append("    ... %d more; see --json" % (len(tl) - len(shown)))
    return lines


def pair_summary(r) -> str:
    """Human-readable verdict and figures of :func:`qlaemu.pair.run_pair`
    (a results.PairResult)."""
    inq, cap = r.sg.get("inq", {}), r.sg.get("readcap", {})
    lines = ["pair (%s): %s" % (r.link, r.verdict)]
    lines += ["  - " + x for x in r.reasons]
    lines.append("  LUN: %s (%s) after %s" % (
        r.disk or "none", r.sg_device or "-", r.lun_wait or "?"))
    if r.disk:
        lines.append("  sg_inq: %s %s %s; sg_readcap: %s blocks of %s "
                     "bytes; target port %s" % (
                         inq.get("vendor"), inq.get("product"),
                         inq.get("revision"), cap.get("blocks"),
                         cap.get("block_bytes"), ", ".join(
                             r.sg.get("vpd_di", {}).get(
                                 "target_port_names", [])) or "relative %s"
                         % r.sg.get("vpd_di", {}).get("relative_ports")))
    for what, f in (("fio verify", r.fio or {}),
                    ("  virtio-scsi baseline", r.fio_virtio or {})):
        if f.get("parsed"):
            lines.append("  %s %s MiB: error %s; write %.1f MB/s %s IOPS, "
                         "read %.1f MB/s %s IOPS (guest clock)" % (
                             what, f.get("size_mib"), f.get("error"),
                             (f["write"]["bw_bytes"] or 0) / 1e6,
                             f["write"]["iops"],
                             (f["read"]["bw_bytes"] or 0) / 1e6,
                             f["read"]["iops"]))
    c = r.suite_counts or {}
    lines.append("  iscsi-test-cu %s: %s passed, %s failed (%s of them "
                 "not applicable), %s skipped" % (
                     ",".join(r.suites) or "-", c.get("passed", 0),
                     c.get("failed", 0), c.get("not_applicable", 0),
                     c.get("skipped", 0)))
    for t in r.tests:
        if t.get("not_applicable"):
            lines.append("    not applicable %s.%s: %s" % (
                t["suite"], t["test"], t["not_applicable"]))
        elif t["result"] != "passed":
            lines.append("    %s %s.%s: %s" % (t["result"], t["suite"],
                                               t["test"],
                                               "; ".join(t["reasons"])))
    if r.iscsi_error:
        lines.append("  the same suites over iSCSI: no test ran: %s"
                     % r.iscsi_error)
    elif r.iscsi_tests is not None:
        n = tools.result_counts(r.iscsi_tests)
        lines.append("  the same suites over iSCSI: %(passed)s passed, "
                     "%(failed)s failed, %(skipped)s skipped; %(d)s test(s) "
                     "differ from FC:" % dict(n, d=len(r.fc_vs_iscsi or [])))
        for d in r.fc_vs_iscsi or []:
            lines.append("    %s.%s: FC %s, iSCSI %s%s" % (
                d["suite"], d["test"], d["fc"], d["iscsi"],
                " (%s)" % "; ".join(d["iscsi_reasons"] or d["fc_reasons"])
                if d["iscsi_reasons"] or d["fc_reasons"] else ""))
    if r.lip is not None:
        lines.append("  LIP: " + " | ".join(r.lip.splitlines()))
        lines.append("  after the LIP: %d I/O failure line(s) in the "
                     "initiator's kernel; the target's CTIO completions %s; "
                     "first command %s us after the last PRLI LS_ACC"
                     % (len(r.lip_failures), r.target_ctio_status or "-",
                        r.lip_prli_to_command_us))
    lines.append("  qla2xxx failures: initiator %d, target %d" % (
        len(r.initiator_errors), len(r.target_errors)))
    if r.link == "remote":
        lines.append("  target guest: driver %s, serving after %s s, exit %s,"
                     " sessions %s" % (r.driver, r.target_ready_s,
                                       r.target_exit,
                                       ", ".join(r.target_sessions) or "-"))
        for side, rep in sorted(r.link_reports.items()):
            lines.append("  %s QEMU's link: %s" % (side, ", ".join(
                "%s %s" % kv for kv in sorted((rep or {}).items())
                if kv[0] != "far_wwpn") or "no report"))
    lines.append("  time: %.1f s wall (guest run %.1f s); artifacts: %s"
                 % (r.wall_s, r.guest_s, r.artifacts))
    return "\n".join(lines)


def race_summary(r: RaceResult, timeline_lines: int = 60) -> str:
    """Human-readable verdict and evidence of :func:`run_race`."""
    d = r.driver or {}
    lines = ["race: %s%s" % (r.verdict, " (%s)" % r.label
                             if r.verdict == FAIL else ""),
             "  driver: %s (%s)%s" % (d.get("name", "?"), d.get("kind", "?"),
                                      " tree %s" % d["tree"]
                                      if d.get("tree") else ""),
             "  guest: kernel %s (%s), %s MiB" % (
                 (r.kernel or {}).get("release", "?"),
                 (r.kernel or {}).get("spec", "?"),
                 r.memory_mib or "?"),
             "  scenario: %s, first command %d us after the PRLI LS_ACC, "
             "prli-complete-latency-us %d us, seed %s (nothing is random)" % (
                 (r.scenario or {}).get("trace"), r.first_cmd_us,
                 r.latency_us, r.seed)]
    for x in r.reasons:
        lines.append("  - " + x)
    if r.topology:
        lines.append("  topology the driver brought up: %s" % r.topology)
    lines.append("  CTIO completions by status: %s"
                 % fmt_counts(r.ctio_status))
    lines.append("  IOCBs rejected by the firmware (entry_status): %s"
                 % fmt_counts(r.iocb_errors))
    fl = r.forced_logouts or {}
    lines.append("  forced logouts: ISP LOGO %s, ISP PRLO %s, initiator "
                 "logged-out why=logo %s" % (fl.get("isp_logo", "-"),
                                             fl.get("isp_prlo", "-"),
                                             fl.get("initiator_logo", "-")))
    ini = r.initiator or {}
    if ini.get("present"):
        bs = ini.get("bios_scan") or {}
        lines.append("  initiator: done=%s all_passed=%s passes=%s logins=%s"
                     % (ini.get("done"), ini.get("all_passed"),
                        ini.get("passes"),
                        (ini.get("counters") or {}).get("logins")))
        if bs.get("configured"):
            lines.append("    BIOS scan: %s after %s INQUIRY(s) (max %s)" % (
                "ok" if bs.get("ok") else "FAILED", bs.get("inquiries"),
                bs.get("max_inquiry")))
        for c in ini.get("commands", []):
            lines.append("    %-4s %s %-16s attempts %s/%s status %s%s" % (
                "ok" if c.get("passed") else "FAIL", c.get("index"),
                c.get("op"), c.get("attempts"), c.get("total_attempts"),
                c.get("status"), ("  " + "; ".join(
                    (c.get("reasons") or [])[:3])) if c.get("reasons")
                else ""))
    if r.prli_latency_us:
        lines.append("  observed PRLI latency (4->5 .. 5->6): %s us"
                     % ", ".join("%g" % x for x in r.prli_latency_us[:5]))
    dm = r.dmesg or []
    if dm:
        lines.append("  dmesg (%d relevant lines; first 12):" % len(dm))
        lines += ["    " + x for x in dm[:12]]
    lines += format_timeline(r.events or [], timeline_lines)
    if r.console_tail:
        lines.append("  console (tail):")
        lines += ["    " + x for x in r.console_tail.splitlines()[-25:]]
    if r.console_log:
        lines.append("  console log: %s" % r.console_log)
    lines += _pictures(r.pcap, ("ladder", r.ladder, r.ladder_error))
    t = r.timings or {}
    lines.append("  time: %.1f s wall (build %s s, boot to verdict %s s)"
                 % (t.get("wall_s", 0), t.get("build_s", "-"),
                    t.get("boot_to_verdict_s", "-")))
    lines.append("  artifacts: %s" % r.artifacts)
    lines.append("verdict: %s (exit %d)" % (r.verdict, r.exit_code))
    return "\n".join(lines)


def sweep_summary(r: SweepResult) -> str:
    """The pass/fail matrix and boundary of :func:`run_sweep`."""
    d = r.driver or {}
    lats, delays = r.latencies, r.delays
    m = r.matrix
    sym = {PASS: ".", FAIL: "X", INCONCLUSIVE: "?"}
    lines = ["sweep: driver %s (%s), %d points: %s" % (
        d.get("name", "?"), d.get("kind", "?"), len(r.points),
        ", ".join("%s %d" % kv for kv in r.counts.items())),
        "  rows: prli-complete-latency-us (us); columns: first-command delay "
        "after the PRLI LS_ACC (us); . PASS  X FAIL  ? INCONCLUSIVE"]
    w = max(6, max((len(str(x)) for x in delays), default=1) + 1)
    lines.append("  %8s " % "lat\\d" + "".join("%*s" % (w, x)
                                               for x in delays))
    for lat in lats:
        row = m.get(str(lat), {})
        lines.append("  %8s " % lat + "".join(
            "%*s" % (w, sym.get(row.get(str(x)), " ")) for x in delays))
    lines.append("  boundary (smallest failing latency per delay):")
    for x in delays:
        b = r.boundary.get(str(x), {})
        ff = b.get("first_fail_latency_us")
        lines.append("    delay %6s us: %s" % (
            x, "no failure" if ff is None else "fails from %s us (passes "
            "up to %s us)%s" % (ff, b.get("last_pass_latency_us"),
                                "" if b.get("monotonic")
                                else ", not monotonic")))
    if r.setup_error:
        lines.append("  set-up: %s" % r.setup_error)
    if r.console_tail:
        lines.append("  console (tail):")
        lines += ["    " + x for x in r.console_tail.splitlines()[-15:]]
    lines += _pictures(None, ("heat map", r.heatmap, r.heatmap_error))
    t = r.timings or {}
    lines.append("  time: %.1f s wall (build %s s, boot %s s, points %s s; "
                 "%s s per point, %s points/min)" % (
                     t.get("wall_s", 0), t.get("build_s", "-"),
                     t.get("boot_to_ready_s", "-"), t.get("points_s", "-"),
                     t.get("per_point_s", "-"), t.get("points_per_min", "-")))
    lines.append("  artifacts: %s" % r.artifacts)
    lines.append("sweep verdict: %s (exit %d)" % (r.verdict,
                                                  r.exit_code))
    return "\n".join(lines)


def _pictures(pcap, *pictures) -> list:
    """Lines naming a run's capture and pictures ((name, path, error))."""
    lines = ["  capture: %s" % pcap] if pcap else []
    for name, path, err in pictures:
        if path or err:
            lines.append("  %s: %s" % (name, path or "not drawn (%s)" % err))
    return lines


def junit_xml(r, case: str = "prli-race", summary=None) -> str:
    """JUnit XML of a race (or replay) result: one testsuite, one testcase
    ``case`` (prli-race, replay); ``summary`` renders the text (default
    :func:`race_summary`).

    FAIL -> <failure>; INCONCLUSIVE -> <skipped> for a build error (the
    commit cannot be tested), else <error>.
    """
    summary = summary or race_summary
    v = r.verdict
    build_error = getattr(r, "build_error", False)
    wall = (r.timings or {}).get("wall_s", 0)
    suite = ET.Element("testsuite", {
        "name": "qlaemu." + case.split("-")[-1], "tests": "1",
        "failures": "1" if v == FAIL else "0",
        "errors": "1" if v == INCONCLUSIVE and not build_error else "0",
        "skipped": "1" if v == INCONCLUSIVE and build_error else "0",
        "time": "%.2f" % wall})
    props = ET.SubElement(suite, "properties")
    values = [("verdict", v), ("driver", (r.driver or {}).get("name", ""))]
    for k in ("latency_us", "first_cmd_us", "seed", "capture",
              "divergences"):
        if hasattr(r, k):
            values.append((k, getattr(r, k)))
    if hasattr(r, "ctio_status"):
        values.append(("ctio_status", json.dumps(r.ctio_status)))
    for k, val in values:
        ET.SubElement(props, "property", {"name": k, "value": str(val)})
    tc = ET.SubElement(suite, "testcase", {
        "classname": "qlaemu." + case.split("-")[-1], "name": case,
        "time": "%.2f" % wall})
    msg = "; ".join(r.reasons)[:1000]
    text = summary(r)
    if v == FAIL:
        el = ET.SubElement(tc, "failure", {
            "type": getattr(r, "label", None) or FAIL_LABEL,
            "message": msg})
        el.text = text
    elif v == INCONCLUSIVE:
        tag = "skipped" if build_error else "error"
        el = ET.SubElement(tc, tag, {"type": INCONCLUSIVE, "message": msg})
        el.text = text
    out = ET.SubElement(tc, "system-out")
    out.text = text
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def replay_summary(r: ReplayResult) -> str:
    """Human-readable verdict of :func:`qlaemu.replay.run_replay`: the
    counts, the first divergence with the captured and live frames around
    it."""
    d = r.driver or {}
    lines = ["replay: %s" % r.verdict,
             "  capture: %s (%s frames; %s sent, %s of the target's "
             "matched)" % (r.capture, r.frames, r.sent, r.matched),
             "  driver: %s (%s)" % (d.get("name", "?"), d.get("kind", "?"))]
    lines += ["  - " + x for x in r.reasons]
    if r.divergences:
        lines.append("  divergences by kind: %s" % ", ".join(
            "%s %d" % kv for kv in sorted(r.counts.items())))
        for x in r.detail[:10]:
            lines.append("    %-10s capture frame %5s: expected %s, got %s"
                         % (x.get("kind"), x.get("frame"), x.get("expected"),
                            x.get("got")))
    if r.captured_around:
        lines.append("  the capture around the first divergence:")
        lines += ["   " + x for x in r.captured_around]
    if r.live_around:
        lines.append("  the live link then:")
        lines += ["   " + x for x in r.live_around]
    if r.console_tail:
        lines.append("  console (tail):")
        lines += ["    " + x for x in r.console_tail.splitlines()[-15:]]
    lines += _pictures(r.pcap, ("ladder", r.ladder, r.ladder_error))
    t = r.timings or {}
    lines.append("  time: %.1f s wall (build %s s, guest %s s)" % (
        t.get("wall_s", 0), t.get("build_s", "-"), t.get("guest_s", "-")))
    lines.append("  artifacts: %s" % r.artifacts)
    lines.append("replay verdict: %s (exit %d)" % (r.verdict, r.exit_code))
    return "\n".join(lines)


def scenario_summary(r: ScenarioResult, timeline_lines: int = 40) -> str:
    """Human-readable summary of a run_scenario() result (multi-line)."""
    ini = r.initiator or {}
    lines = ["scenario %s (%s, driver %s): %s, exit=%s, %.1f s" % (
        r.name, r.scenario, r.driver,
        r.status.upper(), r.exit, r.duration_s)]
    if r.exit == "qemu-error" and r.qemu_stderr:
        # QEMU refused the command line (e.g. a scenario file): say why
        # first; nothing of the guest follows
        lines.append("  QEMU refused the run: %s"
                     % evidence.qemu_refusal(r.qemu_stderr))
    lines.append("  device: %s" % r.device_opts)
    k = r.kernel or {}
    lines.append("  guest: kernel %s (%s), %s MiB" % (
        k.get("release", "?"), k.get("spec", "?"), r.memory_mib or "?"))
    if r.setup_error:
        lines.append("  driver set-up FAILED: %s" % r.setup_error)
    if ini:
        lines.append("  initiator: done=%s all_passed=%s phase=%s passes=%s"
                     " (done %s)" % (ini.get("done"), ini.get("all_passed"),
                                     ini.get("phase"), ini.get("passes"),
                                     ini.get("passes_done")))
        bs = ini.get("bios_scan") or {}
        if bs.get("configured"):
            lines.append("  BIOS scan: ok=%s inquiries=%s/%s" % (
                bs.get("ok"), bs.get("inquiries"), bs.get("max_inquiry")))
        for c in ini.get("commands", []):
            lines.append("    %-4s %2d %-16s %-40s attempts %s/%s status %s%s"
                         % ("PASS" if c.get("passed") else "FAIL",
                            c.get("index", 0), c.get("op"),
                            (c.get("name") or "")[:40], c.get("attempts"),
                            c.get("total_attempts"), c.get("status"),
                            ("  " + "; ".join(c.get("reasons", [])[:3]))
                            if c.get("reasons") else ""))
    lines.append("  CTIO status counts: %s" % (", ".join(
        "%s: %s" % kv for kv in sorted(r.ctio_status.items()))
        or "none"))
    cnt = ini.get("counters", {})
    isp_logo = r.els.get("isp_sent", {}).get("0x05", 0)
    lines.append("  logouts: initiator saw %s (logins %s), ISP sent LOGO %s,"
                 " interruptions %d" % (
                     cnt.get("logouts", 0), cnt.get("logins", 0), isp_logo,
                     len(ini.get("interruptions", []))))
    lines.append("  ELS: isp sent %s, isp received %s" % (
        _els_counts(r.els.get("isp_sent", {})),
        _els_counts(r.els.get("isp_received", {}))))
    lines.append("  LIO sessions at the end: %s" % (
        ", ".join(r.lio_sessions) or "none"))
    lines.append("  checks:")
    for name, ok, detail in r.checks:
        lines.append("    [%s] %s: %s" % ("ok" if ok else "FAIL", name,
                                          detail))
    for e in r.errors[:10]:
        lines.append("    " + e)
    lines += format_timeline(r.timeline or [], timeline_lines)
    if r.controller_error:
        lines.append("  controller: " + r.controller_error.strip()
                     .splitlines()[-1])
    lines += _pictures(r.pcap)
    lines.append("  artifacts: %s" % r.artifacts)
    return "\n".join(lines)


def _els_counts(d: dict) -> str:
    return ", ".join("%s %s" % (evidence.els_name(int(k, 16))
                                if k.startswith("0x") else k, v)
                     for k, v in sorted(d.items())) \
        or "none"


def probe_summary(r: ProbeResult) -> str:
    """Short human-readable summary of a probe() result (multi-line str)."""
    fc = r.fc_host
    sh = r.scsi_host
    pci = r.pci
    lines = [
        "probe (%s): %s, exit=%s, %.1f s" % (
            r.mode, "OK" if r.ok else "FAILED", r.exit,
            r.duration_s),
        "  pci %s  %s:%s sub %s:%s rev %s class %s" % (
            pci.get("bdf") or "-", pci.get("vendor"), pci.get("device"),
            pci.get("subsystem_vendor"), pci.get("subsystem_device"),
            pci.get("revision"), pci.get("class")),
        "  driver bound: %s" % r.driver_bound,
        "  fc_host: port_name=%s node_name=%s state=%s speed=%s type=%s "
        "id=%s" % (fc.get("port_name"), fc.get("node_name"),
                   fc.get("port_state"), fc.get("speed"),
                   fc.get("port_type"), fc.get("port_id")),
        "  scsi_host: model=%s fw=%s serial=%s" % (
            sh.get("model_name"), sh.get("fw_version"), sh.get("serial_num")),
        "  ports: %s" % ("; ".join(
            "%s %s %s %s %s" % (p.get("bdf"), p.get("host", "-"),
                                p.get("port_name", "-"),
                                p.get("port_state", "-"),
                                p.get("active_mode", "-"))
            for p in r.ports) or "none"),
        "  port_state over time: %s" % (r.port_wait or "-"),
        "  remote ports: %s" % (", ".join(
            "%s %s id=%s roles=%s state=%s" % (
                p.get("name"), p.get("port_name"), p.get("port_id"),
                p.get("roles"), p.get("port_state"))
            for p in r.remote_ports) or "none"),
        "  qla2xxx messages at level <= 4: %d, of which errors (<= 3): %d"
        % (len(r.warnings), len(r.errors)),
    ]
    if r.mode != "initiator":
        lines.append("  LIO sessions: %s"
                     % (", ".join(r.lio_sessions) or "none"))
    if r.device_opts:
        lines.insert(1, "  device options: %s" % r.device_opts)
    lines += ["    " + w for w in r.errors[:10]]
    lines.append("  artifacts: %s" % r.artifacts)
    if r.exit == "qemu-error" and r.qemu_stderr:
        lines.append("  qemu: " + r.qemu_stderr.strip()[-500:])
    return "\n".join(lines)


def pair_junit_xml(r: PairResult) -> str:
    """JUnit XML of a pair run: one case per check of :func:`judge` and
    one per iscsi-test-cu test (skipped ones with their reasons)."""
    cases = [("lun", not r.disk and "no LUN appeared"),
             ("verdict", "; ".join(r.reasons))]
    root = ET.Element("testsuites")
    ts = ET.SubElement(root, "testsuite", name="qlaemu.pair.%s" % r.link)
    for name, failure in cases:
        c = ET.SubElement(ts, "testcase", classname="pair", name=name)
        if failure:
            ET.SubElement(c, "failure", message=failure)
    for t in r.tests:
        c = ET.SubElement(ts, "testcase", classname="iscsi-test-cu.%s"
                          % t["suite"], name=t["test"])
        if t.get("not_applicable"):
            ET.SubElement(c, "skipped", message="not applicable: "
                          + t["not_applicable"])
        elif t["result"] == "failed":
            ET.SubElement(c, "failure", message="; ".join(t["reasons"]))
        elif t["result"] == "skipped":
            ET.SubElement(c, "skipped", message="; ".join(t["reasons"]))
    ts.set("tests", str(len(ts)))
    ts.set("failures", str(sum(1 for c in ts if c.find("failure")
                               is not None)))
    ts.set("skipped", str(sum(1 for c in ts if c.find("skipped")
                              is not None)))
    return ET.tostring(root, encoding="unicode") + "\n"
