/*
 * Saved state of the ISP2532 firmware model (savevm, loadvm, migration).
 *
 * Everything the chip holds between two host accesses: the register
 * block, the mailbox engine (a command in progress with its completion
 * timer), the RISC-to-host event queue, the firmware's load state and
 * INITIALIZE FIRMWARE parameters, the port's place on the link, the login
 * table and ELS exchanges, and the target exchanges with the write data
 * already received from the link.  Timers are saved as their expiry on
 * QEMU's virtual clock.  Configuration (port number, latencies set by
 * properties, host ops) is not saved, except what the host may change at
 * run time through QOM (PRLI latency, the firmware variants), which the
 * source's values replace.
 *
 * A loaded state is checked before use: queue positions, counts, ring
 * indices and buffer lengths must be ones the model itself could have
 * produced; anything else fails the load (-EINVAL) instead of reaching
 * the model.
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "migration/vmstate.h"
#include "isp-fw.h"
#include "isp-iocb.h"

static const VMStateDescription vmstate_isp_event = {
    .name = "isp-event",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (VMStateField[]) {
        VMSTATE_UINT8(kind, IspEvent),
        VMSTATE_UINT8(code, IspEvent),
        VMSTATE_UINT8(nmb, IspEvent),
        VMSTATE_UINT16_ARRAY(mb, IspEvent, ISP_NUM_MAILBOXES),
        VMSTATE_END_OF_LIST()
    }
};

static const VMStateDescription vmstate_isp_fw_segment = {
    .name = "isp-fw-segment",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (VMStateField[]) {
        VMSTATE_UINT32(risc_addr, IspFwSegment),
        VMSTATE_UINT32(dwords, IspFwSegment),
        VMSTATE_UINT32_ARRAY(version, IspFwSegment, 4),
        VMSTATE_END_OF_LIST()
    }
};

static const VMStateDescription vmstate_isp_icb = {
    .name = "isp-icb",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (VMStateField[]) {
        VMSTATE_UINT16(version, IspIcb),
        VMSTATE_UINT16(frame_payload_size, IspIcb),
        VMSTATE_UINT16(execution_throttle, IspIcb),
        VMSTATE_UINT16(exchange_count, IspIcb),
        VMSTATE_UINT16(hard_address, IspIcb),
        VMSTATE_UINT64(port_name, IspIcb),
        VMSTATE_UINT64(node_name, IspIcb),
        VMSTATE_UINT16(login_retry_count, IspIcb),
        VMSTATE_UINT16(link_down_on_nos, IspIcb),
        VMSTATE_UINT16(rsp_q_len, IspIcb),
        VMSTATE_UINT16(req_q_len, IspIcb),
        VMSTATE_UINT64(req_q_addr, IspIcb),
        VMSTATE_UINT64(rsp_q_addr, IspIcb),
        VMSTATE_UINT16(atio_q_len, IspIcb),
        VMSTATE_UINT64(atio_q_addr, IspIcb),
        VMSTATE_UINT16(interrupt_delay_timer, IspIcb),
        VMSTATE_UINT16(login_timeout, IspIcb),
        VMSTATE_UINT32_ARRAY(fw_options, IspIcb, 3),
        VMSTATE_END_OF_LIST()
    }
};

static const VMStateDescription vmstate_isp_rport = {
    .name = "isp-rport",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (VMStateField[]) {
        VMSTATE_BOOL(valid, IspRport),
        VMSTATE_UINT16(handle, IspRport),
        VMSTATE_UINT32(port_id, IspRport),
        VMSTATE_UINT64(wwpn, IspRport),
        VMSTATE_UINT64(wwnn, IspRport),
        VMSTATE_UINT8(state, IspRport),
        VMSTATE_UINT8(last_state, IspRport),
        VMSTATE_UINT32(prli_wd3, IspRport),
        VMSTATE_INT64(prli_complete_ns, IspRport),
        VMSTATE_END_OF_LIST()
    }
};

static const VMStateDescription vmstate_isp_exch = {
    .name = "isp-els-exchange",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (VMStateField[]) {
        VMSTATE_UINT8(kind, IspExch),
        VMSTATE_UINT8(els, IspExch),
        VMSTATE_BOOL(deferred, IspExch),
        VMSTATE_UINT16(ox_id, IspExch),
        VMSTATE_UINT16(rx_id, IspExch),
        VMSTATE_UINT32(peer_id, IspExch),
        VMSTATE_UINT32(exch_addr, IspExch),
        VMSTATE_UINT8_ARRAY(iocb, IspExch, IOCB_SIZE),
        VMSTATE_UINT32(len, IspExch),
        VMSTATE_UINT8_ARRAY(payload, IspExch, FC_PLOGI_LEN),
        VMSTATE_END_OF_LIST()
    }
};

static const VMStateDescription vmstate_isp_dsd = {
    .name = "isp-dsd",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (VMStateField[]) {
        VMSTATE_UINT64(addr, IspDsd),
        VMSTATE_UINT32(len, IspDsd),
        VMSTATE_END_OF_LIST()
    }
};

/* The write data buffer and the CTIO's segments exist while data is due. */
static bool isp_tgt_wr_pending(void *opaque, int version_id)
{
    return ((IspTgtExch *)opaque)->wr_pending;
}

static const VMStateDescription vmstate_isp_tgt_exch = {
    .name = "isp-target-exchange",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (VMStateField[]) {
        VMSTATE_BOOL(valid, IspTgtExch),
        VMSTATE_BOOL(aborted, IspTgtExch),
        VMSTATE_BOOL(lip_reset, IspTgtExch),
        VMSTATE_BOOL(wr_pending, IspTgtExch),
        VMSTATE_UINT32(exch_addr, IspTgtExch),
        VMSTATE_UINT32(s_id, IspTgtExch),
        VMSTATE_UINT16(ox_id, IspTgtExch),
        VMSTATE_UINT32(fcp_dl, IspTgtExch),
        VMSTATE_UINT64(data_sent, IspTgtExch),
        VMSTATE_UINT32(wr_len, IspTgtExch),
        VMSTATE_UINT32(wr_got, IspTgtExch),
        VMSTATE_UINT32(wr_ro, IspTgtExch),
        VMSTATE_INT64(wr_deadline_ns, IspTgtExch),
        VMSTATE_UINT32(wr_ndsd, IspTgtExch),
        VMSTATE_VBUFFER_ALLOC_UINT32(wr_buf, IspTgtExch, 0,
                                     isp_tgt_wr_pending, wr_len),
        {
            .name = "wr_dsd",
            .version_id = 0,
            .field_exists = isp_tgt_wr_pending,
            .vmsd = &vmstate_isp_dsd,
            .num_offset = vmstate_offset_value(IspTgtExch, wr_ndsd,
                                               uint32_t),
            .size = sizeof(IspDsd),
            .flags = VMS_STRUCT | VMS_VARRAY_UINT32 | VMS_ALLOC |
                     VMS_POINTER,
            .offset = vmstate_offset_pointer(IspTgtExch, wr_dsd, IspDsd),
        },
        VMSTATE_UINT8_ARRAY(wr_ctio, IspTgtExch, IOCB_SIZE),
        VMSTATE_END_OF_LIST()
    }
};

static const VMStateDescription vmstate_isp_abts = {
    .name = "isp-abts",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (VMStateField[]) {
        VMSTATE_BOOL(valid, IspAbts),
        VMSTATE_UINT32(exch_addr, IspAbts),
        VMSTATE_UINT32(s_id, IspAbts),
        VMSTATE_UINT16(ox_id, IspAbts),
        VMSTATE_UINT16(rx_id, IspAbts),
        VMSTATE_END_OF_LIST()
    }
};

/*
 * An initiator exchange's data segments are loaded only for a count a
 * Command Type 7 can have (dseg_count is 16 bits): a larger one in the
 * stream is not allocated, and isp_state_problem refuses the state.
 */
static bool isp_ini_has_dsd(void *opaque, int version_id)
{
    IspIniExch *x = opaque;

    return x->valid && x->ndsd > 0 && x->ndsd <= 0xffff;
}

static const VMStateDescription vmstate_isp_ini_exch = {
    .name = "isp-initiator-exchange",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (VMStateField[]) {
        VMSTATE_BOOL(valid, IspIniExch),
        VMSTATE_BOOL(read, IspIniExch),
        VMSTATE_BOOL(write, IspIniExch),
        VMSTATE_BOOL(overrun, IspIniExch),
        VMSTATE_BOOL(dma_error, IspIniExch),
        VMSTATE_BOOL(aborting, IspIniExch),
        VMSTATE_UINT8(tmf, IspIniExch),
        VMSTATE_UINT16(rx_id, IspIniExch),
        VMSTATE_UINT32(handle, IspIniExch),
        VMSTATE_UINT32(d_id, IspIniExch),
        VMSTATE_UINT32(fcp_dl, IspIniExch),
        VMSTATE_UINT32(moved, IspIniExch),
        VMSTATE_UINT8_ARRAY(lun, IspIniExch, 8),
        VMSTATE_UINT8_ARRAY(abort_iocb, IspIniExch, IOCB_SIZE),
        VMSTATE_UINT32(ndsd, IspIniExch),
        {
            .name = "dsd",
            .version_id = 0,
            .field_exists = isp_ini_has_dsd,
            .vmsd = &vmstate_isp_dsd,
            .num_offset = vmstate_offset_value(IspIniExch, ndsd, uint32_t),
            .size = sizeof(IspDsd),
            .flags = VMS_STRUCT | VMS_VARRAY_UINT32 | VMS_ALLOC |
                     VMS_POINTER,
            .offset = vmstate_offset_pointer(IspIniExch, dsd, IspDsd),
        },
        VMSTATE_END_OF_LIST()
    }
};

/* Saved only while the firmware has initiator exchanges open. */
static bool isp_ini_needed(void *opaque)
{
    IspState *s = opaque;
    int i;

    for (i = 0; i < ISP_MAX_INI_EXCH; i++) {
        if (s->ini[i].valid) {
            return true;
        }
    }
    return false;
}

static const VMStateDescription vmstate_isp_ini = {
    .name = "isp2532/initiator",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = isp_ini_needed,
    .fields = (VMStateField[]) {
        VMSTATE_STRUCT_ARRAY(ini, IspState, ISP_MAX_INI_EXCH, 1,
                             vmstate_isp_ini_exch, IspIniExch),
        VMSTATE_END_OF_LIST()
    }
};

/* Saved only when a variant added after the first stream is not default. */
static bool isp_variants2_needed(void *opaque)
{
    IspState *s = opaque;

    return s->ini_write_underrun_mode != ISP_INI_WRITE_UNDERRUN_RESID ||
           s->logo_unknown_mode != ISP_LOGO_UNKNOWN_ERROR ||
           s->plogi_conflict_mode != ISP_PLOGI_CONFLICT_MOVE;
}

static const VMStateDescription vmstate_isp_variants2 = {
    .name = "isp2532/variants2",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = isp_variants2_needed,
    .fields = (VMStateField[]) {
        VMSTATE_UINT8(ini_write_underrun_mode, IspState),
        VMSTATE_UINT8(logo_unknown_mode, IspState),
        VMSTATE_UINT8(plogi_conflict_mode, IspState),
        VMSTATE_END_OF_LIST()
    }
};

/* The loaded exchanges replace the current ones: free their buffers. */
static int isp_pre_load(void *opaque)
{
    IspState *s = opaque;
    int i;

    /* a stream without isp2532/variants2 has its variants' defaults */
    s->ini_write_underrun_mode = ISP_INI_WRITE_UNDERRUN_RESID;
    s->logo_unknown_mode = ISP_LOGO_UNKNOWN_ERROR;
    s->plogi_conflict_mode = ISP_PLOGI_CONFLICT_MOVE;

    for (i = 0; i < ISP_MAX_TGT_EXCH; i++) {
        g_free(s->tgt[i].wr_buf);
        g_free(s->tgt[i].wr_dsd);
        s->tgt[i].wr_buf = NULL;
        s->tgt[i].wr_dsd = NULL;
    }
    for (i = 0; i < ISP_MAX_INI_EXCH; i++) {
        g_free(s->ini[i].dsd);
        memset(&s->ini[i], 0, sizeof(s->ini[i]));
    }
    return 0;
}

/*
 * The index of a ring that the firmware moves (req_q_out, rsp_q_in,
 * atio_q_in) is below the ring's length; the host's indices are whatever
 * the host wrote (16 bits) and the model checks them at each doorbell.
 */
static bool isp_ring_ok(uint32_t host, uint32_t fw, uint16_t len)
{
    return host <= 0xffff && (len == 0 ? fw == 0 : fw < len);
}

/*
 * Whether the loaded state is one the model could be in; the reason for
 * the first check that fails, or NULL.
 */
static const char *isp_state_problem(IspState *s)
{
    int i;

    if (s->ev_head >= ISP_EVENT_QUEUE_LEN ||
        s->ev_count > ISP_EVENT_QUEUE_LEN) {
        return "event queue position";
    }
    if (s->nsegs > ISP_MAX_FW_SEGMENTS || s->risc > ISP_RISC_FW ||
        s->link > ISP_LINK_UP) {
        return "firmware state";
    }
    if (s->last_state_mode > ISP_LAST_STATE_SESSION ||
        s->gid_list_mode > ISP_GID_LIST_PRLI_COMPLETE ||
        s->ctio_overrun_mode > ISP_CTIO_OVERRUN_TRUNCATE ||
        s->sys_err_mode > ISP_SYS_ERR_NONE || s->zio_mode > ISP_ZIO_AEN ||
        s->ini_write_underrun_mode > ISP_INI_WRITE_UNDERRUN_SHORT ||
        s->logo_unknown_mode > ISP_LOGO_UNKNOWN_COMPLETE ||
        s->plogi_conflict_mode > ISP_PLOGI_CONFLICT_REFUSE) {
        return "firmware variant";
    }
    if (s->fw_initialized &&
        (!isp_ring_ok(s->req_q_in, s->req_q_out, s->icb.req_q_len) ||
         !isp_ring_ok(s->rsp_q_out, s->rsp_q_in, s->icb.rsp_q_len) ||
         !isp_ring_ok(s->atio_q_out, s->atio_q_in, s->icb.atio_q_len))) {
        return "ring index";
    }
    for (i = 0; i < ISP_MAX_EXCH; i++) {
        if (s->exch[i].kind > ISP_X_NOTIFY ||
            s->exch[i].len > FC_PLOGI_LEN) {
            return "ELS exchange";
        }
    }
    for (i = 0; i < ISP_MAX_TGT_EXCH; i++) {
        IspTgtExch *x = &s->tgt[i];

        if (x->wr_pending && (x->wr_got > x->wr_len || x->wr_ndsd == 0)) {
            return "target exchange";
        }
    }
    for (i = 0; i < ISP_MAX_INI_EXCH; i++) {
        IspIniExch *x = &s->ini[i];

        if (x->valid && ((x->ndsd && !x->dsd) || x->ndsd > 0xffff ||
                         (!x->ndsd && x->fcp_dl) || x->moved > x->fcp_dl)) {
            return "initiator exchange";
        }
    }
    return NULL;
}

static int isp_post_load(void *opaque, int version_id)
{
    IspState *s = opaque;
    const char *problem = isp_state_problem(s);

    if (problem) {
        error_report("qla2532: port %u: the saved state's %s is not one "
                     "the firmware model can be in", s->port_no, problem);
        return -EINVAL;
    }
    return 0;
}

const VMStateDescription vmstate_isp = {
    .name = "isp2532",
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_load = isp_pre_load,
    .post_load = isp_post_load,
    .fields = (VMStateField[]) {
        /* run-time settable model parameters (QOM) */
        VMSTATE_UINT8(last_state_mode, IspState),
        VMSTATE_UINT8(gid_list_mode, IspState),
        VMSTATE_UINT8(ctio_overrun_mode, IspState),
        VMSTATE_UINT8(sys_err_mode, IspState),
        VMSTATE_UINT8(zio_mode, IspState),
        VMSTATE_UINT16_ARRAY(serdes, IspState, ISP_SERDES_WORDS),
        VMSTATE_INT64(prli_latency_ns, IspState),
        /* the flash write window and SFP pages */
        VMSTATE_UINT8_ARRAY(sfp_a0, IspState, 256),
        VMSTATE_UINT8_ARRAY(sfp_a2, IspState, 256),
        /* registers */
        VMSTATE_UINT32(flash_addr, IspState),
        VMSTATE_UINT32(flash_data, IspState),
        VMSTATE_UINT32(ctrl_status, IspState),
        VMSTATE_UINT32(ictrl, IspState),
        VMSTATE_UINT32(iobase_addr, IspState),
        VMSTATE_UINT32(req_q_in, IspState),
        VMSTATE_UINT32(req_q_out, IspState),
        VMSTATE_UINT32(rsp_q_in, IspState),
        VMSTATE_UINT32(rsp_q_out, IspState),
        VMSTATE_UINT32(atio_q_in, IspState),
        VMSTATE_UINT32(atio_q_out, IspState),
        VMSTATE_UINT16_ARRAY(mbox_in, IspState, ISP_NUM_MAILBOXES),
        VMSTATE_UINT16_ARRAY(mbox_out, IspState, ISP_NUM_MAILBOXES),
        VMSTATE_UINT32(host_status, IspState),
        /* mailbox engine */
        VMSTATE_BOOL(mbox_busy, IspState),
        VMSTATE_UINT16_ARRAY(mbox_cmd, IspState, ISP_NUM_MAILBOXES),
        VMSTATE_TIMER_PTR(mbox_timer, IspState),
        /* RISC-to-host events */
        VMSTATE_STRUCT_ARRAY(events, IspState, ISP_EVENT_QUEUE_LEN, 1,
                             vmstate_isp_event, IspEvent),
        VMSTATE_UINT32(ev_head, IspState),
        VMSTATE_UINT32(ev_count, IspState),
        VMSTATE_BOOL(ev_presented, IspState),
        /* RISC and firmware */
        VMSTATE_UINT32(risc, IspState),
        VMSTATE_BOOL(risc_paused, IspState),
        VMSTATE_STRUCT_ARRAY(segs, IspState, ISP_MAX_FW_SEGMENTS, 1,
                             vmstate_isp_fw_segment, IspFwSegment),
        VMSTATE_UINT32(nsegs, IspState),
        VMSTATE_UINT32_ARRAY(fw_version, IspState, 4),
        VMSTATE_BOOL(fw_initialized, IspState),
        VMSTATE_UINT32(ring_gen, IspState),
        VMSTATE_UINT16_ARRAY(fw_options, IspState, 16),
        VMSTATE_STRUCT(icb, IspState, 1, vmstate_isp_icb, IspIcb),
        /* the port on the link */
        VMSTATE_STRUCT(port, IspState, 1, vmstate_fc_port, FcPort),
        VMSTATE_UINT32(link, IspState),
        VMSTATE_BOOL(go_online, IspState),
        VMSTATE_BOOL(lip_pending, IspState),
        VMSTATE_BOOL(sys_err_pending, IspState),
        VMSTATE_BOOL(halted, IspState),
        VMSTATE_TIMER_PTR(zio_timer, IspState),
        VMSTATE_BOOL(zio_pending, IspState),
        VMSTATE_UINT32(zio_interrupts, IspState),
        VMSTATE_BOOL(full_login_pending, IspState),
        VMSTATE_UINT8(topology, IspState),
        VMSTATE_UINT16(loop_id, IspState),
        VMSTATE_UINT32(port_id, IspState),
        VMSTATE_BOOL(port_update_pending, IspState),
        VMSTATE_UINT32(stat_link_fail, IspState),
        VMSTATE_UINT32(stat_lip, IspState),
        VMSTATE_UINT32(stat_link_up, IspState),
        VMSTATE_UINT32(stat_tx_frames, IspState),
        VMSTATE_UINT32(stat_rx_frames, IspState),
        /* logins */
        VMSTATE_STRUCT_ARRAY(rports, IspState, ISP_MAX_RPORTS, 1,
                             vmstate_isp_rport, IspRport),
        VMSTATE_STRUCT_ARRAY(exch, IspState, ISP_MAX_EXCH, 1,
                             vmstate_isp_exch, IspExch),
        VMSTATE_UINT16(next_ox_id, IspState),
        VMSTATE_UINT32(next_exch_addr, IspState),
        VMSTATE_TIMER_PTR(prli_timer, IspState),
        /* target data path */
        VMSTATE_STRUCT_ARRAY(tgt, IspState, ISP_MAX_TGT_EXCH, 1,
                             vmstate_isp_tgt_exch, IspTgtExch),
        VMSTATE_STRUCT_ARRAY(abts, IspState, ISP_MAX_ABTS, 1,
                             vmstate_isp_abts, IspAbts),
        VMSTATE_UINT32(next_tgt_exch, IspState),
        VMSTATE_TIMER_PTR(ctio_timer, IspState),
        VMSTATE_END_OF_LIST()
    },
    .subsections = (const VMStateDescription * []) {
        &vmstate_isp_ini,
        &vmstate_isp_variants2,
        NULL
    }
};
