/*
 * QLogic ISP2532 firmware model: the diagnostic and management mailbox
 * commands -- those a user reaches through the driver's bsg interface
 * (QConvergeConsole, qaucli), sysfs and module parameters rather than the
 * driver's own bring-up: SerDes words, system error (firmware dump),
 * SFP write, extended logins, echo, loopback, and an IOCB by mailbox.
 * docs/mailbox.md §2.3 has each one's contract and its source.
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

/* MBC 0x34 sub-commands (qla_mbx.c qla_get_exlogin_status,
 * qla_set_exlogin_mem_cfg) */
#define FETCH_XLOGINS_STAT      0x8
#define CONFIG_XLOGINS_MEM      0x9
/*
 * What FETCH_XLOGINS_STAT reports: the bytes the firmware keeps per
 * extended login and how many it can keep.  Chosen ([fw?]: the 25xx's
 * values are not published); the driver allocates min(ql2xexlogins, count)
 * * size bytes for the firmware (qla_os.c qla2x00_set_exlogins_buffer).
 */
#define ISP_EXLOGIN_SIZE        256
#define ISP_EXLOGIN_MAX         8192

/* MBC 0x45 options (qla_bsg.h ENABLE_*_LOOPBACK), bit 6 = 64-bit DMA */
#define ISP_LOOPBACK_INTERNAL   0x02
#define ISP_LOOPBACK_EXTERNAL   0x04

/*
 * MBC 0x03 WRITE SERDES WORD / 0x04 READ SERDES WORD (qla_mbx.c
 * qla2x00_write_serdes_word, qla2x00_read_serdes_word; bsg
 * QL_VND_SERDES_OP / QL_VND_SERDES_OP_EX): mb1 address, mb2 the word
 * (write); the read returns it in mb1.  The SerDes has no effect on the
 * emulated link; the words are kept so that a read returns what was
 * written (kept across resets; zero when the device is created).  An
 * address past ISP_SERDES_WORDS is 0x4005 (chosen).
 */
int isp_mbc_write_serdes(IspState *s, uint16_t *mb, int *nout)
{
    if (mb[1] >= ISP_SERDES_WORDS) {
        return MBS_COMMAND_ERROR;
    }
    s->serdes[mb[1]] = mb[2];
    return MBS_COMMAND_COMPLETE;
}

int isp_mbc_read_serdes(IspState *s, uint16_t *mb, int *nout)
{
    if (mb[1] >= ISP_SERDES_WORDS) {
        return MBS_COMMAND_ERROR;
    }
    mb[1] = s->serdes[mb[1]];
    *nout = 2;
    return MBS_COMMAND_COMPLETE;
}

/*
 * MBC 0x2a GENERATE SYSTEM ERROR (qla_mbx.c qla2x00_system_error, from
 * sysfs fw_dump "3", qla_attr.c qla2x00_sysfs_write_fw_dump).  The
 * firmware stops and posts 0x8002 SYSTEM ERROR after this command
 * (isp_after_command).  mb1 of the 0x8002 is the opcode, mb2 = mb3 = 0:
 * [fw?] the real values are not published; mb1 must not be 0 with mb2 = 0,
 * which the driver takes as "Unrecoverable Hardware Error: adapter marked
 * OFFLINE" (qla_isr.c qla2x00_async_event MBA_SYSTEM_ERR); with any other
 * value it takes a firmware dump and aborts the ISP.  Whether the command
 * itself completes is the sys_err_mode variant (isp-fw.h).
 */
int isp_mbc_gen_system_error(IspState *s, uint16_t *mb, int *nout)
{
    s->sys_err_pending = true;
    return s->sys_err_mode == ISP_SYS_ERR_COMPLETE ? MBS_COMMAND_COMPLETE :
                                                     ISP_MBS_NO_COMPLETION;
}

/*
 * MBC 0x30 WRITE SFP (qla_mbx.c qla2x00_write_sfp; bsg QL_VND_UPDATE_SFP,
 * QL_VND_WRITE_I2C): mb1 device (0xa0/0xa2), mb9 offset, DMA mb2/3/6/7
 * with mb8 bytes, or with mb10 BIT_0 the byte itself in mb8.  SFF-8472
 * §4: A0h is the read-only serial ID; in A2h only the user EEPROM
 * (128-247) is writable.  Written bytes are read back by 0x31.  A write
 * elsewhere is 0x4005 ([fw?]: a real SFP may ignore or NAK such a write;
 * what the firmware then returns is not published).
 */
int isp_mbc_write_sfp(IspState *s, uint16_t *mb, int *nout)
{
    uint32_t off = mb[9];
    uint32_t len = (mb[10] & 1) ? 1 : mb[8];
    uint8_t buf[256];

    if (mb[1] != 0xa2 || len == 0 || off < 128 || off + len > 248) {
        return MBS_COMMAND_ERROR;
    }
    if (mb[10] & 1) {
        buf[0] = mb[8];
    } else if (s->ops->dma_read(s->opaque, isp_mb_dma_addr(mb), buf,
                                len) != MEMTX_OK) {
        return MBS_COMMAND_ERROR;
    }
    memcpy(s->sfp_a2 + off, buf, len);
    return MBS_COMMAND_COMPLETE;
}

/*
 * MBC 0x34 MEMORY OFFLOAD CONTROL/STATUS (qla_mbx.c qla_get_exlogin_status,
 * qla_set_exlogin_mem_cfg; issued when ql2xexlogins > 2048, qla_os.c
 * qla2x00_set_exlogins_buffer -- the 25xx is IS_EXLOGIN_OFFLD_CAPABLE).
 * mb1 8: mb4 bytes per login, mb10 how many; mb1 9: the host buffer at
 * DMA mb2/3/6/7 of mb8:mb9 bytes, which must be RAM.  The model keeps its
 * logins itself (ISP_MAX_RPORTS) and never writes the buffer.  Exchange
 * offload (other mb1 values) is for 81xx and later
 * (IS_EXCHG_OFFLD_CAPABLE): 0x4005.  A failure is fatal to the driver
 * ("Failed to get exlogin status", the port does not come up).
 */
int isp_mbc_mem_offload(IspState *s, uint16_t *mb, int *nout)
{
    uint64_t dma = isp_mb_dma_addr(mb);
    uint32_t size = (uint32_t)mb[8] << 16 | mb[9];

    switch (mb[1]) {
    case FETCH_XLOGINS_STAT:
        memset(&mb[1], 0, 10 * sizeof(mb[0]));
        mb[4] = ISP_EXLOGIN_SIZE;
        mb[10] = ISP_EXLOGIN_MAX;
        *nout = 11;
        return MBS_COMMAND_COMPLETE;
    case CONFIG_XLOGINS_MEM:
        mb[11] = 0;
        *nout = 12;
        if (size == 0 || size > ISP_EXLOGIN_SIZE * ISP_EXLOGIN_MAX ||
            !s->ops->dma_is_ram(s->opaque, dma, size)) {
            return MBS_COMMAND_ERROR;
        }
        return MBS_COMMAND_COMPLETE;
    default:
        return MBS_COMMAND_ERROR;
    }
}

/*
 * MBC 0x44 DIAGNOSTIC ECHO (qla_mbx.c qla2x00_echo_test; bsg
 * QL_VND_LOOPBACK with an external loopback on a fabric, qla_bsg.c
 * qla2x00_process_loopback): an ECHO ELS to the fabric.  The emulated link
 * is a loop or point to point, never a fabric: 0x4005 ([fw?] the status
 * without a fabric; the driver reaches it only with topology F).
 */
int isp_mbc_echo(IspState *s, uint16_t *mb, int *nout)
{
    mb[1] = 0;
    *nout = 2;
    return MBS_COMMAND_ERROR;
}

/*
 * MBC 0x45 DIAGNOSTIC LOOPBACK (qla_mbx.c qla2x00_loopback_test; bsg
 * QL_VND_LOOPBACK): mb1 options (ISP_LOOPBACK_*), mb10:mb11 bytes, send
 * buffer mb14/15/20/21, receive buffer mb16/17/6/7, mb18:mb19 iterations.
 * Internal loopback: the data comes back unchanged (the transmitter looped
 * to the receiver inside the chip), mb18:mb19 = iterations done, mb1..3 =
 * 0 (no CRC or disparity errors).  External loopback needs a loopback plug
 * on the port; the emulated port has a cable to another port: 0x4005
 * ([fw?]).  A length of 0 or above 256 KiB, or a DMA fault: 0x4005.
 */
int isp_mbc_loopback(IspState *s, uint16_t *mb, int *nout)
{
    uint32_t len = (uint32_t)mb[11] << 16 | mb[10];
    uint64_t send = (uint64_t)mb[21] << 48 | (uint64_t)mb[20] << 32 |
                    (uint32_t)mb[15] << 16 | mb[14];
    uint64_t rcv = (uint64_t)mb[7] << 48 | (uint64_t)mb[6] << 32 |
                   (uint32_t)mb[17] << 16 | mb[16];
    g_autofree uint8_t *buf = NULL;
    uint16_t opt = mb[1], it_lo = mb[18], it_hi = mb[19];

    memset(&mb[1], 0, 3 * sizeof(mb[0]));
    mb[18] = mb[19] = 0;
    *nout = 20;
    if (!(opt & ISP_LOOPBACK_INTERNAL) && (opt & ISP_LOOPBACK_EXTERNAL)) {
        return MBS_COMMAND_ERROR;
    }
    if (len == 0 || len > ISP_MAX_MBOX_DMA) {
        return MBS_COMMAND_ERROR;
    }
    buf = g_malloc(len);
    if (s->ops->dma_read(s->opaque, send, buf, len) != MEMTX_OK ||
        s->ops->dma_write(s->opaque, rcv, buf, len) != MEMTX_OK) {
        return MBS_COMMAND_ERROR;
    }
    mb[18] = it_lo;
    mb[19] = it_hi;
    return MBS_COMMAND_COMPLETE;
}

/*
 * MBC 0x54 EXECUTE IOCB A64 (qla_mbx.c qla2x00_issue_iocb_timeout): one
 * 64-byte IOCB at DMA mb2/3/6/7, its result written back in place.  The
 * drivers use it for fabric logins, RDP, the 84xx and, with
 * ql2xasynctmfenable=0, initiator aborts and task management -- none of
 * which this model executes (no fabric; initiator I/O is not modelled):
 * the entry comes back with entry_status RF_INV_E_TYPE, which is what the
 * request ring answers for those types (docs/iocb.md), and the command
 * completes 0x4000 (the driver then fails the request: RF_MASK_24XX).
 * A DMA fault: 0x4005.
 */
int isp_mbc_execute_iocb(IspState *s, uint16_t *mb, int *nout)
{
    uint64_t dma = isp_mb_dma_addr(mb);
    uint8_t iocb[IOCB_SIZE];

    mb[1] = 0;
    *nout = 2;
    if (s->ops->dma_read(s->opaque, dma, iocb, sizeof(iocb)) != MEMTX_OK) {
        return MBS_COMMAND_ERROR;
    }
    iocb[3] |= RF_INV_E_TYPE;       /* entry_status */
    if (s->ops->dma_write(s->opaque, dma, iocb, sizeof(iocb)) != MEMTX_OK) {
        return MBS_COMMAND_ERROR;
    }
    return MBS_COMMAND_COMPLETE;
}
