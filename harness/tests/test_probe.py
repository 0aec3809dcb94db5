"""Probe tests.  Those marked ``device`` need the qla2532 device model and
fail until it exists in QEMU (expected); the rest are unit tests."""
import re
import struct
from pathlib import Path

import pytest

from qlaemu import capture, kmsg, probe

# ---------------------------------------------------------------- unit tests


def test_format_wwn():
    assert probe.format_wwn(probe.DEFAULT_WWPN) == "21:00:00:24:ff:00:00:01"
    assert probe.format_wwn(probe.DEFAULT_WWNN) == "20:00:00:24:ff:00:00:01"
    with pytest.raises(ValueError):
        probe.format_wwn(1 << 64)


def test_qla_warnings_filters_level_and_driver():
    raw = ("<4>[    1.0] qla2xxx [0000:01:00.0]-00fb:1: warn\n"
           "<6>[    1.1] qla2xxx [0000:01:00.0]-00fb:1: info\n"
           "<3>[    1.2] other: error\n"
           "<0>[    1.3] qla2xxx emerg\n"
           "<12>[    1.4] qla2xxx user facility warning\n")
    assert kmsg.qla_warnings(raw) == [
        "[    1.0] qla2xxx [0000:01:00.0]-00fb:1: warn",
        "[    1.3] qla2xxx emerg",
        "[    1.4] qla2xxx user facility warning"]


def test_device_args():
    assert probe.device_args() == [
        "-device", "qla2532,bus=rp0,wwpn=0x21000024ff000001,"
        "wwnn=0x20000024ff000001"]


def test_parse_ports():
    text = ("0000:01:00.0|host=host0|port_name=0x21000024ff000001|"
            "port_state=Online|active_mode=Target\n"
            "0000:01:00.1\n\n")
    assert probe.parse_ports(text) == [
        {"bdf": "0000:01:00.0", "host": "host0",
         "port_name": "0x21000024ff000001", "port_state": "Online",
         "active_mode": "Target"},
        {"bdf": "0000:01:00.1"}]


def test_probe_script_modes():
    wwn = "21:00:00:24:ff:00:00:01"
    mixed = probe.probe_script("mixed", probe.DEFAULT_WWPN)
    assert "qlini_mode=exclusive" in mixed and "tcm_qla2xxx" in mixed
    assert probe.lio_sessions_path(wwn) in mixed
    assert "qlini_mode=disabled" in probe.probe_script(
        "target", probe.DEFAULT_WWPN)
    with pytest.raises(ValueError):
        probe.probe_script("dual", probe.DEFAULT_WWPN)


# ------------------------------------------------------- tests on the device


def _ok(r):
    assert r.exit == "poweroff", (r.exit, r.qemu_stderr, r.console_log)
    assert r.bdf, "no 1077:2532 PCI function in the guest"


def _config(r):
    cfg = bytes.fromhex(r.pci["config"])
    assert len(cfg) == 4096, "PCIe config space must read 4096 bytes"
    return cfg


def _u16(b, o):
    return struct.unpack_from("<H", b, o)[0]


def _u32(b, o):
    return struct.unpack_from("<I", b, o)[0]


@pytest.mark.guest
@pytest.mark.device
def test_config_space_header(initiator_probe):
    r = initiator_probe
    _ok(r)
    c = _config(r)
    assert _u16(c, 0x00) == 0x1077
    assert _u16(c, 0x02) == 0x2532
    assert c[0x08] == 0x02, "revision"
    assert c[0x09] | c[0x0a] << 8 | c[0x0b] << 16 == 0x0c0400, "class"
    assert _u16(c, 0x2c) == 0x1077, "subsystem vendor"
    assert _u16(c, 0x2e) == 0x015d, "subsystem id"
    assert c[0x3d] == 1, "interrupt pin INTA"
    assert c[0x0e] == 0x80, "header type: multi-function (dual-port card)"
    assert _u16(c, 0x06) & 0x10, "status: capability list"
    assert _u32(c, 0x10) & 1 == 1, "BAR0 is I/O"
    assert _u32(c, 0x14) & 0xf == 0b0100, "BAR1 64-bit non-prefetch memory"
    assert _u32(c, 0x1c) & 0xf == 0b0100, "BAR3 64-bit non-prefetch memory"
    pci = r.pci
    assert (pci["vendor"], pci["device"], pci["subsystem_vendor"],
            pci["subsystem_device"], pci["revision"], pci["class"]) == (
        "0x1077", "0x2532", "0x1077", "0x015d", "0x02", "0x0c0400")


@pytest.mark.guest
@pytest.mark.device
def test_config_space_capabilities(initiator_probe):
    _ok(initiator_probe)
    c = _config(initiator_probe)
    assert c[0x34] == 0x44
    chain = []
    pos = c[0x34]
    while pos and len(chain) < 16:
        chain.append((pos, c[pos]))
        pos = c[pos + 1]
    assert chain == [(0x44, 0x01), (0x4c, 0x10), (0x88, 0x05),
                     (0x98, 0x03), (0xa0, 0x11)]
    assert _u16(c, 0xa0 + 2) & 0x7ff == 31, "MSI-X table size field"
    ext = []
    pos = 0x100
    while pos and len(ext) < 16:
        hdr = _u32(c, pos)
        ext.append((pos, hdr & 0xffff))
        pos = hdr >> 20
    # AER, then power budgeting past QEMU's 0x48-byte AER (qla2532.c)
    assert ext == [(0x100, 0x0001), (0x148, 0x0004)]


@pytest.mark.guest
@pytest.mark.device
def test_driver_bound_and_port_name(initiator_probe):
    r = initiator_probe
    _ok(r)
    assert r.driver_bound, r.driver
    assert r.fc_host.get("port_name") == "0x21000024ff000001"
    assert r.fc_host.get("node_name") == "0x20000024ff000001"


@pytest.mark.guest
@pytest.mark.device
def test_firmware_loaded_banner(initiator_probe):
    r = initiator_probe
    _ok(r)
    assert re.search(r"qla2xxx .*fw=8\.07\.00\b", r.dmesg), \
        "no 'fw=8.07.00' banner; see %s" % r.console_log


@pytest.mark.guest
@pytest.mark.device
def test_dmesg_kept_as_artifact(initiator_probe):
    r = initiator_probe
    _ok(r)
    d = Path(r.artifacts)
    assert (d / "console.log").stat().st_size > 0
    text = (d / "dmesg.txt").read_text()
    assert "qla2xxx" in text and text == r.dmesg


@pytest.mark.guest
@pytest.mark.device
def test_target_mode_lio_enabled(target_probe):
    r = target_probe
    _ok(r)
    assert r.driver_bound, r.driver
    assert "tpgt_1/enable=1" in r.setup, r.setup
    assert "rd_mcp_0/rd0" in r.setup, r.setup


@pytest.fixture(scope="module")
def mixed_probe(guest_ready):
    """Issue #12: the dual-port card with target mode on port 0 (LIO) and
    port 1 an initiator whose link has a simulated target."""
    return probe.probe(mode="mixed", run_name="pytest-probe-mixed",
                       device_opts="port1-partner=on")


@pytest.mark.guest
@pytest.mark.device
def test_dual_port_target_and_initiator(mixed_probe):
    """Both functions of the QLE2562 are bound and Online with their own
    names (port 1's NVRAM pair is port 0's plus one); port 0 runs target
    mode with the simulated initiator's LIO session, port 1 initiator mode
    with the simulated target as an Online FCP Target remote port, and the
    driver logs no failure."""
    r = mixed_probe
    _ok(r)
    assert [p["bdf"][-1] for p in r.ports] == ["0", "1"], r.ports
    p0, p1 = r.ports
    assert p0.get("port_name") == "0x21000024ff000001", p0
    assert p1.get("port_name") == "0x21000024ff000002", p1
    assert p1.get("node_name") == "0x20000024ff000002", p1
    assert (p0.get("port_state"), p1.get("port_state")) == (
        "Online", "Online"), r.ports
    assert p0.get("active_mode") == "Target", p0
    assert p1.get("active_mode") == "Initiator", p1
    assert r.lio_sessions == ["21:00:00:1b:32:aa:00:01"], r.lio_sessions
    h1 = p1["host"].replace("host", "rport-") + ":"
    targets = [rp for rp in r.remote_ports if rp["name"].startswith(h1)]
    assert [(rp.get("roles"), rp.get("port_state")) for rp in targets] == [
        ("FCP Target", "Online")], r.remote_ports
    assert r.errors == [], r.errors


@pytest.mark.guest
@pytest.mark.device
@pytest.mark.parametrize("mode", ["initiator", "target"])
def test_probe_capture_dissects(request, mode):
    """Every probe writes the link's frames to a pcap Wireshark reads
    without complaint: the logins in both directions, each accepted
    (docs/capture.md)."""
    r = request.getfixturevalue(mode + "_probe")
    _ok(r)
    assert r.pcap and Path(r.pcap).name == "link.pcap", r.pcap
    fr = capture.frames(r.pcap)
    assert capture.problems(fr) == []
    kinds = capture.kind_counts(fr)
    assert kinds.get("ELS PLOGI") and kinds.get("ELS PRLI"), kinds
    assert kinds.get("ELS LS_ACC", 0) >= kinds["ELS PLOGI"] \
        + kinds["ELS PRLI"], kinds
    # virtual time, in send order
    assert [f.t_ns for f in fr] == sorted(f.t_ns for f in fr)
