/*
 * libFuzzer target for the QLogic ISP2532 (qla2532) in target mode.
 *
 * QEMU's generic-fuzz answers the card's DMA with fuzzed bytes, so it
 * rarely gets an INITIALIZE FIRMWARE control block past the firmware's
 * checks and almost never reaches the target-mode data path, where most
 * of the guest-controlled surface is (docs/hardening.md).  This target
 * does the bring-up itself, once, before the fuzz loop, as the Linux
 * driver does it (qla_init.c qla24xx_reset_risc, qla24xx_load_risc_blob,
 * qla2x00_execute_fw, qla2x00_init_firmware with a target-mode ICB:
 * qla_target.c qlt_24xx_config_nvram_stage1): the firmware runs, the
 * link is up, the simulated initiator has logged in and its scenario
 * (INQUIRY, WRITE with data, READ, REPORT LUNS, over and over) is sending
 * commands; GET ID LIST tells its handle and port ID, as it tells the
 * driver (qla_init.c qla2x00_configure_local_loop).  Each input then
 * runs in a forked child (fork_fuzz.h) as a sequence of operations a
 * driver -- or a hostile guest -- can do:
 *
 *   0 IOCB      a request-ring entry: 64 fuzzed bytes whose entry type is
 *               picked from the types the firmware handles; for exchange
 *               IOCBs (CTIO 7, NOTIFY ACK, ABTS response) the exchange
 *               address can be the last ATIO's; the initiator-mode ones
 *               (Command Type 7, Task Management, Abort) can name the
 *               logged-in initiator (its handle and port ID from GET ID
 *               LIST at bring-up), and an Abort the handle of the input's
 *               last command; the first DSD (CTIO 7, Command Type 7) can
 *               be made to point into RAM; then the req_q_in doorbell
 *   1 CLOCK     the virtual clock steps 1 ns .. 6.5 ms (frames, timers)
 *   2 MAILBOX   mailboxes 0..21 and the host-interrupt doorbell: the
 *               opcode is raw or picked from the firmware's table, and
 *               the DMA addresses (mb2/3/6/7, the loopback's 14-17/20/21)
 *               can be made to point into RAM
 *   3 DRAIN     what a driver's interrupt handler does: take the ATIO and
 *               response entries (remembering the last ATIO's exchange
 *               address), acknowledge the RISC interrupt
 *   4 REGISTER  a 32-bit write to any register of the block
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "tests/qtest/libqtest.h"
#include "tests/qtest/libqos/pci-pc.h"
#include "fuzz.h"
#include "fork_fuzz.h"

/* struct device_reg_24xx (qla_fw.h) */
#define REG_CTRL_STATUS         0x08
#define REG_REQ_Q_IN            0x1c
#define REG_RSP_Q_IN            0x24
#define REG_RSP_Q_OUT           0x28
#define REG_ATIO_Q_IN           0x3c
#define REG_ATIO_Q_OUT          0x40
#define REG_HOST_STATUS         0x44
#define REG_HCCR                0x48
#define REG_MAILBOX(n)          (0x80 + 2 * (n))
#define REG_BLOCK_SIZE          0x100
#define HCCRX_SET_HOST_INT      0x50000000u
#define HCCRX_CLR_RISC_INT      0xa0000000u
#define HSRX_RISC_INT           (1u << 15)

/* qla_def.h */
#define MBC_LOAD_RISC_RAM_EXTENDED  0x0b
#define MBC_VERIFY_CHECKSUM         0x07
#define MBC_EXECUTE_FIRMWARE        0x02
#define MBC_MID_INITIALIZE_FIRMWARE 0x48
#define MBC_GET_ID_LIST             0x7c
#define MBS_COMMAND_COMPLETE        0x4000

/* IOCB entry types the firmware handles (qla_fw.h, qla_target.h) */
#define IOCB_SIZE               64
#define ET_MARKER               0x04
#define ET_ATIO_TYPE7           0x06
#define ET_CONTINUE_A64         0x0a
#define ET_NOTIFY_ACK           0x0e
#define ET_CTIO_TYPE7           0x12
#define ET_TSK_MGMT             0x14
#define ET_CMD_TYPE7            0x18
#define ET_ABORT                0x33
#define ET_MBX_IOCB             0x39
#define ET_LOGINOUT             0x52
#define ET_ELS_PASSTHRU         0x53
#define ET_ABTS_RESP            0x55

/* Guest memory of the bring-up (-m 64): fixed, page-aligned. */
#define FW_DMA                  0x00200000ull
#define ICB_DMA                 0x00210000ull
#define REQ_DMA                 0x00220000ull
#define RSP_DMA                 0x00230000ull
#define ATIO_DMA                0x00240000ull
#define DATA_DMA                0x00300000ull
#define DATA_SIZE               0x00100000ull
#define REQ_LEN                 32
#define RSP_LEN                 64
#define ATIO_LEN                32

#define FW_RISC_ADDR            0x00100000u
#define FW_DWORDS               64
#define ICB_SIZE                128
#define ICB_FO1_TARGET          ((1u << 14) | (1u << 4) | (1u << 2) | \
                                 (1u << 1))
#define ICB_FO2                 ((2u << 4) | (1u << 12))
#define ICB_FO3                 (2u << 13)

#define QLA_DEVFN               QPCI_DEVFN(4, 0)
#define STEP_NS                 10000

static QPCIDevice *dev;
static QPCIBar bar1;
/* the driver's view, carried into each forked child */
static uint32_t req_in, rsp_out, atio_out, last_exch;
/* the initiator's login: nport handle, port ID as le_id_t (AL_PA first) */
static uint16_t ini_handle;
static uint8_t ini_port_id[3];
/* the handle of the input's last Command Type 7 or Task Management */
static uint32_t last_cmd;

static uint32_t rd32(uint32_t off)
{
    return qpci_io_readl(dev, bar1, off);
}

static void wr32(uint32_t off, uint32_t val)
{
    qpci_io_writel(dev, bar1, off, val);
}

/* One mailbox command of the bring-up; its status (mb0). */
static uint16_t mbox(QTestState *s, const uint16_t *mb, int n)
{
    uint16_t status;
    int i;

    for (i = 1; i < 32; i++) {
        qpci_io_writew(dev, bar1, REG_MAILBOX(i), i < n ? mb[i] : 0);
    }
    qpci_io_writew(dev, bar1, REG_MAILBOX(0), mb[0]);
    wr32(REG_HCCR, HCCRX_SET_HOST_INT);
    for (i = 0; i < 10000 && !(rd32(REG_HOST_STATUS) & HSRX_RISC_INT);
         i++) {
        qtest_clock_step(s, 1000);
    }
    status = rd32(REG_HOST_STATUS) >> 16;
    wr32(REG_HCCR, HCCRX_CLR_RISC_INT);
    return status;
}

static void mb_dma(uint16_t *mb, uint64_t dma)
{
    mb[2] = dma >> 16;
    mb[3] = dma;
    mb[6] = dma >> 48;
    mb[7] = dma >> 32;
}

/* Take what the firmware posted, as the driver's interrupt handler does. */
static void drain(QTestState *s)
{
    uint8_t e[IOCB_SIZE];
    uint32_t in;

    in = rd32(REG_ATIO_Q_IN);
    while (in < ATIO_LEN && atio_out != in) {
        qtest_memread(s, ATIO_DMA + atio_out * IOCB_SIZE, e, IOCB_SIZE);
        if (e[0] == ET_ATIO_TYPE7) {
            last_exch = ldl_le_p(e + 4);
        }
        atio_out = (atio_out + 1) % ATIO_LEN;
    }
    wr32(REG_ATIO_Q_OUT, atio_out);
    in = rd32(REG_RSP_Q_IN);
    if (in < RSP_LEN) {
        rsp_out = in;
    }
    wr32(REG_RSP_Q_OUT, rsp_out);
    wr32(REG_HCCR, HCCRX_CLR_RISC_INT);
}

/*
 * The bring-up (once, in the parent): ROM -> firmware -> INITIALIZE
 * FIRMWARE in target mode -> link up -> the initiator logged in and its
 * first command in the ATIO ring.
 */
static void qla2532_pre_fuzz(QTestState *s)
{
    QPCIBus *bus = qpci_new_pc(s, NULL);
    uint32_t img[FW_DWORDS] = { 0 };
    uint8_t icb[ICB_SIZE] = { 0 };
    uint16_t mb[9] = { 0 };
    int i;

    dev = qpci_device_find(bus, QLA_DEVFN);
    g_assert(dev);
    qpci_device_enable(dev);
    bar1 = qpci_iomap(dev, 1, NULL);

    /* qla_init.c qla24xx_load_risc_blob: one segment, version 8.7.0 */
    img[2] = cpu_to_le32(FW_RISC_ADDR);
    img[3] = cpu_to_le32(FW_DWORDS);
    img[4] = cpu_to_le32(8);
    img[5] = cpu_to_le32(7);
    qtest_memwrite(s, FW_DMA, img, sizeof(img));
    mb[0] = MBC_LOAD_RISC_RAM_EXTENDED;
    mb[1] = FW_RISC_ADDR & 0xffff;
    mb[8] = FW_RISC_ADDR >> 16;
    mb[5] = FW_DWORDS;
    mb_dma(mb, FW_DMA);
    g_assert_cmphex(mbox(s, mb, 9), ==, MBS_COMMAND_COMPLETE);
    memset(mb, 0, sizeof(mb));
    mb[0] = MBC_VERIFY_CHECKSUM;
    mb[1] = FW_RISC_ADDR >> 16;
    mb[2] = FW_RISC_ADDR & 0xffff;
    g_assert_cmphex(mbox(s, mb, 5), ==, MBS_COMMAND_COMPLETE);
    mb[0] = MBC_EXECUTE_FIRMWARE;
    g_assert_cmphex(mbox(s, mb, 5), ==, MBS_COMMAND_COMPLETE);

    /* struct init_cb_24xx (qla_fw.h), target mode */
    stw_le_p(icb + 0, 1);                       /* version */
    stw_le_p(icb + 4, 2048);                    /* frame_payload_size */
    stw_le_p(icb + 6, 0xffff);
    stq_be_p(icb + 12, 0x21000024ff00f022ull);
    stq_be_p(icb + 20, 0x20000024ff00f022ull);
    stw_le_p(icb + 32, 8);
    stw_le_p(icb + 36, RSP_LEN);
    stw_le_p(icb + 38, REQ_LEN);
    stq_le_p(icb + 44, REQ_DMA);
    stq_le_p(icb + 52, RSP_DMA);
    stw_le_p(icb + 78, ATIO_LEN);
    stq_le_p(icb + 80, ATIO_DMA);
    stl_le_p(icb + 92, ICB_FO1_TARGET);
    stl_le_p(icb + 96, ICB_FO2);
    stl_le_p(icb + 100, ICB_FO3);
    qtest_memwrite(s, ICB_DMA, icb, sizeof(icb));
    memset(mb, 0, sizeof(mb));
    mb[0] = MBC_MID_INITIALIZE_FIRMWARE;
    mb_dma(mb, ICB_DMA);
    g_assert_cmphex(mbox(s, mb, 9), ==, MBS_COMMAND_COMPLETE);

    /* link up, logins, the first ATIO (bounded: 20 ms virtual) */
    for (i = 0; i < 2000 && rd32(REG_ATIO_Q_IN) == 0; i++) {
        qtest_clock_step(s, STEP_NS);
        drain(s);
    }
    drain(s);

    /*
     * the initiator's handle and port ID as the driver learns them
     * (qla_mbx.c qla2x00_get_id_list): GET ID LIST into RAM, mb1 the
     * entries; the first entry (struct gid_list_info: le_id_t at 0,
     * loop_id at 4)
     */
    memset(mb, 0, sizeof(mb));
    mb[0] = MBC_GET_ID_LIST;
    mb_dma(mb, DATA_DMA);
    g_assert_cmphex(mbox(s, mb, 9), ==, MBS_COMMAND_COMPLETE);
    g_assert_cmpuint(qpci_io_readw(dev, bar1, REG_MAILBOX(1)), >=, 1);
    qtest_memread(s, DATA_DMA, ini_port_id, sizeof(ini_port_id));
    ini_handle = qtest_readw(s, DATA_DMA + 4);
    counter_shm_init();
}

static const uint8_t iocb_types[] = {
    ET_CTIO_TYPE7, ET_CTIO_TYPE7, ET_CTIO_TYPE7, ET_NOTIFY_ACK,
    ET_ABTS_RESP, ET_MARKER, ET_LOGINOUT, ET_ELS_PASSTHRU, ET_MBX_IOCB,
    ET_CONTINUE_A64, ET_CMD_TYPE7, ET_TSK_MGMT, ET_ABORT,
};

/* An IOCB from @d (64 bytes) put on the request ring; doorbell. */
static void op_iocb(QTestState *s, const uint8_t *d)
{
    uint8_t e[IOCB_SIZE];
    uint8_t flags = d[1];

    memcpy(e, d, IOCB_SIZE);
    e[0] = iocb_types[d[0] % sizeof(iocb_types)];
    if (!(flags & 0x80)) {
        e[1] = 1 + (flags & 1);                 /* entry_count 1 or 2 */
        e[3] = 0;                               /* entry_status */
    }
    if (flags & 0x40) {
        switch (e[0]) {
        case ET_CMD_TYPE7:
        case ET_TSK_MGMT:
        case ET_ABORT:
            /*
             * the initiator's login: nport_handle at 8, port_id at 48
             * (qla_fw.h cmd_type_7, tsk_mgmt_entry, abort_entry_24xx);
             * an Abort's handle_to_abort at 12
             */
            stw_le_p(e + 8, ini_handle);
            memcpy(e + 48, ini_port_id, sizeof(ini_port_id));
            if (e[0] == ET_ABORT) {
                stl_le_p(e + 12, last_cmd);
            }
            break;
        default:
            /*
             * the exchange of the last ATIO: CTIO 7 / NOTIFY ACK at 20,
             * ABTS response at 16 (qla_target.h)
             */
            stl_le_p(e + (e[0] == ET_ABTS_RESP ? 16 : 20), last_exch);
        }
    }
    if (e[0] == ET_CMD_TYPE7 || e[0] == ET_TSK_MGMT) {
        last_cmd = ldl_le_p(e + 4);
    }
    if (flags & 0x20) {
        /* the first DSD into RAM: CTIO 7 and Command Type 7 at 52/60 */
        stq_le_p(e + 52, DATA_DMA + (ldq_le_p(e + 52) % DATA_SIZE));
        stl_le_p(e + 60, ldl_le_p(e + 60) % 0x10000);
    }
    qtest_memwrite(s, REQ_DMA + req_in * IOCB_SIZE, e, IOCB_SIZE);
    req_in = (req_in + 1) % REQ_LEN;
    wr32(REG_REQ_Q_IN, req_in);
}

/* Bytes each operation takes from the input, its opcode included. */
/* The opcodes the firmware model answers (isp-mbx.c isp_mbx_commands). */
static const uint16_t mbx_opcodes[] = {
    0x00, 0x02, 0x03, 0x04, 0x06, 0x07, 0x08, 0x0b, 0x0c, 0x10, 0x14, 0x1a,
    0x20, 0x22, 0x27, 0x28, 0x2a, 0x30, 0x31, 0x34, 0x38, 0x42, 0x44, 0x45,
    0x48, 0x54, 0x59, 0x5a, 0x5d, 0x60, 0x63, 0x64, 0x69, 0x6a, 0x6d, 0x70,
    0x72, 0x75, 0x7c,
};

/*
 * A mailbox command from @d: d[0] flags (bit 7: opcode from the table by
 * d[1], else the raw word d[1..2]; bit 6: DMA addresses into RAM), then
 * mailboxes 1..21 from d[3..44]; the doorbell.
 */
static void op_mailbox(QTestState *s, const uint8_t *d)
{
    uint16_t mb[22];
    int i;

    mb[0] = (d[0] & 0x80) ? mbx_opcodes[d[1] % ARRAY_SIZE(mbx_opcodes)] :
                            lduw_le_p(d + 1);
    for (i = 1; i < 22; i++) {
        mb[i] = lduw_le_p(d + 1 + 2 * i);
    }
    if (d[0] & 0x40) {
        uint64_t a = DATA_DMA + (mb[3] % (DATA_SIZE / 2));
        uint64_t b = DATA_DMA + DATA_SIZE / 2 + (mb[17] % (DATA_SIZE / 2));

        mb[2] = a >> 16;                        /* qla_mbx.c MSW(LSD()) */
        mb[3] = a;
        mb[6] = a >> 48;
        mb[7] = a >> 32;
        mb[14] = a;                             /* loopback send */
        mb[15] = a >> 16;
        mb[20] = a >> 32;
        mb[21] = a >> 48;
        mb[16] = b;                             /* loopback receive */
        mb[17] = b >> 16;
        /* both below 4 GiB: the high words (mb6/mb7 too) are 0 */
    }
    for (i = 21; i >= 0; i--) {
        qpci_io_writew(dev, bar1, REG_MAILBOX(i), mb[i]);
    }
    wr32(REG_HCCR, HCCRX_SET_HOST_INT);
}

static const size_t op_len[] = { IOCB_SIZE + 1, 3, 45, 1, 6 };

static void qla2532_fuzz(QTestState *s, const unsigned char *data,
                         size_t size)
{
    uint8_t op[IOCB_SIZE + 1];
    size_t n;

    if (fork() != 0) {
        flush_events(s);
        wait(NULL);
        return;
    }
    while (size > 0) {
        n = MIN(size, sizeof(op));
        memset(op, 0, sizeof(op));
        memcpy(op, data, n);
        switch (op[0] % 5) {
        case 0:
            op_iocb(s, op + 1);
            break;
        case 1:
            qtest_clock_step(s, 1 + lduw_le_p(op + 1) * 100ull);
            break;
        case 2:
            op_mailbox(s, op + 1);
            break;
        case 3:
            drain(s);
            break;
        case 4:
            wr32((op[1] * 4) % REG_BLOCK_SIZE, ldl_le_p(op + 2));
            break;
        }
        /* each operation consumes its opcode and what it read */
        n = MIN(size, op_len[op[0] % 5]);
        data += n;
        size -= n;
    }
    flush_events(s);
    _Exit(0);
}

static GString *qla2532_fuzz_argv(FuzzTarget *t)
{
    static const char scenario[] =
        "{ \"name\": \"fuzz-target\", \"first-command-delay-us\": 1,"
        " \"command-gap-us\": 1, \"command-timeout-ms\": 2,"
        " \"max-passes\": 1000, \"commands\": ["
        " { \"op\": \"inquiry\" },"
        " { \"op\": \"write-10\", \"lba\": 0, \"blocks\": 8 },"
        " { \"op\": \"read-10\", \"lba\": 0, \"blocks\": 8 },"
        " { \"op\": \"report-luns\" } ] }\n";
    g_autofree char *path = NULL;
    int fd = g_file_open_tmp("qla2532-fuzz-XXXXXX.json", &path, NULL);
    GString *cmd;

    g_assert(fd >= 0);
    g_assert(write(fd, scenario, sizeof(scenario) - 1) ==
             sizeof(scenario) - 1);
    close(fd);
    cmd = g_string_new(TARGET_NAME);
    g_string_append_printf(cmd,
        " -machine pc,accel=qtest -m 64 -nodefaults -display none"
        " -L /usr/share/seabios -L /usr/share/qemu"
        " -device qla2532,addr=04.0,link-init-us=100,"
        "partner-login-delay-us=100,mbox-latency-ns=1000,scenario=%s",
        path);
    return cmd;
}

static void register_qla2532_fuzz_targets(void)
{
    fuzz_add_target(&(FuzzTarget){
        .name = "qla2532-target-fuzz",
        .description = "the ISP2532 brought up in target mode with the "
                       "simulated initiator sending commands; inputs are "
                       "IOCBs, mailbox commands, register writes, clock "
                       "steps and ring drains",
        .get_init_cmdline = qla2532_fuzz_argv,
        .pre_fuzz = qla2532_pre_fuzz,
        .fuzz = qla2532_fuzz,
    });
}

fuzz_target_init(register_qla2532_fuzz_targets);
