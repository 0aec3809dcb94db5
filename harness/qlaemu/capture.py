"""Captures of the FC link, read with Wireshark's ``tshark``.

The device writes every frame on its link to a pcap file (its ``capture``
property; hw/qla2532/fc-capture.c, docs/capture.md): link type
LINKTYPE_FC_2_WITH_FRAME_DELIMS (225), nanosecond virtual-time stamps.
This module reads such a file through tshark, so that what the harness
counts is what Wireshark dissected: :func:`frames` gives one
:class:`Frame` per record, :func:`kind_counts` counts them by kind, and
:func:`problems` lists what Wireshark found wrong (malformed frames,
expert errors and warnings, bad CRCs).
"""
from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from .evidence import ELS_NAMES

#: LINKTYPE_FC_2_WITH_FRAME_DELIMS (www.tcpdump.org/linktypes.html)
LINKTYPE = 225

#: (tshark field, Frame attribute), in the order tshark prints them.
_FIELDS = (
    ("frame.number", "number"), ("frame.time_epoch", "t"),
    ("fc.s_id", "s_id"), ("fc.d_id", "d_id"), ("fc.r_ctl", "r_ctl"),
    ("fc.type", "type"), ("fc.ox_id", "ox_id"), ("fc.rx_id", "rx_id"),
    ("fc.crc.status", "crc_status"), ("fcels.opcode", "els_opcode"),
    ("fcp.dl", "fcp_dl"), ("scsi_sbc.opcode", "scsi_opcode"),
    ("scsi.spc.opcode", "spc_opcode"),
    ("fcp.burstlen", "burst_len"), ("fcp.status", "scsi_status"),
    ("scsi.sns.key", "sense_key"), ("scsi.sns.asc", "asc"),
    ("scsi.sns.ascq", "ascq"), ("fc.bls_oxid", "bls_ox_id"),
    ("_ws.col.Protocol", "protocol"), ("_ws.col.Info", "info"),
    ("_ws.expert.severity", "expert"), ("_ws.malformed", "malformed"),
)

#: Wireshark's expert severities (epan/proto.h PI_*), by the number tshark
#: prints in ``_ws.expert.severity``.
SEVERITY = {0x200000: "chat", 0x400000: "note", 0x600000: "warning",
            0x800000: "error"}


class CaptureError(Exception):
    """tshark is missing or cannot read the capture (the message says
    which file and why)."""


@dataclass
class Frame:
    """One frame of a capture as tshark dissected it.

    ``t_ns``: the capture's time stamp (the device's virtual time, ns).
    ``s_id``/``d_id``: "00.00.01" form.  ``kind``: what Wireshark made of
    it -- "ELS PLOGI", "ELS LS_ACC", "BLS ABTS", "BLS BA_ACC", "FCP_CMND",
    "FCP_XFER_RDY", "FCP_DATA", "FCP_RSP", or "other R_CTL 0x.." when it
    recognised none of these.  Numbers tshark did not print are None.
    """
    number: int
    t_ns: int
    s_id: str
    d_id: str
    r_ctl: int | None
    type: int | None
    ox_id: int | None
    rx_id: int | None
    crc_ok: bool
    els_opcode: int | None
    scsi_opcode: int | None
    fcp_dl: int | None
    scsi_status: int | None
    sense: tuple | None
    protocol: str
    info: str
    expert: list
    malformed: bool

    @property
    def kind(self) -> str:
        """The frame's kind (see the class docstring)."""
        if self.els_opcode is not None:
            return "ELS " + ELS_NAMES.get(self.els_opcode,
                                          "0x%02x" % self.els_opcode)
        if self.type == 0x00 and self.r_ctl in (0x81, 0x84, 0x85):
            return "BLS " + {0x81: "ABTS", 0x84: "BA_ACC",
                             0x85: "BA_RJT"}[self.r_ctl]
        if self.type == 0x08:
            # the frames of a multi-frame sequence before its last are
            # "FCP (Fragmented)" (Wireshark reassembles them), type FCP
            return {0x06: "FCP_CMND", 0x05: "FCP_XFER_RDY",
                    0x01: "FCP_DATA", 0x07: "FCP_RSP"}.get(
                        self.r_ctl, "FCP R_CTL 0x%02x" % (self.r_ctl or 0))
        return "other R_CTL 0x%02x" % (self.r_ctl or 0)


def tshark() -> str:
    """The tshark binary.

    Raises:
        CaptureError: not installed (Debian package ``tshark``).
    """
    path = shutil.which("tshark")
    if not path:
        raise CaptureError("tshark is not installed (Debian package "
                           "tshark; ./qlaemu's set-up installs it)")
    return path


def _int(text: str):
    if not text:
        return None
    text = text.split(";")[0]
    return int(text, 0)


def frames(pcap) -> list[Frame]:
    """Every record of ``pcap`` as tshark dissects it.

    Raises:
        CaptureError: no tshark, a missing or unreadable file, or a file
            tshark cannot read (truncated, not a pcap) -- with tshark's own
            message.
    """
    pcap = Path(pcap)
    if not pcap.is_file():
        raise CaptureError("capture %s: no such file" % pcap)
    cmd = [tshark(), "-r", str(pcap), "-n", "-T", "fields",
           "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=;"]
    for name, _ in _FIELDS:
        cmd += ["-e", name]
    p = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    err = "\n".join(x for x in p.stderr.splitlines()
                    if "Running as user" not in x).strip()
    if p.returncode != 0 or err:
        raise CaptureError("capture %s: tshark: %s" % (
            pcap, err or "exit status %d" % p.returncode))
    out = []
    for line in p.stdout.splitlines():
        v = dict(zip((a for _, a in _FIELDS), line.split("\t")))
        key = _int(v.get("sense_key", ""))
        out.append(Frame(
            number=int(v["number"]),
            t_ns=int(Decimal(v["t"]) * 1_000_000_000),
            s_id=v.get("s_id", ""), d_id=v.get("d_id", ""),
            r_ctl=_int(v.get("r_ctl", "")), type=_int(v.get("type", "")),
            ox_id=_int(v.get("ox_id", "")), rx_id=_int(v.get("rx_id", "")),
            crc_ok=v.get("crc_status", "") == "1",
            els_opcode=_int(v.get("els_opcode", "")),
            # Wireshark names an opcode it does not know an SPC one
            scsi_opcode=_int(v.get("scsi_opcode", "")
                             or v.get("spc_opcode", "")),
            fcp_dl=_int(v.get("fcp_dl", "")),
            scsi_status=_int(v.get("scsi_status", "")),
            sense=None if key is None else (
                key, _int(v.get("asc", "")), _int(v.get("ascq", ""))),
            protocol=v.get("protocol", ""), info=v.get("info", "").strip(),
            expert=[SEVERITY.get(int(x, 0), x)
                    for x in v.get("expert", "").split(";") if x],
            malformed=bool(v.get("malformed", ""))))
    return out


def kind_counts(fr: list[Frame]) -> dict:
    """{kind: number of frames} (:attr:`Frame.kind`), sorted by kind."""
    return dict(sorted(Counter(f.kind for f in fr).items()))


def problems(fr: list[Frame]) -> list[str]:
    """What Wireshark found wrong, one line per frame: malformed, a CRC
    that is not good, expert entries of severity warning or error."""
    out = []
    for f in fr:
        bad = [x for x in f.expert if x in ("warning", "error")]
        if f.malformed or not f.crc_ok or bad:
            out.append("frame %d (%s, %s): %s" % (
                f.number, f.kind, f.info,
                ", ".join((["malformed"] if f.malformed else [])
                          + ([] if f.crc_ok else ["CRC not good"])
                          + ["expert %s" % x for x in bad])))
    return out


def copy(files, out) -> Path:
    """Write the captures ``files`` (in order; missing ones skipped) to
    ``out`` as one nanosecond pcap: a copy of one file, or their records
    one after the other (Wireshark's ``mergecap -a``).

    Raises:
        CaptureError: none of ``files`` exists, or mergecap failed.
    """
    files = [Path(f) for f in files if f and Path(f).is_file()]
    out = Path(out)
    if not files:
        raise CaptureError("no capture to write to %s (QEMU wrote none)"
                           % out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if len(files) == 1:
        shutil.copyfile(files[0], out)
        return out
    mergecap = shutil.which("mergecap")
    if not mergecap:
        raise CaptureError("mergecap is not installed (Debian package "
                           "wireshark-common)")
    p = subprocess.run([mergecap, "-a", "-F", "nsecpcap", "-w", str(out),
                        *map(str, files)], capture_output=True, text=True)
    if p.returncode != 0:
        raise CaptureError("mergecap -> %s: %s" % (out, p.stderr.strip()))
    return out


def conditions_path(pcap) -> Path:
    """The file next to a capture that says how it was made:
    ``CAPTURE.pcap.json``."""
    return Path(str(pcap) + ".json")


def write_conditions(pcap, device_opts: str, **facts) -> Path:
    """Record next to ``pcap`` the device properties its run had
    (``device_opts``, "k=v,...") and other ``facts`` (driver, command), so
    that a replay runs the device as the capture's run did."""
    path = conditions_path(pcap)
    path.write_text(json.dumps({"device_opts": device_opts, **facts},
                               indent=2) + "\n")
    return path


def read_conditions(pcap) -> dict:
    """The conditions recorded next to ``pcap`` ({} when there are none).

    Raises:
        CaptureError: the file exists but is not a JSON object.
    """
    path = conditions_path(pcap)
    if not path.exists():
        return {}
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise CaptureError("%s: %s" % (path, e)) from e
    if not isinstance(d, dict) or not isinstance(d.get("device_opts", ""),
                                                 str):
        raise CaptureError("%s: not an object with a device_opts string"
                           % path)
    return d
