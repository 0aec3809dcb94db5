# probe: what Linux sees of the HBA (qlaemu.probe).
# In: MODE (initiator or target; target also needs what target-setup.sh
# needs), SESS (LIO's dynamic_sessions file of the port, or ''),
# PORT_WAIT_S (seconds to wait for fc_host port_state Online), PEER_WAIT_S
# (then seconds to wait for an Online remote port or a LIO session),
# PCI_ATTRS, FC_HOST_ATTRS, SCSI_HOST_ATTRS, RPORT_ATTRS (attribute
# names).
# every ISP2532 function (a QLE2562 has two); BDF is the first (port 0)
BDFS=
for d in /sys/bus/pci/devices/*; do
    if [ "$(cat $d/vendor)" = 0x1077 ] && [ "$(cat $d/device)" = 0x2532 ]; then
        BDFS="$BDFS ${d##*/}"
    fi
done
set -- $BDFS
BDF=$1
qlaemu_section bdf echo "$BDF"
if [ -n "$BDF" ]; then
    P=/sys/bus/pci/devices/$BDF
    qlaemu_kv pci_ids $P $PCI_ATTRS
    qlaemu_section pci_config sh -c "od -An -tx1 -v $P/config | tr -d ' \n'"
fi
if [ "$MODE" = target ] || [ "$MODE" = mixed ]; then
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
    st=$(cat /sys/class/fc_host/$(qlaemu_port0_host)/port_state 2>/dev/null)
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
# (mixed: port 0's LIO session and port 1's Online remote port)
while [ "$st" = Online ] && [ $j -lt $PEER_WAIT_S ]; do
    sess=1; rport=1
    # a configfs attribute's size is never 0: read what it holds
    [ -n "$SESS" ] && [ -z "$(tr -d '\000\n' < "$SESS" 2>/dev/null)" ] && sess=
    if [ "$MODE" != target ]; then
        grep -qx Online /sys/class/fc_remote_ports/*/port_state \
            2>/dev/null || rport=
    fi
    [ -n "$sess" ] && [ -n "$rport" ] && break
    j=$((j + 1)); sleep 1
done
qlaemu_section peer_wait echo "$j"
# each function: "BDF|host=hostN|attr=value|..." (fc_host, then the
# scsi_host's active_mode and link_state)
qlaemu_begin ports
for b in $BDFS; do
    line="$b"
    for h in /sys/bus/pci/devices/$b/host*; do
        [ -d "$h" ] || continue
        n=${h##*/}
        line="$line|host=$n"
        for a in $FC_HOST_ATTRS; do
            line="$line|$a=$(cat /sys/class/fc_host/$n/$a 2>/dev/null)"
        done
        for a in active_mode link_state; do
            line="$line|$a=$(cat /sys/class/scsi_host/$n/$a 2>/dev/null)"
        done
    done
    echo "$line"
done >"$QLAEMU_DATA"
qlaemu_end ports
H=$(qlaemu_port0_host)
if [ -n "$H" ]; then
    qlaemu_kv fc_host /sys/class/fc_host/$H $FC_HOST_ATTRS
    qlaemu_kv scsi_host /sys/class/scsi_host/$H $SCSI_HOST_ATTRS
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
