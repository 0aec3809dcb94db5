/*
 * QLogic ISP2532 firmware model: the services every other part uses.
 *
 * Events and interrupts (one event presented at a time, as qla_isr.c
 * handles them), the three rings (request: read; response and ATIO:
 * post), the link services (send a frame, leave the link, join it after a
 * command), and the event log.  Nothing here calls the mailbox engine, the
 * logins or the target path: they sit above (docs/architecture.md).
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/log.h"
#include "isp-int.h"
#include "trace.h"

QDict *isp_log(IspState *s, const char *event)
{
    return s->log ? fc_log_event(s->log, "isp", event) : NULL;
}

uint64_t isp_mb_dma_addr(const uint16_t *mb)
{
    /* qla_mbx.c: mb2 = MSW(LSD), mb3 = LSW(LSD), mb6 = MSW(MSD),
     * mb7 = LSW(MSD) */
    return (uint64_t)mb[3] | (uint64_t)mb[2] << 16 |
           (uint64_t)mb[7] << 32 | (uint64_t)mb[6] << 48;
}

/* ---------------------------------------------------------------------- */
/* Events and interrupts                                                  */
/* ---------------------------------------------------------------------- */

bool isp_irq_pending(IspState *s)
{
    return s->ev_presented && (s->ictrl & ICRX_EN_RISC_INT);
}

void isp_update_irq(IspState *s)
{
    s->ops->update_irq(s->opaque);
}

/*
 * Latch the oldest queued event in host_status and the outgoing mailboxes.
 * One event at a time: qla_isr.c qla24xx_msix_default handles one per
 * interrupt and acknowledges it with HCCRX_CLR_RISC_INT.
 */
static void isp_present_next(IspState *s)
{
    IspEvent *ev;
    int i;

    if (s->ev_presented || s->ev_count == 0) {
        return;
    }
    ev = &s->events[s->ev_head];
    for (i = 0; i < ev->nmb; i++) {
        s->mbox_out[i] = ev->mb[i];
    }
    /* qla_isr.c: mb[0] = MSW(host_status), type = host_status & 0xff */
    s->host_status = (uint32_t)ev->mb[0] << 16 | HSRX_RISC_INT | ev->code;
    s->ev_presented = true;
    trace_qla2532_event_present(s->port_no, ev->code, ev->mb[0], ev->mb[1],
                                ev->mb[2], ev->mb[3]);
}

void isp_event_ack(IspState *s)
{
    if (!s->ev_presented) {
        return;
    }
    s->ev_head = (s->ev_head + 1) % ISP_EVENT_QUEUE_LEN;
    s->ev_count--;
    s->ev_presented = false;
    s->host_status = 0;
    isp_update_irq(s);          /* level drops: a new edge follows for MSI */
    isp_present_next(s);
    isp_update_irq(s);
}

void isp_post_event(IspState *s, IspEventKind kind, uint8_t code,
                           const uint16_t *mb, unsigned nmb)
{
    IspEvent *ev;
    uint32_t i;

    if (s->halted) {
        return;         /* the RISC stopped at a system error (MBC 0x2a) */
    }
    /* Queue-update events coalesce: the driver drains the whole ring. */
    if (kind == ISP_EV_RSPQ || kind == ISP_EV_ATIOQ) {
        for (i = s->ev_presented ? 1 : 0; i < s->ev_count; i++) {
            ev = &s->events[(s->ev_head + i) % ISP_EVENT_QUEUE_LEN];
            if (ev->kind == kind) {
                return;
            }
        }
    }
    if (s->ev_count == ISP_EVENT_QUEUE_LEN) {
        trace_qla2532_event_overflow(s->port_no, code, nmb ? mb[0] : 0);
        return;
    }
    ev = &s->events[(s->ev_head + s->ev_count) % ISP_EVENT_QUEUE_LEN];
    memset(ev, 0, sizeof(*ev));
    ev->kind = kind;
    ev->code = code;
    ev->nmb = MIN(nmb, ISP_NUM_MAILBOXES);
    if (nmb) {
        memcpy(ev->mb, mb, ev->nmb * sizeof(uint16_t));
    }
    s->ev_count++;
    trace_qla2532_event_post(s->port_no, code, nmb ? mb[0] : 0);
    if (!s->ev_presented) {
        isp_present_next(s);
        isp_update_irq(s);
    }
}

/*
 * Post an asynchronous event with mailboxes 0..3.  The driver drops every AEN
 * that arrives before it issued INITIALIZE FIRMWARE ("Dropping AEN",
 * qla_isr.c qla2x00_async_event), so the firmware sends none before then.
 */
void isp_post_aen(IspState *s, uint16_t code, uint16_t mb1,
                         uint16_t mb2, uint16_t mb3)
{
    uint16_t mb[4] = { code, mb1, mb2, mb3 };

    if (!s->fw_initialized) {
        return;
    }
    isp_post_event(s, ISP_EV_AEN, INTR_ASYNC_EVENT, mb, 4);
}

/* ---------------------------------------------------------------------- */
/* Rings                                                                  */
/* ---------------------------------------------------------------------- */

/*
 * Put one 64-byte entry on a firmware-to-host ring (@base, @len entries,
 * producer *@in, consumer @out) and post the ring's event.  The entry body
 * is written before the producer index moves (qla_isr.c
 * qla24xx_process_response_queue reads up to rsp_q_in; the ATIO scan,
 * qla_target.c qlt_24xx_process_atio_queue, goes by the entries' last
 * dword).  One slot stays free so that in == out means empty.
 */
static bool isp_ring_post(IspState *s, const char *ring, uint64_t base,
                          uint32_t len, uint32_t *in, uint32_t out,
                          const uint8_t *entry, IspEventKind kind,
                          uint8_t code)
{
    uint32_t next;
    uint64_t addr;

    if (!s->fw_initialized || !base || !len || s->halted) {
        return false;           /* halted: stopped by a system error */
    }
    next = (*in + 1) % len;
    if (next == out % len) {
        trace_qla2532_ring_full(s->port_no, ring);
        return false;
    }
    addr = base + (uint64_t)*in * IOCB_SIZE;
    if (s->ops->dma_write(s->opaque, addr, entry, IOCB_SIZE) != MEMTX_OK) {
        qemu_log_mask(LOG_GUEST_ERROR,
                      "qla2532: %s ring at 0x%" PRIx64 " not writable\n",
                      ring, addr);
        /*
         * qla_def.h MBA_RSP_TRANSFER_ERR: the firmware could not write a
         * firmware-to-host entry; mb1 = the ring slot ([fw?] the real mb1
         * is not published; the driver prints it and aborts the ISP,
         * qla_isr.c qla2x00_async_event).  Used for the ATIO ring too.
         */
        isp_post_aen(s, MBA_RSP_TRANSFER_ERR, *in & 0xffff, 0, 0);
        return false;
    }
    *in = next;
    if (kind == ISP_EV_RSPQ && (s->icb.fw_options[1] & 0xf) == ISP_ZIO_MODE_6) {
        /* ZIO: one interrupt for what the delay collects (isp-fw.h) */
        if (!s->zio_pending) {
            s->zio_pending = true;
            timer_mod(s->zio_timer, qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) +
                      (int64_t)MAX(s->icb.interrupt_delay_timer, 1) *
                      100 * SCALE_US);
        }
        return true;
    }
    isp_post_event(s, kind, code, NULL, 0);
    return true;
}

void isp_zio_timer_cb(void *opaque)
{
    IspState *s = opaque;

    if (!s->zio_pending) {
        return;
    }
    s->zio_pending = false;
    s->zio_interrupts++;
    trace_qla2532_zio(s->port_no, s->rsp_q_in);
    if (s->zio_mode == ISP_ZIO_AEN) {
        isp_post_aen(s, MBA_ZIO_RESPONSE, 0, 0, 0);
    } else {
        isp_post_event(s, ISP_EV_RSPQ, INTR_RSP_QUE_UPDATE, NULL, 0);
    }
}

bool isp_rsp_post(IspState *s, const uint8_t *entry)
{
    return isp_ring_post(s, "response", s->icb.rsp_q_addr, s->icb.rsp_q_len,
                         &s->rsp_q_in, s->rsp_q_out, entry, ISP_EV_RSPQ,
                         INTR_RSP_QUE_UPDATE);
}

/* Target mode: ATIOs and immediate notifies. */
bool isp_atio_post(IspState *s, const uint8_t *entry)
{
    return isp_ring_post(s, "ATIO", s->icb.atio_q_addr, s->icb.atio_q_len,
                         &s->atio_q_in, s->atio_q_out, entry, ISP_EV_ATIOQ,
                         INTR_ATIO_QUE_UPDATE);
}

/* Return a request entry to the host with an entry_status error bit. */
void isp_rsp_entry_error(IspState *s, const uint8_t *iocb,
                         uint8_t entry_status)
{
    uint8_t rsp[IOCB_SIZE];
    IspIocbHeader *h = (IspIocbHeader *)rsp;
    QDict *e = isp_log(s, "iocb-error");

    memcpy(rsp, iocb, IOCB_SIZE);
    h->entry_count = 1;
    h->entry_status = entry_status;     /* qla_isr.c qla2x00_error_entry */
    trace_qla2532_iocb_error(s->port_no, h->entry_type, entry_status);
    if (e) {
        /* the evidence of a rejected IOCB: which entry, which RF_* bits */
        qdict_put_int(e, "entry_type", h->entry_type);
        qdict_put_int(e, "entry_status", entry_status);
        qdict_put_int(e, "handle", le32_to_cpu(h->handle));
    }
    isp_rsp_post(s, rsp);
}

bool isp_req_read(IspState *s, uint32_t idx, uint8_t *entry)
{
    uint64_t addr;

    if (!s->icb.req_q_len) {
        return false;
    }
    addr = s->icb.req_q_addr +
           (uint64_t)(idx % s->icb.req_q_len) * IOCB_SIZE;
    if (s->ops->dma_read(s->opaque, addr, entry, IOCB_SIZE) != MEMTX_OK) {
        qemu_log_mask(LOG_GUEST_ERROR,
                      "qla2532: request ring at 0x%" PRIx64
                      " not readable\n", addr);
        return false;
    }
    return true;
}

/* ---------------------------------------------------------------------- */
/* Data segments                                                          */
/* ---------------------------------------------------------------------- */

#define DSDS_PER_CONT           5   /* struct cont_a64_entry, qla_def.h */

bool isp_req_dsds(IspState *s, uint32_t idx, unsigned count,
                  const IspDsd64 *first, unsigned n, IspDsd **out)
{
    IspContA64 cont;
    IspDsd *d;
    unsigned i, c;

    if (n == 0 || count == 0 || n > 1 + DSDS_PER_CONT * (count - 1)) {
        return false;
    }
    d = g_new(IspDsd, n);
    d[0].addr = le64_to_cpu(first->address);
    d[0].len = le32_to_cpu(first->length);
    for (i = 1, c = 1; i < n; c++) {
        unsigned k;

        if (!isp_req_read(s, idx + c, (uint8_t *)&cont) ||
            cont.entry_type != ET_CONTINUE_A64_TYPE) {
            g_free(d);
            return false;
        }
        for (k = 0; k < DSDS_PER_CONT && i < n; k++, i++) {
            d[i].addr = le64_to_cpu(cont.dsd[k].address);
            d[i].len = le32_to_cpu(cont.dsd[k].length);
        }
    }
    *out = d;
    return true;
}

uint64_t isp_dsd_total(const IspDsd *d, unsigned n)
{
    uint64_t total = 0;
    unsigned i;

    for (i = 0; i < n; i++) {
        total += d[i].len;
    }
    return total;
}

bool isp_dsd_rw(IspState *s, const IspDsd *d, unsigned n, uint64_t off,
                uint8_t *buf, uint32_t len, bool to_host)
{
    uint32_t done = 0, chunk;
    unsigned i;
    MemTxResult r;

    for (i = 0; i < n && done < len; i++) {
        if (off >= d[i].len) {
            off -= d[i].len;
            continue;
        }
        chunk = MIN(d[i].len - off, len - done);
        r = to_host ? s->ops->dma_write(s->opaque, d[i].addr + off,
                                        buf + done, chunk)
                    : s->ops->dma_read(s->opaque, d[i].addr + off,
                                       buf + done, chunk);
        if (r != MEMTX_OK) {
            qemu_log_mask(LOG_GUEST_ERROR,
                          "qla2532: data segment 0x%" PRIx64
                          " not accessible\n", d[i].addr);
            return false;
        }
        done += chunk;
        off = 0;
    }
    return done == len;
}

/* ---------------------------------------------------------------------- */
/* Link services                                                          */
/* ---------------------------------------------------------------------- */

/* Every frame the ISP sends goes through here (counted for MBC 0x6d). */
void isp_link_send(IspState *s, FcFrame *f)
{
    s->stat_tx_frames++;
    fc_link_send(&s->port, f);
}

/* Leave the link (reset, stop firmware): the partner sees loss of light. */
void isp_port_offline(IspState *s)
{
    /* a firmware that stopped reports nothing more (no LOOP DOWN) */
    s->fw_initialized = false;
    s->go_online = false;
    if (s->port.link) {
        fc_link_set_online(&s->port, false);
    }
    s->link = ISP_LINK_DOWN;
}

/*
 * After a command's completion is posted: the link actions it asked for
 * (INITIALIZE FIRMWARE joins the link, LIP FULL LOGIN originates a LIP)
 * happen after the completion, as a command's events follow it.
 */
void isp_after_command(IspState *s)
{
    if (s->sys_err_pending) {
        /* MBC 0x2a (isp-diag.c): the firmware stops */
        s->sys_err_pending = false;
        isp_post_aen(s, MBA_SYSTEM_ERR, MBC_GEN_SYSTEM_ERROR, 0, 0);
        s->halted = true;       /* no event, command or IOCB after it */
        return;
    }
    if (s->lip_pending) {
        s->lip_pending = false;
        if (s->port.online) {
            fc_link_lip(s->port.link, 0xf7f7);
        }
    }
    if (s->go_online && s->port.link) {
        s->go_online = false;
        if (s->port.online) {
            /* initialised again without a reset: leave and rejoin */
            fc_link_set_online(&s->port, false);
        }
        s->port.wwpn = s->icb.port_name;
        s->port.wwnn = s->icb.node_name;
        s->port.conn = (s->icb.fw_options[1] >> 4) & 7;
        s->port.hard_loop_id = (s->icb.fw_options[0] & 1) &&
                               s->icb.hard_address <= ISP_LAST_LOCAL_LOOP_ID ?
                               s->icb.hard_address : -1;
        fc_link_set_online(&s->port, true);
    }
}

/*
 * The flash window of the RISC address space: flash dword n is at
 * FARX_ACCESS_FLASH_DATA + n, for the flash address register (qla_sup.c
 * flash_data_addr, qla24xx_read_flash_dword) and for LOAD/DUMP RISC RAM
 * (qla_sup.c qla24xx_write_flash_data, qla25xx_read_optrom_data).  True
 * when the @dwords dwords from @risc are all inside the flash; *@off is
 * then the byte offset of the first in the image.
 */
bool isp_flash_window(uint32_t risc, uint32_t dwords, uint32_t *off)
{
    const uint32_t flash_dw = ISP_FLASH_SIZE / 4;

    if (risc < FARX_ACCESS_FLASH_DATA ||
        risc - FARX_ACCESS_FLASH_DATA >= flash_dw ||
        dwords > flash_dw - (risc - FARX_ACCESS_FLASH_DATA)) {
        return false;
    }
    *off = (risc - FARX_ACCESS_FLASH_DATA) * 4;
    return true;
}
