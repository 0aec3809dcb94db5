/*
 * A link between two QEMUs over a chardev (fc-remote.h, docs/link.md
 * §10).
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "migration/blocker.h"
#include "fc-remote.h"
#include "fc-capture.h"

#define MSG_HDR_LEN             8
#define MSG_VERSION             1
#define MSG_MAX_BODY            (8 + FC_CAPTURE_MAX_RECORD)

/* Message types (fc-remote.h: the wire format) */
enum {
    MSG_HELLO = 1,      /* u32 version */
    MSG_PORT = 2,       /* u8 online, u8 conn, s16 hard loop ID, u64 wwpn,
                         * u64 wwnn: the sender's port */
    MSG_LIP = 3,        /* u16 LIP type */
    MSG_LIP_RESET = 4,  /* u8 1: to the receiver's port, 0: from it */
    MSG_DOWN = 5,       /* u8 1 down, 0 up */
    MSG_FRAME = 6,      /* s64 send time ns, capture record */
    MSG_UP = 7,         /* u32 the sender's N_Port ID, u32 the one it gave
                         * the receiver's port: checked by the receiver */
};

struct FcRemote {
    CharBackend chr;
    FcLink *link;
    FcLog *log;
    FcPort proxy;               /* the far side's port on this link */
    FcPort *local;              /* this side's port, once it went online */
    Error *blocker;
    bool connected;
    bool applying;              /* repeating the far side's control */
    uint8_t buf[MSG_HDR_LEN + MSG_MAX_BODY];
    uint32_t fill;
    GQueue *held;               /* FcFrame *: for a link initialising */
    bool up_check;              /* the far side's MSG_UP, not yet checked */
    uint32_t up_mine, up_yours;
    uint64_t sent, received, held_count, lost, mismatches, errors;
};

/* ------------------------------------------------------------------ */
/* Sending                                                            */

static void send_msg(FcRemote *r, uint8_t type, const void *body,
                     uint32_t len)
{
    uint8_t hdr[MSG_HDR_LEN] = { 'F', 'C', type, 0 };

    if (!r->connected) {
        return;
    }
    stl_be_p(hdr + 4, len);
    qemu_chr_fe_write_all(&r->chr, hdr, sizeof(hdr));
    if (len) {
        qemu_chr_fe_write_all(&r->chr, body, len);
    }
}

static void send_port(FcRemote *r, FcPort *p, bool online)
{
    uint8_t b[20];

    b[0] = online;
    b[1] = p->conn;
    stw_be_p(b + 2, (int16_t)p->hard_loop_id);
    stq_be_p(b + 4, p->wwpn);
    stq_be_p(b + 12, p->wwnn);
    send_msg(r, MSG_PORT, b, sizeof(b));
}

static void send_u8(FcRemote *r, uint8_t type, uint8_t v)
{
    send_msg(r, type, &v, 1);
}

/*
 * The link's controls (FcLinkCtlHook): what this side's port or user did
 * is repeated on the far side; what the far side did and this side is
 * repeating (@applying), and the proxy's own changes, are not sent back.
 */
static void remote_ctl(void *opaque, FcLinkCtl ctl, FcPort *a, FcPort *b,
                       uint16_t arg)
{
    FcRemote *r = opaque;
    uint8_t lip[2];

    if (r->applying) {
        return;
    }
    switch (ctl) {
    case FC_CTL_ONLINE:
        if (a == &r->proxy) {
            return;
        }
        if (r->local && r->local != a) {
            warn_report("fc-remote: port %s went online beside %s: only "
                        "one local port crosses to the other QEMU",
                        a->name, r->local->name);
            return;
        }
        r->local = a;
        send_port(r, a, arg);
        break;
    case FC_CTL_LIP:
        stw_be_p(lip, arg);
        send_msg(r, MSG_LIP, lip, sizeof(lip));
        break;
    case FC_CTL_LIP_RESET:
        send_u8(r, MSG_LIP_RESET, b == &r->proxy);
        break;
    case FC_CTL_DOWN:
        send_u8(r, MSG_DOWN, arg);
        break;
    }
}

/* The proxy's receive: a frame for the far side's port crosses over. */
static void proxy_receive(FcPort *port, const FcFrame *f)
{
    FcRemote *r = container_of(port, FcRemote, proxy);
    uint8_t b[MSG_MAX_BODY];

    if (!r->connected) {
        r->lost++;
        return;
    }
    stq_be_p(b, f->time_ns);
    send_msg(r, MSG_FRAME, b, 8 + fc_capture_record(f, b + 8));
    r->sent++;
}

/* ------------------------------------------------------------------ */
/* Receiving                                                          */

static void log_event(FcRemote *r, const char *event, const char *detail)
{
    QDict *e = fc_log_event(r->log, "remote", event);

    if (e && detail) {
        qdict_put_str(e, "detail", detail);
    }
}

static void apply_online(FcRemote *r, bool online)
{
    r->applying = true;
    fc_link_set_online(&r->proxy, online);
    r->applying = false;
}

static void drop_held(FcRemote *r)
{
    r->lost += g_queue_get_length(r->held);
    g_queue_free_full(r->held, g_free);
    r->held = g_queue_new();
}

/* Compare the far side's addresses with this side's (MSG_UP). */
static void check_up(FcRemote *r)
{
    FcPort *me = fc_link_peer(&r->proxy);
    g_autofree char *why = NULL;

    r->up_check = false;
    if (!me) {
        return;
    }
    if (r->up_mine == r->proxy.port_id && r->up_yours == me->port_id) {
        return;
    }
    why = g_strdup_printf("the other QEMU has N_Port ID %06x for itself and "
                          "%06x for this side's port; this side has %06x "
                          "and %06x", r->up_mine, r->up_yours,
                          r->proxy.port_id, me->port_id);
    r->mismatches++;
    log_event(r, "address-mismatch", why);
    error_report("fc-remote: %s", why);
}

static void proxy_link_event(FcPort *port, FcLinkEvent ev, uint16_t lip)
{
    FcRemote *r = container_of(port, FcRemote, proxy);
    FcPort *me;
    uint8_t b[8];
    FcFrame *f;

    if (ev != FC_EV_LINK_UP) {
        return;
    }
    me = fc_link_peer(port);
    stl_be_p(b, me ? me->port_id : 0);
    stl_be_p(b + 4, port->port_id);
    send_msg(r, MSG_UP, b, sizeof(b));
    if (r->up_check) {
        check_up(r);
    }
    /* what arrived while this side was still initialising */
    while ((f = g_queue_pop_head(r->held)) != NULL) {
        fc_link_send(&r->proxy, f);
    }
}

static void receive_frame(FcRemote *r, const uint8_t *b, uint32_t len)
{
    FcFrame *f;
    const char *why;

    if (len < 8) {
        why = "shorter than its send time";
    } else {
        f = g_new0(FcFrame, 1);
        why = fc_capture_parse_record(b + 8, len - 8, true, f);
        if (!why) {
            r->received++;
            if (r->proxy.up) {
                fc_link_send(&r->proxy, f);
            } else if (fc_link_initialising(r->link) &&
                       g_queue_get_length(r->held) < FC_REMOTE_MAX_HELD) {
                g_queue_push_tail(r->held, f);
                r->held_count++;
            } else {
                g_free(f);
                r->lost++;
            }
            return;
        }
        g_free(f);
    }
    r->errors++;
    log_event(r, "bad-frame", why);
    error_report("fc-remote: a frame from the other QEMU: %s", why);
}

/* One whole message; false: a protocol error (named in the log). */
static bool receive_msg(FcRemote *r, uint8_t type, const uint8_t *b,
                        uint32_t len)
{
    static const uint32_t body_len[] = {
        [MSG_HELLO] = 4, [MSG_PORT] = 20, [MSG_LIP] = 2,
        [MSG_LIP_RESET] = 1, [MSG_DOWN] = 1, [MSG_UP] = 8,
    };
    FcPort *me;
    int16_t hard;

    if (type == 0 || type > MSG_UP ||
        (type != MSG_FRAME && len != body_len[type])) {
        return false;
    }
    r->applying = true;
    switch (type) {
    case MSG_HELLO:
        if (ldl_be_p(b) != MSG_VERSION) {
            r->applying = false;
            return false;
        }
        log_event(r, "hello", NULL);
        break;
    case MSG_PORT:
        hard = lduw_be_p(b + 2);
        if (!fc_port_options_ok(b[1], hard)) {
            r->applying = false;
            return false;
        }
        r->proxy.conn = b[1];
        r->proxy.hard_loop_id = hard;
        r->proxy.wwpn = ldq_be_p(b + 4);
        r->proxy.wwnn = ldq_be_p(b + 12);
        if (!b[0]) {
            drop_held(r);
        }
        fc_link_set_online(&r->proxy, b[0] != 0);
        break;
    case MSG_LIP:
        fc_link_lip(r->link, lduw_be_p(b));
        break;
    case MSG_LIP_RESET:
        me = fc_link_peer(&r->proxy);
        if (me && b[0]) {
            fc_link_lip_reset(&r->proxy, me);
        } else if (me) {
            fc_link_lip_reset(me, &r->proxy);
        }
        break;
    case MSG_DOWN:
        fc_link_force_down(r->link, b[0] != 0);
        break;
    case MSG_FRAME:
        receive_frame(r, b, len);
        break;
    case MSG_UP:
        r->up_mine = ldl_be_p(b);
        r->up_yours = ldl_be_p(b + 4);
        r->up_check = true;
        if (r->proxy.up) {
            check_up(r);
        }
        break;
    }
    r->applying = false;
    return true;
}

static int remote_can_read(void *opaque)
{
    FcRemote *r = opaque;

    return sizeof(r->buf) - r->fill;
}

static void remote_read(void *opaque, const uint8_t *buf, int size)
{
    FcRemote *r = opaque;
    uint32_t len;
    int n;

    while (size > 0) {
        n = MIN(size, (int)(sizeof(r->buf) - r->fill));
        memcpy(r->buf + r->fill, buf, n);
        r->fill += n;
        buf += n;
        size -= n;
        while (r->fill >= MSG_HDR_LEN) {
            len = ldl_be_p(r->buf + 4);
            if (r->buf[0] != 'F' || r->buf[1] != 'C' || len > MSG_MAX_BODY) {
                goto bad;
            }
            if (r->fill < MSG_HDR_LEN + len) {
                break;
            }
            if (!receive_msg(r, r->buf[2], r->buf + MSG_HDR_LEN, len)) {
                goto bad;
            }
            r->fill -= MSG_HDR_LEN + len;
            memmove(r->buf, r->buf + MSG_HDR_LEN + len, r->fill);
        }
    }
    return;

bad:
    /* not this protocol (or another version): the connection goes */
    r->errors++;
    log_event(r, "protocol-error", NULL);
    error_report("fc-remote: the other end sent a message of type %u and "
                 "%u bytes that is not fc-remote protocol version %d; "
                 "disconnecting", r->buf[2], ldl_be_p(r->buf + 4),
                 MSG_VERSION);
    r->fill = 0;
    qemu_chr_fe_disconnect(&r->chr);
}

static void remote_chr_event(void *opaque, QEMUChrEvent event)
{
    FcRemote *r = opaque;
    uint8_t v[4];

    switch (event) {
    case CHR_EVENT_OPENED:
        r->connected = true;
        r->fill = 0;
        log_event(r, "connected", NULL);
        stl_be_p(v, MSG_VERSION);
        send_msg(r, MSG_HELLO, v, sizeof(v));
        if (r->local) {
            send_port(r, r->local, r->local->online);
        }
        break;
    case CHR_EVENT_CLOSED:
        if (!r->connected) {
            break;
        }
        r->connected = false;
        log_event(r, "disconnected", NULL);
        /* no light from the far side any more */
        drop_held(r);
        apply_online(r, false);
        break;
    default:
        break;
    }
}

/* ------------------------------------------------------------------ */

static void proxy_report(FcPort *port, QDict *out)
{
    fc_remote_report(container_of(port, FcRemote, proxy), out);
}

static const FcPortOps proxy_ops = {
    .link_event = proxy_link_event,
    .receive = proxy_receive,
    .report = proxy_report,
};

void fc_remote_report(FcRemote *r, QDict *out)
{
    QDict *d = qdict_new();

    qdict_put_bool(d, "connected", r->connected);
    qdict_put_int(d, "far_wwpn", r->proxy.wwpn);
    qdict_put_int(d, "frames_sent", r->sent);
    qdict_put_int(d, "frames_received", r->received);
    qdict_put_int(d, "frames_held", r->held_count);
    qdict_put_int(d, "frames_lost", r->lost);
    qdict_put_int(d, "address_mismatches", r->mismatches);
    qdict_put_int(d, "protocol_errors", r->errors);
    qdict_put(out, "remote", d);
}

FcRemote *fc_remote_new(FcLink *link, Chardev *chr, FcLog *log,
                        Error **errp)
{
    FcRemote *r;
    unsigned i;

    if (link->ctl_hook) {
        error_setg(errp, "fc-remote: the link already goes to another QEMU");
        return NULL;
    }
    r = g_new0(FcRemote, 1);
    if (!qemu_chr_fe_init(&r->chr, chr, errp)) {
        g_free(r);
        return NULL;
    }
    error_setg(&r->blocker, "fc-remote: a link to another QEMU cannot be "
               "migrated or saved");
    if (migrate_add_blocker(r->blocker, errp) < 0) {
        error_free(r->blocker);
        qemu_chr_fe_deinit(&r->chr, false);
        g_free(r);
        return NULL;
    }
    r->link = link;
    r->log = log;
    r->held = g_queue_new();
    r->proxy.name = "remote";
    r->proxy.conn = FC_CONN_LOOP_P2P;
    r->proxy.hard_loop_id = -1;
    r->proxy.ops = &proxy_ops;
    for (i = 0; i < link->nports && !r->local; i++) {
        if (link->ports[i]->online) {
            r->local = link->ports[i];      /* online before us */
        }
    }
    fc_link_attach(link, &r->proxy);
    fc_link_set_ctl_hook(link, remote_ctl, r);
    qemu_chr_fe_set_handlers(&r->chr, remote_can_read, remote_read,
                             remote_chr_event, NULL, r, NULL, true);
    return r;
}

FcPort *fc_remote_port(FcRemote *r)
{
    return &r->proxy;
}

void fc_remote_free(FcRemote *r)
{
    if (!r) {
        return;
    }
    qemu_chr_fe_deinit(&r->chr, false);
    fc_link_set_ctl_hook(r->link, NULL, NULL);
    r->applying = true;
    fc_link_detach(&r->proxy);
    migrate_del_blocker(r->blocker);
    error_free(r->blocker);
    g_queue_free_full(r->held, g_free);
    g_free(r);
}
