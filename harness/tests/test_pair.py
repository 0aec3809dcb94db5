"""Issue #13: a real initiator -- stock qla2xxx -- against the target
(qlaemu.pair, hw/qla2532/isp-ini.c), judged by sg3_utils, fio and
libiscsi's iscsi-test-cu, on both links: ``cable`` (one guest, the card's
port 1 cabled to port 0) and ``remote`` (a target guest and an initiator
guest, two QEMUs joined by fc-remote, qlaemu.linked).

Unit tests first (the parsers and the verdict rule, on text the tools
print), then one guest run of the whole pair per link:

a. the LUN appears on the initiator as /dev/sdX with LIO's identity, the
   ramdisk's capacity and VPD 0x83 naming the target port's WWPN;
b. fio verify (crc32c) of 64 MiB: 0 errors, every byte written and read;
c. iscsi-test-cu's SCSI family over SG_IO: no failure but those
   stacks.NOT_APPLICABLE explains, each failure and skip listed with its
   reason, JUnit with one case per test;
d. neither port's qla2xxx logs a failure;
e. (remote) the target guest served to the end, LIO had the initiator's
   session, and the two links agreed (no frame lost, no address
   disagreement: the QEMUs' reports).
With QLAEMU_SCST_TREE, the remote pair also runs with SCST's qla2x00t as
the target (skipped, saying so, without it).
"""
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from qlaemu import (linked, modbuild, pair, pairiscsi, pairlip, profiles,
                    report, stacks, tools, verdict)
from qlaemu.results import PairResult

SUITE_TEXT = """\
Suite: Inquiry
  Test: Standard ...passed
  Test: EVPD ...    [SKIPPED] page 0x89 not supported
passed
Suite: Verify10
  Test: Mismatch ...    [FAILED] VERIFY10 successful but should have failed
FAILED
    1. test_verify10_mismatch.c:80  - CU_ASSERT_EQUAL(ret,0)
  Test: Simple ...    [FAILED] something else broke
FAILED
Run Summary:    Type  Total    Ran Passed Failed Inactive
rc=0
"""


def test_parse_suite_lists_every_test_with_its_reasons():
    s = tools.parse_suite(SUITE_TEXT)
    assert [(t["suite"], t["test"], t["result"]) for t in s["tests"]] == [
        ("Inquiry", "Standard", "passed"), ("Inquiry", "EVPD", "skipped"),
        ("Verify10", "Mismatch", "failed"), ("Verify10", "Simple", "failed")]
    assert s["tests"][1]["reasons"] == ["SKIPPED page 0x89 not supported"]
    assert (s["passed"], s["failed"], s["skipped"], s["rc"]) == (1, 2, 1, 0)


def _result(**kw):
    r = PairResult(link="cable", exit="poweroff", verdict="",
                   target_wwpn=0x21000024ff000001, disk="sda",
                   sg={"inq": {"vendor": "LIO-ORG", "rc": 0},
                       "readcap": {"blocks": pair.RD_PAGES * 8,
                                   "block_bytes": 512},
                       "vpd_di": {"target_port_names":
                                  ["naa.21000024ff000001"]},
                       "luns": {"rc": 0}, "turs": {"rc": 0}},
                   fio={"error": 0})
    for k, v in kw.items():
        setattr(r, k, v)
    return r


def test_judge_passes_only_what_holds():
    assert pair.judge(_result()) == (verdict.PASS, [])
    tests = tools.parse_suite(SUITE_TEXT)["tests"]
    tests[2]["not_applicable"] = \
        stacks.NOT_APPLICABLE["lio"]["Verify10.Mismatch"]
    v, why = pair.judge(_result(tests=tests))
    assert v == verdict.FAIL and len(why) == 1 and "Simple" in why[0]
    v, why = pair.judge(_result(fio={"error": 5}))
    assert v == verdict.FAIL and "fio" in why[0]
    bad = _result()
    bad.sg["vpd_di"] = {"target_port_names": ["naa.21000024ff000002"]}
    assert pair.judge(bad)[0] == verdict.FAIL
    assert pair.judge(_result(initiator_errors=["qla2xxx x"]))[0] == \
        verdict.FAIL


def test_judge_expects_the_target_stacks_identity():
    """SCST: vendor SCST_FIO and the relative target port 1 in VPD 0x83
    (scst_vdisk.c names the port by that alone); LIO's identity is not
    SCST's."""
    scst = _result(target_stack="scst")
    scst.sg["inq"]["vendor"] = "SCST_FIO"
    scst.sg["vpd_di"] = {"target_port_names": [], "relative_ports": [1]}
    assert pair.judge(scst) == (verdict.PASS, [])
    scst.sg["vpd_di"]["relative_ports"] = []
    assert pair.judge(scst)[0] == verdict.FAIL
    assert pair.judge(_result(target_stack="scst"))[0] == verdict.FAIL
    assert "LIO-ORG" in pair.judge(_result(target_stack="scst"))[1][0]
    assert pair.judge(_result(disk=""))[0] == verdict.INCONCLUSIVE


def test_parsers_read_the_tools_output():
    assert tools.parse_readcap(
        "   Last LBA=196607 (0x2ffff), Number of logical blocks=196608\n"
        "   Logical block length=512 bytes\nrc=0\n") == {
            "rc": 0, "blocks": 196608, "block_bytes": 512}
    di = tools.parse_vpd_di("  Target port:\n    designator type: SCSI "
                            "name string,  code set: UTF-8\n      SCSI name"
                            " string:\n      naa.21000024ff000001,t,0x0001"
                            "\nrc=0\n")
    assert di["target_port_names"] == ["naa.21000024ff000001"]
    assert tools.parse_fio("not json") == {"error": None, "parsed": False}


def test_bad_arguments_are_refused_with_the_cause():
    with pytest.raises(ValueError, match="link"):
        pair.run_pair(link="socket")
    with pytest.raises(ValueError, match="fio_mib"):
        pair.run_pair(fio_mib=1000)
    with pytest.raises(ValueError, match="suite"):
        pair.run_pair(suites=("SCSI; reboot",))
    with pytest.raises(ValueError, match="initiator_opts need link"):
        pair.run_pair(initiator_opts=("ini-write-underrun=short",))
    with pytest.raises(ValueError, match="key=value"):
        pair.run_pair(link="remote", target_opts=("a=1,drive=x",))


LIP_OK = "wait=2 state=Online disk=yes\n1024+0 records in\nsame\n"


def test_lip_step_is_judged_from_both_sides():
    """The race with a real initiator: passes only with the port Online,
    the disk there and the same, no read error, no I/O failure in the
    initiator's kernel since the LIP and no CTIO PORT LOGGED OUT on the
    target's card."""
    ok = pairlip.parse_lip(LIP_OK)
    assert ok == {"wait_s": 2, "state": "Online", "disk": True,
                  "same": True, "read_errors": []}
    assert pairlip.judge(ok, [], {"0x01": 40}) == []
    lost = pairlip.parse_lip("wait=30 state=Blocked disk=no\n"
                             "dd: error reading '/dev/sda': Input/output "
                             "error\n")
    why = pairlip.judge(lost, [], {})
    assert len(why) == 3 and "Blocked" in why[0] and "lost the LUN" in \
        why[1] and "Input/output" in why[2]
    dmesg = ("<6>[ 9.1] qla2xxx [0000:01:00.0]-500a:0: LOOP UP detected\n"
             "<3>[ 9.5] I/O error, dev sda, sector 0 op 0x0:(READ)\n")
    fails = pairlip.kernel_failures(dmesg)
    assert len(fails) == 1 and "I/O error" in fails[0]
    assert "1 I/O failure" in pairlip.judge(ok, fails, {})[0]
    why = pairlip.judge(ok, [], pairlip.ctio_status(
        {"counters": {"ctio_status": {"0x01": 3, "0x29": 2}}}))
    assert why == ["the target's card completed 2 CTIO(s) PORT LOGGED OUT "
                   "(0x29)"]
    # how far after the PRLI's LS_ACC the first command came
    ev = [{"event": "els-received", "els": 0x03, "reply": False, "t_ns": 1},
          {"event": "els-sent", "els": 0x02, "reply": True, "t_ns": 2},
          {"event": "els-received", "els": 0x20, "reply": False, "t_ns": 3},
          {"event": "els-sent", "els": 0x02, "reply": True, "t_ns": 1000},
          {"event": "atio", "t_ns": 501000}]
    assert pairlip.prli_to_first_command_us({"events": ev}) == 500.0
    assert pairlip.prli_to_first_command_us({"events": ev[:2]}) is None
    # in the pair's verdict
    assert pair.judge(_result(lip=LIP_OK.strip(), lip_view=ok)) == \
        (verdict.PASS, [])
    assert pair.judge(_result(lip="wait=30", lip_view=lost))[0] == \
        verdict.FAIL


def test_fc_and_iscsi_runs_are_compared_test_by_test(tmp_path):
    fc = tools.parse_suite(SUITE_TEXT)["tests"]
    isc = [dict(t) for t in fc]
    isc[2] = dict(isc[2], result="passed", reasons=[])
    del isc[3]
    d = pairiscsi.compare(fc, isc)
    assert [(x["test"], x["fc"], x["iscsi"]) for x in d] == [
        ("Mismatch", "failed", "passed"), ("Simple", "failed", "-")]
    assert d[0]["fc_reasons"] and d[0]["iscsi_reasons"] == []
    assert pairiscsi.compare(fc, fc) == []
    srv = pairiscsi.net_args(tmp_path / "e.sock", True)
    cli = pairiscsi.net_args(tmp_path / "e.sock", False)
    assert "server=on" in srv[1] and "server=off" in cli[1]
    assert srv[3] != cli[3]                 # each NIC its own MAC
    with pytest.raises(ValueError, match="iscsi needs link 'remote'"):
        pair.run_pair(iscsi=True)


def test_linked_args_join_the_two_links(tmp_path):
    """The server listens, the client connects and retries; each side
    has its link, the fc-remote on it, and its own capture if asked."""
    sock = tmp_path / "fc.sock"
    srv = linked.link_args(sock, True)
    cli = linked.link_args(sock, False, tmp_path / "a,b.pcap")
    assert "socket,id=fcr,path=%s,server=on,wait=off" % sock in srv
    assert "socket,id=fcr,path=%s,reconnect=1" % sock in cli
    for args in (srv, cli):
        assert "fc-link,id=fc0" in args
        assert "fc-remote,id=r0,link=fc0,chardev=fcr" in args
    assert not any("fc-capture" in a for a in srv)
    assert "fc-capture,id=cap0,link=fc0,file=%s/a,,b.pcap" % tmp_path in cli


@pytest.fixture(scope="module", params=pair.LINKS)
def pair_run(request, guest_ready):
    return pair.run_pair(link=request.param,
                         run_name="pytest-pair-%s" % request.param)


@pytest.mark.guest
@pytest.mark.device
def test_pair_lun_and_sg3_utils(pair_run):
    """a. the LUN and what sg3_utils says of it."""
    r = pair_run
    assert r.disk and r.sg_device, (r.exit, r.lun_wait, r.console_log)
    assert r.sg["inq"]["vendor"] == "LIO-ORG", r.sg["inq"]
    assert r.sg["readcap"]["blocks"] == pair.RD_PAGES * 8, r.sg["readcap"]
    assert r.sg["readcap"]["block_bytes"] == 512
    assert r.sg["vpd_di"]["target_port_names"] == ["naa.21000024ff000001"]
    assert r.sg["luns"]["luns"] == ["0000000000000000"], r.sg["luns"]
    assert r.sg["turs"]["rc"] == 0


@pytest.mark.guest
@pytest.mark.device
def test_pair_fio_verify(pair_run):
    """b. fio's crc32c verify over 64 MiB."""
    f = pair_run.fio
    assert f.get("parsed") and f["error"] == 0, f
    assert f["write"]["bytes"] == pair.FIO_MIB * 2**20
    assert f["read"]["bytes"] == pair.FIO_MIB * 2**20


@pytest.mark.guest
@pytest.mark.device
def test_pair_iscsi_test_cu(pair_run, record_property):
    """c. the SCSI family: passes, and every failure explained."""
    r = pair_run
    c = r.suite_counts
    record_property("iscsi_test_cu", c)
    assert c["passed"] >= 80, c
    unexplained = [t for t in r.failed_tests if not t.get("not_applicable")]
    assert unexplained == [], unexplained
    assert all(t["reasons"] for t in r.tests if t["result"] == "skipped")
    root = ET.fromstring(report.pair_junit_xml(r))
    cases = root.findall(".//testcase")
    assert len(cases) == len(r.tests) + 2
    assert root.find(".//testsuite").get("failures") == "0"
    assert r.verdict == verdict.PASS, r.reasons


@pytest.mark.guest
@pytest.mark.device
def test_pair_no_driver_failures(pair_run):
    """d. zero qla2xxx failure messages on either port."""
    assert pair_run.initiator_errors == []
    assert pair_run.target_errors == []


@pytest.mark.guest
@pytest.mark.device
def test_pair_remote_target_served_to_the_end(pair_run):
    """e. the two-QEMU link: the target guest reported after the
    initiator's run and powered off; LIO had the initiator's session."""
    r = pair_run
    if r.link != "remote":
        pytest.skip("link %s has one guest" % r.link)
    assert r.target_exit == "poweroff", r.target_console_log
    assert r.target_setup_failure is None
    assert r.target_sessions == ["21:00:00:24:ff:00:00:02"], \
        r.target_sessions


@pytest.fixture(scope="module")
def scst_pair_run(guest_ready):
    tree = os.environ.get("QLAEMU_SCST_TREE")
    if not tree:
        pytest.skip("QLAEMU_SCST_TREE is not set: no SCST checkout to build "
                    "the target's scst-legacy from (the project ships no "
                    "SCST code)")
    prof = profiles.load_profile("scst-legacy",
                                 driver_tree=Path(tree).resolve())
    modbuild.ensure_modules(prof)
    return pair.run_pair(link="remote", profile=prof,
                         run_name="pytest-pair-scst-legacy")


@pytest.mark.guest
@pytest.mark.device
def test_pair_scst_legacy_target(scst_pair_run):
    """The field's target -- SCST's legacy qla2x00t with a vdisk_fileio
    LUN -- against the stock initiator in the other QEMU: SCST's identity,
    fio verify, the SCSI family with only SCST's own answers explained,
    no initiator failure, clean links."""
    r = scst_pair_run
    assert r.driver == "scst-legacy" and r.target_stack == "scst"
    assert r.sg["inq"]["vendor"] == "SCST_FIO", r.sg["inq"]
    assert r.sg["vpd_di"]["relative_ports"] == [1]
    assert r.fio["error"] == 0 and \
        r.fio["read"]["bytes"] == pair.FIO_MIB * 2**20
    unexplained = [t for t in r.failed_tests if not t.get("not_applicable")]
    assert unexplained == [], unexplained
    assert r.suite_counts["passed"] >= 100, r.suite_counts
    assert r.initiator_errors == []
    assert r.target_exit == "poweroff"
    assert r.verdict == verdict.PASS, r.reasons
