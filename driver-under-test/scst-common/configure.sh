#!/bin/sh
# Guest side (busybox sh): an SCST target on the port QLAEMU_WWPN
# (21:00:00:24:ff:00:00:01 form) through SCST's sysfs interface alone (no
# scstadmin): a vdisk_fileio device on a file in the guest's RAM, LUN 0 in
# the target's default group, the target enabled.  The size comes from
# QLAEMU_RD_PAGES (4 KiB pages, the harness's ramdisk size).
#   SCST_DISK   file backing the LUN (default /tmp/qlaemu-disk0)
set -e
S=/sys/kernel/scst_tgt
disk=${SCST_DISK:-/tmp/qlaemu-disk0}
pages=${QLAEMU_RD_PAGES:-8192}
T=
i=0
# the target appears when qla2x00tgt has bound the HBA
while [ $i -lt 100 ]; do
    for d in $S/targets/*/"$QLAEMU_WWPN"; do
        [ -d "$d" ] && T=$d
    done
    [ -n "$T" ] && break
    sleep 0.1
    i=$((i + 1))
done
if [ -z "$T" ]; then
    echo "qlaemu: no SCST target $QLAEMU_WWPN under $S/targets:" \
         $(ls $S/targets/* 2>&1) >&2
    exit 3
fi
# what SCST's "make install" creates: vdisk keeps persistent reservations
# and saved mode pages there, and add_device fails without the first
mkdir -p /var/lib/scst/pr /var/lib/scst/vdev_mode_pages
dd if=/dev/zero of="$disk" bs=4096 count=0 seek="$pages" 2>/dev/null
echo "add_device disk0 filename=$disk; nv_cache=1" \
    > $S/handlers/vdisk_fileio/mgmt
echo "add disk0 0" > "$T/luns/mgmt"
echo 1 > "$T/enabled"
