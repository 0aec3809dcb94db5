/*
 * Extended link service payloads (FC-LS-3) and the FCP PRLI page (FCP-4).
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "fc-els.h"

/*
 * PLOGI and its LS_ACC (FC-LS-3 §4.2.27, §6.6): command word, common
 * service parameters at 4, port name at 20, node name at 28, class 1..4
 * service parameters at 36, 52, 68, 84, vendor version at 100.  Common:
 * FC-PH version 0x20/0x20, BB_Credit 3, 2048-byte receive data field,
 * E_D_TOV 2000 ms.  Class 3 valid with sequential delivery.  Values other
 * than the names are chosen; no model on the link interprets them.
 */
uint32_t fc_els_plogi(uint8_t *pl, uint8_t cmd, uint64_t wwpn, uint64_t wwnn)
{
    memset(pl, 0, FC_PLOGI_LEN);
    pl[0] = cmd;
    pl[4] = 0x20;                       /* highest FC-PH version */
    pl[5] = 0x20;                       /* lowest FC-PH version */
    stw_be_p(pl + 6, 3);                /* BB_Credit */
    stw_be_p(pl + 8, 0x8800);           /* common features */
    stw_be_p(pl + 10, 2048);            /* receive data field size */
    stw_be_p(pl + 12, 0x00ff);          /* total concurrent sequences */
    stw_be_p(pl + 14, 0x0002);          /* relative offset by category */
    stl_be_p(pl + 16, 2000);            /* E_D_TOV, ms */
    stq_be_p(pl + 20, wwpn);
    stq_be_p(pl + 28, wwnn);
    stw_be_p(pl + 68, 0x8800);          /* class 3 valid, sequential */
    stw_be_p(pl + 74, 2048);            /* class 3 receive data field */
    stw_be_p(pl + 76, 0x00ff);          /* concurrent sequences */
    stw_be_p(pl + 82, 0x0001);          /* open sequences per exchange */
    return FC_PLOGI_LEN;
}

const char *fc_els_name(uint8_t cmd)
{
    switch (cmd) {
    case ELS_LS_RJT:
        return "LS_RJT";
    case ELS_LS_ACC:
        return "LS_ACC";
    case ELS_PLOGI:
        return "PLOGI";
    case ELS_FLOGI:
        return "FLOGI";
    case ELS_LOGO:
        return "LOGO";
    case ELS_PRLI:
        return "PRLI";
    case ELS_PRLO:
        return "PRLO";
    case ELS_ADISC:
        return "ADISC";
    default:
        return "ELS";
    }
}

uint64_t fc_els_plogi_wwpn(const uint8_t *pl, uint32_t len)
{
    return len >= 28 ? ldq_be_p(pl + 20) : 0;
}

uint64_t fc_els_plogi_wwnn(const uint8_t *pl, uint32_t len)
{
    return len >= 36 ? ldq_be_p(pl + 28) : 0;
}

/*
 * PRLI (FC-LS-3 §4.2.29) with one FCP service parameter page (FCP-4 §6.3):
 * byte 1 page length 16, bytes 2-3 payload length, page: type 0x08,
 * byte 6 bit 5 "establish image pair" (request) / "image pair
 * established" (accept) with the accept response code 1 "request
 * executed" in bits 3:0, word 3 the service parameters.
 */
uint32_t fc_els_prli(uint8_t *pl, uint8_t cmd, uint32_t wd3)
{
    memset(pl, 0, FC_PRLI_LEN);
    pl[0] = cmd;
    pl[1] = 0x10;
    stw_be_p(pl + 2, FC_PRLI_LEN);
    pl[4] = FC_TYPE_FCP;
    pl[6] = cmd == ELS_LS_ACC ? 0x21 : 0x20;
    stl_be_p(pl + 16, wd3);
    return FC_PRLI_LEN;
}

uint32_t fc_els_prli_wd3(const uint8_t *pl, uint32_t len)
{
    return len >= FC_PRLI_LEN && pl[4] == FC_TYPE_FCP ? ldl_be_p(pl + 16) : 0;
}

/* ADISC / its LS_ACC: hard address, port name, node name, N_Port ID. */
uint32_t fc_els_adisc(uint8_t *pl, uint8_t cmd, uint32_t port_id,
                      uint64_t wwpn, uint64_t wwnn)
{
    memset(pl, 0, FC_ADISC_LEN);
    pl[0] = cmd;
    stq_be_p(pl + 8, wwpn);
    stq_be_p(pl + 16, wwnn);
    fc_put24(pl + 25, port_id);
    return FC_ADISC_LEN;
}

/* LOGO: N_Port ID at 5, port name at 8. */
uint32_t fc_els_logo(uint8_t *pl, uint32_t port_id, uint64_t wwpn)
{
    memset(pl, 0, FC_LOGO_LEN);
    pl[0] = ELS_LOGO;
    fc_put24(pl + 5, port_id);
    stq_be_p(pl + 8, wwpn);
    return FC_LOGO_LEN;
}

uint32_t fc_els_ls_rjt(uint8_t *pl, uint8_t reason, uint8_t explanation)
{
    memset(pl, 0, 8);
    pl[0] = ELS_LS_RJT;
    pl[5] = reason;
    pl[6] = explanation;
    return 8;
}

FcFrame *fc_els_frame(bool reply, uint32_t d_id, uint32_t s_id,
                      uint16_t ox_id, uint16_t rx_id, const uint8_t *pl,
                      uint32_t len)
{
    FcFrame *f = g_new0(FcFrame, 1);
    uint32_t f_ctl = FC_FCTL_LAST_SEQ | FC_FCTL_END_SEQ;

    len = MIN(len, FC_MAX_PAYLOAD);
    memcpy(f->payload, pl, len);
    if (reply) {
        f_ctl |= FC_FCTL_EX_CTX;
    } else {
        f_ctl |= FC_FCTL_FIRST_SEQ | FC_FCTL_SEQ_INIT;
    }
    fc_frame_init(f, reply ? FC_RCTL_ELS_REP : FC_RCTL_ELS_REQ, d_id, s_id,
                  FC_TYPE_ELS, f_ctl, ox_id, rx_id, 0, len);
    return f;
}
