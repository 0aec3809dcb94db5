"""Issue #12, the whole card: what a user reaches through sysfs and module
parameters beyond the driver's bring-up -- a forced firmware dump
(``fw_dump``) and extended logins (``ql2xexlogins``) -- with the stock
driver, asserting on what the driver did and logged (docs/mailbox.md §2.3).
The dual-port card is tested in test_probe.py."""
import json
import re

import pytest

from qlaemu import image, kmsg, probe, vm

#: port 0's scsi host and its fw_dump attribute, once it is Online
_PORT0 = r'''
H=$(qlaemu_port0_host)
online() { [ "$(cat /sys/class/fc_host/$H/port_state)" = Online ]; }
for i in $(seq 30); do online && break; sleep 1; done
'''

#: qla_attr.c qla2x00_sysfs_write_fw_dump: 3 = qla2x00_system_error (MBC
#: 0x2a), 1 = make the saved dump readable, 0 = clear it.  After the dump
#: the driver aborts the ISP; the second LOOP UP of port 0 is the firmware
#: running again.
FW_DUMP_SCRIPT = "modprobe qla2xxx\n" + _PORT0 + r'''
D=/sys/class/scsi_host/$H/device/fw_dump
echo 3 > $D
for i in $(seq 40); do
    dmesg | grep -q "Firmware dump saved" &&
        [ "$(dmesg | grep -c '500a:0: LOOP UP')" -ge 2 ] && online && break
    sleep 1
done
echo 1 > $D
cat $D > /tmp/dump
qlaemu_section dump_head sh -c "head -c 16 /tmp/dump | od -An -tx1"
qlaemu_section dump_size sh -c "wc -c < /tmp/dump"
echo 0 > $D
qlaemu_section state cat /sys/class/fc_host/$H/port_state
qlaemu_section dmesg_raw dmesg -r
'''

#: ql2xexlogins above 2048 makes the driver size and hand the firmware a
#: buffer (MBC 0x34, qla_os.c qla2x00_set_exlogins_buffer); a failure
#: there fails the port's initialisation.
EXLOGINS_SCRIPT = "modprobe qla2xxx ql2xexlogins=4096\n" + _PORT0 + r'''
qlaemu_section state cat /sys/class/fc_host/$H/port_state
qlaemu_section dmesg_raw dmesg -r
'''


#: sysfs "zio" 1 (qla_attr.c qla2x00_zio_store): ZIO mode 6 after an ISP
#: abort (qla_init.c qla24xx_nvram_config puts it in the ICB); the partner
#: logs in again, its port database comes back by MBX IOCB on the
#: response ring, now under ZIO.
ZIO_SCRIPT = "modprobe qla2xxx\n" + _PORT0 + r'''
R="/sys/class/fc_remote_ports/rport-${H#host}:*/port_state"
rport_online() { cat $R 2>/dev/null | grep -qx Online; }
for i in $(seq 20); do rport_online && break; sleep 1; done
echo 1 > /sys/class/scsi_host/$H/zio
for i in $(seq 40); do
    dmesg | grep -q "ZIO mode 6 enabled" &&
        [ "$(dmesg | grep -c '500a:0: LOOP UP')" -ge 2 ] && online &&
        rport_online && break
    sleep 1
done
sleep 2
qlaemu_section zio cat /sys/class/scsi_host/$H/zio
qlaemu_section rport sh -c "cat $R"
qlaemu_section dmesg_raw dmesg -r
'''


#: sysfs "vpd" write (qla_attr.c qla2x00_sysfs_write_vpd): the driver
#: read-modify-writes the whole 64 KiB VPD/NVRAM sector through the flash
#: window (qla_sup.c qla25xx_write_nvram_data, qla24xx_write_flash_data:
#: sector erase, then burst writes by MBC 0x0b).
VPD_SCRIPT = "modprobe qla2xxx\n" + _PORT0 + r'''
D=/sys/class/scsi_host/$H/device
boot() { echo 1 > $D/optrom_ctl; dd if=$D/optrom bs=4 count=1 2>/dev/null |
         od -An -tx1; echo 0 > $D/optrom_ctl; }
cat $D/vpd > /tmp/vpd; cat $D/nvram > /tmp/nvram
qlaemu_section boot_before boot
cat /tmp/vpd > $D/vpd
qlaemu_section boot_after boot
cat $D/vpd | cmp - /tmp/vpd && echo vpd-same > /tmp/cmp
cat $D/nvram | cmp - /tmp/nvram && echo nvram-same >> /tmp/cmp
qlaemu_section cmp cat /tmp/cmp
qlaemu_section dmesg_raw dmesg -r
'''


#: The management tools' bsg requests (qla_bsg.c), by the guest tool qlbsg:
#: on port 0 (initiator; the partner an initiator) loopback, SerDes and the
#: SFP's user EEPROM; on port 1, whose partner is a target, iIDMA (the
#: driver takes it only for an FCP target, qla_bsg.c qla24xx_iidma).
BSG_SCRIPT = "chmod +x /bin/qlbsg\nmodprobe qla2xxx\n" + _PORT0 + r'''
H1=$(ls -d /sys/bus/pci/devices/0000:01:00.1/host* | head -n 1); H1=${H1##*/}
for i in $(seq 20); do
    cat /sys/class/fc_remote_ports/rport-${H1#host}:*/port_state 2>/dev/null |
        grep -qx Online && break
    sleep 1
done
B=/dev/bsg/fc_$H; B1=/dev/bsg/fc_$H1
{
qlbsg $B loopback 2048 0x02 5
qlbsg $B loopback 2048 0x04 1
qlbsg $B serdes-write 0x21 0x1234
qlbsg $B serdes-read 0x21
qlbsg $B i2c-write 0xa2 130 c0ffee
qlbsg $B i2c-read 0xa2 130 3
qlbsg $B i2c-write 0xa0 20 00
qlbsg $B1 iidma 0x2100001b32aa0002 1 3
qlbsg $B1 iidma 0x2100001b32aa0002 0 0
} > /tmp/bsg.out 2>&1
qlaemu_section bsg cat /tmp/bsg.out
qlaemu_section dmesg_raw dmesg -r
'''


def _run(script, opts="", report=None, files=None):
    if report:
        opts += ("," if opts else "") + "report-file=%s" % report
    r = vm.run(script, device_args=probe.device_args(device_opts=opts),
               timeout_s=240, extra_files=files)
    assert r.exit == "poweroff", (r.exit, r.console_log)
    return r.sections


@pytest.fixture(scope="module")
def fw_dump_default(guest_ready):
    return _run(FW_DUMP_SCRIPT)


@pytest.mark.guest
@pytest.mark.device
def test_fw_dump_through_sysfs(fw_dump_default):
    """``echo 3 > fw_dump``: the firmware's SYSTEM ERROR makes the driver
    take a whole dump (registers, code RAM, 4 MiB of external memory by MBC
    0x0c) and abort the ISP; the port is Online again, the dump reads back
    with the driver's header, and the driver's only failure-level line is
    the one it prints for every system error (qla_isr.c
    qla2x00_async_event MBA_SYSTEM_ERR, ql_log_warn 0x5003)."""
    s = fw_dump_default
    raw = s.get("dmesg_raw", "")
    assert "Firmware dump saved" in raw, raw
    # qla_dbg.c qla2xxx_dump_post_process: every capture stage completed
    m = re.search(r"dump status flags \((0x[0-9a-f]+)\)", raw)
    assert m and int(m.group(1), 16) == 0x3f, m and m.group(0)
    assert "Performing ISP error recovery" in raw
    assert s.get("state", "").strip() == "Online"
    head = bytes.fromhex(s.get("dump_head", "").replace(" ", "")
                         .replace("\n", ""))
    assert head[:4] == b"QLGC", head            # qla2xxx_fw_dump signature
    # struct qla25xx_fw_dump with 0x2000 dwords of code RAM and 1 Mi dwords
    # of external memory (fw_memory_size 0x1fffff, MBC 0x08 mb4/mb5)
    assert int(s.get("dump_size", "0").strip()) > 4 * 1024 * 1024
    errors = kmsg.qla_warnings(raw, max_level=3)
    assert len(errors) == 1 and "-5003:0: ISP System Error" in errors[0], \
        errors


@pytest.mark.guest
@pytest.mark.device
def test_fw_dump_variant_without_completion(guest_ready):
    """system-error-completion=none: MBC 0x2a never completes, so the
    sysfs write waits out its 5 s and the driver says so (0x1015), then
    takes the dump and recovers all the same (docs/mailbox.md)."""
    s = _run(FW_DUMP_SCRIPT, "system-error-completion=none")
    raw = s.get("dmesg_raw", "")
    assert "Firmware dump saved" in raw and \
        s.get("state", "").strip() == "Online", raw
    errors = kmsg.qla_warnings(raw, max_level=3)
    assert any("cmd=0x2a, waited" in e for e in errors), errors


@pytest.mark.guest
@pytest.mark.device
@pytest.mark.parametrize("variant", ["rspq", "aen"])
def test_zio_mode_6(guest_ready, tmp_path, variant):
    """``echo 1 > zio``: the driver re-initialises the firmware in ZIO mode
    6; the model then coalesces response-queue interrupts over the delay
    (presented as a queue update or, variant ``aen``, as MBA_ZIO_RESPONSE
    0x8040); the partner's relogin goes through and nothing fails."""
    report = tmp_path / "report.json"
    s = _run(ZIO_SCRIPT, "zio-interrupt=" + variant, report)
    raw = s.get("dmesg_raw", "")
    assert "ZIO mode 6 enabled" in raw, raw
    assert "Mode 6" in s.get("zio", ""), s.get("zio")
    assert s.get("rport", "").split() == ["Online"], s.get("rport")
    assert kmsg.qla_warnings(raw, max_level=3) == []
    assert json.loads(report.read_text())["zio_interrupts"] > 0


@pytest.mark.guest
@pytest.mark.device
def test_vpd_write_keeps_the_flash(guest_ready):
    """A VPD write through sysfs erases and rewrites only its own sector:
    the VPD and NVRAM read back unchanged and the boot image keeps its ROM
    signature (before issue #12 the model decoded the sector erase's
    address wrongly and wiped the boot image: "No matching ROM
    signature")."""
    s = _run(VPD_SCRIPT)
    raw = s.get("dmesg_raw", "")
    assert s.get("boot_before", "").split()[:2] == ["55", "aa"], s
    assert s.get("boot_after", "") == s.get("boot_before"), s
    assert s.get("cmp", "").split() == ["vpd-same", "nvram-same"], s
    assert "No matching ROM signature" not in raw
    assert kmsg.qla_warnings(raw, max_level=3) == []


@pytest.mark.guest
@pytest.mark.device
def test_bsg_management_requests(guest_ready):
    """QConvergeConsole's paths, through /dev/bsg/fc_hostN (qla_bsg.c
    qla2x00_process_vendor_specific): internal loopback returns the data
    (MBC 0x45), external is refused (no plug); a SerDes word reads back
    (0x03/0x04); the SFP's user EEPROM takes a write and reads it back
    (0x30/0x31), its serial ID does not; iIDMA sets a target's rate and
    a get reads the link's (0x1a; the emulated link keeps no rate).
    EXT_STATUS_OK is 0, EXT_STATUS_MAILBOX 11 (qla_bsg.h)."""
    s = _run(BSG_SCRIPT, "port1-partner=on",
             files={"/bin/qlbsg": image.guest_tool("qlbsg")})
    lines = s.get("bsg", "").strip().splitlines()
    assert len(lines) == 9, s.get("bsg")
    ok = "vendor_rsp=0 result=0x0"
    assert lines[0] == ok + " mb0=0x4000 data=same", lines[0]
    # DID_ERROR << 16 and the model's 0x4005 in the reply's mailboxes
    assert lines[1].startswith("vendor_rsp=0 result=0x70000 mb0=0x4005"), \
        lines[1]
    assert lines[2] == ok, lines[2]
    assert lines[3] == ok + " val=0x1234", lines[3]
    assert lines[4] == ok + " data=", lines[4]
    assert lines[5] == ok + " data=c0ffee", lines[5]
    assert lines[6].startswith("vendor_rsp=11 "), lines[6]
    assert lines[7] == ok + " set", lines[7]      # 4 Gb/s accepted
    assert lines[8] == ok + " speed=4", lines[8]
    # the driver's own line for the refused external loopback
    # (qla_bsg.c ql_log_warn 0x702c), nothing else
    errors = kmsg.qla_warnings(s.get("dmesg_raw", ""), max_level=3)
    assert len(errors) == 1 and "-702c:0: Vendor request " \
        "FC_BSG_HST_VENDOR_LOOPBACK failed" in errors[0], errors


@pytest.mark.guest
@pytest.mark.device
def test_extended_logins(guest_ready):
    """``modprobe qla2xxx ql2xexlogins=4096``: the firmware reports its
    extended-login sizes and takes the driver's buffer; the port comes up
    with no failure (before issue #12: 0x4001 and "Failed to get exlogin
    status", the port dead)."""
    s = _run(EXLOGINS_SCRIPT)
    raw = s.get("dmesg_raw", "")
    assert "EXLOGIN count: 4096" in raw, raw
    assert s.get("state", "").strip() == "Online", raw
    assert kmsg.qla_warnings(raw, max_level=3) == []
