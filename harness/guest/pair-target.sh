# pair-target: the target guest of a two-guest pair (qlaemu.pair, link
# "remote"; qlaemu.linked): set the target up, say "ready", serve until the
# host says the initiator guest is done, then report.
# In: WWN, RD_PAGES and target-setup.sh's functions; SESS (the target's
# LIO dynamic_sessions file, '' for another target stack); WAIT_S (seconds
# to serve at most).
. /lib/qlaemu/target-setup.sh
qlaemu_section_file setup /tmp/setup.log
qlaemu_mark ready
qlaemu_section done_cmd qlaemu_wait_cmd "$WAIT_S"
[ -n "$SESS" ] && qlaemu_section sessions sh -c "tr '\000' '\n' < $SESS"
qlaemu_section dmesg_raw dmesg -r
