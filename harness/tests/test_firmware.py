"""Layout of the synthetic ql2500_fw.bin, checked the way qla2xxx parses it
(qla24xx_risc_firmware_invalid + qla24xx_load_risc_blob, Linux 6.1)."""
import struct

import pytest

from qlaemu import firmware

FA_RISC_CODE_SEGMENTS = 2


def driver_walk(blob: bytes):
    """Independent re-implementation of the driver's walk.

    Returns list of (offset_dwords, risc_addr, risc_size, attr)."""
    assert len(blob) % 4 == 0, "image must be whole dwords"
    words = struct.unpack(">%dI" % (len(blob) // 4), blob)
    d = words[4:8]
    # qla24xx_risc_firmware_invalid()
    assert d[0] | d[1] | d[2] | d[3], "dwords 4..7 all zero: driver rejects"
    assert (~d[0] | ~d[1] | ~d[2] | ~d[3]) & 0xFFFFFFFF, \
        "dwords 4..7 all ones: driver rejects"
    segs = []
    pos = 0
    for _ in range(FA_RISC_CODE_SEGMENTS):
        assert pos + 10 <= len(words), "segment header past end of image"
        risc_addr, risc_size = words[pos + 2], words[pos + 3]
        assert risc_size > 0
        assert pos + risc_size <= len(words), "segment runs past the end"
        segs.append((pos, risc_addr, risc_size, words[pos + 9]))
        pos += risc_size
    return segs, pos, words


def test_two_segments_cover_the_image():
    segs, end, words = driver_walk(firmware.make_ql2500_fw())
    assert len(segs) == 2
    assert end == len(words), "trailing bytes the driver never loads"


def test_load_addresses_and_attributes():
    segs, _, _ = driver_walk(firmware.make_ql2500_fw())
    (o1, a1, n1, attr1), (o2, a2, n2, _) = segs
    assert o1 == 0
    assert a1 == 0x00100000, "driver starts the firmware at segment 1 addr"
    assert a2 == firmware.SEGMENT2_ADDR != 0
    assert a1 + n1 <= a2 or a2 + n2 <= a1, "segments overlap in RISC RAM"
    assert attr1 == 0


def test_version_words_in_both_segments():
    blob = firmware.make_ql2500_fw()
    segs, _, words = driver_walk(blob)
    for off, _, _, _ in segs:
        assert words[off + 4:off + 8] == (8, 7, 0, 0)


def test_no_qlogic_code_just_a_note():
    blob = firmware.make_ql2500_fw()
    assert b"qla2532-emu synthetic firmware, no QLogic code" in blob
    assert firmware.make_ql2500_fw() == blob, "must be deterministic"


def test_parse_segments_matches_driver_walk():
    blob = firmware.make_ql2500_fw()
    segs, _, _ = driver_walk(blob)
    mine = firmware.parse_segments(blob)
    assert [(s["offset"] // 4, s["addr"], s["dwords"], s["attributes"])
            for s in mine] == segs


@pytest.mark.parametrize("fill", [0, 0xFFFFFFFF])
def test_parse_segments_rejects_what_the_driver_rejects(fill):
    words = list(struct.unpack(">96I", firmware.make_ql2500_fw()))
    words[4:8] = [fill] * 4
    with pytest.raises(ValueError):
        firmware.parse_segments(struct.pack(">96I", *words))
