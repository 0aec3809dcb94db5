/*
 * Simulated remote FC port: the link partner of the emulated ISP.
 *
 * It takes part in link initialisation with its own names and connection
 * option, answers the extended link services a login needs and, as an FCP
 * initiator, logs in to the port at the other end the way an initiator
 * HBA does: PLOGI then PRLI after every link initialisation, on a loop to
 * the other loop ports, point-to-point when it has the higher port name
 * (FC-FS-3: that N_Port originates PLOGI) or after the other side's
 * PLOGI.  Later work drives it from a scenario or a trace.
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_QLA2532_FC_SIM_PORT_H
#define HW_QLA2532_FC_SIM_PORT_H

#include "fc-link.h"
#include "fc-log.h"
#include "fc-sim-scsi.h"

/* FCP roles (PRLI service parameter word 3 bits, FCP-4 §6.3). */
#define FC_SIM_ROLE_INITIATOR   0x20
#define FC_SIM_ROLE_TARGET      0x10

/*
 * Defaults of the simulated partner (device partner-* properties, the
 * fc-initiator and fc-replayer objects): names and login delay.
 */
#define FC_SIM_DEFAULT_WWPN             0x2100001b32aa0001ULL
#define FC_SIM_DEFAULT_WWNN             0x2000001b32aa0001ULL
#define FC_SIM_DEFAULT_LOGIN_DELAY_US   1000

typedef enum FcSimLogin {
    FC_SIM_IDLE,            /* not logged in */
    FC_SIM_PLOGI_SENT,
    FC_SIM_PLOGI_DONE,      /* PLOGI accepted (either direction) */
    FC_SIM_PRLI_SENT,
    FC_SIM_LOGGED_IN,       /* PRLI accepted: FCP image pair */
} FcSimLogin;

/**
 * FcSimPort: a remote port.
 * @port: its FcPort (names, connection option, hard loop ID set by owner).
 * @fcp_role: FC_SIM_ROLE_* bits.
 * @login_delay_ns: from link up (or the peer's PLOGI) to our next login
 *   step, virtual time.
 * @login: state of our login with the peer; @peer_id its N_Port ID.
 * @els_rx/@els_tx/@rjt_rx: ELS frames received / sent / rejects received.
 * @log: where events go (may be NULL); @scsi: the scenario engine of an
 *   initiator (may be NULL).
 */
struct FcSimPort {
    FcPort port;
    uint8_t fcp_role;
    int64_t login_delay_ns;
    FcLog *log;
    FcSimScsi *scsi;

    FcSimLogin login;
    uint32_t peer_id;
    uint16_t next_ox_id;
    uint16_t pending_ox_id;
    uint8_t pending_els;
    unsigned retries;
    QEMUTimer *login_timer;
    uint32_t els_rx;
    uint32_t els_tx;
    uint32_t rjt_rx;
};

/*
 * Saved state of a simulated port: its place on the link and its login
 * (not its scenario: the owner saves that, fc-sim-scsi.h).
 */
extern const VMStateDescription vmstate_fc_sim_port;

/*
 * fc_sim_tgt_receive (fc-sim-tgt.c): a target-role port answers an FCP
 * frame from an initiator (a target with no logical units).  Returns true
 * if @f was an FCP or ABTS frame for it (answered or dropped).
 */
bool fc_sim_tgt_receive(FcSimPort *sp, const FcFrame *f);

/* Prepare @sp (names and options already set) and attach it to @link. */
void fc_sim_port_init(FcSimPort *sp, FcLink *link);
void fc_sim_port_finalize(FcSimPort *sp);

#endif /* HW_QLA2532_FC_SIM_PORT_H */
