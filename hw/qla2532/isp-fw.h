/*
 * QLogic ISP2532 RISC and firmware model.
 *
 * This is the card as the host sees it through BAR1: the 24xx register block,
 * the mailbox engine with the ROM and the firmware command sets, the
 * RISC-to-host event latch (host_status), the request/response/ATIO rings and
 * the serial flash.  It knows nothing about PCI: the PCI/QOM glue
 * (qla2532.c) gives it DMA and interrupt callbacks.  All time is QEMU's
 * virtual clock (QEMU_CLOCK_VIRTUAL, ns), so a run under -icount is
 * deterministic.
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_QLA2532_ISP_FW_H
#define HW_QLA2532_ISP_FW_H

#include "exec/memattrs.h"
#include "qemu/timer.h"
#include "migration/vmstate.h"
#include "isp-regs.h"
#include "isp-flash.h"
#include "fc-link.h"
#include "fc-els.h"
#include "fc-log.h"

/**
 * IspHostOps: what the firmware model needs from the bus glue.
 * @dma_read: read @len bytes of host memory at bus address @addr into @buf;
 *   returns MEMTX_OK or the bus error (the model then fails the operation
 *   with the firmware's error status; it never touches memory partially
 *   read as valid).
 * @dma_write: write @len bytes from @buf to host memory at @addr.
 * @dma_is_ram: whether all @len bytes at bus address @addr are RAM the
 *   card could reach (not registers of a device, this one's included;
 *   not past the end of memory).  The glue refuses DMA anywhere else.
 * @update_irq: called whenever isp_irq_pending() may have changed; the glue
 *   drives INTx as a level and sends MSI/MSI-X vector 0 on a rising edge.
 */
typedef struct IspHostOps {
    MemTxResult (*dma_read)(void *opaque, uint64_t addr, void *buf,
                            uint32_t len);
    MemTxResult (*dma_write)(void *opaque, uint64_t addr, const void *buf,
                             uint32_t len);
    bool (*dma_is_ram)(void *opaque, uint64_t addr, uint64_t len);
    void (*update_irq)(void *opaque);
} IspHostOps;

/* Kinds of RISC-to-host events, each presented through host_status. */
typedef enum IspEventKind {
    ISP_EV_MBOX,        /* mailbox command completion */
    ISP_EV_AEN,         /* asynchronous event */
    ISP_EV_RSPQ,        /* response queue updated */
    ISP_EV_ATIOQ,       /* ATIO queue updated */
} IspEventKind;

/**
 * IspEvent: one RISC-to-host event waiting to be presented.
 * @kind: IspEventKind.
 * @code: host_status[7:0] (INTR_*).
 * @mb: outgoing mailbox values; @mb[0] also goes to host_status[31:16].
 * @nmb: number of mailboxes (from mailbox0) loaded when presented.
 */
typedef struct IspEvent {
    uint8_t kind;
    uint8_t code;
    uint8_t nmb;
    uint16_t mb[ISP_NUM_MAILBOXES];
} IspEvent;

/* Events queued at most; the driver acknowledges one per CLR_RISC_INT. */
#define ISP_EVENT_QUEUE_LEN     64

/* RISC states. */
typedef enum IspRiscState {
    ISP_RISC_RESET,     /* held in reset by hccr SET_RISC_RESET */
    ISP_RISC_ROM,       /* boot ROM: load, verify, execute firmware */
    ISP_RISC_FW,        /* firmware running */
} IspRiscState;

/* A firmware segment loaded by MBC 0x0b whose header was recognised. */
typedef struct IspFwSegment {
    uint32_t risc_addr;     /* RISC word address */
    uint32_t dwords;        /* length including the header */
    uint32_t version[4];    /* header dwords 4..7 */
} IspFwSegment;

#define ISP_MAX_FW_SEGMENTS     8

/* RISC code/data RAM in RISC word addresses (chosen; see docs/mailbox.md). */
#define ISP_RISC_RAM_START      0x00100000u
#define ISP_RISC_RAM_END        0x00200000u     /* exclusive */
/* Code RAM as the 25xx firmware dump reads it (qla_dbg.c
 * qla24xx_dump_memory: 0x2000 dwords from 0x20000, qla_dbg.h
 * struct qla25xx_fw_dump code_ram). */
#define ISP_CODE_RAM_START      0x00020000u
#define ISP_CODE_RAM_END        0x00022000u     /* exclusive */
/* SerDes words MBC 0x03/0x04 address (chosen: the address space of the
 * real SerDes is not documented) */
#define ISP_SERDES_WORDS        256

/**
 * IspIcb: what the firmware took from the initialization control block
 * (struct init_cb_24xx, qla_fw.h) at MBC 0x48/0x60.
 * Lengths are in 64-byte entries; addresses are host bus addresses.
 */
typedef struct IspIcb {
    uint16_t version;
    uint16_t frame_payload_size;    /* bytes */
    uint16_t execution_throttle;
    uint16_t exchange_count;
    uint16_t hard_address;          /* loop ID */
    uint64_t port_name;
    uint64_t node_name;
    uint16_t login_retry_count;
    uint16_t link_down_on_nos;
    uint16_t rsp_q_len;
    uint16_t req_q_len;
    uint64_t req_q_addr;
    uint64_t rsp_q_addr;
    uint16_t atio_q_len;
    uint64_t atio_q_addr;           /* 0: no ATIO ring (initiator mode) */
    uint16_t interrupt_delay_timer;
    uint16_t login_timeout;         /* seconds */
    uint32_t fw_options[3];         /* firmware_options_1..3 */
} IspIcb;

/**
 * IspRport: the firmware's view of a remote port (what GET PORT DATABASE
 * reports, struct port_database_24xx in qla_fw.h).
 * @handle: N_Port handle (loop ID on a loop).
 * @state/@last_state: current / previous login state, PDS_*.
 * @prli_wd3: the remote port's PRLI service parameter word 3.
 * @prli_complete_ns: virtual time the firmware's PRLI state machine
 *   completes (state PRLI pending until then), 0 if not pending.
 */
typedef struct IspRport {
    bool valid;
    uint16_t handle;
    uint32_t port_id;
    uint64_t wwpn;
    uint64_t wwnn;
    uint8_t state;
    uint8_t last_state;
    uint32_t prli_wd3;
    int64_t prli_complete_ns;
} IspRport;

#define ISP_MAX_RPORTS          16

/* What an open exchange is for. */
typedef enum IspExchKind {
    ISP_X_FREE,
    ISP_X_AUTO,         /* the firmware's own login (loop auto-login) */
    ISP_X_LOGINOUT,     /* a LOGINOUT IOCB (0x52) from the driver */
    ISP_X_ELS_IOCB,     /* an ELS pass-through IOCB (0x53) */
    ISP_X_NOTIFY,       /* a received ELS handed to the driver as an
                         * IMMED_NOTIFY, waiting for its NOTIFY_ACK */
} IspExchKind;

/**
 * IspExch: an ELS exchange the firmware has open.
 * Originated ones (@kind AUTO, LOGINOUT, ELS_IOCB) wait for the reply to
 * request @els sent with @ox_id; @iocb is the driver's request IOCB to
 * complete.  Received ones (NOTIFY) hold the request (@ox_id is the
 * peer's) until the driver acknowledges @exch_addr; @deferred ones wait
 * for an earlier notify from the same port (a PRLI is presented only
 * after the PLOGI's NOTIFY_ACK, qla_target.c qlt_24xx_handle_els).
 */
typedef struct IspExch {
    uint8_t kind;
    uint8_t els;
    bool deferred;
    uint16_t ox_id;
    uint16_t rx_id;
    uint32_t peer_id;
    uint32_t exch_addr;
    uint8_t iocb[IOCB_SIZE];
    uint32_t len;
    uint8_t payload[FC_PLOGI_LEN];
} IspExch;

#define ISP_MAX_EXCH            32

/* A data segment descriptor (struct dsd64, qla_dsd.h): host address, bytes. */
typedef struct IspDsd {
    uint64_t addr;
    uint32_t len;
} IspDsd;

/**
 * IspTgtExch: a target exchange, from the FCP_CMND (ATIO) to the CTIO that
 * sends status or terminates it.
 * @exch_addr: exchange address given to the driver in the ATIO.
 * @s_id/@ox_id: the initiator and its exchange; our RX_ID is the index.
 * @aborted: an ABTS named it; @lip_reset: a LIP killed it.
 * @wr_*: a data-out CTIO waiting for the initiator's FCP_DATA.
 */
typedef struct IspTgtExch {
    bool valid;
    bool aborted;
    bool lip_reset;
    bool wr_pending;
    uint32_t exch_addr;
    uint32_t s_id;
    uint16_t ox_id;
    uint32_t fcp_dl;
    uint64_t data_sent;
    uint32_t wr_len;
    uint32_t wr_got;
    uint32_t wr_ro;
    int64_t wr_deadline_ns;
    uint8_t *wr_buf;
    IspDsd *wr_dsd;
    unsigned wr_ndsd;
    uint8_t wr_ctio[IOCB_SIZE];
} IspTgtExch;

#define ISP_MAX_TGT_EXCH        512

/**
 * IspIniExch: an FCP exchange the firmware originated in initiator mode
 * (isp-ini.c), for a Command Type 7 (0x18) or a Task Management IOCB
 * (0x14), open from its FCP_CMND to its FCP_RSP (or its abort).
 * @handle: the IOCB's handle, returned in its status entry.
 * @d_id: the target port.
 * @rx_id: the target's, from its first frame (0xffff until then).
 * @fcp_dl: FCP_DL (byte_count); @moved: data bytes received (read) or
 *   sent (write) so far, at most FCP_DL; @overrun: the target offered
 *   data past FCP_DL.
 * @dma_error: a data segment could not be read or written.
 * @tmf: FCP_CMND task management flags (byte 10; 0: a command).
 * @lun: the FCP LUN as on the wire.
 * @abort_iocb: an Abort IOCB (0x33) waiting for the BA_ACC of our ABTS
 *   (@aborting).
 * @dsd/@ndsd: the IOCB's data segments (bytes of the host's buffer).
 */
typedef struct IspIniExch {
    bool valid;
    bool read;
    bool write;
    bool overrun;
    bool dma_error;
    bool aborting;
    uint8_t tmf;
    uint16_t rx_id;
    uint32_t handle;
    uint32_t d_id;
    uint32_t fcp_dl;
    uint32_t moved;
    uint8_t lun[8];
    uint8_t abort_iocb[IOCB_SIZE];
    IspDsd *dsd;
    uint32_t ndsd;
} IspIniExch;

/*
 * Initiator exchanges: the exchange count MBC 0x42 reports (isp-mbx.c),
 * which the drivers size their outstanding commands by.  OX_ID =
 * ISP_INI_OX_ID_BASE + index (the ELS exchanges' OX_IDs stay below it).
 */
#define ISP_MAX_INI_EXCH        2048
#define ISP_INI_OX_ID_BASE      0x8000

/* An ABTS handed to the driver, waiting for its ABTS response. */
typedef struct IspAbts {
    bool valid;
    uint32_t exch_addr;
    uint32_t s_id;
    uint16_t ox_id;
    uint16_t rx_id;
} IspAbts;

#define ISP_MAX_ABTS            16

/* Link states of the port as the firmware reports them. */
typedef enum IspLinkState {
    ISP_LINK_DOWN,      /* no light / not yet initialised */
    ISP_LINK_INIT,      /* loop initialisation / point-to-point login */
    ISP_LINK_UP,
} IspLinkState;

/*
 * last_login_state of GET PORT DATABASE (struct port_database_24xx):
 * PREVIOUS, the state before the latest change of current_login_state;
 * SESSION, the state the port's previous login ended in (its last state
 * before an implicit or explicit logout), unchanged while a new login
 * progresses.  The two differ after a relogin: in PRLI pending, PREVIOUS
 * says PLOGI complete and SESSION says PRLI complete if the previous login
 * had completed its PRLI -- which qla_mbx.c qla2x00_get_port_database of
 * SCST's legacy driver accepts as logged in.
 */
#define ISP_LAST_STATE_PREVIOUS     0
#define ISP_LAST_STATE_SESSION      1
/*
 * GET ID LIST (MBC 0x7c): LOGGED_IN lists every port with PLOGI complete
 * (also in PRLI pending and PRLI complete), as the drivers read it (they
 * check each port's login state with GET PORT DATABASE afterwards:
 * qla_init.c qla2x00_configure_local_loop; SCST legacy qla2x00t.c
 * q24_get_loop_id maps an ATIO's S_ID to a handle through it);
 * PRLI_COMPLETE lists only ports whose PRLI completed.
 */
#define ISP_GID_LIST_LOGGED_IN      0
#define ISP_GID_LIST_PRLI_COMPLETE  1
/*
 * A data CTIO that would move bytes past the exchange's FCP_DL (relative
 * offset + transfer length, or the exchange's total, above FCP_DL):
 * FCP-4 §9.4.1 forbids such data on the wire, and the drivers never build
 * one (LIO and SCST clamp to FCP_DL and report the overrun as a residual,
 * qla_target.c qlt_pre_xmit_response).  What the firmware does is not
 * documented.  REJECT returns the CTIO with entry_status RF_INV_E_PARAM
 * and sends nothing; TRUNCATE sends the data up to FCP_DL and completes
 * the CTIO as usual.
 */
#define ISP_CTIO_OVERRUN_REJECT     0
#define ISP_CTIO_OVERRUN_TRUNCATE   1
/*
 * MBC 0x2a GENERATE SYSTEM ERROR (qla_mbx.c qla2x00_system_error; sysfs
 * fw_dump 3).  The firmware posts 0x8002 SYSTEM ERROR and stops.  Whether
 * it completes the mailbox command first is not documented; the driver
 * expects that it may not: a timed-out 0x2a takes no dump and schedules no
 * ISP abort (qla_mbx.c qla2x00_mailbox_command checks MBC_GEN_SYSTEM_ERROR
 * twice).  COMPLETE (default): 0x4000, then the 0x8002.  NONE: the
 * command never completes; the caller waits out its 5 s and the driver
 * logs "cmd=0x2a, waited 5000 msecs" (ql_log_warn 0x1015) on every
 * forced dump, which is why COMPLETE is the default (docs/mailbox.md).
 */
#define ISP_SYS_ERR_COMPLETE        0
#define ISP_SYS_ERR_NONE            1
/*
 * ZIO mode 6 (ICB firmware_options_2 bits 3:0 = 6, qla_init.c
 * qla24xx_nvram_config after sysfs "zio", qla_attr.c qla2x00_zio_store):
 * response entries are written at once and one interrupt covers all
 * written during interrupt_delay_timer x 100 us (qla_attr.c
 * qla2x00_zio_timer_show).  How the 2532 presents that interrupt is not
 * documented: RSPQ as a response queue update (host_status 0x13, as
 * without ZIO), AEN as MBA_ZIO_RESPONSE 0x8040 (qla_isr.c handles both).
 */
#define ISP_ZIO_RSPQ                0
#define ISP_ZIO_AEN                 1
#define ISP_ZIO_MODE_6              6
/*
 * Initiator mode: a write (Command Type 7 with write data) whose FCP_RSP
 * comes before the target asked for all its data (it rejected the
 * command: CHECK CONDITION after no or a partial FCP_XFER_RDY).  The
 * driver treats DATA UNDERRUN with a residual the FCP_RSP does not
 * confirm as dropped frames (qla_isr.c qla2x00_status_entry, 0x6063 "
 * Dropped frame(s) detected", DID_ERROR); the target drivers set
 * FCP_RESID_UNDER for reads only (tcm_qla2xxx.c
 * tcm_qla2xxx_queue_status).  What the firmware reports is not
 * documented.  RESID_UNDER (default): DATA UNDERRUN for a write only when
 * the FCP_RSP has FCP_RESID_UNDER, else COMPLETE; SHORT: DATA UNDERRUN
 * whenever less than FCP_DL was moved, as for a read.
 */
#define ISP_INI_WRITE_UNDERRUN_RESID    0
#define ISP_INI_WRITE_UNDERRUN_SHORT    1
/*
 * A LOGINOUT LOGO (qla_iocb.c qla24xx_logout_iocb) for an N_Port handle
 * the firmware has no login for -- e.g. after a point-to-point link reset
 * ended every login, the driver logs out its old session.  The driver
 * logs any failure but PORT ID / N_PORT HANDLE USED at KERN_ERR (qla_isr.c
 * qla24xx_logio_entry, 0x5037 "Async-logout failed").  What the firmware
 * answers is not documented.  ERROR (default): comp_status 0x31 with
 * io_parameter[0] NOT LOGGED IN (0x09); COMPLETE: the firmware has nothing
 * to end and completes it, sending no LOGO.
 */
#define ISP_LOGO_UNKNOWN_ERROR          0
#define ISP_LOGO_UNKNOWN_COMPLETE       1

/*
 * A PLOGI (LOGINOUT IOCB, or ELS pass-through in N2N) whose N_Port handle
 * and port ID do not match the firmware's logins: the port ID is logged in
 * under another handle, or the handle holds another port ID's login.
 * MOVE (default, the model's reading so far): the login moves to the
 * handle named, and a login the handle held ends.  REFUSE: the firmware
 * keeps its logins and fails the PLOGI with PORT ID USED (0x1A, the handle
 * in use) or N_PORT HANDLE USED (0x1B, the port ID holding it): LOGINOUT
 * comp_status 0x31 with io_parameter[0]/[1], ELS pass-through 0x31 with
 * error_subcode_1/_2.  qla2xxx handles both without a failure message
 * (qla_isr.c qla24xx_logio_entry, qla_init.c
 * qla24xx_handle_plogi_done_event, qla_iocb.c qla2x00_els_dcmd2_sp_done),
 * which suggests the real firmware refuses; which it does is not
 * documented here.
 */
#define ISP_PLOGI_CONFLICT_MOVE         0
#define ISP_PLOGI_CONFLICT_REFUSE       1

/**
 * IspState: one ISP2532 function (FC port).
 *
 * Configuration fields (set by the glue before isp_init()):
 * @port_no: PCI function / FC port number, 0 or 1.
 * @link_speed: PORT_SPEED_* code the link comes up at.
 * @mbox_latency_ns: virtual time between the mailbox doorbell and the
 *   completion event.
 * @prli_latency_ns: virtual time from the PRLI LS_ACC to the moment the
 *   firmware considers the port logged in (PDS_PRLI_COMPLETE); until then
 *   GET PORT DATABASE reports PRLI pending.
 * @last_state_mode: what the port database's last_login_state means, one
 *   of ISP_LAST_STATE_* (the real firmware's rule is not documented; see
 *   docs/login-states.md).
 * @gid_list_mode: which ports GET ID LIST lists, ISP_GID_LIST_*.
 * @ctio_overrun_mode: a data CTIO past FCP_DL, ISP_CTIO_OVERRUN_*.
 * @sys_err_mode: whether MBC 0x2a completes before its SYSTEM ERROR,
 *   ISP_SYS_ERR_* (isp-diag.c).
 * @ini_write_underrun_mode: a write the target ended short,
 *   ISP_INI_WRITE_UNDERRUN_* (isp-ini.c).
 * @logo_unknown_mode: a LOGO for a handle without a login,
 *   ISP_LOGO_UNKNOWN_* (isp-els.c).
 * @plogi_conflict_mode: a PLOGI whose handle or port ID another login
 *   holds, ISP_PLOGI_CONFLICT_* (isp-els.c).
 * @serdes: SerDes words (MBC 0x03/0x04), cleared at power-on only.
 * @flash: ISP_FLASH_SIZE bytes, owned by the glue.
 * @sfp_a0/@sfp_a2: SFP EEPROM pages (SFF-8472 A0h/A2h), 256 bytes each.
 */
typedef struct IspState {
    /* configuration */
    uint8_t port_no;
    uint8_t link_speed;
    uint32_t mbox_latency_ns;
    uint8_t *flash;
    uint8_t sfp_a0[256];
    uint8_t sfp_a2[256];
    const IspHostOps *ops;
    void *opaque;
    FcLog *log;                     /* may be NULL */
    uint8_t last_state_mode;        /* ISP_LAST_STATE_* */
    uint8_t gid_list_mode;          /* ISP_GID_LIST_* */
    uint8_t ctio_overrun_mode;      /* ISP_CTIO_OVERRUN_* */
    uint8_t sys_err_mode;           /* ISP_SYS_ERR_* */
    uint8_t zio_mode;               /* ISP_ZIO_*: how a ZIO interrupt shows */
    uint8_t ini_write_underrun_mode;    /* ISP_INI_WRITE_UNDERRUN_* */
    uint8_t logo_unknown_mode;          /* ISP_LOGO_UNKNOWN_* */
    uint8_t plogi_conflict_mode;        /* ISP_PLOGI_CONFLICT_* */
    uint16_t serdes[ISP_SERDES_WORDS];

    /* registers */
    uint32_t flash_addr;
    uint32_t flash_data;
    uint32_t ctrl_status;
    uint32_t ictrl;
    uint32_t iobase_addr;
    uint32_t req_q_in, req_q_out;
    uint32_t rsp_q_in, rsp_q_out;
    uint32_t atio_q_in, atio_q_out;
    uint16_t mbox_in[ISP_NUM_MAILBOXES];    /* host -> RISC */
    uint16_t mbox_out[ISP_NUM_MAILBOXES];   /* RISC -> host */
    uint32_t host_status;

    /* mailbox engine */
    bool mbox_busy;
    uint16_t mbox_cmd[ISP_NUM_MAILBOXES];
    QEMUTimer *mbox_timer;

    /* RISC-to-host events */
    IspEvent events[ISP_EVENT_QUEUE_LEN];
    uint32_t ev_head;
    uint32_t ev_count;
    bool ev_presented;

    /* RISC / firmware */
    IspRiscState risc;
    bool risc_paused;               /* hccr SET_RISC_PAUSE */
    IspFwSegment segs[ISP_MAX_FW_SEGMENTS];
    uint32_t nsegs;
    uint32_t fw_version[4];         /* running firmware's header words */
    bool fw_initialized;            /* INITIALIZE FIRMWARE completed */
    uint32_t ring_gen;              /* +1 at every ring set-up / reset */
    uint16_t fw_options[16];        /* MBC 0x38 */
    IspIcb icb;

    /* link: the port on the emulated FC link (attached by the glue) */
    FcPort port;
    IspLinkState link;
    bool go_online;                 /* join the link after this command */
    bool lip_pending;               /* LIP after this command (MBC 0x72) */
    bool sys_err_pending;           /* SYSTEM ERROR after it (MBC 0x2a) */
    bool halted;                    /* stopped by a system error */
    QEMUTimer *zio_timer;           /* ZIO: the coalesced interrupt */
    bool zio_pending;               /* responses written, not yet told */
    uint32_t zio_interrupts;        /* interrupts that covered responses */
    bool full_login_pending;        /* that LIP logs all ports out */
    uint8_t topology;               /* ISP_TOPO_* */
    uint16_t loop_id;               /* own loop ID / N_Port handle */
    uint32_t port_id;               /* own 24-bit FC address */
    bool port_update_pending;       /* global PORT UPDATE after logins */
    /* link statistics (MBC 0x6d, struct link_statistics) */
    uint32_t stat_link_fail;
    uint32_t stat_lip;
    uint32_t stat_link_up;
    uint32_t stat_tx_frames;
    uint32_t stat_rx_frames;

    /* logins (isp-els.c) */
    int64_t prli_latency_ns;        /* PRLI LS_ACC -> PRLI complete */
    IspRport rports[ISP_MAX_RPORTS];
    IspExch exch[ISP_MAX_EXCH];
    uint16_t next_ox_id;
    uint32_t next_exch_addr;
    QEMUTimer *prli_timer;

    /* target data path (isp-tgt.c) */
    IspTgtExch tgt[ISP_MAX_TGT_EXCH];
    IspAbts abts[ISP_MAX_ABTS];
    uint32_t next_tgt_exch;
    QEMUTimer *ctio_timer;

    /* initiator data path (isp-ini.c) */
    IspIniExch ini[ISP_MAX_INI_EXCH];
    /* isp-els.c calls it when a remote port's login ends (layering: the
     * login layer does not call the data paths above it) */
    void (*login_ended)(struct IspState *s, uint32_t port_id);
} IspState;

/**
 * isp_init: create the timers and put the chip in its power-on state.
 * @s: zero-filled state with the configuration fields set; @s->port gets
 *   its name, WWNs and ops here and must then be attached to a link.
 * @wwpn/@wwnn: the port's names (from NVRAM; the ICB's replace them).
 */
void isp_init(IspState *s, const IspHostOps *ops, void *opaque,
              uint64_t wwpn, uint64_t wwnn);

/** isp_finalize: free what isp_init() allocated. */
void isp_finalize(IspState *s);

/**
 * isp_reset: chip reset (PCI reset, ctrl_status ISP_SOFT_RESET).
 * Drops all firmware state; the RISC comes back in its boot ROM with
 * mailbox0 reading 0 (qla_init.c qla24xx_reset_risc waits for that).
 */
void isp_reset(IspState *s);

/**
 * isp_reg_read / isp_reg_write: BAR1 register block access.
 * @addr: byte offset below ISP_REG_BLOCK_SIZE; @size: 1, 2 or 4 bytes.
 * Reads of unimplemented offsets return 0; writes to them are ignored
 * (logged as LOG_UNIMP).  Never fails.
 */
uint64_t isp_reg_read(IspState *s, uint32_t addr, unsigned size);
void isp_reg_write(IspState *s, uint32_t addr, uint64_t val, unsigned size);

/*
 * vmstate_isp: the saved state of one port's chip and firmware
 * (isp-vmstate.c); loading checks it and fails with -EINVAL on a state the
 * model could not be in.
 */
extern const VMStateDescription vmstate_isp;

/** isp_irq_pending: an event is latched in host_status and ictrl enables it. */
bool isp_irq_pending(IspState *s);

#endif /* HW_QLA2532_ISP_FW_H */
