/*
 * Simulated remote FC port: the link partner of the emulated ISP.
 *
 * It takes part in link initialisation with its own names and connection
 * option, and answers the extended link services a login needs.  Later
 * work drives it from a scenario (a simulated initiator) or a trace.
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_QLA2532_FC_SIM_PORT_H
#define HW_QLA2532_FC_SIM_PORT_H

#include "fc-link.h"

/* FCP roles the port announces in PRLI service parameter page word 3
 * (FCP-4 §6.3): BIT_5 initiator function, BIT_4 target function. */
#define FC_SIM_ROLE_INITIATOR   0x20
#define FC_SIM_ROLE_TARGET      0x10

/**
 * FcSimPort: a remote port.
 * @port: its FcPort (names, connection option, hard loop ID set by owner).
 * @fcp_role: FC_SIM_ROLE_* bits.
 * @els_rx/@els_tx: ELS frames received / sent, for reports.
 */
typedef struct FcSimPort {
    FcPort port;
    uint8_t fcp_role;
    uint32_t els_rx;
    uint32_t els_tx;
} FcSimPort;

/* Prepare @sp (names and options already set) and attach it to @link. */
void fc_sim_port_init(FcSimPort *sp, FcLink *link);

#endif /* HW_QLA2532_FC_SIM_PORT_H */
