/*
 * QLogic ISP2532 RISC and firmware model.
 *
 * The behaviour is what the Linux 6.1 qla2xxx driver expects of the card;
 * each function names the driver code (drivers/scsi/qla2xxx/...) that defines
 * the contract.  Where the real firmware's behaviour is not known, the model
 * does what the driver expects and says so ("chosen").  docs/registers.md and
 * docs/mailbox.md list the same contracts in tables.
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/log.h"
#include "qemu/units.h"
#include "isp-int.h"
#include "trace.h"

/* Largest single DMA a mailbox command may ask for (chosen bound). */
#define ISP_MAX_MBOX_DMA        (256 * KiB)

#define LSW(x)  ((uint16_t)(x))
#define MSW(x)  ((uint16_t)((x) >> 16))


uint64_t isp_mb_dma_addr(const uint16_t *mb)
{
    /* qla_mbx.c: mb2 = MSW(LSD), mb3 = LSW(LSD), mb6 = MSW(MSD), mb7 = LSW(MSD) */
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

static void isp_update_irq(IspState *s)
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

static void isp_event_ack(IspState *s)
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

    if (!s->fw_initialized || !base || !len) {
        return false;
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
        return false;
    }
    *in = next;
    isp_post_event(s, kind, code, NULL, 0);
    return true;
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

    QDict *e = isp_log(s, "iocb-error");

    memcpy(rsp, iocb, IOCB_SIZE);
    rsp[1] = 1;                 /* entry_count */
    rsp[3] = entry_status;      /* qla_isr.c qla2x00_error_entry */
    trace_qla2532_iocb_error(s->port_no, iocb[0], entry_status);
    if (e) {
        /* the evidence of a rejected IOCB: which entry, which RF_* bits */
        qdict_put_int(e, "entry_type", iocb[0]);
        qdict_put_int(e, "entry_status", entry_status);
        qdict_put_int(e, "handle", ldl_le_p(iocb + 4));
    }
    isp_rsp_post(s, rsp);
}

static int isp_mbox_execute(IspState *s, uint16_t *mb, int *nout);
static void isp_after_command(IspState *s);

/*
 * MBX IOCB (type 0x39, struct mbx_24xx_entry): a mailbox command carried in
 * the request queue, answered with a 0x39 entry holding the outgoing
 * mailboxes (qla_isr.c qla24xx_mbx_iocb_entry).
 */
static void isp_iocb_mbx(IspState *s, const uint8_t *iocb)
{
    uint16_t mb[ISP_NUM_MAILBOXES] = { 0 };
    uint8_t rsp[IOCB_SIZE];
    int nout = 0, i;

    for (i = 0; i < 28; i++) {
        mb[i] = lduw_le_p(iocb + 8 + 2 * i);
    }
    mb[0] = isp_mbox_execute(s, mb, &nout);
    memset(rsp, 0, sizeof(rsp));
    rsp[0] = ET_MBX_IOCB_TYPE;
    rsp[1] = 1;
    memcpy(rsp + 4, iocb + 4, 4);       /* handle */
    for (i = 0; i < 28; i++) {
        stw_le_p(rsp + 8 + 2 * i, mb[i]);
    }
    isp_rsp_post(s, rsp);
    isp_after_command(s);
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

/*
 * Request-queue doorbell: consume entries from req_q_out up to req_q_in.
 * A head entry owns entry_count slots (continuations follow it,
 * qla_iocb.c); an entry_count of 0 or past the producer index is
 * RF_INV_E_COUNT, an unknown type RF_INV_E_TYPE (qla_def.h RF_*).
 */
static void isp_process_request_queue(IspState *s)
{
    uint8_t iocb[IOCB_SIZE];
    uint32_t len = s->icb.req_q_len;
    uint32_t avail, count;

    if (!s->fw_initialized || len == 0) {
        return;
    }
    if (s->req_q_in >= len) {
        qemu_log_mask(LOG_GUEST_ERROR,
                      "qla2532: req_q_in %u beyond ring of %u entries\n",
                      s->req_q_in, len);
        return;
    }
    while (s->req_q_out != s->req_q_in) {
        if (!isp_req_read(s, s->req_q_out, iocb)) {
            return;
        }
        avail = (s->req_q_in + len - s->req_q_out) % len;
        count = iocb[1];
        trace_qla2532_iocb(s->port_no, s->req_q_out, iocb[0], count,
                           ldl_le_p(iocb + 4));
        if (count == 0 || count > avail) {
            isp_rsp_entry_error(s, iocb, RF_INV_E_COUNT);
            count = 1;
        } else {
            switch (iocb[0]) {
            case ET_MARKER_TYPE:
                /*
                 * Markers resynchronise the firmware's per-LUN queues; the
                 * driver ignores completions of the skip handle
                 * (qla_def.h QLA_SKIP_HANDLE), so only others come back.
                 */
                if (ldl_le_p(iocb + 4) != 0x0fffffff) {
                    uint8_t rsp[IOCB_SIZE];

                    memcpy(rsp, iocb, IOCB_SIZE);
                    rsp[1] = 1;
                    rsp[3] = 0;
                    isp_rsp_post(s, rsp);
                }
                break;
            case ET_MBX_IOCB_TYPE:
                isp_iocb_mbx(s, iocb);
                break;
            case ET_LOGINOUT:
                isp_iocb_loginout(s, iocb);
                break;
            case ET_ELS:
                isp_iocb_els(s, iocb);
                break;
            case ET_NOTIFY_ACK:
                isp_iocb_notify_ack(s, iocb);
                break;
            case ET_CTIO_TYPE7:
                isp_iocb_ctio(s, iocb, s->req_q_out, count);
                break;
            case ET_ABTS_RESP:
                isp_iocb_abts_resp(s, iocb);
                break;
            case ET_ABORT:
                isp_iocb_abort(s, iocb);
                break;
            case ET_CONTINUE_A64_TYPE:
                /* a continuation without its head entry */
                isp_rsp_entry_error(s, iocb, RF_INV_E_ORDER);
                break;
            default:
                isp_rsp_entry_error(s, iocb, RF_INV_E_TYPE);
                break;
            }
        }
        s->req_q_out = (s->req_q_out + count) % len;
    }
}

/* ---------------------------------------------------------------------- */
/* Link                                                                   */
/* ---------------------------------------------------------------------- */

/*
 * The port's link changed (fc-link.c).  The firmware reports it with the
 * asynchronous events the driver handles in qla_isr.c qla2x00_async_event:
 * LIP OCCURRED when loop initialisation starts (mb1 = LIP type), LIP RESET
 * for a LIP addressed to us, LOOP DOWN when light is lost, and LOOP UP
 * (mb1 = speed) when the port has its address.  What follows LOOP UP (the
 * global PORT UPDATE, RIDA point to point, logins) is in isp-els.c.
 */
static void isp_port_link_event(FcPort *port, FcLinkEvent ev, uint16_t lip)
{
    IspState *s = port->opaque;
    IspLinkState old = s->link;

    switch (ev) {
    case FC_EV_LIP:
        s->link = ISP_LINK_INIT;
        s->stat_lip++;
        isp_tgt_link_event(s);
        isp_els_link_event(s, ev);
        isp_post_aen(s, MBA_LIP_OCCURRED, lip, 0, 0);
        break;
    case FC_EV_LIP_RESET:
        s->link = ISP_LINK_INIT;
        isp_tgt_link_event(s);
        isp_els_link_event(s, ev);
        isp_post_aen(s, MBA_LIP_RESET, lip, 0, 0);
        break;
    case FC_EV_LINK_DOWN:
        s->link = ISP_LINK_DOWN;
        if (old != ISP_LINK_DOWN) {
            s->stat_link_fail++;
        }
        isp_tgt_link_event(s);
        isp_els_link_event(s, ev);
        if (old != ISP_LINK_DOWN) {
            isp_post_aen(s, MBA_LOOP_DOWN, 0, 0, 0);
        }
        break;
    case FC_EV_LINK_UP:
        s->link = ISP_LINK_UP;
        s->stat_link_up++;
        s->port_id = port->port_id;
        if (port->link->topology == FC_TOPO_LOOP) {
            s->topology = ISP_TOPO_NL;
            s->loop_id = port->loop_id;
        } else {
            s->topology = ISP_TOPO_N2N;
            s->loop_id = 0;
        }
        trace_qla2532_link_up(s->port_no, s->topology, s->loop_id,
                              s->port_id, s->link_speed);
        isp_post_aen(s, MBA_LOOP_UP, s->link_speed, 0, 0);
        isp_els_link_event(s, ev);
        break;
    }
}

/* Every frame the ISP sends goes through here (counted for MBC 0x6d). */
void isp_link_send(IspState *s, FcFrame *f)
{
    s->stat_tx_frames++;
    fc_link_send(&s->port, f);
}

/* A frame for this port: extended link services (isp-els.c), FCP and
 * basic link services (isp-tgt.c, target mode). */
static void isp_port_receive(FcPort *port, const FcFrame *f)
{
    IspState *s = port->opaque;

    s->stat_rx_frames++;
    if (fc_type(f) == FC_TYPE_ELS) {
        isp_els_receive(s, f);
    } else if (s->fw_initialized && s->icb.atio_q_addr &&
               (s->icb.fw_options[0] & ISP_FO1_TARGET_MODE)) {
        isp_tgt_receive(s, f);
    }
}

static const FcPortOps isp_port_ops = {
    .link_event = isp_port_link_event,
    .receive = isp_port_receive,
};

/* Leave the link (reset, stop firmware): the partner sees loss of light. */
static void isp_port_offline(IspState *s)
{
    /* a firmware that stopped reports nothing more (no LOOP DOWN) */
    s->fw_initialized = false;
    s->go_online = false;
    if (s->port.link) {
        fc_link_set_online(&s->port, false);
    }
    s->link = ISP_LINK_DOWN;
}

/* After a command's completion is posted: join the link if it asked. */
static void isp_after_command(IspState *s)
{
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

/* ---------------------------------------------------------------------- */
/* Mailbox commands                                                       */
/* ---------------------------------------------------------------------- */

static IspFwSegment *isp_find_segment(IspState *s, uint32_t risc_addr)
{
    uint32_t i;

    for (i = 0; i < s->nsegs; i++) {
        if (s->segs[i].risc_addr == risc_addr) {
            return &s->segs[i];
        }
    }
    return NULL;
}

/*
 * MBC 0x0b LOAD RISC RAM EXTENDED (qla_mbx.c qla2x00_load_ram): mb8:mb1 RISC
 * address, mb2/3/6/7 DMA address, mb4:mb5 dword count.  The data is the
 * firmware image swapped to little-endian dwords (qla_init.c
 * qla24xx_load_risc_blob); a chunk whose dword 2 is its own load address is a
 * segment header, remembered for VERIFY CHECKSUM / EXECUTE FIRMWARE.
 */
static int mbc_load_risc_ram(IspState *s, uint16_t *mb)
{
    uint32_t risc = (uint32_t)mb[8] << 16 | mb[1];
    uint32_t dwords = (uint32_t)mb[4] << 16 | mb[5];
    uint64_t dma = isp_mb_dma_addr(mb);
    g_autofree uint8_t *buf = NULL;
    IspFwSegment *seg;
    int i;

    uint32_t flash_dw = ISP_FLASH_SIZE / 4;
    bool to_flash = risc >= FARX_ACCESS_FLASH_DATA &&
                    risc - FARX_ACCESS_FLASH_DATA < flash_dw &&
                    dwords <= flash_dw - (risc - FARX_ACCESS_FLASH_DATA);

    if (dwords == 0 || (uint64_t)dwords * 4 > ISP_MAX_MBOX_DMA ||
        (!to_flash && (risc < ISP_RISC_RAM_START ||
                       risc >= ISP_RISC_RAM_END ||
                       dwords > ISP_RISC_RAM_END - risc))) {
        return MBS_COMMAND_ERROR;
    }
    buf = g_malloc(dwords * 4);
    if (s->ops->dma_read(s->opaque, dma, buf, dwords * 4) != MEMTX_OK) {
        return MBS_COMMAND_ERROR;
    }
    if (to_flash) {
        /*
         * The driver's fast flash write (qla_sup.c qla24xx_write_flash_data
         * via qla2x00_load_ram) targets the flash window: NOR programming,
         * bits only go from 1 to 0 until the sector is erased.
         */
        uint8_t *dst = s->flash + (risc - FARX_ACCESS_FLASH_DATA) * 4;
        uint32_t i;

        if (!(s->ctrl_status & CSRX_FLASH_ENABLE)) {
            return MBS_COMMAND_ERROR;
        }
        for (i = 0; i < dwords * 4; i++) {
            dst[i] &= buf[i];
        }
        return MBS_COMMAND_COMPLETE;
    }
    if (dwords >= 8 && ldl_le_p(buf + 8) == risc) {
        seg = isp_find_segment(s, risc);
        if (!seg && s->nsegs < ISP_MAX_FW_SEGMENTS) {
            seg = &s->segs[s->nsegs++];
        }
        if (seg) {
            seg->risc_addr = risc;
            seg->dwords = ldl_le_p(buf + 12);
            for (i = 0; i < 4; i++) {
                seg->version[i] = ldl_le_p(buf + 16 + 4 * i);
            }
            trace_qla2532_fw_segment(s->port_no, risc, seg->dwords,
                                     seg->version[0], seg->version[1],
                                     seg->version[2]);
        }
    }
    return MBS_COMMAND_COMPLETE;
}

/*
 * MBC 0x0c DUMP RISC RAM EXTENDED (qla_mbx.c qla2x00_dump_ram): the driver's
 * fast flash read (qla_sup.c qla25xx_read_optrom_data) reads RISC addresses
 * 0x7ff00000 + flash dword, which return flash bytes in flash order.  RISC
 * RAM itself is not modelled and reads as zeros.
 */
static int mbc_dump_risc_ram(IspState *s, uint16_t *mb)
{
    uint32_t risc = (uint32_t)mb[8] << 16 | mb[1];
    uint32_t dwords = (uint32_t)mb[4] << 16 | mb[5];
    uint64_t dma = isp_mb_dma_addr(mb);
    g_autofree uint8_t *zero = NULL;
    const uint8_t *src;
    uint32_t flash_dw = ISP_FLASH_SIZE / 4;

    if (dwords == 0 || (uint64_t)dwords * 4 > ISP_MAX_MBOX_DMA) {
        return MBS_COMMAND_ERROR;
    }
    if (risc >= FARX_ACCESS_FLASH_DATA &&
        risc - FARX_ACCESS_FLASH_DATA < flash_dw &&
        dwords <= flash_dw - (risc - FARX_ACCESS_FLASH_DATA)) {
        src = s->flash + (risc - FARX_ACCESS_FLASH_DATA) * 4;
    } else if (risc >= ISP_RISC_RAM_START && risc < ISP_RISC_RAM_END &&
               dwords <= ISP_RISC_RAM_END - risc) {
        zero = g_malloc0(dwords * 4);
        src = zero;
    } else {
        return MBS_COMMAND_ERROR;
    }
    if (s->ops->dma_write(s->opaque, dma, src, dwords * 4) != MEMTX_OK) {
        return MBS_COMMAND_ERROR;
    }
    return MBS_COMMAND_COMPLETE;
}

/*
 * MBC 0x02 EXECUTE FIRMWARE (qla_mbx.c qla2x00_execute_fw): mb1:mb2 start
 * address.  Only an address where a segment header was loaded starts.
 */
static int mbc_execute_firmware(IspState *s, uint16_t *mb, int *nout)
{
    IspFwSegment *seg = isp_find_segment(s, (uint32_t)mb[1] << 16 | mb[2]);

    if (!seg) {
        return MBS_COMMAND_ERROR;
    }
    memcpy(s->fw_version, seg->version, sizeof(s->fw_version));
    s->risc = ISP_RISC_FW;
    trace_qla2532_fw_start(s->port_no, seg->risc_addr);
    /* mb1 exchange count, mb2/mb3 ability mask: debug prints only. */
    mb[1] = 0;
    mb[2] = 0;
    mb[3] = 0;
    mb[5] = 0;
    *nout = 6;
    return MBS_COMMAND_COMPLETE;
}

/*
 * MBC 0x08 GET FIRMWARE VERSION (qla_mbx.c qla2x00_get_fw_version):
 * mb1..3 version, mb4/mb5 memory size, mb6 attributes, mb15..17 extended
 * attributes.  BIT_2 (NPIV) is required: without it the driver uses MBC 0x60,
 * which it refuses to send during the ISP abort that enables target mode
 * (qla_mbx.c rom_cmds[]).  BIT_6 (multiqueue) and the NVMe bits in mb15/mb17
 * stay clear: the 2532 has neither.
 */
static int mbc_get_firmware_version(IspState *s, uint16_t *mb, int *nout)
{
    uint32_t mem_size = ISP_RISC_RAM_END - 1;

    mb[1] = s->fw_version[0];
    mb[2] = s->fw_version[1];
    mb[3] = s->fw_version[2];
    mb[4] = LSW(mem_size);
    mb[5] = MSW(mem_size);
    mb[6] = 0x0004;
    memset(&mb[7], 0, 11 * sizeof(uint16_t));
    *nout = 18;
    return MBS_COMMAND_COMPLETE;
}

/*
 * MBC 0x31 READ SFP (qla_mbx.c qla2x00_read_sfp): mb1 device address (0xa0
 * or 0xa2), mb8 length, mb9 offset, mb10 options (BIT_0: one byte, returned
 * in mb1), DMA address in mb2/3/6/7.
 */
static int mbc_read_sfp(IspState *s, uint16_t *mb, int *nout)
{
    const uint8_t *page;
    uint16_t len = mb[8], off = mb[9];

    if ((mb[1] & 0xff) == 0xa0) {
        page = s->sfp_a0;
    } else if ((mb[1] & 0xff) == 0xa2) {
        page = s->sfp_a2;
    } else {
        return MBS_COMMAND_ERROR;
    }
    if (len == 0 || off >= 256 || len > 256 - off) {
        return MBS_COMMAND_ERROR;
    }
    if (mb[10] & 1) {
        mb[1] = page[off];
        *nout = 2;
        return MBS_COMMAND_COMPLETE;
    }
    if (s->ops->dma_write(s->opaque, isp_mb_dma_addr(mb), page + off, len)
        != MEMTX_OK) {
        return MBS_COMMAND_ERROR;
    }
    return MBS_COMMAND_COMPLETE;
}

/*
 * MBC 0x42 GET RESOURCE COUNTS (qla_mbx.c qla2x00_get_resource_cnts).
 * num_outstanding_cmds = min(mb3, mb7) (qla_init.c
 * qla2x00_alloc_outstanding_cmds); zero counts leave the driver unable to
 * issue I/O.  Values chosen: 2048 exchanges and IOCBs, 127 NPIV ports.
 */
static int mbc_get_resource_counts(IspState *s, uint16_t *mb, int *nout)
{
    mb[1] = 0;          /* original target exchange count */
    mb[2] = 0;          /* current target exchange count */
    mb[3] = 2048;       /* current exchange count */
    mb[4] = 0;
    mb[5] = 0;
    mb[6] = 2048;       /* original exchange count */
    mb[7] = 2048;       /* current IOCB count */
    mb[8] = 0;
    mb[9] = 0;
    mb[10] = 2048;      /* original IOCB count */
    mb[11] = 127;       /* maximum NPIV ports */
    *nout = 12;
    return MBS_COMMAND_COMPLETE;
}

/*
 * MBC 0x48 MID INITIALIZE FIRMWARE / 0x60 INITIALIZE FIRMWARE (qla_mbx.c
 * qla2x00_init_firmware): DMA the initialization control block (struct
 * init_cb_24xx, qla_fw.h; filled by qla_init.c qla24xx_config_rings and
 * qla24xx_nvram_config), take the rings, reset their indices, start the link.
 */
static int mbc_init_firmware(IspState *s, uint16_t *mb)
{
    uint8_t icb[128];
    IspIcb *c = &s->icb;

    if (s->ops->dma_read(s->opaque, isp_mb_dma_addr(mb), icb, sizeof(icb))
        != MEMTX_OK) {
        return MBS_COMMAND_ERROR;
    }
    memset(c, 0, sizeof(*c));
    c->version = lduw_le_p(icb + 0);
    c->frame_payload_size = lduw_le_p(icb + 4);
    c->execution_throttle = lduw_le_p(icb + 6);
    c->exchange_count = lduw_le_p(icb + 8);
    c->hard_address = lduw_le_p(icb + 10);
    c->port_name = ldq_be_p(icb + 12);
    c->node_name = ldq_be_p(icb + 20);
    c->login_retry_count = lduw_le_p(icb + 32);
    c->rsp_q_len = lduw_le_p(icb + 36);
    c->req_q_len = lduw_le_p(icb + 38);
    c->link_down_on_nos = lduw_le_p(icb + 40);
    c->req_q_addr = ldq_le_p(icb + 44);
    c->rsp_q_addr = ldq_le_p(icb + 52);
    c->atio_q_len = lduw_le_p(icb + 78);
    c->atio_q_addr = ldq_le_p(icb + 80);
    c->interrupt_delay_timer = lduw_le_p(icb + 88);
    c->login_timeout = lduw_le_p(icb + 90);
    c->fw_options[0] = ldl_le_p(icb + 92);
    c->fw_options[1] = ldl_le_p(icb + 96);
    c->fw_options[2] = ldl_le_p(icb + 100);
    trace_qla2532_icb(s->port_no, c->port_name, c->req_q_len, c->rsp_q_len,
                      c->atio_q_len, c->fw_options[0], c->fw_options[1],
                      c->fw_options[2]);

    /* Rings need at least two entries and an address (chosen checks). */
    if (c->req_q_len < 2 || c->rsp_q_len < 2 || !c->req_q_addr ||
        !c->rsp_q_addr || (c->atio_q_addr && c->atio_q_len < 2) ||
        c->frame_payload_size < 256 || c->frame_payload_size > 2112) {
        memset(c, 0, sizeof(*c));
        s->fw_initialized = false;
        return MBS_COMMAND_ERROR;
    }
    s->req_q_in = s->req_q_out = 0;
    s->rsp_q_in = s->rsp_q_out = 0;
    s->atio_q_in = s->atio_q_out = 0;
    s->fw_initialized = true;
    s->link = ISP_LINK_DOWN;
    s->go_online = true;
    return MBS_COMMAND_COMPLETE;
}

/*
 * MBC 0x20 GET ADAPTER LOOP ID (qla_mbx.c qla2x00_get_adapter_id): mb1 loop
 * ID / N_Port handle, mb2 area:al_pa, mb3 domain, mb6 topology, mb7 switch
 * capabilities.  While the loop is not up: 0x4005 with mb1 = 7, which the
 * driver treats as "loop in transition" (qla_init.c
 * qla2x00_configure_hba).
 */
static int mbc_get_adapter_loop_id(IspState *s, uint16_t *mb, int *nout)
{
    *nout = 10;
    memset(&mb[1], 0, 9 * sizeof(uint16_t));
    if (s->link != ISP_LINK_UP) {
        mb[1] = 7;
        return MBS_COMMAND_ERROR;
    }
    mb[1] = s->loop_id;
    mb[2] = s->port_id & 0xffff;
    mb[3] = (s->port_id >> 16) & 0xff;
    mb[6] = s->topology;
    return MBS_COMMAND_COMPLETE;
}

/*
 * MBC 0x63 GET FC-AL POSITION MAP (qla_mbx.c qla2x00_get_fcal_position_map):
 * 128 bytes, byte 0 the AL_PA count, then AL_PAs in loop order (FC-AL-2
 * LILP payload).
 */
static int mbc_get_position_map(IspState *s, uint16_t *mb)
{
    uint8_t map[128] = { 0 };

    if (s->link != ISP_LINK_UP || s->topology != ISP_TOPO_NL) {
        return MBS_COMMAND_ERROR;
    }
    memcpy(map, s->port.link->lilp, sizeof(map));
    if (s->ops->dma_write(s->opaque, isp_mb_dma_addr(mb), map, sizeof(map))
        != MEMTX_OK) {
        return MBS_COMMAND_ERROR;
    }
    return MBS_COMMAND_COMPLETE;
}

/*
 * MBC 0x6d GET LINK PRIVATE STATISTICS (qla_mbx.c qla24xx_get_isp_stats,
 * read by qla_attr.c qla2x00_get_fc_host_stats): struct link_statistics
 * (qla_def.h), mb8 dwords at the DMA address.  The model counts link
 * failures, LIPs, link-ups and frames; the error counters of a perfect
 * emulated link stay 0.
 */
static int mbc_get_link_stats(IspState *s, uint16_t *mb)
{
    uint32_t bytes = (uint32_t)mb[8] * 4;
    g_autofree uint8_t *st = NULL;

    if (bytes == 0 || bytes > 4096) {
        return MBS_COMMAND_ERROR;
    }
    st = g_malloc0(MAX(bytes, 148));
    stl_le_p(st + 0, s->stat_link_fail);
    stl_le_p(st + 24, s->stat_lip);
    stl_le_p(st + 28, s->stat_link_up);
    stl_le_p(st + 132, s->stat_tx_frames);
    stl_le_p(st + 136, s->stat_rx_frames);
    if (s->ops->dma_write(s->opaque, isp_mb_dma_addr(mb), st, bytes)
        != MEMTX_OK) {
        return MBS_COMMAND_ERROR;
    }
    if (mb[10] & 1) {               /* options BIT_0: reset after reading */
        s->stat_link_fail = s->stat_lip = s->stat_link_up = 0;
        s->stat_tx_frames = s->stat_rx_frames = 0;
    }
    return MBS_COMMAND_COMPLETE;
}

/*
 * Execute the mailbox command in @mb (mb[0] = opcode).  Returns the
 * completion status; outgoing values are left in @mb[1..*nout-1].
 * The ROM accepts only the commands the driver sends before EXECUTE
 * FIRMWARE (qla_init.c qla2x00_initialize_adapter up to
 * qla2x00_setup_chip); everything unknown is 0x4001 INVALID COMMAND
 * (qla_def.h MBS_INVALID_COMMAND).
 */
static int isp_mbox_execute(IspState *s, uint16_t *mb, int *nout)
{
    uint16_t op = mb[0];
    bool fw = s->risc == ISP_RISC_FW;

    *nout = 1;
    switch (op) {
    case MBC_MAILBOX_REGISTER_TEST:
        /* qla_mbx.c qla2x00_mbx_reg_test: mb1..mb7 come back unchanged */
        *nout = 8;
        return MBS_COMMAND_COMPLETE;
    case MBC_LOAD_RISC_RAM_EXTENDED:
        return mbc_load_risc_ram(s, mb);
    case MBC_DUMP_RISC_RAM_EXTENDED:
        return mbc_dump_risc_ram(s, mb);
    case MBC_VERIFY_CHECKSUM:
        /* qla_mbx.c qla2x00_verify_checksum: mb1:mb2 start address */
        if (!isp_find_segment(s, (uint32_t)mb[1] << 16 | mb[2])) {
            mb[1] = mb[2] = 0xffff;
            *nout = 3;
            return MBS_CHECKSUM_ERROR;
        }
        return MBS_COMMAND_COMPLETE;
    case MBC_EXECUTE_FIRMWARE:
        return fw ? MBS_COMMAND_ERROR : mbc_execute_firmware(s, mb, nout);
    }
    if (!fw) {
        return MBS_INVALID_COMMAND;
    }

    switch (op) {
    case MBC_NOP:
        return MBS_COMMAND_COMPLETE;
    case MBC_GET_FIRMWARE_VERSION:
        return mbc_get_firmware_version(s, mb, nout);
    case MBC_SERDES_PARAMS:
        return MBS_COMMAND_COMPLETE;
    case MBC_STOP_FIRMWARE:
        /* qla_init.c qla2x00_try_to_stop_firmware; the ROM takes over */
        s->risc = ISP_RISC_ROM;
        s->fw_initialized = false;
        isp_port_offline(s);
        return MBS_COMMAND_COMPLETE;
    case MBC_TRACE_CONTROL:
        /* EFT/FCE buffers (qla_mbx.c qla2x00_enable_eft_trace): accepted,
         * no trace is written */
        mb[1] = 0;
        *nout = 2;
        return MBS_COMMAND_COMPLETE;
    case MBC_GET_FIRMWARE_OPTION:
        mb[1] = s->fw_options[1];
        mb[2] = s->fw_options[2];
        mb[3] = s->fw_options[3];
        *nout = 4;
        return MBS_COMMAND_COMPLETE;
    case MBC_SET_FIRMWARE_OPTION:
        /* qla_mbx.c qla2x00_set_fw_options: mb1..3 and mb10 */
        s->fw_options[1] = mb[1];
        s->fw_options[2] = mb[2];
        s->fw_options[3] = mb[3];
        s->fw_options[10] = mb[10];
        mb[1] = 0;
        *nout = 2;
        return MBS_COMMAND_COMPLETE;
    case MBC_READ_SFP:
        return mbc_read_sfp(s, mb, nout);
    case MBC_GET_RESOURCE_COUNTS:
        return mbc_get_resource_counts(s, mb, nout);
    case MBC_MID_INITIALIZE_FIRMWARE:
    case MBC_INITIALIZE_FIRMWARE:
        return mbc_init_firmware(s, mb);
    case MBC_SET_RNID_PARAMS:
        /* driver version string (qla_mbx.c qla25xx_set_driver_version) */
        return MBS_COMMAND_COMPLETE;
    case MBC_GET_FIRMWARE_STATE:
        /* qla_mbx.c qla2x00_get_firmware_state: mb1 FSTATE_* */
        memset(&mb[1], 0, 6 * sizeof(uint16_t));
        if (!s->fw_initialized) {
            mb[1] = FSTATE_CONFIG_WAIT;
        } else if (s->link == ISP_LINK_DOWN) {
            mb[1] = FSTATE_LOSS_OF_SYNC;
        } else if (s->link == ISP_LINK_INIT) {
            mb[1] = FSTATE_WAIT_AL_PA;
        } else if (s->port_update_pending) {
            mb[1] = FSTATE_WAIT_LOGIN;
        } else {
            mb[1] = FSTATE_READY;
        }
        *nout = 7;
        return MBS_COMMAND_COMPLETE;
    case MBC_GET_RETRY_COUNT:
        /* qla_mbx.c qla2x00_get_retry_cnt: mb1 retries, mb3 R_A_TOV in
         * 50 ms units (driver: r_a_tov = mb3 / 2 in 100 ms) */
        mb[1] = s->icb.login_retry_count;
        mb[2] = 0;
        mb[3] = 200;
        *nout = 4;
        return MBS_COMMAND_COMPLETE;
    case MBC_GET_ADAPTER_LOOP_ID:
        return mbc_get_adapter_loop_id(s, mb, nout);
    case MBC_DATA_RATE:
        /* qla_mbx.c qla2x00_get_data_rate (mb1 = 0: get) */
        if (mb[1] != 0) {
            return MBS_COMMAND_ERROR;
        }
        if (s->link != ISP_LINK_UP) {
            return MBS_COMMAND_ERROR;
        }
        mb[1] = s->link_speed;
        mb[2] = 0;
        mb[3] = 0;
        mb[4] = 0;
        *nout = 5;
        return MBS_COMMAND_COMPLETE;
    case MBC_GET_ID_LIST:
        return isp_mbc_get_id_list(s, mb, nout);
    case MBC_GET_FC_AL_POSITION_MAP:
        return mbc_get_position_map(s, mb);
    case MBC_GET_PORT_DATABASE:
        return isp_mbc_get_port_database(s, mb);
    case MBC_GET_LINK_PRIV_STATS:
        return mbc_get_link_stats(s, mb);
    case MBC_GET_PORT_NAME_LIST:
        return isp_mbc_get_port_name_list(s, mb, nout);
    case MBC_GET_RNID_PARAMS:
        return isp_mbc_get_login_template(s, mb);
    case MBC_GET_PORT_NAME:
        return isp_mbc_get_port_name(s, mb, nout);
    case MBC_SEND_CHANGE_REQUEST:
        /*
         * SCR to the fabric controller (qla_mbx.c
         * qla2x00_send_change_request; SCST legacy qla2x00t.c registers
         * for RSCNs on every PLOGI).  [fw?] Without a fabric (loop, point
         * to point) there is no controller to send it to: the command
         * fails, which the drivers expect ("OK for non-fabric setups").
         * This model has no fabric topology, so it always fails.
         */
        return MBS_COMMAND_ERROR;
    case MBC_LIP_FULL_LOGIN:
        /* qla_mbx.c qla2x00_full_login_lip: re-initialise the loop, after
         * the completion (a command's events follow its completion) */
        if (!s->fw_initialized || !s->port.online) {
            return MBS_COMMAND_ERROR;
        }
        s->lip_pending = true;
        /* mb1 BIT_4: full login (qla2x00_full_login_lip sets it on
         * FWI2 ISPs): the LIP logs every port out */
        s->full_login_pending = mb[1] & (1u << 4);
        return MBS_COMMAND_COMPLETE;
    default:
        return MBS_INVALID_COMMAND;
    }
}

/* Mailbox completion: the doorbell's command has run for mbox_latency_ns. */
static void isp_mbox_timer_cb(void *opaque)
{
    IspState *s = opaque;
    uint16_t mb[ISP_NUM_MAILBOXES];
    bool rom = s->risc != ISP_RISC_FW;
    int status, nout = 1;
    uint8_t code;

    if (!s->mbox_busy) {
        return;
    }
    memcpy(mb, s->mbox_cmd, sizeof(mb));
    status = isp_mbox_execute(s, mb, &nout);
    mb[0] = status;
    trace_qla2532_mbox_done(s->port_no, s->mbox_cmd[0], status, mb[1], mb[2],
                            mb[3]);
    /*
     * The completion type says who answered: 0x01/0x02 the ROM, 0x10/0x11
     * the firmware (qla_def.h INTR_*); the driver accepts all four.  A
     * command that started the firmware is answered by the ROM.
     */
    if (status == MBS_COMMAND_COMPLETE) {
        code = rom ? INTR_ROM_MB_SUCCESS : INTR_MB_SUCCESS;
    } else {
        code = rom ? INTR_ROM_MB_FAILED : INTR_MB_FAILED;
    }
    s->mbox_busy = false;
    isp_post_event(s, ISP_EV_MBOX, code, mb, MAX(nout, 1));
    isp_after_command(s);
}

/* hccr SET_HOST_INT: the driver loaded the mailboxes (qla_mbx.c
 * qla2x00_mailbox_command writes all 32, then this doorbell). */
static void isp_mbox_doorbell(IspState *s)
{
    if (s->risc == ISP_RISC_RESET || s->mbox_busy) {
        return;
    }
    memcpy(s->mbox_cmd, s->mbox_in, sizeof(s->mbox_cmd));
    s->mbox_busy = true;
    trace_qla2532_mbox_cmd(s->port_no, s->mbox_cmd[0], s->mbox_cmd[1],
                           s->mbox_cmd[2], s->mbox_cmd[3]);
    timer_mod(s->mbox_timer, qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) +
              s->mbox_latency_ns);
}

/* ---------------------------------------------------------------------- */
/* Reset and flash                                                        */
/* ---------------------------------------------------------------------- */

/* Drop the firmware: RISC back to @risc, rings and events forgotten. */
static void isp_risc_reset(IspState *s, IspRiscState risc)
{
    timer_del(s->mbox_timer);
    isp_port_offline(s);
    s->mbox_busy = false;
    memset(s->mbox_in, 0, sizeof(s->mbox_in));
    memset(s->mbox_out, 0, sizeof(s->mbox_out));
    s->ev_head = s->ev_count = 0;
    s->ev_presented = false;
    s->host_status = 0;
    s->risc_paused = false;
    s->lip_pending = false;
    s->full_login_pending = false;
    s->risc = risc;
    s->nsegs = 0;
    memset(s->segs, 0, sizeof(s->segs));
    memset(s->fw_version, 0, sizeof(s->fw_version));
    memset(s->fw_options, 0, sizeof(s->fw_options));
    memset(&s->icb, 0, sizeof(s->icb));
    s->fw_initialized = false;
    s->req_q_in = s->req_q_out = 0;
    s->rsp_q_in = s->rsp_q_out = 0;
    s->atio_q_in = s->atio_q_out = 0;
    s->loop_id = 0;
    s->port_id = 0;
    s->topology = 0;
    isp_els_reset(s);
    isp_tgt_reset(s);
    trace_qla2532_reset(s->port_no, risc);
    isp_update_irq(s);
}

void isp_reset(IspState *s)
{
    /*
     * The driver never clears CSRX_DMA_SHUTDOWN after qla24xx_reset_risc,
     * so the soft reset leaves ctrl_status all clear.  Interrupts come back
     * disabled (the driver re-enables them, qla_os.c
     * qla24xx_enable_intrs).
     */
    s->ctrl_status = 0;
    s->ictrl = 0;
    s->flash_addr = 0;
    s->flash_data = 0;
    s->iobase_addr = 0;
    isp_risc_reset(s, ISP_RISC_ROM);
}

/*
 * flash_addr write (qla_sup.c qla24xx_read_flash_dword /
 * qla24xx_write_flash_dword): bit 31 clear asks for a read, which completes
 * at once with bit 31 set and the dword in flash_data; bit 31 set asks to
 * write flash_data, which completes with bit 31 clear.
 */
static void isp_flash_access(IspState *s, uint32_t val)
{
    uint32_t addr = val & ~FARX_DATA_FLAG;
    uint32_t flash_dw = ISP_FLASH_SIZE / 4;
    uint32_t off;

    if (!(val & FARX_DATA_FLAG)) {
        if (addr >= FARX_ACCESS_FLASH_DATA &&
            addr - FARX_ACCESS_FLASH_DATA < flash_dw) {
            off = (addr - FARX_ACCESS_FLASH_DATA) * 4;
            s->flash_data = ldl_le_p(s->flash + off);
        } else if (addr == FARX_ACCESS_FLASH_CONF + 0x3ab ||
                   addr == FARX_ACCESS_FLASH_CONF + 0x09f) {
            /* manufacturer and device id (qla_sup.c
             * qla24xx_get_flash_manufacturer), as in the FDT */
            s->flash_data = 0x15c2;
        } else {
            s->flash_data = 0xffffffff;
            qemu_log_mask(LOG_GUEST_ERROR,
                          "qla2532: flash read at 0x%x outside flash\n",
                          addr);
        }
        s->flash_addr = addr | FARX_DATA_FLAG;
        trace_qla2532_flash_read(s->port_no, addr, s->flash_data);
        return;
    }

    if (!(s->ctrl_status & CSRX_FLASH_ENABLE)) {
        qemu_log_mask(LOG_GUEST_ERROR,
                      "qla2532: flash write at 0x%x without FLASH_ENABLE\n",
                      addr);
    } else if (addr >= FARX_ACCESS_FLASH_DATA &&
               addr - FARX_ACCESS_FLASH_DATA < flash_dw) {
        /* NOR program: bits only go from 1 to 0 until erased */
        off = (addr - FARX_ACCESS_FLASH_DATA) * 4;
        stl_le_p(s->flash + off, ldl_le_p(s->flash + off) & s->flash_data);
    } else if ((addr & 0xffffff00) == FARX_ACCESS_FLASH_CONF + 0x300 &&
               (addr & 0xff) == 0xd8) {
        /* sector erase (FDT erase_cmd 0xd8): flash_data is the dword
         * address inside the 64 KiB sector (qla_sup.c
         * qla24xx_erase_sector) */
        off = (s->flash_data * 4) & ~(0x10000u - 1);
        if (off < ISP_FLASH_SIZE) {
            memset(s->flash + off, 0xff, 0x10000);
        }
    }
    trace_qla2532_flash_write(s->port_no, addr, s->flash_data);
    s->flash_addr = addr;
}

/* ---------------------------------------------------------------------- */
/* Register block                                                         */
/* ---------------------------------------------------------------------- */

static uint32_t isp_reg_read32(IspState *s, uint32_t addr)
{
    switch (addr) {
    case ISP_REG_FLASH_ADDR:
        return s->flash_addr;
    case ISP_REG_FLASH_DATA:
        return s->flash_data;
    case ISP_REG_CTRL_STATUS:
        /* DMA_ACTIVE always reads 0: DMA completes within an access */
        return s->ctrl_status | (s->port_no ? CSRX_FUNCTION : 0);
    case ISP_REG_ICTRL:
        return s->ictrl;
    case ISP_REG_ISTATUS:
        return s->ev_presented ? ISRX_RISC_INT : 0;
    case ISP_REG_REQ_Q_IN:
        return s->req_q_in;
    case ISP_REG_REQ_Q_OUT:
        return s->req_q_out;
    case ISP_REG_RSP_Q_IN:
        return s->rsp_q_in;
    case ISP_REG_RSP_Q_OUT:
        return s->rsp_q_out;
    case ISP_REG_ATIO_Q_IN:
        return s->atio_q_in;
    case ISP_REG_ATIO_Q_OUT:
        return s->atio_q_out;
    case ISP_REG_HOST_STATUS:
        return s->host_status | (s->risc_paused ? HSRX_RISC_PAUSED : 0);
    case ISP_REG_HCCR:
        return (s->risc == ISP_RISC_RESET ? HCCRX_STAT_RISC_RESET : 0) |
               (s->mbox_busy ? HCCRX_STAT_HOST_INT : 0);
    case ISP_REG_IOBASE_ADDR:
        return s->iobase_addr;
    default:
        return 0;
    }
}

static void isp_hccr_write(IspState *s, uint32_t val)
{
    switch (val & HCCRX_CMD_MASK) {
    case HCCRX_SET_RISC_RESET:
        isp_risc_reset(s, ISP_RISC_RESET);
        break;
    case HCCRX_CLR_RISC_RESET:
        /* the boot ROM runs; mailbox0 reads 0 when it is ready
         * (qla_init.c qla24xx_reset_risc) */
        if (s->risc == ISP_RISC_RESET) {
            s->risc = ISP_RISC_ROM;
        }
        break;
    case HCCRX_SET_HOST_INT:
        isp_mbox_doorbell(s);
        break;
    case HCCRX_CLR_RISC_INT:
        isp_event_ack(s);
        break;
    case HCCRX_SET_RISC_PAUSE:
        /* only the driver pauses the RISC (qla_dbg.c qla24xx_pause_risc,
         * before a firmware dump); it waits for HSRX_RISC_PAUSED */
        s->risc_paused = true;
        break;
    case HCCRX_REL_RISC_PAUSE:
        s->risc_paused = false;
        break;
    case HCCRX_NOOP:
    case HCCRX_CLR_HOST_INT:
        break;
    default:
        qemu_log_mask(LOG_GUEST_ERROR, "qla2532: unknown hccr 0x%08x\n", val);
        break;
    }
}

static void isp_reg_write32(IspState *s, uint32_t addr, uint32_t val)
{
    switch (addr) {
    case ISP_REG_FLASH_ADDR:
        isp_flash_access(s, val);
        break;
    case ISP_REG_FLASH_DATA:
        s->flash_data = val;
        break;
    case ISP_REG_CTRL_STATUS:
        if (val & CSRX_ISP_SOFT_RESET) {
            /* self-clearing; the driver polls only 60 x 5 us for it */
            isp_reset(s);
        } else {
            s->ctrl_status = val & CSRX_WRITABLE_MASK;
        }
        break;
    case ISP_REG_ICTRL:
        s->ictrl = val & ICRX_EN_RISC_INT;
        isp_update_irq(s);
        break;
    case ISP_REG_REQ_Q_IN:
        s->req_q_in = val & 0xffff;
        isp_process_request_queue(s);
        break;
    case ISP_REG_REQ_Q_OUT:
        /* written 0 by qla24xx_config_rings before INITIALIZE FIRMWARE */
        if (!s->fw_initialized) {
            s->req_q_out = val & 0xffff;
        }
        break;
    case ISP_REG_RSP_Q_IN:
        if (!s->fw_initialized) {
            s->rsp_q_in = val & 0xffff;
        }
        break;
    case ISP_REG_RSP_Q_OUT:
        s->rsp_q_out = val & 0xffff;
        break;
    case ISP_REG_ATIO_Q_IN:
        if (!s->fw_initialized) {
            s->atio_q_in = val & 0xffff;
        }
        break;
    case ISP_REG_ATIO_Q_OUT:
        s->atio_q_out = val & 0xffff;
        break;
    case ISP_REG_HCCR:
        isp_hccr_write(s, val);
        break;
    case ISP_REG_IOBASE_ADDR:
        s->iobase_addr = val;
        break;
    case ISP_REG_HOST_STATUS:
    case ISP_REG_ISTATUS:
        break;                  /* read-only */
    default:
        qemu_log_mask(LOG_UNIMP, "qla2532: write 0x%08x to 0x%02x ignored\n",
                      val, addr);
        break;
    }
}

uint64_t isp_reg_read(IspState *s, uint32_t addr, unsigned size)
{
    uint64_t val;

    if (addr >= ISP_REG_MAILBOX0 && addr < ISP_REG_MAILBOX0 + 2 *
        ISP_NUM_MAILBOXES) {
        unsigned idx = (addr - ISP_REG_MAILBOX0) / 2;
        uint32_t pair = s->mbox_out[idx & ~1u] |
                        (uint32_t)s->mbox_out[idx | 1u] << 16;

        val = extract32(pair, (addr & 3) * 8, size * 8);
    } else {
        val = extract32(isp_reg_read32(s, addr & ~3u), (addr & 3) * 8,
                        MIN(size * 8, 32));
    }
    trace_qla2532_reg_read(s->port_no, addr, size, val);
    return val;
}

void isp_reg_write(IspState *s, uint32_t addr, uint64_t val, unsigned size)
{
    trace_qla2532_reg_write(s->port_no, addr, size, val);
    if (addr >= ISP_REG_MAILBOX0 && addr < ISP_REG_MAILBOX0 + 2 *
        ISP_NUM_MAILBOXES) {
        unsigned idx = (addr - ISP_REG_MAILBOX0) / 2;
        uint32_t pair = s->mbox_in[idx & ~1u] |
                        (uint32_t)s->mbox_in[idx | 1u] << 16;

        pair = deposit32(pair, (addr & 3) * 8, size * 8, val);
        s->mbox_in[idx & ~1u] = pair;
        s->mbox_in[idx | 1u] = pair >> 16;
        return;
    }
    if (size < 4) {
        /*
         * Narrow write to a 32-bit register: merge with its value.  For
         * flash_addr the merged-in completion flag of the last access must
         * not turn a read request into a write request.
         */
        uint32_t cur = isp_reg_read32(s, addr & ~3u);

        if ((addr & ~3u) == ISP_REG_FLASH_ADDR) {
            cur &= ~FARX_DATA_FLAG;
        }
        val = deposit32(cur, (addr & 3) * 8, size * 8, val);
    }
    isp_reg_write32(s, addr & ~3u, val);
}

/* ---------------------------------------------------------------------- */
/* Life cycle                                                             */
/* ---------------------------------------------------------------------- */

/*
 * SFP EEPROM (SFF-8472): an 8G short-wave optic.  The driver evaluates only
 * A0h byte 7 (bits 7 and 4: long-range optics need another firmware load,
 * qla_init.c qla24xx_detect_sfp); the rest is for sysfs and debug prints.
 */
static void isp_build_sfp(IspState *s)
{
    uint8_t *a0 = s->sfp_a0;
    uint8_t sum = 0;
    int i;

    memset(a0, 0, 256);
    a0[0] = 0x03;                       /* identifier: SFP */
    a0[1] = 0x04;                       /* SFP function defined by 2-wire */
    a0[2] = 0x07;                       /* connector: LC */
    a0[7] = 0x40;                       /* FC link length: short distance */
    a0[8] = 0x00;
    a0[9] = 0x0c;                       /* media: multimode 50 and 62.5 um */
    a0[10] = 0x54;                      /* speed: 800, 400, 200 MB/s */
    a0[11] = 0x01;                      /* encoding: 8B/10B */
    a0[12] = 85;                        /* nominal rate, 100 Mb/s units */
    a0[16] = 15;                        /* OM2 length, 10 m units */
    a0[17] = 5;                         /* OM1 length */
    memcpy(a0 + 20, "QLA2532-EMU     ", 16);   /* vendor name */
    memcpy(a0 + 40, "EMU-SFP-8G-SW   ", 16);   /* part number */
    memcpy(a0 + 56, "1.0 ", 4);                /* revision */
    a0[60] = 0x03;                      /* wavelength 850 nm */
    a0[61] = 0x52;
    for (i = 0; i < 63; i++) {
        sum += a0[i];
    }
    a0[63] = sum;                       /* CC_BASE */
    memset(s->sfp_a2, 0, 256);
}

void isp_init(IspState *s, const IspHostOps *ops, void *opaque,
              uint64_t wwpn, uint64_t wwnn)
{
    s->ops = ops;
    s->opaque = opaque;
    s->mbox_timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, isp_mbox_timer_cb, s);
    s->port.name = s->port_no ? "isp-port1" : "isp-port0";
    s->port.wwpn = wwpn;
    s->port.wwnn = wwnn;
    s->port.conn = FC_CONN_LOOP_P2P;
    s->port.hard_loop_id = -1;
    s->port.ops = &isp_port_ops;
    s->port.opaque = s;
    isp_build_sfp(s);
    isp_els_init(s);
    isp_tgt_init(s);
    isp_reset(s);
}

void isp_finalize(IspState *s)
{
    timer_free(s->mbox_timer);
    timer_free(s->prli_timer);
    timer_free(s->ctio_timer);
    s->mbox_timer = NULL;
    s->prli_timer = NULL;
    s->ctio_timer = NULL;
}
