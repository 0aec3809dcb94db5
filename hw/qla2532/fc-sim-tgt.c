/*
 * Simulated remote FC port, target role: an FCP target with no logical
 * units, so that an initiator's scan of it ends at once and without
 * errors.  It answers every FCP_CMND at once (no task set): INQUIRY with
 * peripheral qualifier 011b / device type 1Fh ("not capable of supporting
 * a logical unit", SPC-4 §6.6.2) and REPORT LUNS with an empty list
 * (SPC-4 §6.33: a target answers REPORT LUNS addressed to LUN 0 also
 * without a LUN 0), every other command CHECK CONDITION, ILLEGAL REQUEST,
 * LOGICAL UNIT NOT SUPPORTED (25h/00h, SPC-4 Table 28 for a LUN that is
 * not there); task management functions FCP_RSP with response code 0
 * (FCP-4 §9.5.9, function complete), ABTS BA_ACC (FC-FS-3 §15.3.2).
 * A real LUN behind a real target driver is the target ISP's job
 * (isp-tgt.c), reached over a link (docs/link.md).
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "fc-sim-port.h"

#define INQUIRY                 0x12
#define REPORT_LUNS             0xa0
#define SAM_CHECK_CONDITION     0x02

static void tgt_frame(FcSimPort *sp, const FcFrame *cmd, uint8_t r_ctl,
                      uint8_t type, uint32_t f_ctl, uint32_t param,
                      const uint8_t *pl, uint32_t len)
{
    FcFrame *f = g_new0(FcFrame, 1);

    memcpy(f->payload, pl, len);
    fc_frame_init(f, r_ctl, fc_s_id(cmd), sp->port.port_id, type,
                  FC_FCTL_EX_CTX | f_ctl, fc_ox_id(cmd), 0x0100, param, len);
    fc_link_send(&sp->port, f);
}

/* FCP_RSP: @status, the residual against FCP_DL @dl after @sent bytes,
 * fixed-format sense of @key/@asc (0: none) or response code 0. */
static void tgt_rsp(FcSimPort *sp, const FcFrame *cmd, uint8_t status,
                    uint32_t dl, uint32_t sent, uint8_t key, uint8_t asc,
                    bool tmf)
{
    uint8_t rsp[FCP_RSP_MIN_LEN + 18] = { 0 };
    uint32_t len = FCP_RSP_MIN_LEN;

    rsp[11] = status;
    if (sent < dl) {
        rsp[10] |= FCP_RESID_UNDER;
        stl_be_p(rsp + 12, dl - sent);
    }
    if (tmf) {
        rsp[10] |= FCP_RSP_LEN_VALID;
        stl_be_p(rsp + 20, 4);          /* response info, code 0 */
        len += 4;
    } else if (key) {
        rsp[10] |= FCP_SNS_LEN_VALID;
        stl_be_p(rsp + 16, 18);
        rsp[24] = 0x70;                 /* fixed format, current */
        rsp[24 + 2] = key;
        rsp[24 + 7] = 10;               /* additional sense length */
        rsp[24 + 12] = asc;
        len += 18;
    }
    tgt_frame(sp, cmd, FC_RCTL_DD_CMD_STATUS, FC_TYPE_FCP,
              FC_FCTL_LAST_SEQ | FC_FCTL_END_SEQ, 0, rsp, len);
}

static void tgt_data_in(FcSimPort *sp, const FcFrame *cmd, const uint8_t *d,
                        uint32_t len, uint32_t dl)
{
    len = MIN(len, dl);
    if (len) {
        tgt_frame(sp, cmd, FC_RCTL_DD_SOL_DATA, FC_TYPE_FCP,
                  FC_FCTL_REL_OFF | FC_FCTL_END_SEQ, 0, d, len);
    }
    tgt_rsp(sp, cmd, 0, dl, len, 0, 0, false);
}

bool fc_sim_tgt_receive(FcSimPort *sp, const FcFrame *f)
{
    const uint8_t *c = f->payload;
    uint32_t dl;

    if (!(sp->fcp_role & FC_SIM_ROLE_TARGET) ||
        (fc_f_ctl(f) & FC_FCTL_EX_CTX)) {
        return false;
    }
    if (fc_type(f) == FC_TYPE_BLS && fc_r_ctl(f) == FC_RCTL_BA_ABTS) {
        uint8_t acc[FC_BA_ACC_LEN] = { 0 };

        stw_be_p(acc + 4, fc_ox_id(f));
        stw_be_p(acc + 6, fc_rx_id(f));
        stw_be_p(acc + 10, 0xffff);     /* high SEQ_CNT */
        tgt_frame(sp, f, FC_RCTL_BA_ACC, FC_TYPE_BLS,
                  FC_FCTL_LAST_SEQ | FC_FCTL_END_SEQ, 0, acc, sizeof(acc));
        return true;
    }
    if (fc_type(f) != FC_TYPE_FCP || fc_r_ctl(f) != FC_RCTL_DD_UNSOL_CMD ||
        f->len < FCP_CMND_LEN) {
        return fc_type(f) == FC_TYPE_FCP;       /* nothing else expected */
    }
    if (sp->login != FC_SIM_LOGGED_IN && sp->login != FC_SIM_PLOGI_DONE) {
        return true;            /* not logged in: dropped */
    }
    dl = ldl_be_p(c + 28);
    if (c[10]) {
        tgt_rsp(sp, f, 0, 0, 0, 0, 0, true);
        return true;
    }
    switch (c[12]) {
    case INQUIRY: {
        uint8_t inq[36] = { 0x7f, 0, 0x06, 0x02, 31 };

        if (c[13] & 1) {        /* EVPD: no pages without a LUN */
            tgt_rsp(sp, f, SAM_CHECK_CONDITION, dl, 0, 0x05, 0x25, false);
            break;
        }
        memcpy(inq + 8, "QLAEMU  ", 8);
        memcpy(inq + 16, "SIM TARGET NOLUN", 16);
        memcpy(inq + 32, "0001", 4);
        tgt_data_in(sp, f, inq, MIN(sizeof(inq), lduw_be_p(c + 15)), dl);
        break;
    }
    case REPORT_LUNS: {
        uint8_t hdr[8] = { 0 };         /* LUN list length 0 */

        tgt_data_in(sp, f, hdr, MIN(sizeof(hdr), ldl_be_p(c + 18)), dl);
        break;
    }
    default:
        tgt_rsp(sp, f, SAM_CHECK_CONDITION, dl, 0, 0x05, 0x25, false);
        break;
    }
    return true;
}
