/*
 * The emulated Fibre Channel link and its peers as QOM objects
 * (fc-objects.h, docs/link.md).
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "qemu/module.h"
#include "qom/object_interfaces.h"
#include "fc-objects.h"
#include "fc-sim-port.h"
#include "fc-capture.h"
#include "fc-replay.h"
#include "fc-remote.h"
#include "chardev/char.h"

/* Events the link's log keeps (as the device's own log). */
#define FC_LINK_LOG_EVENTS      100000

/*
 * fc-link
 */

GString *fc_link_object_report(FcLinkObject *lo, QDict *extra)
{
    QDict *out = extra ? qdict_clone_shallow(extra) : qdict_new();
    GString *json;

    qdict_put_int(out, "virtual_time_ns",
                  qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL));
    qdict_put_str(out, "topology", fc_topology_name(lo->link.topology));
    if (lo->departed) {
        const QDictEntry *e;

        for (e = qdict_first(lo->departed); e;
             e = qdict_next(lo->departed, e)) {
            qdict_put_obj(out, e->key, qobject_ref(e->value));
        }
    }
    fc_link_report(&lo->link, out);
    json = fc_log_to_json(&lo->log, out);
    qobject_unref(out);
    return json;
}

static void fc_link_object_complete(UserCreatable *uc, Error **errp)
{
    FcLinkObject *lo = FC_LINK_OBJECT(uc);

    fc_log_init(&lo->log, FC_LINK_LOG_EVENTS);
    fc_link_init(&lo->link, (int64_t)lo->init_us * 1000, lo->frame_ns);
    lo->complete = true;
}

static char *fc_link_object_get_report(Object *obj, Error **errp)
{
    FcLinkObject *lo = FC_LINK_OBJECT(obj);

    if (!lo->complete) {
        error_setg(errp, "fc-link: not complete");
        return NULL;
    }
    return g_string_free(fc_link_object_report(lo, NULL), false);
}

/* link-event: lip | down | up, as the device's property of that name */
static void fc_link_object_set_event(Object *obj, const char *value,
                                     Error **errp)
{
    FcLinkObject *lo = FC_LINK_OBJECT(obj);

    if (!lo->complete) {
        error_setg(errp, "fc-link: not complete");
    } else if (!strcmp(value, "lip")) {
        fc_link_lip(&lo->link, 0xf7f7);
    } else if (!strcmp(value, "down") || !strcmp(value, "up")) {
        fc_link_force_down(&lo->link, value[0] == 'd');
    } else {
        error_setg(errp, "fc-link: link-event must be lip, down or up");
    }
}

static void fc_link_object_init(Object *obj)
{
    FcLinkObject *lo = FC_LINK_OBJECT(obj);

    lo->init_us = FC_LINK_DEFAULT_INIT_US;
    lo->frame_ns = FC_LINK_DEFAULT_FRAME_NS;
    object_property_add_uint32_ptr(obj, "init-us", &lo->init_us,
                                   OBJ_PROP_FLAG_READWRITE);
    object_property_add_uint32_ptr(obj, "frame-latency-ns", &lo->frame_ns,
                                   OBJ_PROP_FLAG_READWRITE);
}

/* A peer leaves the link: keep its last report, then detach it. */
static void fc_link_object_leave(Object *link, FcPort *p)
{
    FcLinkObject *lo = FC_LINK_OBJECT(link);

    if (p->ops && p->ops->report) {
        if (!lo->departed) {
            lo->departed = qdict_new();
        }
        p->ops->report(p, lo->departed);
    }
    fc_link_detach(p);
}

static void fc_link_object_finalize(Object *obj)
{
    FcLinkObject *lo = FC_LINK_OBJECT(obj);

    qobject_unref(lo->departed);
    if (lo->complete) {
        fc_link_finalize(&lo->link);
        fc_log_destroy(&lo->log);
    }
}

static void fc_link_object_class_init(ObjectClass *oc, void *data)
{
    USER_CREATABLE_CLASS(oc)->complete = fc_link_object_complete;
    object_class_property_add_str(oc, "report", fc_link_object_get_report,
                                  NULL);
    object_class_property_add_str(oc, "link-event", NULL,
                                  fc_link_object_set_event);
}

/*
 * Peers: each has a "link" (link<fc-link>) and attaches in complete.
 */

static FcLinkObject *peer_link(Object *link, const char *type, Error **errp)
{
    if (!link) {
        error_setg(errp, "%s: link=<fc-link id> is required", type);
        return NULL;
    }
    if (!FC_LINK_OBJECT(link)->complete) {
        error_setg(errp, "%s: the fc-link is not complete", type);
        return NULL;
    }
    return FC_LINK_OBJECT(link);
}

/*
 * A peer on the link holds its own reference until its finalize is done
 * (QOM releases the "link" property before instance_finalize runs).
 */
static Object *peer_hold(FcLinkObject *lo)
{
    return object_ref(OBJECT(lo));
}

static void add_link_prop(ObjectClass *oc, size_t offset)
{
    object_class_property_add_link(oc, "link", TYPE_FC_LINK_OBJECT, offset,
                                   object_property_allow_set_link,
                                   OBJ_PROP_LINK_STRONG);
}

/*
 * fc-initiator: the simulated initiator (fc-sim-port.h), with an optional
 * scenario (fc-sim-scsi.h).
 */

#define TYPE_FC_INITIATOR "fc-initiator"
OBJECT_DECLARE_SIMPLE_TYPE(FcInitiatorObject, FC_INITIATOR)

struct FcInitiatorObject {
    Object parent_obj;
    Object *link;
    FcSimPort sp;
    uint64_t wwpn;
    uint64_t wwnn;
    uint32_t conn;
    int32_t hard_loop_id;
    uint32_t login_delay_us;
    char *role;
    char *scenario;
    Object *held;
    bool attached;
};

static void fc_initiator_complete(UserCreatable *uc, Error **errp)
{
    FcInitiatorObject *io = FC_INITIATOR(uc);
    FcLinkObject *lo = peer_link(io->link, TYPE_FC_INITIATOR, errp);

    if (!lo) {
        return;
    }
    if (!fc_port_options_ok(io->conn, io->hard_loop_id)) {
        error_setg(errp, "fc-initiator: conn-option must be 0..3 and "
                   "hard-loop-id 0..125 or -1");
        return;
    }
    if (io->role && strcmp(io->role, "initiator") &&
        strcmp(io->role, "target")) {
        error_setg(errp, "fc-initiator: role must be initiator or target");
        return;
    }
    io->sp.port.name = "initiator";
    io->sp.port.wwpn = io->wwpn;
    io->sp.port.wwnn = io->wwnn;
    io->sp.port.conn = io->conn;
    io->sp.port.hard_loop_id = io->hard_loop_id;
    io->sp.login_delay_ns = (int64_t)io->login_delay_us * 1000;
    io->sp.fcp_role = io->role && !strcmp(io->role, "target") ?
                      FC_SIM_ROLE_TARGET : FC_SIM_ROLE_INITIATOR;
    io->sp.log = &lo->log;
    if (io->scenario && *io->scenario) {
        io->sp.scsi = fc_sim_scsi_new(&io->sp, io->scenario, &lo->log, errp);
        if (!io->sp.scsi) {
            return;
        }
    }
    fc_sim_port_init(&io->sp, &lo->link);
    io->held = peer_hold(lo);
    io->attached = true;
    fc_link_set_online(&io->sp.port, true);
}

static void fc_initiator_get_hard_loop_id(Object *obj, Visitor *v,
                                          const char *name, void *opaque,
                                          Error **errp)
{
    visit_type_int32(v, name, &FC_INITIATOR(obj)->hard_loop_id, errp);
}

static void fc_initiator_set_hard_loop_id(Object *obj, Visitor *v,
                                          const char *name, void *opaque,
                                          Error **errp)
{
    visit_type_int32(v, name, &FC_INITIATOR(obj)->hard_loop_id, errp);
}

static char *fc_initiator_get_role(Object *obj, Error **errp)
{
    return g_strdup(FC_INITIATOR(obj)->role ?: "initiator");
}

static void fc_initiator_set_role(Object *obj, const char *v, Error **errp)
{
    g_free(FC_INITIATOR(obj)->role);
    FC_INITIATOR(obj)->role = g_strdup(v);
}

static char *fc_initiator_get_scenario(Object *obj, Error **errp)
{
    return g_strdup(FC_INITIATOR(obj)->scenario ?: "");
}

static void fc_initiator_set_scenario(Object *obj, const char *v,
                                      Error **errp)
{
    FcInitiatorObject *io = FC_INITIATOR(obj);

    if (io->attached) {
        error_setg(errp, "fc-initiator: scenario is set at creation");
        return;
    }
    g_free(io->scenario);
    io->scenario = g_strdup(v);
}

static void fc_initiator_init(Object *obj)
{
    FcInitiatorObject *io = FC_INITIATOR(obj);

    io->wwpn = FC_SIM_DEFAULT_WWPN;
    io->wwnn = FC_SIM_DEFAULT_WWNN;
    io->conn = FC_CONN_LOOP_P2P;
    io->hard_loop_id = -1;
    io->login_delay_us = FC_SIM_DEFAULT_LOGIN_DELAY_US;
    object_property_add_uint64_ptr(obj, "wwpn", &io->wwpn,
                                   OBJ_PROP_FLAG_READWRITE);
    object_property_add_uint64_ptr(obj, "wwnn", &io->wwnn,
                                   OBJ_PROP_FLAG_READWRITE);
    object_property_add_uint32_ptr(obj, "conn-option", &io->conn,
                                   OBJ_PROP_FLAG_READWRITE);
    object_property_add_uint32_ptr(obj, "login-delay-us",
                                   &io->login_delay_us,
                                   OBJ_PROP_FLAG_READWRITE);
}

static void fc_initiator_finalize(Object *obj)
{
    FcInitiatorObject *io = FC_INITIATOR(obj);

    if (io->attached) {
        fc_link_object_leave(io->held, &io->sp.port);
        object_unref(io->held);
    }
    fc_sim_port_finalize(&io->sp);
    g_free(io->role);
    g_free(io->scenario);
}

static void fc_initiator_class_init(ObjectClass *oc, void *data)
{
    USER_CREATABLE_CLASS(oc)->complete = fc_initiator_complete;
    add_link_prop(oc, offsetof(FcInitiatorObject, link));
    object_class_property_add(oc, "hard-loop-id", "int32",
                              fc_initiator_get_hard_loop_id,
                              fc_initiator_set_hard_loop_id, NULL, NULL);
    object_class_property_add_str(oc, "role", fc_initiator_get_role,
                                  fc_initiator_set_role);
    object_class_property_add_str(oc, "scenario", fc_initiator_get_scenario,
                                  fc_initiator_set_scenario);
}

/*
 * fc-capture: the link's frames to a pcap (fc-capture.h); "file" can be
 * changed at run time (the old file is closed first).
 */

#define TYPE_FC_CAPTURE "fc-capture"
OBJECT_DECLARE_SIMPLE_TYPE(FcCaptureObject, FC_CAPTURE)

struct FcCaptureObject {
    Object parent_obj;
    Object *link;
    char *file;
    FcCapture *cap;
    FcLink *on;
    Object *held;
};

static void fc_capture_tap(void *opaque, const FcPort *from,
                           const FcFrame *f)
{
    fc_capture_frame(FC_CAPTURE(opaque)->cap, f);
}

static bool fc_capture_object_open(FcCaptureObject *co, const char *file,
                                   Error **errp)
{
    FcCapture *c = fc_capture_open(file, errp);

    if (!c) {
        return false;
    }
    fc_capture_close(co->cap);
    co->cap = c;
    return true;
}

static void fc_capture_object_complete(UserCreatable *uc, Error **errp)
{
    FcCaptureObject *co = FC_CAPTURE(uc);
    FcLinkObject *lo = peer_link(co->link, TYPE_FC_CAPTURE, errp);

    if (!lo) {
        return;
    }
    if (lo->link.tap) {
        error_setg(errp, "fc-capture: the link already has a capture");
        return;
    }
    if (!co->file || !*co->file) {
        error_setg(errp, "fc-capture: file=<pcap> is required");
        return;
    }
    if (!fc_capture_object_open(co, co->file, errp)) {
        return;
    }
    co->on = &lo->link;
    co->held = peer_hold(lo);
    fc_link_set_tap(co->on, fc_capture_tap, co);
}

static char *fc_capture_object_get_file(Object *obj, Error **errp)
{
    return g_strdup(FC_CAPTURE(obj)->file ?: "");
}

static void fc_capture_object_set_file(Object *obj, const char *v,
                                       Error **errp)
{
    FcCaptureObject *co = FC_CAPTURE(obj);

    if (co->on && !fc_capture_object_open(co, v, errp)) {
        return;
    }
    g_free(co->file);
    co->file = g_strdup(v);
}

static void fc_capture_object_finalize(Object *obj)
{
    FcCaptureObject *co = FC_CAPTURE(obj);

    if (co->on) {
        fc_link_set_tap(co->on, NULL, NULL);
        object_unref(co->held);
    }
    fc_capture_close(co->cap);
    g_free(co->file);
}

static void fc_capture_object_class_init(ObjectClass *oc, void *data)
{
    USER_CREATABLE_CLASS(oc)->complete = fc_capture_object_complete;
    add_link_prop(oc, offsetof(FcCaptureObject, link));
    object_class_property_add_str(oc, "file", fc_capture_object_get_file,
                                  fc_capture_object_set_file);
}

/*
 * fc-replayer: a capture's initiator, replayed (fc-replay.h).
 */

#define TYPE_FC_REPLAYER "fc-replayer"
OBJECT_DECLARE_SIMPLE_TYPE(FcReplayerObject, FC_REPLAYER)

struct FcReplayerObject {
    Object parent_obj;
    Object *link;
    char *file;
    uint64_t initiator;
    uint64_t wwpn;
    uint64_t wwnn;
    uint32_t conn;
    uint32_t scale_pct;
    uint32_t start_us;
    FcReplay *r;
    Object *held;
};

static void fc_replayer_complete(UserCreatable *uc, Error **errp)
{
    FcReplayerObject *ro = FC_REPLAYER(uc);
    FcLinkObject *lo = peer_link(ro->link, TYPE_FC_REPLAYER, errp);

    if (!lo) {
        return;
    }
    if (!ro->file || ro->conn > FC_CONN_P2P_LOOP || ro->scale_pct < 1 ||
        ro->scale_pct > 100000) {
        error_setg(errp, "fc-replayer: file=<pcap> is required, "
                   "conn-option 0..3, scale-pct 1..100000");
        return;
    }
    ro->r = fc_replay_new(ro->file, ro->initiator, ro->wwpn, ro->wwnn,
                          ro->conn, ro->scale_pct / 100.0,
                          (int64_t)ro->start_us * 1000, &lo->link, &lo->log,
                          errp);
    if (ro->r) {
        ro->held = peer_hold(lo);
        fc_link_set_online(fc_replay_port(ro->r), true);
    }
}

static char *fc_replayer_get_file(Object *obj, Error **errp)
{
    return g_strdup(FC_REPLAYER(obj)->file ?: "");
}

static void fc_replayer_set_file(Object *obj, const char *v, Error **errp)
{
    FcReplayerObject *ro = FC_REPLAYER(obj);

    if (ro->r) {
        error_setg(errp, "fc-replayer: file is set at creation");
        return;
    }
    g_free(ro->file);
    ro->file = g_strdup(v);
}

static void fc_replayer_init(Object *obj)
{
    FcReplayerObject *ro = FC_REPLAYER(obj);

    ro->wwpn = FC_SIM_DEFAULT_WWPN;
    ro->wwnn = FC_SIM_DEFAULT_WWNN;
    ro->conn = FC_CONN_LOOP_P2P;
    ro->scale_pct = 100;
    ro->start_us = FC_SIM_DEFAULT_LOGIN_DELAY_US;
    object_property_add_uint64_ptr(obj, "initiator", &ro->initiator,
                                   OBJ_PROP_FLAG_READWRITE);
    object_property_add_uint64_ptr(obj, "wwpn", &ro->wwpn,
                                   OBJ_PROP_FLAG_READWRITE);
    object_property_add_uint64_ptr(obj, "wwnn", &ro->wwnn,
                                   OBJ_PROP_FLAG_READWRITE);
    object_property_add_uint32_ptr(obj, "conn-option", &ro->conn,
                                   OBJ_PROP_FLAG_READWRITE);
    object_property_add_uint32_ptr(obj, "scale-pct", &ro->scale_pct,
                                   OBJ_PROP_FLAG_READWRITE);
    object_property_add_uint32_ptr(obj, "start-us", &ro->start_us,
                                   OBJ_PROP_FLAG_READWRITE);
}

static void fc_replayer_finalize(Object *obj)
{
    FcReplayerObject *ro = FC_REPLAYER(obj);

    if (ro->r) {
        fc_link_object_leave(ro->held, fc_replay_port(ro->r));
        fc_replay_free(ro->r);
        object_unref(ro->held);
    }
    g_free(ro->file);
}

static void fc_replayer_class_init(ObjectClass *oc, void *data)
{
    USER_CREATABLE_CLASS(oc)->complete = fc_replayer_complete;
    add_link_prop(oc, offsetof(FcReplayerObject, link));
    object_class_property_add_str(oc, "file", fc_replayer_get_file,
                                  fc_replayer_set_file);
}

/*
 * fc-remote: the port of another QEMU on the link, over a chardev
 * (fc-remote.h).
 */

#define TYPE_FC_REMOTE "fc-remote"
OBJECT_DECLARE_SIMPLE_TYPE(FcRemoteObject, FC_REMOTE)

struct FcRemoteObject {
    Object parent_obj;
    Object *link;
    char *chardev;
    FcRemote *r;
    Object *held;
};

static void fc_remote_object_complete(UserCreatable *uc, Error **errp)
{
    FcRemoteObject *ro = FC_REMOTE(uc);
    FcLinkObject *lo = peer_link(ro->link, TYPE_FC_REMOTE, errp);
    Chardev *chr;

    if (!lo) {
        return;
    }
    if (!ro->chardev || !*ro->chardev) {
        error_setg(errp, "fc-remote: chardev=<id> is required");
        return;
    }
    chr = qemu_chr_find(ro->chardev);
    if (!chr) {
        error_setg(errp, "fc-remote: no chardev '%s'", ro->chardev);
        return;
    }
    ro->r = fc_remote_new(&lo->link, chr, &lo->log, errp);
    if (ro->r) {
        ro->held = peer_hold(lo);
    }
}

static char *fc_remote_object_get_chardev(Object *obj, Error **errp)
{
    return g_strdup(FC_REMOTE(obj)->chardev ?: "");
}

static void fc_remote_object_set_chardev(Object *obj, const char *v,
                                         Error **errp)
{
    FcRemoteObject *ro = FC_REMOTE(obj);

    if (ro->r) {
        error_setg(errp, "fc-remote: chardev is set at creation");
        return;
    }
    g_free(ro->chardev);
    ro->chardev = g_strdup(v);
}

static void fc_remote_object_finalize(Object *obj)
{
    FcRemoteObject *ro = FC_REMOTE(obj);

    if (ro->r) {
        fc_link_object_leave(ro->held, fc_remote_port(ro->r));
        fc_remote_free(ro->r);
        object_unref(ro->held);
    }
    g_free(ro->chardev);
}

static void fc_remote_object_class_init(ObjectClass *oc, void *data)
{
    USER_CREATABLE_CLASS(oc)->complete = fc_remote_object_complete;
    add_link_prop(oc, offsetof(FcRemoteObject, link));
    object_class_property_add_str(oc, "chardev",
                                  fc_remote_object_get_chardev,
                                  fc_remote_object_set_chardev);
}

static const TypeInfo fc_object_types[] = {
    {
        .name = TYPE_FC_LINK_OBJECT,
        .parent = TYPE_OBJECT,
        .instance_size = sizeof(FcLinkObject),
        .instance_init = fc_link_object_init,
        .instance_finalize = fc_link_object_finalize,
        .class_init = fc_link_object_class_init,
        .interfaces = (InterfaceInfo[]) { { TYPE_USER_CREATABLE }, { } },
    }, {
        .name = TYPE_FC_INITIATOR,
        .parent = TYPE_OBJECT,
        .instance_size = sizeof(FcInitiatorObject),
        .instance_init = fc_initiator_init,
        .instance_finalize = fc_initiator_finalize,
        .class_init = fc_initiator_class_init,
        .interfaces = (InterfaceInfo[]) { { TYPE_USER_CREATABLE }, { } },
    }, {
        .name = TYPE_FC_CAPTURE,
        .parent = TYPE_OBJECT,
        .instance_size = sizeof(FcCaptureObject),
        .instance_finalize = fc_capture_object_finalize,
        .class_init = fc_capture_object_class_init,
        .interfaces = (InterfaceInfo[]) { { TYPE_USER_CREATABLE }, { } },
    }, {
        .name = TYPE_FC_REPLAYER,
        .parent = TYPE_OBJECT,
        .instance_size = sizeof(FcReplayerObject),
        .instance_init = fc_replayer_init,
        .instance_finalize = fc_replayer_finalize,
        .class_init = fc_replayer_class_init,
        .interfaces = (InterfaceInfo[]) { { TYPE_USER_CREATABLE }, { } },
    }, {
        .name = TYPE_FC_REMOTE,
        .parent = TYPE_OBJECT,
        .instance_size = sizeof(FcRemoteObject),
        .instance_finalize = fc_remote_object_finalize,
        .class_init = fc_remote_object_class_init,
        .interfaces = (InterfaceInfo[]) { { TYPE_USER_CREATABLE }, { } },
    },
};

DEFINE_TYPES(fc_object_types)
