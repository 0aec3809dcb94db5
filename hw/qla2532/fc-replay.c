/*
 * Replay of a captured initiator against the emulated ISP (fc-replay.h,
 * docs/replay.md).
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/timer.h"
#include <pcap/pcap.h>
#include <zlib.h>
#include "fc-replay.h"
#include "fc-capture.h"
#include "fc-els.h"

#define FCTL_EX_CTX             FC_FCTL_EX_CTX
/*
 * A missing frame is given up after this much virtual time, at least,
 * or four times its captured gap.
 */
#define REPLAY_MIN_WAIT_NS      (500 * SCALE_MS)

typedef struct ReplayXchg {
    bool ours;                  /* originated by the replayed initiator */
    uint16_t cap_ox;
    uint16_t live_ox;           /* target-originated: learned */
    uint16_t live_rx;           /* ours: the target's RX_ID, learned */
    bool live_known;
    bool started;               /* ours: first frame sent */
    uint64_t exp_bytes;         /* read data the capture has */
    uint32_t exp_crc;
    uint64_t got_bytes;         /* read data that came */
    uint32_t got_crc;
} ReplayXchg;

typedef struct ReplayFrame {
    /* as captured, payload only to f->len; f->time_ns: its time stamp */
    FcFrame *f;
    unsigned xid;               /* exchange instance */
    bool out;                   /* sent by the replayed initiator */
    bool passive;               /* read data: compared per exchange */
    bool done;                  /* sent / matched / given up */
} ReplayFrame;

struct FcReplay {
    FcPort port;
    FcLog *log;
    char *path;
    double scale;
    int64_t start_ns;
    ReplayFrame *frames;
    unsigned n;
    ReplayXchg *xchgs;
    unsigned nx;
    uint32_t cap_ini;           /* captured N_Port IDs */
    uint32_t cap_tgt;
    unsigned ini_frames;

    unsigned cur;               /* first frame not done */
    int64_t anchor_live;        /* live time of the last frame done */
    int64_t anchor_cap;         /* its capture time */
    bool running;
    QEMUTimer *timer;
    unsigned sent;
    unsigned matched;
    unsigned ndiv;
    QDict *counts;
    QList *detail;
    QDict *first;
};

/*
 * ---------------------------------------------------------------------
 * What a frame is, in words (for the report)
 */

/*
 * FCP_RSP: SCSI status and, if sense is valid, key/ASC/ASCQ (FCP-4
 * FCP_RSP IU; the sense data in SPC-4 fixed format)
 */
static void rsp_fields(const FcFrame *f, int *status, int *key, int *asc,
                       int *ascq)
{
    uint32_t rsp_len, off;

    *status = f->len > 11 ? f->payload[11] : -1;
    *key = *asc = *ascq = -1;
    if (f->len < 24 || !(f->payload[10] & FCP_SNS_LEN_VALID)) {
        return;
    }
    rsp_len = (f->payload[10] & FCP_RSP_LEN_VALID) ?
              ldl_be_p(f->payload + 20) : 0;
    off = 24 + MIN(rsp_len, FC_MAX_PAYLOAD);
    if (off + 14 <= f->len) {
        *key = f->payload[off + 2] & 0x0f;
        *asc = f->payload[off + 12];
        *ascq = f->payload[off + 13];
    }
}

static char *frame_desc(const FcFrame *f)
{
    int st, key, asc, ascq;

    switch (fc_r_ctl(f)) {
    case FC_RCTL_ELS_REQ:
    case FC_RCTL_ELS_REP:
        /* LS_RJT: reason code and explanation in word 1 (FC-LS-3) */
        if (f->len >= 8 && f->payload[0] == ELS_LS_RJT) {
            return g_strdup_printf("ELS LS_RJT reason 0x%02x explanation "
                                   "0x%02x", f->payload[5], f->payload[6]);
        }
        return g_strdup_printf("ELS %s", f->len ?
                               fc_els_name(f->payload[0]) : "(empty)");
    case FC_RCTL_BA_ABTS:
        return g_strdup("BLS ABTS");
    case FC_RCTL_BA_ACC:
        return g_strdup("BLS BA_ACC");
    case FC_RCTL_BA_RJT:
        return g_strdup("BLS BA_RJT");
    case FC_RCTL_DD_UNSOL_CMD:
        return g_strdup_printf("FCP_CMND op 0x%02x",
                               f->len > 12 ? f->payload[12] : 0);
    case FC_RCTL_DD_DATA_DESC:
        return g_strdup("FCP_XFER_RDY");
    case FC_RCTL_DD_SOL_DATA:
        return g_strdup_printf("FCP_DATA %u bytes", f->len);
    case FC_RCTL_DD_CMD_STATUS:
        rsp_fields(f, &st, &key, &asc, &ascq);
        if (key >= 0) {
            return g_strdup_printf("FCP_RSP status 0x%02x sense "
                                   "%x/%02x/%02x", st, key, asc, ascq);
        }
        return g_strdup_printf("FCP_RSP status 0x%02x", st);
    default:
        return g_strdup_printf("R_CTL 0x%02x", fc_r_ctl(f));
    }
}

/*
 * ---------------------------------------------------------------------
 * Loading a capture
 */

static bool is_exchange_start(const FcFrame *f)
{
    return fc_r_ctl(f) == FC_RCTL_DD_UNSOL_CMD ||
           fc_r_ctl(f) == FC_RCTL_ELS_REQ;
}

/* Parse one pcap record into a frame; false with @errp on bad input. */
static FcFrame *record_frame(const uint8_t *data, uint32_t caplen,
                             uint32_t len, int linktype, unsigned number,
                             const char *path, Error **errp)
{
    g_autofree FcFrame *whole = g_new(FcFrame, 1);
    bool delims = linktype == FC_CAPTURE_LINKTYPE;
    const char *why;
    FcFrame *f;

    if (caplen < len) {
        error_setg(errp, "capture %s: frame %u: only %u of its %u bytes "
                   "were captured", path, number, caplen, len);
        return NULL;
    }
    why = fc_capture_parse_record(data, len, delims, whole);
    if (why) {
        error_setg(errp, "capture %s: frame %u: %s (record: %u bytes, "
                   "payload: %d bytes)", path, number, why, len,
                   MAX((int)len - (delims ? 36 : FC_HDR_LEN), 0));
        return NULL;
    }
    /* only the payload captured is allocated: no read goes past @len */
    f = g_malloc0(offsetof(FcFrame, payload) + whole->len);
    memcpy(f, whole, offsetof(FcFrame, payload) + whole->len);
    return f;
}

static bool load_capture(FcReplay *r, Error **errp)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    struct pcap_pkthdr *h;
    const u_char *data;
    uint64_t bytes = 0;
    GArray *frames = g_array_new(false, true, sizeof(ReplayFrame));
    pcap_t *p;
    int linktype, rc;
    bool ok = false;

    p = pcap_open_offline_with_tstamp_precision(r->path,
                                                PCAP_TSTAMP_PRECISION_NANO,
                                                errbuf);
    if (!p) {
        error_setg(errp, "capture %s: %s", r->path, errbuf);
        g_array_free(frames, true);
        return false;
    }
    linktype = pcap_datalink(p);
    if (linktype != FC_CAPTURE_LINKTYPE && linktype != 224) {
        error_setg(errp, "capture %s: link type %d (%s), not Fibre Channel "
                   "FC-2 (224 or 225)", r->path, linktype,
                   pcap_datalink_val_to_name(linktype) ?: "unknown");
        goto out;
    }
    while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
        ReplayFrame rf = { 0 };

        if (frames->len >= FC_REPLAY_MAX_FRAMES ||
            bytes + h->caplen > FC_REPLAY_MAX_BYTES) {
            error_setg(errp, "capture %s: more than %u frames or %u MiB",
                       r->path, FC_REPLAY_MAX_FRAMES,
                       FC_REPLAY_MAX_BYTES >> 20);
            goto out;
        }
        rf.f = record_frame(data, h->caplen, h->len, linktype,
                            frames->len + 1, r->path, errp);
        if (!rf.f) {
            goto out;
        }
        rf.f->time_ns = (int64_t)h->ts.tv_sec * NANOSECONDS_PER_SECOND +
                        h->ts.tv_usec;
        bytes += h->caplen;
        g_array_append_val(frames, rf);
    }
    if (rc == PCAP_ERROR) {
        error_setg(errp, "capture %s: frame %u: %s", r->path,
                   frames->len + 1, pcap_geterr(p));
        goto out;
    }
    ok = true;
out:
    pcap_close(p);
    r->n = frames->len;
    r->frames = (ReplayFrame *)g_array_free(frames, false);
    return ok;
}

/* The initiator and target of the capture, and each frame's exchange. */
static bool classify(FcReplay *r, uint64_t as_initiator, Error **errp)
{
    g_autoptr(GHashTable) open = g_hash_table_new(NULL, NULL);
    unsigned i;
    bool found = false;

    for (i = 0; i < r->n && !found; i++) {
        FcFrame *f = r->frames[i].f;

        if (as_initiator) {
            /* its PLOGI or its LS_ACC to one carries its port name */
            if ((fc_r_ctl(f) == FC_RCTL_ELS_REQ ||
                 fc_r_ctl(f) == FC_RCTL_ELS_REP) && f->len >= 28 &&
                (f->payload[0] == ELS_PLOGI || f->payload[0] == ELS_LS_ACC) &&
                fc_els_plogi_wwpn(f->payload, f->len) == as_initiator) {
                r->cap_ini = fc_s_id(f);
                r->cap_tgt = fc_d_id(f);
                found = true;
            }
        } else if (fc_r_ctl(f) == FC_RCTL_DD_UNSOL_CMD) {
            r->cap_ini = fc_s_id(f);
            r->cap_tgt = fc_d_id(f);
            found = true;
        }
    }
    if (!found) {
        error_setg(errp, "capture %s: no frames of an initiator (%s)",
                   r->path, as_initiator ? "no login of that WWPN" :
                   "no FCP_CMND");
        return false;
    }
    r->xchgs = g_new0(ReplayXchg, r->n + 1);
    for (i = 0; i < r->n; i++) {
        ReplayFrame *rf = &r->frames[i];
        FcFrame *f = rf->f;
        bool from_ini = fc_s_id(f) == r->cap_ini && fc_d_id(f) == r->cap_tgt;
        bool from_tgt = fc_s_id(f) == r->cap_tgt && fc_d_id(f) == r->cap_ini;
        bool orig = !(fc_f_ctl(f) & FCTL_EX_CTX);
        bool ours = from_ini == orig;
        gpointer key = GUINT_TO_POINTER(fc_ox_id(f) | (ours ? 0x10000 : 0));
        ReplayXchg *x;

        if (!from_ini && !from_tgt) {
            rf->done = true;            /* between other ports: not ours */
            continue;
        }
        rf->out = from_ini;
        r->ini_frames += from_ini;
        if (!g_hash_table_contains(open, key) ||
            (orig && is_exchange_start(f))) {
            x = &r->xchgs[r->nx];
            x->ours = ours;
            x->cap_ox = fc_ox_id(f);
            g_hash_table_insert(open, key, GUINT_TO_POINTER(r->nx++));
        }
        rf->xid = GPOINTER_TO_UINT(g_hash_table_lookup(open, key));
        x = &r->xchgs[rf->xid];
        if (!rf->out && fc_r_ctl(f) == FC_RCTL_DD_SOL_DATA) {
            rf->passive = true;
            x->exp_crc = crc32(x->exp_crc, f->payload, f->len);
            x->exp_bytes += f->len;
        }
    }
    return true;
}

/*
 * ---------------------------------------------------------------------
 * Divergences and events
 */

static void diverge(FcReplay *r, const char *kind, unsigned frame,
                    const char *expected, const char *got)
{
    QDict *d;
    QDict *e;

    r->ndiv++;
    qdict_put_int(r->counts, kind, qdict_get_try_int(r->counts, kind, 0) + 1);
    if (r->ndiv <= FC_REPLAY_MAX_DETAIL) {
        d = qdict_new();
        qdict_put_str(d, "kind", kind);
        qdict_put_int(d, "frame", frame);
        qdict_put_str(d, "expected", expected);
        qdict_put_str(d, "got", got);
        qdict_put_int(d, "t_ns", qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL));
        if (!r->first) {
            r->first = qdict_clone_shallow(d);
        }
        qlist_append(r->detail, d);
    }
    e = r->log ? fc_log_event(r->log, "replay", "divergence") : NULL;
    if (e) {
        qdict_put_str(e, "kind", kind);
        qdict_put_int(e, "frame", frame);
        qdict_put_str(e, "expected", expected);
        qdict_put_str(e, "got", got);
    }
}

static void log_frame(FcReplay *r, const char *what, const FcFrame *f,
                      unsigned frame)
{
    g_autofree char *desc = frame_desc(f);
    QDict *e = r->log ? fc_log_event(r->log, "replay", what) : NULL;

    if (e) {
        qdict_put_str(e, "frame_kind", desc);
        qdict_put_int(e, "frame", frame);
        qdict_put_int(e, "ox_id", fc_ox_id(f));
        qdict_put_int(e, "rx_id", fc_rx_id(f));
    }
}

/*
 * ---------------------------------------------------------------------
 * Sending the initiator's frames
 */

static void remap_id(uint8_t *p, uint32_t from, uint32_t to)
{
    if (fc_get24(p) == from) {
        fc_put24(p, to);
    }
}

static void send_frame(FcReplay *r, unsigned i)
{
    ReplayFrame *rf = &r->frames[i];
    ReplayXchg *x = &r->xchgs[rf->xid];
    FcPort *peer = fc_link_peer(&r->port);
    FcFrame *f = g_new(FcFrame, 1);

    memcpy(f, rf->f, offsetof(FcFrame, payload) + rf->f->len);
    fc_put24(f->hdr + 5, r->port.port_id);
    fc_put24(f->hdr + 1, peer ? peer->port_id : r->cap_tgt);
    if (x->ours) {
        x->started = true;
        if (x->live_known && fc_rx_id(f) != 0xffff) {
            stw_be_p(f->hdr + 18, x->live_rx);
        }
    } else if (x->live_known) {
        stw_be_p(f->hdr + 16, x->live_ox);
    }
    /*
     * N_Port IDs inside payloads: LOGO (FC-LS-3), ADISC (FC-LS-3)
     * and a BA_ACC's OX_ID/RX_ID are the live link's
     */
    if (fc_r_ctl(f) == FC_RCTL_ELS_REQ && f->len >= 8 &&
        f->payload[0] == ELS_LOGO) {
        remap_id(f->payload + 5, r->cap_ini, r->port.port_id);
    } else if ((fc_r_ctl(f) == FC_RCTL_ELS_REQ ||
                fc_r_ctl(f) == FC_RCTL_ELS_REP) && f->len >= 28 &&
               (f->payload[0] == ELS_ADISC ||
                (f->payload[0] == ELS_LS_ACC && f->len == 28))) {
        remap_id(f->payload + 25, r->cap_ini, r->port.port_id);
    } else if (fc_r_ctl(f) == FC_RCTL_BA_ACC && f->len >= 8 &&
               x->live_known && !x->ours) {
        stw_be_p(f->payload + 4, x->live_ox);
    }
    rf->done = true;
    r->sent++;
    log_frame(r, "sent", f, i + 1);
    fc_link_send(&r->port, f);
}

/*
 * ---------------------------------------------------------------------
 * The step engine: the cursor moves over the capture in order
 */

static void step(FcReplay *r);

static void timer_cb(void *opaque)
{
    FcReplay *r = opaque;
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
    ReplayFrame *rf;

    if (r->cur < r->n) {
        rf = &r->frames[r->cur];
        if (!rf->out && !rf->done) {
            /* the wait for a captured frame of the target ran out */
            g_autofree char *exp = frame_desc(rf->f);

            diverge(r, "missing", r->cur + 1, exp, "nothing");
            rf->done = true;
            r->anchor_live = now;
            r->anchor_cap = rf->f->time_ns;
        }
    }
    step(r);
}

static int64_t due_time(FcReplay *r, const ReplayFrame *rf, double factor)
{
    int64_t gap = MAX(rf->f->time_ns - r->anchor_cap, 0);

    return r->anchor_live + (int64_t)(gap * r->scale * factor);
}

static void step(FcReplay *r)
{
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
    QDict *e;

    if (!r->running) {
        return;
    }
    while (r->cur < r->n) {
        ReplayFrame *rf = &r->frames[r->cur];

        if (rf->done || rf->passive) {
            r->cur++;
            continue;
        }
        if (rf->out && !r->xchgs[rf->xid].ours &&
            !r->xchgs[rf->xid].live_known) {
            /*
             * The captured initiator's answer (an LS_ACC to a LOGO, a
             * BA_ACC) to a request of the target that never came on the
             * live link -- already a "missing" divergence.  A Responder
             * frame of no open exchange is not sent (FC-FS-3 exchange
             * management; Wireshark would flag it "no record of
             * exchange"): it is skipped and logged.
             */
            rf->done = true;
            log_frame(r, "skipped", rf->f, r->cur + 1);
            r->cur++;
            continue;
        }
        if (rf->out) {
            int64_t due = due_time(r, rf, 1.0);

            if (due > now) {
                timer_mod(r->timer, due);
                return;
            }
            send_frame(r, r->cur);
            r->anchor_live = now;
            r->anchor_cap = rf->f->time_ns;
            r->cur++;
            continue;
        }
        /* a frame of the target: wait for it, bounded */
        timer_mod(r->timer, MAX(due_time(r, rf, 4.0),
                                r->anchor_live + REPLAY_MIN_WAIT_NS));
        return;
    }
    timer_del(r->timer);
    r->running = false;
    e = r->log ? fc_log_event(r->log, "replay", "done") : NULL;
    if (e) {
        qdict_put_int(e, "divergences", r->ndiv);
    }
}

/*
 * ---------------------------------------------------------------------
 * Receiving the target's frames
 */

/*
 * The exchange a live frame of the target belongs to, or -1: ours by
 * our OX_ID (the latest instance started), the target's by its live one.
 */
static int live_xchg(FcReplay *r, const FcFrame *f)
{
    bool ours = fc_f_ctl(f) & FCTL_EX_CTX;      /* the target responds */
    int found = -1;
    unsigned i;

    for (i = 0; i < r->nx; i++) {
        ReplayXchg *x = &r->xchgs[i];

        if (ours ? x->ours && x->started && x->cap_ox == fc_ox_id(f) :
            !x->ours && x->live_known && x->live_ox == fc_ox_id(f)) {
            found = i;
        }
    }
    return found;
}

/* The first captured frame of the target, not done, that @f can be. */
static int expected_frame(FcReplay *r, const FcFrame *f, int xid)
{
    unsigned i;

    for (i = r->cur; i < r->n; i++) {
        ReplayFrame *rf = &r->frames[i];
        ReplayXchg *x = &r->xchgs[rf->xid];

        if (rf->out || rf->done || rf->passive ||
            fc_r_ctl(rf->f) != fc_r_ctl(f)) {
            continue;
        }
        if (xid >= 0 ? rf->xid == (unsigned)xid :
            (!x->ours && !x->live_known && is_exchange_start(f) &&
             rf->f->len && f->len && rf->f->payload[0] == f->payload[0])) {
            return i;
        }
    }
    return -1;
}

static void compare(FcReplay *r, unsigned i, const FcFrame *f)
{
    ReplayFrame *rf = &r->frames[i];
    ReplayXchg *x = &r->xchgs[rf->xid];
    g_autofree char *exp = frame_desc(rf->f);
    g_autofree char *got = frame_desc(f);
    int es, ek, ea, eq, gs, gk, ga, gq;

    switch (fc_r_ctl(f)) {
    case FC_RCTL_ELS_REP:
        if (!rf->f->len || !f->len || rf->f->payload[0] != f->payload[0] ||
            (f->payload[0] == ELS_LS_RJT && f->len >= 8 && rf->f->len >= 8 &&
             f->payload[5] != rf->f->payload[5])) {
            diverge(r, "els-reply", i + 1, exp, got);
        }
        break;
    case FC_RCTL_DD_CMD_STATUS:
        rsp_fields(rf->f, &es, &ek, &ea, &eq);
        rsp_fields(f, &gs, &gk, &ga, &gq);
        if (es != gs || ek != gk || ea != ga || eq != gq) {
            diverge(r, "fcp-rsp", i + 1, exp, got);
        }
        if (x->exp_bytes != x->got_bytes || x->exp_crc != x->got_crc) {
            g_autofree char *e2 = g_strdup_printf(
                "%" PRIu64 " bytes of data, crc32 %08x", x->exp_bytes,
                x->exp_crc);
            g_autofree char *g2 = g_strdup_printf(
                "%" PRIu64 " bytes of data, crc32 %08x", x->got_bytes,
                x->got_crc);

            diverge(r, "data", i + 1, e2, g2);
        }
        break;
    default:
        /* BA_ACC/BA_RJT and ELS requests: their R_CTL/opcode matched */
        break;
    }
}

/* A frame the capture does not have: answer what an initiator must. */
static void answer_unexpected(FcReplay *r, const FcFrame *f)
{
    uint8_t acc[4] = { ELS_LS_ACC };
    uint8_t ba[12] = { 0 };
    FcFrame *rep;

    if (fc_r_ctl(f) == FC_RCTL_ELS_REQ && f->len && f->payload[0] == ELS_LOGO) {
        rep = fc_els_frame(true, fc_s_id(f), r->port.port_id, fc_ox_id(f),
                           0xffff, acc, sizeof(acc));
    } else if (fc_r_ctl(f) == FC_RCTL_BA_ABTS) {
        /*
         * BA_ACC payload (FC-FS-3 basic link services): SEQ_ID
         * validity, OX_ID, RX_ID, SEQ_CNT range
         */
        stw_be_p(ba + 4, fc_ox_id(f));
        stw_be_p(ba + 6, fc_rx_id(f));
        stw_be_p(ba + 10, 0xffff);
        rep = g_new0(FcFrame, 1);
        memcpy(rep->payload, ba, sizeof(ba));
        fc_frame_init(rep, FC_RCTL_BA_ACC, fc_s_id(f), r->port.port_id,
                      FC_TYPE_BLS, (fc_f_ctl(f) & FCTL_EX_CTX ? 0 :
                                    FCTL_EX_CTX) | FC_FCTL_LAST_SEQ |
                      FC_FCTL_END_SEQ, fc_ox_id(f), fc_rx_id(f), 0,
                      sizeof(ba));
    } else {
        return;
    }
    log_frame(r, "answered", rep, 0);
    fc_link_send(&r->port, rep);
}

static void replay_receive(FcPort *port, const FcFrame *f)
{
    FcReplay *r = port->opaque;
    int xid = live_xchg(r, f);
    int i;
    unsigned first;

    if (xid >= 0 && fc_r_ctl(f) == FC_RCTL_DD_SOL_DATA) {
        ReplayXchg *x = &r->xchgs[xid];

        x->got_crc = crc32(x->got_crc, f->payload, f->len);
        x->got_bytes += f->len;
        return;
    }
    i = expected_frame(r, f, xid);
    if (i < 0) {
        g_autofree char *got = frame_desc(f);

        diverge(r, "unexpected", MIN(r->cur + 1, r->n), "nothing", got);
        answer_unexpected(r, f);
        return;
    }
    if (xid < 0) {                  /* the target starts an exchange */
        ReplayXchg *x = &r->xchgs[r->frames[i].xid];

        x->live_ox = fc_ox_id(f);
        x->live_known = true;
    } else if (!r->xchgs[xid].live_known && r->xchgs[xid].ours) {
        r->xchgs[xid].live_rx = fc_rx_id(f);
        r->xchgs[xid].live_known = true;
    }
    /* order: a captured frame of the target before this one not yet come */
    for (first = r->cur; first < (unsigned)i; first++) {
        ReplayFrame *rf = &r->frames[first];

        if (!rf->out && !rf->done && !rf->passive) {
            g_autofree char *exp = frame_desc(rf->f);
            g_autofree char *got = frame_desc(f);

            diverge(r, "order", first + 1, exp, got);
            break;
        }
    }
    compare(r, i, f);
    r->frames[i].done = true;
    r->matched++;
    log_frame(r, "matched", f, i + 1);
    if ((unsigned)i == r->cur) {       /* the frame we were waiting for */
        r->anchor_live = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
        r->anchor_cap = r->frames[i].f->time_ns;
    }
    step(r);
}

static void replay_link_event(FcPort *port, FcLinkEvent ev, uint16_t lip)
{
    FcReplay *r = port->opaque;
    QDict *e;

    if (ev != FC_EV_LINK_UP || r->cur >= r->n) {
        return;
    }
    e = r->log ? fc_log_event(r->log, "replay", "link-up") : NULL;
    if (e) {
        qdict_put_int(e, "port_id", port->port_id);
    }
    if (!r->running) {
        /* the first frame, if ours, goes @start_ns after link up */
        r->running = true;
        r->anchor_live = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) +
                         r->start_ns;
        r->anchor_cap = r->frames[0].f->time_ns;
    }
    step(r);
}

static void replay_report(FcPort *port, QDict *out)
{
    fc_replay_report(port->opaque, out);
}

static const FcPortOps replay_port_ops = {
    .link_event = replay_link_event,
    .receive = replay_receive,
    .report = replay_report,
};

/*
 * ---------------------------------------------------------------------
 * Life cycle and report
 */

/* The names of the captured initiator: from its PLOGI or PLOGI LS_ACC. */
static void initiator_names(FcReplay *r, uint64_t *wwpn, uint64_t *wwnn)
{
    unsigned i;

    for (i = 0; i < r->n; i++) {
        FcFrame *f = r->frames[i].f;

        if (r->frames[i].out && f->len >= 116 &&
            ((fc_r_ctl(f) == FC_RCTL_ELS_REQ && f->payload[0] == ELS_PLOGI) ||
             (fc_r_ctl(f) == FC_RCTL_ELS_REP && f->payload[0] == ELS_LS_ACC))) {
            *wwpn = fc_els_plogi_wwpn(f->payload, f->len);
            *wwnn = fc_els_plogi_wwnn(f->payload, f->len);
            return;
        }
    }
}

FcReplay *fc_replay_new(const char *path, uint64_t as_initiator,
                        uint64_t wwpn, uint64_t wwnn, FcConnOption conn,
                        double scale, int64_t start_ns, FcLink *link,
                        FcLog *log, Error **errp)
{
    FcReplay *r = g_new0(FcReplay, 1);

    r->path = g_strdup(path);
    r->scale = scale;
    r->start_ns = start_ns;
    r->log = log;
    if (!load_capture(r, errp) || !classify(r, as_initiator, errp)) {
        fc_replay_free(r);
        return NULL;
    }
    initiator_names(r, &wwpn, &wwnn);
    r->counts = qdict_new();
    r->detail = qlist_new();
    r->timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, timer_cb, r);
    r->port.name = "replay";
    r->port.wwpn = wwpn;
    r->port.wwnn = wwnn;
    r->port.conn = conn;
    r->port.hard_loop_id = -1;
    r->port.ops = &replay_port_ops;
    r->port.opaque = r;
    fc_link_attach(link, &r->port);
    return r;
}

FcPort *fc_replay_port(FcReplay *r)
{
    return &r->port;
}

void fc_replay_free(FcReplay *r)
{
    unsigned i;

    if (!r) {
        return;
    }
    if (r->timer) {
        timer_free(r->timer);
    }
    for (i = 0; i < r->n; i++) {
        g_free(r->frames[i].f);
    }
    g_free(r->frames);
    g_free(r->xchgs);
    qobject_unref(r->counts);
    qobject_unref(r->detail);
    qobject_unref(r->first);
    g_free(r->path);
    g_free(r);
}

void fc_replay_report(FcReplay *r, QDict *extra)
{
    QDict *d = qdict_new();

    qdict_put_str(d, "capture", r->path);
    qdict_put_int(d, "frames", r->n);
    qdict_put_int(d, "initiator_frames", r->ini_frames);
    qdict_put_int(d, "sent", r->sent);
    qdict_put_int(d, "matched", r->matched);
    qdict_put_bool(d, "done", r->cur >= r->n);
    qdict_put_int(d, "divergences", r->ndiv);
    qdict_put(d, "counts", qdict_clone_shallow(r->counts));
    if (r->first) {
        qdict_put(d, "first", qdict_clone_shallow(r->first));
    }
    qobject_ref(r->detail);
    qdict_put(d, "detail", r->detail);
    qdict_put(extra, "replay", d);
}
