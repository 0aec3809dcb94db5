"""Issue #3: the three interrupt mechanisms the driver can use.

qla2xxx asks for MSI-X by default (``ql2xenablemsix=1``: two vectors,
qla_isr.c qla24xx_enable_msix), MSI with ``ql2xenablemsix=2`` and INTx with
``ql2xenablemsix=0`` (qla_isr.c qla2x00_request_irqs).  In each mode the
driver must bring the link up (which needs mailbox completions and async
events delivered as interrupts once probe has enabled them) and
/proc/interrupts must show the interrupts arriving through that mechanism.
Both functions of the dual-port card (issue #12): port 1 on INTB, with a
partner so that it comes Online too.
"""
import re

import pytest

from qlaemu import vm

MODES = {
    # ql2xenablemsix: (/proc/interrupts chip name, what it means); this
    # kernel names MSI and MSI-X vectors both "PCI-MSI"; the enable bits in
    # config space tell them apart (MSI-X control 0xa2 bit 15, MSI control
    # 0x8a bit 0, the device's capability offsets)
    1: ("PCI-MSI", "MSI-X"),
    2: ("PCI-MSI", "MSI"),
    0: ("IO-APIC", "INTx"),
}

SCRIPT = r"""
modprobe qla2xxx ql2xenablemsix=%d
i=0
while [ $i -lt 60 ]; do
    st=$(cat /sys/class/fc_host/host*/port_state 2>/dev/null | sort -u)
    [ "$st" = Online ] && break
    i=$((i + 1)); sleep 0.25
done
qlaemu_section state sh -c 'cat /sys/class/fc_host/host*/port_state'
qlaemu_section irqs sh -c 'grep qla2xxx /proc/interrupts'
for d in /sys/bus/pci/devices/*; do
    [ "$(cat $d/device)" = 0x2532 ] && C=$d/config
done
qlaemu_section msix sh -c "od -An -tx2 -j 0xa2 -N 2 $C"
qlaemu_section msi sh -c "od -An -tx2 -j 0x8a -N 2 $C"
qlaemu_section dmesg dmesg
"""


def _irq_lines(text: str) -> list:
    """(count, chip, name) per /proc/interrupts line (one CPU)."""
    out = []
    for line in text.splitlines():
        m = re.match(r"\s*\d+:\s+(\d+)\s+(\S+)\s.*\s(qla2xxx\S*)\s*$", line)
        if m:
            out.append((int(m.group(1)), m.group(2), m.group(3)))
    return out


@pytest.mark.parametrize("msix", sorted(MODES))
def test_interrupt_mode_brings_link_up(guest_ready, msix):
    chip, what = MODES[msix]
    r = vm.run(SCRIPT % msix, device_args=[
        "-device", "qla2532,bus=rp0,port1-partner=on"], timeout_s=150)
    assert r.exit == "poweroff", r.console[-2000:]
    assert r.sections.get("state", "").split() == ["Online", "Online"], \
        "%s: port did not come Online\n%s" % (what, r.sections.get("dmesg"))
    lines = _irq_lines(r.sections.get("irqs", ""))
    assert lines, "%s: no qla2xxx line in /proc/interrupts" % what
    assert all(c.startswith(chip) for _, c, _ in lines), \
        "%s expected, /proc/interrupts: %s" % (what, r.sections.get("irqs"))
    assert sum(n for n, _, _ in lines) > 0, \
        "%s: no interrupt counted: %s" % (what, r.sections.get("irqs"))
    msix_on = int(r.sections.get("msix", "0").split()[0], 16) & 0x8000
    msi_on = int(r.sections.get("msi", "0").split()[0], 16) & 0x0001
    assert bool(msix_on) == (msix == 1), "MSI-X enable bit: %x" % msix_on
    assert bool(msi_on) == (msix == 2), "MSI enable bit: %x" % msi_on
    names = sorted(n for _, _, n in lines)
    if msix == 1:
        # qla24xx_enable_msix: exactly the default and response-queue
        # vectors per port; every event arrives on the default one
        # (docs/registers.md)
        assert len(names) == 4, names
        default = [c for c, _, n in lines if n.endswith("_default")]
        assert len(default) == 2 and min(default) > 0, r.sections.get("irqs")
    else:
        assert names == ["qla2xxx", "qla2xxx"], names
