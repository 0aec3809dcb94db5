"""Probe: boot the guest with one emulated ISP2532 and report what Linux sees.

``probe()`` loads qla2xxx as initiator, or qla2xxx (qlini_mode=disabled) +
tcm_qla2xxx with a LIO ramdisk LUN as target, waits (bounded) for the FC
port to come Online and returns PCI identity and config space, driver
binding, fc_host / scsi_host attributes, the remote ports the FC transport
registered, in target mode the LIO sessions, qla2xxx warnings and the full
kernel log.  Console log, data channel and dmesg are kept under
``ARTIFACTS_DIR/<run name>/``.
"""
import re
import time
from pathlib import Path

from . import guest
from . import paths

DEFAULT_WWPN = 0x21000024ff000001
DEFAULT_WWNN = 0x20000024ff000001
#: How long the guest waits for fc_host port_state == Online, seconds.
PORT_WAIT_S = 20
#: Once Online: how long the guest waits for a remote port in state Online
#: (initiator) or a LIO session (target), seconds.
PEER_WAIT_S = 6
#: Ramdisk backstore size in 4 KiB pages (32 MiB).
RD_PAGES = 8192
MODES = ("initiator", "target")

FC_HOST_ATTRS = ("port_name", "node_name", "port_state", "speed",
                 "port_type", "port_id", "supported_speeds", "fabric_name",
                 "supported_classes", "symbolic_name")
SCSI_HOST_ATTRS = ("proc_name", "model_name", "model_desc", "fw_version",
                   "serial_num", "driver_version", "isp_name", "isp_id",
                   "pci_info", "link_state", "optrom_fw_version")
PCI_ATTRS = ("vendor", "device", "subsystem_vendor", "subsystem_device",
             "revision", "class")
RPORT_ATTRS = ("port_name", "port_id", "roles", "port_state")


def format_wwn(wwn: int) -> str:
    """64-bit WWN -> '21:00:00:24:ff:00:00:01' (tcm_qla2xxx / LIO form).

    Raises:
        ValueError: if ``wwn`` does not fit in 64 bits.
    """
    if not 0 <= wwn < 1 << 64:
        raise ValueError("WWN out of range: %r" % wwn)
    return ":".join("%02x" % b for b in wwn.to_bytes(8, "big"))


def target_setup_script(wwpn: int = DEFAULT_WWPN,
                        rd_pages: int = RD_PAGES) -> str:
    """Guest shell text that brings the LIO target up (busybox sh).

    Loads ``qla2xxx qlini_mode=disabled`` and ``tcm_qla2xxx``, creates an
    rd_mcp ramdisk of ``rd_pages`` 4 KiB pages as LUN 0 of
    ``qla2xxx/<wwpn>/tpgt_1`` in demo mode (generate_node_acls=1,
    demo_mode_write_protect=0, demo_mode_login_only=0,
    cache_dynamic_acls=1) and enables the TPG.  Its output goes to
    ``/tmp/setup.log`` (which ends with the LUN link and ``tpgt_1/enable``).
    Used by probe (target mode) and scenario.

    Args:
        wwpn: the HBA's port name (names the LIO target).
        rd_pages: ramdisk size in 4 KiB pages.
    """
    return r"""
T=/sys/kernel/config/target
W=$T/qla2xxx/%(wwn)s
{
set -x
modprobe qla2xxx qlini_mode=disabled
modprobe tcm_qla2xxx
mkdir -p $T/core/rd_mcp_0/rd0
echo rd_pages=%(pages)d > $T/core/rd_mcp_0/rd0/control
echo 1 > $T/core/rd_mcp_0/rd0/enable
mkdir -p $W/tpgt_1/lun/lun_0
ln -s $T/core/rd_mcp_0/rd0 $W/tpgt_1/lun/lun_0/rd0
echo 1 > $W/tpgt_1/attrib/generate_node_acls
echo 0 > $W/tpgt_1/attrib/demo_mode_write_protect
# tcm_qla2xxx defaults to demo_mode_login_only=1: a dynamic ACL then maps
# no LUN and every command reaches LIO's read-only virtual LUN 0
# (docs/driver-target-contract.md §6.1)
echo 0 > $W/tpgt_1/attrib/demo_mode_login_only
echo 1 > $W/tpgt_1/attrib/cache_dynamic_acls
echo 1 > $W/tpgt_1/enable
set +x
} > /tmp/setup.log 2>&1
echo "lun_0 -> $(readlink $W/tpgt_1/lun/lun_0/rd0)" >> /tmp/setup.log
echo "tpgt_1/enable=$(cat $W/tpgt_1/enable 2>&1)" >> /tmp/setup.log
""" % {"wwn": format_wwn(wwpn), "pages": rd_pages}


def _script(mode: str, wwpn: int, port_wait_s: int = PORT_WAIT_S,
            peer_wait_s: int = PEER_WAIT_S) -> str:
    """The scenario run in the guest (busybox sh).

    Args:
        mode: 'initiator' or 'target'.
        wwpn: the HBA's port name (names the LIO target in target mode).
        port_wait_s: seconds to poll fc_host port_state for Online.
        peer_wait_s: once Online, seconds to poll for an Online remote port
            (initiator) / a LIO dynamic session (target).
    Raises:
        ValueError: unknown mode.
    """
    if mode not in MODES:
        raise ValueError("mode must be one of %s, not %r" % (MODES, mode))
    lio = ""
    if mode == "target":
        lio = target_setup_script(wwpn)
    else:
        lio = "modprobe qla2xxx > /tmp/setup.log 2>&1\n"
    return r"""
BDF=
for d in /sys/bus/pci/devices/*; do
    if [ "$(cat $d/vendor)" = 0x1077 ] && [ "$(cat $d/device)" = 0x2532 ]; then
        BDF=${d##*/}; break
    fi
done
qlaemu_section bdf echo "$BDF"
if [ -n "$BDF" ]; then
    P=/sys/bus/pci/devices/$BDF
    qlaemu_kv pci_ids $P vendor device subsystem_vendor subsystem_device \
        revision class
    qlaemu_section pci_config sh -c "od -An -tx1 -v $P/config | tr -d ' \n'"
fi
%(setup)s
qlaemu_section_file setup /tmp/setup.log
if [ -n "$BDF" ]; then
    qlaemu_section driver readlink /sys/bus/pci/devices/$BDF/driver
fi
i=0; states=
while :; do
    st=$(cat /sys/class/fc_host/host*/port_state 2>/dev/null | head -n 1)
    states="$states $i:${st:-none}"
    [ "$st" = Online ] && break
    [ $i -ge %(wait)d ] && break
    # no fc_host at all a few seconds after modprobe: the probe failed
    [ -z "$st" ] && [ $i -ge 3 ] && break
    i=$((i + 1)); sleep 1
done
qlaemu_section port_wait echo "$states"
SESS=%(sess)s
# Online: give the partner's login (rport / LIO session) a bounded time
j=0
while [ "$st" = Online ] && [ $j -lt %(peer)d ]; do
    if [ -n "$SESS" ]; then
        # a configfs attribute's size is never 0: read what it holds
        [ -n "$(tr -d '\000\n' < "$SESS" 2>/dev/null)" ] && break
    else
        grep -qx Online /sys/class/fc_remote_ports/*/port_state \
            2>/dev/null && break
    fi
    j=$((j + 1)); sleep 1
done
qlaemu_section peer_wait echo "$j"
H=$(ls -d /sys/class/fc_host/host* 2>/dev/null | head -n 1)
if [ -n "$H" ]; then
    qlaemu_kv fc_host $H %(fc)s
    qlaemu_kv scsi_host /sys/class/scsi_host/${H##*/} %(scsi)s
fi
qlaemu_begin rports
for r in /sys/class/fc_remote_ports/rport-*; do
    [ -d "$r" ] || continue
    line=${r##*/}
    for a in %(rport)s; do line="$line|$a=$(cat $r/$a 2>/dev/null)"; done
    echo "$line"
done >"$QLAEMU_DATA"
qlaemu_end rports
if [ -n "$SESS" ]; then
    qlaemu_section_file lio_sessions "$SESS"
fi
qlaemu_section dmesg_raw dmesg -r
qlaemu_section dmesg dmesg
""" % {"setup": lio, "wait": port_wait_s, "fc": " ".join(FC_HOST_ATTRS),
       "scsi": " ".join(SCSI_HOST_ATTRS), "peer": peer_wait_s,
       "rport": " ".join(RPORT_ATTRS),
       "sess": ("/sys/kernel/config/target/qla2xxx/%s/tpgt_1/"
                "dynamic_sessions" % format_wwn(wwpn))
       if mode == "target" else "''"}


def _kv(text: str) -> dict:
    """'key=value' lines -> dict (values keep inner spaces, not the EOL)."""
    out = {}
    for line in text.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            out[k] = v
    return out


def parse_rports(text: str) -> list:
    """Lines ``rport-H:B-N|attr=value|...`` -> list of dicts.

    Each dict has ``name`` (the sysfs directory name) and the attributes of
    :data:`RPORT_ATTRS` that were present (str values as sysfs prints them,
    e.g. roles ``"FCP Initiator"``).
    """
    out = []
    for line in text.splitlines():
        if not line.startswith("rport-"):
            continue
        parts = line.split("|")
        d = {"name": parts[0]}
        for p in parts[1:]:
            if "=" in p:
                k, v = p.split("=", 1)
                d[k] = v
        out.append(d)
    return out


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


def normalize_opts(device_opts: str) -> str:
    """Extra device properties -> ``",k=v,k2=v2"`` (or ``""``).

    Accepts ``"k=v,k2=v2"`` with or without a leading comma.

    Raises:
        ValueError: an item is not ``key=value``, or sets bus/wwpn/wwnn
            (given by their own arguments).
    """
    items = [i for i in device_opts.split(",") if i.strip()]
    for i in items:
        key, eq, _ = i.partition("=")
        if not eq or not key.strip():
            raise ValueError("device option %r is not key=value" % i)
        if key.strip() in ("bus", "wwpn", "wwnn"):
            raise ValueError("device option %r: use the %s argument"
                             % (i, key.strip()))
    return "".join("," + i.strip() for i in items)


def device_args(wwpn: int = DEFAULT_WWPN, wwnn: int = DEFAULT_WWNN,
                bus: str = "rp0", device_opts: str = "") -> list:
    """QEMU arguments adding one ISP2532 behind root port ``bus``.

    Args:
        wwpn, wwnn: 64-bit names.
        bus: PCIe root port id.
        device_opts: extra ``key=value`` properties, comma separated, e.g.
            ``"conn-option=1,partner-conn-option=3"`` (see normalize_opts).
    Returns:
        ``["-device", "qla2532,bus=...,wwpn=0x...,wwnn=0x..."]``.
    Raises:
        ValueError: malformed device_opts.
    """
    return ["-device", "qla2532,bus=%s,wwpn=0x%016x,wwnn=0x%016x%s"
            % (bus, wwpn, wwnn, normalize_opts(device_opts))]


def probe(mode: str = "initiator", wwpn: int = DEFAULT_WWPN,
          wwnn: int = DEFAULT_WWNN, timeout_s: float = 180,
          accel: str = "tcg", run_name: str | None = None,
          device_opts: str = "", port_wait_s: int = PORT_WAIT_S,
          peer_wait_s: int = PEER_WAIT_S) -> dict:
    """Boot the guest with the device and report what Linux sees.

    Args:
        mode: 'initiator' or 'target'.
        wwpn, wwnn: 64-bit port / node names given to the device.
        timeout_s: hard limit for the whole guest run, seconds.
        accel: 'tcg' or 'kvm'.
        run_name: artifact directory name; default probe-<mode>-<stamp>.
        device_opts: extra ``key=value,...`` qla2532 device properties
            (e.g. ``"conn-option=0,partner-role=target"``).
        port_wait_s: how long the guest polls port_state for Online, s.
        peer_wait_s: once Online, how long it waits for an Online remote
            port (initiator) or a LIO session (target), s.

    Returns:
        dict with keys mode, exit, ok, duration_s, console_log, artifacts,
        bdf, pci {vendor, device, subsystem_vendor, subsystem_device,
        revision, class, config (hex str; 4096 bytes for PCIe), bdf},
        driver_bound (bool), driver, fc_host {attr: sysfs text, including
        port_id e.g. "0x000001"}, scsi_host {attr: text}, remote_ports
        (list of dicts name, port_name, port_id, roles, port_state from
        /sys/class/fc_remote_ports/*), lio_sessions (target mode: list of
        the initiator names in tpgt_1/dynamic_sessions; [] in initiator
        mode), port_wait (str "i:state ..."), setup (str), warnings (list
        of str, qla2xxx lines at level <= 4), errors (list of str, level
        <= 3: what qla2xxx itself calls warn/fatal), dmesg (str),
        dmesg_raw (str, ``dmesg -r``), device_opts (str), script_rc.
        ``ok`` is True when the guest powered off normally, qla2xxx is bound
        and the port is Online.

    Raises:
        ValueError: bad mode, WWN or device_opts.
        guest.GuestError / build.SetupError: image or QEMU cannot be made.
    """
    dargs = device_args(wwpn, wwnn, device_opts=device_opts)
    script = _script(mode, wwpn, port_wait_s, peer_wait_s)
    name = run_name or "probe-%s-%s" % (mode, time.strftime("%Y%m%d-%H%M%S"))
    adir = paths.ARTIFACTS_DIR / name
    adir.mkdir(parents=True, exist_ok=True)
    res = guest.run(script, device_args=dargs,
                    timeout_s=timeout_s, accel=accel,
                    log_path=adir / "console.log")
    s = res.sections
    bdf = s.get("bdf", "").strip()
    pci = _kv(s.get("pci_ids", ""))
    pci["config"] = s.get("pci_config", "").strip()
    pci["bdf"] = bdf
    driver = s.get("driver", "").strip()
    dmesg = s.get("dmesg", "")
    (adir / "dmesg.txt").write_text(dmesg)
    (adir / "dmesg-raw.txt").write_text(s.get("dmesg_raw", ""))
    fc_host = _kv(s.get("fc_host", ""))
    result = {
        "mode": mode,
        "exit": res.exit,
        "duration_s": round(res.duration_s, 2),
        "script_rc": res.script_rc,
        "console_log": str(res.console_log),
        "artifacts": str(adir),
        "bdf": bdf,
        "pci": pci,
        "driver": driver,
        "driver_bound": driver.rstrip("/").split("/")[-1] == "qla2xxx",
        "fc_host": fc_host,
        "scsi_host": _kv(s.get("scsi_host", "")),
        "remote_ports": parse_rports(s.get("rports", "")),
        # configfs dynamic_sessions ends with a NUL byte
        "lio_sessions": [x.strip() for x in s.get(
            "lio_sessions", "").replace("\0", "\n").splitlines()
            if x.strip()],
        "device_opts": normalize_opts(device_opts).lstrip(","),
        "port_wait": s.get("port_wait", "").strip(),
        "setup": s.get("setup", ""),
        "warnings": qla_warnings(s.get("dmesg_raw", "")),
        "errors": qla_warnings(s.get("dmesg_raw", ""), max_level=3),
        "dmesg": dmesg,
        "dmesg_raw": s.get("dmesg_raw", ""),
        "qemu_stderr": res.stderr,
    }
    result["ok"] = (res.exit == "poweroff" and result["driver_bound"]
                    and fc_host.get("port_state") == "Online")
    return result


def summary(r: dict) -> str:
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
