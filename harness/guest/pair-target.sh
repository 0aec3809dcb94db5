# pair-target: the target guest of a two-guest pair (qlaemu.pair, link
# "remote"; qlaemu.linked): set the target up, say "ready", serve until the
# host says the initiator guest is done, then report.
# In: WWN, RD_PAGES and target-setup.sh's functions; SESS (the target's
# LIO dynamic_sessions file, '' for another target stack); WAIT_S (seconds
# to serve at most); ISCSI (1: LIO's iSCSI target IQN of the same ramdisk
# as well, on TARGET_IP of the virtio NIC: qlaemu.pairiscsi).
. /lib/qlaemu/target-setup.sh
qlaemu_section_file setup /tmp/setup.log
if [ "$ISCSI" = 1 ]; then
    {
    set -x
    qlaemu_net_up $TARGET_IP
    I=$T/iscsi/$IQN/tpgt_1
    mkdir -p $I/lun/lun_0 && ln -s $T/core/rd_mcp_0/rd0 $I/lun/lun_0/rd0
    mkdir $I/np/0.0.0.0:3260
    echo 0 > $I/attrib/authentication
    echo 1 > $I/attrib/generate_node_acls
    echo 0 > $I/attrib/demo_mode_write_protect
    echo 1 > $I/attrib/cache_dynamic_acls
    echo 1 > $I/enable
    set +x
    } > /tmp/iscsi.log 2>&1
    qlaemu_section_file iscsi_setup /tmp/iscsi.log
fi
qlaemu_mark ready
qlaemu_section done_cmd qlaemu_wait_cmd "$WAIT_S"
[ -n "$SESS" ] && qlaemu_section sessions sh -c "tr '\000' '\n' < $SESS"
qlaemu_section dmesg_raw dmesg -r
