# Load the driver under test in target mode and configure the target port.
# In: WWN (the HBA's port name as LIO spells it, 21:00:...), RD_PAGES, and
# the functions qlaemu_target_load and qlaemu_target_configure, which the
# harness defines for the driver profile (qlaemu.driver.target_functions).
# Out: /tmp/setup.log with the commands (set -x), their output and one
# "qlaemu-setup STEP rc=N" line per step (qlaemu.driver.setup_failure).
T=/sys/kernel/config/target
W=$T/qla2xxx/$WWN
{
set -x
export QLAEMU_RD_PAGES=$RD_PAGES
qlaemu_target_load
rc=$?
echo "qlaemu-setup load rc=$rc"
if [ $rc -eq 0 ]; then
qlaemu_target_configure
echo "qlaemu-setup configure rc=$?"
fi
set +x
} > /tmp/setup.log 2>&1
if [ -d $W ]; then
    echo "lun_0 -> $(readlink $W/tpgt_1/lun/lun_0/rd0)" >> /tmp/setup.log
    echo "tpgt_1/enable=$(cat $W/tpgt_1/enable 2>&1)" >> /tmp/setup.log
fi
