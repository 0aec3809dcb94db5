# A scenario run's guest side (qlaemu.scenario): the driver under test in
# target mode, mark "ready", wait for the host's line on the control
# channel, then report the fc_host, the LIO sessions and the kernel log.
# In: what target-setup.sh needs, WAIT_S (seconds to wait for the host's
# line; virtual time), SESS (LIO's dynamic_sessions file of the port).
. /lib/qlaemu/target-setup.sh
qlaemu_section_file setup /tmp/setup.log
qlaemu_mark ready
cmd=$(qlaemu_wait_cmd $WAIT_S)
qlaemu_section cmd echo "rc=$? $cmd"
H=$(qlaemu_port0_host)
if [ -n "$H" ]; then
    H=/sys/class/fc_host/$H
    qlaemu_kv fc_host $H port_name port_state port_type port_id speed
fi
if [ -e $SESS ]; then
    qlaemu_section_file lio_sessions $SESS
fi
qlaemu_section dmesg_raw dmesg -r
qlaemu_section dmesg dmesg
