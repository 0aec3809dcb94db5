"""Probe: boot the guest with one emulated ISP2532 and report what Linux sees.

``probe()`` loads qla2xxx as initiator, or qla2xxx (qlini_mode=disabled) +
tcm_qla2xxx with a LIO ramdisk LUN as target, or -- mode ``mixed`` --
qlini_mode=exclusive with LIO's target on port 0 only, so that port 1 of
the dual-port card stays an initiator.  It waits (bounded)
for port 0 to come Online and returns PCI identity and config space, driver
binding, port 0's fc_host / scsi_host attributes, every port of the card
(``ports``), the remote ports the FC transport registered, in target mode
the LIO sessions, qla2xxx warnings and the full kernel log.  Console log,
data channel and dmesg are kept under
``ARTIFACTS_DIR/<run name>/``.
"""
import time

from . import driver, image, kmsg, paths, vm
from .results import ProbeResult

DEFAULT_WWPN = 0x21000024ff000001
DEFAULT_WWNN = 0x20000024ff000001
#: How long the guest waits for fc_host port_state == Online, seconds.
PORT_WAIT_S = 20
#: Once Online: how long the guest waits for a remote port in state Online
#: (initiator) or a LIO session (target), seconds.
PEER_WAIT_S = 6
#: Ramdisk backstore size in 4 KiB pages (32 MiB).
RD_PAGES = 8192
MODES = ("initiator", "target", "mixed")
#: What ``mixed`` loads: qlini_mode=exclusive, where a port is an
#: initiator until its TPG is enabled (qla_target.c qlini_mode; the
#: default "enabled" never allows target mode), so port 1 stays one.
MIXED_LOAD = "modprobe qla2xxx qlini_mode=exclusive\nmodprobe tcm_qla2xxx\n"
#: The link capture in a run's artifacts (docs/capture.md).
CAPTURE_NAME = "link.pcap"

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


def lio_sessions_path(wwn: str) -> str:
    """LIO's dynamic_sessions file of the target port ``wwn``
    ('21:00:...'): the initiators logged in to its TPG."""
    return "/sys/kernel/config/target/qla2xxx/%s/tpgt_1/dynamic_sessions" \
        % wwn


def session_names(text: str) -> list:
    """dynamic_sessions content -> initiator names (configfs ends it with
    a NUL byte)."""
    return [x.strip() for x in text.replace("\0", "\n").splitlines()
            if x.strip()]


def probe_script(mode: str, wwpn: int, port_wait_s: int = PORT_WAIT_S,
                 peer_wait_s: int = PEER_WAIT_S) -> str:
    """The guest's /scenario.sh of a probe (harness/guest/probe.sh).

    Args:
        mode: 'initiator', 'target' or 'mixed' (target on port 0 only).
        wwpn: port 0's port name (names the LIO target).
        port_wait_s: seconds to poll fc_host port_state for Online.
        peer_wait_s: once Online, seconds to poll for an Online remote port
            (initiator) / a LIO dynamic session (target).

    Raises:
        ValueError: unknown mode.
    """
    if mode not in MODES:
        raise ValueError("mode must be one of %s, not %r" % (MODES, mode))
    wwn = format_wwn(wwpn)
    functions = ""
    if mode == "target":
        functions = driver.target_functions(None, wwn)
    elif mode == "mixed":
        functions = driver.setup_functions(MIXED_LOAD, driver.LIO_CONFIGURE)
    return image.script("probe", {
        "MODE": mode, "WWN": wwn, "RD_PAGES": RD_PAGES,
        "PORT_WAIT_S": port_wait_s, "PEER_WAIT_S": peer_wait_s,
        "SESS": lio_sessions_path(wwn) if mode != "initiator" else "",
        "PCI_ATTRS": " ".join(PCI_ATTRS),
        "FC_HOST_ATTRS": " ".join(FC_HOST_ATTRS),
        "SCSI_HOST_ATTRS": " ".join(SCSI_HOST_ATTRS),
        "RPORT_ATTRS": " ".join(RPORT_ATTRS)}, functions)


def parse_kv(text: str) -> dict:
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
    return [_pipe_record(line, "name") for line in text.splitlines()
            if line.startswith("rport-")]


def parse_ports(text: str) -> list:
    """Lines ``BDF|host=hostN|attr=value|...`` (probe.sh's ``ports``
    section, one per ISP2532 function) -> list of dicts with ``bdf`` and
    the attributes present: ``host``, the fc_host attributes of
    :data:`FC_HOST_ATTRS`, ``active_mode`` and ``link_state`` (scsi_host);
    a function the driver did not bind has only ``bdf``."""
    return [_pipe_record(line.strip(), "bdf") for line in text.splitlines()
            if line.strip()]


def _pipe_record(line: str, first: str) -> dict:
    """``first-value|k=v|k2=v2`` -> {first: first-value, k: v, k2: v2}
    (items without "=" are skipped; a value keeps any "=" after the
    first)."""
    parts = line.split("|")
    d = {first: parts[0]}
    for p in parts[1:]:
        if "=" in p:
            k, v = p.split("=", 1)
            d[k] = v
    return d


def normalize_opts(device_opts: str) -> str:
    """Extra device properties -> ``",k=v,k2=v2"`` (or ``""``).

    Accepts ``"k=v,k2=v2"`` with or without a leading comma.

    Raises:
        ValueError: an item is not ``key=value``, or sets bus/wwpn/wwnn
            (given by their own arguments).
    """
    items = []
    for key, value in split_opts(device_opts):
        key = key.strip()
        if not key or value is None:
            raise ValueError("device option %r is not key=value" % key)
        if key in ("bus", "wwpn", "wwnn", "capture"):
            raise ValueError("device option %r: use the %s argument"
                             % ("%s=%s" % (key, value),
                                "--pcap" if key == "capture" else key))
        items.append("%s=%s" % (key, value))
    return "".join("," + i for i in items)


def qemu_opt_escape(value) -> str:
    """``value`` as one QEMU option value: commas doubled."""
    return str(value).replace(",", ",,")


def device_args(wwpn: int = DEFAULT_WWPN, wwnn: int = DEFAULT_WWNN,
                bus: str = "rp0", device_opts: str = "",
                capture=None) -> list:
    """QEMU arguments adding one ISP2532 behind root port ``bus``.

    Args:
        wwpn, wwnn: 64-bit names.
        bus: PCIe root port id.
        device_opts: extra ``key=value`` properties, comma separated, e.g.
            ``"conn-option=1,partner-conn-option=3"`` (see normalize_opts).
        capture: the pcap file of the link's frames (device property
            ``capture``, docs/capture.md), or None for none.
    Returns:
        ``["-device", "qla2532,bus=...,wwpn=0x...,wwnn=0x..."]``.
    Raises:
        ValueError: malformed device_opts.
    """
    cap = ",capture=" + qemu_opt_escape(capture) if capture else ""
    return ["-device", "qla2532,bus=%s,wwpn=0x%016x,wwnn=0x%016x%s%s"
            % (bus, wwpn, wwnn, normalize_opts(device_opts), cap)]


#: The object form (docs/link.md): device properties that belong to the
#: link or its peers -> (object, property).  partner-* go to the
#: fc-initiator or, with replay=, the fc-replayer.
OBJECT_FORM = {
    "link-init-us": ("link", "init-us"),
    "frame-latency-ns": ("link", "frame-latency-ns"),
    "partner-wwpn": ("peer", "wwpn"), "partner-wwnn": ("peer", "wwnn"),
    "partner-conn-option": ("peer", "conn-option"),
    "partner-hard-loop-id": ("initiator", "hard-loop-id"),
    "partner-role": ("initiator", "role"),
    "partner-login-delay-us": ("initiator", "login-delay-us"),
    "scenario": ("initiator", "scenario"),
    "replay": ("replayer", "file"),
    "replay-initiator": ("replayer", "initiator"),
    "replay-scale-pct": ("replayer", "scale-pct"),
}


def split_opts(opts: str) -> list:
    """``"k=v,k2=v2"`` (QEMU escaping: ",," is a comma in a value) ->
    [(k, v), ...], values still escaped; v is None for an item without
    "="."""
    items, cur, i = [], "", 0
    while i < len(opts):
        if opts[i] == ",":
            if opts[i + 1:i + 2] == ",":
                cur += ",,"
                i += 2
                continue
            items.append(cur)
            cur = ""
        else:
            cur += opts[i]
        i += 1
    items.append(cur)
    return [tuple(x.split("=", 1)) if "=" in x else (x, None)
            for x in items if x]


def object_form_args(wwpn: int = DEFAULT_WWPN, wwnn: int = DEFAULT_WWNN,
                     bus: str = "rp0", device_opts: str = "",
                     capture=None) -> list:
    """The configuration of :func:`device_args` in the object form: the
    link and its peers as objects (``-object fc-link,id=fc0``, an
    ``fc-initiator`` -- or an ``fc-replayer`` when ``replay=`` is given,
    none with ``partner=off`` --, an ``fc-capture``) and ``-device
    qla2532,...,link=fc0`` (hw/qla2532/fc-objects.h, docs/link.md).

    Raises:
        ValueError: malformed device_opts.
    """
    normalize_opts(device_opts)
    objs = {"link": [], "initiator": [], "replayer": []}
    dev = []
    partner = True
    for k, v in split_opts(device_opts):
        where = OBJECT_FORM.get(k)
        if k == "partner":
            partner = v not in ("off", "false", "no", "0")
        elif where is None:
            dev.append("%s=%s" % (k, v))
        elif where[0] == "peer":
            objs["initiator"].append("%s=%s" % (where[1], v))
            objs["replayer"].append("%s=%s" % (where[1], v))
        else:
            objs[where[0]].append("%s=%s" % (where[1], v))
    replay = any(p.startswith("file=") for p in objs["replayer"])
    args = ["-object", ",".join(["fc-link", "id=fc0"] + objs["link"])]
    if partner and replay:
        args += ["-object", ",".join(["fc-replayer", "id=peer0", "link=fc0"]
                                     + objs["replayer"])]
    elif partner:
        args += ["-object", ",".join(["fc-initiator", "id=peer0",
                                      "link=fc0"] + objs["initiator"])]
    if capture:
        args += ["-object", "fc-capture,id=cap0,link=fc0,file="
                 + qemu_opt_escape(capture)]
    return args + ["-device", "qla2532,bus=%s,wwpn=0x%016x,wwnn=0x%016x,"
                   "link=fc0%s" % (bus, wwpn, wwnn,
                                   "".join("," + x for x in dev))]


def probe(mode: str = "initiator", wwpn: int = DEFAULT_WWPN,
          wwnn: int = DEFAULT_WWNN, timeout_s: float = 180,
          accel: str = "tcg", run_name: str | None = None,
          device_opts: str = "", port_wait_s: int = PORT_WAIT_S,
          peer_wait_s: int = PEER_WAIT_S) -> dict:
    """Boot the guest with the device and report what Linux sees.

    Args:
        mode: 'initiator', 'target' or 'mixed' (see the module's doc).
        wwpn, wwnn: 64-bit port / node names given to the device (port 0;
            port 1 has each plus one).
        timeout_s: hard limit for the whole guest run, seconds.
        accel: 'tcg' or 'kvm'.
        run_name: artifact directory name; default probe-<mode>-<stamp>.
        device_opts: extra ``key=value,...`` qla2532 device properties
            (e.g. ``"conn-option=0,partner-role=target"``).
        port_wait_s: how long the guest polls port_state for Online, s.
        peer_wait_s: once Online, how long it waits for an Online remote
            port (initiator) or a LIO session (target), s.

    Returns:
        results.ProbeResult: pci identity and config space, driver_bound,
        port 0's fc_host and scsi_host sysfs attributes (port_id e.g.
        "0x000001"), ports (every function of the card, see
        :func:`parse_ports`), remote_ports (/sys/class/fc_remote_ports/*),
        lio_sessions (target mode: the initiator names in
        tpgt_1/dynamic_sessions; [] in initiator mode), port_wait
        ("i:state ..."), qla2xxx warnings (level <= 4) and errors (<= 3:
        what qla2xxx itself calls warn/fatal), dmesg, dmesg_raw (``dmesg
        -r``); ``ok`` when the guest powered off normally, qla2xxx is
        bound and the port is Online.

    Raises:
        ValueError: bad mode, WWN or device_opts.
        image.GuestError, kernels.KernelError, host.SetupError: the image,
            the kernel or QEMU cannot be had.
    """
    script = probe_script(mode, wwpn, port_wait_s, peer_wait_s)
    name = run_name or "probe-%s-%s" % (mode, time.strftime("%Y%m%d-%H%M%S"))
    adir = paths.ARTIFACTS_DIR / name
    adir.mkdir(parents=True, exist_ok=True)
    pcap = adir / CAPTURE_NAME
    pcap.unlink(missing_ok=True)
    dargs = device_args(wwpn, wwnn, device_opts=device_opts, capture=pcap)
    res = vm.run(script, device_args=dargs,
                 timeout_s=timeout_s, accel=accel,
                 log_path=adir / "console.log")
    s = res.sections
    bdf = s.get("bdf", "").strip()
    pci = parse_kv(s.get("pci_ids", ""))
    pci["config"] = s.get("pci_config", "").strip()
    pci["bdf"] = bdf
    driver = s.get("driver", "").strip()
    dmesg = s.get("dmesg", "")
    (adir / "dmesg.txt").write_text(dmesg)
    (adir / "dmesg-raw.txt").write_text(s.get("dmesg_raw", ""))
    fc_host = parse_kv(s.get("fc_host", ""))
    result = ProbeResult(
        mode=mode,
        exit=res.exit,
        duration_s=round(res.duration_s, 2),
        script_rc=res.script_rc,
        console_log=str(res.console_log),
        artifacts=str(adir),
        bdf=bdf,
        pci=pci,
        driver=driver,
        driver_bound=driver.rstrip("/").split("/")[-1] == "qla2xxx",
        fc_host=fc_host,
        scsi_host=parse_kv(s.get("scsi_host", "")),
        remote_ports=parse_rports(s.get("rports", "")),
        ports=parse_ports(s.get("ports", "")),
        lio_sessions=session_names(s.get("lio_sessions", "")),
        device_opts=normalize_opts(device_opts).lstrip(","),
        port_wait=s.get("port_wait", "").strip(),
        setup=s.get("setup", ""),
        warnings=kmsg.qla_warnings(s.get("dmesg_raw", "")),
        errors=kmsg.qla_warnings(s.get("dmesg_raw", ""), max_level=3),
        dmesg=dmesg,
        dmesg_raw=s.get("dmesg_raw", ""),
        qemu_stderr=res.stderr or "",
        pcap=str(pcap) if pcap.exists() else None,
    )
    result.ok = (res.exit == "poweroff" and result.driver_bound
                 and fc_host.get("port_state") == "Online")
    return result
