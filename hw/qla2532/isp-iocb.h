/*
 * QLogic ISP24xx/25xx IOCBs, the initialization control block and the
 * port database, as packed little-endian structs.
 *
 * Every struct is the layout the Linux driver reads or writes (the struct
 * named in its comment, drivers/scsi/qla2xxx/qla_fw.h or qla_target.h);
 * multi-byte fields are little-endian unless the comment says big-endian
 * (FC names and frame headers), so they are read with le16_to_cpu() and
 * friends.  Port IDs (le_id_t) are three bytes, AL_PA first.  The sizes are
 * checked at build time: an IOCB is IOCB_SIZE (64) bytes.
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_QLA2532_ISP_IOCB_H
#define HW_QLA2532_ISP_IOCB_H

#include "qemu/bswap.h"

/* The first dword of every IOCB (qla_fw.h: entry_type .. entry_status),
 * then the handle most of them carry. */
typedef struct QEMU_PACKED IspIocbHeader {
    uint8_t entry_type;
    uint8_t entry_count;        /* this entry and its continuations */
    uint8_t sys_define;
    uint8_t entry_status;       /* RF_* bits of a rejected entry */
    uint32_t handle;            /* the driver's; echoed (not swapped) */
} IspIocbHeader;

/* A 64-bit data segment descriptor (qla_def.h struct dsd64). */
typedef struct QEMU_PACKED IspDsd64 {
    uint64_t address;
    uint32_t length;            /* bytes */
} IspDsd64;

/* Continuation Type 1 (0x0a, qla_def.h struct cont_a64_entry): five more
 * descriptors of the entry before it. */
typedef struct QEMU_PACKED IspContA64 {
    uint8_t entry_type;
    uint8_t entry_count;
    uint8_t sys_define;
    uint8_t entry_status;
    IspDsd64 dsd[5];
} IspContA64;

/* CTIO Type 7 (0x12), qla_target.h struct ctio7_to_24xx; the firmware
 * completes it with the same type (struct ctio7_from_24xx: status at
 * offset 8, flags, residual and OX_ID where the request has them). */
typedef struct QEMU_PACKED IspCtio7 {
    IspIocbHeader hdr;
    uint16_t nport_handle;      /* completion: status (CTIO_*) */
    uint16_t timeout;           /* seconds; 0: none */
    uint16_t dseg_count;
    uint8_t vp_index;
    uint8_t add_flags;
    uint8_t initiator_id[3];    /* le_id_t */
    uint8_t reserved;
    uint32_t exchange_addr;
    union {
        struct QEMU_PACKED {    /* mode 0: data (and status) */
            uint16_t reserved1;
            uint16_t flags;     /* CTIO7_* */
            uint32_t residual;
            uint16_t ox_id;
            uint16_t scsi_status;
            uint32_t relative_offset;
            uint32_t reserved2;
            uint32_t transfer_length;
            uint32_t reserved3;
            IspDsd64 dsd;
        } status0;
        struct QEMU_PACKED {    /* mode 1: status with sense data */
            uint16_t sense_length;
            uint16_t flags;
            uint32_t residual;
            uint16_t ox_id;
            uint16_t scsi_status;
            uint16_t response_len;
            uint16_t reserved;
            uint8_t sense_data[24];
        } status1;
    } u;
} IspCtio7;

/* ATIO Type 7 (0x06), qla_target.h struct atio_from_isp (u.isp24): a new
 * FCP command for the driver. */
typedef struct QEMU_PACKED IspAtio7 {
    uint8_t entry_type;
    uint8_t entry_count;
    uint16_t attr_n_length;     /* task attribute << 12 | FCP_CMND length */
    uint32_t exchange_addr;
    uint8_t fcp_hdr[24];        /* the FC frame header, big-endian */
    uint8_t fcp_cmnd[28];       /* FCP_CMND IU (FCP-4 §9.2), big-endian */
    uint32_t signature;         /* left 0: the driver's ATIO scan marker */
} IspAtio7;

/* IMMED_NOTIFY (0x0d), qla_target.h struct imm_ntfy_from_isp (u.isp24):
 * an ELS or a task-management event for the driver. */
typedef struct QEMU_PACKED IspImmNtfy {
    uint8_t entry_type;
    uint8_t entry_count;
    uint8_t sys_define;
    uint8_t entry_status;
    uint32_t reserved;
    uint16_t nport_handle;
    uint16_t reserved_2;
    uint16_t flags;
    uint16_t srr_rx_id;
    uint16_t status;            /* IMM_NTFY_* */
    uint8_t status_subcode;     /* ELS command code */
    uint8_t fw_handle;
    uint32_t exchange_address;
    uint32_t srr_rel_offs;
    uint16_t srr_ui;
    uint16_t srr_flags;
    union QEMU_PACKED {
        uint16_t prli_svc_param_word_3; /* PRLI: service parameter word 3 */
        uint8_t node_name[8];           /* PLOGI: WWNN, big-endian */
    } u;
    uint8_t port_name[8];       /* PLOGI/PRLI: WWPN, big-endian */
    uint8_t reserved_4[8];
    uint8_t port_id[3];         /* le_id_t */
    uint8_t vp_index;
    uint8_t reserved_5[2];
    uint16_t ox_id;
} IspImmNtfy;

/* NOTIFY ACK (0x0e), qla_target.h struct nack_to_isp (u.isp24); the
 * firmware completes it with the same type and a status at offset 16. */
typedef struct QEMU_PACKED IspNack {
    IspIocbHeader hdr;
    uint16_t nport_handle;
    uint16_t reserved_1;
    uint16_t flags;             /* NOTIFY_ACK_TERMINATE ... */
    uint16_t srr_rx_id;
    uint16_t status;            /* completion: NOTIFY_ACK_SUCCESS ... */
    uint8_t status_subcode;
    uint8_t fw_handle;
    uint32_t exchange_address;
    uint8_t reserved_2[36];
    uint16_t reserved_3;
    uint16_t ox_id;
} IspNack;

/* ABTS received (0x54), qla_target.h struct abts_recv_from_24xx. */
typedef struct QEMU_PACKED IspAbtsRecv {
    uint8_t entry_type;
    uint8_t entry_count;
    uint8_t sys_define;
    uint8_t entry_status;
    uint8_t reserved_1[6];
    uint16_t nport_handle;
    uint8_t reserved_2[2];
    uint8_t vp_index;
    uint8_t sof_type;           /* SOF in bits 7:4 */
    uint32_t exchange_address;
    uint8_t fcp_hdr_le[24];     /* the ABTS frame header, each 32-bit word
                                 * little-endian (struct fcp_hdr_le) */
    uint8_t reserved_4[16];
    uint32_t exchange_addr_to_abort;
} IspAbtsRecv;

/* ABTS response (0x55), qla_target.h struct abts_resp_to_24xx; the
 * firmware completes it with the same type, status at offset 8 (struct
 * abts_resp_from_24xx_fw). */
typedef struct QEMU_PACKED IspAbtsResp {
    IspIocbHeader hdr;
    uint16_t compl_status;      /* request: reserved */
    uint16_t nport_handle;
    uint16_t control_flags;
    uint8_t vp_index;
    uint8_t sof_type;
    uint32_t exchange_address;
    uint8_t fcp_hdr_le[24];     /* R_CTL is byte 3 (word 0, little-endian) */
    uint8_t payload[12];        /* BA_ACC / BA_RJT payload */
    uint32_t reserved_4;
    uint32_t exchange_addr_to_abort;
} IspAbtsResp;

/* ELS pass-through IOCB (0x53), qla_fw.h struct els_entry_24xx. */
typedef struct QEMU_PACKED IspElsIocb {
    IspIocbHeader hdr;
    uint16_t comp_status;       /* completion: CS_* */
    uint16_t nport_handle;
    uint16_t tx_dsd_count;
    uint8_t vp_index;
    uint8_t sof_type;
    uint32_t rx_xchg_address;
    uint16_t rx_dsd_count;
    uint8_t opcode;             /* ELS command code */
    uint8_t reserved_2;
    uint8_t d_id[3];            /* le_id_t */
    uint8_t s_id[3];
    uint16_t control_flags;
    union {
        struct QEMU_PACKED {    /* request */
            uint32_t rx_byte_count;
            uint32_t tx_byte_count;
            uint64_t tx_address;
            uint32_t tx_len;
            uint64_t rx_address;
            uint32_t rx_len;
        } req;
        struct QEMU_PACKED {    /* completion */
            uint32_t total_byte_count;
            uint32_t error_subcode_1;
            uint32_t error_subcode_2;
            uint32_t error_subcode_3;
            uint8_t reserved[16];
        } rsp;
    } u;
} IspElsIocb;

/* Login/Logout Port IOCB (0x52), qla_fw.h struct logio_entry_24xx. */
typedef struct QEMU_PACKED IspLogio {
    IspIocbHeader hdr;
    uint16_t comp_status;       /* completion: CS_* */
    uint16_t nport_handle;
    uint16_t control_flags;     /* LCF_* */
    uint8_t vp_index;
    uint8_t reserved_1;
    uint8_t port_id[3];         /* le_id_t */
    uint8_t rsp_size;
    uint32_t io_parameter[11];  /* completion: LSC_SCODE_*, ... */
} IspLogio;

/* Abort IOCB (0x33), qla_fw.h struct abort_entry_24xx. */
typedef struct QEMU_PACKED IspAbortIocb {
    IspIocbHeader hdr;
    uint16_t nport_handle;      /* completion: status */
    uint16_t options;
    uint32_t handle_to_abort;
    uint16_t req_que_no;
    uint8_t reserved_1[30];
    uint8_t port_id[3];
    uint8_t vp_index;
    uint8_t reserved_2[12];
} IspAbortIocb;

/* VP Report ID (0x32), qla_fw.h struct vp_rpt_id_entry_24xx, format 1
 * (point to point: the port's ID and the partner's names). */
typedef struct QEMU_PACKED IspVpRptId {
    uint8_t entry_type;
    uint8_t entry_count;
    uint8_t sys_define;
    uint8_t entry_status;
    uint32_t resv1;
    uint8_t vp_acquired;
    uint8_t vp_setup;
    uint8_t vp_idx;
    uint8_t vp_status;
    uint8_t port_id[3];         /* le_id_t */
    uint8_t format;
    uint8_t vpstat1_subcode;    /* format 1 (u.f1) from here */
    uint8_t flags;              /* TOPO_* (qla_def.h TOPO_MASK) */
    uint16_t fip_flags;
    uint8_t reserved_2[12];
    uint8_t ls_rjt_vendor;
    uint8_t ls_rjt_explanation;
    uint8_t ls_rjt_reason;
    uint8_t reserved_3[5];
    uint8_t port_name[8];       /* the partner's, big-endian */
    uint8_t node_name[8];
    uint16_t bbcr;
    uint8_t reserved_5[6];
} IspVpRptId;

/* MBX IOCB (0x39), qla_fw.h struct mbx_24xx_entry: a mailbox command in
 * the request queue, answered with the outgoing mailboxes. */
typedef struct QEMU_PACKED IspMbxIocb {
    IspIocbHeader hdr;
    uint16_t mb[28];
} IspMbxIocb;

/* Marker IOCB (0x04), qla_fw.h struct mrk_entry_24x. */
typedef struct QEMU_PACKED IspMarker {
    IspIocbHeader hdr;
    uint8_t reserved_1[56];
} IspMarker;

/* The initialization control block, qla_fw.h struct init_cb_24xx (128
 * bytes; INITIALIZE FIRMWARE reads it by DMA). */
typedef struct QEMU_PACKED IspIcb24xx {
    uint16_t version;
    uint16_t reserved_1;
    uint16_t frame_payload_size;    /* bytes */
    uint16_t execution_throttle;
    uint16_t exchange_count;
    uint16_t hard_address;          /* loop ID */
    uint8_t port_name[8];           /* big-endian */
    uint8_t node_name[8];
    uint16_t response_q_inpointer;
    uint16_t request_q_outpointer;
    uint16_t login_retry_count;
    uint16_t prio_request_q_outpointer;
    uint16_t response_q_length;     /* entries */
    uint16_t request_q_length;
    uint16_t link_down_on_nos;
    uint16_t prio_request_q_length;
    uint64_t request_q_address;
    uint64_t response_q_address;
    uint64_t prio_request_q_address;
    uint16_t msix;
    uint16_t msix_atio;
    uint8_t reserved_2[4];
    uint16_t atio_q_inpointer;
    uint16_t atio_q_length;
    uint64_t atio_q_address;
    uint16_t interrupt_delay_timer;
    uint16_t login_timeout;
    uint32_t firmware_options_1;    /* ISP_FO1_* */
    uint32_t firmware_options_2;
    uint32_t firmware_options_3;
    uint16_t qos;
    uint16_t rid;
    uint8_t reserved_3[20];
} IspIcb24xx;

/* GET PORT DATABASE's answer, qla_fw.h struct port_database_24xx (64
 * bytes). */
typedef struct QEMU_PACKED IspPortDb24xx {
    uint16_t flags;
    uint8_t current_login_state;    /* PDS_* */
    uint8_t last_login_state;
    uint8_t hard_address[3];
    uint8_t reserved_1;
    uint8_t port_id[3];             /* [0] domain, [1] area, [2] AL_PA
                                     * (qla_mbx.c qla24xx_get_port_database) */
    uint8_t sequence_id;
    uint16_t port_timer;
    uint16_t nport_handle;
    uint16_t receive_data_size;     /* bytes */
    uint16_t reserved_2;
    uint8_t prli_svc_param_word_0[2];
    uint16_t prli_svc_param_word_3; /* PRLI word 3 */
    uint8_t port_name[8];           /* big-endian */
    uint8_t node_name[8];
    uint8_t reserved_3[24];
} IspPortDb24xx;

/* One entry of GET PORT/NODE NAME LIST (MBC 0x75), qla_def.h struct
 * get_name_list_extended: the port database's first 40 bytes, but the port
 * ID AL_PA first (qla_init.c qla24xx_handle_gnl_done_event). */
typedef struct QEMU_PACKED IspNameListEntry {
    uint16_t flags;
    uint8_t current_login_state;
    uint8_t last_login_state;
    uint8_t hard_address[3];
    uint8_t reserved_1;
    uint8_t port_id[3];             /* le_id_t */
    uint8_t sequence_id;
    uint16_t port_timer;
    uint16_t nport_handle;
    uint16_t receive_data_size;
    uint16_t reserved_2;
    uint8_t prli_svc_param_word_0[2];
    uint16_t prli_svc_param_word_3;
    uint8_t port_name[8];
    uint8_t node_name[8];
} IspNameListEntry;

/* One entry of GET ID LIST (MBC 0x7c), qla_def.h struct gid_list_info. */
typedef struct QEMU_PACKED IspGidListEntry {
    uint8_t port_id[3];             /* le_id_t */
    uint8_t loop_id_2100;
    uint16_t loop_id;               /* the N_Port handle */
    uint16_t reserved_1;
} IspGidListEntry;

/* GET LINK PRIVATE STATISTICS's answer (MBC 0x6d), the first 148 bytes of
 * qla_def.h struct link_statistics (the driver reads these; the rest stays
 * 0). */
typedef struct QEMU_PACKED IspLinkStats {
    uint32_t link_fail_cnt;
    uint32_t loss_sync_cnt;
    uint32_t loss_sig_cnt;
    uint32_t prim_seq_err_cnt;
    uint32_t inval_xmit_word_cnt;
    uint32_t inval_crc_cnt;
    uint32_t lip_cnt;
    uint32_t link_up_cnt;
    uint32_t link_down_loop_init_tmo;
    uint32_t link_down_los;
    uint32_t link_down_loss_rcv_clk;
    uint32_t reserved0[5];
    uint32_t port_cfg_chg;
    uint32_t reserved1[11];
    uint32_t rsp_q_full;
    uint32_t atio_q_full;
    uint32_t drop_ae;
    uint32_t els_proto_err;
    uint32_t reserved2;
    uint32_t tx_frames;
    uint32_t rx_frames;
    uint32_t discarded_frames;
    uint32_t dropped_frames;
} IspLinkStats;

QEMU_BUILD_BUG_ON(sizeof(IspIocbHeader) != 8);
QEMU_BUILD_BUG_ON(sizeof(IspDsd64) != 12);
QEMU_BUILD_BUG_ON(sizeof(IspContA64) != 64);
QEMU_BUILD_BUG_ON(sizeof(IspCtio7) != 64);
QEMU_BUILD_BUG_ON(offsetof(IspCtio7, u.status0.dsd) != 52);
QEMU_BUILD_BUG_ON(sizeof(IspAtio7) != 64);
QEMU_BUILD_BUG_ON(sizeof(IspImmNtfy) != 64);
QEMU_BUILD_BUG_ON(offsetof(IspImmNtfy, u.node_name) != 32);
QEMU_BUILD_BUG_ON(offsetof(IspImmNtfy, port_id) != 56);
QEMU_BUILD_BUG_ON(sizeof(IspNack) != 64);
QEMU_BUILD_BUG_ON(sizeof(IspAbtsRecv) != 64);
QEMU_BUILD_BUG_ON(sizeof(IspAbtsResp) != 64);
QEMU_BUILD_BUG_ON(offsetof(IspAbtsResp, payload) != 44);
QEMU_BUILD_BUG_ON(sizeof(IspElsIocb) != 64);
QEMU_BUILD_BUG_ON(offsetof(IspElsIocb, u.req.tx_address) != 40);
QEMU_BUILD_BUG_ON(sizeof(IspLogio) != 64);
QEMU_BUILD_BUG_ON(sizeof(IspAbortIocb) != 64);
QEMU_BUILD_BUG_ON(sizeof(IspVpRptId) != 64);
QEMU_BUILD_BUG_ON(offsetof(IspVpRptId, port_name) != 40);
QEMU_BUILD_BUG_ON(sizeof(IspMbxIocb) != 64);
QEMU_BUILD_BUG_ON(sizeof(IspMarker) != 64);
QEMU_BUILD_BUG_ON(sizeof(IspIcb24xx) != 128);
QEMU_BUILD_BUG_ON(offsetof(IspIcb24xx, firmware_options_1) != 92);
QEMU_BUILD_BUG_ON(sizeof(IspPortDb24xx) != 64);
QEMU_BUILD_BUG_ON(offsetof(IspPortDb24xx, port_name) != 24);
QEMU_BUILD_BUG_ON(sizeof(IspNameListEntry) != 40);
QEMU_BUILD_BUG_ON(sizeof(IspGidListEntry) != 8);
QEMU_BUILD_BUG_ON(sizeof(IspLinkStats) != 148);
QEMU_BUILD_BUG_ON(offsetof(IspLinkStats, tx_frames) != 132);

/* A le_id_t (AL_PA, area, domain) as a 24-bit port ID, and back. */
static inline uint32_t isp_le_id(const uint8_t *id)
{
    return id[0] | id[1] << 8 | id[2] << 16;
}

static inline void isp_set_le_id(uint8_t *id, uint32_t port_id)
{
    id[0] = port_id;
    id[1] = port_id >> 8;
    id[2] = port_id >> 16;
}

#endif /* HW_QLA2532_ISP_IOCB_H */
