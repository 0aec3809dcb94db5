/*
 * QLogic ISP2532 RISC and firmware model: the top layer.
 *
 * Registers and doorbells, the request-queue dispatcher, the port's link
 * events and frames, reset, the flash window, and the model's life cycle
 * (isp_init / isp_finalize).  The services below it are in isp-core.c,
 * logins in isp-els.c, the target path in isp-tgt.c, the mailbox engine in
 * isp-mbx.c (isp-int.h lists the layers).
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
#include "isp-int.h"
#include "trace.h"

/*
 * Request-queue doorbell: consume entries from req_q_out up to req_q_in.
 * A head entry owns entry_count slots (continuations follow it,
 * qla_iocb.c); an entry_count of 0 or past the producer index is
 * RF_INV_E_COUNT, an unknown type RF_INV_E_TYPE (qla_def.h RF_*).
 *
 * A producer index beyond the ring cannot be followed: the firmware
 * consumes nothing and posts MBA_REQ_TRANSFER_ERR 0x8003 (mb1 = the
 * index), after which the driver resets the ISP (qla_isr.c
 * qla2x00_async_event "ISP Request Transfer Error").  [fw?] the event is
 * the chosen one; the real firmware's reaction is not documented.
 *
 * The loop ends after at most one ring's worth of entries, and at once
 * if an entry reset or re-initialised the rings (@ring_gen moved): it
 * never follows indices of a ring that is gone.
 */
static void isp_process_request_queue(IspState *s)
{
    uint8_t iocb[IOCB_SIZE];
    const IspIocbHeader *h = (const IspIocbHeader *)iocb;
    uint32_t len = s->icb.req_q_len;
    uint32_t gen = s->ring_gen;
    uint32_t avail, count, taken = 0;

    /* halted: a system error stopped the firmware (MBC 0x2a) */
    if (!s->fw_initialized || len == 0 || s->halted) {
        return;
    }
    if (s->req_q_in >= len) {
        qemu_log_mask(LOG_GUEST_ERROR,
                      "qla2532: req_q_in %u beyond ring of %u entries: "
                      "REQUEST TRANSFER ERROR\n", s->req_q_in, len);
        isp_post_aen(s, MBA_REQ_TRANSFER_ERR, s->req_q_in & 0xffff, 0, 0);
        return;
    }
    while (s->req_q_out != s->req_q_in && taken < len &&
           s->ring_gen == gen) {
        if (!isp_req_read(s, s->req_q_out, iocb)) {
            return;
        }
        avail = (s->req_q_in + len - s->req_q_out) % len;
        count = h->entry_count;
        trace_qla2532_iocb(s->port_no, s->req_q_out, h->entry_type, count,
                           le32_to_cpu(h->handle));
        if (count == 0 || count > avail) {
            isp_rsp_entry_error(s, iocb, RF_INV_E_COUNT);
            count = 1;
        } else {
            switch (h->entry_type) {
            case ET_MARKER_TYPE:
                /*
                 * Markers resynchronise the firmware's per-LUN queues; the
                 * driver ignores completions of the skip handle
                 * (qla_def.h QLA_SKIP_HANDLE), so only others come back.
                 */
                if (le32_to_cpu(h->handle) != 0x0fffffff) {
                    IspMarker rsp;

                    memcpy(&rsp, iocb, sizeof(rsp));
                    rsp.hdr.entry_count = 1;
                    rsp.hdr.entry_status = 0;
                    isp_rsp_post(s, (const uint8_t *)&rsp);
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
                if (!isp_iocb_abort_fcp(s, iocb)) {
                    isp_iocb_abort(s, iocb);
                }
                break;
            case ET_COMMAND_TYPE_7:
                isp_iocb_cmd7(s, iocb, s->req_q_out, count);
                break;
            case ET_TSK_MGMT:
                isp_iocb_tsk_mgmt(s, iocb);
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
        if (s->ring_gen != gen) {
            return;             /* the entry took the ring away */
        }
        s->req_q_out = (s->req_q_out + count) % len;
        taken += count;
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
        isp_ini_link_event(s, ev);
        isp_els_link_event(s, ev);
        isp_post_aen(s, MBA_LIP_OCCURRED, lip, 0, 0);
        break;
    case FC_EV_LIP_RESET:
        s->link = ISP_LINK_INIT;
        isp_tgt_link_event(s);
        isp_ini_link_event(s, ev);
        isp_els_link_event(s, ev);
        isp_post_aen(s, MBA_LIP_RESET, lip, 0, 0);
        break;
    case FC_EV_LINK_DOWN:
        s->link = ISP_LINK_DOWN;
        if (old != ISP_LINK_DOWN) {
            s->stat_link_fail++;
        }
        isp_tgt_link_event(s);
        isp_ini_link_event(s, ev);
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

/* A frame for this port: extended link services (isp-els.c), the
 * target's frames of our FCP exchanges (isp-ini.c), FCP and basic link
 * services from an initiator (isp-tgt.c, target mode). */
static void isp_port_receive(FcPort *port, const FcFrame *f)
{
    IspState *s = port->opaque;

    s->stat_rx_frames++;
    if (fc_type(f) == FC_TYPE_ELS) {
        isp_els_receive(s, f);
    } else if ((fc_f_ctl(f) & FC_FCTL_EX_CTX) && isp_ini_receive(s, f)) {
        /* the responder's frame of an exchange we originated */
    } else if (s->fw_initialized && s->icb.atio_q_addr &&
               (s->icb.fw_options[0] & ISP_FO1_TARGET_MODE)) {
        isp_tgt_receive(s, f);
    }
}

static const FcPortOps isp_port_ops = {
    .link_event = isp_port_link_event,
    .receive = isp_port_receive,
};

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
    s->sys_err_pending = false;
    s->halted = false;
    timer_del(s->zio_timer);
    s->zio_pending = false;
    s->full_login_pending = false;
    s->risc = risc;
    s->nsegs = 0;
    memset(s->segs, 0, sizeof(s->segs));
    memset(s->fw_version, 0, sizeof(s->fw_version));
    memset(s->fw_options, 0, sizeof(s->fw_options));
    memset(&s->icb, 0, sizeof(s->icb));
    s->fw_initialized = false;
    s->ring_gen++;
    s->req_q_in = s->req_q_out = 0;
    s->rsp_q_in = s->rsp_q_out = 0;
    s->atio_q_in = s->atio_q_out = 0;
    s->loop_id = 0;
    s->port_id = 0;
    s->topology = 0;
    isp_els_reset(s);
    isp_tgt_reset(s);
    isp_ini_reset(s);
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
    uint32_t off;

    if (!(val & FARX_DATA_FLAG)) {
        if (isp_flash_window(addr, 1, &off)) {
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
    } else if (isp_flash_window(addr, 1, &off)) {
        /* NOR program: bits only go from 1 to 0 until erased */
        stl_le_p(s->flash + off, ldl_le_p(s->flash + off) & s->flash_data);
    } else if ((addr & 0xffffff00) == FARX_ACCESS_FLASH_CONF + 0x300 &&
               (addr & 0xff) == 0xd8) {
        /*
         * Sector erase (FDT erase_cmd 0xd8): flash_data is the sector's
         * byte address with bytes 0 and 2 swapped, the SPI command's
         * address order (qla_sup.c qla24xx_erase_sector: (fdata & 0xff00)
         * | (fdata << 16 & 0xff0000) | (fdata >> 16 & 0xff)).  Read as a
         * dword address until issue #12, which erased the wrong sector
         * (a VPD write wiped the boot image at 0).
         */
        off = ((s->flash_data & 0xff) << 16 | (s->flash_data & 0xff00) |
               ((s->flash_data >> 16) & 0xff)) & ~(0x10000u - 1);
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
    s->zio_timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, isp_zio_timer_cb, s);
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
    isp_ini_init(s);
    isp_reset(s);
}

void isp_finalize(IspState *s)
{
    timer_free(s->mbox_timer);
    timer_free(s->zio_timer);
    s->zio_timer = NULL;
    timer_free(s->prli_timer);
    timer_free(s->ctio_timer);
    s->mbox_timer = NULL;
    s->prli_timer = NULL;
    s->ctio_timer = NULL;
}
