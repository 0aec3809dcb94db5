"""Evidence from the guest's kernel log: the QLogic driver's own
warnings and failures, SCST's split records joined, and the lines a
verdict shows.

qla2xxx's ``ql_log()`` prints ql_log_info with pr_warn (level 4),
ql_log_warn with pr_err (3) and ql_log_fatal with pr_crit (2)
(qla_dbg.c): level 3 and below are its real failures.
"""
import re

#: dmesg lines worth showing as a race's evidence.
DMESG_RE = re.compile(r"qla2xxx|tcm_qla2xxx|qla_target|TARGET_CORE|"
                      r"qla2x00t|qla2xxx_scst|\bscst\b|dev_vdisk|"
                      r"\*\*\*ERROR|"
                      r"target_core|ABORT_TASK|Kernel panic|BUG:|Oops|"
                      r"WARNING:|Call Trace|blocked for more than|"
                      r"sysrq|Unable to handle")


def qla_warnings(dmesg_raw: str, max_level: int = 4) -> list:
    """Kernel messages at level <= ``max_level`` mentioning qla2xxx.

    Note: qla2xxx's ql_log() prints ql_log_info with pr_warn (level 4),
    ql_log_warn with pr_err (3) and ql_log_fatal with pr_crit (2)
    (qla_dbg.c), so level 4 includes the driver's informational lines such
    as its version banner; ``max_level=3`` gives its real warnings.

    Args:
        dmesg_raw: output of ``dmesg -r`` (lines ``<N>[  t] text``, N may
            include facility bits; level = N & 7).
        max_level: 0..7, syslog level threshold (4 = KERN_WARNING).

    Returns:
        list of the matching lines without the ``<N>`` prefix.
    """
    out = []
    for line in dmesg_raw.splitlines():
        m = re.match(r"^<(\d+)>(.*)$", line)
        if m and int(m.group(1)) & 7 <= max_level \
                and DRIVER_WORD_RE.search(m.group(2)):
            out.append(m.group(2))
    return out


#: A ql_log header printed as a record of its own: SCST's legacy
#: qla2xxx_scst prints "qla2xxx [pci]-id:host: " and then the text with a
#: second printk without KERN_CONT (its qla_dbg.c ql_log), so the kernel
#: stores two records.
_SPLIT_HEADER_RE = re.compile(
    r"^(?P<pre>(?:<\d+>)?(?:\[\s*\d+\.\d+\]\s*)?)"
    r"(?P<hdr>qla2xxx \[[^\]]+\]-[0-9a-f]+(?::\d+)?: ?)$")
_RECORD_PREFIX_RE = re.compile(r"^(?:<\d+>)?(?:\[\s*\d+\.\d+\]\s*)?")


def join_split_records(dmesg: str) -> str:
    """``dmesg`` (or ``dmesg -r``) text with each split ql_log message
    joined into one line: the header's record (and its level) followed by
    the text of the next record.  Other lines are unchanged."""
    lines = dmesg.splitlines()
    out = []
    i = 0
    while i < len(lines):
        m = _SPLIT_HEADER_RE.match(lines[i])
        if m and i + 1 < len(lines) and \
                not _SPLIT_HEADER_RE.match(lines[i + 1]):
            text = _RECORD_PREFIX_RE.sub("", lines[i + 1], count=1)
            out.append(lines[i].rstrip() + " " + text)
            i += 2
            continue
        out.append(lines[i])
        i += 1
    return "\n".join(out) + ("\n" if dmesg.endswith("\n") else "")


#: Names that mark a kernel message as the QLogic driver's: Linux's
#: qla2xxx (ql_log's QL_MSGHDR, qla_dbg.h), SCST's qla2xxx_scst (whose
#: ql_log prints "qla2xxx" too), its target parts qla2x00t / qla2x00tgt
#: (messages "qla2x00t(N): ...") and SCST's own failure marker
#: "***ERROR***" (scst_debug.h PRINT_ERROR).
DRIVER_WORD_RE = re.compile(r"qla2xxx|qla2x00t|\*\*\*ERROR\*\*\*")
#: The start of a line that is the driver's own (after the timestamp).
DRIVER_LINE_RE = re.compile(
    r"^(\[[^\]]*\]\s*)?(qla2xxx|qla2xxx_scst|qla2x00t|qla2x00tgt|scst|"
    r"dev_vdisk)\b|\*\*\*ERROR\*\*\*")


def kernel_errors(dmesg_raw: str, max_level: int = 3) -> list:
    """Every kernel message of ``dmesg -r`` text at level <= ``max_level``
    (default 3: KERN_ERR and worse), without the ``<N>``."""
    out = []
    for line in dmesg_raw.splitlines():
        m = re.match(r"^<(\d+)>(.*)$", line)
        if m and int(m.group(1)) & 7 <= max_level:
            out.append(m.group(2))
    return out


def driver_errors(dmesg_raw: str, max_level: int = 3) -> list:
    """The QLogic driver's own messages at level <= ``max_level``.

    Unlike :func:`qla_warnings`, only lines whose text starts
    with the driver's name (``qla2xxx``, ql_log's prefix; SCST's
    ``qla2xxx_scst``, ``qla2x00t``, ``scst``, ``dev_vdisk``) or that carry
    SCST's ``***ERROR***`` marker count (:data:`DRIVER_LINE_RE`): LIO names the
    fabric in its own messages, e.g. the pr_err "ABORT_TASK: Found
    referenced qla2xxx task_tag: 21" that every ABTS produces.

    Args:
        dmesg_raw: ``dmesg -r`` output.
        max_level: syslog level threshold (3: ql_log_warn and worse).

    Returns:
        the matching lines without the ``<N>`` prefix.
    """
    return [line for line in qla_warnings(dmesg_raw, max_level)
            if DRIVER_LINE_RE.search(line)
            and not INFORMATIONAL_RE.search(line)]


#: ql_log message IDs that a driver logs at ql_log_warn (KERN_ERR) although
#: they report success, so they are no failure: SCST's legacy qla2xxx_scst
#: logs link-up as ql_log_warn 0x505f "Link is operational" (its
#: qla_isr.c qla2x00_async_event; Linux logs the same at ql_log_info).
INFORMATIONAL_RE = re.compile(r"qla2xxx \[[^\]]+\]-505f:\d+: Link is "
                              r"operational")


def relevant_dmesg(dmesg: str, limit: int = 200) -> list:
    """The kernel log lines that matter for the race (driver, LIO, oops)."""
    out = [ln for ln in dmesg.splitlines()
           if DMESG_RE.search(ln) and "qlaemu: mark" not in ln]
    return out[:limit]
