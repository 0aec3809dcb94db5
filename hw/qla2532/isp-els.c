/*
 * QLogic ISP2532 firmware model: logins and extended link services.
 *
 * The firmware keeps a login state per remote port (what GET PORT DATABASE
 * reports), sends and answers ELS frames on the link, and lets the driver
 * take part through IOCBs: LOGINOUT (0x52), ELS pass-through (0x53), and in
 * target mode IMMED_NOTIFY (0x0d) / NOTIFY_ACK (0x0e) for the ELS a remote
 * initiator sends.  The contracts are in docs/driver-link-contract.md and
 * docs/driver-target-contract.md, with the driver's file:function for each.
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/log.h"
#include "isp-int.h"
#include "qapi/qmp/qdict.h"
#include "trace.h"

#define NO_RPORT    (-1)

static bool isp_target_mode(IspState *s)
{
    return (s->icb.fw_options[0] & ISP_FO1_TARGET_MODE) && s->icb.atio_q_addr;
}

static bool isp_initiator_mode(IspState *s)
{
    return !(s->icb.fw_options[0] & ISP_FO1_NO_INITIATOR);
}

/* Our PRLI service parameter word 3 (FCP-4 §6.3): the functions enabled
 * in the ICB, read XFER_RDY disabled. */
static uint32_t isp_own_wd3(IspState *s)
{
    return (isp_initiator_mode(s) ? FCP_SPPARM_INITIATOR : 0) |
           (isp_target_mode(s) ? FCP_SPPARM_TARGET : 0) |
           FCP_SPPARM_RD_XRDY_DIS;
}

/* ---------------------------------------------------------------------- */
/* Remote ports                                                           */
/* ---------------------------------------------------------------------- */

/*
 * Does the change @from -> @to end a login (ISP_LAST_STATE_SESSION)?  A
 * logout (to port unavailable) or a new PLOGI (to PLOGI pending: FC-LS-3
 * §4.2.11, a PLOGI from a logged-in port logs it out implicitly) ends the
 * login that had reached @from; from a state where no login exists
 * (unavailable, PLOGI pending) nothing ends.
 */
static bool rport_login_ends(uint8_t from, uint8_t to)
{
    return (to == PDS_PORT_UNAVAILABLE || to == PDS_PLOGI_PENDING) &&
           from != PDS_PORT_UNAVAILABLE && from != PDS_PLOGI_PENDING;
}

static void rport_set_state(IspState *s, IspRport *rp, uint8_t state)
{
    QDict *e;
    bool ends;

    if (rp->state != state) {
        trace_qla2532_login_state(s->port_no, rp->handle, rp->port_id,
                                  rp->state, state);
        e = isp_log(s, "login-state");
        if (e) {
            qdict_put_int(e, "handle", rp->handle);
            qdict_put_int(e, "port_id", rp->port_id);
            qdict_put_int(e, "from", rp->state);
            qdict_put_int(e, "to", state);
        }
        ends = rport_login_ends(rp->state, state);
        if (s->last_state_mode == ISP_LAST_STATE_PREVIOUS || ends) {
            rp->last_state = rp->state;
        }
        rp->state = state;
        if (ends && s->login_ended) {
            s->login_ended(s, rp->port_id);     /* isp-ini.c */
        }
    }
}

static IspRport *rport_by_handle(IspState *s, uint16_t handle)
{
    int i;

    for (i = 0; i < ISP_MAX_RPORTS; i++) {
        if (s->rports[i].valid && s->rports[i].handle == handle) {
            return &s->rports[i];
        }
    }
    return NULL;
}

static IspRport *rport_by_port_id(IspState *s, uint32_t port_id)
{
    int i;

    for (i = 0; i < ISP_MAX_RPORTS; i++) {
        if (s->rports[i].valid && s->rports[i].port_id == port_id) {
            return &s->rports[i];
        }
    }
    return NULL;
}

/*
 * The N_Port handle of a new remote port: on a loop its loop ID (what the
 * driver expects in GET ID LIST, qla_init.c qla2x00_configure_local_loop),
 * otherwise the lowest free handle (chosen).
 */
static int rport_new_handle(IspState *s, uint32_t port_id)
{
    int lid;
    uint16_t h;

    if (s->topology == ISP_TOPO_NL) {
        for (lid = 0; lid <= ISP_LAST_LOCAL_LOOP_ID; lid++) {
            if (fc_al_pa_of_loop_id(lid) == (port_id & 0xff)) {
                return lid;
            }
        }
        return -1;
    }
    for (h = 0; h <= ISP_MAX_NPORT_HANDLE; h++) {
        if (h != s->loop_id && !rport_by_handle(s, h)) {
            return h;
        }
    }
    return -1;
}

/* Whether the firmware holds a login for @rp (PLOGI done, not ended). */
static bool rport_logged_in(const IspRport *rp)
{
    return rp->state >= PDS_PLOGI_COMPLETE &&
           rp->state != PDS_PORT_UNAVAILABLE;
}

/*
 * For a PLOGI the driver asked for with @handle to @port_id: under
 * ISP_PLOGI_CONFLICT_REFUSE (isp-fw.h), the sub-code the firmware fails
 * it with -- LSC_SCODE_PORTID_USED with *@in_use the handle the port ID is
 * logged in under, or LSC_SCODE_NPORT_USED with *@in_use the port ID that
 * holds the handle -- else 0 (go ahead).
 */
static uint32_t plogi_conflict(IspState *s, uint32_t port_id,
                               uint16_t handle, uint32_t *in_use)
{
    IspRport *by_id, *by_handle;
    uint32_t scode = 0;
    QDict *e;

    if (s->plogi_conflict_mode != ISP_PLOGI_CONFLICT_REFUSE) {
        return 0;
    }
    by_id = rport_by_port_id(s, port_id);
    by_handle = rport_by_handle(s, handle);
    if (by_id && by_id->handle != handle && rport_logged_in(by_id)) {
        *in_use = by_id->handle;
        scode = LSC_SCODE_PORTID_USED;
    } else if (by_handle && by_handle->port_id != port_id &&
               rport_logged_in(by_handle)) {
        *in_use = by_handle->port_id;
        scode = LSC_SCODE_NPORT_USED;
    }
    e = scode ? isp_log(s, "plogi-refused") : NULL;
    if (e) {
        qdict_put_int(e, "scode", scode);
        qdict_put_int(e, "handle", handle);
        qdict_put_int(e, "d_id", port_id);
        qdict_put_int(e, "in_use", *in_use);
    }
    return scode;
}

/*
 * Find or create the remote port at @port_id; a PLOGI with @wwpn from a
 * port we knew under another name is a new login (implicit logout).
 * @handle < 0 lets the firmware choose the handle.  NULL when full.
 */
static IspRport *rport_get(IspState *s, uint32_t port_id, int handle)
{
    IspRport *rp = rport_by_port_id(s, port_id);
    int i;

    if (handle >= 0 && (!rp || rp->handle != handle)) {
        IspRport *other = rport_by_handle(s, handle);

        if (other && other != rp) {
            other->valid = false;       /* the driver reassigned it */
        }
    }
    if (rp) {
        if (handle >= 0) {
            rp->handle = handle;
        }
        return rp;
    }
    if (handle < 0) {
        handle = rport_new_handle(s, port_id);
        if (handle < 0) {
            return NULL;
        }
    }
    for (i = 0; i < ISP_MAX_RPORTS; i++) {
        if (!s->rports[i].valid) {
            rp = &s->rports[i];
            memset(rp, 0, sizeof(*rp));
            rp->valid = true;
            rp->handle = handle;
            rp->port_id = port_id;
            rp->state = rp->last_state = PDS_PORT_UNAVAILABLE;
            return rp;
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* Exchanges                                                              */
/* ---------------------------------------------------------------------- */

static IspExch *exch_new(IspState *s, IspExchKind kind)
{
    int i;

    for (i = 0; i < ISP_MAX_EXCH; i++) {
        if (s->exch[i].kind == ISP_X_FREE) {
            memset(&s->exch[i], 0, sizeof(s->exch[i]));
            s->exch[i].kind = kind;
            return &s->exch[i];
        }
    }
    return NULL;
}

static void exch_free(IspExch *x)
{
    x->kind = ISP_X_FREE;
}

static void isp_send(IspState *s, FcFrame *f)
{
    QDict *e;

    if (s->log && fc_type(f) == FC_TYPE_ELS) {
        fc_log_count_code(s->log, fc_r_ctl(f) == FC_RCTL_ELS_REQ ?
                          "isp_els_sent" : "isp_els_replies_sent",
                          f->payload[0]);
        e = isp_log(s, "els-sent");
        if (e) {
            qdict_put_int(e, "els", f->payload[0]);
            qdict_put_bool(e, "reply", fc_r_ctl(f) == FC_RCTL_ELS_REP);
            qdict_put_int(e, "d_id", fc_d_id(f));
            qdict_put_int(e, "ox_id", fc_ox_id(f));
        }
    }
    isp_link_send(s, f);
}

/* An unsolicited LOGO (FC-LS-3 §4.2.21) to a port that is not logged in
 * but sends us FCP frames. */
void isp_els_send_logo(IspState *s, uint32_t peer)
{
    uint8_t pl[FC_LOGO_LEN];

    isp_send(s, fc_els_frame(false, peer, s->port_id, s->next_ox_id++,
                             0xffff, pl,
                             fc_els_logo(pl, s->port_id, s->icb.port_name)));
}

/* Send ELS request @els (@len payload bytes in @pl) on exchange @x. */
static void exch_send_request(IspState *s, IspExch *x, uint8_t els,
                              const uint8_t *pl, uint32_t len)
{
    x->els = els;
    x->ox_id = s->next_ox_id++;
    if (s->next_ox_id == 0xffff) {
        s->next_ox_id = 0;
    }
    trace_qla2532_els_tx(s->port_no, els, x->peer_id, x->ox_id);
    isp_send(s, fc_els_frame(false, x->peer_id, s->port_id, x->ox_id, 0xffff,
                             pl, len));
}

/* Reply to a received request (@ox_id from @peer) with @pl. */
static void isp_els_reply(IspState *s, uint32_t peer, uint16_t ox_id,
                          const uint8_t *pl, uint32_t len)
{
    trace_qla2532_els_tx(s->port_no, pl[0], peer, ox_id);
    isp_send(s, fc_els_frame(true, peer, s->port_id, ox_id, s->next_ox_id++,
                             pl, len));
}

static void exch_send_plogi(IspState *s, IspExch *x)
{
    uint8_t pl[FC_PLOGI_LEN];

    exch_send_request(s, x, ELS_PLOGI, pl,
                      fc_els_plogi(pl, ELS_PLOGI, s->icb.port_name,
                                   s->icb.node_name));
}

static void exch_send_prli(IspState *s, IspExch *x)
{
    uint8_t pl[FC_PRLI_LEN];

    exch_send_request(s, x, ELS_PRLI, pl,
                      fc_els_prli(pl, ELS_PRLI, isp_own_wd3(s)));
}

/* ---------------------------------------------------------------------- */
/* Completions to the driver                                              */
/* ---------------------------------------------------------------------- */

/*
 * LOGINOUT completion (struct logio_entry_24xx, qla_fw.h; read by
 * qla_isr.c qla24xx_logio_entry): comp_status 0 and io_parameter[0] = the
 * remote port's PRLI word 3 bits on success; CS_LOGIO_ERROR 0x31 with the
 * sub-code in io_parameter[0] on failure.
 */
static void loginout_done(IspState *s, const uint8_t *iocb, uint16_t status,
                          uint32_t iop0, uint32_t iop1)
{
    const IspLogio *req = (const IspLogio *)iocb;
    IspLogio rsp;

    memset(&rsp, 0, sizeof(rsp));
    rsp.hdr.entry_type = ET_LOGINOUT;
    rsp.hdr.entry_count = 1;
    rsp.hdr.handle = req->hdr.handle;
    rsp.comp_status = cpu_to_le16(status);
    rsp.nport_handle = req->nport_handle;
    rsp.control_flags = req->control_flags;
    rsp.vp_index = req->vp_index;
    memcpy(rsp.port_id, req->port_id, sizeof(rsp.port_id));
    rsp.io_parameter[0] = cpu_to_le32(iop0);
    rsp.io_parameter[1] = cpu_to_le32(iop1);
    if (status == CS_COMPLETE) {
        rsp.io_parameter[9] = cpu_to_le32(1);   /* class 3 params valid */
    }
    trace_qla2532_loginout_done(s->port_no, le16_to_cpu(req->control_flags),
                                le16_to_cpu(req->nport_handle), status,
                                iop0);
    isp_rsp_post(s, (const uint8_t *)&rsp);
}

/*
 * ELS pass-through completion (struct els_sts_entry_24xx, qla_fw.h; read
 * by qla_isr.c qla24xx_els_ct_entry): comp_status, total_byte_count of the
 * reply, error sub-codes.
 */
static void els_iocb_done(IspState *s, const uint8_t *iocb, uint16_t status,
                          uint32_t bytes, uint32_t sub1, uint32_t sub2)
{
    const IspElsIocb *req = (const IspElsIocb *)iocb;
    IspElsIocb rsp;

    memset(&rsp, 0, sizeof(rsp));
    rsp.hdr.entry_type = ET_ELS;
    rsp.hdr.entry_count = 1;
    rsp.hdr.handle = req->hdr.handle;
    rsp.comp_status = cpu_to_le16(status);
    rsp.nport_handle = req->nport_handle;
    rsp.vp_index = req->vp_index;
    rsp.sof_type = req->sof_type;
    rsp.opcode = req->opcode;
    memcpy(rsp.d_id, req->d_id, sizeof(rsp.d_id));
    memcpy(rsp.s_id, req->s_id, sizeof(rsp.s_id));
    rsp.control_flags = req->control_flags;
    rsp.u.rsp.total_byte_count = cpu_to_le32(bytes);
    rsp.u.rsp.error_subcode_1 = cpu_to_le32(sub1);
    rsp.u.rsp.error_subcode_2 = cpu_to_le32(sub2);
    trace_qla2532_els_iocb_done(s->port_no, req->opcode, status, bytes);
    isp_rsp_post(s, (const uint8_t *)&rsp);
}

/* ---------------------------------------------------------------------- */
/* PRLI state machine                                                     */
/* ---------------------------------------------------------------------- */

/*
 * PRLI complete: the port is logged in.  The firmware tells the driver
 * with a PORT UPDATE for that handle (mb1 handle, mb2 the new login
 * state, mb3 vp 0), which the 6.1 driver treats as informational while
 * the loop is up (qla_isr.c qla2x00_async_event, MBA_PORT_UPDATE).
 */
static void rport_prli_complete(IspState *s, IspRport *rp)
{
    rp->prli_complete_ns = 0;
    rport_set_state(s, rp, PDS_PRLI_COMPLETE);
    /* during the link-up logins the global PORT UPDATE that follows them
     * says it all: one resync of the driver, not two */
    if (!s->port_update_pending) {
        isp_post_aen(s, MBA_PORT_UPDATE, rp->handle, PDS_PRLI_COMPLETE, 0);
    }
}

static void isp_prli_timer_cb(void *opaque)
{
    IspState *s = opaque;
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
    int64_t next = INT64_MAX;
    int i;

    for (i = 0; i < ISP_MAX_RPORTS; i++) {
        IspRport *rp = &s->rports[i];

        if (!rp->valid || !rp->prli_complete_ns) {
            continue;
        }
        if (rp->prli_complete_ns <= now) {
            rport_prli_complete(s, rp);
        } else {
            next = MIN(next, rp->prli_complete_ns);
        }
    }
    if (next != INT64_MAX) {
        timer_mod(s->prli_timer, next);
    }
}

/* The PRLI LS_ACC went out: complete now or after prli_latency_ns. */
static void rport_prli_accepted(IspState *s, IspRport *rp)
{
    if (s->prli_latency_ns <= 0) {
        rport_prli_complete(s, rp);
        return;
    }
    rport_set_state(s, rp, PDS_PRLI_PENDING);
    rp->prli_complete_ns = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) +
                           s->prli_latency_ns;
    if (!timer_pending(s->prli_timer) ||
        timer_expire_time_ns(s->prli_timer) > rp->prli_complete_ns) {
        timer_mod(s->prli_timer, rp->prli_complete_ns);
    }
}

/* ---------------------------------------------------------------------- */
/* Requests received from the link                                        */
/* ---------------------------------------------------------------------- */

/*
 * IMMED_NOTIFY for a received ELS (struct imm_ntfy_from_isp, 24xx layout,
 * qla_def.h; handled by qla_target.c qlt_24xx_handle_els): status 0x46,
 * subcode the ELS command, nport_handle, exchange address, node name (or
 * PRLI word 3 for PRLI), port name, port ID as al_pa/area/domain, OX_ID.
 */
static bool exch_post_notify(IspState *s, IspExch *x, IspRport *rp)
{
    IspImmNtfy *e = (IspImmNtfy *)x->iocb;

    QEMU_BUILD_BUG_ON(sizeof(x->iocb) != sizeof(*e));
    memset(e, 0, sizeof(*e));
    e->entry_type = ET_IMMED_NOTIFY;
    e->entry_count = 1;
    e->nport_handle = cpu_to_le16(rp->handle);
    e->status = cpu_to_le16(IMM_NTFY_ELS);
    e->status_subcode = x->els;
    e->exchange_address = cpu_to_le32(x->exch_addr);
    if (x->els == ELS_PRLI) {
        e->u.prli_svc_param_word_3 =
            cpu_to_le16(fc_els_prli_wd3(x->payload, x->len));
    } else {
        stq_be_p(e->u.node_name, rp->wwnn);
    }
    stq_be_p(e->port_name, rp->wwpn);
    isp_set_le_id(e->port_id, x->peer_id);
    e->ox_id = cpu_to_le16(x->ox_id);
    trace_qla2532_notify(s->port_no, x->els, rp->handle, x->exch_addr);
    return isp_atio_post(s, x->iocb);
}

static bool notify_pending_from(IspState *s, uint32_t peer, IspExch *self)
{
    int i;

    for (i = 0; i < ISP_MAX_EXCH; i++) {
        IspExch *x = &s->exch[i];

        if (x != self && x->kind == ISP_X_NOTIFY && !x->deferred &&
            x->peer_id == peer) {
            return true;
        }
    }
    return false;
}

/* Hand a received ELS to the driver (target mode), or queue it behind an
 * earlier one from the same port. */
static void isp_els_to_driver(IspState *s, const FcFrame *f, IspRport *rp)
{
    IspExch *x = exch_new(s, ISP_X_NOTIFY);
    uint8_t pl[8];

    if (!x) {
        /* no exchange resources: logical busy (FC-LS-3 LS_RJT 0x09) */
        isp_els_reply(s, fc_s_id(f), fc_ox_id(f), pl,
                      fc_els_ls_rjt(pl, 0x09, 0x00));
        return;
    }
    x->els = f->payload[0];
    x->ox_id = fc_ox_id(f);
    x->peer_id = fc_s_id(f);
    x->len = MIN(f->len, sizeof(x->payload));
    memcpy(x->payload, f->payload, x->len);
    x->exch_addr = s->next_exch_addr++;
    if (s->next_exch_addr == 0xffffffff) {
        s->next_exch_addr = 1;
    }
    if (notify_pending_from(s, x->peer_id, x)) {
        x->deferred = true;
        return;
    }
    exch_post_notify(s, x, rp);
}

/* Present the oldest deferred notify from @peer, if any. */
static void isp_release_deferred(IspState *s, uint32_t peer)
{
    IspExch *first = NULL;
    IspRport *rp;
    int i;

    for (i = 0; i < ISP_MAX_EXCH; i++) {
        IspExch *x = &s->exch[i];

        if (x->kind == ISP_X_NOTIFY && x->deferred && x->peer_id == peer &&
            (!first || x->exch_addr < first->exch_addr)) {
            first = x;
        }
    }
    if (!first) {
        return;
    }
    rp = rport_by_port_id(s, peer);
    if (!rp) {
        exch_free(first);
        return;
    }
    first->deferred = false;
    exch_post_notify(s, first, rp);
}

/* Accept a PLOGI: LS_ACC with our service parameters. */
static void isp_accept_plogi(IspState *s, IspRport *rp, uint16_t ox_id)
{
    uint8_t pl[FC_PLOGI_LEN];

    isp_els_reply(s, rp->port_id, ox_id, pl,
                  fc_els_plogi(pl, ELS_LS_ACC, s->icb.port_name,
                               s->icb.node_name));
    rport_set_state(s, rp, PDS_PLOGI_COMPLETE);
}

static void isp_accept_prli(IspState *s, IspRport *rp, uint16_t ox_id,
                            const uint8_t *req, uint32_t len)
{
    uint8_t pl[FC_PRLI_LEN];

    rp->prli_wd3 = fc_els_prli_wd3(req, len);
    isp_els_reply(s, rp->port_id, ox_id, pl,
                  fc_els_prli(pl, ELS_LS_ACC, isp_own_wd3(s)));
    rport_prli_accepted(s, rp);
}

static void isp_accept_simple(IspState *s, IspRport *rp, uint16_t ox_id,
                              uint8_t els)
{
    uint8_t pl[FC_ADISC_LEN];
    uint32_t len = 4;

    if (els == ELS_ADISC) {
        len = fc_els_adisc(pl, ELS_LS_ACC, s->port_id, s->icb.port_name,
                           s->icb.node_name);
    } else {
        memset(pl, 0, 4);
        pl[0] = ELS_LS_ACC;
    }
    isp_els_reply(s, rp->port_id, ox_id, pl, len);
    if (els == ELS_LOGO) {
        rp->prli_complete_ns = 0;
        rport_set_state(s, rp, PDS_PORT_UNAVAILABLE);
    } else if (els == ELS_PRLO) {
        rp->prli_complete_ns = 0;
        rport_set_state(s, rp, PDS_PLOGI_COMPLETE);
    }
}

/*
 * An ELS request from a remote port.  In target mode the firmware hands
 * PLOGI, LOGO, PRLO, ADISC and (with PRLI control, firmware_options_2
 * BIT_14, set by qla_target.c qlt_24xx_config_nvram_stage1) PRLI to the
 * driver and answers after its NOTIFY_ACK.  Without target mode it
 * answers itself.  A PRLI, ADISC or PRLO from a port that has not logged
 * in gets an LS_RJT with explanation "N_Port login required".
 */
static void isp_els_request(IspState *s, const FcFrame *f)
{
    uint8_t els = f->payload[0];
    uint32_t peer = fc_s_id(f);
    IspRport *rp = rport_by_port_id(s, peer);
    uint8_t pl[FC_LOGO_LEN];
    bool to_driver = isp_target_mode(s);

    trace_qla2532_els_rx(s->port_no, els, peer, fc_ox_id(f));
    switch (els) {
    case ELS_PLOGI:
        rp = rport_get(s, peer, -1);
        if (!rp) {
            isp_els_reply(s, peer, fc_ox_id(f), pl,
                          fc_els_ls_rjt(pl, 0x09, 0x29)); /* resources */
            return;
        }
        rp->prli_complete_ns = 0;
        rp->wwpn = fc_els_plogi_wwpn(f->payload, f->len);
        rp->wwnn = fc_els_plogi_wwnn(f->payload, f->len);
        rport_set_state(s, rp, PDS_PLOGI_PENDING);
        if (to_driver) {
            isp_els_to_driver(s, f, rp);
        } else {
            isp_accept_plogi(s, rp, fc_ox_id(f));
        }
        return;
    case ELS_PRLI:
    case ELS_PRLO:
    case ELS_ADISC:
        if (!rp || rp->state == PDS_PORT_UNAVAILABLE ||
            rp->state == PDS_PLOGI_PENDING) {
            /* FC-LS-3 LS_RJT reason codes: "unable to perform command
             * request" (0x09), explanation "N_Port login required"
             * (0x1e) */
            isp_els_reply(s, peer, fc_ox_id(f), pl,
                          fc_els_ls_rjt(pl, 0x09, 0x1e));
            return;
        }
        if (els == ELS_PRLI && !(s->icb.fw_options[1] & ISP_FO2_PRLI_CONTROL)) {
            to_driver = false;
        }
        if (to_driver) {
            isp_els_to_driver(s, f, rp);
        } else if (els == ELS_PRLI) {
            isp_accept_prli(s, rp, fc_ox_id(f), f->payload, f->len);
        } else {
            isp_accept_simple(s, rp, fc_ox_id(f), els);
        }
        return;
    case ELS_LOGO:
        if (!rp) {
            memset(pl, 0, 4);
            pl[0] = ELS_LS_ACC;
            isp_els_reply(s, peer, fc_ox_id(f), pl, 4);
            return;
        }
        if (to_driver) {
            isp_els_to_driver(s, f, rp);
        } else {
            isp_accept_simple(s, rp, fc_ox_id(f), els);
            isp_post_aen(s, MBA_PORT_UPDATE, rp->handle, PDS_PORT_UNAVAILABLE,
                         0);
        }
        return;
    default:
        isp_els_reply(s, peer, fc_ox_id(f), pl,
                      fc_els_ls_rjt(pl, 0x0b, 0x00)); /* not supported */
        return;
    }
}

/*
 * NOTIFY_ACK (struct nack_to_isp, qla_target.h; built by qla_iocb.c
 * qla2x00_send_notify_ack_iocb and qla_target.c qlt_send_notify_ack):
 * find the notify by exchange address, answer the ELS on the wire (LS_ACC,
 * or LS_RJT for a TERMINATE), then complete the NOTIFY_ACK with status 1
 * (qla_target.h NOTIFY_ACK_SUCCESS).
 */
void isp_iocb_notify_ack(IspState *s, const uint8_t *iocb)
{
    const IspNack *req = (const IspNack *)iocb;
    uint32_t addr = le32_to_cpu(req->exchange_address);
    bool terminate = le16_to_cpu(req->flags) & NOTIFY_ACK_TERMINATE;
    IspNack rsp;
    IspExch *x = NULL;
    IspRport *rp;
    uint8_t pl[8];
    uint32_t peer;
    int i;

    for (i = 0; i < ISP_MAX_EXCH; i++) {
        if (s->exch[i].kind == ISP_X_NOTIFY && !s->exch[i].deferred &&
            s->exch[i].exch_addr == addr) {
            x = &s->exch[i];
            break;
        }
    }
    memcpy(&rsp, req, sizeof(rsp));
    rsp.hdr.entry_count = 1;
    rsp.hdr.entry_status = 0;
    rsp.status = cpu_to_le16(NOTIFY_ACK_SUCCESS);
    if (!x) {
        /*
         * A notify that is no longer open (answered, or dropped with a
         * LIP) completes; one the firmware never sent since its reset
         * (address 0 or not yet handed out) completes with 0x08, the
         * firmware's "no such exchange" (qla_target.h CTIO_INVALID_RX_ID).
         * [fw?] chosen: the drivers only log a NOTIFY_ACK that is not
         * NOTIFY_ACK_SUCCESS (qla_target.c qlt_response_pkt).
         */
        if (addr == 0 || addr >= s->next_exch_addr) {
            qemu_log_mask(LOG_GUEST_ERROR, "qla2532: NOTIFY_ACK for "
                          "exchange 0x%x never notified\n", addr);
            rsp.status = cpu_to_le16(NOTIFY_ACK_INVALID_EXCH);
        }
        trace_qla2532_nack(s->port_no, 0, addr, 0);
        isp_rsp_post(s, (const uint8_t *)&rsp);
        return;
    }
    peer = x->peer_id;
    rp = rport_by_port_id(s, peer);
    trace_qla2532_nack(s->port_no, x->els, addr, terminate);
    if (!rp) {
        /* the port went away meanwhile: nothing to answer */
    } else if (terminate) {
        /* [fw?] the driver does not care what a TERMINATE puts on the
         * wire; a reject says "logical error" (FC-LS-3) */
        isp_els_reply(s, peer, x->ox_id, pl, fc_els_ls_rjt(pl, 0x03, 0x00));
        if (x->els == ELS_PLOGI) {
            rport_set_state(s, rp, PDS_PORT_UNAVAILABLE);
        }
    } else if (x->els == ELS_PLOGI) {
        isp_accept_plogi(s, rp, x->ox_id);
    } else if (x->els == ELS_PRLI) {
        isp_accept_prli(s, rp, x->ox_id, x->payload, x->len);
    } else {
        isp_accept_simple(s, rp, x->ox_id, x->els);
    }
    exch_free(x);
    isp_rsp_post(s, (const uint8_t *)&rsp);
    isp_release_deferred(s, peer);
}

/* ---------------------------------------------------------------------- */
/* Requests the firmware or the driver originated                        */
/* ---------------------------------------------------------------------- */

static IspExch *exch_by_ox_id(IspState *s, uint16_t ox_id, uint32_t peer)
{
    int i;

    for (i = 0; i < ISP_MAX_EXCH; i++) {
        IspExch *x = &s->exch[i];

        if (x->kind != ISP_X_FREE && x->kind != ISP_X_NOTIFY &&
            x->ox_id == ox_id && x->peer_id == peer) {
            return x;
        }
    }
    return NULL;
}

static void auto_login_finished(IspState *s);

/* A LOGINOUT or auto-login exchange got its reply. */
static void login_reply(IspState *s, IspExch *x, IspRport *rp, bool acc,
                        const FcFrame *f)
{
    const IspLogio *req = (const IspLogio *)x->iocb;
    uint16_t ctl = le16_to_cpu(req->control_flags);
    bool from_driver = x->kind == ISP_X_LOGINOUT;

    if (!acc) {
        if (x->els == ELS_PLOGI) {
            rport_set_state(s, rp, PDS_PORT_UNAVAILABLE);
        }
        if (from_driver) {
            loginout_done(s, x->iocb, CS_LOGIO_ERROR, LSC_SCODE_ELS_REJECT,
                          f->len > 5 ? f->payload[5] : 0);
        }
        exch_free(x);
        if (!from_driver) {
            auto_login_finished(s);
        }
        return;
    }
    switch (x->els) {
    case ELS_PLOGI:
        rp->wwpn = fc_els_plogi_wwpn(f->payload, f->len);
        rp->wwnn = fc_els_plogi_wwnn(f->payload, f->len);
        rport_set_state(s, rp, PDS_PLOGI_COMPLETE);
        if (!from_driver || !(ctl & LCF_SKIP_PRLI)) {
            exch_send_prli(s, x);       /* LOGINOUT PLOGI includes PRLI */
            return;
        }
        loginout_done(s, x->iocb, CS_COMPLETE, rp->prli_wd3, 0);
        break;
    case ELS_PRLI:
        rp->prli_wd3 = fc_els_prli_wd3(f->payload, f->len);
        rport_prli_accepted(s, rp);
        if (from_driver) {
            loginout_done(s, x->iocb, CS_COMPLETE, rp->prli_wd3, 0);
        }
        break;
    case ELS_LOGO:
        rp->prli_complete_ns = 0;
        rport_set_state(s, rp, PDS_PORT_UNAVAILABLE);
        loginout_done(s, x->iocb, CS_COMPLETE, 0, 0);
        if (ctl & LCF_FREE_NPORT) {
            rp->valid = false;
        }
        break;
    case ELS_PRLO:
        rp->prli_complete_ns = 0;
        rport_set_state(s, rp, PDS_PLOGI_COMPLETE);
        loginout_done(s, x->iocb, CS_COMPLETE, 0, 0);
        break;
    default:                            /* ADISC */
        loginout_done(s, x->iocb, CS_COMPLETE, rp->prli_wd3, 0);
        break;
    }
    exch_free(x);
    if (!from_driver) {
        auto_login_finished(s);
    }
}

/*
 * ELS pass-through got its reply: the reply payload goes to the driver's
 * receive buffer (rx DSD), and a PLOGI accepted registers the N_Port
 * handle the driver chose (qla_iocb.c qla24xx_els_dcmd2_iocb and
 * qla_init.c qla_handle_els_plogi_done rely on it).
 */
static void els_iocb_reply(IspState *s, IspExch *x, IspRport *rp, bool acc,
                           const FcFrame *f)
{
    const IspElsIocb *req = (const IspElsIocb *)x->iocb;
    uint64_t rx_addr = le64_to_cpu(req->u.req.rx_address);
    uint32_t rx_len = le32_to_cpu(req->u.req.rx_len);
    uint32_t n = MIN(rx_len, f->len);
    uint16_t status = CS_COMPLETE;

    if (n && le16_to_cpu(req->rx_dsd_count) &&
        s->ops->dma_write(s->opaque, rx_addr, f->payload, n) != MEMTX_OK) {
        qemu_log_mask(LOG_GUEST_ERROR,
                      "qla2532: ELS IOCB receive buffer 0x%" PRIx64
                      " not writable\n", rx_addr);
        status = CS_LOGIO_ERROR;
    }
    if (rp && acc) {
        if (x->els == ELS_PLOGI) {
            rp->wwpn = fc_els_plogi_wwpn(f->payload, f->len);
            rp->wwnn = fc_els_plogi_wwnn(f->payload, f->len);
            rport_set_state(s, rp, PDS_PLOGI_COMPLETE);
        } else if (x->els == ELS_LOGO) {
            rp->prli_complete_ns = 0;
            rport_set_state(s, rp, PDS_PORT_UNAVAILABLE);
        }
    } else if (rp && x->els == ELS_PLOGI) {
        rport_set_state(s, rp, PDS_PORT_UNAVAILABLE);
    }
    els_iocb_done(s, x->iocb, status, f->len, 0, 0);
    exch_free(x);
}

static void isp_els_reply_rx(IspState *s, const FcFrame *f)
{
    IspExch *x = exch_by_ox_id(s, fc_ox_id(f), fc_s_id(f));
    IspRport *rp;
    bool acc;

    if (!x) {
        return;                         /* unsolicited or aborted */
    }
    acc = f->payload[0] == ELS_LS_ACC;
    trace_qla2532_els_rx(s->port_no, f->payload[0], fc_s_id(f), fc_ox_id(f));
    rp = rport_by_port_id(s, x->peer_id);
    if (x->kind == ISP_X_ELS_IOCB) {
        els_iocb_reply(s, x, rp, acc, f);
    } else if (rp) {
        login_reply(s, x, rp, acc, f);
    } else {
        if (x->kind == ISP_X_LOGINOUT) {
            loginout_done(s, x->iocb, CS_LOGIO_ERROR,
                          LSC_SCODE_NOT_LOGGED_IN, 0);
        }
        exch_free(x);
    }
}

void isp_els_receive(IspState *s, const FcFrame *f)
{
    QDict *e;

    if (!s->fw_initialized || f->len < 4 || fc_type(f) != FC_TYPE_ELS) {
        return;
    }
    if (s->log) {
        fc_log_count_code(s->log, fc_r_ctl(f) == FC_RCTL_ELS_REQ ?
                          "isp_els_received" : "isp_els_replies_received",
                          f->payload[0]);
        e = isp_log(s, "els-received");
        if (e) {
            qdict_put_int(e, "els", f->payload[0]);
            qdict_put_bool(e, "reply", fc_r_ctl(f) == FC_RCTL_ELS_REP);
            qdict_put_int(e, "s_id", fc_s_id(f));
            qdict_put_int(e, "ox_id", fc_ox_id(f));
        }
    }
    if (fc_r_ctl(f) == FC_RCTL_ELS_REQ) {
        isp_els_request(s, f);
    } else if (fc_r_ctl(f) == FC_RCTL_ELS_REP) {
        isp_els_reply_rx(s, f);
    }
}

/* Port ID in an IOCB: [0] al_pa, [1] area, [2] domain (qla_iocb.c). */
/*
 * LOGINOUT IOCB (struct logio_entry_24xx, qla_fw.h; built by qla_iocb.c
 * qla24xx_login_iocb, qla24xx_prli_iocb, qla24xx_adisc_iocb,
 * qla24xx_logout_iocb): command in control_flags bits 3:0.  PLOGI with
 * COND_PLOGI completes at once for a port already logged in; a PLOGI also
 * performs PRLI unless SKIP_PRLI.
 */
void isp_iocb_loginout(IspState *s, const uint8_t *iocb)
{
    const IspLogio *req = (const IspLogio *)iocb;
    uint16_t handle = le16_to_cpu(req->nport_handle);
    uint16_t ctl = le16_to_cpu(req->control_flags);
    uint32_t peer = isp_le_id(req->port_id);
    uint8_t cmd = ctl & LCF_COMMAND_MASK;
    IspRport *rp;
    IspExch *x;
    uint8_t pl[FC_ADISC_LEN];

    trace_qla2532_loginout(s->port_no, ctl, handle, peer);
    if (s->link != ISP_LINK_UP) {
        loginout_done(s, iocb, CS_LOGIO_ERROR, LSC_SCODE_NOLINK, 0);
        return;
    }
    /*
     * A PLOGI names the port by its ID; every other command by the handle
     * of a logged-in port, and the driver may leave the ID 0 (qla_iocb.c
     * qla24xx_adisc_iocb after a PORT UPDATE in N2N).
     */
    if (handle > ISP_MAX_NPORT_HANDLE ||
        (cmd == LCF_COMMAND_PLOGI && (peer == 0 || peer == s->port_id))) {
        loginout_done(s, iocb, CS_LOGIO_ERROR, LSC_SCODE_CMD_PARAM_ERR, 0);
        return;
    }
    if (cmd == LCF_COMMAND_PLOGI) {
        uint32_t in_use = 0, scode = plogi_conflict(s, peer, handle, &in_use);

        if (scode) {
            loginout_done(s, iocb, CS_LOGIO_ERROR, scode, in_use);
            return;
        }
    }
    rp = cmd == LCF_COMMAND_PLOGI ? rport_get(s, peer, handle)
                                  : rport_by_handle(s, handle);
    if (!rp && cmd == LCF_COMMAND_LOGO &&
        s->logo_unknown_mode == ISP_LOGO_UNKNOWN_COMPLETE) {
        loginout_done(s, iocb, CS_COMPLETE, 0, 0);  /* [fw?] isp-fw.h */
        return;
    }
    if (!rp) {
        loginout_done(s, iocb, CS_LOGIO_ERROR, LSC_SCODE_NOT_LOGGED_IN, 0);
        return;
    }
    if (cmd == LCF_COMMAND_PLOGI && (ctl & LCF_COND_PLOGI) &&
        rport_logged_in(rp) &&
        ((ctl & LCF_SKIP_PRLI) || rp->state == PDS_PRLI_COMPLETE)) {
        loginout_done(s, iocb, CS_COMPLETE, rp->prli_wd3, 0);
        return;
    }
    x = exch_new(s, ISP_X_LOGINOUT);
    if (!x) {
        loginout_done(s, iocb, CS_LOGIO_ERROR, 0x03, 0);    /* no XCB */
        return;
    }
    memcpy(x->iocb, iocb, IOCB_SIZE);
    x->peer_id = rp->port_id;
    switch (cmd) {
    case LCF_COMMAND_PLOGI:
        rport_set_state(s, rp, PDS_PLOGI_PENDING);
        exch_send_plogi(s, x);
        break;
    case LCF_COMMAND_PRLI:
        exch_send_prli(s, x);
        break;
    case LCF_COMMAND_ADISC:
        exch_send_request(s, x, ELS_ADISC, pl,
                          fc_els_adisc(pl, ELS_ADISC, s->port_id,
                                       s->icb.port_name, s->icb.node_name));
        break;
    case LCF_COMMAND_LOGO:
        exch_send_request(s, x, ELS_LOGO, pl,
                          fc_els_logo(pl, s->port_id, s->icb.port_name));
        break;
    case LCF_COMMAND_PRLO:
        exch_send_request(s, x, ELS_PRLO, pl, fc_els_prli(pl, ELS_PRLO, 0));
        break;
    default:
        exch_free(x);
        loginout_done(s, iocb, CS_LOGIO_ERROR, LSC_SCODE_CMD_PARAM_ERR, 0);
        break;
    }
}

/*
 * ELS pass-through IOCB (struct els_entry_24xx, qla_fw.h; built by
 * qla_iocb.c qla24xx_els_logo_iocb for the driver's PLOGI in N2N and its
 * LOGO in target mode): the transmit DSD holds the whole ELS payload,
 * which goes out from our port ID to d_id ([0] al_pa, [1] area,
 * [2] domain).
 */
void isp_iocb_els(IspState *s, const uint8_t *iocb)
{
    const IspElsIocb *req = (const IspElsIocb *)iocb;
    uint16_t handle = le16_to_cpu(req->nport_handle);
    uint32_t peer = isp_le_id(req->d_id);
    uint64_t tx_addr = le64_to_cpu(req->u.req.tx_address);
    uint32_t tx_len = le32_to_cpu(req->u.req.tx_len);
    g_autofree uint8_t *pl = NULL;
    IspRport *rp;
    IspExch *x;

    trace_qla2532_els_iocb(s->port_no, req->opcode, handle, peer, tx_len);
    if (s->link != ISP_LINK_UP) {
        els_iocb_done(s, iocb, CS_PORT_UNAVAILABLE, 0, LSC_SCODE_NOLINK, 0);
        return;
    }
    /*
     * The handle may be 0xffff (no handle) for anything but a PLOGI: the
     * port is named by d_id, as in the ELS LOGO the target drivers send
     * for an initiator without a session (qla_iocb.c qla24xx_els_logo_iocb
     * with the fcport of an unknown port; SCST's drivers likewise).
     */
    if (le16_to_cpu(req->tx_dsd_count) != 1 || tx_len < 4 ||
        tx_len > FC_MAX_PAYLOAD ||
        (handle > ISP_MAX_NPORT_HANDLE && handle != NPH_NONE) ||
        peer == 0 || peer == s->port_id) {
        isp_rsp_entry_error(s, iocb, RF_INV_E_PARAM);
        return;
    }
    pl = g_malloc(tx_len);
    if (s->ops->dma_read(s->opaque, tx_addr, pl, tx_len) != MEMTX_OK ||
        (pl[0] == ELS_PLOGI && handle == NPH_NONE)) {
        isp_rsp_entry_error(s, iocb, RF_INV_E_PARAM);
        return;
    }
    if (pl[0] == ELS_PLOGI) {
        uint32_t in_use = 0, scode = plogi_conflict(s, peer, handle, &in_use);

        if (scode) {
            els_iocb_done(s, iocb, CS_LOGIO_ERROR, 0, scode, in_use);
            return;
        }
    }
    rp = pl[0] == ELS_PLOGI ? rport_get(s, peer, handle)
                            : rport_by_port_id(s, peer);
    x = exch_new(s, ISP_X_ELS_IOCB);
    if (!x) {
        els_iocb_done(s, iocb, CS_LOGIO_ERROR, 0, 0x03, 0);
        return;
    }
    memcpy(x->iocb, iocb, IOCB_SIZE);
    x->peer_id = peer;
    if (rp && pl[0] == ELS_PLOGI) {
        rport_set_state(s, rp, PDS_PLOGI_PENDING);
    }
    exch_send_request(s, x, pl[0], pl, tx_len);
}

/*
 * ABORT IOCB (struct abort_entry_24xx, qla_fw.h; sent by qla_init.c
 * qla24xx_async_abort_cmd when an ELS, LOGINOUT or NOTIFY_ACK times out):
 * the open exchange of handle_to_abort completes with CS_ABORTED, then the
 * abort completes with status 0; an unknown handle (already completed)
 * gives CS_IOCB_ERROR 0x31 (chosen).
 */
void isp_iocb_abort(IspState *s, const uint8_t *iocb)
{
    const IspAbortIocb *req = (const IspAbortIocb *)iocb;
    uint32_t victim = req->handle_to_abort;     /* the driver's, unswapped */
    uint16_t status = CS_LOGIO_ERROR;
    IspAbortIocb rsp;
    int i;

    for (i = 0; i < ISP_MAX_EXCH; i++) {
        IspExch *x = &s->exch[i];

        if ((x->kind == ISP_X_LOGINOUT || x->kind == ISP_X_ELS_IOCB) &&
            ((const IspIocbHeader *)x->iocb)->handle == victim) {
            if (x->kind == ISP_X_LOGINOUT) {
                loginout_done(s, x->iocb, CS_ABORTED, 0, 0);
            } else {
                els_iocb_done(s, x->iocb, CS_ABORTED, 0, 0, 0);
            }
            exch_free(x);
            status = CS_COMPLETE;
        }
    }
    memcpy(&rsp, req, sizeof(rsp));
    rsp.hdr.entry_count = 1;
    rsp.hdr.entry_status = 0;
    rsp.nport_handle = cpu_to_le16(status);     /* completion status */
    isp_rsp_post(s, (const uint8_t *)&rsp);
}

/* ---------------------------------------------------------------------- */
/* Link up: what the firmware does by itself                              */
/* ---------------------------------------------------------------------- */

bool isp_els_logins_pending(IspState *s)
{
    int i;

    for (i = 0; i < ISP_MAX_EXCH; i++) {
        if (s->exch[i].kind == ISP_X_AUTO) {
            return true;
        }
    }
    return false;
}

static void isp_post_global_port_update(IspState *s)
{
    s->port_update_pending = false;
    isp_post_aen(s, MBA_PORT_UPDATE, 0xffff, 0, 0x00ff);
}

static void auto_login_finished(IspState *s)
{
    if (s->port_update_pending && !isp_els_logins_pending(s)) {
        isp_post_global_port_update(s);
    }
}

/*
 * Report ID Acquisition (struct vp_rpt_id_entry_24xx, qla_fw.h), format 1
 * with the N2N flag: the only way the 6.1 driver learns the other N_Port's
 * names point to point (qla_mbx.c qla24xx_report_id_acquisition).
 */
static void isp_post_rida(IspState *s, FcPort *peer)
{
    IspVpRptId e;

    memset(&e, 0, sizeof(e));
    e.entry_type = ET_VP_RPT_ID;
    e.entry_count = 1;
    e.vp_acquired = 1;
    isp_set_le_id(e.port_id, s->port_id);
    e.format = 1;
    e.flags = 0x04;                     /* TOPO_N2N */
    stq_be_p(e.port_name, peer->wwpn);
    stq_be_p(e.node_name, peer->wwnn);
    isp_rsp_post(s, (const uint8_t *)&e);
}

/*
 * The link came up (isp-fw.c has posted LOOP UP).  Point to point the
 * firmware reports the other N_Port with RIDA.  On a loop, with initiator
 * mode on and automatic PLOGI not disabled (firmware_options_3 BIT_7), it
 * logs in (PLOGI + PRLI) to the other loop ports itself, because the
 * driver only learns loop ports from GET ID LIST, which lists logged-in
 * ports (qla_init.c qla2x00_configure_local_loop).  The global PORT UPDATE
 * that starts the driver's loop resync follows when those logins are done.
 */
static void isp_els_link_up(IspState *s)
{
    FcLink *l = s->port.link;
    unsigned i;
    IspRport *rp;
    IspExch *x;

    if (s->topology == ISP_TOPO_N2N) {
        FcPort *peer = fc_link_peer(&s->port);

        if (peer) {
            isp_post_rida(s, peer);
        }
        isp_post_global_port_update(s);
        return;
    }
    s->port_update_pending = true;
    if (isp_initiator_mode(s) &&
        !(s->icb.fw_options[2] & ISP_FO3_NO_AUTO_PLOGI)) {
        for (i = 1; i <= l->lilp[0] && i < sizeof(l->lilp); i++) {
            uint32_t peer = l->lilp[i];

            if (peer == s->port_id) {
                continue;
            }
            rp = rport_get(s, peer, -1);
            if (rp && rp->state == PDS_PRLI_COMPLETE) {
                continue;           /* logins survive a LIP (FC-AL-2) */
            }
            x = rp ? exch_new(s, ISP_X_AUTO) : NULL;
            if (!x) {
                continue;
            }
            x->peer_id = peer;
            rport_set_state(s, rp, PDS_PLOGI_PENDING);
            exch_send_plogi(s, x);
        }
    }
    auto_login_finished(s);
}

/* Open exchanges die with the link; their IOCBs complete with an error. */
static void isp_els_abort_all(IspState *s)
{
    int i;

    for (i = 0; i < ISP_MAX_EXCH; i++) {
        IspExch *x = &s->exch[i];

        if (x->kind == ISP_X_LOGINOUT) {
            loginout_done(s, x->iocb, CS_LOGIO_ERROR, LSC_SCODE_NOLINK, 0);
        } else if (x->kind == ISP_X_ELS_IOCB) {
            els_iocb_done(s, x->iocb, CS_PORT_UNAVAILABLE, 0,
                          LSC_SCODE_NOLINK, 0);
        }
        exch_free(x);
    }
    s->port_update_pending = false;
}

/*
 * Full login after LIP (firmware_options_1 BIT_13, or MBC 0x72 with mb1
 * BIT_4): every loop port is logged out implicitly and must log in again
 * (an initiator PLOGIs; in initiator mode the firmware's auto-login does).
 * The entries stay, with their loop IDs, in state port unavailable, so GET
 * PORT DATABASE still reports the last login state.
 */
static void isp_els_logout_all(IspState *s)
{
    int i;

    for (i = 0; i < ISP_MAX_RPORTS; i++) {
        IspRport *rp = &s->rports[i];

        if (rp->valid) {
            rp->prli_complete_ns = 0;
            rport_set_state(s, rp, PDS_PORT_UNAVAILABLE);
        }
    }
}

/*
 * Link events.  A LIP leaves logins in place (FC-AL-2: ports keep their
 * AL_PA through LIPA and their logins; an initiator re-validates with
 * ADISC or PLOGI), unless full login after LIP is on (above).  Loss of
 * the link, or a new point-to-point FLOGI, implicitly logs every port out
 * (FC-LS-3 §4.2.11 implicit logout).
 */
void isp_els_link_event(IspState *s, FcLinkEvent ev)
{
    int i;

    switch (ev) {
    case FC_EV_LIP:
    case FC_EV_LIP_RESET:
        isp_els_abort_all(s);
        if (s->topology != ISP_TOPO_NL) {
            memset(s->rports, 0, sizeof(s->rports));
        } else if ((s->icb.fw_options[0] & ISP_FO1_FULL_LOGIN_LIP) ||
                   s->full_login_pending) {
            isp_els_logout_all(s);
        }
        s->full_login_pending = false;
        break;
    case FC_EV_LINK_DOWN:
        isp_els_abort_all(s);
        memset(s->rports, 0, sizeof(s->rports));
        timer_del(s->prli_timer);
        break;
    case FC_EV_LINK_UP:
        for (i = 0; i < ISP_MAX_RPORTS; i++) {
            if (s->rports[i].valid && s->topology != ISP_TOPO_NL) {
                s->rports[i].valid = false;
            }
        }
        isp_els_link_up(s);
        break;
    }
}

/* ---------------------------------------------------------------------- */
/* Mailbox commands about remote ports                                    */
/* ---------------------------------------------------------------------- */

/*
 * MBC 0x64 GET PORT DATABASE (qla_mbx.c qla2x00_get_port_database and the
 * MBX IOCB path qla24xx_async_gpdb): struct port_database_24xx, 64 bytes,
 * for handle mb1: login states, port ID as domain/area/al_pa, PRLI word 3
 * byte, names.  Unknown handle: 0x4005 (the driver only tests mb0).
 */
int isp_mbc_get_port_database(IspState *s, uint16_t *mb, int *nout)
{
    IspRport *rp = rport_by_handle(s, mb[1]);
    IspPortDb24xx pd;

    if (!rp) {
        return MBS_COMMAND_ERROR;
    }
    memset(&pd, 0, sizeof(pd));
    pd.current_login_state = rp->state;
    pd.last_login_state = rp->last_state;
    pd.port_id[0] = rp->port_id >> 16;
    pd.port_id[1] = rp->port_id >> 8;
    pd.port_id[2] = rp->port_id;
    pd.nport_handle = cpu_to_le16(rp->handle);
    pd.receive_data_size = cpu_to_le16(2048);
    pd.prli_svc_param_word_3 = cpu_to_le16(rp->prli_wd3);
    stq_be_p(pd.port_name, rp->wwpn);
    stq_be_p(pd.node_name, rp->wwnn);
    if (s->ops->dma_write(s->opaque, isp_mb_dma_addr(mb), &pd, sizeof(pd))
        != MEMTX_OK) {
        return MBS_COMMAND_ERROR;
    }
    return MBS_COMMAND_COMPLETE;
}

/*
 * MBC 0x7c GET ID LIST (qla_mbx.c qla2x00_get_id_list): 8-byte
 * struct gid_list_info entries (al_pa, area, domain, -, le16 handle) of
 * the ports that are logged in (gid_list_mode LOGGED_IN: PLOGI complete
 * or later) or only of those with PRLI complete (PRLI_COMPLETE);
 * mb1 = count.
 */
static bool gid_listed(IspState *s, const IspRport *rp)
{
    if (s->gid_list_mode == ISP_GID_LIST_PRLI_COMPLETE) {
        return rp->state == PDS_PRLI_COMPLETE;
    }
    return rport_logged_in(rp);
}

int isp_mbc_get_id_list(IspState *s, uint16_t *mb, int *nout)
{
    IspGidListEntry list[ISP_MAX_RPORTS];
    unsigned n = 0;
    int i;

    if (s->link != ISP_LINK_UP) {
        return MBS_COMMAND_ERROR;
    }
    memset(list, 0, sizeof(list));
    for (i = 0; i < ISP_MAX_RPORTS; i++) {
        IspRport *rp = &s->rports[i];

        if (rp->valid && gid_listed(s, rp)) {
            IspGidListEntry *g = &list[n++];

            isp_set_le_id(g->port_id, rp->port_id);
            g->loop_id = cpu_to_le16(rp->handle);
        }
    }
    if (n && s->ops->dma_write(s->opaque, isp_mb_dma_addr(mb), list,
                               n * sizeof(list[0]))
        != MEMTX_OK) {
        return MBS_COMMAND_ERROR;
    }
    mb[1] = n;
    *nout = 2;
    return MBS_COMMAND_COMPLETE;
}

/*
 * MBC 0x6a GET PORT NAME (qla_mbx.c qla2x00_get_port_name, extended IDs):
 * mb1 the handle, mb10 BIT_0 node name instead of port name; the name
 * comes back big-endian in mb2, mb3, mb6, mb7.  Our own handle gives our
 * names; an unknown handle (e.g. the name server's on a loop) fails with
 * 0x4005.
 */
int isp_mbc_get_port_name(IspState *s, uint16_t *mb, int *nout)
{
    IspRport *rp = rport_by_handle(s, mb[1]);
    bool node = mb[10] & 1;
    uint64_t name;

    if (rp && rp->state != PDS_PORT_UNAVAILABLE) {
        name = node ? rp->wwnn : rp->wwpn;
    } else if (s->link == ISP_LINK_UP && mb[1] == s->loop_id) {
        name = node ? s->icb.node_name : s->icb.port_name;
    } else {
        return MBS_COMMAND_ERROR;
    }
    mb[2] = name >> 48;
    mb[3] = name >> 32;
    mb[6] = name >> 16;
    mb[7] = name;
    *nout = 8;
    return MBS_COMMAND_COMPLETE;
}

/*
 * MBC 0x1a PORT PARAMS (qla_mbx.c qla2x00_set_idma_speed,
 * qla2x00_get_idma_speed; qla_init.c qla2x00_iidma_fcport on a fabric,
 * bsg QL_VND_IIDMA): mb1 N_Port handle, mb2 BIT_0 = set, mb3 the speed
 * code (PORT_SPEED_*, bits 5:0).  For a logged-in port, or our own
 * handle: 0x4000 and mb3 the port's rate -- the one set, which must not
 * exceed the link's, or on a get the link's.  The emulated link has no
 * bandwidth, so a set rate is acknowledged and not kept (a get after a
 * set reports the link's rate; [fw?] a real card reports the set rate).
 * An unknown handle or a rate above the link's: 0x4005, mb1 = 0.  (FCP
 * priority, mb2 BIT_1, needs a flash priority table, which the model's
 * flash has not: the driver never sends it.)
 */
int isp_mbc_port_params(IspState *s, uint16_t *mb, int *nout)
{
    IspRport *rp = rport_by_handle(s, mb[1]);
    uint16_t speed = mb[3] & 0x3f;
    bool own = s->link == ISP_LINK_UP && mb[1] == s->loop_id;

    *nout = 4;
    mb[1] = 0;
    if ((!rp || rp->state == PDS_PORT_UNAVAILABLE) && !own) {
        return MBS_COMMAND_ERROR;
    }
    if ((mb[2] & 1) && speed > s->link_speed) {
        return MBS_COMMAND_ERROR;
    }
    mb[3] = (mb[2] & 1) ? speed : s->link_speed;
    return MBS_COMMAND_COMPLETE;
}

/*
 * MBC 0x75 GET PORT/NODE NAME LIST (MBX IOCB, qla_init.c qla24xx_async_gnl):
 * 40-byte struct get_name_list_extended entries of the known ports, up to
 * mb8 bytes; mb1 = bytes returned.  The port ID is read as [0] al_pa,
 * [1] area, [2] domain (qla_init.c qla24xx_handle_gnl_done_event).
 */
int isp_mbc_get_port_name_list(IspState *s, uint16_t *mb, int *nout)
{
    IspNameListEntry list[ISP_MAX_RPORTS];
    uint32_t room = mb[8];
    unsigned n = 0;
    int i;

    memset(list, 0, sizeof(list));
    for (i = 0; i < ISP_MAX_RPORTS && (n + 1) * sizeof(list[0]) <= room;
         i++) {
        IspRport *rp = &s->rports[i];
        IspNameListEntry *e = &list[n];

        if (!rp->valid || rp->state == PDS_PORT_UNAVAILABLE) {
            continue;
        }
        e->current_login_state = rp->state;
        e->last_login_state = rp->last_state;
        isp_set_le_id(e->port_id, rp->port_id);
        e->nport_handle = cpu_to_le16(rp->handle);
        e->prli_svc_param_word_3 = cpu_to_le16(rp->prli_wd3);
        stq_be_p(e->port_name, rp->wwpn);
        stq_be_p(e->node_name, rp->wwnn);
        n++;
    }
    if (n && s->ops->dma_write(s->opaque, isp_mb_dma_addr(mb), list,
                               n * sizeof(list[0])) != MEMTX_OK) {
        return MBS_COMMAND_ERROR;
    }
    mb[1] = n * sizeof(list[0]);
    *nout = 2;
    return MBS_COMMAND_COMPLETE;
}

/*
 * MBC 0x5a GET RNID PARAMS with mb1 = 0x0700, the PLOGI template
 * (qla_mbx.c qla24xx_get_port_login_templ): our PLOGI payload from the
 * common service parameters on, mb8 dwords, each big-endian wire word
 * stored as a little-endian dword (the driver converts with
 * cpu_to_be32_array, qla_init.c qla_get_login_template).
 */
int isp_mbc_get_login_template(IspState *s, uint16_t *mb, int *nout)
{
    uint8_t pl[FC_PLOGI_LEN], out[FC_PLOGI_LEN];
    uint32_t bytes = mb[8] * 4;
    unsigned i;

    if ((mb[1] >> 8) != 0x07 || bytes == 0 || bytes > FC_PLOGI_LEN) {
        return MBS_COMMAND_ERROR;
    }
    fc_els_plogi(pl, ELS_PLOGI, s->icb.port_name, s->icb.node_name);
    memset(out, 0, sizeof(out));
    for (i = 0; i + 4 <= bytes && i + 8 <= FC_PLOGI_LEN; i += 4) {
        stl_le_p(out + i, ldl_be_p(pl + 4 + i));
    }
    if (s->ops->dma_write(s->opaque, isp_mb_dma_addr(mb), out, bytes)
        != MEMTX_OK) {
        return MBS_COMMAND_ERROR;
    }
    return MBS_COMMAND_COMPLETE;
}

/* ---------------------------------------------------------------------- */

void isp_els_reset(IspState *s)
{
    memset(s->rports, 0, sizeof(s->rports));
    memset(s->exch, 0, sizeof(s->exch));
    s->port_update_pending = false;
    s->next_exch_addr = 1;
    if (s->prli_timer) {
        timer_del(s->prli_timer);
    }
}

void isp_els_init(IspState *s)
{
    s->prli_timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, isp_prli_timer_cb, s);
    s->next_ox_id = 0x0100;
    isp_els_reset(s);
}
