/*
 * QLogic ISP2532 firmware model: the initiator-mode data path.
 *
 * A Command Type 7 IOCB (0x18) becomes an FCP exchange the firmware
 * originates: FCP_CMND to the target, then FCP_DATA to the host's buffers
 * (read), FCP_DATA from them per FCP_XFER_RDY (write), and the FCP_RSP
 * turned into a Status Type 0 entry (0x03), with Status Continuation
 * entries (0x10) for sense data the status entry cannot hold.  A Task
 * Management IOCB (0x14) is an FCP_CMND with task management flags; an
 * Abort IOCB (0x33) naming one of these exchanges sends ABTS.  FCP framing
 * is FCP-4, the exchange protocol FC-FS-3; what the driver builds and how
 * it reads the completions is qla_iocb.c qla24xx_start_scsi /
 * qla24xx_build_scsi_iocbs / qla24xx_tm_iocb / qla24xx_abort_iocb and
 * qla_isr.c qla2x00_status_entry / qla2x00_status_cont_entry /
 * qla24xx_tm_iocb_entry / qla24xx_abort_iocb_entry.  docs/iocb.md has the
 * table of statuses and the [fw?] choices.
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/log.h"
#include "isp-int.h"
#include "qapi/qmp/qdict.h"
#include "trace.h"

/* Command Type 7 task_mgmt_flags, qla_fw.h TMF_* */
#define TMF_WRITE_DATA          (1u << 0)
#define TMF_READ_DATA           (1u << 1)
#define TMF_DSD_LIST_ENABLE     (1u << 2)

/* Task Management IOCB control_flags, qla_fw.h TCF_* */
#define TCF_CLEAR_ACA           (1u << 0)
#define TCF_TARGET_RESET        (1u << 1)
#define TCF_CLEAR_TASK_SET      (1u << 2)
#define TCF_ABORT_TASK_SET      (1u << 3)
#define TCF_LUN_RESET           (1u << 4)
#define TCF_NOTMCMD_TO_TARGET   (1u << 31)

/* FCP_CMND byte 10, task management flags (FCP-4 §9.2.2 Table 24) */
#define FCP_TMF_ABORT_TASK_SET  0x02
#define FCP_TMF_CLEAR_TASK_SET  0x04
#define FCP_TMF_LUN_RESET       0x10
#define FCP_TMF_TARGET_RESET    0x20
#define FCP_TMF_CLEAR_ACA       0x40

/* Status Type 0 (struct sts_entry_24xx): its data[] and a continuation's */
#define STS_DATA_LEN            28
#define STS_CONT_DATA_LEN       60

/* Command Type 7, qla_fw.h struct cmd_type_7 (64 bytes). */
typedef struct QEMU_PACKED IspCmd7 {
    IspIocbHeader hdr;
    uint16_t nport_handle;
    uint16_t timeout;           /* seconds; the 6.1 driver sends 0 */
    uint16_t dseg_count;
    uint16_t reserved_1;
    uint8_t lun[8];             /* each 32-bit word byte-swapped */
    uint16_t task_mgmt_flags;
    uint8_t task;
    uint8_t crn;
    uint8_t cdb[16];            /* each 32-bit word byte-swapped */
    uint32_t byte_count;
    uint8_t port_id[3];
    uint8_t vp_index;
    IspDsd64 dsd;
} IspCmd7;

/* Task Management, qla_fw.h struct tsk_mgmt_entry (64 bytes). */
typedef struct QEMU_PACKED IspTskMgmt {
    IspIocbHeader hdr;
    uint16_t nport_handle;
    uint16_t reserved_1;
    uint16_t delay;
    uint16_t timeout;
    uint8_t lun[8];             /* each 32-bit word byte-swapped */
    uint32_t control_flags;
    uint8_t reserved_2[20];
    uint8_t port_id[3];
    uint8_t vp_index;
    uint8_t reserved_3[12];
} IspTskMgmt;

/* Status Type 0, qla_fw.h struct sts_entry_24xx (64 bytes). */
typedef struct QEMU_PACKED IspSts24 {
    IspIocbHeader hdr;
    uint16_t comp_status;
    uint16_t ox_id;
    uint32_t residual_len;      /* the firmware's count of what is missing */
    uint16_t reserved_1;
    uint16_t state_flags;
    uint16_t status_qualifier;
    uint16_t scsi_status;       /* FCP_RSP flags << 8 | SCSI status */
    uint32_t rsp_residual_count;    /* FCP_RSP's FCP_RESID */
    uint32_t sense_len;
    uint32_t rsp_data_len;
    uint8_t data[STS_DATA_LEN]; /* response info, then sense; swapped */
} IspSts24;

QEMU_BUILD_BUG_ON(sizeof(IspCmd7) != 64);
QEMU_BUILD_BUG_ON(offsetof(IspCmd7, cdb) != 28);
QEMU_BUILD_BUG_ON(offsetof(IspCmd7, dsd) != 52);
QEMU_BUILD_BUG_ON(sizeof(IspTskMgmt) != 64);
QEMU_BUILD_BUG_ON(offsetof(IspTskMgmt, port_id) != 48);
QEMU_BUILD_BUG_ON(sizeof(IspSts24) != 64);
QEMU_BUILD_BUG_ON(offsetof(IspSts24, data) != 36);

/* ---------------------------------------------------------------------- */

static uint16_t ini_ox_id(IspState *s, IspIniExch *x)
{
    return ISP_INI_OX_ID_BASE + (x - s->ini);
}

/* The exchange of a frame the target sent: our OX_ID, from its port. */
static IspIniExch *ini_exch_of(IspState *s, const FcFrame *f)
{
    uint16_t ox = fc_ox_id(f);
    IspIniExch *x;

    if (ox < ISP_INI_OX_ID_BASE ||
        ox - ISP_INI_OX_ID_BASE >= ISP_MAX_INI_EXCH) {
        return NULL;
    }
    x = &s->ini[ox - ISP_INI_OX_ID_BASE];
    return x->valid && x->d_id == fc_s_id(f) ? x : NULL;
}

static IspIniExch *ini_exch_new(IspState *s)
{
    int i;

    for (i = 0; i < ISP_MAX_INI_EXCH; i++) {
        if (!s->ini[i].valid) {
            memset(&s->ini[i], 0, sizeof(s->ini[i]));
            s->ini[i].valid = true;
            s->ini[i].rx_id = 0xffff;
            return &s->ini[i];
        }
    }
    return NULL;
}

static void ini_exch_free(IspIniExch *x)
{
    g_free(x->dsd);
    memset(x, 0, sizeof(*x));
}

/* The FCP bytes of a field the driver stored with host_to_fcp_swap (each
 * 32-bit word byte-swapped, qla_dsd.h / qla_iocb.c). */
static void fcp_unswap(uint8_t *out, const uint8_t *in, unsigned len)
{
    unsigned i;

    for (i = 0; i < len; i++) {
        out[i] = in[4 * (i / 4) + 3 - i % 4];
    }
}

/* Send a frame of exchange @x (we are its originator). */
static void ini_send(IspState *s, IspIniExch *x, uint8_t r_ctl, uint8_t type,
                     uint32_t f_ctl, uint32_t param, const uint8_t *pl,
                     uint32_t len, uint16_t seq_cnt)
{
    FcFrame *f = g_new0(FcFrame, 1);

    memcpy(f->payload, pl, len);
    fc_frame_init(f, r_ctl, x->d_id, s->port_id, type, f_ctl,
                  ini_ox_id(s, x), x->rx_id, param, len);
    stw_be_p(f->hdr + 14, seq_cnt);
    f->sof = seq_cnt ? FC_SOF_N3 : FC_SOF_I3;
    isp_link_send(s, f);
}

static void ini_log(IspState *s, IspIniExch *x, const char *what,
                    uint16_t status)
{
    QDict *e = isp_log(s, what);

    if (e) {
        qdict_put_int(e, "handle", x->handle);
        qdict_put_int(e, "ox_id", ini_ox_id(s, x));
        qdict_put_int(e, "d_id", x->d_id);
        qdict_put_int(e, "status", status);
        qdict_put_int(e, "moved", x->moved);
    }
}

/* A Status Type 0 for IOCB @handle with @comp_status and our @ox_id. */
static void ini_sts_init(IspSts24 *sts, uint32_t handle, uint16_t comp,
                         uint16_t ox_id)
{
    memset(sts, 0, sizeof(*sts));
    sts->hdr.entry_type = ET_STATUS_TYPE;
    sts->hdr.entry_count = 1;
    sts->hdr.handle = handle;
    sts->comp_status = cpu_to_le16(comp);
    sts->ox_id = cpu_to_le16(ox_id);
}

/*
 * Complete @x with a status entry of @comp_status and no FCP_RSP (the
 * exchange ended some other way: aborted, logged out, link lost, a DMA
 * fault) and free it.
 */
static void ini_complete(IspState *s, IspIniExch *x, uint16_t comp_status)
{
    IspSts24 sts;

    ini_sts_init(&sts, x->handle, comp_status, ini_ox_id(s, x));
    if (!x->tmf && x->moved < x->fcp_dl) {
        sts.residual_len = cpu_to_le32(x->fcp_dl - x->moved);
    }
    trace_qla2532_ini_done(s->port_no, x->handle, comp_status, 0, x->moved);
    ini_log(s, x, "ini-done", comp_status);
    isp_rsp_post(s, (const uint8_t *)&sts);
    ini_exch_free(x);
}

/* The completion of Abort IOCB @iocb: status 0 in nport_handle
 * (qla_isr.c qla24xx_abort_iocb_entry). */
static void ini_abort_post(IspState *s, const uint8_t *iocb)
{
    IspAbortIocb rsp;

    memcpy(&rsp, iocb, sizeof(rsp));
    rsp.hdr.entry_count = 1;
    rsp.hdr.entry_status = 0;
    rsp.nport_handle = cpu_to_le16(CS_COMPLETE);
    isp_rsp_post(s, (const uint8_t *)&rsp);
}

/* Complete @x with @comp_status, then the Abort IOCB that waits for its
 * ABTS, if one does. */
static void ini_complete_aborting(IspState *s, IspIniExch *x,
                                  uint16_t comp_status)
{
    uint8_t abort_iocb[IOCB_SIZE];
    bool aborting = x->aborting;

    memcpy(abort_iocb, x->abort_iocb, IOCB_SIZE);
    ini_complete(s, x, comp_status);
    if (aborting) {
        ini_abort_post(s, abort_iocb);
    }
}

/*
 * Complete with @comp_status every open exchange to @d_id (or to any
 * port, @d_id = ~0) whose LUN is @lun (or any, @lun = NULL): only the
 * commands if @commands_only (a task management function ends them),
 * else the task management exchanges too.
 */
static void ini_complete_all(IspState *s, uint32_t d_id, const uint8_t *lun,
                             uint16_t comp_status, bool commands_only)
{
    int i;

    for (i = 0; i < ISP_MAX_INI_EXCH; i++) {
        IspIniExch *x = &s->ini[i];

        if (x->valid && !(commands_only && x->tmf) &&
            (d_id == ~0u || x->d_id == d_id) &&
            (!lun || !memcmp(x->lun, lun, 8))) {
            /* an Abort IOCB waiting for our ABTS completes too */
            ini_complete_aborting(s, x, comp_status);
        }
    }
}

/*
 * The remote port an IOCB names by @handle and @le_id must be logged in
 * with PRLI complete; otherwise the IOCB completes with a status entry
 * and false is returned.  [fw?] The firmware's status for a
 * command to a port it has no login with is not published; PORT LOGGED
 * OUT (0x29) is what the driver expects then (qla_isr.c
 * qla2x00_status_entry: DID_TRANSPORT_DISRUPTED, and it schedules the
 * session's deletion so that it logs in again); without the link PORT
 * UNAVAILABLE (0x28).
 */
static void ini_reject(IspState *s, const uint8_t *iocb, uint16_t status);

static bool ini_port_ok(IspState *s, const uint8_t *iocb, uint16_t handle,
                        const uint8_t *le_id, uint32_t *d_id)
{
    uint32_t id = isp_le_id(le_id);
    uint16_t status = CS_PORT_LOGGED_OUT;
    int i;

    if (s->link != ISP_LINK_UP) {
        status = CS_PORT_UNAVAILABLE;
    }
    for (i = 0; i < ISP_MAX_RPORTS && s->link == ISP_LINK_UP; i++) {
        IspRport *rp = &s->rports[i];

        if (rp->valid && rp->handle == handle &&
            rp->state == PDS_PRLI_COMPLETE && rp->port_id == id) {
            *d_id = id;
            return true;
        }
    }
    ini_reject(s, iocb, status);
    return false;
}

/*
 * A new exchange for @iocb (to port @d_id), or NULL after the
 * IOCB came back RF_BUSY: all exchanges are open (the driver requeues the
 * command, qla_isr.c qla2x00_error_entry: DID_BUS_BUSY).
 */
static IspIniExch *ini_open(IspState *s, const uint8_t *iocb, uint32_t d_id)
{
    IspIniExch *x = ini_exch_new(s);

    if (!x) {
        isp_rsp_entry_error(s, iocb, RF_BUSY);
        return NULL;
    }
    x->handle = ((const IspIocbHeader *)iocb)->handle;
    x->d_id = d_id;
    return x;
}

/* A status entry for an IOCB that got no exchange. */
static void ini_reject(IspState *s, const uint8_t *iocb, uint16_t status)
{
    IspSts24 sts;

    ini_sts_init(&sts, ((const IspIocbHeader *)iocb)->handle, status, 0);
    if (iocb[0] == ET_COMMAND_TYPE_7) {
        sts.residual_len = ((const IspCmd7 *)iocb)->byte_count;
    }
    trace_qla2532_ini_done(s->port_no, sts.hdr.handle, status, 0, 0);
    isp_rsp_post(s, (const uint8_t *)&sts);
}

/* FCP_CMND (FCP-4 §9.2): LUN, task attribute, task management flags,
 * RDDATA/WRDATA, CDB, FCP_DL. */
static void ini_send_cmnd(IspState *s, IspIniExch *x, uint8_t task_attr,
                          const uint8_t *cdb)
{
    uint8_t cmnd[FCP_CMND_LEN] = { 0 };

    memcpy(cmnd, x->lun, 8);
    cmnd[9] = task_attr & 7;
    cmnd[10] = x->tmf;
    cmnd[11] = (x->read ? FCP_CMND_RDDATA : 0) |
               (x->write ? FCP_CMND_WRDATA : 0);
    if (cdb) {
        memcpy(cmnd + 12, cdb, 16);
    }
    stl_be_p(cmnd + 28, x->fcp_dl);
    trace_qla2532_ini_cmnd(s->port_no, x->handle, x->d_id, ini_ox_id(s, x),
                           cdb ? cdb[0] : 0, x->tmf, x->fcp_dl);
    if (s->log) {
        QDict *e = isp_log(s, "ini-cmnd");

        fc_log_count(s->log, "isp", "ini_cmnd", 1);
        if (e) {
            qdict_put_int(e, "handle", x->handle);
            qdict_put_int(e, "ox_id", ini_ox_id(s, x));
            qdict_put_int(e, "d_id", x->d_id);
            qdict_put_int(e, "opcode", cdb ? cdb[0] : 0);
            qdict_put_int(e, "tmf", x->tmf);
            qdict_put_int(e, "fcp_dl", x->fcp_dl);
        }
    }
    ini_send(s, x, FC_RCTL_DD_UNSOL_CMD, FC_TYPE_FCP,
             FC_FCTL_FIRST_SEQ | FC_FCTL_END_SEQ | FC_FCTL_SEQ_INIT, 0,
             cmnd, sizeof(cmnd), 0);
}

/* ---------------------------------------------------------------------- */
/* IOCBs                                                                  */
/* ---------------------------------------------------------------------- */

/*
 * Command Type 7 (qla_iocb.c qla24xx_start_scsi).  @idx is its ring
 * index, @count its entry_count (Continuation Type 1 entries follow with
 * five more DSDs each).  An IOCB the firmware cannot execute as written
 * comes back with RF_INV_E_PARAM (qla_isr.c qla2x00_error_entry: the
 * command fails with DID_ERROR): a descriptor count the entries cannot
 * hold, a continuation of another type, both directions, data without a
 * direction or a direction without descriptors, descriptors that describe
 * less than byte_count, a DSD list (TMF_DSD_LIST_ENABLE, which only the
 * DIF and NVMe paths use), or a CDB needing an additional length.  No
 * exchange free: RF_BUSY (the driver retries: DID_BUS_BUSY).
 */
void isp_iocb_cmd7(IspState *s, const uint8_t *iocb, uint32_t idx,
                   unsigned count)
{
    const IspCmd7 *c = (const IspCmd7 *)iocb;
    uint16_t flags = le16_to_cpu(c->task_mgmt_flags);
    uint32_t dl = le32_to_cpu(c->byte_count);
    unsigned n = le16_to_cpu(c->dseg_count);
    bool rd = flags & TMF_READ_DATA, wr = flags & TMF_WRITE_DATA;
    g_autofree IspDsd *dsd = NULL;
    uint8_t cdb[16];
    uint32_t d_id = 0;
    IspIniExch *x;

    if ((rd && wr) || (flags & TMF_DSD_LIST_ENABLE) ||
        (dl && !rd && !wr) || ((rd || wr) && dl && !n) || (n && !dl) ||
        (n && !isp_req_dsds(s, idx, count, &c->dsd, n, &dsd)) ||
        (n && isp_dsd_total(dsd, n) < dl)) {
        qemu_log_mask(LOG_GUEST_ERROR, "qla2532: Command Type 7 handle "
                      "0x%x: flags 0x%x, %u DSDs in %u entries, %u bytes\n",
                      le32_to_cpu(c->hdr.handle), flags, n, count, dl);
        isp_rsp_entry_error(s, iocb, RF_INV_E_PARAM);
        return;
    }
    if (!ini_port_ok(s, iocb, le16_to_cpu(c->nport_handle), c->port_id,
                     &d_id)) {
        return;
    }
    x = ini_open(s, iocb, d_id);
    if (!x) {
        return;
    }
    x->read = rd && dl;
    x->write = wr && dl;
    x->fcp_dl = dl;
    x->dsd = g_steal_pointer(&dsd);
    x->ndsd = n;
    fcp_unswap(x->lun, c->lun, 8);
    fcp_unswap(cdb, c->cdb, 16);
    /* FCP_CMND byte 10 = Command Type 7's task management bits 14:8 */
    x->tmf = (flags >> 8) & 0x76;
    ini_send_cmnd(s, x, c->task, cdb);
}

/*
 * Task Management (qla_iocb.c qla24xx_tm_iocb, qla_mbx.c
 * __qla24xx_issue_tmf): an FCP_CMND with the task management flag and no
 * CDB (FCP-4 §9.2.2); its FCP_RSP completes it as a status entry whose
 * response info the driver checks (qla_isr.c qla24xx_tm_iocb_entry).
 * TCF_NOTMCMD_TO_TARGET: nothing is sent, the firmware only ends its own
 * exchanges.  Exactly one function must be asked for (RF_INV_E_PARAM
 * otherwise, [fw?]).
 */
void isp_iocb_tsk_mgmt(IspState *s, const uint8_t *iocb)
{
    const IspTskMgmt *t = (const IspTskMgmt *)iocb;
    uint32_t cf = le32_to_cpu(t->control_flags);
    static const struct {
        uint32_t tcf;
        uint8_t fcp;
    } map[] = {
        { TCF_CLEAR_ACA, FCP_TMF_CLEAR_ACA },
        { TCF_TARGET_RESET, FCP_TMF_TARGET_RESET },
        { TCF_CLEAR_TASK_SET, FCP_TMF_CLEAR_TASK_SET },
        { TCF_ABORT_TASK_SET, FCP_TMF_ABORT_TASK_SET },
        { TCF_LUN_RESET, FCP_TMF_LUN_RESET },
    };
    uint8_t tmf = 0, lun[8];
    unsigned i, nfunc = 0;
    uint32_t d_id = 0;
    IspIniExch *x;

    for (i = 0; i < ARRAY_SIZE(map); i++) {
        if (cf & map[i].tcf) {
            tmf = map[i].fcp;
            nfunc++;
        }
    }
    if (nfunc != 1) {
        isp_rsp_entry_error(s, iocb, RF_INV_E_PARAM);
        return;
    }
    if (!ini_port_ok(s, iocb, le16_to_cpu(t->nport_handle), t->port_id,
                     &d_id)) {
        return;
    }
    fcp_unswap(lun, t->lun, 8);
    if (cf & TCF_NOTMCMD_TO_TARGET) {
        ini_complete_all(s, d_id, tmf == FCP_TMF_TARGET_RESET ? NULL : lun,
                         CS_ABORTED, true);
        ini_reject(s, iocb, CS_COMPLETE);
        return;
    }
    x = ini_open(s, iocb, d_id);
    if (!x) {
        return;
    }
    x->tmf = tmf;
    memcpy(x->lun, lun, 8);
    ini_send_cmnd(s, x, 0, NULL);
}

/*
 * Abort IOCB (qla_iocb.c qla24xx_abort_iocb, qla_mbx.c
 * qla24xx_abort_command) naming an open FCP exchange: ABTS to the target
 * (FC-FS-3 §15.3.2); at its BA_ACC (or BA_RJT: the target has no such
 * exchange either) the command completes ABORTED (0x05, the driver's
 * DID_RESET) and then the Abort IOCB with status 0.  Without the link
 * both complete at once.  Returns false if @iocb names no FCP exchange
 * (isp-els.c's abort handles the ELS ones).
 */
bool isp_iocb_abort_fcp(IspState *s, const uint8_t *iocb)
{
    const IspAbortIocb *req = (const IspAbortIocb *)iocb;
    IspIniExch *x = NULL;
    int i;

    for (i = 0; i < ISP_MAX_INI_EXCH && !x; i++) {
        if (s->ini[i].valid && !s->ini[i].tmf &&
            s->ini[i].handle == req->handle_to_abort) {
            x = &s->ini[i];
        }
    }
    if (!x) {
        return false;
    }
    if (x->aborting || s->link != ISP_LINK_UP) {
        /* a second abort, or no link to send ABTS on: done at once */
        if (!x->aborting) {
            ini_complete(s, x, CS_ABORTED);
        }
        ini_abort_post(s, iocb);
        return true;
    }
    x->aborting = true;
    memcpy(x->abort_iocb, iocb, IOCB_SIZE);
    trace_qla2532_ini_abts(s->port_no, x->handle, ini_ox_id(s, x), x->rx_id);
    ini_log(s, x, "ini-abts", 0);
    ini_send(s, x, FC_RCTL_BA_ABTS, FC_TYPE_BLS,
             FC_FCTL_LAST_SEQ | FC_FCTL_END_SEQ | FC_FCTL_SEQ_INIT, 0,
             NULL, 0, 0);
    return true;
}

/* ---------------------------------------------------------------------- */
/* Frames from the target                                                 */
/* ---------------------------------------------------------------------- */

/* FCP_XFER_RDY (FCP-4 §9.3): send the burst from the host's buffers. */
static void ini_xfer_rdy(IspState *s, IspIniExch *x, const FcFrame *f)
{
    uint32_t ro, burst, max, off = 0, len;
    uint16_t seq_cnt = 0;
    g_autofree uint8_t *buf = NULL;

    if (f->len < FCP_XFER_RDY_LEN || !x->write) {
        return;                 /* not a write: ignored */
    }
    ro = ldl_be_p(f->payload);
    burst = ldl_be_p(f->payload + 4);
    if (ro > x->fcp_dl || burst > x->fcp_dl - ro) {
        /*
         * A burst past FCP_DL (FCP-4 §9.3: the target must not ask for
         * it).  [fw?] chosen: the data are not sent, the command ends
         * DATA OVERRUN when the FCP_RSP comes.
         */
        qemu_log_mask(LOG_GUEST_ERROR, "qla2532: FCP_XFER_RDY offset %u "
                      "burst %u past FCP_DL %u\n", ro, burst, x->fcp_dl);
        x->overrun = true;
        return;
    }
    max = MIN(s->icb.frame_payload_size ? s->icb.frame_payload_size
                                        : FC_MAX_PAYLOAD, FC_MAX_PAYLOAD);
    buf = g_malloc(MAX(max, 1));
    while (off < burst) {
        len = MIN(max, burst - off);
        if (!isp_dsd_rw(s, x->dsd, x->ndsd, ro + off, buf, len, false)) {
            x->dma_error = true;
            return;
        }
        ini_send(s, x, FC_RCTL_DD_SOL_DATA, FC_TYPE_FCP,
                 FC_FCTL_REL_OFF | (off + len == burst ?
                                    FC_FCTL_END_SEQ | FC_FCTL_SEQ_INIT : 0),
                 ro + off, buf, len, seq_cnt++);
        off += len;
    }
    x->moved = MIN((uint64_t)x->moved + burst, x->fcp_dl);
}

/* FCP_DATA of a read: into the host's buffers at its relative offset. */
static void ini_data(IspState *s, IspIniExch *x, const FcFrame *f)
{
    uint32_t ro = fc_param(f), len = f->len;

    if (!x->read || !(fc_f_ctl(f) & FC_FCTL_REL_OFF)) {
        return;
    }
    if (ro > x->fcp_dl || len > x->fcp_dl - ro) {
        x->overrun = true;      /* data past FCP_DL: not placed */
        len = ro < x->fcp_dl ? x->fcp_dl - ro : 0;
    }
    if (len && !x->dma_error &&
        !isp_dsd_rw(s, x->dsd, x->ndsd, ro, (uint8_t *)f->payload, len,
                    true)) {
        x->dma_error = true;
    }
    x->moved = MIN((uint64_t)x->moved + len, x->fcp_dl);
}

/*
 * FCP_RSP (FCP-4 §9.5) -> Status Type 0 (qla_isr.c qla2x00_status_entry):
 * comp_status COMPLETE, or DATA UNDERRUN (0x15) with residual_len = what
 * the firmware did not move, when the target reports an underrun or a
 * read received less than FCP_DL (the driver compares the two residuals
 * and calls a mismatch dropped frames); a write the target ended without
 * asking for all its data and without FCP_RESID_UNDER completes COMPLETE
 * or DATA UNDERRUN as the ini-write-underrun variant says ([fw?],
 * ISP_INI_WRITE_UNDERRUN_* in isp-fw.h); DATA OVERRUN (0x07) when the target
 * offered more, DMA (0x02) after a data segment fault; scsi_status = the
 * FCP_RSP flags << 8
 * | SCSI status; response info, then sense, in data[] and Status
 * Continuation entries of 60 bytes (each 32-bit word byte-swapped, as the
 * driver's host_to_fcp_swap undoes).
 */
static void ini_rsp(IspState *s, IspIniExch *x, const FcFrame *f)
{
    const uint8_t *p = f->payload;
    uint8_t fl, info[FC_MAX_PAYLOAD];
    uint32_t sns = 0, rsp = 0, resid, total, off, i;
    uint16_t comp = CS_COMPLETE;
    IspSts24 sts;

    if (f->len < FCP_RSP_MIN_LEN) {
        return;                 /* malformed: dropped, the command times out */
    }
    fl = p[10];
    resid = ldl_be_p(p + 12);
    if (fl & FCP_RSP_LEN_VALID) {
        rsp = ldl_be_p(p + 20);
    }
    if (fl & FCP_SNS_LEN_VALID) {
        sns = ldl_be_p(p + 16);
    }
    rsp = MIN(rsp, f->len - FCP_RSP_MIN_LEN);
    sns = MIN(sns, f->len - FCP_RSP_MIN_LEN - rsp);
    total = rsp + sns;
    memcpy(info, p + FCP_RSP_MIN_LEN, total);

    if (x->dma_error) {
        comp = CS_DMA;
    } else if (x->overrun) {
        comp = CS_DATA_OVERRUN;
    } else if ((fl & FCP_RESID_UNDER) ||
               ((x->read || s->ini_write_underrun_mode ==
                 ISP_INI_WRITE_UNDERRUN_SHORT) && x->moved < x->fcp_dl)) {
        comp = CS_DATA_UNDERRUN;
    }
    ini_sts_init(&sts, x->handle, comp, ini_ox_id(s, x));
    if (comp == CS_DATA_UNDERRUN) {
        sts.residual_len = cpu_to_le32(x->fcp_dl - MIN(x->moved, x->fcp_dl));
    }
    sts.status_qualifier = cpu_to_le16(lduw_be_p(p + 8));
    sts.scsi_status = cpu_to_le16((fl & 0x1f) << 8 | p[11]);
    if (fl & (FCP_RESID_UNDER | FCP_RESID_OVER)) {
        sts.rsp_residual_count = cpu_to_le32(resid);
    }
    sts.sense_len = cpu_to_le32(sns);
    sts.rsp_data_len = cpu_to_le32(rsp);
    for (i = 0; i < MIN(total, STS_DATA_LEN); i++) {
        sts.data[4 * (i / 4) + 3 - i % 4] = info[i];
    }
    trace_qla2532_ini_done(s->port_no, x->handle, comp, p[11], x->moved);
    ini_log(s, x, "ini-done", comp);
    isp_rsp_post(s, (const uint8_t *)&sts);
    /* the rest of the sense in Status Continuation entries (qla_def.h
     * sts_cont_entry_t: 4-byte header, 60 bytes) */
    for (off = STS_DATA_LEN; off < total; off += STS_CONT_DATA_LEN) {
        uint8_t cont[IOCB_SIZE] = { ET_STATUS_CONT_TYPE, 1 };

        for (i = 0; i < STS_CONT_DATA_LEN && off + i < total; i++) {
            cont[4 + 4 * (i / 4) + 3 - i % 4] = info[off + i];
        }
        isp_rsp_post(s, cont);
    }
    if (x->tmf && !(fl & FCP_RSP_LEN_VALID && rsp >= 4 && info[3])) {
        /*
         * A task management function the target performed ends the
         * commands in its scope (SAM-5 §7: the target aborts them and
         * sends nothing more for them).  [fw?] that the firmware then
         * returns them ABORTED is chosen: the driver waits for them after
         * a device or target reset (qla_os.c
         * qla2x00_eh_wait_for_pending_commands).
         */
        bool lun_scope = x->tmf != FCP_TMF_TARGET_RESET;

        ini_complete_all(s, x->d_id, lun_scope ? x->lun : NULL, CS_ABORTED,
                         true);
    }
    ini_exch_free(x);
}

/* BA_ACC / BA_RJT to our ABTS: the command, then the Abort IOCB. */
static void ini_ba_reply(IspState *s, IspIniExch *x)
{
    if (x->aborting) {
        ini_complete_aborting(s, x, CS_ABORTED);
    }
}

bool isp_ini_receive(IspState *s, const FcFrame *f)
{
    IspIniExch *x = ini_exch_of(s, f);

    if (!x) {
        return false;
    }
    if (x->rx_id == 0xffff) {
        x->rx_id = fc_rx_id(f);
    }
    if (fc_type(f) == FC_TYPE_BLS) {
        if (fc_r_ctl(f) == FC_RCTL_BA_ACC || fc_r_ctl(f) == FC_RCTL_BA_RJT) {
            ini_ba_reply(s, x);
        }
        return true;
    }
    if (fc_type(f) != FC_TYPE_FCP || x->aborting) {
        return true;            /* after our ABTS: discarded (FC-FS-3) */
    }
    switch (fc_r_ctl(f)) {
    case FC_RCTL_DD_DATA_DESC:
        ini_xfer_rdy(s, x, f);
        break;
    case FC_RCTL_DD_SOL_DATA:
        ini_data(s, x, f);
        break;
    case FC_RCTL_DD_CMD_STATUS:
        ini_rsp(s, x, f);
        break;
    }
    return true;
}

/* ---------------------------------------------------------------------- */
/* Link and logins                                                        */
/* ---------------------------------------------------------------------- */

/*
 * A LIP or the loss of the link ends every open exchange (the link
 * flushes frames in flight, fc-link.c).  [fw?] Status chosen: RESET (0x04)
 * after a LIP, PORT UNAVAILABLE (0x28) after the loss of the link; the
 * driver requeues both (DID_TRANSPORT_DISRUPTED, qla_isr.c
 * qla2x00_status_entry).
 */
void isp_ini_link_event(IspState *s, FcLinkEvent ev)
{
    if (ev == FC_EV_LIP || ev == FC_EV_LIP_RESET) {
        ini_complete_all(s, ~0u, NULL, CS_RESET, false);
    } else if (ev == FC_EV_LINK_DOWN) {
        ini_complete_all(s, ~0u, NULL, CS_PORT_UNAVAILABLE, false);
    }
}

/* The login with @port_id ended (isp-els.c): its exchanges end PORT
 * LOGGED OUT (0x29). */
static void ini_login_ended(IspState *s, uint32_t port_id)
{
    ini_complete_all(s, port_id, NULL, CS_PORT_LOGGED_OUT, false);
}

void isp_ini_init(IspState *s)
{
    s->login_ended = ini_login_ended;
}

void isp_ini_reset(IspState *s)
{
    int i;

    for (i = 0; i < ISP_MAX_INI_EXCH; i++) {
        ini_exch_free(&s->ini[i]);
    }
}
