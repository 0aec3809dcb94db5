#!/bin/sh
# Guest side (busybox sh).  Loads the driver; QLAEMU_MODE is "target" or
# "initiator".  The modules of "modules" replace the stock ones of the same
# name in the image (others are in /lib/modules/<kver>/updates/qlaemu/), so
# modprobe finds them and their stock dependencies.
set -e
if [ "$QLAEMU_MODE" = target ]; then
    modprobe qla2xxx qlini_mode=disabled
    modprobe tcm_qla2xxx
else
    modprobe qla2xxx
fi
