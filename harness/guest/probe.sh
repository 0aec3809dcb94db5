# probe: what Linux sees of the HBA (qlaemu.probe).
# In: MODE (initiator or target; target also needs what target-setup.sh
# needs), SESS (LIO's dynamic_sessions file of the port, or ''),
# PORT_WAIT_S (seconds to wait for fc_host port_state Online), PEER_WAIT_S
# (then seconds to wait for an Online remote port or a LIO session),
# PCI_ATTRS, FC_HOST_ATTRS, SCSI_HOST_ATTRS, RPORT_ATTRS (attribute
# names).
BDF=
for d in /sys/bus/pci/devices/*; do
    if [ "$(cat $d/vendor)" = 0x1077 ] && [ "$(cat $d/device)" = 0x2532 ]; then
        BDF=${d##*/}; break
    fi
done
qlaemu_section bdf echo "$BDF"
if [ -n "$BDF" ]; then
    P=/sys/bus/pci/devices/$BDF
    qlaemu_kv pci_ids $P $PCI_ATTRS
    qlaemu_section pci_config sh -c "od -An -tx1 -v $P/config | tr -d ' \n'"
fi
if [ "$MODE" = target ]; then
    . /lib/qlaemu/target-setup.sh
else
    modprobe qla2xxx > /tmp/setup.log 2>&1
fi
qlaemu_section_file setup /tmp/setup.log
if [ -n "$BDF" ]; then
    qlaemu_section driver readlink /sys/bus/pci/devices/$BDF/driver
fi
i=0; states=
while :; do
    st=$(cat /sys/class/fc_host/host*/port_state 2>/dev/null | head -n 1)
    states="$states $i:${st:-none}"
    [ "$st" = Online ] && break
    [ $i -ge $PORT_WAIT_S ] && break
    # no fc_host at all a few seconds after modprobe: the probe failed
    [ -z "$st" ] && [ $i -ge 3 ] && break
    i=$((i + 1)); sleep 1
done
qlaemu_section port_wait echo "$states"
# Online: give the partner's login (rport / LIO session) a bounded time
j=0
while [ "$st" = Online ] && [ $j -lt $PEER_WAIT_S ]; do
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
    qlaemu_kv fc_host $H $FC_HOST_ATTRS
    qlaemu_kv scsi_host /sys/class/scsi_host/${H##*/} $SCSI_HOST_ATTRS
fi
qlaemu_begin rports
for r in /sys/class/fc_remote_ports/rport-*; do
    [ -d "$r" ] || continue
    line=${r##*/}
    for a in $RPORT_ATTRS; do line="$line|$a=$(cat $r/$a 2>/dev/null)"; done
    echo "$line"
done >"$QLAEMU_DATA"
qlaemu_end rports
if [ -n "$SESS" ]; then
    qlaemu_section_file lio_sessions "$SESS"
fi
qlaemu_section dmesg_raw dmesg -r
qlaemu_section dmesg dmesg
