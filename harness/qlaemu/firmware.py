"""Synthetic ``ql2500_fw.bin`` for the emulated ISP2532 (NO QLogic code).

The qla2xxx driver asks for ``ql2500_fw.bin`` with request_firmware() and
parses it in ``qla24xx_load_risc_blob()`` (drivers/scsi/qla2xxx/qla_init.c,
Linux 6.1).  The blob is a sequence of ``FA_RISC_CODE_SEGMENTS`` (= 2)
segments of big-endian 32-bit words.  For each segment the driver reads,
relative to the segment start:

    dword 2      RISC load address of the segment
    dword 3      segment length in dwords, header included
    dword 9      attributes (only looked at for the first segment, only used
                 on ISP27xx/28xx)

and then copies ``length`` dwords (header included) to RISC RAM with
MBC_LOAD_RAM_EXTENDED before moving on to the next segment.  Before that,
``qla24xx_risc_firmware_invalid()`` rejects the image if dwords 4..7 of the
*file* are all zero or all 0xFFFFFFFF; on a real image these hold the
firmware version (major, minor, subminor, attributes).

Our device model does not execute what is loaded; it only has to look like
a well-formed download, so the remaining words are an ASCII note and zero
padding.
"""
import struct

#: RISC load address of segment 1; the driver starts the firmware there.
SEGMENT1_ADDR = 0x00100000
#: RISC load address of segment 2.
SEGMENT2_ADDR = 0x00180000
#: Version words stored in dwords 4..7 of each segment (8.07.00, attrs 0).
FW_VERSION = (8, 7, 0, 0)
#: Segment lengths in dwords, header included.
SEGMENT1_DWORDS = 64
SEGMENT2_DWORDS = 32
#: Number of dwords in a segment header as the driver reads it (0..9).
HEADER_DWORDS = 10

NOTE = b"qla2532-emu synthetic firmware, no QLogic code"


def _segment(addr: int, ndwords: int, note: bytes) -> bytes:
    """Build one segment.

    Args:
        addr: RISC load address (32-bit).
        ndwords: total segment length in dwords, header included; must be
            >= HEADER_DWORDS + len(note)/4 rounded up.
        note: ASCII filler placed right after the header.

    Returns:
        ``ndwords * 4`` bytes, big-endian words.

    Raises:
        ValueError: if the note does not fit.
    """
    header = [0] * HEADER_DWORDS
    header[2] = addr
    header[3] = ndwords
    header[4:8] = FW_VERSION
    header[9] = 0  # attributes
    body = struct.pack(">%dI" % HEADER_DWORDS, *header)
    padded_note = note + b"\0" * (-len(note) % 4)
    if len(body) + len(padded_note) > ndwords * 4:
        raise ValueError("segment of %d dwords too small for note" % ndwords)
    body += padded_note
    return body + b"\0" * (ndwords * 4 - len(body))


def make_ql2500_fw() -> bytes:
    """Return the synthetic firmware image.

    Returns:
        ``(SEGMENT1_DWORDS + SEGMENT2_DWORDS) * 4`` bytes (384): segment 1
        loaded at SEGMENT1_ADDR, segment 2 at SEGMENT2_ADDR, both carrying
        version words FW_VERSION, so the driver's banner reads
        ``fw=8.07.00`` once the device model reports that version back.
    """
    return (_segment(SEGMENT1_ADDR, SEGMENT1_DWORDS, NOTE)
            + _segment(SEGMENT2_ADDR, SEGMENT2_DWORDS, NOTE))


def parse_segments(blob: bytes, segments: int = 2) -> list:
    """Walk ``blob`` the way qla24xx_load_risc_blob() does.

    Args:
        blob: firmware image bytes.
        segments: number of segments the driver loads (FA_RISC_CODE_SEGMENTS).

    Returns:
        list of dicts ``{offset (bytes), addr, dwords, version (4-tuple),
        attributes}``, one per segment.

    Raises:
        ValueError: if the image fails the driver's integrity check
            (version words all 0 / all 1s), a length is zero, or a segment
            runs past the end of the blob.
    """
    words = struct.unpack(">%dI" % (len(blob) // 4), blob[:len(blob) // 4 * 4])
    if len(words) < 8:
        raise ValueError("image shorter than 8 dwords")
    ver = words[4:8]
    if not any(ver) or all(w == 0xFFFFFFFF for w in ver):
        raise ValueError("driver would reject image: dwords 4..7 = %r"
                         % (ver,))
    out = []
    pos = 0
    for _ in range(segments):
        if pos + HEADER_DWORDS > len(words):
            raise ValueError("segment header at dword %d past end" % pos)
        length = words[pos + 3]
        if length == 0 or pos + length > len(words):
            raise ValueError("bad segment length %d at dword %d"
                             % (length, pos))
        out.append({"offset": pos * 4, "addr": words[pos + 2],
                    "dwords": length, "version": tuple(words[pos + 4:pos + 8]),
                    "attributes": words[pos + 9]})
        pos += length
    return out
