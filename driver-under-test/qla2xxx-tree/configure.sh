#!/bin/sh
# Guest side (busybox sh).  Target mode only: export a LUN on the port
# QLAEMU_WWPN (21:00:00:24:ff:00:00:01 form).  This is the harness's own
# LIO set-up (ramdisk LUN 0, demo mode); an SCST profile would write
# /sys/kernel/scst_tgt/... instead.
set -e
T=/sys/kernel/config/target
W=$T/qla2xxx/$QLAEMU_WWPN
mkdir -p $T/core/rd_mcp_0/rd0
echo rd_pages=${QLAEMU_RD_PAGES:-8192} > $T/core/rd_mcp_0/rd0/control
echo 1 > $T/core/rd_mcp_0/rd0/enable
mkdir -p $W/tpgt_1/lun/lun_0
ln -s $T/core/rd_mcp_0/rd0 $W/tpgt_1/lun/lun_0/rd0
echo 1 > $W/tpgt_1/attrib/generate_node_acls
echo 0 > $W/tpgt_1/attrib/demo_mode_write_protect
echo 0 > $W/tpgt_1/attrib/demo_mode_login_only
echo 1 > $W/tpgt_1/attrib/cache_dynamic_acls
echo 1 > $W/tpgt_1/enable
