# The LIO target of the HBA's port (sourced by target-setup.sh, which sets
# T and W): an rd_mcp ramdisk of $RD_PAGES 4 KiB pages as LUN 0 of
# qla2xxx/$WWN/tpgt_1 in demo mode (generate_node_acls=1,
# demo_mode_write_protect=0, demo_mode_login_only=0, cache_dynamic_acls=1),
# then the TPG enabled.
# With LIO_LIKE_TARGETCLI=1 (qlaemu.pair) the ramdisk also gets a unit
# serial number and LIO its dbroot, as a targetcli installation has them:
# without the serial LIO reports no VPD page at all (target_core_spc.c
# spc_emulate_evpd_00 lists the pages only with
# DF_EMULATED_VPD_UNIT_SERIAL), so no device identification (0x83); without
# the dbroot's pr/ (/etc/target if it existed when target_core_mod loaded,
# else /var/target: target_core_configfs.c target_init_dbroot) every
# PERSISTENT RESERVE OUT fails LOGICAL UNIT COMMUNICATION FAILURE
# (target_core_pr.c core_scsi3_update_and_write_aptpl).  The race and the
# scenarios keep the set-up their timelines were measured with.
if [ "$LIO_LIKE_TARGETCLI" = 1 ]; then
    mkdir -p /var/target/pr /var/target/alua /etc/target/pr /etc/target/alua
fi
mkdir -p $T/core/rd_mcp_0/rd0
echo rd_pages=$RD_PAGES > $T/core/rd_mcp_0/rd0/control
echo 1 > $T/core/rd_mcp_0/rd0/enable
if [ "$LIO_LIKE_TARGETCLI" = 1 ]; then
    echo "qlaemu-$(echo $WWN | tr -d :)" > \
        $T/core/rd_mcp_0/rd0/wwn/vpd_unit_serial
fi
mkdir -p $W/tpgt_1/lun/lun_0
ln -s $T/core/rd_mcp_0/rd0 $W/tpgt_1/lun/lun_0/rd0
echo 1 > $W/tpgt_1/attrib/generate_node_acls
echo 0 > $W/tpgt_1/attrib/demo_mode_write_protect
# tcm_qla2xxx defaults to demo_mode_login_only=1: a dynamic ACL then maps
# no LUN and every command reaches LIO's read-only virtual LUN 0
# (docs/driver-target-contract.md §6.1)
echo 0 > $W/tpgt_1/attrib/demo_mode_login_only
echo 1 > $W/tpgt_1/attrib/cache_dynamic_acls
echo 1 > $W/tpgt_1/enable
