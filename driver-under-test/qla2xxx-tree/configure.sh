#!/bin/sh
# Guest side (busybox sh).  Target mode only: export a LUN on the port
# QLAEMU_WWPN (21:00:00:24:ff:00:00:01 form).  This is the harness's own
# LIO set-up (harness/guest/lio-configure.sh, in the guest as
# /lib/qlaemu/lio-configure.sh: ramdisk LUN 0, demo mode); an SCST profile
# would write /sys/kernel/scst_tgt/... instead.
set -e
T=/sys/kernel/config/target
W=$T/qla2xxx/$QLAEMU_WWPN
RD_PAGES=${QLAEMU_RD_PAGES:-8192}
. /lib/qlaemu/lio-configure.sh
