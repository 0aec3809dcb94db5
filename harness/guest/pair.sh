# pair: a real initiator against the target (qlaemu.pair).  With
# TARGET_LOCAL=1 one guest, the card's two ports cabled to each other:
# port 0 is the target (what target-setup.sh sets up), port 1 the stock
# qla2xxx initiator; with TARGET_LOCAL=0 the target is in another guest
# (pair-target.sh) and this guest's only port is the initiator.  The LUN
# the initiator finds is checked with sg3_utils, fio and libiscsi's test
# suite.
# In: WWN, RD_PAGES and target-setup.sh's functions; SESS (the target's
# LIO dynamic_sessions file, '' when the target is elsewhere); PORT_WAIT_S (seconds
# for the LUN to appear), FIO_MIB (the fio verify job's size), SUITES (the
# iscsi-test-cu families/suites to run, space separated; '' none), ISCSI
# (1: the suites again over iSCSI at iscsi://TARGET_IP/IQN/0, this guest
# at INITIATOR_IP on its virtio NIC), VIRTIO
# (1: the fio job again on the virtio-scsi baseline disk), LIP (1:
# the initiator issues a LIP during a read and the data is read again).
if [ "$TARGET_LOCAL" = 1 ]; then
    . /lib/qlaemu/target-setup.sh
    qlaemu_section_file setup /tmp/setup.log
else
    modprobe qla2xxx
fi
modprobe sd_mod
modprobe sg
H1=
for h in /sys/class/fc_host/host*; do
    [ "$TARGET_LOCAL" = 1 ] && [ "$(cat $h/port_name)" = "$(cat /sys/class/fc_host/$(qlaemu_port0_host)/port_name)" ] && continue
    H1=${h##*/}
done
# the initiator's disk: the first sd whose host is port 1's
DISK=; SG=; i=0
while [ $i -le $PORT_WAIT_S ]; do
    for d in /sys/block/sd*; do
        [ -e "$d/device" ] || continue
        case "$(readlink -f $d/device)" in
        */$H1/*) DISK=${d##*/}
                 SG=$(ls $d/device/scsi_generic 2>/dev/null | head -1) ;;
        esac
    done
    # settled: the disk, and the initiator's session in the target's LIO
    [ -n "$DISK" ] && [ -n "$SG" ] && { [ -z "$SESS" ] || \
        [ -n "$(tr -d '\000\n' < "$SESS" 2>/dev/null)" ]; } && break
    i=$((i + 1)); sleep 1
done
# the target side's log-ins settle after the LUN appeared (enabling the
# TPG resets port 0, the drivers log in again, and a link reset may follow
# -- docs/pair.md): the LUN must answer TEST UNIT READY, and still after
# 5 s, before the tools run
k=0; ok=0
while [ -n "$SG" ] && [ $k -lt $PORT_WAIT_S ]; do
    if sg_turs /dev/$SG >/dev/null 2>&1; then
        ok=$((ok + 1))
        [ $ok -ge 2 ] && break
        sleep 5
    else
        ok=0; sleep 1
    fi
    k=$((k + 1))
done
qlaemu_section lun_wait echo "$i $H1 $DISK $SG $k"
qlaemu_mark lun
if [ -n "$DISK" ]; then
    qlaemu_kv disk /sys/block/$DISK/device vendor model rev
    qlaemu_section size cat /sys/block/$DISK/size
    qlaemu_section rport sh -c "cat /sys/class/fc_remote_ports/rport-${H1#host}:*/port_name"
    qlaemu_section sg_inq sh -c "sg_inq /dev/$SG; echo rc=\$?"
    qlaemu_section sg_vpd_di sh -c "sg_vpd -p di /dev/$SG; echo rc=\$?"
    qlaemu_section sg_readcap sh -c "sg_readcap -l /dev/$SG; echo rc=\$?"
    qlaemu_section sg_luns sh -c "sg_luns /dev/$SG; echo rc=\$?"
    qlaemu_section sg_turs sh -c "sg_turs -v /dev/$SG; echo rc=\$?"
    # fio verify: random writes with crc32c, then the reads that check them
    qlaemu_section fio fio --name=verify --filename=/dev/$DISK \
        --direct=1 --ioengine=psync --rw=randwrite --bs=64k \
        --size=${FIO_MIB}m --verify=crc32c --do_verify=1 \
        --verify_fatal=1 --output-format=json
    qlaemu_mark fio
    if [ "$VIRTIO" = 1 ]; then
        # the baseline: the same job on a virtio-scsi disk of the same QEMU
        # its modules come with the run (qlaemu.pair.virtio_modules)
        qlaemu_insmod_dir /lib/qlaemu/virtio
        V=; n=0
        while [ -z "$V" ] && [ $n -lt 10 ]; do
            for d in /sys/block/sd*; do
                case "$(cat $d/device/vendor 2>/dev/null)" in
                QEMU*) V=${d##*/} ;;
                esac
            done
            [ -z "$V" ] && { n=$((n + 1)); sleep 1; }
        done
        [ -n "$V" ] && qlaemu_section fio_virtio fio --name=verify \
            --filename=/dev/$V --direct=1 --ioengine=psync --rw=randwrite \
            --bs=64k --size=${FIO_MIB}m --verify=crc32c --do_verify=1 \
            --verify_fatal=1 --output-format=json
    fi
    for s in $SUITES; do
        qlaemu_section "suite_$s" sh -c "iscsi-test-cu -d --test=$s /dev/$SG 2>&1; echo rc=\$?"
    done
    qlaemu_mark suites
    if [ "$ISCSI" = 1 ]; then
        # the same suites against the same LUN over iSCSI, across the
        # guests' Ethernet (qlaemu.pairiscsi)
        { qlaemu_net_up $INITIATOR_IP; ip addr; } > /tmp/net.log 2>&1
        qlaemu_section_file iscsi_net /tmp/net.log
        u=iscsi://$TARGET_IP/$IQN/0
        for s in $SUITES; do
            qlaemu_section "iscsi_suite_$s" sh -c "iscsi-test-cu -d --test=$s $u 2>&1; echo rc=\$?"
        done
        qlaemu_mark iscsi
    fi
    if [ "$LIP" = 1 ]; then
        # the initiator's LIP during a read (the field's trigger), then the
        # whole disk read again and compared with what fio left on it
        dd if=/dev/$DISK of=/tmp/before bs=1M count=$FIO_MIB iflag=direct 2>/dev/null
        n=$(dmesg -r | wc -l)
        dd if=/dev/$DISK of=/dev/null bs=64k iflag=direct 2>/tmp/lipdd &
        sleep 0.2
        echo 1 > /sys/class/fc_host/$H1/issue_lip
        wait
        j=0
        while [ $j -lt $PORT_WAIT_S ]; do
            [ "$(cat /sys/class/fc_host/$H1/port_state)" = Online ] && \
                [ -e /sys/block/$DISK ] && break
            j=$((j + 1)); sleep 1
        done
        dd if=/dev/$DISK of=/tmp/after bs=1M count=$FIO_MIB iflag=direct 2>/dev/null
        qlaemu_section lip sh -c "echo wait=$j state=\$(cat /sys/class/fc_host/$H1/port_state) disk=\$([ -e /sys/block/$DISK ] && echo yes || echo no); cat /tmp/lipdd; cmp /tmp/before /tmp/after && echo same"
        rm -f /tmp/before /tmp/after
        # the kernel's lines since the LIP: the initiator's view of it
        qlaemu_section lip_dmesg sh -c "dmesg -r | tail -n +$((n + 1))"
    fi
fi
qlaemu_section dmesg_raw dmesg -r
if [ "$TARGET_LOCAL" != 1 ]; then
    # the target guest reports while this one is still on the link, then
    # powers off; then the host lets this one go (qlaemu.linked)
    qlaemu_mark finished
    qlaemu_wait_cmd 300 >/dev/null
fi
