/*
 * Simulated remote FC port: the link partner of the emulated ISP.
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "fc-sim-port.h"
#include "trace.h"

static void sim_port_link_event(FcPort *port, FcLinkEvent ev, uint16_t lip)
{
}

/*
 * Common service parameters and class 3 parameters of PLOGI / its LS_ACC
 * (FC-LS-3 §6.6): FC-PH version 0x20/0x20, BB credit 3, 2048-byte
 * receive data field, E_D_TOV 2000 ms; class 3 valid with sequential
 * delivery.  Payload 116 bytes: common parameters at 4, port name at 20,
 * node name at 28, class 1..4 parameters at 36, 52, 68, 84.  The values
 * are chosen; the ISP model reads only the names.
 */
static uint32_t sim_port_plogi_payload(FcSimPort *sp, uint8_t *pl,
                                       uint8_t cmd)
{
    memset(pl, 0, 116);
    pl[0] = cmd;
    pl[4] = 0x20;                       /* highest FC-PH version */
    pl[5] = 0x20;                       /* lowest */
    stw_be_p(pl + 6, 3);                /* buffer-to-buffer credit */
    stw_be_p(pl + 8, 0x8800);           /* common features (chosen) */
    stw_be_p(pl + 10, 2048);            /* receive data field size */
    stw_be_p(pl + 12, 0x00ff);          /* total concurrent sequences */
    stw_be_p(pl + 14, 0x0002);          /* relative offset by category */
    stl_be_p(pl + 16, 2000);            /* E_D_TOV, ms */
    stq_be_p(pl + 20, sp->port.wwpn);
    stq_be_p(pl + 28, sp->port.wwnn);
    stw_be_p(pl + 68, 0x8800);          /* class 3: valid, sequential */
    stw_be_p(pl + 74, 2048);            /* class 3 receive data field size */
    stw_be_p(pl + 76, 0x00ff);          /* concurrent sequences */
    stw_be_p(pl + 82, 0x0001);          /* open sequences per exchange */
    return 116;
}

/* PRLI LS_ACC with one FCP service parameter page (FCP-4 §6.3). */
static uint32_t sim_port_prli_acc(FcSimPort *sp, uint8_t *pl)
{
    memset(pl, 0, 20);
    pl[0] = ELS_LS_ACC;
    pl[1] = 0x10;                       /* page length */
    stw_be_p(pl + 2, 20);               /* payload length */
    pl[4] = FC_TYPE_FCP;
    pl[6] = 0x21;                       /* image pair established, accepted */
    stl_be_p(pl + 16, sp->fcp_role | 0x02);  /* + read XFER_RDY disabled */
    return 20;
}

static void sim_port_receive(FcPort *port, const FcFrame *f)
{
    FcSimPort *sp = port->opaque;
    g_autofree FcFrame *r = NULL;
    uint32_t len;

    if (fc_r_ctl(f) != FC_RCTL_ELS_REQ || f->len < 4) {
        return;
    }
    sp->els_rx++;
    r = g_new0(FcFrame, 1);
    switch (f->payload[0]) {
    case ELS_PLOGI:
        len = sim_port_plogi_payload(sp, r->payload, ELS_LS_ACC);
        break;
    case ELS_PRLI:
        len = sim_port_prli_acc(sp, r->payload);
        break;
    case ELS_LOGO:
    case ELS_PRLO:
    case ELS_ADISC:
        r->payload[0] = ELS_LS_ACC;
        len = 4;
        break;
    default:
        r->payload[0] = ELS_LS_RJT;
        r->payload[5] = 0x0b;           /* reason: command not supported */
        len = 8;
        break;
    }
    fc_frame_init(r, FC_RCTL_ELS_REP, fc_s_id(f), port->port_id, FC_TYPE_ELS,
                  FC_FCTL_EX_CTX | FC_FCTL_LAST_SEQ | FC_FCTL_END_SEQ,
                  fc_ox_id(f), 0xffff, 0, len);
    sp->els_tx++;
    fc_link_send(port, g_steal_pointer(&r));
}

static const FcPortOps sim_port_ops = {
    .link_event = sim_port_link_event,
    .receive = sim_port_receive,
};

void fc_sim_port_init(FcSimPort *sp, FcLink *link)
{
    sp->port.ops = &sim_port_ops;
    sp->port.opaque = sp;
    if (!sp->port.name) {
        sp->port.name = "partner";
    }
    fc_link_attach(link, &sp->port);
}
