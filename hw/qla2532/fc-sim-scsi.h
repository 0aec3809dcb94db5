/*
 * SCSI initiator engine of the simulated remote port: runs a scenario
 * (docs/scenario.md) of SCSI commands over FCP-4 frames against the port at
 * the other end of the link, checks the answers, retries and times out like
 * a real initiator, and records what happened in the device's FcLog.
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_QLA2532_FC_SIM_SCSI_H
#define HW_QLA2532_FC_SIM_SCSI_H

#include "qapi/error.h"
#include "migration/vmstate.h"
#include "fc.h"
#include "fc-log.h"

typedef struct FcSimPort FcSimPort;
typedef struct FcSimScsi FcSimScsi;

/**
 * fc_sim_scsi_new: load the scenario at @path (JSON, docs/scenario.md) for
 * the initiator @sp.  Events and counters go to @log.
 * Returns NULL with @errp set when the file cannot be read or parsed.
 */
FcSimScsi *fc_sim_scsi_new(FcSimPort *sp, const char *path, FcLog *log,
                           Error **errp);
void fc_sim_scsi_free(FcSimScsi *ss);

/* PRLI accepted by the target: (re)start the scenario after its
 * first-command delay. */
void fc_sim_scsi_logged_in(FcSimScsi *ss);

/* The login is gone (@why: "logo", "link"): outstanding commands fail
 * and the scenario waits for the next login. */
void fc_sim_scsi_logged_out(FcSimScsi *ss, const char *why);

/* A frame for the initiator; true if it was an FCP or BLS frame it
 * consumed (ELS frames return false). */
bool fc_sim_scsi_receive(FcSimScsi *ss, const FcFrame *f);

/* The scenario's outcome into @out: "initiator" -> {...}. */
void fc_sim_scsi_report(FcSimScsi *ss, QDict *out);

/* The scenario ran to its end (every command answered or given up). */
bool fc_sim_scsi_done(FcSimScsi *ss);

/*
 * Call @cb(@opaque) when the scenario becomes done (the pass that ends it,
 * in virtual time, from the engine's timer).  NULL @cb: no call.
 */
void fc_sim_scsi_on_done(FcSimScsi *ss, void (*cb)(void *), void *opaque);

/*
 * Saved state of a running scenario (savevm, migration): where the engine
 * is in its program (pass, step, phase), the open exchange with its data,
 * every step's outcome so far, the counters and the timers.  The program
 * itself is not saved: the destination loads the same file, and a file
 * whose bytes differ (FcScenario.digest) fails the load.
 */
extern const VMStateDescription vmstate_fc_sim_scsi;

#endif /* HW_QLA2532_FC_SIM_SCSI_H */
