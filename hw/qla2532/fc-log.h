/*
 * What happened on the emulated link, as data: counters and an event log
 * with virtual timestamps, shared by every port model of one device.  It is
 * read through QMP while the guest runs and written as JSON at exit.
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_QLA2532_FC_LOG_H
#define HW_QLA2532_FC_LOG_H

#include "qapi/qmp/qdict.h"
#include "qapi/qmp/qlist.h"
#include "qapi/error.h"

/**
 * FcLog: counters and events.
 * @counters: counter group name -> QDict of counter name -> int; e.g.
 *   "ctio_status" -> {"0x01": 12, "0x29": 3}.
 * @events: QList of QDict, oldest first; each has "t_ns" (virtual time,
 *   QEMU_CLOCK_VIRTUAL), "source" (e.g. "isp", "initiator"), "event" and
 *   event-specific fields.
 * @max_events: events kept at most; later ones are counted in @dropped.
 */
typedef struct FcLog {
    QDict *counters;
    QList *events;
    unsigned nevents;
    unsigned max_events;
    uint64_t dropped;
} FcLog;

void fc_log_init(FcLog *l, unsigned max_events);
void fc_log_clear(FcLog *l);
void fc_log_destroy(FcLog *l);

/**
 * fc_log_event: start a new event at the current virtual time and return
 * its dictionary for the caller to add fields to (qdict_put_int/str...).
 * Returns NULL when the log is full (the event is counted as dropped).
 */
QDict *fc_log_event(FcLog *l, const char *source, const char *event);

/* counters[@group][@name] += @n */
void fc_log_count(FcLog *l, const char *group, const char *name, int64_t n);

/* counters[@group]["0x%02x" % @code] += 1 (status codes) */
void fc_log_count_code(FcLog *l, const char *group, unsigned code);

/**
 * fc_log_to_json: the whole log as a JSON object
 * {"counters": ..., "events": [...], "dropped_events": N} plus the
 * members of @extra (may be NULL), pretty-printed.  Caller frees.
 */
GString *fc_log_to_json(FcLog *l, QDict *extra);

/**
 * fc_log_save / fc_log_load: the log as one compact JSON text for the
 * device's saved state (savevm, migration): {"counters": ...,
 * "events": [...], "nevents": N, "dropped": N}.  fc_log_save returns a
 * new string (caller frees).  fc_log_load replaces @l's contents with
 * @json's; on a text that is not such an object it returns false with
 * @errp set and leaves @l unchanged.
 */
char *fc_log_save(FcLog *l);
bool fc_log_load(FcLog *l, const char *json, Error **errp);

#endif /* HW_QLA2532_FC_LOG_H */
