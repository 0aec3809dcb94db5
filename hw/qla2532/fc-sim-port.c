/*
 * Simulated remote FC port: the link partner of the emulated ISP.
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "fc-sim-port.h"
#include "fc-els.h"
#include "qapi/qmp/qdict.h"
#include "trace.h"

/* A login step that got no answer or a reject is retried this often. */
#define FC_SIM_MAX_RETRIES      3

static bool sim_is_initiator(FcSimPort *sp)
{
    return sp->fcp_role & FC_SIM_ROLE_INITIATOR;
}

/* Record an ELS frame sent or received by the initiator. */
static void sim_log_els(FcSimPort *sp, const char *dir, const FcFrame *f)
{
    QDict *e;

    if (!sp->log) {
        return;
    }
    fc_log_count(sp->log, dir[0] == 's' ? "initiator_els_sent"
                                         : "initiator_els_received",
                 fc_els_name(f->payload[0]), 1);
    e = fc_log_event(sp->log, "initiator", dir);
    if (e) {
        qdict_put_str(e, "els", fc_els_name(f->payload[0]));
        qdict_put_bool(e, "reply", fc_r_ctl(f) == FC_RCTL_ELS_REP);
        qdict_put_int(e, "s_id", fc_s_id(f));
        qdict_put_int(e, "d_id", fc_d_id(f));
        qdict_put_int(e, "ox_id", fc_ox_id(f));
    }
}

static void sim_send(FcSimPort *sp, FcFrame *f)
{
    sp->els_tx++;
    sim_log_els(sp, "sent", f);
    fc_link_send(&sp->port, f);
}

static void sim_send_request(FcSimPort *sp, uint8_t els)
{
    uint8_t pl[FC_PLOGI_LEN];
    uint32_t len;

    if (els == ELS_PLOGI) {
        len = fc_els_plogi(pl, ELS_PLOGI, sp->port.wwpn, sp->port.wwnn);
        sp->login = FC_SIM_PLOGI_SENT;
    } else {
        len = fc_els_prli(pl, ELS_PRLI, sp->fcp_role | FCP_SPPARM_RD_XRDY_DIS);
        sp->login = FC_SIM_PRLI_SENT;
    }
    sp->pending_els = els;
    sp->pending_ox_id = sp->next_ox_id++;
    trace_qla2532_sim_login(sp->port.name, els, sp->peer_id);
    sim_send(sp, fc_els_frame(false, sp->peer_id, sp->port.port_id,
                              sp->pending_ox_id, 0xffff, pl, len));
}

/* The next login step, after login_delay_ns. */
static void sim_login_timer_cb(void *opaque)
{
    FcSimPort *sp = opaque;

    if (!sp->port.up || !sim_is_initiator(sp)) {
        return;
    }
    switch (sp->login) {
    case FC_SIM_IDLE:
    case FC_SIM_PLOGI_SENT:
        sim_send_request(sp, ELS_PLOGI);
        break;
    case FC_SIM_PLOGI_DONE:
    case FC_SIM_PRLI_SENT:
        sim_send_request(sp, ELS_PRLI);
        break;
    case FC_SIM_LOGGED_IN:
        break;
    }
}

static void sim_schedule_login(FcSimPort *sp)
{
    timer_mod(sp->login_timer, qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) +
              sp->login_delay_ns);
}

/*
 * Link up: find the peer.  On a loop an initiator logs in to it; point to
 * point the port with the higher Port_Name originates PLOGI (FC-FS-3
 * point-to-point; the ISP firmware and qla2xxx follow the same rule,
 * qla_mbx.c qla24xx_report_id_acquisition).
 */
static void sim_port_link_event(FcPort *port, FcLinkEvent ev, uint16_t lip)
{
    FcSimPort *sp = port->opaque;
    FcPort *peer;

    timer_del(sp->login_timer);
    sp->retries = 0;
    if (sp->scsi) {
        fc_sim_scsi_logged_out(sp->scsi, "link");
    }
    if (ev != FC_EV_LINK_UP) {
        if (port->link->topology != FC_TOPO_LOOP) {
            sp->login = FC_SIM_IDLE;     /* FLOGI logs everybody out */
        }
        return;
    }
    peer = fc_link_peer(port);
    if (!peer) {
        return;
    }
    sp->peer_id = peer->port_id;
    sp->login = FC_SIM_IDLE;
    if (port->link->topology == FC_TOPO_LOOP || port->wwpn > peer->wwpn) {
        sim_schedule_login(sp);
    }
}

static void sim_reply(FcSimPort *sp, const FcFrame *req, const uint8_t *pl,
                      uint32_t len)
{
    sim_send(sp, fc_els_frame(true, fc_s_id(req), sp->port.port_id,
                              fc_ox_id(req), sp->next_ox_id++, pl, len));
}

/* A request from the peer. */
static void sim_port_els_request(FcSimPort *sp, const FcFrame *f)
{
    uint8_t pl[FC_PLOGI_LEN];
    uint32_t len;

    switch (f->payload[0]) {
    case ELS_PLOGI:
        /* an implicit logout of what we had, then a fresh login */
        len = fc_els_plogi(pl, ELS_LS_ACC, sp->port.wwpn, sp->port.wwnn);
        sim_reply(sp, f, pl, len);
        if (sp->scsi) {
            /* a PLOGI is an implicit logout (FC-LS-3 §4.2.27) */
            fc_sim_scsi_logged_out(sp->scsi, "plogi");
        }
        sp->peer_id = fc_s_id(f);
        sp->login = FC_SIM_PLOGI_DONE;
        if (sim_is_initiator(sp)) {
            sim_schedule_login(sp);
        }
        return;
    case ELS_PRLI:
        len = fc_els_prli(pl, ELS_LS_ACC, sp->fcp_role |
                          FCP_SPPARM_RD_XRDY_DIS);
        break;
    case ELS_ADISC:
        len = fc_els_adisc(pl, ELS_LS_ACC, sp->port.port_id, sp->port.wwpn,
                           sp->port.wwnn);
        break;
    case ELS_LOGO:
        pl[0] = ELS_LS_ACC;
        memset(pl + 1, 0, 3);
        len = 4;
        sim_reply(sp, f, pl, len);
        /* logged out by the peer: an initiator logs in again */
        sp->login = FC_SIM_IDLE;
        if (sp->scsi) {
            fc_sim_scsi_logged_out(sp->scsi, "logo");
        }
        if (sim_is_initiator(sp)) {
            sim_schedule_login(sp);
        }
        return;
    case ELS_PRLO:
        pl[0] = ELS_LS_ACC;
        memset(pl + 1, 0, 3);
        len = 4;
        break;
    default:
        len = fc_els_ls_rjt(pl, 0x0b, 0);   /* command not supported */
        break;
    }
    sim_reply(sp, f, pl, len);
}

/* The peer's answer to our pending request. */
static void sim_port_els_reply(FcSimPort *sp, const FcFrame *f)
{
    if (fc_ox_id(f) != sp->pending_ox_id ||
        (sp->login != FC_SIM_PLOGI_SENT && sp->login != FC_SIM_PRLI_SENT)) {
        return;
    }
    if (f->payload[0] != ELS_LS_ACC) {
        sp->rjt_rx++;
        if (++sp->retries <= FC_SIM_MAX_RETRIES) {
            sim_schedule_login(sp);
        }
        return;
    }
    sp->retries = 0;
    if (sp->pending_els == ELS_PLOGI) {
        sp->login = FC_SIM_PLOGI_DONE;
        if (sim_is_initiator(sp)) {
            sim_send_request(sp, ELS_PRLI);
        }
    } else {
        sp->login = FC_SIM_LOGGED_IN;
        if (sp->scsi) {
            fc_sim_scsi_logged_in(sp->scsi);
        }
    }
}

static void sim_port_receive(FcPort *port, const FcFrame *f)
{
    FcSimPort *sp = port->opaque;

    if (sp->scsi && fc_type(f) != FC_TYPE_ELS &&
        fc_sim_scsi_receive(sp->scsi, f)) {
        return;
    }
    if (fc_type(f) != FC_TYPE_ELS && fc_sim_tgt_receive(sp, f)) {
        return;
    }
    if (f->len < 4 || fc_type(f) != FC_TYPE_ELS) {
        return;
    }
    sim_log_els(sp, "received", f);
    if (fc_r_ctl(f) == FC_RCTL_ELS_REQ) {
        sp->els_rx++;
        sim_port_els_request(sp, f);
    } else if (fc_r_ctl(f) == FC_RCTL_ELS_REP) {
        sp->els_rx++;
        sim_port_els_reply(sp, f);
    }
}

/* The scenario's outcome, if the port runs one (fc-sim-scsi.h). */
static void sim_port_report(FcPort *port, QDict *out)
{
    FcSimPort *sp = port->opaque;

    if (sp->scsi) {
        fc_sim_scsi_report(sp->scsi, out);
    }
}

static const FcPortOps sim_port_ops = {
    .link_event = sim_port_link_event,
    .receive = sim_port_receive,
    .report = sim_port_report,
};

void fc_sim_port_init(FcSimPort *sp, FcLink *link)
{
    sp->port.ops = &sim_port_ops;
    sp->port.opaque = sp;
    if (!sp->port.name) {
        sp->port.name = "partner";
    }
    sp->next_ox_id = 0x1000;
    sp->login_timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, sim_login_timer_cb, sp);
    fc_link_attach(link, &sp->port);
}

void fc_sim_port_finalize(FcSimPort *sp)
{
    if (sp->scsi) {
        fc_sim_scsi_free(sp->scsi);
        sp->scsi = NULL;
    }
    if (sp->login_timer) {
        timer_free(sp->login_timer);
        sp->login_timer = NULL;
    }
}

static int fc_sim_port_post_load(void *opaque, int version_id)
{
    FcSimPort *sp = opaque;

    return sp->login > FC_SIM_LOGGED_IN ? -EINVAL : 0;
}

const VMStateDescription vmstate_fc_sim_port = {
    .name = "fc-sim-port",
    .version_id = 1,
    .minimum_version_id = 1,
    .post_load = fc_sim_port_post_load,
    .fields = (VMStateField[]) {
        VMSTATE_STRUCT(port, FcSimPort, 1, vmstate_fc_port, FcPort),
        VMSTATE_UINT32(login, FcSimPort),
        VMSTATE_UINT32(peer_id, FcSimPort),
        VMSTATE_UINT16(next_ox_id, FcSimPort),
        VMSTATE_UINT16(pending_ox_id, FcSimPort),
        VMSTATE_UINT8(pending_els, FcSimPort),
        VMSTATE_UINT32(retries, FcSimPort),
        VMSTATE_TIMER_PTR(login_timer, FcSimPort),
        VMSTATE_UINT32(els_rx, FcSimPort),
        VMSTATE_UINT32(els_tx, FcSimPort),
        VMSTATE_UINT32(rjt_rx, FcSimPort),
        VMSTATE_END_OF_LIST()
    }
};
