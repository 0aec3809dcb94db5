"""Issue #3 acceptance: FC link bring-up, topology and run-time link events.

Every test here boots the guest with the real Debian 6.1 qla2xxx driver and
asserts on what the driver reported (sysfs, dmesg) and, for run-time events,
on what the device presented (QEMU trace ``qla2532_event_present``).

Failure classes (:data:`FAILURE_PATTERNS`, :func:`failure_lines`) follow
docs/driver-link-contract.md section 0/6: ql_log_warn is pr_err and
ql_log_fatal pr_crit, so every qla2xxx line at kernel level <= 3 is a
failure; ql_log_info is pr_warn (level 4) and is printed in normal
operation too, so only the level-4 texts listed below count.
"""
import concurrent.futures
import re
import time

import pytest

from qlaemu import capture, cli, commands, control, paths, probe, vm

PARTNER_WWPN = "0x2100001b32aa0001"
PARTNER_LIO = "21:00:00:1b:32:aa:00:01"

LOOP = "LPort (private loop)"
P2P = "Point-To-Point (direct nport connection)"
DOWN = None

#: ql_log_info (printk level 4) messages that mean trouble.  Substrings,
#: case-sensitive ("LOOP DOWN detected", the normal report of a link loss,
#: does not match "Loop down", which is "Loop down - aborting ISP.").
#: "ISP error recovery" is left out in target mode, where enabling the TPG
#: legitimately prints "Performing ISP error recovery" once (checked there
#: separately); "LIP reset occurred" is left out when a LIP reset was
#: injected on purpose.
FAILURE_PATTERNS = (
    "Dropping AEN",
    "Cable is unplugged",
    "Loop down",
    "Firmware ready **** FAILED",
    "MBX Command timeout",
    "Unable to",
    "failed",
    "ISP error recovery",
    "RSCN database changed",
    "LIP reset occurred",
    "Chip reset",
)

#: Expected topology per (HBA connection option, partner connection
#: option), written out from FC-AL-2 / FC-FS and the ICB option semantics
#: (0 loop only, 1 point-to-point only, 2 loop preferred, 3 point-to-point
#: preferred): a loop-capable port joins a loop as soon as the other side
#: originates LIP, i.e. whenever either side prefers (2) or insists on (0)
#: loop and the other can do loop; a port that only does one topology
#: forces it; loop-only against point-to-point-only never comes up.
EXPECTED_TOPOLOGY = {
    (0, 0): LOOP, (0, 1): DOWN, (0, 2): LOOP, (0, 3): LOOP,
    (1, 0): DOWN, (1, 1): P2P, (1, 2): P2P, (1, 3): P2P,
    (2, 0): LOOP, (2, 1): P2P, (2, 2): LOOP, (2, 3): LOOP,
    (3, 0): LOOP, (3, 1): P2P, (3, 2): LOOP, (3, 3): P2P,
}
#: qla2xxx in target mode on a 25xx forces "point-to-point only" into the
#: ICB (qla_target.c qlt_24xx_config_nvram_stage1), whatever the NVRAM says.
TARGET_MODE_HBA_OPTION = 1

#: Seconds the topology rows poll port_state for Online.
TOPOLOGY_WAIT_S = 8

HBA_PATH = "/machine/peripheral/hba0"

LEVEL_RE = re.compile(r"^<(\d+)>(.*)$")


def failure_lines(dmesg_raw: str, mode: str = "initiator",
                  injected: tuple = ()) -> list:
    """qla2xxx failure messages in ``dmesg -r`` output.

    Args:
        dmesg_raw: ``dmesg -r`` text (``<N>[time] text`` lines).
        mode: 'initiator' or 'target'; in target mode "Performing ISP error
            recovery" (level 4) is not reported here (count it separately).
        injected: FAILURE_PATTERNS entries expected because the test caused
            them (e.g. "LIP reset occurred").

    Returns:
        list of the offending lines (without the ``<N>`` prefix): every
        qla2xxx line at level <= 3, and level-4 qla2xxx lines containing one
        of FAILURE_PATTERNS.
    """
    out = []
    for line in dmesg_raw.splitlines():
        m = LEVEL_RE.match(line)
        if not m or "qla2xxx" not in m.group(2):
            continue
        level, text = int(m.group(1)) & 7, m.group(2)
        if level <= 3:
            out.append(text)
            continue
        if level != 4:
            continue
        for pat in FAILURE_PATTERNS:
            if pat in injected:
                continue
            if (pat == "ISP error recovery" and mode == "target"
                    and "Performing ISP error recovery" in text):
                continue
            if pat in text:
                out.append(text)
                break
    return out


def _fmt(lines) -> str:
    return "\n  " + "\n  ".join(lines) if lines else " none"


def _partner_rports(r: dict) -> list:
    return [p for p in r.remote_ports
            if p.get("port_name") == PARTNER_WWPN]


# ---------------------------------------------------------------- unit tests


def test_failure_lines_classes():
    raw = "\n".join([
        "<4>[1.0] qla2xxx [0000:01:00.0]-500a:0: LOOP UP detected (8 Gbps).",
        "<4>[1.1] qla2xxx [0000:01:00.0]-500b:0: LOOP DOWN detected (0 0).",
        "<3>[1.2] qla2xxx [0000:01:00.0]-5034:0: Async-login error entry",
        "<4>[1.3] qla2xxx [0000:01:00.0]-8038:0: Cable is unplugged...",
        "<4>[1.4] qla2xxx [0000:01:00.0]-00af:0: Performing ISP error "
        "recovery - ha=x.",
        "<3>[1.5] Unable to load target_core_pscsi",
        "<6>[1.6] qla2xxx 0000:01:00.0: firmware: direct-loading failed",
        "<2>[1.7] qla2xxx [0000:01:00.0]-00d2:0: Init Firmware **** FAILED",
    ])
    assert [x[:5] for x in failure_lines(raw)] == [
        "[1.2]", "[1.3]", "[1.4]", "[1.7]"]
    assert [x[:5] for x in failure_lines(raw, "target")] == [
        "[1.2]", "[1.3]", "[1.7]"]
    assert [x[:5] for x in failure_lines(
        raw, injected=("Cable is unplugged",))] == ["[1.2]", "[1.4]", "[1.7]"]


def test_expected_topology_table_is_symmetric():
    # the FC rules have no side: swapping HBA and partner gives the same
    # outcome; every row is covered
    assert len(EXPECTED_TOPOLOGY) == 16
    for (a, b), t in EXPECTED_TOPOLOGY.items():
        assert EXPECTED_TOPOLOGY[(b, a)] == t


def test_probe_device_opts_and_rports():
    assert probe.normalize_opts("") == ""
    assert probe.normalize_opts(",conn-option=1,partner=off,") == \
        ",conn-option=1,partner=off"
    # QEMU's escaping: ",," is a comma inside a value (a path)
    assert probe.normalize_opts("scenario=/a,,b.json,conn-option=1") == \
        ",scenario=/a,,b.json,conn-option=1"
    assert probe.split_opts("a=1,,2,b=3") == [("a", "1,,2"), ("b", "3")]
    with pytest.raises(ValueError):
        probe.normalize_opts("conn-option")
    with pytest.raises(ValueError):
        probe.normalize_opts("wwpn=0x1")
    assert probe.device_args(device_opts="id=hba0")[1].endswith(
        "wwnn=0x20000024ff000001,id=hba0")
    assert probe.parse_rports(
        "rport-0:0-0|port_name=0x1|port_id=0x000002|roles=FCP Initiator|"
        "port_state=Online\nnoise\n") == [
        {"name": "rport-0:0-0", "port_name": "0x1", "port_id": "0x000002",
         "roles": "FCP Initiator", "port_state": "Online"}]


def test_cli_opt_is_repeatable():
    args = cli.build_parser().parse_args(
        ["probe", "--opt", "conn-option=1", "--opt", "partner=off"])
    assert commands._device_opts(args) == "conn-option=1,partner=off"
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["probe", "--opt", "a=1,b=2"])


def test_qemu_qmp_library_is_used():
    """QEMU's own qemu.qmp (from its 7.2 source tree) is the one QMP
    client."""
    cls = control.load_qemu_qmp()
    assert cls.__name__ == "QEMUMonitorProtocol"
    assert cls.__module__ == "qemu.qmp.legacy"


@pytest.mark.guest
def test_controller_failure_stops_guest_promptly(guest_ready):
    """A controller that raises must not leave the guest running."""
    def controller(ctl):
        ctl.wait_mark("one", 60)
        assert ctl.qmp("query-status")["return"]["running"] is True
        ctl.wait_mark("never", 3)

    t0 = time.monotonic()
    res = vm.run("qlaemu_mark one; sleep 100", timeout_s=90,
                 controller=controller)
    assert res.exit == "controller-error"
    assert "TimeoutError" in res.controller_error
    assert res.marks == ["one"]
    assert time.monotonic() - t0 < 40
    log = res.controller_log.read_text()
    assert "QMP <- " in log and "data match" in log


# ------------------------------------------------------- a. initiator mode


@pytest.mark.guest
@pytest.mark.device
def test_initiator_link_up_private_loop(initiator_probe):
    r = initiator_probe
    assert r.exit == "poweroff", (r.exit, r.console_log)
    fc = r.fc_host
    assert fc.get("port_state") == "Online", (r.port_wait, r.artifacts)
    assert fc.get("speed") == "8 Gbit"
    assert fc.get("port_type") == LOOP
    assert re.search(r"qla2xxx .*LOOP UP detected \(8 Gbps\)", r.dmesg)
    assert fc.get("port_id", "0x000000") != "0x000000"
    rp = _partner_rports(r)
    assert len(rp) == 1, "partner %s not an rport: %r" % (
        PARTNER_WWPN, r.remote_ports)
    assert rp[0].get("roles") == "FCP Initiator", rp
    assert rp[0].get("port_state") == "Online", rp
    assert rp[0].get("port_id") not in (None, "", fc.get("port_id"))
    bad = failure_lines(r.dmesg_raw, "initiator")
    assert not bad, "qla2xxx failure messages (%s):%s" % (
        r.artifacts, _fmt(bad))


# ---------------------------------------------------------- b. target mode


@pytest.mark.guest
@pytest.mark.device
def test_target_mode_reinit_p2p_and_lio_session(target_probe):
    r = target_probe
    assert r.exit == "poweroff", (r.exit, r.console_log)
    assert "tpgt_1/enable=1" in r.setup, r.setup
    recov = [w for w in r.warnings
             if "Performing ISP error recovery" in w]
    assert len(recov) == 1, "TPG enable must re-initialise the ISP once:%s" \
        % _fmt(recov)
    fc = r.fc_host
    assert fc.get("port_state") == "Online", (r.port_wait, r.artifacts)
    assert fc.get("port_type") == P2P
    assert fc.get("speed") == "8 Gbit"
    # LOOP UP after the re-initialisation
    dm = r.dmesg
    i = dm.find("Performing ISP error recovery")
    assert "LOOP UP detected (8 Gbps)" in dm[i:], "no link-up after re-init"
    assert PARTNER_LIO in r.lio_sessions, r.lio_sessions
    bad = failure_lines(r.dmesg_raw, "target")
    assert not bad, "qla2xxx failure messages (%s):%s" % (
        r.artifacts, _fmt(bad))


# ------------------------------------------------------ c. topology matrix

TOPOLOGY_ROWS = ([("initiator", a, b) for a in range(4) for b in range(4)]
                 + [("target", None, b) for b in range(4)])


def _row_id(row) -> str:
    mode, a, b = row
    return "%s-hba%s-partner%d" % (mode, "T" if a is None else a, b)


def _run_row(row) -> dict:
    """Boot one topology row (minimal wait), return the probe() dict."""
    mode, a, b = row
    opts = "partner-conn-option=%d" % b
    if a is not None:
        opts = "conn-option=%d,%s" % (a, opts)
    t0 = time.monotonic()
    r = probe.probe(mode=mode, device_opts=opts,
                    port_wait_s=TOPOLOGY_WAIT_S, peer_wait_s=5,
                    timeout_s=150, run_name="topology-" + _row_id(row))
    r.wall_s = round(time.monotonic() - t0, 1)
    return r


@pytest.fixture(scope="module")
def topology_results(request, guest_ready):
    """Run the selected topology rows, 2 QEMUs at a time; {row: result}.

    Only rows whose test is selected in this session are booted.  The wall
    time and a per-row summary go to ARTIFACTS_DIR/topology-summary.txt.
    """
    rows = []
    for item in request.session.items:
        cs = getattr(item, "callspec", None)
        if cs and item.originalname == "test_topology" and \
                "row" in cs.params:
            rows.append(cs.params["row"])
    rows = list(dict.fromkeys(rows))
    t0 = time.monotonic()
    out = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futs = {pool.submit(_run_row, row): row for row in rows}
        for f in concurrent.futures.as_completed(futs):
            row = futs[f]
            try:
                out[row] = f.result()
            except Exception as e:      # noqa: BLE001 - reported per row
                out[row] = e
    wall = time.monotonic() - t0
    lines = ["topology matrix: %d rows in %.1f s wall (2 workers)"
             % (len(rows), wall)]
    for row in rows:
        r = out[row]
        if isinstance(r, Exception):
            lines.append("%-28s ERROR %r" % (_row_id(row), r))
            continue
        fc = r.fc_host
        lines.append("%-28s %-9s %-42s %-8s rports=%d lio=%d %5.1f s" % (
            _row_id(row), fc.get("port_state"), fc.get("port_type"),
            fc.get("speed"), len(r.remote_ports), len(r.lio_sessions),
            r.wall_s))
    paths.ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    (paths.ARTIFACTS_DIR / "topology-summary.txt").write_text(
        "\n".join(lines) + "\n")
    print("\n" + "\n".join(lines))
    return out


@pytest.mark.guest
@pytest.mark.device
@pytest.mark.slow
@pytest.mark.parametrize("row", TOPOLOGY_ROWS, ids=_row_id)
def test_topology(topology_results, row):
    mode, a, b = row
    r = topology_results[row]
    if isinstance(r, Exception):
        raise r
    hba = TARGET_MODE_HBA_OPTION if mode == "target" else a
    expect = EXPECTED_TOPOLOGY[(hba, b)]
    fc = r.fc_host
    where = "(%s, port_state over time: %s)" % (r.artifacts,
                                                r.port_wait)
    assert r.exit == "poweroff", (r.exit, r.console_log)
    assert r.driver_bound, r.driver
    if mode == "target":
        assert "tpgt_1/enable=1" in r.setup, r.setup
    if expect is DOWN:
        # the port never comes up: loop down in the driver, sysfs Linkdown
        assert fc.get("port_state") == "Linkdown", where
        assert fc.get("port_type") == "Unknown", where
        assert "LOOP UP detected" not in r.dmesg, where
        assert not r.remote_ports and not r.lio_sessions
        assert capture.frames(r.pcap) == []     # nothing on the wire
        errs = r.errors
        assert not errs, "level <= 3 qla2xxx messages:%s" % _fmt(errs)
        return
    assert fc.get("port_state") == "Online", where
    assert fc.get("port_type") == expect, where
    assert fc.get("speed") == "8 Gbit", where
    if expect == P2P:
        # N2N: our WWPN (21:00:00:24:..) is bigger than the partner's
        # (21:00:00:1b:..), so the driver takes 0x000001 (RIDA path,
        # contract section 3.1) and the partner is 0x000002
        assert fc.get("port_id") == "0x000001", where
    if mode == "initiator":
        rp = _partner_rports(r)
        assert len(rp) == 1 and rp[0].get("port_state") == "Online" \
            and rp[0].get("roles") == "FCP Initiator", r.remote_ports
        if expect == P2P:
            assert rp[0].get("port_id") == "0x000002", rp
    else:
        assert PARTNER_LIO in r.lio_sessions, r.lio_sessions
    bad = failure_lines(r.dmesg_raw, mode)
    assert not bad, "qla2xxx failure messages %s:%s" % (where, _fmt(bad))
    # the row's frames, as Wireshark reads them: the logins, no complaint
    fr = capture.frames(r.pcap)
    assert capture.problems(fr) == [], capture.problems(fr)[:5]
    kinds = capture.kind_counts(fr)
    assert kinds.get("ELS PLOGI") and kinds.get("ELS PRLI"), (where, kinds)


# ------------------------------------------------- d. run-time link events

RUNTIME_SCRIPT = r"""
modprobe qla2xxx
sleep 1
H=/sys/class/fc_host/$(qlaemu_port0_host)
rstates() { cat /sys/class/fc_remote_ports/*/port_state 2>/dev/null |
            tr '\n' ',' ; }
n=0
while [ $n -lt 100 ]; do
    [ "$(cat $H/port_state 2>/dev/null)" = Online ] &&
        rstates | grep -q Online && break
    n=$((n + 1)); sleep 0.2
done
qlaemu_kv before $H port_state port_type speed
qlaemu_mark ready
# port_state timeline, every 0.2 s: "uptime fc_host-state rport-states"
left=0; n=0
while [ $n -lt %(max)d ]; do
    st=$(cat $H/port_state 2>/dev/null); rs=$(rstates)
    echo "$(cut -d' ' -f1 /proc/uptime) $st ${rs:-none}" >> /tmp/timeline
    if [ "$st" != Online ] && [ $left = 0 ]; then
        left=1; qlaemu_mark left-online
    fi
    if [ $left = 1 ] && [ "$st" = Online ] && echo "$rs" | grep -q Online
    then
        qlaemu_mark back-online; break
    fi
    [ $left = 0 ] && [ $n -ge %(min)d ] && [ "$st" = Online ] &&
        echo "$rs" | grep -q Online && break
    n=$((n + 1)); sleep 0.2
done
sleep 1
qlaemu_section_file timeline /tmp/timeline
qlaemu_kv fc_host $H port_state port_type speed port_id
qlaemu_begin rports
for r in /sys/class/fc_remote_ports/rport-*; do
    [ -d "$r" ] || continue
    echo "${r##*/}|port_name=$(cat $r/port_name)|roles=$(cat $r/roles)\
|port_state=$(cat $r/port_state)"
done >"$QLAEMU_DATA"
qlaemu_end rports
qlaemu_section dmesg_raw dmesg -r
"""

TRACE_RE = re.compile(
    r"^\d+@(\d+\.\d+):qla2532_event_present port \d+ host_status event "
    r"0x([0-9a-f]+) mb0 0x([0-9a-f]+) mb1 0x([0-9a-f]+)", re.M)


def _events(stderr: str, since: float) -> list:
    """(host time, mb0) of the events the device presented after ``since``.

    ``since``: host wall-clock seconds (time.time()).  Only AENs (host
    status code 0x12) are returned, mb0 as int.
    """
    return [(float(t), int(mb0, 16)) for t, code, mb0, _ in
            TRACE_RE.findall(stderr)
            if float(t) >= since and int(code, 16) == 0x12]


def _after_mark(dmesg_raw: str, mark: str) -> str:
    i = dmesg_raw.find("qlaemu: mark %s" % mark)
    assert i >= 0, "mark %r not in dmesg" % mark
    return dmesg_raw[i:]


def _boot_runtime(name: str, controller, min_samples: int,
                  max_samples: int) -> tuple:
    adir = paths.ARTIFACTS_DIR / name
    adir.mkdir(parents=True, exist_ok=True)
    trace = ["-msg", "timestamp=on", "-trace", "qla2532_event_present"]
    dev = probe.device_args(device_opts="id=hba0")
    res = vm.run(RUNTIME_SCRIPT % {"min": min_samples, "max": max_samples},
                 device_args=dev + trace, timeout_s=150,
                 log_path=adir / "console.log", controller=controller)
    s = res.sections
    (adir / "dmesg-raw.txt").write_text(s.get("dmesg_raw", ""))
    assert res.controller_error is None, res.controller_error
    assert res.exit == "poweroff", (res.exit, res.console_log)
    return res, s, adir


@pytest.mark.guest
@pytest.mark.device
@pytest.mark.parametrize("event,aen", [("lip", 0x8010),
                                       ("lip-reset", 0x8013)],
                         ids=["lip", "lip-reset"])
def test_runtime_lip(guest_ready, event, aen):
    def controller(ctl):
        ctl.wait_mark("ready", 90)
        t = time.time()
        ctl.qmp("qom-set", path=HBA_PATH, property="link-event", value=event)
        return t

    res, s, adir = _boot_runtime("runtime-" + event, controller,
                                 min_samples=25, max_samples=150)
    assert probe.parse_kv(s["before"]).get("port_state") == "Online", s
    t_event = res.controller_result
    evs = [mb0 for _, mb0 in _events(res.stderr, t_event)]
    # the device presented the event and, because it presents one event at
    # a time and moves on only when the driver acknowledged it
    # (HCCRX_CLR_RISC_INT), LOOP UP + PORT UPDATE following it prove the
    # driver took it; the driver needs 0x8011 + 0x8014 to recover (contract
    # section 5)
    assert aen in evs, "0x%04x not presented after qom-set: %s" % (
        aen, [hex(e) for e in evs])
    tail = evs[evs.index(aen):]
    assert 0x8011 in tail and 0x8014 in tail[tail.index(0x8011):], \
        "no LOOP UP / PORT UPDATE after 0x%04x: %s" % (
            aen, [hex(e) for e in evs])
    after = _after_mark(s["dmesg_raw"], "ready")
    # the driver logged the new link-up (the LIP itself is ql_dbg only)
    assert "LOOP UP detected (8 Gbps)" in after, after[-2000:]
    fc = probe.parse_kv(s["fc_host"])
    assert fc.get("port_state") == "Online", s["timeline"]
    assert fc.get("port_type") == LOOP
    rp = probe.parse_rports(s["rports"])
    assert [p.get("port_state") for p in rp
            if p.get("port_name") == PARTNER_WWPN] == ["Online"], rp
    injected = ("LIP reset occurred",) if event == "lip-reset" else ()
    bad = failure_lines(s["dmesg_raw"], "initiator", injected)
    assert not bad, "qla2xxx failure messages (%s):%s" % (adir, _fmt(bad))


@pytest.mark.guest
@pytest.mark.device
def test_runtime_link_down_up(guest_ready):
    def controller(ctl):
        ctl.wait_mark("ready", 90)
        t = time.time()
        ctl.qmp("qom-set", path=HBA_PATH, property="link-event", value="down")
        ctl.wait_mark("left-online", 20)
        t_up = time.time()
        ctl.qmp("qom-set", path=HBA_PATH, property="link-event", value="up")
        ctl.wait_mark("back-online", 40)
        return t, t_up

    res, s, adir = _boot_runtime("runtime-down-up", controller,
                                 min_samples=150, max_samples=250)
    t_down, t_up = res.controller_result
    assert res.marks == ["ready", "left-online", "back-online"], res.marks
    timeline = s["timeline"].splitlines()
    states = [ln.split()[1] for ln in timeline]
    assert "Linkdown" in states, timeline
    assert states[-1] == "Online", timeline
    # contract section 7: Linkdown while the loop is down, then Unknown
    # (LOOP_UP after 0x8014, before READY) / Diagnostics (resync), Online
    seq = [x for i, x in enumerate(states) if i == 0 or states[i - 1] != x]
    assert re.fullmatch(r"(Online )?Linkdown( (Unknown|Diagnostics))* "
                        r"Online", " ".join(seq)), timeline
    down_evs = [mb0 for t, mb0 in _events(res.stderr, t_down) if t < t_up]
    assert 0x8012 in down_evs, [hex(e) for e in down_evs]
    up_evs = [mb0 for _, mb0 in _events(res.stderr, t_up)]
    assert 0x8011 in up_evs and 0x8014 in up_evs, [hex(e) for e in up_evs]
    after = _after_mark(s["dmesg_raw"], "ready")
    i = after.find("LOOP DOWN detected")
    assert i >= 0, "driver did not report LOOP DOWN:\n" + after[-2000:]
    assert "LOOP UP detected (8 Gbps)" in after[i:], after[-2000:]
    fc = probe.parse_kv(s["fc_host"])
    assert fc.get("port_state") == "Online"
    assert fc.get("port_type") == LOOP and fc.get("speed") == "8 Gbit"
    rp = probe.parse_rports(s["rports"])
    assert [p.get("port_state") for p in rp
            if p.get("port_name") == PARTNER_WWPN] == ["Online"], rp
    bad = failure_lines(s["dmesg_raw"], "initiator")
    assert not bad, "qla2xxx failure messages (%s):%s" % (adir, _fmt(bad))


@pytest.mark.parametrize("gbps,code", [(2, "2"), (4, "4")])
def test_link_speed_property(guest_ready, gbps, code):
    """link-speed is the speed the link comes up at: LOOP UP mb1
    (qla_isr.c MBA_LOOP_UP, PORT_SPEED_*) and fc_host speed follow it."""
    r = probe.probe("initiator", device_opts="link-speed=%d" % gbps,
                    run_name="link-speed-%d" % gbps)
    assert r.fc_host.get("port_state") == "Online", r.port_wait
    assert r.fc_host.get("speed") == "%s Gbit" % code, r.fc_host
    assert "LOOP UP detected (%s Gbps)" % code in r.dmesg, r.dmesg


def test_fc_host_statistics(guest_ready):
    """fc_host statistics come from MBC 0x6d GET LINK PRIVATE STATISTICS
    (qla_attr.c qla2x00_get_fc_host_stats, qla_mbx.c qla24xx_get_isp_stats):
    after bring-up one LIP, frames both ways, no link failure."""
    script = r"""
modprobe qla2xxx
i=0
H=$(qlaemu_port0_host)
while [ $i -lt 40 ]; do
    [ "$(cat /sys/class/fc_host/$H/port_state)" = Online ] && break
    i=$((i + 1)); sleep 0.25
done
S=/sys/class/fc_host/$H/statistics
qlaemu_kv stats $S lip_count tx_frames rx_frames link_failure_count
qlaemu_section dmesg_raw dmesg -r
"""
    r = vm.run(script, device_args=["-device", "qla2532,bus=rp0"],
               timeout_s=120)
    assert r.exit == "poweroff", r.console[-2000:]
    st = {}
    for line in r.sections.get("stats", "").splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            st[k] = int(v, 0)
    assert st.get("lip_count", 0) >= 1, st
    assert st.get("tx_frames", 0) > 0 and st.get("rx_frames", 0) > 0, st
    assert st.get("link_failure_count") == 0, st
    assert not failure_lines(r.sections.get("dmesg_raw", "")), \
        _fmt(failure_lines(r.sections.get("dmesg_raw", "")))
