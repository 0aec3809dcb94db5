"""Output: the text summaries of probe, race, sweep and scenario runs,
and the race's JUnit XML.  (JSON is the results themselves.)
"""
import json
import xml.etree.ElementTree as ET

from . import evidence
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


def race_summary(r: dict, timeline_lines: int = 60) -> str:
    """Human-readable verdict and evidence of :func:`run_race`."""
    d = r.get("driver") or {}
    lines = ["race: %s%s" % (r["verdict"], " (%s)" % r.get("label")
                             if r["verdict"] == FAIL else ""),
             "  driver: %s (%s)%s" % (d.get("name", "?"), d.get("kind", "?"),
                                      " tree %s" % d["tree"]
                                      if d.get("tree") else ""),
             "  guest: kernel %s (%s), %s MiB" % (
                 (r.get("kernel") or {}).get("release", "?"),
                 (r.get("kernel") or {}).get("spec", "?"),
                 r.get("memory_mib", "?")),
             "  scenario: %s, first command %d us after the PRLI LS_ACC, "
             "prli-complete-latency-us %d us, seed %s (nothing is random)" % (
                 (r.get("scenario") or {}).get("trace"), r["first_cmd_us"],
                 r["latency_us"], r.get("seed"))]
    for x in r.get("reasons", []):
        lines.append("  - " + x)
    if r.get("topology"):
        lines.append("  topology the driver brought up: %s" % r["topology"])
    lines.append("  CTIO completions by status: %s"
                 % fmt_counts(r.get("ctio_status", {})))
    lines.append("  IOCBs rejected by the firmware (entry_status): %s"
                 % fmt_counts(r.get("iocb_errors", {})))
    fl = r.get("forced_logouts") or {}
    lines.append("  forced logouts: ISP LOGO %s, ISP PRLO %s, initiator "
                 "logged-out why=logo %s" % (fl.get("isp_logo", "-"),
                                             fl.get("isp_prlo", "-"),
                                             fl.get("initiator_logo", "-")))
    ini = r.get("initiator") or {}
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
    if r.get("prli_latency_us"):
        lines.append("  observed PRLI latency (4->5 .. 5->6): %s us"
                     % ", ".join("%g" % x for x in r["prli_latency_us"][:5]))
    dm = r.get("dmesg") or []
    if dm:
        lines.append("  dmesg (%d relevant lines; first 12):" % len(dm))
        lines += ["    " + x for x in dm[:12]]
    lines += format_timeline(r.get("events") or [], timeline_lines)
    if r.get("console_tail"):
        lines.append("  console (tail):")
        lines += ["    " + x for x in r["console_tail"].splitlines()[-25:]]
    if r.get("console_log"):
        lines.append("  console log: %s" % r["console_log"])
    t = r.get("timings") or {}
    lines.append("  time: %.1f s wall (build %s s, boot to verdict %s s)"
                 % (t.get("wall_s", 0), t.get("build_s", "-"),
                    t.get("boot_to_verdict_s", "-")))
    lines.append("  artifacts: %s" % r.get("artifacts"))
    lines.append("verdict: %s (exit %d)" % (r["verdict"], r["exit_code"]))
    return "\n".join(lines)


def sweep_summary(r: dict) -> str:
    """The pass/fail matrix and boundary of :func:`run_sweep`."""
    d = r.get("driver") or {}
    lats, delays = r["latencies"], r["delays"]
    m = r["matrix"]
    sym = {PASS: ".", FAIL: "X", INCONCLUSIVE: "?"}
    lines = ["sweep: driver %s (%s), %d points: %s" % (
        d.get("name", "?"), d.get("kind", "?"), len(r["points"]),
        ", ".join("%s %d" % kv for kv in r["counts"].items())),
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
        b = r["boundary"].get(str(x), {})
        ff = b.get("first_fail_latency_us")
        lines.append("    delay %6s us: %s" % (
            x, "no failure" if ff is None else "fails from %s us (passes "
            "up to %s us)%s" % (ff, b.get("last_pass_latency_us"),
                                "" if b.get("monotonic")
                                else ", not monotonic")))
    if r.get("setup_error"):
        lines.append("  set-up: %s" % r["setup_error"])
    if r.get("console_tail"):
        lines.append("  console (tail):")
        lines += ["    " + x for x in r["console_tail"].splitlines()[-15:]]
    t = r.get("timings") or {}
    lines.append("  time: %.1f s wall (build %s s, boot %s s, points %s s; "
                 "%s s per point, %s points/min)" % (
                     t.get("wall_s", 0), t.get("build_s", "-"),
                     t.get("boot_to_ready_s", "-"), t.get("points_s", "-"),
                     t.get("per_point_s", "-"), t.get("points_per_min", "-")))
    lines.append("  artifacts: %s" % r.get("artifacts"))
    lines.append("sweep verdict: %s (exit %d)" % (r["verdict"],
                                                  r["exit_code"]))
    return "\n".join(lines)


def junit_xml(r: dict) -> str:
    """JUnit XML of a race result: one testsuite, one testcase prli-race.

    FAIL -> <failure>; INCONCLUSIVE -> <skipped> for a build error (the
    commit cannot be tested), else <error>.
    """
    v = r["verdict"]
    wall = (r.get("timings") or {}).get("wall_s", 0)
    suite = ET.Element("testsuite", {
        "name": "qlaemu.race", "tests": "1",
        "failures": "1" if v == FAIL else "0",
        "errors": "1" if v == INCONCLUSIVE and not r.get("build_error")
        else "0",
        "skipped": "1" if v == INCONCLUSIVE and r.get("build_error")
        else "0",
        "time": "%.2f" % wall})
    props = ET.SubElement(suite, "properties")
    for k, val in (("verdict", v), ("driver", (r.get("driver") or {})
                                    .get("name", "")),
                   ("latency_us", r.get("latency_us")),
                   ("first_cmd_us", r.get("first_cmd_us")),
                   ("seed", r.get("seed")),
                   ("ctio_status", json.dumps(r.get("ctio_status", {})))):
        ET.SubElement(props, "property", {"name": k, "value": str(val)})
    case = ET.SubElement(suite, "testcase", {
        "classname": "qlaemu.race", "name": "prli-race",
        "time": "%.2f" % wall})
    msg = "; ".join(r.get("reasons", []))[:1000]
    if v == FAIL:
        el = ET.SubElement(case, "failure", {"type": r.get("label")
                                             or FAIL_LABEL,
                                             "message": msg})
        el.text = race_summary(r)
    elif v == INCONCLUSIVE:
        tag = "skipped" if r.get("build_error") else "error"
        el = ET.SubElement(case, tag, {"type": INCONCLUSIVE,
                                       "message": msg})
        el.text = race_summary(r)
    out = ET.SubElement(case, "system-out")
    out.text = race_summary(r)
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def scenario_summary(r: dict, timeline_lines: int = 40) -> str:
    """Human-readable summary of a run_scenario() result (multi-line)."""
    ini = r.get("initiator") or {}
    lines = ["scenario %s (%s, driver %s): %s, exit=%s, %.1f s" % (
        r.get("name"), r.get("scenario"), r.get("driver"),
        r.get("status", "?").upper(), r.get("exit"), r.get("duration_s", 0))]
    lines.append("  device: %s" % r.get("device_opts"))
    k = r.get("kernel") or {}
    lines.append("  guest: kernel %s (%s), %s MiB" % (
        k.get("release", "?"), k.get("spec", "?"), r.get("memory_mib", "?")))
    if r.get("setup_error"):
        lines.append("  driver set-up FAILED: %s" % r["setup_error"])
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
        "%s: %s" % kv for kv in sorted(r.get("ctio_status", {}).items()))
        or "none"))
    cnt = ini.get("counters", {})
    isp_logo = r.get("els", {}).get("isp_sent", {}).get("0x05", 0)
    lines.append("  logouts: initiator saw %s (logins %s), ISP sent LOGO %s,"
                 " interruptions %d" % (
                     cnt.get("logouts", 0), cnt.get("logins", 0), isp_logo,
                     len(ini.get("interruptions", []))))
    lines.append("  ELS: isp sent %s, isp received %s" % (
        _els_counts(r.get("els", {}).get("isp_sent", {})),
        _els_counts(r.get("els", {}).get("isp_received", {}))))
    lines.append("  LIO sessions at the end: %s" % (
        ", ".join(r.get("lio_sessions", [])) or "none"))
    lines.append("  checks:")
    for name, ok, detail in r.get("checks", []):
        lines.append("    [%s] %s: %s" % ("ok" if ok else "FAIL", name,
                                          detail))
    for e in r.get("errors", [])[:10]:
        lines.append("    " + e)
    lines += format_timeline(r.get("timeline") or [], timeline_lines)
    if r.get("controller_error"):
        lines.append("  controller: " + r["controller_error"].strip()
                     .splitlines()[-1])
    if r.get("exit") == "qemu-error" and r.get("qemu_stderr"):
        lines.append("  qemu: " + r["qemu_stderr"].strip()[-500:])
    lines.append("  artifacts: %s" % r.get("artifacts"))
    return "\n".join(lines)


def _els_counts(d: dict) -> str:
    return ", ".join("%s %s" % (evidence.els_name(int(k, 16))
                                if k.startswith("0x") else k, v)
                     for k, v in sorted(d.items())) \
        or "none"


def probe_summary(r: dict) -> str:
    """Short human-readable summary of a probe() result (multi-line str)."""
    fc = r.get("fc_host", {})
    sh = r.get("scsi_host", {})
    pci = r.get("pci", {})
    lines = [
        "probe (%s): %s, exit=%s, %.1f s" % (
            r["mode"], "OK" if r["ok"] else "FAILED", r["exit"],
            r["duration_s"]),
        "  pci %s  %s:%s sub %s:%s rev %s class %s" % (
            pci.get("bdf") or "-", pci.get("vendor"), pci.get("device"),
            pci.get("subsystem_vendor"), pci.get("subsystem_device"),
            pci.get("revision"), pci.get("class")),
        "  driver bound: %s" % r["driver_bound"],
        "  fc_host: port_name=%s node_name=%s state=%s speed=%s type=%s "
        "id=%s" % (fc.get("port_name"), fc.get("node_name"),
                   fc.get("port_state"), fc.get("speed"),
                   fc.get("port_type"), fc.get("port_id")),
        "  scsi_host: model=%s fw=%s serial=%s" % (
            sh.get("model_name"), sh.get("fw_version"), sh.get("serial_num")),
        "  port_state over time: %s" % (r.get("port_wait") or "-"),
        "  remote ports: %s" % (", ".join(
            "%s %s id=%s roles=%s state=%s" % (
                p.get("name"), p.get("port_name"), p.get("port_id"),
                p.get("roles"), p.get("port_state"))
            for p in r.get("remote_ports", [])) or "none"),
        "  qla2xxx messages at level <= 4: %d, of which errors (<= 3): %d"
        % (len(r["warnings"]), len(r["errors"])),
    ]
    if r.get("mode") == "target":
        lines.append("  LIO sessions: %s"
                     % (", ".join(r.get("lio_sessions", [])) or "none"))
    if r.get("device_opts"):
        lines.insert(1, "  device options: %s" % r["device_opts"])
    lines += ["    " + w for w in r["errors"][:10]]
    lines.append("  artifacts: %s" % r["artifacts"])
    if r["exit"] == "qemu-error" and r.get("qemu_stderr"):
        lines.append("  qemu: " + r["qemu_stderr"].strip()[-500:])
    return "\n".join(lines)
