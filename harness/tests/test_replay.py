"""Replay (docs/replay.md): the captures in traces/ replayed against their
own driver and against the other one, an altered capture, bad captures.

traces/race-stock.pcap is `./qlaemu race --pcap` with the stock 6.1
driver (FAIL: CTIO 0x29, LOGO, relogin), traces/race-fixed.pcap the same
with debian-6.1-src (the PRLI-wait patch; PASS), traces/basic.pcap
`./qlaemu scenario traces/basic.json --pcap` (writes, reads, an aborted
exchange, a CHECK CONDITION); each has its conditions beside it
(``*.pcap.json``).
"""
import concurrent.futures
import json
import struct
import zlib

import pytest

from qlaemu import capture, cli, paths, replay, verdict

TRACES = paths.REPO / "traces"
STOCK = TRACES / "race-stock.pcap"
FIXED = TRACES / "race-fixed.pcap"
BASIC = TRACES / "basic.pcap"
FIXED_DRIVER = "debian-6.1-src"


# ------------------------------------------------------------- pcap editing

def _records(path):
    """(file header, [(record header, data)]) of a pcap."""
    b = path.read_bytes()
    head, off, out = b[:24], 24, []
    while off < len(b):
        rh = b[off:off + 16]
        n = struct.unpack("<I", rh[8:12])[0]
        out.append((rh, b[off + 16:off + 16 + n]))
        off += 16 + n
    return head, out


def _write(path, head, recs):
    path.write_bytes(head + b"".join(
        rh[:8] + struct.pack("<II", len(d), len(d)) + d for rh, d in recs))
    return path


def _recrc(data):
    """A 225 record with its CRC made right again."""
    body = data[4:-8]
    return data[:-8] + struct.pack("<I", zlib.crc32(body)) + data[-4:]


def test_merge_opts():
    assert replay.merge_opts("a=1,b=2", "", "b=3,c=4", None) == \
        "a=1,b=3,c=4"


def test_traces_have_their_conditions():
    for t in (STOCK, FIXED, BASIC):
        cond = capture.read_conditions(t)
        assert "prli-complete-latency-us=" in cond["device_opts"], t
        assert capture.problems(capture.frames(t)) == [], t


# ------------------------------------------------------------- bad captures

def _bad(kind, tmp_path):
    head, recs = _records(FIXED)
    f = tmp_path / ("bad-%s.pcap" % kind)
    if kind == "truncated":
        f.write_bytes(FIXED.read_bytes()[:-10])
    elif kind == "link-type":
        _write(f, head[:20] + struct.pack("<I", 1), recs)      # Ethernet
    elif kind == "no-initiator":
        _write(f, head, [r for r in recs if r[1][4] in (0x22, 0x23)])
    elif kind == "oversize":
        # an analyzer's export: a snap length that lets the frame through
        rh, d = recs[-1]
        _write(f, head[:16] + struct.pack("<I", 65535) + head[20:],
               recs + [(rh, _recrc(d[:28] + bytes(2200) + d[-8:]))])
    elif kind == "bad-crc":
        rh, d = recs[4]
        _write(f, head, recs[:4] + [(rh, d[:-6] + b"\x00\x00" + d[-4:])]
               + recs[5:])
    return f


@pytest.mark.guest
@pytest.mark.parametrize("kind,why", [
    ("truncated", "truncated"), ("link-type", "link type 1"),
    ("no-initiator", "no FCP_CMND"), ("oversize", "2200 bytes"),
    ("bad-crc", "bad CRC")])
def test_bad_capture_is_inconclusive(guest_ready, tmp_path, kind, why):
    """A capture the device cannot replay: exit 125 with QEMU's own
    reason naming the file (the device refused it in realize; QEMU did not
    crash), and the guest never booted."""
    f = _bad(kind, tmp_path)
    out = tmp_path / "r.json"
    rc = cli.main(["replay", str(f), "--json", str(out)])
    r = json.loads(out.read_text())
    assert rc == 125, r["reasons"]
    assert r["verdict"] == verdict.INCONCLUSIVE
    assert r["guest_exit"] == "qemu-error", r
    reason = r["reasons"][0]
    assert reason.startswith("QEMU: ") and str(f) in reason \
        and why in reason, reason


# ------------------------------------------------------------- guest runs

def _replay(capture_file, driver=None, name="pytest-replay", **kw):
    return replay.run_replay(capture_file, driver=driver, run_name=name, **kw)


@pytest.mark.guest
@pytest.mark.device
@pytest.mark.parametrize("capture_file,driver", [
    (STOCK, None), (FIXED, FIXED_DRIVER), (BASIC, None)],
    ids=["stock", "fixed", "basic"])
def test_capture_against_its_own_driver(guest_ready, capture_file, driver):
    """Each trace replayed against the driver that made it: no
    divergence, every frame of the initiator sent, the target's answered
    (read data per exchange: length and CRC)."""
    r = _replay(capture_file, driver, "pytest-replay-own-%s"
                % capture_file.stem)
    assert r.verdict == verdict.PASS and r.exit_code == 0, r.reasons
    assert r.divergences == 0 and r.sent > 0 and r.matched > 0
    fr = capture.frames(capture_file)
    ini = next(f.s_id for f in fr if f.kind == "FCP_CMND")
    assert r.sent == sum(1 for f in fr if f.s_id == ini)
    assert r.frames == len(fr)


def _first_of(fr, kind):
    return next(f.number for f in fr if f.kind == kind)


@pytest.mark.guest
@pytest.mark.device
def test_stock_capture_against_fixed_driver(guest_ready):
    """The stock capture against the fixed driver diverges where the fix
    changes behaviour: the first command, whose CTIO completed 0x29 in the
    capture (no response; the ISP's LOGO came next), now gets its
    FCP_RSP."""
    r = _replay(STOCK, FIXED_DRIVER, "pytest-replay-stock-vs-fixed")
    assert r.verdict == verdict.FAIL and r.exit_code == 1, r.reasons
    fr = capture.frames(STOCK)
    cmnd = _first_of(fr, "FCP_CMND")
    assert r.first["kind"] == "unexpected", r.first
    assert r.first["got"].startswith("FCP_RSP status 0x00"), r.first
    assert r.first["frame"] == cmnd + 1, (r.first, cmnd)
    assert fr[cmnd].kind == "ELS LOGO"       # what the capture had there
    assert any(">" in x and "LOGO" in x for x in r.captured_around)


@pytest.mark.guest
@pytest.mark.device
def test_fixed_capture_against_stock_driver(guest_ready):
    """The fixed capture against the stock driver: the first command's
    FCP_RSP never comes (its CTIO completes 0x29); the ISP's LOGO comes
    instead."""
    r = _replay(FIXED, None, "pytest-replay-fixed-vs-stock")
    assert r.verdict == verdict.FAIL, r.reasons
    fr = capture.frames(FIXED)
    rsp = _first_of(fr, "FCP_RSP")
    assert r.first["frame"] == rsp, (r.first, rsp)
    assert r.first["kind"] == "unexpected" and "LOGO" in r.first["got"]
    assert r.counts.get("missing", 0) >= 1, r.counts


@pytest.mark.guest
@pytest.mark.device
def test_altered_response_is_caught(guest_ready, tmp_path):
    """A capture whose second FCP_RSP was edited to CHECK CONDITION (CRC
    fixed): the replay against the same driver reports exactly that
    frame, as an fcp-rsp divergence."""
    head, recs = _records(FIXED)
    rsps = [i for i, (_, d) in enumerate(recs) if d[4] == 0x07]
    i = rsps[1]
    rh, d = recs[i]
    d = bytearray(d)
    d[4 + 24 + 11] = 0x02                       # SCSI status
    recs[i] = (rh, _recrc(bytes(d)))
    f = _write(tmp_path / "altered.pcap", head, recs)
    capture.write_conditions(f, capture.read_conditions(FIXED)[
        "device_opts"])
    r = _replay(f, FIXED_DRIVER, "pytest-replay-altered")
    assert r.verdict == verdict.FAIL, r.reasons
    assert r.divergences == 1 and r.first["kind"] == "fcp-rsp", r.detail
    assert r.first["frame"] == i + 1
    assert "status 0x02" in r.first["expected"] \
        and "status 0x00" in r.first["got"]


@pytest.mark.guest
@pytest.mark.device
def test_replay_is_repeatable(guest_ready):
    """Five replays of the stock capture against the stock driver: no
    divergence, and the same frames on the live link in the same order
    (kind, S_ID, D_ID, OX_ID, RX_ID) every time."""
    def one(i):
        r = _replay(STOCK, None, "pytest-replay-rep-%d" % i)
        return r, [(f.kind, f.s_id, f.d_id, f.ox_id, f.rx_id)
                   for f in capture.frames(r.pcap)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(one, range(5)))
    for r, _ in runs:
        assert r.verdict == verdict.PASS, r.reasons
    seqs = [s for _, s in runs]
    assert all(s == seqs[0] for s in seqs[1:])
    assert len({(r.sent, r.matched) for r, _ in runs}) == 1


@pytest.mark.guest
@pytest.mark.device
def test_replay_on_link_objects(guest_ready):
    """The same replay with the link and the replayer as objects
    (-object fc-link, -object fc-replayer, -object fc-capture, -device
    qla2532,link=fc0): no divergence, the same frames sent and matched."""
    r = _replay(STOCK, None, "pytest-replay-objects", link_objects=True)
    assert r.verdict == verdict.PASS, r.reasons
    base = capture.frames(STOCK)
    assert r.frames == len(base) and r.sent > 0
    kinds = capture.kind_counts(capture.frames(r.pcap))
    assert kinds == capture.kind_counts(base), kinds
