"""What each target stack of the pair (LIO, SCST) answers its own way: the
INQUIRY vendor of its LUN, and the iscsi-test-cu tests that test what it
does not do -- each with its source, so that a pair's verdict fails only
for what the stack is expected to do.
"""

#: INQUIRY vendor of the LUN per target stack: LIO's (target_core_spc.c
#: spc_emulate_inquiry_std), SCST vdisk_fileio's (scst_vdisk.c).
VENDORS = {"lio": "LIO-ORG", "scst": "SCST_FIO"}

#: iscsi-test-cu tests that test what the pair's target does not do, by
#: its source (Linux 6.1 drivers/target, the guest's kernel; SCST's
#: scst/src, the tree under test) or by the initiator driver's documented
#: handling -- per target stack, "Suite.Test" -> why.  Such a test that
#: fails is listed as not applicable, with the reason, and does not fail
#: the run; one that passes is just passed.
NOT_APPLICABLE = {"lio": {
    **{"%s.%s" % (v, t): "LIO executes VERIFY as a no-op: no byte-by-byte "
       "compare and no VRPROTECT check (target_core_sbc.c sbc_parse_cdb: "
       "VERIFY -> sbc_emulate_noop)"
       for v in ("Verify10", "Verify16")
       for t in ("Mismatch", "VerifyProtect")},
    **{"%s.%s" % (v, t): "LIO's VERIFY transfers no data (size 0), so a "
       "VERIFY sent with a data-out buffer ends with FCP_RESID_OVER, which "
       "qla2xxx turns into DID_ERROR (qla_isr.c qla2x00_status_entry: "
       "SS_RESIDUAL_OVER -> CS_DATA_OVERRUN); iSCSI reports it as a "
       "residual" for v in ("Verify10", "Verify16")
       for t in ("Dpo", "MismatchNoCmp")},
    **{"%s.%s" % (w, t): "LIO's rd_mcp ramdisk has no WRITE SAME "
       "(max_write_same_len 0: target_core_sbc.c sbc_setup_write_same "
       "answers INVALID FIELD IN CDB)"
       for w in ("WriteSame10", "WriteSame16")
       for t in ("Simple", "BeyondEol", "Check")},
    "ReceiveCopyResults.CopyStatus": "LIO answers RECEIVE COPY RESULTS for "
    "OPERATING PARAMETERS only (target_core_xcopy.c "
    "target_rcr_operating_parameters; other service actions: INVALID FIELD "
    "IN CDB)",
}, "scst": {
    "ReceiveCopyResults.CopyStatus": "SCST keeps a finished EXTENDED COPY's "
    "list ID and its status for 5 s (scst_copy_mgr.c "
    "scst_cm_sched_del_list_id, SCST_CM_ID_KEEP_TIME); the test's first "
    "check (no copy in progress for list ID 1) fails when it comes within "
    "5 s of ExtendedCopy's copies with list ID 1, as on a fast host "
    "(measured: the suite alone passes)",
    "ExtendedCopy.DescrLimits": "SCST's copy manager answers more target "
    "descriptors than it takes with TOO MANY TARGET DESCRIPTORS (26h/06h; "
    "scst_copy_mgr.c, SCST_CM_MAX_TGT_DESCR_CNT); the test wants PARAMETER "
    "LIST LENGTH ERROR",
    "ExtendedCopy.ValidTgtDescr": "SCST's copy manager takes an "
    "identification target descriptor only for a LUN it finds by that "
    "designator, else INVALID FIELD IN PARAMETER LIST (scst_copy_mgr.c "
    "scst_cm_parse_id_tgt_descr)",
    "ModeSense6.Control-SWP": "SCST fails a write to a software-write-"
    "protected LUN with DATA PROTECT and ASC/ASCQ 00h/00h (scst_targ.c, "
    "scst_sense_data_protect in scst_const.h); the test wants WRITE "
    "PROTECTED 27h/00h",
}}
