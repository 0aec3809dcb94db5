/*
 * Extended link service payloads (FC-LS-3) and the FCP service parameter
 * page of PRLI (FCP-4), shared by every port model on the emulated link.
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_QLA2532_FC_ELS_H
#define HW_QLA2532_FC_ELS_H

#include "fc.h"

#define FC_PLOGI_LEN            116     /* PLOGI / its LS_ACC, bytes */
#define FC_PRLI_LEN             20      /* PRLI with one service page */
#define FC_ADISC_LEN            28
#define FC_LOGO_LEN             16

/* FCP service parameter page word 3 (FCP-4 §6.3, Table 17) */
#define FCP_SPPARM_INITIATOR    0x0020
#define FCP_SPPARM_TARGET       0x0010
#define FCP_SPPARM_RD_XRDY_DIS  0x0002
#define FCP_SPPARM_CONF_COMPL   0x0080

/*
 * fc_els_name: "PLOGI", "LS_ACC", ... for ELS command code @cmd, "ELS" for
 * one the model does not know (FC-LS-3 command codes).
 */
const char *fc_els_name(uint8_t cmd);

/**
 * fc_els_plogi: build a PLOGI request or LS_ACC (@cmd ELS_PLOGI or
 * ELS_LS_ACC) into @pl (FC_PLOGI_LEN bytes) for a port with these names;
 * returns the length.
 */
uint32_t fc_els_plogi(uint8_t *pl, uint8_t cmd, uint64_t wwpn,
                      uint64_t wwnn);

/**
 * fc_els_prli: build a PRLI request (@cmd ELS_PRLI) or LS_ACC (@cmd
 * ELS_LS_ACC, "request executed", image pair established) with one FCP
 * service parameter page whose word 3 is @wd3; returns the length.
 */
uint32_t fc_els_prli(uint8_t *pl, uint8_t cmd, uint32_t wd3);

/* Word 3 of the first service parameter page of a PRLI payload, or 0. */
uint32_t fc_els_prli_wd3(const uint8_t *pl, uint32_t len);

/* Build an ADISC request or LS_ACC for a port (FC-LS-3 §4.2.3). */
uint32_t fc_els_adisc(uint8_t *pl, uint8_t cmd, uint32_t port_id,
                      uint64_t wwpn, uint64_t wwnn);

/* Build a LOGO request (FC-LS-3 §4.2.21). */
uint32_t fc_els_logo(uint8_t *pl, uint32_t port_id, uint64_t wwpn);

/* Build an LS_RJT with @reason and @explanation (FC-LS-3 §4.2.2). */
uint32_t fc_els_ls_rjt(uint8_t *pl, uint8_t reason, uint8_t explanation);

/* Port and node name in a PLOGI / FLOGI payload, or 0 if too short. */
uint64_t fc_els_plogi_wwpn(const uint8_t *pl, uint32_t len);
uint64_t fc_els_plogi_wwnn(const uint8_t *pl, uint32_t len);

/**
 * fc_els_frame: allocate a one-frame ELS sequence.
 * @reply: false for a request (R_CTL 0x22, new exchange, RX_ID 0xffff),
 *   true for its reply (R_CTL 0x23, exchange responder).
 * The payload (@len bytes at @pl) is copied.
 */
FcFrame *fc_els_frame(bool reply, uint32_t d_id, uint32_t s_id,
                      uint16_t ox_id, uint16_t rx_id, const uint8_t *pl,
                      uint32_t len);

#endif /* HW_QLA2532_FC_ELS_H */
