/*
 * Counters and event log of the emulated link, as QObjects.
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/timer.h"
#include "qapi/qmp/qjson.h"
#include "qapi/qmp/qnum.h"
#include "fc-log.h"

void fc_log_init(FcLog *l, unsigned max_events)
{
    l->counters = qdict_new();
    l->events = qlist_new();
    l->nevents = 0;
    l->max_events = max_events;
    l->dropped = 0;
}

void fc_log_destroy(FcLog *l)
{
    qobject_unref(l->counters);
    qobject_unref(l->events);
    l->counters = NULL;
    l->events = NULL;
}

void fc_log_clear(FcLog *l)
{
    unsigned max = l->max_events;

    fc_log_destroy(l);
    fc_log_init(l, max);
}

QDict *fc_log_event(FcLog *l, const char *source, const char *event)
{
    QDict *e;

    if (!l->events || l->nevents >= l->max_events) {
        l->dropped++;
        return NULL;
    }
    e = qdict_new();
    qdict_put_int(e, "t_ns", qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL));
    qdict_put_str(e, "source", source);
    qdict_put_str(e, "event", event);
    qlist_append(l->events, e);
    l->nevents++;
    return e;
}

void fc_log_count(FcLog *l, const char *group, const char *name, int64_t n)
{
    QDict *g;

    if (!l->counters) {
        return;
    }
    g = qdict_get_qdict(l->counters, group);
    if (!g) {
        g = qdict_new();
        qdict_put(l->counters, group, g);
    }
    qdict_put_int(g, name, qdict_get_try_int(g, name, 0) + n);
}

void fc_log_count_code(FcLog *l, const char *group, unsigned code)
{
    char name[16];

    snprintf(name, sizeof(name), "0x%02x", code);
    fc_log_count(l, group, name, 1);
}

GString *fc_log_to_json(FcLog *l, QDict *extra)
{
    QDict *out = qdict_new();
    const QDictEntry *e;
    GString *json;

    qdict_put_obj(out, "counters", QOBJECT(qobject_ref(l->counters)));
    qdict_put_obj(out, "events", QOBJECT(qobject_ref(l->events)));
    qdict_put_int(out, "dropped_events", l->dropped);
    if (extra) {
        for (e = qdict_first(extra); e; e = qdict_next(extra, e)) {
            qdict_put_obj(out, qdict_entry_key(e),
                          qobject_ref(qdict_entry_value(e)));
        }
    }
    json = qobject_to_json_pretty(QOBJECT(out), true);
    qobject_unref(out);
    return json;
}

char *fc_log_save(FcLog *l)
{
    QDict *out = qdict_new();
    GString *json;

    qdict_put_obj(out, "counters", QOBJECT(qobject_ref(l->counters)));
    qdict_put_obj(out, "events", QOBJECT(qobject_ref(l->events)));
    qdict_put_int(out, "nevents", l->nevents);
    qdict_put_int(out, "dropped", l->dropped);
    json = qobject_to_json(QOBJECT(out));
    qobject_unref(out);
    return g_string_free(json, false);
}

bool fc_log_load(FcLog *l, const char *json, Error **errp)
{
    QObject *obj = qobject_from_json(json, errp);
    QDict *in = qobject_to(QDict, obj);
    QDict *counters = in ? qdict_get_qdict(in, "counters") : NULL;
    QList *events = in ? qdict_get_qlist(in, "events") : NULL;
    bool ok = counters && events && qdict_haskey(in, "nevents") &&
              qlist_size(events) == qdict_get_try_int(in, "nevents", -1);

    if (ok) {
        fc_log_destroy(l);
        l->counters = qobject_ref(counters);
        l->events = qobject_ref(events);
        l->nevents = qlist_size(events);
        l->dropped = qdict_get_try_int(in, "dropped", 0);
    } else if (obj) {
        error_setg(errp, "qla2532: the saved event log is malformed");
    }
    qobject_unref(obj);
    return ok;
}
