#!/bin/sh
# Host side.  Runs in a copy of the driver tree ($SRC, also the working
# directory) with KDIR=/usr/src/linux-headers-<kver> and KVER=<kver>; must
# leave the .ko files listed in profile.json's "modules" somewhere under $SRC.
# An SCST profile would run e.g.
#   make -C scst/src KDIR=$KDIR && make -C qla2x00t-32gbit KDIR=$KDIR ...
set -e
exec make -C "$KDIR" M="$SRC" CONFIG_SCSI_QLA_FC=m CONFIG_TCM_QLA2XXX=m \
    -j"$(nproc)" modules
