/*
 * QLogic ISP2532 firmware model: definitions shared by its source files.
 * The layers, bottom to top (a file calls only into files below it):
 *
 *   isp-core.c   events and interrupts, rings, link services, event log
 *   isp-els.c    logins, extended link services, their IOCBs and mailbox
 *                queries (port database, ID list)
 *   isp-tgt.c    the target data path: ATIOs, CTIOs, ABTS
 *   isp-ini.c    the initiator data path: Command Type 7, task
 *                management, aborts of FCP exchanges, status entries
 *   isp-mbx.c    the mailbox engine: the command table, the doorbell
 *   isp-fw.c     registers, the request-queue dispatcher, link events,
 *                reset, realize (isp_init)
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_QLA2532_ISP_INT_H
#define HW_QLA2532_ISP_INT_H

#include "isp-fw.h"
#include "isp-iocb.h"

/* IOCB entry types, qla_fw.h / qla_target.h */
#define ET_IMMED_NOTIFY         0x0d
#define ET_NOTIFY_ACK           0x0e
#define ET_VP_RPT_ID            0x32
#define ET_LOGINOUT             0x52
#define ET_ABORT                0x33
#define ET_ELS                  0x53

/* Login states of struct port_database_24xx, qla_fw.h PDS_* */
/* "no N_Port handle" in an IOCB (qla_def.h NPH_... 0xffff) */
#define NPH_NONE                0xffff
#define PDS_PLOGI_PENDING       0x03
#define PDS_PLOGI_COMPLETE      0x04
#define PDS_PRLI_PENDING        0x05
#define PDS_PRLI_COMPLETE       0x06
#define PDS_PORT_UNAVAILABLE    0x07

/* IOCB completion status, qla_def.h CS_* */
#define CS_COMPLETE             0x00
#define CS_DMA                  0x02
#define CS_RESET                0x04
#define CS_ABORTED              0x05
#define CS_DATA_OVERRUN         0x07
#define CS_DATA_UNDERRUN        0x15
#define CS_PORT_UNAVAILABLE     0x28
#define CS_PORT_LOGGED_OUT      0x29
#define CS_LOGIO_ERROR          0x31
#define CS_IOCB_ERROR           0x31    /* the same code, for other IOCBs */

/* scsi_status of a CTIO 7 or a status entry: the FCP_RSP flags byte in
 * bits 15:8 and the SCSI status, qla_def.h SS_* */
#define SS_RESPONSE_INFO_LEN_VALID  (1u << 8)
#define SS_SENSE_LEN_VALID          (1u << 9)
#define SS_RESIDUAL_OVER            (1u << 10)
#define SS_RESIDUAL_UNDER           (1u << 11)

/* LOGINOUT control flags and sub-codes, qla_fw.h LCF_* / LSC_SCODE_* */
#define LCF_COMMAND_MASK        0x0f
#define LCF_COMMAND_PLOGI       0x00
#define LCF_COMMAND_PRLI        0x01
#define LCF_COMMAND_ADISC       0x03
#define LCF_COMMAND_LOGO        0x08
#define LCF_COMMAND_PRLO        0x09
#define LCF_COND_PLOGI          (1u << 4)
#define LCF_SKIP_PRLI           (1u << 5)
#define LCF_FREE_NPORT          (1u << 7)
#define LSC_SCODE_NOLINK        0x01
#define LSC_SCODE_ELS_REJECT    0x18
#define LSC_SCODE_CMD_PARAM_ERR 0x19
#define LSC_SCODE_NOT_LOGGED_IN 0x09
#define LSC_SCODE_PORTID_USED   0x1a
#define LSC_SCODE_NPORT_USED    0x1b

/* IMMED_NOTIFY status, qla_target.h IMM_NTFY_* */
#define IMM_NTFY_ELS            0x0046
/* NOTIFY_ACK flags and completion status, qla_target.h */
#define NOTIFY_ACK_TERMINATE    (1u << 3)
#define NOTIFY_ACK_SUCCESS      0x0001
#define NOTIFY_ACK_INVALID_EXCH 0x0008  /* [fw?] chosen, isp-els.c */

/* ICB firmware options, qla_fw.h struct init_cb_24xx comment */
#define ISP_FO1_HARD_ADDRESS    (1u << 0)
#define ISP_FO1_TARGET_MODE     (1u << 4)
#define ISP_FO1_NO_INITIATOR    (1u << 5)
/* "Full Login after LIP" (qla_init.c qla24xx_nvram_config's default
 * BIT_13; SCST legacy qla_init.c sets it in target mode unless FC tape
 * support is on): a LIP logs every loop port out */
#define ISP_FO1_FULL_LOGIN_LIP  (1u << 13)
#define ISP_FO2_PRLI_CONTROL    (1u << 14)
#define ISP_FO3_NO_AUTO_PLOGI   (1u << 7)

#define ISP_LAST_LOCAL_LOOP_ID  0x7d    /* qla_def.h LAST_LOCAL_LOOP_ID */
/* Largest single DMA a mailbox command may ask for (chosen bound; 0x0b,
 * 0x0c, the diagnostic loopback). */
#define ISP_MAX_MBOX_DMA        (256 * KiB)
#define ISP_MAX_NPORT_HANDLE    0x7ef   /* qla_def.h NPH_LAST_HANDLE */

/* services (isp-core.c) */
QDict *isp_log(IspState *s, const char *event);
void isp_event_ack(IspState *s);
/* Tell the host the interrupt line's state changed (isp_irq_pending). */
void isp_update_irq(IspState *s);
void isp_post_event(IspState *s, IspEventKind kind, uint8_t code,
                    const uint16_t *mb, unsigned nmb);
void isp_post_aen(IspState *s, uint16_t code, uint16_t mb1, uint16_t mb2,
                  uint16_t mb3);
bool isp_rsp_post(IspState *s, const uint8_t *entry);
void isp_zio_timer_cb(void *opaque);
bool isp_atio_post(IspState *s, const uint8_t *entry);
void isp_rsp_entry_error(IspState *s, const uint8_t *iocb,
                         uint8_t entry_status);
uint64_t isp_mb_dma_addr(const uint16_t *mb);
void isp_link_send(IspState *s, FcFrame *f);
void isp_port_offline(IspState *s);
bool isp_flash_window(uint32_t risc, uint32_t dwords, uint32_t *off);
void isp_after_command(IspState *s);

/* Read request-ring entry @idx (taken modulo the ring length). */
bool isp_req_read(IspState *s, uint32_t idx, uint8_t *entry);

/*
 * isp_req_dsds: the data segment descriptors of a data IOCB (CTIO 7,
 * Command Type 7): @first is the one in the IOCB, five more are in each
 * Continuation Type 1 entry (0x0a) after it on the request ring (qla_iocb.c
 * qla24xx_build_scsi_iocbs, qla_target.c qlt_load_cont_data_segments).
 * @idx: the IOCB's ring index; @count: its entry_count; @n: its dseg_count.
 * Returns false (nothing allocated) for @n = 0, more than @count entries
 * hold, or a continuation of another type; else *@out is a g_new array of
 * @n descriptors.
 */
bool isp_req_dsds(IspState *s, uint32_t idx, unsigned count,
                  const IspDsd64 *first, unsigned n, IspDsd **out);
/* isp_dsd_total: bytes the @n descriptors @d describe. */
uint64_t isp_dsd_total(const IspDsd *d, unsigned n);
/*
 * isp_dsd_rw: DMA @len bytes between @buf and the host memory @d
 * describes, starting @off bytes into it (to the host if @to_host).
 * Returns false if a segment is not accessible memory or the segments end
 * first (what was moved before stays moved).
 */
bool isp_dsd_rw(IspState *s, const IspDsd *d, unsigned n, uint64_t off,
                uint8_t *buf, uint32_t len, bool to_host);

/* logins and ELS (isp-els.c) */
void isp_els_send_logo(IspState *s, uint32_t peer);
void isp_els_init(IspState *s);
void isp_els_reset(IspState *s);
void isp_els_link_event(IspState *s, FcLinkEvent ev);
void isp_els_receive(IspState *s, const FcFrame *f);
void isp_iocb_loginout(IspState *s, const uint8_t *iocb);
void isp_iocb_els(IspState *s, const uint8_t *iocb);
void isp_iocb_notify_ack(IspState *s, const uint8_t *iocb);
void isp_iocb_abort(IspState *s, const uint8_t *iocb);
int isp_mbc_get_port_database(IspState *s, uint16_t *mb, int *nout);
int isp_mbc_get_port_name(IspState *s, uint16_t *mb, int *nout);
int isp_mbc_get_id_list(IspState *s, uint16_t *mb, int *nout);
int isp_mbc_get_port_name_list(IspState *s, uint16_t *mb, int *nout);
int isp_mbc_get_login_template(IspState *s, uint16_t *mb, int *nout);
int isp_mbc_port_params(IspState *s, uint16_t *mb, int *nout);

/*
 * diagnostic and management mailbox commands (isp-diag.c).  A handler may
 * return ISP_MBS_NO_COMPLETION: the command then never completes (the
 * mailbox stays busy until a reset).
 */
#define ISP_MBS_NO_COMPLETION   (-1)
int isp_mbc_write_serdes(IspState *s, uint16_t *mb, int *nout);
int isp_mbc_read_serdes(IspState *s, uint16_t *mb, int *nout);
int isp_mbc_gen_system_error(IspState *s, uint16_t *mb, int *nout);
int isp_mbc_write_sfp(IspState *s, uint16_t *mb, int *nout);
int isp_mbc_mem_offload(IspState *s, uint16_t *mb, int *nout);
int isp_mbc_echo(IspState *s, uint16_t *mb, int *nout);
int isp_mbc_loopback(IspState *s, uint16_t *mb, int *nout);
int isp_mbc_execute_iocb(IspState *s, uint16_t *mb, int *nout);
bool isp_els_logins_pending(IspState *s);

/* target data path (isp-tgt.c) */
void isp_iocb_ctio(IspState *s, const uint8_t *ctio, uint32_t idx,
                   unsigned count);
void isp_iocb_abts_resp(IspState *s, const uint8_t *iocb);
void isp_tgt_receive(IspState *s, const FcFrame *f);
void isp_tgt_link_event(IspState *s);
void isp_tgt_init(IspState *s);
void isp_tgt_reset(IspState *s);
void isp_tgt_write_complete(IspState *s, IspTgtExch *x);

/* initiator data path (isp-ini.c) */
void isp_iocb_cmd7(IspState *s, const uint8_t *iocb, uint32_t idx,
                   unsigned count);
void isp_iocb_tsk_mgmt(IspState *s, const uint8_t *iocb);
/* An Abort IOCB naming an FCP exchange: handled, true; else false. */
bool isp_iocb_abort_fcp(IspState *s, const uint8_t *iocb);
/* A frame from the responder of an exchange we originated: handled (or
 * discarded) if it is one of our FCP exchanges, true; else false. */
bool isp_ini_receive(IspState *s, const FcFrame *f);
void isp_ini_link_event(IspState *s, FcLinkEvent ev);
void isp_ini_init(IspState *s);
void isp_ini_reset(IspState *s);

/* the mailbox engine (isp-mbx.c) */
int isp_mbox_execute(IspState *s, uint16_t *mb, int *nout);
void isp_mbox_doorbell(IspState *s);
void isp_mbox_timer_cb(void *opaque);
void isp_iocb_mbx(IspState *s, const uint8_t *iocb);

#endif /* HW_QLA2532_ISP_INT_H */
