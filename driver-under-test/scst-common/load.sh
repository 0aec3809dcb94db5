#!/bin/sh
# Guest side (busybox sh): load SCST, its vdisk handler and the QLogic
# target driver built by build.sh.  QLAEMU_MODE is "target" or "initiator".
#   QLINI_MODE  qla2xxx_scst's qlini_mode; empty (default) leaves the
#               driver's own default ("exclusive": initiator mode until
#               the target is enabled)
set -e
opt=
if [ -n "$QLINI_MODE" ]; then
    opt="qlini_mode=$QLINI_MODE"
fi
if [ "$QLAEMU_MODE" = initiator ]; then
    modprobe qla2xxx_scst $opt
    exit 0
fi
modprobe scst
modprobe scst_vdisk
modprobe qla2xxx_scst $opt
modprobe qla2x00tgt
