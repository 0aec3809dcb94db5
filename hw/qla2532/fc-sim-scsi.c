/*
 * SCSI initiator engine of the simulated remote port (placeholder until
 * the engine lands: accepts no scenario).
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "fc-sim-scsi.h"

FcSimScsi *fc_sim_scsi_new(FcSimPort *sp, const char *path, FcLog *log,
                           Error **errp)
{
    error_setg(errp, "qla2532: scenarios are not supported yet");
    return NULL;
}

void fc_sim_scsi_free(FcSimScsi *ss)
{
}

void fc_sim_scsi_logged_in(FcSimScsi *ss)
{
}

void fc_sim_scsi_logged_out(FcSimScsi *ss, const char *why)
{
}

bool fc_sim_scsi_receive(FcSimScsi *ss, const FcFrame *f)
{
    return false;
}

void fc_sim_scsi_report(FcSimScsi *ss, QDict *out)
{
}

bool fc_sim_scsi_done(FcSimScsi *ss)
{
    return true;
}
