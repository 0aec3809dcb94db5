/*
 * QLogic ISP2532 firmware model: the mailbox engine.
 *
 * The driver loads the incoming mailboxes and rings the doorbell
 * (qla_mbx.c qla2x00_mailbox_command); the command runs for
 * mbox-latency-ns of virtual time, then its completion is posted as an
 * event with the outgoing mailboxes.  Commands are dispatched through a
 * table (opcode, where it is accepted, handler, the driver code that issues
 * it); the same commands come in the request queue as MBX IOCBs.
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/log.h"
#include "qemu/timer.h"
#include "qemu/units.h"
#include "isp-int.h"
#include "trace.h"

#define LSW(x)  ((uint16_t)(x))
#define MSW(x)  ((uint16_t)((x) >> 16))

/* Whether the @dwords RISC words from @risc lie inside [@start, @end). */
static bool isp_risc_range(uint32_t risc, uint32_t dwords, uint32_t start,
                           uint32_t end)
{
    return risc >= start && risc < end && dwords <= end - risc;
}

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

/* MBC 0x06 MAILBOX REGISTER TEST (qla_mbx.c qla2x00_mbx_reg_test): mb1..mb7
 * come back unchanged. */
static int mbc_mailbox_register_test(IspState *s, uint16_t *mb, int *nout)
{
    *nout = 8;
    return MBS_COMMAND_COMPLETE;
}

/* MBC 0x07 VERIFY CHECKSUM (qla_mbx.c qla2x00_verify_checksum): mb1:mb2 the
 * start address of a loaded segment. */
static int mbc_verify_checksum(IspState *s, uint16_t *mb, int *nout)
{
    if (!isp_find_segment(s, (uint32_t)mb[1] << 16 | mb[2])) {
        mb[1] = mb[2] = 0xffff;
        *nout = 3;
        return MBS_CHECKSUM_ERROR;
    }
    return MBS_COMMAND_COMPLETE;
}

/* Commands the model completes without effect: MBC 0x00 NOP, 0x10 SERDES
 * PARAMS (qla_mbx.c qla2x00_set_serdes_params), 0x59 SET RNID PARAMS
 * (driver version string, qla_mbx.c qla25xx_set_driver_version). */
static int mbc_complete(IspState *s, uint16_t *mb, int *nout)
{
    return MBS_COMMAND_COMPLETE;
}

/* MBC 0x14 STOP FIRMWARE (qla_init.c qla2x00_try_to_stop_firmware): the
 * ROM takes over. */
static int mbc_stop_firmware(IspState *s, uint16_t *mb, int *nout)
{
    s->risc = ISP_RISC_ROM;
    s->fw_initialized = false;
    isp_port_offline(s);
    return MBS_COMMAND_COMPLETE;
}

/* MBC 0x27 TRACE CONTROL: EFT/FCE buffers (qla_mbx.c
 * qla2x00_enable_eft_trace), accepted; no trace is written. */
static int mbc_trace_control(IspState *s, uint16_t *mb, int *nout)
{
    mb[1] = 0;
    *nout = 2;
    return MBS_COMMAND_COMPLETE;
}

/* MBC 0x28 GET FIRMWARE OPTIONS (qla_mbx.c qla2x00_get_fw_options):
 * mb1..3. */
static int mbc_get_firmware_option(IspState *s, uint16_t *mb, int *nout)
{
    mb[1] = s->fw_options[1];
    mb[2] = s->fw_options[2];
    mb[3] = s->fw_options[3];
    *nout = 4;
    return MBS_COMMAND_COMPLETE;
}

/* MBC 0x38 SET FIRMWARE OPTIONS (qla_mbx.c qla2x00_set_fw_options):
 * mb1..3 and mb10. */
static int mbc_set_firmware_option(IspState *s, uint16_t *mb, int *nout)
{
    s->fw_options[1] = mb[1];
    s->fw_options[2] = mb[2];
    s->fw_options[3] = mb[3];
    s->fw_options[10] = mb[10];
    mb[1] = 0;
    *nout = 2;
    return MBS_COMMAND_COMPLETE;
}

/* MBC 0x69 GET FIRMWARE STATE (qla_mbx.c qla2x00_get_firmware_state): mb1
 * FSTATE_*. */
static int mbc_get_firmware_state(IspState *s, uint16_t *mb, int *nout)
{
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
}

/* MBC 0x22 GET RETRY COUNT (qla_mbx.c qla2x00_get_retry_cnt): mb1 retries,
 * mb3 R_A_TOV in 50 ms units (the driver: r_a_tov = mb3 / 2 in 100 ms). */
static int mbc_get_retry_count(IspState *s, uint16_t *mb, int *nout)
{
    mb[1] = s->icb.login_retry_count;
    mb[2] = 0;
    mb[3] = 200;
    *nout = 4;
    return MBS_COMMAND_COMPLETE;
}

/*
 * MBC 0x5d DATA RATE (qla_mbx.c qla2x00_get_data_rate; mb1 = 0: get):
 * mb1 the link's speed code, or 7 while the link is not up -- the value
 * the driver takes as "no rate" and ignores on a 25xx ("if (mcp->mb[1] !=
 * 0x7) ha->link_data_rate = mcp->mb[1]").  SET (mb1 != 0, 27xx/28xx only):
 * 0x4005.
 */
#define ISP_DATA_RATE_NONE      7
static int mbc_data_rate(IspState *s, uint16_t *mb, int *nout)
{
    if (mb[1] != 0) {
        return MBS_COMMAND_ERROR;
    }
    mb[1] = s->link == ISP_LINK_UP ? s->link_speed : ISP_DATA_RATE_NONE;
    mb[2] = 0;
    mb[3] = 0;
    mb[4] = 0;
    *nout = 5;
    return MBS_COMMAND_COMPLETE;
}

/*
 * MBC 0x70 SEND CHANGE REQUEST: SCR to the fabric controller (qla_mbx.c
 * qla2x00_send_change_request; SCST legacy qla2x00t.c registers for RSCNs
 * on every PLOGI).  [fw?] Without a fabric (loop, point to point) there is
 * no controller to send it to: the command fails, which the drivers expect
 * ("OK for non-fabric setups").  This model has no fabric topology, so it
 * always fails.
 */
static int mbc_send_change_request(IspState *s, uint16_t *mb, int *nout)
{
    return MBS_COMMAND_ERROR;
}

/* MBC 0x72 LIP FULL LOGIN (qla_mbx.c qla2x00_full_login_lip): re-initialise
 * the loop, after the completion (a command's events follow it); mb1 BIT_4
 * (set on FWI2 ISPs) is a full login: the LIP logs every port out. */
static int mbc_lip_full_login(IspState *s, uint16_t *mb, int *nout)
{
    if (!s->fw_initialized || !s->port.online) {
        return MBS_COMMAND_ERROR;
    }
    s->lip_pending = true;
    s->full_login_pending = mb[1] & (1u << 4);
    return MBS_COMMAND_COMPLETE;
}

/*
 * MBC 0x0b LOAD RISC RAM EXTENDED (qla_mbx.c qla2x00_load_ram): mb8:mb1 RISC
 * address, mb2/3/6/7 DMA address, mb4:mb5 dword count.  The data is the
 * firmware image swapped to little-endian dwords (qla_init.c
 * qla24xx_load_risc_blob); a chunk whose dword 2 is its own load address is a
 * segment header, remembered for VERIFY CHECKSUM / EXECUTE FIRMWARE.
 */
static int mbc_load_risc_ram(IspState *s, uint16_t *mb, int *nout)
{
    uint32_t risc = (uint32_t)mb[8] << 16 | mb[1];
    uint32_t dwords = (uint32_t)mb[4] << 16 | mb[5];
    uint64_t dma = isp_mb_dma_addr(mb);
    g_autofree uint8_t *buf = NULL;
    IspFwSegment *seg;
    int i;

    uint32_t off;
    bool to_flash = isp_flash_window(risc, dwords, &off);

    if (dwords == 0 || (uint64_t)dwords * 4 > ISP_MAX_MBOX_DMA ||
        (!to_flash && !isp_risc_range(risc, dwords, ISP_RISC_RAM_START,
                                      ISP_RISC_RAM_END))) {
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
        uint8_t *dst = s->flash + off;
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
 * RAM itself is not modelled and reads as zeros: external memory
 * (0x100000-0x1fffff) and the code RAM the firmware dump reads
 * (0x20000-0x21fff, qla_dbg.c qla24xx_dump_memory).
 */
static int mbc_dump_risc_ram(IspState *s, uint16_t *mb, int *nout)
{
    uint32_t risc = (uint32_t)mb[8] << 16 | mb[1];
    uint32_t dwords = (uint32_t)mb[4] << 16 | mb[5];
    uint64_t dma = isp_mb_dma_addr(mb);
    g_autofree uint8_t *zero = NULL;
    const uint8_t *src;
    uint32_t off;

    if (dwords == 0 || (uint64_t)dwords * 4 > ISP_MAX_MBOX_DMA) {
        return MBS_COMMAND_ERROR;
    }
    if (isp_flash_window(risc, dwords, &off)) {
        src = s->flash + off;
    } else if (isp_risc_range(risc, dwords, ISP_RISC_RAM_START,
                              ISP_RISC_RAM_END) ||
               isp_risc_range(risc, dwords, ISP_CODE_RAM_START,
                              ISP_CODE_RAM_END)) {
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

    if (s->risc == ISP_RISC_FW || !seg) {
        /* the firmware runs already */
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
 * Largest ring the model takes, entries: the largest any driver sets up
 * for any ISP (qla_def.h REQUEST_ENTRY_CNT_83XX).
 */
#define ISP_RING_MAX_ENTRIES    8192

/*
 * Why the rings of @c cannot be used, or NULL.  [fw?] The firmware's own
 * checks are not documented; these are chosen so that every ring the
 * drivers set up passes (page-aligned dma_alloc_coherent memory, 2048 /
 * 512 / 4096 entries, qla_init.c qla24xx_config_rings) and a ring the
 * firmware could not use is refused instead of corrupting memory: each
 * ring 2..8192 entries, aligned to its 64-byte entries, wholly in RAM
 * (not in a device's registers, not past the end of memory), no two
 * rings overlapping.
 */
static const char *icb_ring_problem(IspState *s, const IspIcb *c)
{
    const struct {
        uint64_t addr;
        uint32_t len;
    } r[3] = {
        { c->req_q_addr, c->req_q_len },
        { c->rsp_q_addr, c->rsp_q_len },
        { c->atio_q_addr, c->atio_q_len },
    };
    int i, j, n = c->atio_q_addr ? 3 : 2;

    for (i = 0; i < n; i++) {
        uint64_t bytes = (uint64_t)r[i].len * IOCB_SIZE;

        if (!r[i].addr || r[i].len < 2) {
            return "a ring without address or with fewer than 2 entries";
        }
        if (r[i].len > ISP_RING_MAX_ENTRIES) {
            return "a ring of more than 8192 entries";
        }
        if (r[i].addr & (IOCB_SIZE - 1)) {
            return "a ring not aligned to 64 bytes";
        }
        if (r[i].addr + bytes < r[i].addr ||
            !s->ops->dma_is_ram(s->opaque, r[i].addr, bytes)) {
            return "a ring outside RAM";
        }
        for (j = 0; j < i; j++) {
            if (r[i].addr < r[j].addr + (uint64_t)r[j].len * IOCB_SIZE &&
                r[j].addr < r[i].addr + bytes) {
                return "overlapping rings";
            }
        }
    }
    return NULL;
}

/*
 * Why the rest of the ICB cannot be used, or NULL: version 0 is what the
 * driver itself calls an invalid parameter block (qla_init.c
 * qla24xx_nvram_config: nvram_version < ICB_VERSION); the connection
 * option (firmware options 2 bits 6:4, qla_fw.h) is 0..3, 4..7 are
 * reserved; the frame size is 256..2112 bytes (FC-FS-3 data field).
 * [fw?] chosen, like the ring checks.
 */
static const char *icb_problem(IspState *s, const IspIcb *c)
{
    if (c->version == 0) {
        return "ICB version 0";
    }
    if (((c->fw_options[1] >> 4) & 7) > ISP_CONN_P2P_LOOP) {
        return "a reserved connection option";
    }
    if (c->frame_payload_size < 256 || c->frame_payload_size > 2112) {
        return "a frame size outside 256..2112";
    }
    return icb_ring_problem(s, c);
}

/*
 * MBC 0x48 MID INITIALIZE FIRMWARE / 0x60 INITIALIZE FIRMWARE (qla_mbx.c
 * qla2x00_init_firmware): DMA the initialization control block (struct
 * init_cb_24xx, qla_fw.h; filled by qla_init.c qla24xx_config_rings and
 * qla24xx_nvram_config), take the rings, reset their indices, start the link.
 * Once per firmware start: the drivers initialise after every EXECUTE
 * FIRMWARE (a chip reset comes first, qla_os.c qla2x00_abort_isp); a
 * second INITIALIZE FIRMWARE while the rings are live is 0x4005 and
 * leaves them alone ([fw?] chosen: the rings would move under queued
 * work).  A control block the firmware cannot use is 0x4005 too and the
 * firmware stays uninitialised.
 */
static int mbc_init_firmware(IspState *s, uint16_t *mb, int *nout)
{
    IspIcb24xx icb;
    IspIcb *c = &s->icb;
    const char *why;

    if (s->fw_initialized) {
        qemu_log_mask(LOG_GUEST_ERROR, "qla2532: INITIALIZE FIRMWARE while "
                      "initialised: 0x4005\n");
        return MBS_COMMAND_ERROR;
    }
    if (s->ops->dma_read(s->opaque, isp_mb_dma_addr(mb), &icb, sizeof(icb))
        != MEMTX_OK) {
        return MBS_COMMAND_ERROR;
    }
    memset(c, 0, sizeof(*c));
    c->version = le16_to_cpu(icb.version);
    c->frame_payload_size = le16_to_cpu(icb.frame_payload_size);
    c->execution_throttle = le16_to_cpu(icb.execution_throttle);
    c->exchange_count = le16_to_cpu(icb.exchange_count);
    c->hard_address = le16_to_cpu(icb.hard_address);
    c->port_name = ldq_be_p(icb.port_name);
    c->node_name = ldq_be_p(icb.node_name);
    c->login_retry_count = le16_to_cpu(icb.login_retry_count);
    c->rsp_q_len = le16_to_cpu(icb.response_q_length);
    c->req_q_len = le16_to_cpu(icb.request_q_length);
    c->link_down_on_nos = le16_to_cpu(icb.link_down_on_nos);
    c->req_q_addr = le64_to_cpu(icb.request_q_address);
    c->rsp_q_addr = le64_to_cpu(icb.response_q_address);
    c->atio_q_len = le16_to_cpu(icb.atio_q_length);
    c->atio_q_addr = le64_to_cpu(icb.atio_q_address);
    c->interrupt_delay_timer = le16_to_cpu(icb.interrupt_delay_timer);
    c->login_timeout = le16_to_cpu(icb.login_timeout);
    c->fw_options[0] = le32_to_cpu(icb.firmware_options_1);
    c->fw_options[1] = le32_to_cpu(icb.firmware_options_2);
    c->fw_options[2] = le32_to_cpu(icb.firmware_options_3);
    trace_qla2532_icb(s->port_no, c->port_name, c->req_q_len, c->rsp_q_len,
                      c->atio_q_len, c->fw_options[0], c->fw_options[1],
                      c->fw_options[2]);

    why = icb_problem(s, c);
    if (why) {
        qemu_log_mask(LOG_GUEST_ERROR, "qla2532: INITIALIZE FIRMWARE with "
                      "%s: 0x4005\n", why);
        memset(c, 0, sizeof(*c));
        s->fw_initialized = false;
        return MBS_COMMAND_ERROR;
    }
    s->req_q_in = s->req_q_out = 0;
    s->rsp_q_in = s->rsp_q_out = 0;
    s->atio_q_in = s->atio_q_out = 0;
    s->fw_initialized = true;
    s->ring_gen++;
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
static int mbc_get_position_map(IspState *s, uint16_t *mb, int *nout)
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
static int mbc_get_link_stats(IspState *s, uint16_t *mb, int *nout)
{
    uint32_t bytes = (uint32_t)mb[8] * 4;
    g_autofree uint8_t *buf = NULL;
    IspLinkStats *st;

    if (bytes == 0 || bytes > 4096) {
        return MBS_COMMAND_ERROR;
    }
    buf = g_malloc0(MAX(bytes, sizeof(*st)));
    st = (IspLinkStats *)buf;
    st->link_fail_cnt = cpu_to_le32(s->stat_link_fail);
    st->lip_cnt = cpu_to_le32(s->stat_lip);
    st->link_up_cnt = cpu_to_le32(s->stat_link_up);
    st->tx_frames = cpu_to_le32(s->stat_tx_frames);
    st->rx_frames = cpu_to_le32(s->stat_rx_frames);
    if (s->ops->dma_write(s->opaque, isp_mb_dma_addr(mb), buf, bytes)
        != MEMTX_OK) {
        return MBS_COMMAND_ERROR;
    }
    if (mb[10] & 1) {               /* options BIT_0: reset after reading */
        s->stat_link_fail = s->stat_lip = s->stat_link_up = 0;
        s->stat_tx_frames = s->stat_rx_frames = 0;
    }
    return MBS_COMMAND_COMPLETE;
}


/* Where a mailbox command is accepted: the ROM (before EXECUTE FIRMWARE)
 * and/or the running firmware. */
enum {
    MBX_ROM = 1 << 0,
    MBX_FW = 1 << 1,
    MBX_ANY = MBX_ROM | MBX_FW,
    /*
     * Not in a MBX IOCB (type 0x39): the commands that change the
     * firmware's own state (load, start, stop, initialise).  The drivers
     * put only queries in a MBX IOCB (qla_mbx.c qla24xx_send_mb_cmd
     * callers: 0x42, 0x64, 0x6d, 0x75, 0x7c); taking a firmware
     * re-initialisation from inside the request ring would pull the ring
     * from under its own consumer.  [fw?] what the firmware answers is
     * unknown; chosen: 0x4001 INVALID COMMAND in the 0x39 entry.
     */
    MBX_NO_IOCB = 1 << 2,
};

typedef struct IspMbxCommand {
    uint16_t opcode;
    uint8_t states;             /* MBX_ROM / MBX_FW */
    int (*handler)(IspState *s, uint16_t *mb, int *nout);
    const char *source;         /* the driver code that issues it */
} IspMbxCommand;

/*
 * Every mailbox command the model answers.  The ROM accepts only the
 * commands the driver sends before EXECUTE FIRMWARE (qla_init.c
 * qla2x00_initialize_adapter up to qla2x00_setup_chip); in the ROM every
 * other command is 0x4001 INVALID COMMAND, as is an opcode not in this
 * table (qla_def.h MBS_INVALID_COMMAND).  docs/mailbox.md has the same
 * table with what each returns.
 */
static const IspMbxCommand isp_mbx_commands[] = {
    { MBC_NOP, MBX_FW, mbc_complete,
      "qla_def.h MBC_NOP (Linux 6.1 never sends it)" },
    { MBC_WRITE_SERDES, MBX_FW, isp_mbc_write_serdes,
      "qla_mbx.c qla2x00_write_serdes_word (bsg)" },
    { MBC_READ_SERDES, MBX_FW, isp_mbc_read_serdes,
      "qla_mbx.c qla2x00_read_serdes_word (bsg)" },
    { MBC_PORT_PARAMS, MBX_FW, isp_mbc_port_params,
      "qla_mbx.c qla2x00_set_idma_speed, qla2x00_get_idma_speed" },
    { MBC_GEN_SYSTEM_ERROR, MBX_FW | MBX_NO_IOCB, isp_mbc_gen_system_error,
      "qla_mbx.c qla2x00_system_error (sysfs fw_dump 3)" },
    { MBC_WRITE_SFP, MBX_FW, isp_mbc_write_sfp,
      "qla_mbx.c qla2x00_write_sfp (bsg)" },
    { MBC_GET_MEM_OFFLOAD_CNTRL_STAT, MBX_FW, isp_mbc_mem_offload,
      "qla_mbx.c qla_get_exlogin_status, qla_set_exlogin_mem_cfg" },
    { MBC_DIAGNOSTIC_ECHO, MBX_FW, isp_mbc_echo,
      "qla_mbx.c qla2x00_echo_test (bsg)" },
    { MBC_DIAGNOSTIC_LOOP_BACK, MBX_FW, isp_mbc_loopback,
      "qla_mbx.c qla2x00_loopback_test (bsg)" },
    { MBC_IOCB_COMMAND_A64, MBX_FW | MBX_NO_IOCB, isp_mbc_execute_iocb,
      "qla_mbx.c qla2x00_issue_iocb_timeout" },
    { MBC_EXECUTE_FIRMWARE, MBX_ANY | MBX_NO_IOCB, mbc_execute_firmware,
      "qla_mbx.c qla2x00_execute_fw" },
    { MBC_MAILBOX_REGISTER_TEST, MBX_ANY, mbc_mailbox_register_test,
      "qla_mbx.c qla2x00_mbx_reg_test" },
    { MBC_VERIFY_CHECKSUM, MBX_ANY, mbc_verify_checksum,
      "qla_mbx.c qla2x00_verify_checksum" },
    { MBC_GET_FIRMWARE_VERSION, MBX_FW, mbc_get_firmware_version,
      "qla_mbx.c qla2x00_get_fw_version" },
    { MBC_LOAD_RISC_RAM_EXTENDED, MBX_ANY | MBX_NO_IOCB, mbc_load_risc_ram,
      "qla_mbx.c qla2x00_load_ram" },
    { MBC_DUMP_RISC_RAM_EXTENDED, MBX_ANY | MBX_NO_IOCB, mbc_dump_risc_ram,
      "qla_mbx.c qla2x00_dump_ram" },
    { MBC_SERDES_PARAMS, MBX_FW, mbc_complete,
      "qla_mbx.c qla2x00_set_serdes_params" },
    { MBC_STOP_FIRMWARE, MBX_FW | MBX_NO_IOCB, mbc_stop_firmware,
      "qla_mbx.c qla2x00_stop_firmware" },
    { MBC_GET_ADAPTER_LOOP_ID, MBX_FW, mbc_get_adapter_loop_id,
      "qla_mbx.c qla2x00_get_adapter_id" },
    { MBC_GET_RETRY_COUNT, MBX_FW, mbc_get_retry_count,
      "qla_mbx.c qla2x00_get_retry_cnt" },
    { MBC_TRACE_CONTROL, MBX_FW, mbc_trace_control,
      "qla_mbx.c qla2x00_enable_eft_trace, qla2x00_enable_fce_trace" },
    { MBC_GET_FIRMWARE_OPTION, MBX_FW, mbc_get_firmware_option,
      "qla_mbx.c qla2x00_get_fw_options" },
    { MBC_READ_SFP, MBX_FW, mbc_read_sfp, "qla_mbx.c qla2x00_read_sfp" },
    { MBC_SET_FIRMWARE_OPTION, MBX_FW, mbc_set_firmware_option,
      "qla_mbx.c qla2x00_set_fw_options" },
    { MBC_GET_RESOURCE_COUNTS, MBX_FW, mbc_get_resource_counts,
      "qla_mbx.c qla2x00_get_resource_cnts" },
    { MBC_MID_INITIALIZE_FIRMWARE, MBX_FW | MBX_NO_IOCB, mbc_init_firmware,
      "qla_mbx.c qla2x00_init_firmware" },
    { MBC_SET_RNID_PARAMS, MBX_FW, mbc_complete,
      "qla_mbx.c qla25xx_set_driver_version" },
    { MBC_GET_RNID_PARAMS, MBX_FW, isp_mbc_get_login_template,
      "qla_mbx.c qla24xx_get_port_login_templ" },
    { MBC_DATA_RATE, MBX_FW, mbc_data_rate,
      "qla_mbx.c qla2x00_get_data_rate" },
    { MBC_INITIALIZE_FIRMWARE, MBX_FW | MBX_NO_IOCB, mbc_init_firmware,
      "qla_mbx.c qla2x00_init_firmware" },
    { MBC_GET_FC_AL_POSITION_MAP, MBX_FW, mbc_get_position_map,
      "qla_mbx.c qla2x00_get_fcal_position_map" },
    { MBC_GET_PORT_DATABASE, MBX_FW, isp_mbc_get_port_database,
      "qla_mbx.c qla24xx_get_port_database, qla24xx_gpdb_wait" },
    { MBC_GET_FIRMWARE_STATE, MBX_FW, mbc_get_firmware_state,
      "qla_mbx.c qla2x00_get_firmware_state" },
    { MBC_GET_PORT_NAME, MBX_FW, isp_mbc_get_port_name,
      "qla_mbx.c qla2x00_get_port_name" },
    { MBC_GET_LINK_PRIV_STATS, MBX_FW, mbc_get_link_stats,
      "qla_mbx.c qla24xx_get_isp_stats" },
    { MBC_SEND_CHANGE_REQUEST, MBX_FW, mbc_send_change_request,
      "qla_mbx.c qla2x00_send_change_request" },
    { MBC_LIP_FULL_LOGIN, MBX_FW, mbc_lip_full_login,
      "qla_mbx.c qla2x00_full_login_lip" },
    { MBC_GET_PORT_NAME_LIST, MBX_FW, isp_mbc_get_port_name_list,
      "qla_init.c qla24xx_async_gnl (MBX IOCB)" },
    { MBC_GET_ID_LIST, MBX_FW, isp_mbc_get_id_list,
      "qla_mbx.c qla2x00_get_id_list" },
};

static const IspMbxCommand *isp_mbx_lookup(uint16_t op)
{
    size_t i;

    for (i = 0; i < ARRAY_SIZE(isp_mbx_commands); i++) {
        if (isp_mbx_commands[i].opcode == op) {
            return &isp_mbx_commands[i];
        }
    }
    return NULL;
}

/*
 * Execute the mailbox command in @mb (mb[0] = opcode), from the mailbox
 * registers or (@from_iocb) from a MBX IOCB.  Returns the completion
 * status; outgoing values are left in @mb[1..*nout-1].
 */
static int isp_mbox_run(IspState *s, uint16_t *mb, int *nout,
                        bool from_iocb)
{
    const IspMbxCommand *c = isp_mbx_lookup(mb[0]);

    *nout = 1;
    if (!c) {
        qemu_log_mask(LOG_UNIMP, "qla2532: mailbox command 0x%04x is not "
                      "modelled: 0x4001 INVALID COMMAND\n", mb[0]);
        return MBS_INVALID_COMMAND;
    }
    if (!(c->states & (s->risc == ISP_RISC_FW ? MBX_FW : MBX_ROM))) {
        return MBS_INVALID_COMMAND;
    }
    if (from_iocb && (c->states & MBX_NO_IOCB)) {
        qemu_log_mask(LOG_GUEST_ERROR, "qla2532: mailbox command 0x%04x "
                      "in a MBX IOCB: 0x4001 INVALID COMMAND\n", mb[0]);
        return MBS_INVALID_COMMAND;
    }
    return c->handler(s, mb, nout);
}

int isp_mbox_execute(IspState *s, uint16_t *mb, int *nout)
{
    return isp_mbox_run(s, mb, nout, false);
}

/* Mailbox completion: the doorbell's command has run for mbox_latency_ns. */
void isp_mbox_timer_cb(void *opaque)
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
    if (status == ISP_MBS_NO_COMPLETION) {
        /* the firmware stopped: the mailbox stays busy until a reset */
        trace_qla2532_mbox_done(s->port_no, s->mbox_cmd[0], 0, 0, 0, 0);
        isp_after_command(s);
        return;
    }
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
void isp_mbox_doorbell(IspState *s)
{
    if (s->risc == ISP_RISC_RESET || s->mbox_busy || s->halted) {
        return;         /* halted: a system error stopped the RISC */
    }
    memcpy(s->mbox_cmd, s->mbox_in, sizeof(s->mbox_cmd));
    s->mbox_busy = true;
    trace_qla2532_mbox_cmd(s->port_no, s->mbox_cmd[0], s->mbox_cmd[1],
                           s->mbox_cmd[2], s->mbox_cmd[3]);
    timer_mod(s->mbox_timer, qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) +
              s->mbox_latency_ns);
}

/*
 * MBX IOCB (type 0x39, struct mbx_24xx_entry): a mailbox command carried in
 * the request queue, answered with a 0x39 entry holding the outgoing
 * mailboxes (qla_isr.c qla24xx_mbx_iocb_entry).
 */
void isp_iocb_mbx(IspState *s, const uint8_t *iocb)
{
    const IspMbxIocb *req = (const IspMbxIocb *)iocb;
    uint16_t mb[ISP_NUM_MAILBOXES] = { 0 };
    IspMbxIocb rsp = { 0 };
    int nout = 0;
    size_t i;

    for (i = 0; i < ARRAY_SIZE(req->mb); i++) {
        mb[i] = le16_to_cpu(req->mb[i]);
    }
    mb[0] = isp_mbox_run(s, mb, &nout, true);
    rsp.hdr.entry_type = ET_MBX_IOCB_TYPE;
    rsp.hdr.entry_count = 1;
    rsp.hdr.handle = req->hdr.handle;
    for (i = 0; i < ARRAY_SIZE(rsp.mb); i++) {
        rsp.mb[i] = cpu_to_le16(mb[i]);
    }
    isp_rsp_post(s, (const uint8_t *)&rsp);
    isp_after_command(s);
}
