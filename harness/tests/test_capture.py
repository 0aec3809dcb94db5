"""Captures (docs/capture.md): reading them with tshark, finding what
Wireshark calls wrong, joining them, and the pictures made from them.

The device's own captures are checked by the guest tests of
test_scenario.py and test_race.py; here the reader is checked on small
hand-made files (the record layout of LINKTYPE_FC_2_WITH_FRAME_DELIMS), so
that a reader that accepted anything would fail.
"""
import struct
import zlib

import pytest

from qlaemu import capture, pictures, results

SOF_I3, EOF_T = 0xbcb55656, 0xbc957575


def _hdr(r_ctl, d_id, s_id, type_, f_ctl, ox_id, rx_id):
    return (bytes([r_ctl]) + d_id.to_bytes(3, "big") + b"\0"
            + s_id.to_bytes(3, "big") + bytes([type_])
            + f_ctl.to_bytes(3, "big") + bytes(4)
            + struct.pack(">HHI", ox_id, rx_id, 0))


def _record(hdr, payload, crc=None):
    body = hdr + payload
    crc = zlib.crc32(body) if crc is None else crc
    return (struct.pack(">I", SOF_I3) + body + struct.pack("<I", crc)
            + struct.pack(">I", EOF_T))


def _pcap(path, records, linktype=225):
    out = struct.pack("<IHHiIII", 0xa1b23c4d, 2, 4, 0, 0, 65535, linktype)
    for i, r in enumerate(records):
        out += struct.pack("<IIII", 1, 1000 * i, len(r), len(r)) + r
    path.write_bytes(out)
    return path


def _plogi_exchange(bad_crc=False):
    plogi = _record(_hdr(0x22, 0x000001, 0x000002, 0x01, 0x290000, 0x10,
                         0xffff), bytes([3, 0, 0, 0]) + bytes(112))
    acc = _record(_hdr(0x23, 0x000002, 0x000001, 0x01, 0x990000, 0x10,
                       0x20), bytes([2, 0, 0, 0]) + bytes(112),
                  crc=0xdeadbeef if bad_crc else None)
    inquiry = bytes(12) + bytes([0x12, 0, 0, 0, 36, 0]) + bytes(10) \
        + struct.pack(">I", 36)
    cmnd = _record(_hdr(0x06, 0x000001, 0x000002, 0x08, 0x290000, 0x11,
                        0xffff), inquiry)
    return [plogi, acc, cmnd]


def test_frames_as_wireshark_dissects_them(tmp_path):
    fr = capture.frames(_pcap(tmp_path / "a.pcap", _plogi_exchange()))
    assert [f.kind for f in fr] == ["ELS PLOGI", "ELS LS_ACC", "FCP_CMND"]
    assert [f.t_ns for f in fr] == [1_000_000_000, 1_000_001_000,
                                    1_000_002_000]
    assert fr[0].s_id == "00.00.02" and fr[0].ox_id == 0x10
    assert fr[2].scsi_opcode == 0x12 and fr[2].fcp_dl == 36
    assert capture.kind_counts(fr) == {"ELS LS_ACC": 1, "ELS PLOGI": 1,
                                       "FCP_CMND": 1}
    assert capture.problems(fr) == []


def test_bad_crc_is_a_problem(tmp_path):
    fr = capture.frames(_pcap(tmp_path / "a.pcap",
                              _plogi_exchange(bad_crc=True)))
    probs = capture.problems(fr)
    assert len(probs) == 1 and "frame 2" in probs[0] \
        and "CRC not good" in probs[0], probs


@pytest.mark.parametrize("what", ["truncated", "not a pcap", "missing"])
def test_unreadable_capture_is_a_clear_error(tmp_path, what):
    f = _pcap(tmp_path / "a.pcap", _plogi_exchange())
    if what == "truncated":
        f.write_bytes(f.read_bytes()[:-20])
    elif what == "not a pcap":
        f.write_text("hello\n" * 20)
    else:
        f.unlink()
    with pytest.raises(capture.CaptureError, match=str(f)):
        capture.frames(f)


def test_copy_joins_captures_in_order(tmp_path):
    a = _pcap(tmp_path / "a.pcap", _plogi_exchange()[:2])
    b = _pcap(tmp_path / "b.pcap", _plogi_exchange()[2:])
    out = capture.copy([a, None, tmp_path / "missing.pcap", b],
                       tmp_path / "out" / "all.pcap")
    assert [f.kind for f in capture.frames(out)] == [
        "ELS PLOGI", "ELS LS_ACC", "FCP_CMND"]
    assert capture.copy([a], tmp_path / "one.pcap").read_bytes() == \
        a.read_bytes()
    with pytest.raises(capture.CaptureError, match="no capture"):
        capture.copy([None], tmp_path / "none.pcap")


def test_ladder_rows_and_svg(tmp_path):
    """The ladder puts frames between initiator and ISP, firmware events
    between ISP and driver, in time order from the first PLOGI; a CTIO
    that did not complete 0x01 is marked."""
    fr = capture.frames(_pcap(tmp_path / "a.pcap", _plogi_exchange()))
    t = fr[2].t_ns
    events = [
        {"source": "isp", "event": "els-sent", "d_id": 2, "t_ns": 0},
        {"source": "isp", "event": "atio", "opcode": 0x12, "exchange": 1,
         "login_state": 5, "t_ns": t + 1000},
        {"source": "isp", "event": "ctio", "flags": 0x8002, "exchange": 1,
         "t_ns": t + 2000},
        {"source": "isp", "event": "ctio-done", "status": 0x29,
         "exchange": 1, "t_ns": t + 3000},
        {"source": "isp", "event": "login-state", "port_id": 2, "from": 5,
         "to": 6, "t_ns": t + 4000}]
    rs = pictures.rows(fr, events)
    assert [(r.src, r.dst) for r in rs] == [
        ("initiator", "isp"), ("isp", "initiator"), ("initiator", "isp"),
        ("isp", "driver"), ("driver", "isp"), ("isp", "driver"),
        ("isp", None)]
    assert rs[5].bad and "0x29" in rs[5].label
    assert rs[6].label.endswith("PRLI pending -> PRLI complete")
    svg = pictures.draw(rs, tmp_path / "ladder.svg", "t")
    text = svg.read_text()
    assert text.startswith("<?xml") and "CTIO done status 0x29" in text


def test_heatmap_svg(tmp_path):
    s = results.SweepResult(
        latencies=[0, 5000], delays=[100, 9000], driver={"name": "x"},
        points=[results.SweepPoint(0, 100, "PASS"),
                results.SweepPoint(5000, 100, "FAIL",
                                   ctio_status={"0x29": 7})])
    path, err = pictures.try_draw(pictures.heatmap, s, tmp_path / "h.svg")
    assert err is None
    text = open(path).read()
    assert "<svg" in text and ">7<" in text
    path, err = pictures.try_draw(pictures.ladder, tmp_path / "none.pcap",
                                  [], tmp_path / "l.svg")
    assert path is None and "CaptureError" in err
