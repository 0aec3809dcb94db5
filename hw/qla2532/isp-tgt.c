/*
 * QLogic ISP2532 firmware model: the target-mode data path.
 *
 * An FCP_CMND from a logged-in initiator becomes an ATIO type 7 on the ATIO
 * ring; the driver answers with CTIO type 7 IOCBs, which the firmware turns
 * into FCP_XFER_RDY, FCP_DATA and FCP_RSP frames and completes on the
 * response ring.  ABTS from the initiator reaches the driver as ABTS_RECV
 * and is answered with its ABTS response.  Layouts and the driver's
 * handling are in docs/driver-target-contract.md (qla_target.h,
 * qla_target.c); FCP framing is FCP-4.
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/log.h"
#include "qemu/units.h"
#include "isp-int.h"
#include "qapi/qmp/qdict.h"
#include "trace.h"

/* Entry types, qla_target.h */
#define ET_ATIO_TYPE7           0x06
#define ET_ABTS_RECV            0x54

/* CTIO type 7 flags, qla_target.h CTIO7_FLAGS_* */
#define CTIO7_DATA_OUT          (1u << 0)
#define CTIO7_DATA_IN           (1u << 1)
#define CTIO7_STATUS_MODE_1     (1u << 6)
#define CTIO7_DONT_RET_CTIO     (1u << 8)
#define CTIO7_TERMINATE         (1u << 14)
#define CTIO7_SEND_STATUS       (1u << 15)

/* CTIO completion status, qla_target.h CTIO_* (never 0x10: see
 * docs/driver-target-contract.md §1.5 about the field report) */
#define CTIO_SUCCESS            0x01
#define CTIO_ABORTED            0x02
#define CTIO_INVALID_RX_ID      0x08
#define CTIO_TIMEOUT            0x0b
#define CTIO_LIP_RESET          0x0e
#define CTIO_PORT_UNAVAILABLE   0x28
#define CTIO_PORT_LOGGED_OUT    0x29

/* ABTS response completion status, qla_target.h ABTS_RESP_COMPL_* */
#define ABTS_RESP_COMPL_SUCCESS         0x00
#define ABTS_RESP_COMPL_SUBCODE_ERROR   0x31

#define ATIO_FCP_LEN            (FC_HDR_LEN + FCP_CMND_LEN)   /* 0x38 */
#define MAX_TRANSFER            (16 * MiB)  /* per CTIO, chosen bound */

static void tgt_arm_timeout(IspState *s);

/* ---------------------------------------------------------------------- */

static IspTgtExch *tgt_exch_by_addr(IspState *s, uint32_t addr)
{
    int i;

    for (i = 0; i < ISP_MAX_TGT_EXCH; i++) {
        if (s->tgt[i].valid && s->tgt[i].exch_addr == addr) {
            return &s->tgt[i];
        }
    }
    return NULL;
}

static IspTgtExch *tgt_exch_by_ox_id(IspState *s, uint32_t s_id,
                                     uint16_t ox_id)
{
    int i;

    for (i = 0; i < ISP_MAX_TGT_EXCH; i++) {
        if (s->tgt[i].valid && s->tgt[i].s_id == s_id &&
            s->tgt[i].ox_id == ox_id) {
            return &s->tgt[i];
        }
    }
    return NULL;
}

static void tgt_exch_free(IspTgtExch *x)
{
    g_free(x->wr_buf);
    g_free(x->wr_dsd);
    memset(x, 0, sizeof(*x));
}

static uint16_t tgt_rx_id(IspState *s, IspTgtExch *x)
{
    return x - s->tgt;
}

static void tgt_send(IspState *s, IspTgtExch *x, uint8_t r_ctl,
                     uint32_t f_ctl, uint32_t param, const uint8_t *pl,
                     uint32_t len, uint16_t seq_cnt)
{
    FcFrame *f = g_new0(FcFrame, 1);

    memcpy(f->payload, pl, len);
    fc_frame_init(f, r_ctl, x->s_id, s->port_id, FC_TYPE_FCP,
                  FC_FCTL_EX_CTX | f_ctl, x->ox_id, tgt_rx_id(s, x), param,
                  len);
    stw_be_p(f->hdr + 14, seq_cnt);
    f->sof = seq_cnt ? FC_SOF_N3 : FC_SOF_I3;
    isp_link_send(s, f);
}

/* Reply to an FCP_CMND the driver never saw (no resources): FCP_RSP with
 * @status, from the firmware itself (chosen; real firmware behaviour on
 * exhaustion is unknown). */
static void tgt_send_status_direct(IspState *s, const FcFrame *cmd,
                                   uint8_t status)
{
    uint8_t rsp[24] = { 0 };
    FcFrame *f = g_new0(FcFrame, 1);

    rsp[11] = status;
    memcpy(f->payload, rsp, sizeof(rsp));
    fc_frame_init(f, FC_RCTL_DD_CMD_STATUS, fc_s_id(cmd), s->port_id,
                  FC_TYPE_FCP, FC_FCTL_EX_CTX | FC_FCTL_LAST_SEQ |
                  FC_FCTL_END_SEQ, fc_ox_id(cmd), 0xffff, 0, sizeof(rsp));
    isp_link_send(s, f);
}

/* ---------------------------------------------------------------------- */
/* FCP_CMND -> ATIO                                                       */
/* ---------------------------------------------------------------------- */

/*
 * ATIO type 7 (struct atio_from_isp, qla_target.h; parsed by qla_target.c
 * qlt_24xx_atio_pkt): attr_n_length = task attribute << 12 | 0x38 (frame
 * header + FCP_CMND: the driver treats less than 0x38 as a corrupted
 * frame, qla_target.h fcpcmd_is_corrupted), exchange address, the FC
 * header as on the wire, the FCP_CMND IU.
 */
static void tgt_fcp_cmnd(IspState *s, const FcFrame *f, IspRport *rp)
{
    IspAtio7 atio;
    IspTgtExch *x = NULL;
    QDict *e;
    int i;

    if (f->len < FCP_CMND_LEN || (f->payload[11] >> 2)) {
        /* short IU or additional CDB: not supported by this model */
        qemu_log_mask(LOG_UNIMP, "qla2532: FCP_CMND of %u bytes dropped\n",
                      f->len);
        return;
    }
    for (i = 0; i < ISP_MAX_TGT_EXCH && !x; i++) {
        if (!s->tgt[i].valid) {
            x = &s->tgt[i];
        }
    }
    if (!x) {
        tgt_send_status_direct(s, f, 0x28);     /* TASK SET FULL */
        return;
    }
    memset(x, 0, sizeof(*x));
    x->valid = true;
    x->exch_addr = s->next_tgt_exch++;
    if (s->next_tgt_exch == 0xffffffff) {
        s->next_tgt_exch = 1;
    }
    x->s_id = fc_s_id(f);
    x->ox_id = fc_ox_id(f);
    x->fcp_dl = ldl_be_p(f->payload + 28);

    memset(&atio, 0, sizeof(atio));
    atio.entry_type = ET_ATIO_TYPE7;
    atio.entry_count = 1;
    atio.attr_n_length = cpu_to_le16((f->payload[9] & 7) << 12 |
                                     ATIO_FCP_LEN);
    atio.exchange_addr = cpu_to_le32(x->exch_addr);
    memcpy(atio.fcp_hdr, f->hdr, FC_HDR_LEN);
    memcpy(atio.fcp_cmnd, f->payload, FCP_CMND_LEN);
    if (!isp_atio_post(s, (const uint8_t *)&atio)) {
        tgt_exch_free(x);
        tgt_send_status_direct(s, f, 0x28);
        return;
    }
    trace_qla2532_atio(s->port_no, x->exch_addr, x->s_id, x->ox_id,
                       f->payload[12], x->fcp_dl);
    if (s->log) {
        fc_log_count(s->log, "isp", "atio", 1);
        e = fc_log_event(s->log, "isp", "atio");
        if (e) {
            qdict_put_int(e, "exchange", x->exch_addr);
            qdict_put_int(e, "s_id", x->s_id);
            qdict_put_int(e, "ox_id", x->ox_id);
            qdict_put_int(e, "opcode", f->payload[12]);
            qdict_put_int(e, "handle", rp->handle);
            qdict_put_int(e, "login_state", rp->state);
        }
    }
}

/* ---------------------------------------------------------------------- */
/* CTIO                                                                   */
/* ---------------------------------------------------------------------- */

/*
 * CTIO completion (struct ctio7_from_24xx, qla_target.h; handled by
 * qla_target.c qlt_do_ctio_completion).  The flags are echoed without
 * BIT_14: an error completion with it makes the driver skip its terminate
 * exchange and dump a stack (qlt_term_ctio_exchange).
 */
static void ctio_done(IspState *s, const uint8_t *ctio, uint16_t status,
                      uint8_t entry_status)
{
    const IspCtio7 *c = (const IspCtio7 *)ctio;
    uint16_t flags = le16_to_cpu(c->u.status0.flags);
    uint32_t exch = le32_to_cpu(c->exchange_addr);
    IspCtio7 rsp;
    QDict *e;

    if (s->log) {
        fc_log_count_code(s->log, "ctio_status", status);
        e = fc_log_event(s->log, "isp", "ctio-done");
        if (e) {
            qdict_put_int(e, "exchange", exch);
            qdict_put_int(e, "handle", le32_to_cpu(c->hdr.handle));
            qdict_put_int(e, "flags", flags);
            qdict_put_int(e, "status", status);
            qdict_put_int(e, "entry_status", entry_status);
        }
    }
    trace_qla2532_ctio_done(s->port_no, exch, flags, status);
    if (status == CTIO_SUCCESS && !entry_status &&
        (flags & CTIO7_DONT_RET_CTIO)) {
        return;
    }
    memset(&rsp, 0, sizeof(rsp));
    rsp.hdr.entry_type = ET_CTIO_TYPE7;
    rsp.hdr.entry_count = 1;
    rsp.hdr.entry_status = entry_status;
    rsp.hdr.handle = c->hdr.handle;
    rsp.nport_handle = cpu_to_le16(status);     /* ctio7_from_24xx status */
    rsp.timeout = c->timeout;
    rsp.vp_index = c->vp_index;
    rsp.exchange_addr = c->exchange_addr;
    rsp.u.status0.flags = cpu_to_le16(flags & ~CTIO7_TERMINATE);
    rsp.u.status0.residual = c->u.status0.residual;
    rsp.u.status0.ox_id = c->u.status0.ox_id;
    isp_rsp_post(s, (const uint8_t *)&rsp);
}

/* FCP_DATA frames of at most the ICB's frame size, relative offsets from
 * @ro (FCP-4 §9.4). */
static void tgt_send_data(IspState *s, IspTgtExch *x, const uint8_t *buf,
                          uint32_t len, uint32_t ro)
{
    uint32_t max = MIN(s->icb.frame_payload_size, FC_MAX_PAYLOAD);
    uint32_t off = 0, n;
    uint16_t seq_cnt = 0;

    while (off < len) {
        n = MIN(max, len - off);
        tgt_send(s, x, FC_RCTL_DD_SOL_DATA,
                 FC_FCTL_REL_OFF | (off + n == len ? FC_FCTL_END_SEQ : 0),
                 ro + off, buf + off, n, seq_cnt++);
        off += n;
    }
    x->data_sent += len;
}

/*
 * FCP_RSP from a CTIO (FCP-4 §9.5): status byte and the SS_* bits of
 * scsi_status; in status mode 1 the sense bytes, which the driver stores
 * with every 32-bit word byte-swapped (qla_target.c
 * qlt_24xx_init_ctio_to_isp), are swapped back.
 */
static void tgt_send_rsp(IspState *s, IspTgtExch *x, const uint8_t *ctio)
{
    const IspCtio7 *c = (const IspCtio7 *)ctio;
    uint16_t flags = le16_to_cpu(c->u.status0.flags);
    uint16_t st = le16_to_cpu(c->u.status0.scsi_status);
    uint8_t rsp[24 + 32];
    uint32_t len = 24, n = 0, i;

    memset(rsp, 0, sizeof(rsp));
    rsp[11] = st & 0xff;
    if (st & SS_RESIDUAL_UNDER) {
        rsp[10] |= FCP_RESID_UNDER;
    }
    if (st & SS_RESIDUAL_OVER) {
        rsp[10] |= FCP_RESID_OVER;
    }
    stl_be_p(rsp + 12, le32_to_cpu(c->u.status0.residual));
    if (flags & CTIO7_STATUS_MODE_1) {
        if (st & SS_RESPONSE_INFO_LEN_VALID) {
            n = MIN(le16_to_cpu(c->u.status1.response_len), 8u);
            rsp[10] |= FCP_RSP_LEN_VALID;
            stl_be_p(rsp + 20, n);
        } else if (st & SS_SENSE_LEN_VALID) {
            n = MIN(le16_to_cpu(c->u.status1.sense_length), 24u);
            rsp[10] |= FCP_SNS_LEN_VALID;
            stl_be_p(rsp + 16, n);
        }
        for (i = 0; i < n; i++) {
            rsp[24 + i] = c->u.status1.sense_data[4 * (i / 4) + 3 - (i % 4)];
        }
        len += n;
    }
    tgt_send(s, x, FC_RCTL_DD_CMD_STATUS, FC_FCTL_LAST_SEQ | FC_FCTL_END_SEQ,
             0, rsp, len, 0);
}

/* Is the initiator of @x logged in as far as the firmware knows? */
static uint16_t tgt_port_status(IspState *s, IspTgtExch *x)
{
    IspRport *rp;
    int i;

    if (s->link != ISP_LINK_UP) {
        return CTIO_PORT_UNAVAILABLE;
    }
    for (i = 0; i < ISP_MAX_RPORTS; i++) {
        rp = &s->rports[i];
        if (rp->valid && rp->port_id == x->s_id) {
            return rp->state == PDS_PRLI_COMPLETE ? CTIO_SUCCESS
                                                  : CTIO_PORT_LOGGED_OUT;
        }
    }
    return CTIO_PORT_LOGGED_OUT;
}

/*
 * CTIO type 7 (struct ctio7_to_24xx, qla_target.h; built by qla_target.c
 * qlt_24xx_build_ctio_pkt and friends).  @idx is its ring index, @count
 * its entry_count (continuations follow it).
 */
void isp_iocb_ctio(IspState *s, const uint8_t *ctio, uint32_t idx,
                   unsigned count)
{
    const IspCtio7 *c = (const IspCtio7 *)ctio;
    uint16_t flags = le16_to_cpu(c->u.status0.flags);
    uint32_t addr = le32_to_cpu(c->exchange_addr);
    uint32_t xfer = le32_to_cpu(c->u.status0.transfer_length);
    uint32_t ro = le32_to_cpu(c->u.status0.relative_offset);
    uint16_t timeout_s = le16_to_cpu(c->timeout);
    bool data = !(flags & CTIO7_STATUS_MODE_1) &&
                (flags & (CTIO7_DATA_IN | CTIO7_DATA_OUT));
    IspTgtExch *x = tgt_exch_by_addr(s, addr);
    g_autofree IspDsd *dsd = NULL;
    g_autofree uint8_t *buf = NULL;
    unsigned ndsd = 0;
    uint16_t status;

    trace_qla2532_ctio(s->port_no, addr, flags, xfer,
                       le32_to_cpu(c->hdr.handle));
    if (s->log) {
        QDict *e = fc_log_event(s->log, "isp", "ctio");

        if (e) {
            qdict_put_int(e, "exchange", addr);
            qdict_put_int(e, "flags", flags);
            qdict_put_int(e, "entry_count", count);
            qdict_put_int(e, "dseg_count", le16_to_cpu(c->dseg_count));
            qdict_put_int(e, "transfer_length", xfer);
        }
    }
    if (flags & CTIO7_TERMINATE) {
        if (x && x->wr_pending) {
            /*
             * The exchange ends with a data-out CTIO still waiting for the
             * initiator's data (an ABTS, LIO's abort): that CTIO comes back
             * aborted first.  [fw?] the status is unknown; the driver
             * accepts any (docs/driver-target-contract.md §5).
             */
            x->wr_pending = false;
            ctio_done(s, x->wr_ctio, CTIO_ABORTED, 0);
        }
        if (x) {
            tgt_exch_free(x);
        }
        ctio_done(s, ctio, CTIO_SUCCESS, 0);
        return;
    }
    if ((flags & CTIO7_DATA_IN) && (flags & CTIO7_DATA_OUT)) {
        isp_rsp_entry_error(s, ctio, RF_INV_E_PARAM);
        return;
    }
    if (data && (xfer > MAX_TRANSFER ||
                 !isp_req_dsds(s, idx, count, &c->u.status0.dsd,
                               le16_to_cpu(c->dseg_count), &dsd))) {
        isp_rsp_entry_error(s, ctio, RF_INV_E_PARAM);
        return;
    }
    ndsd = data ? le16_to_cpu(c->dseg_count) : 0;
    if (!data && c->dseg_count) {
        /*
         * A CTIO without data names data segments: the drivers zero the
         * count of every status-only CTIO (qla_target.c
         * qlt_24xx_init_ctio_to_isp "ctio->dseg_count = 0"), so this is
         * an IOCB the firmware cannot execute as written.  [fw?] chosen:
         * RF_INV_E_PARAM, as for a bad descriptor count.
         */
        isp_rsp_entry_error(s, ctio, RF_INV_E_PARAM);
        return;
    }
    if (!x) {
        ctio_done(s, ctio, CTIO_INVALID_RX_ID, 0);
        return;
    }
    if (data && ((uint64_t)ro + xfer > x->fcp_dl ||
                 ((flags & CTIO7_DATA_IN) &&
                  x->data_sent + xfer > x->fcp_dl))) {
        /* past FCP_DL (FCP-4 §9.4.1): ISP_CTIO_OVERRUN_*, isp-fw.h */
        qemu_log_mask(LOG_GUEST_ERROR, "qla2532: CTIO of %u bytes at "
                      "offset %u past FCP_DL %u\n", xfer, ro, x->fcp_dl);
        if (s->ctio_overrun_mode == ISP_CTIO_OVERRUN_REJECT ||
            ro >= x->fcp_dl || x->data_sent >= x->fcp_dl) {
            isp_rsp_entry_error(s, ctio, RF_INV_E_PARAM);
            return;
        }
        xfer = MIN(x->fcp_dl - ro, x->fcp_dl - (uint32_t)x->data_sent);
    }
    if (x->lip_reset) {
        ctio_done(s, ctio, CTIO_LIP_RESET, 0);
        return;
    }
    if (x->aborted) {
        ctio_done(s, ctio, CTIO_ABORTED, 0);
        return;
    }
    status = tgt_port_status(s, x);
    if (status != CTIO_SUCCESS) {
        ctio_done(s, ctio, status, 0);
        return;
    }
    if (data && (flags & CTIO7_DATA_OUT)) {
        /* FCP_XFER_RDY: relative offset, burst length (FCP-4 §9.3) */
        uint8_t rdy[12] = { 0 };

        if (x->wr_pending) {
            ctio_done(s, ctio, CTIO_INVALID_RX_ID, 0);
            return;
        }
        x->wr_pending = true;
        x->wr_deadline_ns = timeout_s ?
            qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) +
            timeout_s * NANOSECONDS_PER_SECOND : 0;
        tgt_arm_timeout(s);
        x->wr_len = xfer;
        x->wr_got = 0;
        x->wr_ro = ro;
        x->wr_buf = g_malloc0(MAX(xfer, 1));
        x->wr_dsd = g_steal_pointer(&dsd);
        x->wr_ndsd = ndsd;
        memcpy(x->wr_ctio, ctio, IOCB_SIZE);
        stl_be_p(rdy, ro);
        stl_be_p(rdy + 4, xfer);
        tgt_send(s, x, FC_RCTL_DD_DATA_DESC,
                 FC_FCTL_END_SEQ | FC_FCTL_SEQ_INIT, 0, rdy, sizeof(rdy), 0);
        if (xfer == 0) {
            isp_tgt_write_complete(s, x);
        }
        return;
    }
    if (data && xfer) {
        buf = g_malloc(xfer);
        if (!isp_dsd_rw(s, dsd, ndsd, 0, buf, xfer, false)) {
            isp_rsp_entry_error(s, ctio, RF_INV_E_PARAM);
            return;
        }
        tgt_send_data(s, x, buf, xfer, ro);
    }
    if (flags & CTIO7_SEND_STATUS) {
        tgt_send_rsp(s, x, ctio);
        tgt_exch_free(x);
    }
    ctio_done(s, ctio, CTIO_SUCCESS, 0);
}

/*
 * A data-out CTIO whose data does not come within the CTIO's timeout
 * (seconds at offset 10; the driver uses 10, qla_target.h QLA_TGT_TIMEOUT)
 * completes with CTIO_TIMEOUT 0x0b, which the driver accepts ("They are
 * OK", qla_target.c qlt_do_ctio_completion).
 */
static void tgt_arm_timeout(IspState *s)
{
    int64_t next = INT64_MAX;
    int i;

    for (i = 0; i < ISP_MAX_TGT_EXCH; i++) {
        IspTgtExch *x = &s->tgt[i];

        if (x->valid && x->wr_pending && x->wr_deadline_ns) {
            next = MIN(next, x->wr_deadline_ns);
        }
    }
    if (next == INT64_MAX) {
        timer_del(s->ctio_timer);
    } else {
        timer_mod(s->ctio_timer, next);
    }
}

static void tgt_ctio_timer_cb(void *opaque)
{
    IspState *s = opaque;
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
    int i;

    for (i = 0; i < ISP_MAX_TGT_EXCH; i++) {
        IspTgtExch *x = &s->tgt[i];

        if (x->valid && x->wr_pending && x->wr_deadline_ns &&
            x->wr_deadline_ns <= now) {
            x->wr_pending = false;
            ctio_done(s, x->wr_ctio, CTIO_TIMEOUT, 0);
        }
    }
    tgt_arm_timeout(s);
}

/* All write data is in: place it, complete the data-out CTIO. */
void isp_tgt_write_complete(IspState *s, IspTgtExch *x)
{
    uint8_t ctio[IOCB_SIZE];
    const IspCtio7 *c = (const IspCtio7 *)ctio;

    memcpy(ctio, x->wr_ctio, IOCB_SIZE);
    x->wr_pending = false;
    if (x->wr_len &&
        !isp_dsd_rw(s, x->wr_dsd, x->wr_ndsd, 0, x->wr_buf, x->wr_len,
                    true)) {
        isp_rsp_entry_error(s, ctio, RF_INV_E_PARAM);
        return;
    }
    g_free(x->wr_buf);
    g_free(x->wr_dsd);
    x->wr_buf = NULL;
    x->wr_dsd = NULL;
    if (le16_to_cpu(c->u.status0.flags) & CTIO7_SEND_STATUS) {
        tgt_send_rsp(s, x, ctio);
        tgt_exch_free(x);
    }
    ctio_done(s, ctio, CTIO_SUCCESS, 0);
}

/* FCP_DATA from the initiator for a pending data-out CTIO. */
static void tgt_fcp_data(IspState *s, const FcFrame *f)
{
    IspTgtExch *x = tgt_exch_by_ox_id(s, fc_s_id(f), fc_ox_id(f));
    uint32_t off;

    if (!x || !x->wr_pending) {
        return;                 /* unexpected data: discarded */
    }
    off = fc_param(f) - x->wr_ro;
    if (fc_param(f) < x->wr_ro || off > x->wr_len ||
        f->len > x->wr_len - off) {
        qemu_log_mask(LOG_GUEST_ERROR, "qla2532: FCP_DATA outside burst\n");
        return;
    }
    memcpy(x->wr_buf + off, f->payload, f->len);
    x->wr_got += f->len;
    if (x->wr_got >= x->wr_len) {
        isp_tgt_write_complete(s, x);
    }
}

/* ---------------------------------------------------------------------- */
/* ABTS                                                                   */
/* ---------------------------------------------------------------------- */

/* The frame header as the ISP presents it in ABTS entries: each 32-bit
 * word little-endian (qla_target.h struct fcp_hdr_le). */
static void hdr_to_le(uint8_t *out, const uint8_t *hdr)
{
    int i;

    for (i = 0; i < FC_HDR_LEN; i += 4) {
        stl_le_p(out + i, ldl_be_p(hdr + i));
    }
}

/*
 * ABTS from the initiator (FC-FS-3 §15.3.2): ABTS_RECV (struct
 * abts_recv_from_24xx, qla_target.h) on the response ring, naming the
 * exchange to abort; its commands complete CTIO_ABORTED from now on.
 */
static void tgt_abts(IspState *s, const FcFrame *f, IspRport *rp)
{
    IspTgtExch *victim = tgt_exch_by_ox_id(s, fc_s_id(f), fc_ox_id(f));
    IspAbtsRecv e;
    IspAbts *a = NULL;
    int i;

    for (i = 0; i < ISP_MAX_ABTS && !a; i++) {
        if (!s->abts[i].valid) {
            a = &s->abts[i];
        }
    }
    if (!a) {
        return;                 /* the initiator will time out and retry */
    }
    memset(a, 0, sizeof(*a));
    a->valid = true;
    a->exch_addr = s->next_tgt_exch++;
    a->s_id = fc_s_id(f);
    a->ox_id = fc_ox_id(f);
    a->rx_id = fc_rx_id(f);
    if (victim) {
        victim->aborted = true;
    }
    memset(&e, 0, sizeof(e));
    e.entry_type = ET_ABTS_RECV;
    e.entry_count = 1;
    e.nport_handle = cpu_to_le16(rp ? rp->handle : NPH_NONE);
    e.sof_type = 0x10;          /* SOFi3 in bits 7:4 */
    e.exchange_address = cpu_to_le32(a->exch_addr);
    hdr_to_le(e.fcp_hdr_le, f->hdr);
    e.exchange_addr_to_abort = cpu_to_le32(victim ? victim->exch_addr
                                                  : 0xffffffff);
    trace_qla2532_abts(s->port_no, a->s_id, a->ox_id,
                       victim ? victim->exch_addr : 0xffffffff);
    if (s->log) {
        QDict *ev = fc_log_event(s->log, "isp", "abts-received");

        fc_log_count(s->log, "isp", "abts_received", 1);
        if (ev) {
            qdict_put_int(ev, "ox_id", a->ox_id);
            qdict_put_int(ev, "exchange",
                          victim ? victim->exch_addr : 0xffffffff);
        }
    }
    isp_rsp_post(s, (const uint8_t *)&e);
}

/*
 * ABTS response (struct abts_resp_to_24xx, qla_target.h; built by
 * qla_target.c qlt_build_abts_resp_iocb): send the BA_ACC / BA_RJT the
 * driver built (R_CTL in the header, 12-byte payload), complete with
 * status 0 (struct abts_resp_from_24xx_fw).
 */
void isp_iocb_abts_resp(IspState *s, const uint8_t *iocb)
{
    const IspAbtsResp *req = (const IspAbtsResp *)iocb;
    uint32_t addr = le32_to_cpu(req->exchange_address);
    IspAbtsResp rsp;
    IspAbts *a = NULL;
    FcFrame *f;
    int i;

    for (i = 0; i < ISP_MAX_ABTS; i++) {
        if (s->abts[i].valid && s->abts[i].exch_addr == addr) {
            a = &s->abts[i];
        }
    }
    if (a) {
        uint8_t r_ctl = req->fcp_hdr_le[3];

        f = g_new0(FcFrame, 1);
        memcpy(f->payload, req->payload, sizeof(req->payload));
        fc_frame_init(f, r_ctl == FC_RCTL_BA_RJT ? FC_RCTL_BA_RJT
                                                 : FC_RCTL_BA_ACC,
                      a->s_id, s->port_id, FC_TYPE_BLS,
                      FC_FCTL_EX_CTX | FC_FCTL_LAST_SEQ | FC_FCTL_END_SEQ,
                      a->ox_id, a->rx_id, 0, 12);
        isp_link_send(s, f);
        if (s->log) {
            fc_log_count(s->log, "isp", r_ctl == FC_RCTL_BA_RJT ?
                         "ba_rjt_sent" : "ba_acc_sent", 1);
        }
        a->valid = false;
    }
    memset(&rsp, 0, sizeof(rsp));
    rsp.hdr.entry_type = ET_ABTS_RESP;
    rsp.hdr.entry_count = 1;
    rsp.hdr.handle = req->hdr.handle;
    rsp.compl_status = cpu_to_le16(ABTS_RESP_COMPL_SUCCESS);
    if (!a && (addr == 0 || addr >= s->next_tgt_exch)) {
        /*
         * An answer to an ABTS the firmware never received (its exchange
         * address was never handed out since the reset): nothing goes on
         * the wire and the entry completes with 0x31 and subcodes 0
         * ([fw?] chosen; qla_target.h ABTS_RESP_COMPL_SUBCODE_ERROR; the
         * drivers log it and free the command, qla_target.c
         * qlt_handle_abts_completion -- subcode 0x1E would make them
         * terminate and retry instead).  An ABTS dropped by a LIP
         * completes as before.
         */
        qemu_log_mask(LOG_GUEST_ERROR, "qla2532: ABTS response for "
                      "exchange 0x%x never received\n", addr);
        rsp.compl_status = cpu_to_le16(ABTS_RESP_COMPL_SUBCODE_ERROR);
    }
    rsp.exchange_addr_to_abort = req->exchange_addr_to_abort;
    isp_rsp_post(s, (const uint8_t *)&rsp);
}

/* ---------------------------------------------------------------------- */

/*
 * An FCP or BLS frame for the target.  Commands from a port that has not
 * logged in (no PLOGI) get a LOGO back (FC-LS-3 §4.2.2 "N_Port not logged
 * in"); commands from a port whose PRLI is still pending are delivered,
 * and it is their CTIOs that fail (PORT LOGGED OUT).
 */
void isp_tgt_receive(IspState *s, const FcFrame *f)
{
    IspRport *rp = NULL;
    int i;

    for (i = 0; i < ISP_MAX_RPORTS; i++) {
        if (s->rports[i].valid && s->rports[i].port_id == fc_s_id(f)) {
            rp = &s->rports[i];
        }
    }
    if (fc_type(f) == FC_TYPE_BLS && fc_r_ctl(f) == FC_RCTL_BA_ABTS) {
        tgt_abts(s, f, rp);
        return;
    }
    if (fc_type(f) != FC_TYPE_FCP) {
        return;
    }
    if (fc_r_ctl(f) == FC_RCTL_DD_SOL_DATA) {
        tgt_fcp_data(s, f);
        return;
    }
    if (fc_r_ctl(f) != FC_RCTL_DD_UNSOL_CMD) {
        return;
    }
    if (!rp || rp->state < PDS_PLOGI_COMPLETE ||
        rp->state == PDS_PORT_UNAVAILABLE) {
        isp_els_send_logo(s, fc_s_id(f));
        return;
    }
    tgt_fcp_cmnd(s, f, rp);
}

/* A LIP or the loss of the link kills open exchanges: their CTIOs
 * complete with LIP RESET (qla_target.h CTIO_LIP_RESET). */
void isp_tgt_link_event(IspState *s)
{
    int i;

    for (i = 0; i < ISP_MAX_TGT_EXCH; i++) {
        IspTgtExch *x = &s->tgt[i];

        if (!x->valid) {
            continue;
        }
        x->lip_reset = true;
        if (x->wr_pending) {
            x->wr_pending = false;
            g_free(x->wr_buf);
            g_free(x->wr_dsd);
            x->wr_buf = NULL;
            x->wr_dsd = NULL;
            ctio_done(s, x->wr_ctio, CTIO_LIP_RESET, 0);
        }
    }
    memset(s->abts, 0, sizeof(s->abts));
}

void isp_tgt_init(IspState *s)
{
    s->ctio_timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, tgt_ctio_timer_cb, s);
}

void isp_tgt_reset(IspState *s)
{
    int i;

    if (s->ctio_timer) {
        timer_del(s->ctio_timer);
    }

    for (i = 0; i < ISP_MAX_TGT_EXCH; i++) {
        tgt_exch_free(&s->tgt[i]);
    }
    memset(s->abts, 0, sizeof(s->abts));
    s->next_tgt_exch = 1;
}
