#!/bin/sh
# Host side: build an SCST checkout (--driver-tree DIR, copied to $SRC) for
# the guest kernel: the SCST core with its device handlers (scst.ko,
# scst_vdisk.ko, ...) and one of SCST's two QLogic target drivers, its
# initiator part (qla2xxx_scst.ko) and its target part (qla2x00tgt.ko).
#
# Variables (profile.json "vars", --profile-var K=V):
#   QLA_DIR     qla2x00t (the legacy driver, SCST 3.x's only one before
#               3.5 and ESOS's default) or qla2x00t-32gbit
#   BUILD_MODE  SCST build mode: release (default: CONFIG_SCST_TRACING
#               only), debug or perf -- what "make 2release" etc. select
# KDIR (the guest kernel's headers) and KVER come from the harness.
#
# This uses only the make targets SCST's own documentation gives
# (scst/Makefile 2<mode> and all; the QLogic driver's
# qla2x00-target/Makefile with BUILD_2X_MODULE=y), so any commit of the
# tree that builds by hand builds here.  The compiler's first error is
# what the harness reports when this fails.
set -e
: "${QLA_DIR:?QLA_DIR must name the QLogic driver directory}"
: "${BUILD_MODE:=release}"
if [ ! -d "$QLA_DIR/qla2x00-target" ]; then
    echo "qlaemu: $SRC has no $QLA_DIR/qla2x00-target: not an SCST tree" \
         "with this driver (SCST before 3.5 has only qla2x00t)" >&2
    exit 2
fi
J=-j"$(nproc)"
make -C scst "2$BUILD_MODE"
make -C scst KDIR="$KDIR" $J all
cd "$QLA_DIR/qla2x00-target"
make KDIR="$KDIR" BUILD_2X_MODULE=y CONFIG_SCSI_QLA2XXX_TARGET=y $J all
