/*
 * QTest testcase for the QLogic ISP2532 Fibre Channel HBA (qla2532), as
 * qgraph tests on the libqos driver node "qla2532" (libqos/qla2532.c),
 * like megasas-test.c; what needs a PCIe machine is in
 * qla2532-pcie-test.c.
 *
 * The assertions are what the Linux 6.1 qla2xxx driver needs from the card
 * (drivers/scsi/qla2xxx/..., file:function named at each check), not a
 * restatement of the model.  Test by test:
 *
 * soft-reset     qla_init.c qla24xx_reset_risc (CSRX_DMA_ACTIVE clear,
 *                CSRX_ISP_SOFT_RESET self-clearing, mailbox0 == 0 when the
 *                ROM is ready, hccr SET_RISC_RESET / REL_RISC_PAUSE /
 *                CLR_RISC_RESET then mailbox0 == 0), qla_init.c
 *                qla24xx_chip_diag (mailbox test right after the reset).
 * mbox-reg-test  qla_mbx.c qla2x00_mbx_reg_test, qla_mbx.c
 *                qla2x00_mailbox_command (doorbell HCCRX_SET_HOST_INT),
 *                qla_isr.c qla24xx_intr_handler / qla24xx_mbx_completion
 *                (host_status HSRX_RISC_INT, mb0 = MSW(host_status), types
 *                0x1/0x2/0x10/0x11, HCCRX_CLR_RISC_INT acknowledges).
 * invalid-command qla_def.h MBS_INVALID_COMMAND; qla_init.c
 *                qla24xx_load_risc_blob (segments through
 *                qla_mbx.c qla2x00_load_ram), qla_mbx.c
 *                qla2x00_verify_checksum, qla2x00_execute_fw,
 *                qla2x00_get_fw_version (version in mb1..3, fw_attributes
 *                mb6 BIT_2 = NPIV support).
 * malformed-mbox qla_mbx.c qla2x00_load_ram, qla2x00_dump_ram (used by
 *                qla_sup.c qla25xx_read_optrom_data on the 0x7ff00000 flash
 *                window), qla2x00_read_sfp, qla2x00_verify_checksum,
 *                qla2x00_execute_fw: bad input gets an error status
 *                (anything but MBS_COMMAND_COMPLETE) and never kills the
 *                device; qla_sup.c qla24xx_read_flash_dword (flash_addr
 *                FARX_DATA_FLAG handshake, flash_data) and
 *                qla_sup.c qla2xxx_get_flash_info / qla2xxx_find_flt_start
 *                (boot image starts with the 0xaa55 ROM signature).
 * mbox-commands  the running firmware's commands as the driver issues
 *                them: qla_mbx.c qla2x00_get_resource_cnts,
 *                qla2x00_enable_eft_trace, qla2x00_set_fw_options /
 *                qla2x00_get_fw_options, qla25xx_set_driver_version,
 *                qla2x00_read_sfp (qla_init.c qla24xx_detect_sfp),
 *                qla2x00_init_firmware (then LIP / LOOP UP / PORT UPDATE,
 *                one event per interrupt, qla_isr.c qla2x00_async_event),
 *                qla2x00_get_firmware_state (qla_init.c qla2x00_fw_ready),
 *                qla2x00_get_adapter_id, qla2x00_get_retry_cnt,
 *                qla2x00_get_data_rate, qla2x00_get_fcal_position_map,
 *                qla2x00_get_id_list, qla2x00_get_port_database,
 *                qla24xx_get_port_login_templ (qla_init.c
 *                qla_get_login_template), qla2x00_full_login_lip.
 * mbox-invalid-params  the same commands with bad parameters, in the ROM
 *                state, before INITIALIZE FIRMWARE and without a partner:
 *                error status (0x4001 / 0x4005, mb1 = 7 for "loop in
 *                transition", qla_init.c qla2x00_configure_hba), no event.
 * iocb-malformed issue #4: request entries the firmware rejects come back
 *                as error entries (qla_def.h RF_*, qla_isr.c
 *                qla2x00_error_entry): entry_count, type, order, CTIO 7
 *                DSDs (qla_target.c qlt_load_cont_data_segments) before
 *                the exchange lookup (CTIO_INVALID_RX_ID,
 *                qlt_do_ctio_completion); a LOGINOUT with port ID 0
 *                (qla_isr.c qla24xx_logio_entry); a req_q_in beyond the
 *                ring is ignored; the device still answers afterwards.
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bitops.h"
#include "qemu/bswap.h"
#include "qemu/host-utils.h"
#include "libqtest.h"
#include "qemu/module.h"
#include "libqos/qgraph.h"
#include "libqos/pci.h"
#include "libqos/qla2532.h"
#include "libqos/pci-pc.h"
#include "qapi/qmp/qdict.h"
#include "qapi/qmp/qlist.h"
#include "qapi/qmp/qjson.h"
#include "qapi/error.h"
#include "hw/pci/pci_regs.h"
#include <sys/socket.h>
#include <sys/un.h>

/* struct device_reg_24xx, qla_fw.h: BAR1 offsets */
#define REG_FLASH_ADDR          0x00
#define REG_FLASH_DATA          0x04
#define REG_CTRL_STATUS         0x08
#define REG_ISTATUS             0x10
#define REG_HOST_STATUS         0x44
#define REG_HCCR                0x48
#define REG_MAILBOX(n)          (0x80 + 2 * (n))
#define NUM_MAILBOXES           32

/* qla_fw.h */
#define CSRX_ISP_SOFT_RESET     (1u << 0)
#define CSRX_DMA_SHUTDOWN       (1u << 16)
#define CSRX_DMA_ACTIVE         (1u << 17)
#define MWB_4096_BYTES          0x00000030
#define ISRX_RISC_INT           (1u << 3)
#define HSRX_RISC_INT           (1u << 15)
#define HCCRX_SET_RISC_RESET    0x10000000u
#define HCCRX_CLR_RISC_RESET    0x20000000u
#define HCCRX_REL_RISC_PAUSE    0x40000000u
#define HCCRX_SET_HOST_INT      0x50000000u
#define HCCRX_CLR_RISC_INT      0xa0000000u
#define HCCRX_RISC_RESET        (1u << 5)
#define FARX_DATA_FLAG          (1u << 31)
#define FARX_ACCESS_FLASH_DATA  0x7ff00000u
#define FLASH_DWORDS            (0x200000 / 4)  /* OPTROM_SIZE_25XX */

/* qla_def.h mailbox completion status and host_status[7:0] types */
#define MBS_COMMAND_COMPLETE    0x4000
#define MBS_INVALID_COMMAND     0x4001
#define MBS_COMMAND_ERROR       0x4005
#define INTR_ROM_MB_SUCCESS     0x01
#define INTR_ROM_MB_FAILED      0x02
#define INTR_MB_SUCCESS         0x10
#define INTR_MB_FAILED          0x11

/* qla_def.h mailbox opcodes */
#define MBC_EXECUTE_FIRMWARE        0x02
#define MBC_MAILBOX_REGISTER_TEST   0x06
#define MBC_VERIFY_CHECKSUM         0x07
#define MBC_GET_FIRMWARE_VERSION    0x08
#define MBC_LOAD_RISC_RAM_EXTENDED  0x0b
#define MBC_DUMP_RISC_RAM_EXTENDED  0x0c
#define MBC_READ_SFP                0x31
#define MBC_UNKNOWN                 0x7f

/* struct device_reg_24xx ring indices (qla_fw.h) */
#define REG_REQ_Q_IN            0x1c
#define REG_REQ_Q_OUT           0x20
#define REG_RSP_Q_IN            0x24
#define REG_RSP_Q_OUT           0x28
#define REG_ATIO_Q_IN           0x3c
#define REG_ATIO_Q_OUT          0x40

/* qla_def.h host_status[7:0] event types and asynchronous event codes */
#define INTR_ASYNC_EVENT        0x12
#define INTR_RSP_QUE_UPDATE     0x13
#define INTR_ATIO_QUE_UPDATE    0x1c
#define MBA_LIP_OCCURRED        0x8010
#define MBA_LOOP_UP             0x8011
#define MBA_LOOP_DOWN           0x8012
#define MBA_PORT_UPDATE         0x8014

/* qla_def.h mailbox opcodes of the running firmware */
#define MBC_GET_ADAPTER_LOOP_ID     0x20
#define MBC_GET_RETRY_COUNT         0x22
#define MBC_TRACE_CONTROL           0x27
#define MBC_GET_FIRMWARE_OPTION     0x28
#define MBC_SET_FIRMWARE_OPTION     0x38
#define MBC_GET_RESOURCE_COUNTS     0x42
#define MBC_MID_INITIALIZE_FIRMWARE 0x48
#define MBC_SET_RNID_PARAMS         0x59
#define MBC_GET_RNID_PARAMS         0x5a
#define MBC_DATA_RATE               0x5d
#define MBC_GET_FC_AL_POSITION_MAP  0x63
#define MBC_GET_PORT_DATABASE       0x64
#define MBC_GET_FIRMWARE_STATE      0x69
#define MBC_LIP_FULL_LOGIN          0x72
#define MBC_GET_ID_LIST             0x7c
#define MBC_GET_PORT_NAME           0x6a
#define MBC_SEND_CHANGE_REQUEST     0x70
#define MBC_INITIALIZE_FIRMWARE     0x60
/* issue #12: qla_def.h MBC_* of the diagnostic and management commands */
#define MBC_WRITE_SERDES            0x03
#define MBC_READ_SERDES             0x04
#define MBC_PORT_PARAMS             0x1a
#define MBC_GEN_SYSTEM_ERROR        0x2a
#define MBC_WRITE_SFP               0x30
#define MBC_GET_MEM_OFFLOAD_CNTRL_STAT 0x34
#define MBC_DIAGNOSTIC_ECHO         0x44
#define MBC_DIAGNOSTIC_LOOP_BACK    0x45
#define MBC_IOCB_COMMAND_A64        0x54
#define MBA_SYSTEM_ERR              0x8002
#define PORT_SPEED_4GB              0x03

/* qla_fw.h / qla_def.h values the driver sends or tests */
#define TC_EFT_ENABLE           4
#define TC_AEN_DISABLE          0
#define RNID_TYPE_PORT_LOGIN    0x7
#define RNID_TYPE_SET_VERSION   0x9
#define FSTATE_CONFIG_WAIT      0
#define FSTATE_READY            3
#define FSTATE_LOSS_OF_SYNC     4
#define PORT_SPEED_8GB          0x04
#define PDS_PRLI_COMPLETE       0x06
#define FC_LL_VL                BIT(7)
#define FC_LL_L                 BIT(4)
#define LOGIN_TEMPLATE_SIZE     116     /* sizeof(struct fc_els_flogi) */
#define FCAL_MAP_SIZE           128

/* struct init_cb_24xx (qla_fw.h), 128 bytes */
#define ICB_SIZE                128
#define ICB_VERSION             1
/* qla_init.c qla24xx_nvram_config defaults; target mode drops BIT_13 */
#define ICB_FO1_INITIATOR       (BIT(14) | BIT(13) | BIT(2) | BIT(1))
#define ICB_FO1_TARGET          (BIT(14) | BIT(4) | BIT(2) | BIT(1))
#define ICB_FO2                 ((2 << 4) | BIT(12))   /* loop preferred */
#define ICB_FO3                 (2 << 13)              /* auto speed */
#define RING_REQ_LEN            8
#define RING_RSP_LEN            16
#define RING_ATIO_LEN           8

/* IOCBs (qla_fw.h, qla_target.h) */
#define IOCB_SIZE               64
#define ET_MARKER               0x04
#define ET_ATIO_TYPE7           0x06
#define ET_CONTINUE_A64         0x0a
#define ET_CTIO_TYPE7           0x12
#define ET_LOGINOUT             0x52
#define ET_IMMED_NOTIFY         0x0d
#define ET_NOTIFY_ACK           0x0e
#define ET_MBX_IOCB             0x39
#define ET_ABTS_RESP            0x55
#define CTIO7_FLAGS_DATA_OUT    BIT(0)
#define NOTIFY_ACK_INVALID_EXCH 0x08    /* [fw?] the model's choice */
#define ABTS_RESP_COMPL_SUBCODE_ERROR 0x31
#define MBA_REQ_TRANSFER_ERR    0x8003
#define ET_UNKNOWN              0x7f
#define RF_INV_E_ORDER          BIT(5)
#define RF_INV_E_COUNT          BIT(4)
#define RF_INV_E_PARAM          BIT(3)
#define RF_INV_E_TYPE           BIT(2)
#define CTIO7_FLAGS_DATA_IN     BIT(1)
#define CTIO7_FLAGS_SEND_STATUS BIT(15)
#define CTIO_SUCCESS            0x01
#define CTIO_INVALID_RX_ID      0x08
#define CTIO_HANDLE_MARK        BIT(29) /* CTIO_COMPLETION_HANDLE_MARK */
#define CS_LOGIO_ERROR          0x31
#define LSC_SCODE_NOT_LOGGED_IN 0x09
#define LCF_COMMAND_LOGO        0x08
#define LSC_SCODE_CMD_PARAM_ERR 0x19
#define LSC_SCODE_PORTID_USED   0x1a
#define LSC_SCODE_NPORT_USED    0x1b

/* Names: ours in the ICB, the partner's are the device defaults. */
#define OUR_WWPN                0x21000024ff00beefULL
#define OUR_WWNN                0x20000024ff00beefULL
#define PARTNER_WWPN            0x2100001b32aa0001ULL
#define PARTNER_WWNN            0x2000001b32aa0001ULL

/* Short link and login delays: everything settles within ~1 ms. */
#define QLA_FAST                "link-init-us=100,partner-login-delay-us=100"
#define EVENT_STEP_NS           10000
#define SETTLE_NS               (2 * 1000 * 1000)

/* Firmware image: one segment at the driver's usual start address. */
#define FW_RISC_ADDR            0x00100000u
#define FW_DWORDS               64
static const uint16_t fw_version[3] = { 5, 6, 7 };  /* != flash's 8.7.0 */

/* Virtual-clock step and bound for waiting on a mailbox completion. */
#define MBOX_POLL_NS            1000
#define MBOX_POLL_MAX           10000   /* 10 ms of virtual time */

/* Asynchronous events kept by the firmware-state tests. */
#define AEN_MAX                 64

typedef struct QlaTest {
    QTestState *qts;
    QGuestAllocator *alloc;
    QPCIDevice *dev;
    QPCIBar bar1;
    /* after INITIALIZE FIRMWARE: events taken and the rings */
    uint16_t aen[AEN_MAX][4];
    int naen;
    int nrspq;
    int natioq;
    uint64_t req, rsp, atio;
    uint16_t req_len, rsp_len, atio_len;
    uint16_t req_in, rsp_out, atio_out;
} QlaTest;

/* The test's view of the device the qgraph node started (libqos/qla2532.c:
 * enabled, BAR1 mapped); @alloc is the machine's guest allocator. */
static void qla_attach(QlaTest *t, void *obj, QGuestAllocator *alloc)
{
    QQla2532 *q = obj;

    memset(t, 0, sizeof(*t));
    t->dev = &q->dev;
    t->qts = q->dev.bus->qts;
    t->alloc = alloc;
    t->bar1 = q->bar1;
}

/* Every test leaves the firmware in a state of its own: the next test
 * gets a fresh QEMU (qos-test would otherwise only reset the machine). */
static void qla_detach(QlaTest *t)
{
    qos_invalidate_command_line();
}

static uint32_t rd32(QlaTest *t, uint64_t off)
{
    return qpci_io_readl(t->dev, t->bar1, off);
}

static void wr32(QlaTest *t, uint64_t off, uint32_t val)
{
    qpci_io_writel(t->dev, t->bar1, off, val);
}

static uint16_t rd_mb(QlaTest *t, int n)
{
    return qpci_io_readw(t->dev, t->bar1, REG_MAILBOX(n));
}

/*
 * Load mailboxes 0..n-1 from @mb (the rest 0) and ring the doorbell, as
 * qla_mbx.c qla2x00_mailbox_command does.
 */
static void mbox_submit(QlaTest *t, const uint16_t *mb, int n)
{
    int i;

    for (i = 1; i < NUM_MAILBOXES; i++) {
        qpci_io_writew(t->dev, t->bar1, REG_MAILBOX(i), i < n ? mb[i] : 0);
    }
    qpci_io_writew(t->dev, t->bar1, REG_MAILBOX(0), mb[0]);
    wr32(t, REG_HCCR, HCCRX_SET_HOST_INT);
}

/* Step the virtual clock until host_status has HSRX_RISC_INT (bounded). */
static uint32_t mbox_wait(QlaTest *t)
{
    uint32_t hs = 0;
    int i;

    for (i = 0; i < MBOX_POLL_MAX; i++) {
        hs = rd32(t, REG_HOST_STATUS);
        if (hs & HSRX_RISC_INT) {
            break;
        }
        qtest_clock_step(t->qts, MBOX_POLL_NS);
    }
    g_assert_cmphex(hs & HSRX_RISC_INT, ==, HSRX_RISC_INT);
    return hs;
}

/*
 * Run one mailbox command: submit, wait, read @nout outgoing mailboxes into
 * @out (may be NULL), acknowledge with CLR_RISC_INT.  Returns the
 * completion status (mb0 = MSW(host_status), qla_isr.c
 * qla24xx_intr_handler); *@type gets host_status[7:0] if @type is set.
 */
static uint16_t mbox_exec(QlaTest *t, const uint16_t *mb, int n,
                          uint16_t *out, int nout, uint8_t *type)
{
    uint32_t hs;
    uint16_t status;
    uint8_t code;
    int i;

    mbox_submit(t, mb, n);
    hs = mbox_wait(t);
    status = hs >> 16;
    code = hs & 0xff;
    /* qla_isr.c qla24xx_intr_handler: only these mean "mailbox done" */
    g_assert(code == INTR_ROM_MB_SUCCESS || code == INTR_ROM_MB_FAILED ||
             code == INTR_MB_SUCCESS || code == INTR_MB_FAILED);
    /* success types iff status 0x4000 (qla_def.h INTR_*_MB_SUCCESS) */
    g_assert_cmpint(code == INTR_ROM_MB_SUCCESS || code == INTR_MB_SUCCESS,
                    ==, status == MBS_COMMAND_COMPLETE);
    g_assert_cmphex(rd32(t, REG_ISTATUS) & ISRX_RISC_INT, ==, ISRX_RISC_INT);
    for (i = 0; out && i < nout; i++) {
        out[i] = rd_mb(t, i);
    }
    if (type) {
        *type = code;
    }
    wr32(t, REG_HCCR, HCCRX_CLR_RISC_INT);
    /* nothing else can be queued: no INITIALIZE FIRMWARE in these tests */
    g_assert_cmphex(rd32(t, REG_HOST_STATUS), ==, 0);
    return status;
}

/* Fill mb[] for a DMA command: mb2/3/6/7 = the 64-bit bus address. */
static void mb_set_dma(uint16_t *mb, uint64_t dma)
{
    mb[2] = dma >> 16;
    mb[3] = dma;
    mb[6] = dma >> 48;
    mb[7] = dma >> 32;
}

/*
 * MBC 0x0b / 0x0c (qla_mbx.c qla2x00_load_ram / qla2x00_dump_ram):
 * mb8:mb1 RISC address, mb4:mb5 dword count.
 */
static void mbox_ram_args(uint16_t *mb, uint16_t op, uint32_t risc,
                          uint64_t dma, uint32_t dwords)
{
    memset(mb, 0, 9 * sizeof(mb[0]));
    mb[0] = op;
    mb[1] = risc;
    mb[8] = risc >> 16;
    mb[4] = dwords >> 16;
    mb[5] = dwords;
    mb_set_dma(mb, dma);
}

static uint16_t mbox_ram(QlaTest *t, uint16_t op, uint32_t risc,
                         uint64_t dma, uint32_t dwords)
{
    uint16_t mb[9];

    mbox_ram_args(mb, op, risc, dma, dwords);
    return mbox_exec(t, mb, 9, NULL, 0, NULL);
}

/* MBC 0x07 / 0x02: mb1 = MSW, mb2 = LSW of the RISC address. */
static uint16_t mbox_at(QlaTest *t, uint16_t op, uint32_t risc,
                        uint8_t *type)
{
    uint16_t mb[5] = { op, risc >> 16, risc };

    return mbox_exec(t, mb, 5, NULL, 0, type);
}

/*
 * Put a one-segment firmware image in guest memory as
 * qla_init.c qla24xx_load_risc_blob hands it to qla2x00_load_ram:
 * little-endian dwords, dword 2 the load address, dword 3 the length
 * (header included), dwords 4..7 the version.
 */
static uint64_t fw_image(QlaTest *t)
{
    uint32_t img[FW_DWORDS] = { 0 };
    uint64_t dma = guest_alloc(t->alloc, sizeof(img));
    int i;

    img[2] = cpu_to_le32(FW_RISC_ADDR);
    img[3] = cpu_to_le32(FW_DWORDS);
    for (i = 0; i < 3; i++) {
        img[4 + i] = cpu_to_le32(fw_version[i]);
    }
    img[7] = 0;
    qtest_memwrite(t->qts, dma, img, sizeof(img));
    return dma;
}

/* Load, verify and start the firmware; it then answers, not the ROM. */
static void fw_start(QlaTest *t)
{
    uint64_t dma = fw_image(t);
    uint8_t type;

    g_assert_cmphex(mbox_ram(t, MBC_LOAD_RISC_RAM_EXTENDED, FW_RISC_ADDR,
                             dma, FW_DWORDS), ==, MBS_COMMAND_COMPLETE);
    g_assert_cmphex(mbox_at(t, MBC_VERIFY_CHECKSUM, FW_RISC_ADDR, NULL), ==,
                    MBS_COMMAND_COMPLETE);
    g_assert_cmphex(mbox_at(t, MBC_EXECUTE_FIRMWARE, FW_RISC_ADDR, &type),
                    ==, MBS_COMMAND_COMPLETE);
}

static uint16_t mbox_op(QlaTest *t, uint16_t op, uint8_t *type)
{
    uint16_t mb[1] = { op };

    return mbox_exec(t, mb, 1, NULL, 0, type);
}

static void test_soft_reset(void *obj, void *data, QGuestAllocator *alloc)
{
    QlaTest t;
    uint16_t out[4];
    uint16_t mb[1] = { MBC_MAILBOX_REGISTER_TEST };
    uint8_t type;
    int i;

    qla_attach(&t, obj, alloc);
    fw_start(&t);
    /* firmware is running: GET FIRMWARE VERSION succeeds */
    g_assert_cmphex(mbox_op(&t, MBC_GET_FIRMWARE_VERSION, &type), ==,
                    MBS_COMMAND_COMPLETE);
    g_assert_cmphex(type, ==, INTR_MB_SUCCESS);

    /* leave a completed, unacknowledged mailbox event pending */
    mbox_submit(&t, mb, 1);
    mbox_wait(&t);
    g_assert_cmphex(rd_mb(&t, 0), ==, MBS_COMMAND_COMPLETE);

    /* qla_init.c qla24xx_reset_risc */
    wr32(&t, REG_CTRL_STATUS,
         CSRX_ISP_SOFT_RESET | CSRX_DMA_SHUTDOWN | MWB_4096_BYTES);
    g_assert_cmphex(rd32(&t, REG_CTRL_STATUS) & CSRX_ISP_SOFT_RESET, ==, 0);
    g_assert_cmphex(rd32(&t, REG_CTRL_STATUS) & CSRX_DMA_ACTIVE, ==, 0);
    g_assert_cmphex(rd_mb(&t, 0), ==, 0);
    g_assert_cmphex(rd32(&t, REG_HOST_STATUS), ==, 0);
    g_assert_cmphex(rd32(&t, REG_ISTATUS) & ISRX_RISC_INT, ==, 0);
    /* and nothing shows up later either */
    qtest_clock_step(t.qts, 1000 * 1000);
    g_assert_cmphex(rd32(&t, REG_HOST_STATUS), ==, 0);

    /* the RISC is back in its boot ROM: firmware commands are unknown */
    g_assert_cmphex(mbox_op(&t, MBC_GET_FIRMWARE_VERSION, &type), ==,
                    MBS_INVALID_COMMAND);
    g_assert_cmphex(type, ==, INTR_ROM_MB_FAILED);

    /* a completed command leaves mailbox0 != 0 ... */
    g_assert_cmphex(mbox_exec(&t, mb, 1, out, 1, NULL), ==,
                    MBS_COMMAND_COMPLETE);
    g_assert_cmphex(rd_mb(&t, 0), ==, MBS_COMMAND_COMPLETE);

    /* ... the RISC reset sequence of qla24xx_reset_risc clears it */
    wr32(&t, REG_HCCR, HCCRX_SET_RISC_RESET);
    g_assert_cmphex(rd32(&t, REG_HCCR) & HCCRX_RISC_RESET, ==,
                    HCCRX_RISC_RESET);
    wr32(&t, REG_HCCR, HCCRX_REL_RISC_PAUSE);
    rd32(&t, REG_HCCR);
    wr32(&t, REG_HCCR, HCCRX_CLR_RISC_RESET);
    rd32(&t, REG_HCCR);
    for (i = 0; i < 300 && rd_mb(&t, 0) != 0; i++) {
        qtest_clock_step(t.qts, 1000);
    }
    g_assert_cmphex(rd_mb(&t, 0), ==, 0);
    g_assert_cmphex(rd32(&t, REG_HCCR) & HCCRX_RISC_RESET, ==, 0);

    /* qla_init.c qla24xx_chip_diag: the ROM answers right after */
    g_assert_cmphex(mbox_exec(&t, mb, 1, NULL, 0, &type), ==,
                    MBS_COMMAND_COMPLETE);
    g_assert_cmphex(type, ==, INTR_ROM_MB_SUCCESS);

    qla_detach(&t);
}

static void mbx_reg_test(QlaTest *t, uint16_t invert)
{
    static const uint16_t pattern[8] = {
        MBC_MAILBOX_REGISTER_TEST, 0xaaaa, 0x5555, 0xaa55, 0x55aa,
        0xa5a5, 0x5a5a, 0x2525,
    };
    uint16_t mb[8], out[8];
    uint32_t hs;
    int i;

    mb[0] = pattern[0];
    for (i = 1; i < 8; i++) {
        mb[i] = pattern[i] ^ invert;
    }
    mbox_submit(t, mb, 8);
    /*
     * Mailboxes read the RISC-to-host bank: mailbox1 is not what the host
     * just wrote, so the echo checked below really comes from the RISC.
     */
    g_assert_cmphex(rd_mb(t, 1), !=, mb[1]);
    hs = mbox_wait(t);
    g_assert_cmphex(hs >> 16, ==, MBS_COMMAND_COMPLETE);
    g_assert_cmphex(hs & 0xff, ==, INTR_ROM_MB_SUCCESS);
    for (i = 0; i < 8; i++) {
        out[i] = rd_mb(t, i);
    }
    g_assert_cmphex(out[0], ==, MBS_COMMAND_COMPLETE);
    for (i = 1; i < 8; i++) {
        g_assert_cmphex(out[i], ==, mb[i]);
    }
    wr32(t, REG_HCCR, HCCRX_CLR_RISC_INT);
    g_assert_cmphex(rd32(t, REG_HOST_STATUS), ==, 0);
    g_assert_cmphex(rd32(t, REG_ISTATUS) & ISRX_RISC_INT, ==, 0);
}

static void test_mbox_reg_test(void *obj, void *data, QGuestAllocator *alloc)
{
    QlaTest t;

    qla_attach(&t, obj, alloc);
    mbx_reg_test(&t, 0);
    /* a second, different pattern: an echo, not constants */
    mbx_reg_test(&t, 0xffff);
    qla_detach(&t);
}

static void test_invalid_command(void *obj, void *data, QGuestAllocator *alloc)
{
    QlaTest t;
    uint16_t out[18];
    uint16_t mb[1] = { MBC_GET_FIRMWARE_VERSION };
    uint8_t type;

    g_autofree char *log = data;        /* unimp_log_before */
    g_autofree char *log_text = NULL;

    qla_attach(&t, obj, alloc);
    g_assert_cmphex(mbox_op(&t, MBC_UNKNOWN, &type), ==, MBS_INVALID_COMMAND);
    g_assert_cmphex(type, ==, INTR_ROM_MB_FAILED);
    /* a firmware command in the ROM: invalid there, but modelled */
    g_assert_cmphex(mbox_op(&t, MBC_GET_FIRMWARE_VERSION, &type), ==,
                    MBS_INVALID_COMMAND);

    fw_start(&t);
    g_assert_cmphex(mbox_exec(&t, mb, 1, out, 18, &type), ==,
                    MBS_COMMAND_COMPLETE);
    g_assert_cmphex(type, ==, INTR_MB_SUCCESS);
    /* the version of the image just loaded, not of the flash's firmware */
    g_assert_cmphex(out[1], ==, fw_version[0]);
    g_assert_cmphex(out[2], ==, fw_version[1]);
    g_assert_cmphex(out[3], ==, fw_version[2]);
    /*
     * fw_attributes BIT_2: NPIV (qla_init.c qla2x00_setup_chip sets
     * npiv_supported; qla_mbx.c qla2x00_init_firmware then uses 0x48).
     */
    g_assert_cmphex(out[6] & BIT(2), ==, BIT(2));
    /*
     * fw_memory_size = mb5:mb4; qla_init.c qla2x00_alloc_fw_dump sizes the
     * dump as fw_memory_size - 0x100000 + 1 dwords.
     */
    g_assert_cmphex((uint32_t)out[5] << 16 | out[4], >=, 0x100000);
    /* fw_attributes_h: no FC-NVMe on a 2532 (FW_ATTR_H_NVME*) */
    g_assert_cmphex(out[15] & (BIT(10) | BIT(14)), ==, 0);

    g_assert_cmphex(mbox_op(&t, MBC_UNKNOWN, &type), ==, MBS_INVALID_COMMAND);
    g_assert_cmphex(type, ==, INTR_MB_FAILED);
    qla_detach(&t);
    /* an opcode the model does not know is logged as unimplemented (-d
     * unimp), each time; a known one refused in the ROM is not */
    g_assert(g_file_get_contents(log, &log_text, NULL, NULL));
    g_assert(strstr(log_text, "mailbox command 0x007f is not modelled"));
    g_assert(strstr(strstr(log_text, "0x007f") + 1, "0x007f"));
    g_assert(!strstr(log_text, "0x0008"));
    unlink(log);
}

static void test_malformed_mbox(void *obj, void *data, QGuestAllocator *alloc)
{
    QlaTest t;
    const uint64_t bad_dma = 0xfffffffff000ULL;
    uint16_t mb[11];
    uint64_t buf, img;
    uint8_t sfp[64];
    uint32_t v;
    int i;

    qla_attach(&t, obj, alloc);
    buf = guest_alloc(t.alloc, 0x1000);
    img = fw_image(&t);

    /* nothing loaded yet: verify / execute must not succeed */
    g_assert_cmphex(mbox_at(&t, MBC_VERIFY_CHECKSUM, FW_RISC_ADDR, NULL),
                    !=, MBS_COMMAND_COMPLETE);
    g_assert_cmphex(mbox_at(&t, MBC_EXECUTE_FIRMWARE, FW_RISC_ADDR, NULL),
                    !=, MBS_COMMAND_COMPLETE);

    /* LOAD RISC RAM: zero length, address outside RAM, bad DMA, overflow */
    g_assert_cmphex(mbox_ram(&t, MBC_LOAD_RISC_RAM_EXTENDED, FW_RISC_ADDR,
                             img, 0), ==, MBS_COMMAND_ERROR);
    g_assert_cmphex(mbox_ram(&t, MBC_LOAD_RISC_RAM_EXTENDED, 0x00300000,
                             img, FW_DWORDS), ==, MBS_COMMAND_ERROR);
    g_assert_cmphex(mbox_ram(&t, MBC_LOAD_RISC_RAM_EXTENDED, 0xffffffff,
                             img, 1), ==, MBS_COMMAND_ERROR);
    g_assert_cmphex(mbox_ram(&t, MBC_LOAD_RISC_RAM_EXTENDED, FW_RISC_ADDR,
                             bad_dma, FW_DWORDS), ==, MBS_COMMAND_ERROR);
    g_assert_cmphex(mbox_ram(&t, MBC_LOAD_RISC_RAM_EXTENDED, FW_RISC_ADDR,
                             img, 0x40000001), ==, MBS_COMMAND_ERROR);
    g_assert_cmphex(mbox_ram(&t, MBC_LOAD_RISC_RAM_EXTENDED, FW_RISC_ADDR,
                             img, 0xffffffff), ==, MBS_COMMAND_ERROR);
    /* none of them left a startable image behind */
    g_assert_cmphex(mbox_at(&t, MBC_EXECUTE_FIRMWARE, FW_RISC_ADDR, NULL),
                    !=, MBS_COMMAND_COMPLETE);

    /* DUMP RISC RAM on the flash window (qla25xx_read_optrom_data) */
    qtest_memset(t.qts, buf, 0, 4);
    g_assert_cmphex(mbox_ram(&t, MBC_DUMP_RISC_RAM_EXTENDED,
                             FARX_ACCESS_FLASH_DATA, buf, 1), ==,
                    MBS_COMMAND_COMPLETE);
    g_assert_cmphex(qtest_readw(t.qts, buf), ==, 0xaa55);
    g_assert_cmphex(mbox_ram(&t, MBC_DUMP_RISC_RAM_EXTENDED,
                             FARX_ACCESS_FLASH_DATA + FLASH_DWORDS, buf, 1),
                    ==, MBS_COMMAND_ERROR);
    g_assert_cmphex(mbox_ram(&t, MBC_DUMP_RISC_RAM_EXTENDED,
                             FARX_ACCESS_FLASH_DATA + FLASH_DWORDS - 1, buf,
                             2), ==, MBS_COMMAND_ERROR);
    g_assert_cmphex(mbox_ram(&t, MBC_DUMP_RISC_RAM_EXTENDED,
                             FARX_ACCESS_FLASH_DATA, buf, 0x40000001), ==,
                    MBS_COMMAND_ERROR);
    g_assert_cmphex(mbox_ram(&t, MBC_DUMP_RISC_RAM_EXTENDED,
                             FARX_ACCESS_FLASH_DATA, bad_dma, 1), ==,
                    MBS_COMMAND_ERROR);

    /* the device survived: load and start the firmware normally */
    fw_start(&t);

    /* READ SFP (qla_mbx.c qla2x00_read_sfp): mb8 length, mb9 offset */
    memset(mb, 0, sizeof(mb));
    mb[0] = MBC_READ_SFP;
    mb[1] = 0xa0;
    mb_set_dma(mb, buf);
    mb[8] = sizeof(sfp);
    mb[9] = 0;
    g_assert_cmphex(mbox_exec(&t, mb, 11, NULL, 0, NULL), ==,
                    MBS_COMMAND_COMPLETE);
    qtest_memread(t.qts, buf, sfp, sizeof(sfp));
    g_assert_cmphex(sfp[0], ==, 0x03);      /* SFF-8472 identifier: SFP */
    mb[8] = 0x20;
    mb[9] = 0xf0;
    g_assert_cmphex(mbox_exec(&t, mb, 11, NULL, 0, NULL), ==,
                    MBS_COMMAND_ERROR);
    mb[8] = 1;
    mb[9] = 0x100;
    g_assert_cmphex(mbox_exec(&t, mb, 11, NULL, 0, NULL), ==,
                    MBS_COMMAND_ERROR);
    mb[8] = 0xffff;
    mb[9] = 0xffff;
    g_assert_cmphex(mbox_exec(&t, mb, 11, NULL, 0, NULL), ==,
                    MBS_COMMAND_ERROR);

    /* flash register path (qla_sup.c qla24xx_read_flash_dword) */
    for (i = 0; i < 2; i++) {
        int n;

        wr32(&t, REG_FLASH_ADDR, FARX_ACCESS_FLASH_DATA + i);
        for (n = 0; n < 100; n++) {
            v = rd32(&t, REG_FLASH_ADDR);
            if (v & FARX_DATA_FLAG) {
                break;
            }
            qtest_clock_step(t.qts, 10000);
        }
        g_assert_cmphex(v, ==, FARX_DATA_FLAG | (FARX_ACCESS_FLASH_DATA + i));
        v = rd32(&t, REG_FLASH_DATA);
        if (i == 0) {
            g_assert_cmphex(v & 0xffff, ==, 0xaa55);
        }
    }

    qla_detach(&t);
}

/* ---------------------------------------------------------------------- */
/* Running firmware: events, INITIALIZE FIRMWARE, rings                   */
/* ---------------------------------------------------------------------- */

/*
 * Take the presented event, which is not a mailbox completion
 * (qla_isr.c qla24xx_intr_handler: 0x12 asynchronous event with mb0..3,
 * 0x13 response queue, 0x1c ATIO queue), and acknowledge it with
 * CLR_RISC_INT.
 */
static void event_take(QlaTest *t, uint32_t hs)
{
    uint8_t code = hs & 0xff;
    int i;

    switch (code) {
    case INTR_ASYNC_EVENT:
        g_assert_cmpint(t->naen, <, AEN_MAX);
        for (i = 0; i < 4; i++) {
            t->aen[t->naen][i] = rd_mb(t, i);
        }
        /* mb[0] = MSW(host_status); qla2x00_async_event wants 0x8xxx */
        g_assert_cmphex(t->aen[t->naen][0], ==, hs >> 16);
        g_assert_cmphex(hs >> 16, >=, 0x8000);
        t->naen++;
        break;
    case INTR_RSP_QUE_UPDATE:
        t->nrspq++;
        break;
    case INTR_ATIO_QUE_UPDATE:
        t->natioq++;
        break;
    default:
        /* a mailbox completion nobody waits for, or an unknown type */
        g_assert_cmphex(code, ==, INTR_ASYNC_EVENT);
    }
    wr32(t, REG_HCCR, HCCRX_CLR_RISC_INT);
}

/* Take every event presented now, without advancing the clock. */
static void events_poll(QlaTest *t)
{
    uint32_t hs;
    int i;

    for (i = 0; i < 2 * AEN_MAX; i++) {     /* the queue holds 64 */
        hs = rd32(t, REG_HOST_STATUS);
        if (!(hs & HSRX_RISC_INT)) {
            return;
        }
        event_take(t, hs);
    }
    g_assert_not_reached();
}

/* Run the virtual clock for @ns, taking events as they come. */
static void events_run(QlaTest *t, int64_t ns)
{
    int64_t done;

    for (done = 0; done < ns; done += EVENT_STEP_NS) {
        events_poll(t);
        qtest_clock_step(t->qts, EVENT_STEP_NS);
    }
    events_poll(t);
}

/* Index of the first AEN @code at or after @from, or -1. */
static int aen_find(QlaTest *t, int from, uint16_t code)
{
    int i;

    for (i = from; i < t->naen; i++) {
        if (t->aen[i][0] == code) {
            return i;
        }
    }
    return -1;
}

/*
 * A mailbox command to the running firmware while events flow: events
 * presented before the completion are taken, as the driver's interrupt
 * handler does while qla_mbx.c qla2x00_mailbox_command waits.  @out gets
 * mailboxes 0..@nout-1 of the completion.  Returns the status.
 */
static uint16_t fw_mbox(QlaTest *t, const uint16_t *mb, int n, uint16_t *out,
                        int nout)
{
    uint32_t hs = 0;
    uint8_t code = 0;
    int i;

    mbox_submit(t, mb, n);
    for (i = 0; i < MBOX_POLL_MAX; i++) {
        hs = rd32(t, REG_HOST_STATUS);
        code = hs & 0xff;
        if ((hs & HSRX_RISC_INT) &&
            (code == INTR_MB_SUCCESS || code == INTR_MB_FAILED)) {
            break;
        }
        if (hs & HSRX_RISC_INT) {
            event_take(t, hs);
        } else {
            qtest_clock_step(t->qts, MBOX_POLL_NS);
        }
    }
    g_assert_cmphex(hs & HSRX_RISC_INT, ==, HSRX_RISC_INT);
    /* firmware state: the firmware answers (qla_def.h INTR_MB_*) */
    g_assert(code == INTR_MB_SUCCESS || code == INTR_MB_FAILED);
    g_assert_cmpint(code == INTR_MB_SUCCESS, ==,
                    (hs >> 16) == MBS_COMMAND_COMPLETE);
    for (i = 0; out && i < nout; i++) {
        out[i] = rd_mb(t, i);
    }
    wr32(t, REG_HCCR, HCCRX_CLR_RISC_INT);
    return hs >> 16;
}

static uint16_t fw_op(QlaTest *t, uint16_t op, uint16_t *out, int nout)
{
    uint16_t mb[1] = { op };

    return fw_mbox(t, mb, 1, out, nout);
}

/* A DMA command: mb2/3/6/7 = @dma, plus mb1 and mb8. */
static uint16_t fw_dma(QlaTest *t, uint16_t op, uint16_t mb1, uint64_t dma,
                       uint16_t mb8, uint16_t *out, int nout)
{
    uint16_t mb[11] = { op, mb1 };

    mb_set_dma(mb, dma);
    mb[8] = mb8;
    return fw_mbox(t, mb, 11, out, nout);
}

/* MBC 0x0b / 0x0c to the running firmware (see mbox_ram). */
static uint16_t mbox_ram_fw(QlaTest *t, uint16_t op, uint32_t risc,
                            uint64_t dma, uint32_t dwords)
{
    uint16_t mb[9];

    mbox_ram_args(mb, op, risc, dma, dwords);
    return fw_mbox(t, mb, 9, NULL, 0);
}

/* Guest memory for the three rings (once per test). */
static void rings_alloc(QlaTest *t)
{
    t->req_len = RING_REQ_LEN;
    t->rsp_len = RING_RSP_LEN;
    t->atio_len = RING_ATIO_LEN;
    t->req = guest_alloc(t->alloc, RING_REQ_LEN * IOCB_SIZE);
    t->rsp = guest_alloc(t->alloc, RING_RSP_LEN * IOCB_SIZE);
    t->atio = guest_alloc(t->alloc, RING_ATIO_LEN * IOCB_SIZE);
    qtest_memset(t->qts, t->req, 0, RING_REQ_LEN * IOCB_SIZE);
    qtest_memset(t->qts, t->rsp, 0, RING_RSP_LEN * IOCB_SIZE);
    qtest_memset(t->qts, t->atio, 0, RING_ATIO_LEN * IOCB_SIZE);
}

/*
 * struct init_cb_24xx (qla_fw.h) as qla_init.c qla24xx_config_rings and
 * qla24xx_nvram_config fill it: version, frame size, names (big-endian),
 * ring lengths and addresses, firmware options 1..3.
 */
static void icb_build(QlaTest *t, uint8_t *icb, uint32_t fo1, bool atio)
{
    memset(icb, 0, ICB_SIZE);
    stw_le_p(icb + 0, ICB_VERSION);
    stw_le_p(icb + 4, 2048);                    /* frame_payload_size */
    stw_le_p(icb + 6, 0xffff);                  /* execution_throttle */
    stq_be_p(icb + 12, OUR_WWPN);
    stq_be_p(icb + 20, OUR_WWNN);
    stw_le_p(icb + 32, 8);                      /* login_retry_count */
    stw_le_p(icb + 36, t->rsp_len);
    stw_le_p(icb + 38, t->req_len);
    stq_le_p(icb + 44, t->req);
    stq_le_p(icb + 52, t->rsp);
    if (atio) {
        stw_le_p(icb + 78, t->atio_len);
        stq_le_p(icb + 80, t->atio);
    }
    stl_le_p(icb + 92, fo1);
    stl_le_p(icb + 96, ICB_FO2);
    stl_le_p(icb + 100, ICB_FO3);
}

/*
 * MBC 0x48 (qla_mbx.c qla2x00_init_firmware with npiv_supported): the
 * ring indices are 0 first (qla_init.c qla24xx_config_rings).
 */
static uint16_t fw_init(QlaTest *t, const uint8_t *icb)
{
    uint64_t dma = guest_alloc(t->alloc, ICB_SIZE);

    qtest_memwrite(t->qts, dma, icb, ICB_SIZE);
    wr32(t, REG_REQ_Q_IN, 0);
    wr32(t, REG_REQ_Q_OUT, 0);
    wr32(t, REG_RSP_Q_IN, 0);
    wr32(t, REG_RSP_Q_OUT, 0);
    t->req_in = t->rsp_out = t->atio_out = 0;
    return fw_dma(t, MBC_MID_INITIALIZE_FIRMWARE, 0, dma, 0, NULL, 0);
}

/*
 * Put @count entries on the request ring and ring req_q_in (qla_iocb.c
 * qla2x00_start_iocbs); the firmware takes them at the doorbell.
 */
static void req_post(QlaTest *t, const uint8_t *entries, int count)
{
    int i;

    for (i = 0; i < count; i++) {
        qtest_memwrite(t->qts, t->req + (uint64_t)t->req_in * IOCB_SIZE,
                       entries + i * IOCB_SIZE, IOCB_SIZE);
        t->req_in = (t->req_in + 1) % t->req_len;
    }
    wr32(t, REG_REQ_Q_IN, t->req_in);
}

/* Number of response entries not yet taken. */
static int rsp_pending(QlaTest *t)
{
    uint32_t in = rd32(t, REG_RSP_Q_IN);

    g_assert_cmpuint(in, <, t->rsp_len);
    return (in + t->rsp_len - t->rsp_out) % t->rsp_len;
}

/*
 * Take the next response entry (qla_isr.c
 * qla24xx_process_response_queue) and move rsp_q_out past it.
 */
static void rsp_take(QlaTest *t, uint8_t *entry)
{
    g_assert_cmpint(rsp_pending(t), >, 0);
    qtest_memread(t->qts, t->rsp + (uint64_t)t->rsp_out * IOCB_SIZE, entry,
                  IOCB_SIZE);
    t->rsp_out = (t->rsp_out + 1) % t->rsp_len;
    wr32(t, REG_RSP_Q_OUT, t->rsp_out);
    events_poll(t);
}

/*
 * Post one request entry and return its only response entry: the
 * error entry of qla_isr.c qla2x00_error_entry is the request itself with
 * entry_count 1 and entry_status set.
 */
static void iocb_round_trip(QlaTest *t, const uint8_t *req, int count,
                            uint8_t *rsp)
{
    uint16_t out = rd32(t, REG_REQ_Q_OUT);

    g_assert_cmpint(rsp_pending(t), ==, 0);
    req_post(t, req, count);
    /* the firmware consumed everything up to req_q_in */
    g_assert_cmphex(rd32(t, REG_REQ_Q_OUT), ==, t->req_in);
    g_assert_cmphex(t->req_in, ==, (out + count) % t->req_len);
    g_assert_cmpint(rsp_pending(t), ==, 1);
    rsp_take(t, rsp);
    g_assert_cmphex(rsp[1], ==, 1);             /* entry_count */
}

/* Expect an error entry: the request's type and handle, entry_status. */
static void check_error_entry(const uint8_t *rsp, const uint8_t *req,
                              uint8_t entry_status)
{
    g_assert_cmphex(rsp[0], ==, req[0]);
    g_assert_cmphex(rsp[3], ==, entry_status);
    g_assert_cmphex(ldl_le_p(rsp + 4), ==, ldl_le_p(req + 4));
}

/* An entry header: type, entry_count, handle. */
static void iocb_head(uint8_t *e, uint8_t type, uint8_t count,
                      uint32_t handle)
{
    memset(e, 0, IOCB_SIZE);
    e[0] = type;
    e[1] = count;
    stl_le_p(e + 4, handle);
}

/*
 * CTIO type 7 with DATA_IN (struct ctio7_to_24xx, qla_target.h; built by
 * qla_target.c qlt_24xx_build_ctio_pkt / qlt_load_data_segments):
 * exchange address at 20, flags at 26, transfer length at 44, dseg_count
 * at 12, the first DSD at 52/60.
 */
static void ctio_data_in(uint8_t *e, uint8_t count, uint32_t handle,
                         uint32_t exch, uint16_t dsegs, uint64_t addr,
                         uint32_t len)
{
    iocb_head(e, ET_CTIO_TYPE7, count, handle);
    stw_le_p(e + 8, 0x7d);                      /* nport_handle */
    stw_le_p(e + 10, 0x19);                     /* timeout */
    stw_le_p(e + 12, dsegs);
    stl_le_p(e + 20, exch);
    stw_le_p(e + 26, CTIO7_FLAGS_DATA_IN);
    stl_le_p(e + 44, len);
    stq_le_p(e + 52, addr);
    stl_le_p(e + 60, len);
}

/*
 * qla_mbx.c qla2x00_get_id_list until it lists a port (the partner once
 * its PRLI is complete; bounded, 5 ms of events between tries): the
 * entries in @ids (@len bytes), the count returned.
 */
static uint16_t wait_id_list(QlaTest *t, uint64_t dma, uint8_t *ids,
                             size_t len)
{
    uint16_t out[2] = { 0 };
    int i;

    for (i = 0; i < 50; i++) {
        qtest_memset(t->qts, dma, 0, len);
        g_assert_cmphex(fw_dma(t, MBC_GET_ID_LIST, 0, dma, 0, out, 2), ==,
                        MBS_COMMAND_COMPLETE);
        if (out[1]) {
            break;
        }
        events_run(t, 100 * 1000);
    }
    qtest_memread(t->qts, dma, ids, len);
    return out[1];
}

/* Wait (boundedly) until the global PORT UPDATE after a link-up. */
static void wait_port_update(QlaTest *t, int from)
{
    int i, k = -1;

    for (i = 0; i < SETTLE_NS / EVENT_STEP_NS && k < 0; i++) {
        events_run(t, EVENT_STEP_NS);
        for (k = aen_find(t, from, MBA_PORT_UPDATE);
             k >= 0 && t->aen[k][1] != 0xffff;
             k = aen_find(t, k + 1, MBA_PORT_UPDATE)) {
            /* a port's own PORT UPDATE: keep looking */
        }
    }
    g_assert_cmpint(k, >=, 0);
}

/* ---------------------------------------------------------------------- */

/* MBC_SET_RNID_PARAMS version payload: type 7, then the version string */
static const char drv_version[20] = "\x07\x00\x00\x00" "10.02.07.900-k";

/* The driver's bring-up and loop resync, command by command. */
static void test_mbox_commands(void *obj, void *data, QGuestAllocator *alloc)
{
    QlaTest t;
    uint16_t out[32];
    uint16_t mb[11];
    uint8_t icb[ICB_SIZE], buf[LOGIN_TEMPLATE_SIZE + 4], pd[64], map[128];
    uint8_t ids[8 * 16];
    uint64_t dma;
    uint32_t hs, word;
    uint16_t our_alpa, partner_alpa, handle = 0;
    int i, n, lip;

    qla_attach(&t, obj, alloc);
    dma = guest_alloc(t.alloc, 0x1000);
    fw_start(&t);

    /*
     * qla_mbx.c qla2x00_get_resource_cnts: qla_init.c
     * qla2x00_alloc_outstanding_cmds takes min(mb3, mb7) commands,
     * max_npiv_vports = mb11 (npiv_supported).
     */
    g_assert_cmphex(fw_op(&t, MBC_GET_RESOURCE_COUNTS, out, 12), ==,
                    MBS_COMMAND_COMPLETE);
    g_assert_cmpuint(out[3], >, 0);
    g_assert_cmpuint(out[6], >, 0);
    g_assert_cmpuint(out[7], >, 0);
    g_assert_cmpuint(out[10], >, 0);
    g_assert_cmpuint(MIN(out[3], out[7]), >, 0);
    g_assert_cmpuint(out[3], <=, out[6]);       /* current <= original */
    g_assert_cmpuint(out[7], <=, out[10]);
    g_assert_cmpuint(out[11], >, 0);            /* NPIV (fw attr BIT_2) */

    /* qla_mbx.c qla2x00_enable_eft_trace: mb2..5 address, mb6 buffers */
    memset(mb, 0, sizeof(mb));
    mb[0] = MBC_TRACE_CONTROL;
    mb[1] = TC_EFT_ENABLE;
    mb[2] = dma;
    mb[3] = dma >> 16;
    mb[4] = dma >> 32;
    mb[5] = dma >> 48;
    mb[6] = 4;
    mb[7] = TC_AEN_DISABLE;
    g_assert_cmphex(fw_mbox(&t, mb, 8, NULL, 0), ==, MBS_COMMAND_COMPLETE);

    /*
     * qla_mbx.c qla2x00_set_fw_options (qla_init.c
     * qla24xx_update_fw_options) then qla2x00_get_fw_options (beacon):
     * mb1..3 come back as set.
     */
    memset(mb, 0, sizeof(mb));
    mb[0] = MBC_SET_FIRMWARE_OPTION;
    mb[1] = 0x0000;
    mb[2] = 0x0018;
    mb[3] = 0x2000;
    g_assert_cmphex(fw_mbox(&t, mb, 11, NULL, 0), ==, MBS_COMMAND_COMPLETE);
    g_assert_cmphex(fw_op(&t, MBC_GET_FIRMWARE_OPTION, out, 4), ==,
                    MBS_COMMAND_COMPLETE);
    g_assert_cmphex(out[1], ==, 0x0000);
    g_assert_cmphex(out[2], ==, 0x0018);
    g_assert_cmphex(out[3], ==, 0x2000);

    /* qla_mbx.c qla25xx_set_driver_version: mb1 = type << 8 | dwords;
     * five dwords, the string zero-padded (ASan found the literal read
     * one byte past its end) */
    qtest_memwrite(t.qts, dma, drv_version, sizeof(drv_version));
    g_assert_cmphex(fw_dma(&t, MBC_SET_RNID_PARAMS,
                           RNID_TYPE_SET_VERSION << 8 | 5, dma, 0, NULL, 0),
                    ==, MBS_COMMAND_COMPLETE);

    /*
     * qla_mbx.c qla2x00_read_sfp from qla_init.c qla24xx_detect_sfp:
     * A0h byte 7, bits 7 (very long) and 4 (long) clear = no long-range
     * optics.
     */
    qtest_memset(t.qts, dma, 0xff, 256);
    memset(mb, 0, sizeof(mb));
    mb[0] = MBC_READ_SFP;
    mb[1] = 0xa0;
    mb_set_dma(mb, dma);
    mb[8] = 64;
    mb[9] = 0;
    g_assert_cmphex(fw_mbox(&t, mb, 11, NULL, 0), ==, MBS_COMMAND_COMPLETE);
    g_assert_cmphex(qtest_readb(t.qts, dma + 7) & (FC_LL_VL | FC_LL_L), ==,
                    0);

    /* before INITIALIZE FIRMWARE: CONFIG WAIT and no event at all */
    g_assert_cmphex(fw_op(&t, MBC_GET_FIRMWARE_STATE, out, 2), ==,
                    MBS_COMMAND_COMPLETE);
    g_assert_cmphex(out[1], ==, FSTATE_CONFIG_WAIT);
    qtest_clock_step(t.qts, SETTLE_NS);
    g_assert_cmphex(rd32(&t, REG_HOST_STATUS), ==, 0);

    /*
     * qla_mbx.c qla2x00_init_firmware (0x48): 0x4000, and the link events
     * come only after the completion (the driver drops AENs before it
     * issued INITIALIZE FIRMWARE, qla_isr.c qla2x00_async_event).
     */
    rings_alloc(&t);
    icb_build(&t, icb, ICB_FO1_INITIATOR, false);
    g_assert_cmphex(fw_init(&t, icb), ==, MBS_COMMAND_COMPLETE);
    g_assert_cmpint(t.naen, ==, 0);

    /*
     * One event at a time (qla_isr.c qla24xx_intr_handler handles one per
     * interrupt): LIP first; while it is not acknowledged, nothing else
     * shows even though the link comes up and the logins run.
     */
    for (i = 0; i < 100 && !(rd32(&t, REG_HOST_STATUS) & HSRX_RISC_INT);
         i++) {
        qtest_clock_step(t.qts, MBOX_POLL_NS);
    }
    hs = rd32(&t, REG_HOST_STATUS);
    g_assert_cmphex(hs, ==, (uint32_t)MBA_LIP_OCCURRED << 16 |
                    HSRX_RISC_INT | INTR_ASYNC_EVENT);
    g_assert_cmphex(rd_mb(&t, 0), ==, MBA_LIP_OCCURRED);
    qtest_clock_step(t.qts, SETTLE_NS);
    g_assert_cmphex(rd32(&t, REG_HOST_STATUS), ==, hs);
    g_assert_cmphex(rd_mb(&t, 0), ==, MBA_LIP_OCCURRED);
    g_assert_cmphex(rd32(&t, REG_ISTATUS) & ISRX_RISC_INT, ==, ISRX_RISC_INT);
    event_take(&t, hs);
    /* the next one is presented at the acknowledgement */
    hs = rd32(&t, REG_HOST_STATUS);
    g_assert_cmphex(hs, ==, (uint32_t)MBA_LOOP_UP << 16 | HSRX_RISC_INT |
                    INTR_ASYNC_EVENT);
    event_take(&t, hs);
    events_poll(&t);
    /* LIP, LOOP UP (mb1 = speed), then the global PORT UPDATE */
    g_assert_cmpint(t.naen, >=, 3);
    g_assert_cmphex(t.aen[0][0], ==, MBA_LIP_OCCURRED);
    g_assert_cmphex(t.aen[1][0], ==, MBA_LOOP_UP);
    g_assert_cmphex(t.aen[1][1], ==, PORT_SPEED_8GB);
    g_assert_cmphex(t.aen[2][0], ==, MBA_PORT_UPDATE);
    g_assert_cmphex(t.aen[2][1], ==, 0xffff);
    /* nothing on the response ring for an initiator loop bring-up */
    g_assert_cmpint(rsp_pending(&t), ==, 0);

    /* qla_init.c qla2x00_fw_ready: qla2x00_get_firmware_state mb1 = 3 */
    g_assert_cmphex(fw_op(&t, MBC_GET_FIRMWARE_STATE, out, 7), ==,
                    MBS_COMMAND_COMPLETE);
    g_assert_cmphex(out[1], ==, FSTATE_READY);

    /*
     * qla_mbx.c qla2x00_get_adapter_id (qla_init.c qla2x00_configure_hba):
     * loop ID, area:al_pa, domain, topology 0 = NL_Port on a private loop.
     */
    g_assert_cmphex(fw_op(&t, MBC_GET_ADAPTER_LOOP_ID, out, 10), ==,
                    MBS_COMMAND_COMPLETE);
    our_alpa = out[2] & 0xff;
    g_assert_cmphex(out[2] >> 8, ==, 0);        /* area */
    g_assert_cmphex(out[3], ==, 0);             /* domain */
    g_assert_cmphex(out[6], ==, 0);             /* ISP_CFG_NL */
    g_assert_cmphex(our_alpa, !=, 0);
    g_assert_cmpuint(out[1], <=, 0x7d);         /* LAST_LOCAL_LOOP_ID */

    /* qla_mbx.c qla2x00_get_retry_cnt: r_a_tov = mb3 / 2 (10 s) */
    g_assert_cmphex(fw_op(&t, MBC_GET_RETRY_COUNT, out, 4), ==,
                    MBS_COMMAND_COMPLETE);
    g_assert_cmpuint(out[3], ==, 200);
    g_assert_cmpuint(out[1], ==, 8);            /* the ICB's retry count */

    /* qla_mbx.c qla2x00_get_data_rate: 4 = PORT_SPEED_8GB */
    memset(mb, 0, sizeof(mb));
    mb[0] = MBC_DATA_RATE;
    g_assert_cmphex(fw_mbox(&t, mb, 2, out, 3), ==, MBS_COMMAND_COMPLETE);
    g_assert_cmphex(out[1], ==, PORT_SPEED_8GB);

    /*
     * qla_mbx.c qla2x00_get_fcal_position_map: byte 0 the count (> 1
     * makes qla2x00_configure_local_loop send 0x72), then the AL_PAs.
     */
    qtest_memset(t.qts, dma, 0xee, FCAL_MAP_SIZE);
    g_assert_cmphex(fw_dma(&t, MBC_GET_FC_AL_POSITION_MAP, 0, dma, 0, NULL,
                           0), ==, MBS_COMMAND_COMPLETE);
    qtest_memread(t.qts, dma, map, sizeof(map));
    g_assert_cmpuint(map[0], ==, 2);
    g_assert(map[1] == our_alpa || map[2] == our_alpa);
    partner_alpa = map[1] == our_alpa ? map[2] : map[1];
    g_assert_cmphex(partner_alpa, !=, our_alpa);
    g_assert_cmphex(partner_alpa, !=, 0);
    for (i = 3; i < FCAL_MAP_SIZE; i++) {
        g_assert_cmphex(map[i], ==, 0);
    }

    /*
     * qla_mbx.c qla2x00_get_id_list (qla_init.c
     * qla2x00_configure_local_loop): the partner once its PRLI is complete
     * (the firmware's auto-login, then the partner's own PRLI).
     */
    g_assert_cmpuint(wait_id_list(&t, dma, ids, sizeof(ids)), ==, 1);
    g_assert_cmphex(ids[0], ==, partner_alpa);  /* al_pa, area, domain */
    g_assert_cmphex(ids[1], ==, 0);
    g_assert_cmphex(ids[2], ==, 0);
    handle = lduw_le_p(ids + 4);
    g_assert_cmpuint(handle, <=, 0x7d);
    g_assert_cmphex(ids[8], ==, 0);             /* nothing after it */

    /*
     * qla_mbx.c qla2x00_get_port_database of that handle: login state
     * PRLI complete, port ID domain/area/al_pa, names big-endian, PRLI
     * word 3 BIT_4 clear = an initiator (FCT_INITIATOR).
     */
    qtest_memset(t.qts, dma, 0xee, sizeof(pd));
    memset(mb, 0, sizeof(mb));
    mb[0] = MBC_GET_PORT_DATABASE;
    mb[1] = handle;
    mb_set_dma(mb, dma);
    g_assert_cmphex(fw_mbox(&t, mb, 11, NULL, 0), ==, MBS_COMMAND_COMPLETE);
    qtest_memread(t.qts, dma, pd, sizeof(pd));
    g_assert_cmphex(pd[2] & 0xf, ==, PDS_PRLI_COMPLETE);
    g_assert_cmphex(pd[8], ==, 0);
    g_assert_cmphex(pd[9], ==, 0);
    g_assert_cmphex(pd[10], ==, partner_alpa);
    g_assert_cmphex(lduw_le_p(pd + 14), ==, handle);
    g_assert_cmphex(ldq_be_p(pd + 24), ==, PARTNER_WWPN);
    g_assert_cmphex(ldq_be_p(pd + 32), ==, PARTNER_WWNN);
    g_assert_cmphex(pd[22] & BIT(4), ==, 0);
    g_assert_cmphex(pd[22] & BIT(5), ==, BIT(5));

    /*
     * qla_mbx.c qla2x00_get_port_name (extended IDs: mb1 handle, mb10
     * BIT_0 node name): the name big-endian in mb2, mb3, mb6, mb7; SCST's
     * legacy driver issues it.  A handle with no port (the name server's
     * on a loop) is a command error.
     */
    memset(mb, 0, sizeof(mb));
    mb[0] = MBC_GET_PORT_NAME;
    mb[1] = handle;
    g_assert_cmphex(fw_mbox(&t, mb, 11, out, 8), ==, MBS_COMMAND_COMPLETE);
    g_assert_cmphex((uint64_t)out[2] << 48 | (uint64_t)out[3] << 32 |
                    (uint64_t)out[6] << 16 | out[7], ==, PARTNER_WWPN);
    mb[10] = BIT(0);
    g_assert_cmphex(fw_mbox(&t, mb, 11, out, 8), ==, MBS_COMMAND_COMPLETE);
    g_assert_cmphex((uint64_t)out[2] << 48 | (uint64_t)out[3] << 32 |
                    (uint64_t)out[6] << 16 | out[7], ==, PARTNER_WWNN);
    mb[1] = 0x7fc;                              /* NPH_SNS: no fabric */
    g_assert_cmphex(fw_mbox(&t, mb, 11, NULL, 0), ==, MBS_COMMAND_ERROR);

    /*
     * qla_mbx.c qla2x00_send_change_request (SCR, format 3): on a loop
     * there is no fabric controller; the drivers take the failure ("OK for
     * non-fabric setups", SCST qla2x00t.c).
     */
    memset(mb, 0, sizeof(mb));
    mb[0] = MBC_SEND_CHANGE_REQUEST;
    mb[1] = 3;
    g_assert_cmphex(fw_mbox(&t, mb, 10, NULL, 0), ==, MBS_COMMAND_ERROR);

    /*
     * qla_mbx.c qla24xx_get_port_login_templ (qla_init.c
     * qla_get_login_template): 116 bytes from the common service
     * parameters on, each wire word as a little-endian dword; after
     * cpu_to_be32_array the port name is at 16 and the node name at 24.
     */
    qtest_memset(t.qts, dma, 0xee, sizeof(buf));
    g_assert_cmphex(fw_dma(&t, MBC_GET_RNID_PARAMS,
                           RNID_TYPE_PORT_LOGIN << 8, dma,
                           LOGIN_TEMPLATE_SIZE / 4, NULL, 0), ==,
                    MBS_COMMAND_COMPLETE);
    qtest_memread(t.qts, dma, buf, sizeof(buf));
    for (i = 0; i < LOGIN_TEMPLATE_SIZE; i += 4) {
        stl_be_p(buf + i, ldl_le_p(buf + i));
    }
    g_assert_cmphex(buf[0], >=, 0x20);          /* FC-PH version */
    g_assert_cmphex(lduw_be_p(buf + 6) & 0xfff, ==, 2048);  /* BB rx size */
    g_assert_cmphex(ldq_be_p(buf + 16), ==, OUR_WWPN);
    g_assert_cmphex(ldq_be_p(buf + 24), ==, OUR_WWNN);
    word = ldl_le_p(buf + LOGIN_TEMPLATE_SIZE);
    g_assert_cmphex(word, ==, 0xeeeeeeee);      /* not past mb8 dwords */

    /*
     * qla_mbx.c qla2x00_full_login_lip (mb1 BIT_4): 0x4000 and the loop
     * initialises again: a new LIP, LOOP UP and PORT UPDATE.  The order
     * of the LIP and the completion is not checked: the driver takes
     * either, and the model presents the LIP first (docs/registers.md
     * says the completion comes first).
     */
    n = t.naen;
    memset(mb, 0, sizeof(mb));
    mb[0] = MBC_LIP_FULL_LOGIN;
    mb[1] = BIT(4);
    g_assert_cmphex(fw_mbox(&t, mb, 4, NULL, 0), ==, MBS_COMMAND_COMPLETE);
    wait_port_update(&t, n);
    lip = aen_find(&t, n, MBA_LIP_OCCURRED);
    g_assert_cmpint(lip, >=, n);
    g_assert_cmpint(aen_find(&t, lip, MBA_LOOP_UP), >, lip);
    /* after the partner's re-login: READY, the same port and handle */
    events_run(&t, SETTLE_NS);
    g_assert_cmphex(fw_op(&t, MBC_GET_FIRMWARE_STATE, out, 2), ==,
                    MBS_COMMAND_COMPLETE);
    g_assert_cmphex(out[1], ==, FSTATE_READY);
    g_assert_cmphex(fw_dma(&t, MBC_GET_ID_LIST, 0, dma, 0, out, 2), ==,
                    MBS_COMMAND_COMPLETE);
    g_assert_cmpuint(out[1], ==, 1);
    g_assert_cmphex(qtest_readw(t.qts, dma + 4), ==, handle);

    qla_detach(&t);
}

/* The firmware started and initialised in initiator mode, the link up. */
static void fw_up_initiator(QlaTest *t)
{
    uint8_t icb[ICB_SIZE];

    fw_start(t);
    rings_alloc(t);
    icb_build(t, icb, ICB_FO1_INITIATOR, false);
    g_assert_cmphex(fw_init(t, icb), ==, MBS_COMMAND_COMPLETE);
    wait_port_update(t, 0);
}

/*
 * qla_mbx.c qla2x00_system_error (sysfs fw_dump 3): 0x8002 SYSTEM ERROR
 * with mb1 != 0 (recoverable: qla_isr.c MBA_SYSTEM_ERR), after the
 * command's completion (system-error-completion=complete, the default) or
 * with none (=none).  The RISC has stopped: the mailbox is deaf and the
 * request ring not read until the driver's reset for the dump (qla_dbg.c
 * qla24xx_soft_reset), after which the ROM answers and the dump's code
 * RAM read works.
 */
static void sys_err_check(QlaTest *t, uint64_t dma, bool completes)
{
    uint16_t mb[8] = { MBC_GEN_SYSTEM_ERROR };
    int i, n = t->naen;

    if (completes) {
        g_assert_cmphex(fw_mbox(t, mb, 1, NULL, 0), ==,
                        MBS_COMMAND_COMPLETE);
    } else {
        mbox_submit(t, mb, 1);
    }
    events_run(t, SETTLE_NS);
    i = aen_find(t, n, MBA_SYSTEM_ERR);
    g_assert_cmpint(i, >=, n);
    g_assert_cmphex(t->aen[i][1], !=, 0);
    g_assert_cmphex(rd32(t, REG_HOST_STATUS) & HSRX_RISC_INT, ==, 0);
    mb[0] = MBC_MAILBOX_REGISTER_TEST;
    mbox_submit(t, mb, 8);
    events_run(t, SETTLE_NS);
    g_assert_cmphex(rd32(t, REG_HOST_STATUS) & HSRX_RISC_INT, ==, 0);
    g_assert_cmpint(t->naen, ==, i + 1);
    wr32(t, REG_CTRL_STATUS,
         CSRX_ISP_SOFT_RESET | CSRX_DMA_SHUTDOWN | MWB_4096_BYTES);
    g_assert_cmphex(mbox_ram(t, MBC_DUMP_RISC_RAM_EXTENDED, 0x20000, dma,
                             0x40), ==, MBS_COMMAND_COMPLETE);
}

static void test_mbox_sys_err_none(void *obj, void *data,
                                   QGuestAllocator *alloc)
{
    QlaTest t;
    uint64_t dma;

    qla_attach(&t, obj, alloc);
    dma = guest_alloc(t.alloc, 0x1000);
    fw_up_initiator(&t);
    sys_err_check(&t, dma, false);
    qla_detach(&t);
}

/*
 * Issue #12: the diagnostic and management commands a user reaches through
 * bsg, sysfs and module parameters (isp-diag.c, docs/mailbox.md §2.3), as
 * the driver issues them, with their bad inputs.
 */
static void test_mbox_diag(void *obj, void *data, QGuestAllocator *alloc)
{
    QlaTest t;
    uint16_t out[20];
    uint16_t mb[22];
    uint8_t ids[8 * 16], pat[512], back[512];
    uint64_t dma, rcv;
    uint16_t handle;
    int i;

    qla_attach(&t, obj, alloc);
    dma = guest_alloc(t.alloc, 0x1000);
    rcv = guest_alloc(t.alloc, 0x1000);
    fw_up_initiator(&t);
    g_assert_cmpuint(wait_id_list(&t, dma, ids, sizeof(ids)), ==, 1);
    handle = lduw_le_p(ids + 4);

    /* qla_mbx.c qla2x00_write_serdes_word / read: the word comes back */
    memset(mb, 0, sizeof(mb));
    mb[0] = MBC_WRITE_SERDES;
    mb[1] = 0x12;
    mb[2] = 0xbeef;
    g_assert_cmphex(fw_mbox(&t, mb, 4, NULL, 0), ==, MBS_COMMAND_COMPLETE);
    mb[0] = MBC_READ_SERDES;
    mb[2] = 0;
    g_assert_cmphex(fw_mbox(&t, mb, 4, out, 2), ==, MBS_COMMAND_COMPLETE);
    g_assert_cmphex(out[1], ==, 0xbeef);
    mb[1] = 0xffff;
    g_assert_cmphex(fw_mbox(&t, mb, 4, NULL, 0), ==, MBS_COMMAND_ERROR);

    /*
     * qla_mbx.c qla2x00_set_idma_speed / qla2x00_get_idma_speed: mb1
     * handle, mb2 BIT_0 set, mb3 speed; mb3 comes back.
     */
    memset(mb, 0, sizeof(mb));
    mb[0] = MBC_PORT_PARAMS;
    mb[1] = handle;
    g_assert_cmphex(fw_mbox(&t, mb, 10, out, 4), ==, MBS_COMMAND_COMPLETE);
    g_assert_cmphex(out[3], ==, PORT_SPEED_8GB);
    mb[2] = BIT(0);
    mb[3] = PORT_SPEED_4GB;
    g_assert_cmphex(fw_mbox(&t, mb, 10, out, 4), ==, MBS_COMMAND_COMPLETE);
    g_assert_cmphex(out[3], ==, PORT_SPEED_4GB);
    mb[3] = 0x3f;                               /* above the link's rate */
    g_assert_cmphex(fw_mbox(&t, mb, 10, NULL, 0), ==, MBS_COMMAND_ERROR);
    mb[1] = 0x50;                               /* nobody */
    mb[3] = PORT_SPEED_4GB;
    g_assert_cmphex(fw_mbox(&t, mb, 10, NULL, 0), ==, MBS_COMMAND_ERROR);

    /*
     * qla_mbx.c qla2x00_write_sfp: A2h user EEPROM (SFF-8472 128-247) by
     * DMA and as one byte (mb10 BIT_0, the byte in mb8); READ SFP returns
     * it.  A0h and A2h outside the user area are refused.
     */
    for (i = 0; i < 16; i++) {
        pat[i] = 0xa0 + i;
    }
    qtest_memwrite(t.qts, dma, pat, 16);
    memset(mb, 0, sizeof(mb));
    mb[0] = MBC_WRITE_SFP;
    mb[1] = 0xa2;
    mb_set_dma(mb, dma);
    mb[8] = 16;
    mb[9] = 128;
    g_assert_cmphex(fw_mbox(&t, mb, 11, NULL, 0), ==, MBS_COMMAND_COMPLETE);
    mb[8] = 0x5a;
    mb[9] = 200;
    mb[10] = BIT(0);
    g_assert_cmphex(fw_mbox(&t, mb, 11, NULL, 0), ==, MBS_COMMAND_COMPLETE);
    qtest_memset(t.qts, rcv, 0, 256);
    memset(mb, 0, sizeof(mb));
    mb[0] = MBC_READ_SFP;
    mb[1] = 0xa2;
    mb_set_dma(mb, rcv);
    mb[8] = 128;
    mb[9] = 128;
    g_assert_cmphex(fw_mbox(&t, mb, 11, NULL, 0), ==, MBS_COMMAND_COMPLETE);
    qtest_memread(t.qts, rcv, back, 128);
    g_assert_cmpmem(back, 16, pat, 16);
    g_assert_cmphex(back[200 - 128], ==, 0x5a);
    memset(mb, 0, sizeof(mb));
    mb[0] = MBC_WRITE_SFP;
    mb_set_dma(mb, dma);
    mb[1] = 0xa0;                               /* serial ID: read-only */
    mb[8] = 1;
    mb[9] = 130;
    g_assert_cmphex(fw_mbox(&t, mb, 11, NULL, 0), ==, MBS_COMMAND_ERROR);
    mb[1] = 0xa2;
    mb[9] = 247;
    mb[8] = 2;                                  /* runs past 247 */
    g_assert_cmphex(fw_mbox(&t, mb, 11, NULL, 0), ==, MBS_COMMAND_ERROR);
    mb[8] = 0;
    g_assert_cmphex(fw_mbox(&t, mb, 11, NULL, 0), ==, MBS_COMMAND_ERROR);

    /*
     * qla_mbx.c qla_get_exlogin_status (mb1 8) / qla_set_exlogin_mem_cfg
     * (mb1 9, mb8:mb9 bytes): sizes, then the buffer; no buffer, or one
     * that is not RAM, is refused.
     */
    memset(mb, 0, sizeof(mb));
    mb[0] = MBC_GET_MEM_OFFLOAD_CNTRL_STAT;
    mb[1] = 8;
    g_assert_cmphex(fw_mbox(&t, mb, 2, out, 11), ==, MBS_COMMAND_COMPLETE);
    g_assert_cmpuint(out[4], >, 0);
    g_assert_cmpuint(out[10], >, 2048);         /* MAX_FIBRE_DEVICES_2400 */
    mb[1] = 9;
    mb_set_dma(mb, dma);
    mb[8] = 0;
    mb[9] = 0x1000;
    g_assert_cmphex(fw_mbox(&t, mb, 10, NULL, 0), ==, MBS_COMMAND_COMPLETE);
    mb[9] = 0;
    g_assert_cmphex(fw_mbox(&t, mb, 10, NULL, 0), ==, MBS_COMMAND_ERROR);
    mb_set_dma(mb, 0xfee00000ULL);              /* the APIC, not RAM */
    mb[9] = 0x1000;
    g_assert_cmphex(fw_mbox(&t, mb, 10, NULL, 0), ==, MBS_COMMAND_ERROR);
    mb[1] = 2;                                  /* exchange offload */
    g_assert_cmphex(fw_mbox(&t, mb, 10, NULL, 0), ==, MBS_COMMAND_ERROR);

    /*
     * qla_mbx.c qla2x00_loopback_test: internal loopback returns the data
     * and the iteration count (mb18/19); external needs a plug; echo needs
     * a fabric.
     */
    for (i = 0; i < sizeof(pat); i++) {
        pat[i] = i * 7;
    }
    qtest_memwrite(t.qts, dma, pat, sizeof(pat));
    qtest_memset(t.qts, rcv, 0, sizeof(pat));
    memset(mb, 0, sizeof(mb));
    mb[0] = MBC_DIAGNOSTIC_LOOP_BACK;
    mb[1] = 0x02 | BIT(6);
    mb[10] = sizeof(pat);
    mb[14] = dma;
    mb[15] = dma >> 16;
    mb[20] = dma >> 32;
    mb[21] = dma >> 48;
    mb[16] = rcv;
    mb[17] = rcv >> 16;
    mb[6] = rcv >> 32;
    mb[7] = rcv >> 48;
    mb[18] = 3;
    g_assert_cmphex(fw_mbox(&t, mb, 22, out, 20), ==, MBS_COMMAND_COMPLETE);
    g_assert_cmpuint(out[18] | out[19] << 16, ==, 3);
    qtest_memread(t.qts, rcv, back, sizeof(pat));
    g_assert_cmpmem(back, sizeof(pat), pat, sizeof(pat));
    mb[1] = 0x04 | BIT(6);
    g_assert_cmphex(fw_mbox(&t, mb, 22, NULL, 0), ==, MBS_COMMAND_ERROR);
    mb[1] = 0x02 | BIT(6);
    mb[10] = 0;
    g_assert_cmphex(fw_mbox(&t, mb, 22, NULL, 0), ==, MBS_COMMAND_ERROR);
    mb[0] = MBC_DIAGNOSTIC_ECHO;
    mb[1] = BIT(15) | BIT(6);
    mb[10] = 64;
    g_assert_cmphex(fw_mbox(&t, mb, 22, NULL, 0), ==, MBS_COMMAND_ERROR);

    /*
     * qla_mbx.c qla2x00_issue_iocb_timeout: the IOCB comes back in place;
     * a type the firmware does not execute has entry_status RF_INV_E_TYPE
     * (the driver masks RF_MASK_24XX and fails the request).
     */
    qtest_memset(t.qts, dma, 0, IOCB_SIZE);
    qtest_writeb(t.qts, dma, 0x14);             /* TSK_MGMT_IOCB_TYPE */
    qtest_writeb(t.qts, dma + 1, 1);
    g_assert_cmphex(fw_dma(&t, MBC_IOCB_COMMAND_A64, 0, dma, 0, NULL, 0), ==,
                    MBS_COMMAND_COMPLETE);
    g_assert_cmphex(qtest_readb(t.qts, dma), ==, 0x14);
    g_assert_cmphex(qtest_readb(t.qts, dma + 3) & RF_INV_E_TYPE, ==,
                    RF_INV_E_TYPE);

    /*
     * qla_dbg.c qla24xx_dump_memory: code RAM 0x20000-0x21fff and external
     * memory read (as zeros); past the code RAM is refused.
     */
    qtest_memset(t.qts, dma, 0xff, 0x100);
    g_assert_cmphex(mbox_ram_fw(&t, MBC_DUMP_RISC_RAM_EXTENDED, 0x20000,
                                dma, 0x40), ==, MBS_COMMAND_COMPLETE);
    g_assert_cmphex(qtest_readl(t.qts, dma), ==, 0);
    g_assert_cmphex(mbox_ram_fw(&t, MBC_DUMP_RISC_RAM_EXTENDED, 0x21ff0,
                                dma, 0x10), ==, MBS_COMMAND_COMPLETE);
    g_assert_cmphex(mbox_ram_fw(&t, MBC_DUMP_RISC_RAM_EXTENDED, 0x21ff0,
                                dma, 0x11), ==, MBS_COMMAND_ERROR);

    sys_err_check(&t, dma, true);
    qla_detach(&t);
}

/* Commands with invalid parameters get an error status, nothing else. */
static void test_mbox_invalid_params(void *obj, void *data,
                                     QGuestAllocator *alloc)
{
    QlaTest t;
    uint16_t out[12];
    uint16_t mb[11];
    uint8_t icb[ICB_SIZE], type;
    uint64_t dma;
    static const uint16_t rom_refused[] = {
        MBC_GET_RESOURCE_COUNTS, MBC_MID_INITIALIZE_FIRMWARE,
        MBC_GET_FIRMWARE_STATE,
    };
    static const uint16_t bad_sfp_dev[] = { 0x00, 0x50, 0xa1, 0xa4, 0xff };
    int i;

    qla_attach(&t, obj, alloc);
    dma = guest_alloc(t.alloc, 0x1000);
    rings_alloc(&t);

    /*
     * ROM state: only the commands the driver sends before EXECUTE
     * FIRMWARE run (qla_init.c qla2x00_setup_chip); firmware commands are
     * MBS_INVALID_COMMAND.
     */
    for (i = 0; i < ARRAY_SIZE(rom_refused); i++) {
        g_assert_cmphex(mbox_op(&t, rom_refused[i], &type), ==,
                        MBS_INVALID_COMMAND);
        g_assert_cmphex(type, ==, INTR_ROM_MB_FAILED);
    }

    fw_start(&t);

    /*
     * qla_mbx.c qla2x00_get_adapter_id before INITIALIZE FIRMWARE:
     * 0x4005 with mb1 = 7 is "loop in transition" for qla_init.c
     * qla2x00_configure_hba.
     */
    g_assert_cmphex(fw_op(&t, MBC_GET_ADAPTER_LOOP_ID, out, 10), ==,
                    MBS_COMMAND_ERROR);
    g_assert_cmphex(out[1], ==, 7);

    /*
     * qla_mbx.c qla2x00_init_firmware with a bad ICB: 0x4005 (the driver's
     * "Init Firmware **** FAILED ****") and no link event follows.
     */
    icb_build(&t, icb, ICB_FO1_INITIATOR, false);
    stw_le_p(icb + 38, 0);                      /* request_q_length */
    g_assert_cmphex(fw_init(&t, icb), ==, MBS_COMMAND_ERROR);
    icb_build(&t, icb, ICB_FO1_INITIATOR, false);
    stw_le_p(icb + 36, 0);                      /* response_q_length */
    g_assert_cmphex(fw_init(&t, icb), ==, MBS_COMMAND_ERROR);
    icb_build(&t, icb, ICB_FO1_INITIATOR, true);
    stw_le_p(icb + 78, 0);                      /* atio_q_length */
    g_assert_cmphex(fw_init(&t, icb), ==, MBS_COMMAND_ERROR);
    icb_build(&t, icb, ICB_FO1_INITIATOR, false);
    stq_le_p(icb + 44, 0);                      /* request_q_address */
    g_assert_cmphex(fw_init(&t, icb), ==, MBS_COMMAND_ERROR);
    icb_build(&t, icb, ICB_FO1_INITIATOR, false);
    stw_le_p(icb + 4, 4096);                    /* frame_payload_size */
    g_assert_cmphex(fw_init(&t, icb), ==, MBS_COMMAND_ERROR);
    /*
     * Issue #11: control blocks the firmware could not use ([fw?] the
     * model's checks, isp-mbx.c icb_problem): version 0, a reserved
     * connection option, an unaligned ring, a ring of 65535 entries,
     * overlapping rings, a ring in the device's own registers, a ring
     * past the end of RAM.
     */
    icb_build(&t, icb, ICB_FO1_INITIATOR, false);
    stw_le_p(icb + 0, 0);
    g_assert_cmphex(fw_init(&t, icb), ==, MBS_COMMAND_ERROR);
    icb_build(&t, icb, ICB_FO1_INITIATOR, false);
    stl_le_p(icb + 96, (5 << 4) | BIT(12));
    g_assert_cmphex(fw_init(&t, icb), ==, MBS_COMMAND_ERROR);
    icb_build(&t, icb, ICB_FO1_INITIATOR, false);
    stq_le_p(icb + 44, t.req + 8);
    g_assert_cmphex(fw_init(&t, icb), ==, MBS_COMMAND_ERROR);
    icb_build(&t, icb, ICB_FO1_INITIATOR, false);
    stw_le_p(icb + 36, 65535);
    g_assert_cmphex(fw_init(&t, icb), ==, MBS_COMMAND_ERROR);
    icb_build(&t, icb, ICB_FO1_INITIATOR, false);
    stq_le_p(icb + 52, t.req + IOCB_SIZE);
    g_assert_cmphex(fw_init(&t, icb), ==, MBS_COMMAND_ERROR);
    icb_build(&t, icb, ICB_FO1_INITIATOR, false);
    stq_le_p(icb + 44, t.bar1.addr);
    g_assert_cmphex(fw_init(&t, icb), ==, MBS_COMMAND_ERROR);
    icb_build(&t, icb, ICB_FO1_INITIATOR, false);
    stq_le_p(icb + 52, 0xfffffffff000ULL);
    g_assert_cmphex(fw_init(&t, icb), ==, MBS_COMMAND_ERROR);
    /* the ICB itself outside guest RAM */
    g_assert_cmphex(fw_dma(&t, MBC_MID_INITIALIZE_FIRMWARE, 0,
                           0xfffffffff000ULL, 0, NULL, 0), ==,
                    MBS_COMMAND_ERROR);
    events_run(&t, SETTLE_NS);
    g_assert_cmpint(t.naen, ==, 0);
    g_assert_cmpint(t.nrspq, ==, 0);
    g_assert_cmphex(fw_op(&t, MBC_GET_FIRMWARE_STATE, out, 2), ==,
                    MBS_COMMAND_COMPLETE);
    g_assert_cmphex(out[1], ==, FSTATE_CONFIG_WAIT);
    g_assert_cmphex(fw_op(&t, MBC_GET_ADAPTER_LOOP_ID, out, 2), ==,
                    MBS_COMMAND_ERROR);
    g_assert_cmphex(out[1], ==, 7);

    /* now a good one: the link comes up */
    icb_build(&t, icb, ICB_FO1_INITIATOR, false);
    g_assert_cmphex(fw_init(&t, icb), ==, MBS_COMMAND_COMPLETE);
    wait_port_update(&t, 0);
    events_run(&t, SETTLE_NS);
    g_assert_cmphex(fw_op(&t, MBC_GET_FIRMWARE_STATE, out, 2), ==,
                    MBS_COMMAND_COMPLETE);
    g_assert_cmphex(out[1], ==, FSTATE_READY);

    /* qla_mbx.c qla2x00_get_data_rate: only mb1 = 0 (get) on a 25xx */
    memset(mb, 0, sizeof(mb));
    mb[0] = MBC_DATA_RATE;
    g_assert_cmphex(fw_mbox(&t, mb, 2, NULL, 0), ==, MBS_COMMAND_COMPLETE);
    for (i = 1; i <= 2; i++) {
        mb[1] = i;
        g_assert_cmphex(fw_mbox(&t, mb, 2, NULL, 0), ==, MBS_COMMAND_ERROR);
    }

    /* qla_mbx.c qla2x00_get_port_database: unknown handles */
    memset(mb, 0, sizeof(mb));
    mb[0] = MBC_GET_PORT_DATABASE;
    mb_set_dma(mb, dma);
    mb[1] = 0x10;
    g_assert_cmphex(fw_mbox(&t, mb, 11, NULL, 0), ==, MBS_COMMAND_ERROR);
    mb[1] = 0x7ef;
    g_assert_cmphex(fw_mbox(&t, mb, 11, NULL, 0), ==, MBS_COMMAND_ERROR);
    mb[1] = 0xffff;
    g_assert_cmphex(fw_mbox(&t, mb, 11, NULL, 0), ==, MBS_COMMAND_ERROR);

    /*
     * qla_mbx.c qla24xx_get_port_login_templ: mb1 = 0x07xx, mb8 = 1..29
     * dwords.  The good one first, then the bad ones.
     */
    g_assert_cmphex(fw_dma(&t, MBC_GET_RNID_PARAMS, 0x0700, dma, 29, NULL,
                           0), ==, MBS_COMMAND_COMPLETE);
    g_assert_cmphex(fw_dma(&t, MBC_GET_RNID_PARAMS, 0x0600, dma, 29, NULL,
                           0), ==, MBS_COMMAND_ERROR);
    g_assert_cmphex(fw_dma(&t, MBC_GET_RNID_PARAMS, 0x0000, dma, 29, NULL,
                           0), ==, MBS_COMMAND_ERROR);
    g_assert_cmphex(fw_dma(&t, MBC_GET_RNID_PARAMS, 0x0700, dma, 0, NULL,
                           0), ==, MBS_COMMAND_ERROR);
    g_assert_cmphex(fw_dma(&t, MBC_GET_RNID_PARAMS, 0x0700, dma, 30, NULL,
                           0), ==, MBS_COMMAND_ERROR);
    g_assert_cmphex(fw_dma(&t, MBC_GET_RNID_PARAMS, 0x0700, dma, 0xffff,
                           NULL, 0), ==, MBS_COMMAND_ERROR);
    g_assert_cmphex(fw_dma(&t, MBC_GET_RNID_PARAMS, 0x0700,
                           0xfffffffff000ULL, 29, NULL, 0), ==,
                    MBS_COMMAND_ERROR);

    /* qla_mbx.c qla2x00_read_sfp: only devices 0xa0 and 0xa2 */
    memset(mb, 0, sizeof(mb));
    mb[0] = MBC_READ_SFP;
    mb_set_dma(mb, dma);
    mb[8] = 16;
    mb[1] = 0xa2;
    g_assert_cmphex(fw_mbox(&t, mb, 11, NULL, 0), ==, MBS_COMMAND_COMPLETE);
    for (i = 0; i < ARRAY_SIZE(bad_sfp_dev); i++) {
        mb[1] = bad_sfp_dev[i];
        g_assert_cmphex(fw_mbox(&t, mb, 11, NULL, 0), ==, MBS_COMMAND_ERROR);
    }

    /* none of this disturbed the port */
    g_assert_cmphex(fw_op(&t, MBC_GET_FIRMWARE_STATE, out, 2), ==,
                    MBS_COMMAND_COMPLETE);
    g_assert_cmphex(out[1], ==, FSTATE_READY);
    qla_detach(&t);
}

/* A scenario file for the partner: one INQUIRY once it is logged in. */
static void test_mbox_no_partner(void *obj, void *data,
                                 QGuestAllocator *alloc)
{
    QlaTest t;
    uint16_t out[12];
    uint16_t mb[11];
    uint8_t icb[ICB_SIZE];
    uint64_t dma;

    /*
     * No partner: the link never comes up.  qla2x00_get_adapter_id gets
     * 0x4005/7, qla2x00_get_firmware_state LOSS OF SYNC (qla_init.c
     * qla2x00_fw_ready keeps DFLG_NO_CABLE), the link commands 0x4005.
     */
    qla_attach(&t, obj, alloc);
    dma = guest_alloc(t.alloc, 0x1000);
    rings_alloc(&t);
    fw_start(&t);
    icb_build(&t, icb, ICB_FO1_INITIATOR, false);
    g_assert_cmphex(fw_init(&t, icb), ==, MBS_COMMAND_COMPLETE);
    events_run(&t, SETTLE_NS);
    g_assert_cmphex(fw_op(&t, MBC_GET_ADAPTER_LOOP_ID, out, 10), ==,
                    MBS_COMMAND_ERROR);
    g_assert_cmphex(out[1], ==, 7);
    g_assert_cmphex(fw_op(&t, MBC_GET_FIRMWARE_STATE, out, 2), ==,
                    MBS_COMMAND_COMPLETE);
    g_assert_cmphex(out[1], ==, FSTATE_LOSS_OF_SYNC);
    /* qla_mbx.c qla2x00_get_data_rate: link down is 0x4000, mb1 = 7, the
     * value the driver ignores ("if (mcp->mb[1] != 0x7)") */
    memset(mb, 0, sizeof(mb));
    mb[0] = MBC_DATA_RATE;
    g_assert_cmphex(fw_mbox(&t, mb, 2, out, 2), ==, MBS_COMMAND_COMPLETE);
    g_assert_cmphex(out[1], ==, 7);
    g_assert_cmphex(fw_dma(&t, MBC_GET_FC_AL_POSITION_MAP, 0, dma, 0, NULL,
                           0), ==, MBS_COMMAND_ERROR);
    g_assert_cmphex(fw_dma(&t, MBC_GET_ID_LIST, 0, dma, 0, NULL, 0), ==,
                    MBS_COMMAND_ERROR);
    g_assert_cmpint(t.naen, ==, 0);
    qla_detach(&t);
}

/* Scenarios of the simulated initiator (docs/scenario.md): one INQUIRY;
 * one WRITE(10) of a block, with a timeout longer than any test. */
#define SCENARIO_INQUIRY \
    "{ \"name\": \"qtest\", \"description\": \"one INQUIRY\",\n" \
    "  \"first-command-delay-us\": 10,\n" \
    "  \"commands\": [ { \"op\": \"inquiry\" } ] }\n"
#define SCENARIO_WRITE \
    "{ \"name\": \"qtest-write\", \"first-command-delay-us\": 10,\n" \
    "  \"command-timeout-ms\": 600000,\n" \
    "  \"commands\": [ { \"op\": \"write-10\", \"lba\": 0, " \
    "\"blocks\": 1 } ] }\n"

/* A scenario file for the simulated initiator (docs/scenario.md). */
static char *scenario_file(const char *text)
{
    char *path = NULL;
    int fd;

    fd = g_file_open_tmp("qla2532-scenario-XXXXXX.json", &path, NULL);
    g_assert(fd >= 0);
    g_assert_cmpint(write(fd, text, strlen(text)), ==, strlen(text));
    close(fd);
    return path;
}

/* The first ATIO after the partner's login: wait for it (bounded), take
 * it into @atio and return its exchange address. */
static uint32_t atio_wait(QlaTest *t, uint8_t *atio)
{
    int i;

    for (i = 0; i < SETTLE_NS / EVENT_STEP_NS &&
         rd32(t, REG_ATIO_Q_IN) == t->atio_out; i++) {
        events_run(t, EVENT_STEP_NS);
    }
    events_poll(t);
    g_assert_cmpint(t->natioq, >=, 1);
    g_assert_cmphex(rd32(t, REG_ATIO_Q_IN), ==, t->atio_out + 1);
    qtest_memread(t->qts, t->atio + (uint64_t)t->atio_out * IOCB_SIZE, atio,
                  IOCB_SIZE);
    g_assert_cmphex(atio[0], ==, ET_ATIO_TYPE7);
    t->atio_out++;
    wr32(t, REG_ATIO_Q_OUT, t->atio_out);
    return ldl_le_p(atio + 4);
}

/* qom-set the string property @prop of the object at @path to @value. */
static void qom_set_str(QTestState *qts, const char *path, const char *prop,
                        const char *value)
{
    qtest_qmp_assert_success(qts, "{'execute': 'qom-set', 'arguments': "
                             "{'path': %s, 'property': %s, 'value': %s}}",
                             path, prop, value);
}

/* The QOM path of the (only) qla2532 of @qts (qgraph adds it without id). */
static char *device_path(QTestState *qts)
{
    QDict *rsp = qtest_qmp(qts, "{'execute': 'qom-list', 'arguments': "
                           "{'path': '/machine/peripheral-anon'}}");
    QListEntry *e;
    char *path = NULL;

    QLIST_FOREACH_ENTRY(qdict_get_qlist(rsp, "return"), e) {
        QDict *p = qobject_to(QDict, qlist_entry_obj(e));

        if (!strcmp(qdict_get_str(p, "type"), "child<qla2532>")) {
            g_free(path);
            path = g_strdup_printf("/machine/peripheral-anon/%s",
                                   qdict_get_str(p, "name"));
        }
    }
    qobject_unref(rsp);
    g_assert(path);
    return path;
}

/*
 * Issue #4: malformed request entries come back as error entries with the
 * entry_status the firmware uses (qla_def.h RF_*, qla_isr.c
 * qla2x00_error_entry), and the device keeps working.
 */
static void test_iocb_malformed(void *obj, void *data, QGuestAllocator *alloc)
{
    QlaTest t;
    g_autofree char *scenario = data;   /* scenario_before */
    g_autofree char *path = NULL;
    uint8_t icb[ICB_SIZE], req[2 * IOCB_SIZE], rsp[IOCB_SIZE];
    uint8_t atio[IOCB_SIZE];
    uint16_t out[8], mb[8];
    uint32_t exch = 0, in;
    uint64_t buf;
    int i;

    qla_attach(&t, obj, alloc);
    buf = guest_alloc(t.alloc, 0x1000);
    rings_alloc(&t);
    fw_start(&t);

    /* before INITIALIZE FIRMWARE the ring is not read */
    iocb_head(req, ET_MARKER, 1, 0x1000);
    req_post(&t, req, 1);
    g_assert_cmphex(rd32(&t, REG_REQ_Q_OUT), ==, 0);
    g_assert_cmphex(rd32(&t, REG_HOST_STATUS), ==, 0);

    /*
     * Target mode (qla_target.c qlt_24xx_config_nvram_stage1: fo1 BIT_4,
     * an ATIO ring).  The partner logs in and sends an INQUIRY, which is
     * an ATIO type 7 with an open exchange (qla_target.c
     * qlt_24xx_atio_pkt).
     */
    icb_build(&t, icb, ICB_FO1_TARGET, true);
    g_assert_cmphex(fw_init(&t, icb), ==, MBS_COMMAND_COMPLETE);
    exch = atio_wait(&t, atio);
    g_assert_cmphex(atio[32 + 12], ==, 0x12);   /* CDB: INQUIRY */
    /* the marker posted before INITIALIZE FIRMWARE was dropped with it */
    g_assert_cmpint(rsp_pending(&t), ==, 0);
    g_assert_cmphex(rd32(&t, REG_REQ_Q_OUT), ==, 0);
    t.req_in = 0;

    /* entry_count 0: RF_INV_E_COUNT */
    iocb_head(req, ET_MARKER, 0, 0x1001);
    iocb_round_trip(&t, req, 1, rsp);
    check_error_entry(rsp, req, RF_INV_E_COUNT);

    /* entry_count 3 with one entry up to req_q_in: RF_INV_E_COUNT */
    iocb_head(req, ET_MARKER, 3, 0x1002);
    iocb_round_trip(&t, req, 1, rsp);
    check_error_entry(rsp, req, RF_INV_E_COUNT);

    /* an entry type the firmware does not know: RF_INV_E_TYPE */
    iocb_head(req, ET_UNKNOWN, 1, 0x1003);
    iocb_round_trip(&t, req, 1, rsp);
    check_error_entry(rsp, req, RF_INV_E_TYPE);

    /* a continuation without its head: RF_INV_E_ORDER */
    iocb_head(req, ET_CONTINUE_A64, 1, 0x1004);
    iocb_round_trip(&t, req, 1, rsp);
    g_assert_cmphex(rsp[0], ==, ET_CONTINUE_A64);
    g_assert_cmphex(rsp[3], ==, RF_INV_E_ORDER);

    /*
     * CTIO type 7 with more DSDs than its entries hold (1 in the CTIO,
     * 5 per continuation, qla_target.c qlt_load_cont_data_segments):
     * RF_INV_E_PARAM, whatever the exchange.
     */
    ctio_data_in(req, 1, CTIO_HANDLE_MARK | 1, exch, 2, buf, 36);
    iocb_round_trip(&t, req, 1, rsp);
    check_error_entry(rsp, req, RF_INV_E_PARAM);
    ctio_data_in(req, 2, CTIO_HANDLE_MARK | 2, exch, 7, buf, 36);
    iocb_head(req + IOCB_SIZE, ET_CONTINUE_A64, 1, 0);
    iocb_round_trip(&t, req, 2, rsp);           /* both slots consumed */
    check_error_entry(rsp, req, RF_INV_E_PARAM);
    ctio_data_in(req, 1, CTIO_HANDLE_MARK | 3, exch + 0x1000, 0, buf, 36);
    iocb_round_trip(&t, req, 1, rsp);
    check_error_entry(rsp, req, RF_INV_E_PARAM);

    /*
     * Valid DSDs on an exchange the firmware does not know: a normal
     * completion with status 0x08 INVALID_RX_ID (qla_target.h
     * CTIO_INVALID_RX_ID) - the DSD check runs before the exchange lookup.
     */
    ctio_data_in(req, 1, CTIO_HANDLE_MARK | 4, exch + 0x1000, 1, buf, 36);
    iocb_round_trip(&t, req, 1, rsp);
    g_assert_cmphex(rsp[0], ==, ET_CTIO_TYPE7);
    g_assert_cmphex(rsp[3], ==, 0);
    g_assert_cmphex(ldl_le_p(rsp + 4), ==, CTIO_HANDLE_MARK | 4);
    g_assert_cmphex(lduw_le_p(rsp + 8), ==, CTIO_INVALID_RX_ID);
    g_assert_cmphex(ldl_le_p(rsp + 20), ==, exch + 0x1000);

    /* the open exchange, one DSD outside guest RAM: RF_INV_E_PARAM */
    ctio_data_in(req, 1, CTIO_HANDLE_MARK | 5, exch, 1, 0xfffffffff000ULL,
                 36);
    iocb_round_trip(&t, req, 1, rsp);
    check_error_entry(rsp, req, RF_INV_E_PARAM);

    /* that exchange is still open: a good CTIO with status completes it */
    qtest_memset(t.qts, buf, 0, 36);
    ctio_data_in(req, 1, CTIO_HANDLE_MARK | 6, exch, 1, buf, 36);
    stw_le_p(req + 26, CTIO7_FLAGS_DATA_IN | CTIO7_FLAGS_SEND_STATUS);
    iocb_round_trip(&t, req, 1, rsp);
    g_assert_cmphex(rsp[0], ==, ET_CTIO_TYPE7);
    g_assert_cmphex(rsp[3], ==, 0);
    g_assert_cmphex(lduw_le_p(rsp + 8), ==, CTIO_SUCCESS);
    g_assert_cmphex(ldl_le_p(rsp + 20), ==, exch);

    /*
     * req_q_in beyond the ring: nothing consumed or answered on the
     * response ring, REQUEST TRANSFER ERROR 0x8003 with the index in mb1
     * (qla_isr.c qla2x00_async_event; [fw?] the model's choice, isp-fw.c)
     */
    in = rd32(&t, REG_RSP_Q_IN);
    i = t.naen;
    wr32(&t, REG_REQ_Q_IN, t.req_len);
    events_poll(&t);
    g_assert_cmpint(aen_find(&t, i, MBA_REQ_TRANSFER_ERR), >=, 0);
    g_assert_cmphex(t.aen[aen_find(&t, i, MBA_REQ_TRANSFER_ERR)][1], ==,
                    t.req_len);
    wr32(&t, REG_REQ_Q_IN, 0xffff);
    events_poll(&t);
    g_assert_cmphex(rd32(&t, REG_REQ_Q_OUT), ==, t.req_in);
    g_assert_cmphex(rd32(&t, REG_RSP_Q_IN), ==, in);
    g_assert_cmphex(rd32(&t, REG_HOST_STATUS), ==, 0);
    wr32(&t, REG_REQ_Q_IN, t.req_in);

    /* the ring still works: an asynchronous marker comes back clean */
    iocb_head(req, ET_MARKER, 1, 0x1006);
    iocb_round_trip(&t, req, 1, rsp);
    g_assert_cmphex(rsp[0], ==, ET_MARKER);
    g_assert_cmphex(rsp[3], ==, 0);
    g_assert_cmphex(ldl_le_p(rsp + 4), ==, 0x1006);

    /*
     * LOGINOUT PLOGI to port ID 0 (qla_iocb.c qla24xx_login_iocb;
     * qla_isr.c qla24xx_logio_entry): a completion, not an entry error,
     * comp_status CS_LOGIO_ERROR, io_parameter[0] CMD_PARAM_ERR.
     */
    iocb_head(req, ET_LOGINOUT, 1, 0x1007);
    stw_le_p(req + 10, 0x81);                   /* nport_handle */
    stw_le_p(req + 12, 0);                      /* LCF_COMMAND_PLOGI */
    iocb_round_trip(&t, req, 1, rsp);
    g_assert_cmphex(rsp[0], ==, ET_LOGINOUT);
    g_assert_cmphex(rsp[3], ==, 0);
    g_assert_cmphex(ldl_le_p(rsp + 4), ==, 0x1007);
    g_assert_cmphex(lduw_le_p(rsp + 8), ==, CS_LOGIO_ERROR);
    g_assert_cmphex(ldl_le_p(rsp + 20), ==, LSC_SCODE_CMD_PARAM_ERR);

    /*
     * LOGINOUT LOGO for a handle nobody is logged in with (qla_iocb.c
     * qla24xx_logout_iocb), under both readings of logo-without-login
     * (isp-fw.h): 0x31 / NOT LOGGED IN by default, COMPLETE under
     * "complete".
     */
    path = device_path(t.qts);
    for (i = 0; i < 2; i++) {
        qom_set_str(t.qts, path, "logo-without-login",
                    i ? "complete" : "not-logged-in");
        iocb_head(req, ET_LOGINOUT, 1, 0x1008 + i);
        stw_le_p(req + 10, 0x100);              /* nport_handle */
        stw_le_p(req + 12, LCF_COMMAND_LOGO);
        iocb_round_trip(&t, req, 1, rsp);
        g_assert_cmphex(rsp[0], ==, ET_LOGINOUT);
        g_assert_cmphex(ldl_le_p(rsp + 4), ==, 0x1008 + i);
        g_assert_cmphex(lduw_le_p(rsp + 8), ==, i ? 0 : CS_LOGIO_ERROR);
        g_assert_cmphex(ldl_le_p(rsp + 20), ==,
                        i ? 0 : LSC_SCODE_NOT_LOGGED_IN);
    }

    /* QEMU and the firmware still answer: mailbox register test */
    events_poll(&t);
    memset(mb, 0, sizeof(mb));
    mb[0] = MBC_MAILBOX_REGISTER_TEST;
    for (i = 1; i < 8; i++) {
        mb[i] = 0x1111 * i;
    }
    g_assert_cmphex(fw_mbox(&t, mb, 8, out, 8), ==, MBS_COMMAND_COMPLETE);
    for (i = 1; i < 8; i++) {
        g_assert_cmphex(out[i], ==, mb[i]);
    }
    g_assert_cmpint(rsp_pending(&t), ==, 0);

    qla_detach(&t);
    unlink(scenario);
}

/*
 * The firmware up in target mode (qla_target.c
 * qlt_24xx_config_nvram_stage1: fo1 BIT_4, an ATIO ring) with a page of
 * guest memory in *@buf, and the partner's first command taken: its ATIO
 * in @atio, its exchange address returned.
 */
static uint32_t target_up(QlaTest *t, void *obj, QGuestAllocator *alloc,
                          uint8_t *atio, uint64_t *buf)
{
    uint8_t icb[ICB_SIZE];

    qla_attach(t, obj, alloc);
    *buf = guest_alloc(t->alloc, 0x1000);
    rings_alloc(t);
    fw_start(t);
    icb_build(t, icb, ICB_FO1_TARGET, true);
    g_assert_cmphex(fw_init(t, icb), ==, MBS_COMMAND_COMPLETE);
    return atio_wait(t, atio);
}

/*
 * Issue #11: guest input the firmware must refuse, each with the status
 * the model gives and its source (isp-mbx.c, isp-fw.c, isp-tgt.c,
 * isp-els.c, qla2532.c qla2532_dma_is_ram), in the style of QEMU's
 * fuzz-*-test.c regressions: after each, QEMU is alive and the rings work.
 */
static void test_iocb_hardening(void *obj, void *data,
                                QGuestAllocator *alloc)
{
    QlaTest t;
    g_autofree char *scenario = data;   /* scenario_before */
    uint8_t req[IOCB_SIZE], rsp[IOCB_SIZE], atio[IOCB_SIZE];
    uint16_t out[2];
    uint32_t exch;
    uint64_t buf;

    exch = target_up(&t, obj, alloc, atio, &buf);
    g_assert_cmphex(atio[32 + 12], ==, 0x2a);   /* CDB: WRITE(10) */
    g_assert_cmphex(ldl_be_p(atio + 32 + 28), ==, 512);     /* FCP_DL */

    /* a second INITIALIZE FIRMWARE while the rings are live: 0x4005 */
    g_assert_cmphex(fw_dma(&t, MBC_INITIALIZE_FIRMWARE, 0, buf, 0, NULL, 0),
                    ==, MBS_COMMAND_ERROR);

    /* INITIALIZE FIRMWARE from inside the ring (MBX IOCB): 0x4001 */
    iocb_head(req, ET_MBX_IOCB, 1, 0x2001);
    stw_le_p(req + 8, MBC_INITIALIZE_FIRMWARE);
    iocb_round_trip(&t, req, 1, rsp);
    g_assert_cmphex(rsp[0], ==, ET_MBX_IOCB);
    g_assert_cmphex(rsp[3], ==, 0);
    g_assert_cmphex(lduw_le_p(rsp + 8), ==, MBS_INVALID_COMMAND);

    /* a status-only CTIO that names a data segment: RF_INV_E_PARAM */
    iocb_head(req, ET_CTIO_TYPE7, 1, CTIO_HANDLE_MARK | 0x11);
    stw_le_p(req + 12, 1);                      /* dseg_count */
    stl_le_p(req + 20, exch);
    stw_le_p(req + 26, CTIO7_FLAGS_SEND_STATUS);
    iocb_round_trip(&t, req, 1, rsp);
    check_error_entry(rsp, req, RF_INV_E_PARAM);

    /* data past the exchange's FCP_DL of 512: RF_INV_E_PARAM, no data */
    ctio_data_in(req, 1, CTIO_HANDLE_MARK | 0x12, exch, 1, buf, 600);
    iocb_round_trip(&t, req, 1, rsp);
    check_error_entry(rsp, req, RF_INV_E_PARAM);
    ctio_data_in(req, 1, CTIO_HANDLE_MARK | 0x13, exch, 1, buf, 16);
    stl_le_p(req + 36, 500);                    /* relative offset */
    iocb_round_trip(&t, req, 1, rsp);
    check_error_entry(rsp, req, RF_INV_E_PARAM);

    /* NOTIFY_ACK for a notify never sent: 0x08 */
    iocb_head(req, ET_NOTIFY_ACK, 1, 0x2002);
    stl_le_p(req + 20, 0x7fffffff);
    iocb_round_trip(&t, req, 1, rsp);
    g_assert_cmphex(rsp[0], ==, ET_NOTIFY_ACK);
    g_assert_cmphex(lduw_le_p(rsp + 16), ==, NOTIFY_ACK_INVALID_EXCH);

    /* an ABTS response for an ABTS never received: 0x31, nothing sent */
    iocb_head(req, ET_ABTS_RESP, 1, 0x2003);
    stl_le_p(req + 16, 0x7fffffff);
    iocb_round_trip(&t, req, 1, rsp);
    g_assert_cmphex(rsp[0], ==, ET_ABTS_RESP);
    g_assert_cmphex(lduw_le_p(rsp + 8), ==, ABTS_RESP_COMPL_SUBCODE_ERROR);

    /*
     * The write's data, DMA'd into the device's own registers: the write
     * data arrives from the link (a timer callback), and its DMA would
     * re-enter the device.  Refused (qla2532.c qla2532_dma_is_ram): the
     * CTIO comes back RF_INV_E_PARAM and nothing else happens.
     */
    ctio_data_in(req, 1, CTIO_HANDLE_MARK | 0x14, exch, 1, t.bar1.addr, 512);
    stw_le_p(req + 26, CTIO7_FLAGS_DATA_OUT | CTIO7_FLAGS_SEND_STATUS);
    req_post(&t, req, 1);
    events_run(&t, SETTLE_NS);
    g_assert_cmpint(rsp_pending(&t), ==, 1);
    rsp_take(&t, rsp);
    check_error_entry(rsp, req, RF_INV_E_PARAM);

    /* the rings and the mailboxes still answer */
    iocb_head(req, ET_MARKER, 1, 0x2004);
    iocb_round_trip(&t, req, 1, rsp);
    g_assert_cmphex(rsp[3], ==, 0);
    g_assert_cmphex(fw_op(&t, MBC_GET_FIRMWARE_STATE, out, 2), ==,
                    MBS_COMMAND_COMPLETE);

    qla_detach(&t);
    unlink(scenario);
}

/*
 * The other reading of a data CTIO past FCP_DL (ctio-overrun=truncate,
 * isp-fw.h ISP_CTIO_OVERRUN_*): the data up to FCP_DL goes out and the
 * CTIO completes as usual; a CTIO wholly past FCP_DL is still refused.
 */
static void test_ctio_overrun_truncate(void *obj, void *data,
                                       QGuestAllocator *alloc)
{
    QlaTest t;
    g_autofree char *scenario = data;   /* scenario_before */
    uint8_t req[IOCB_SIZE], rsp[IOCB_SIZE], atio[IOCB_SIZE];
    uint32_t exch;
    uint64_t buf;

    exch = target_up(&t, obj, alloc, atio, &buf);
    g_assert_cmphex(ldl_be_p(atio + 32 + 28), ==, 96);      /* FCP_DL */

    /* wholly past FCP_DL: refused in this reading too */
    ctio_data_in(req, 1, CTIO_HANDLE_MARK | 0x21, exch, 1, buf, 16);
    stl_le_p(req + 36, 96);                     /* relative offset */
    iocb_round_trip(&t, req, 1, rsp);
    check_error_entry(rsp, req, RF_INV_E_PARAM);

    /* 200 bytes for an FCP_DL of 96: 96 go out, the CTIO completes */
    qtest_memset(t.qts, buf, 0, 200);
    ctio_data_in(req, 1, CTIO_HANDLE_MARK | 0x22, exch, 1, buf, 200);
    stw_le_p(req + 26, CTIO7_FLAGS_DATA_IN | CTIO7_FLAGS_SEND_STATUS);
    iocb_round_trip(&t, req, 1, rsp);
    g_assert_cmphex(rsp[0], ==, ET_CTIO_TYPE7);
    g_assert_cmphex(rsp[3], ==, 0);
    g_assert_cmphex(lduw_le_p(rsp + 8), ==, CTIO_SUCCESS);

    qla_detach(&t);
    unlink(scenario);
}

/*
 * Issue #11, savevm/migration: a WRITE whose data is on the wire when the
 * VM is migrated to a file, completed by a second QEMU that loads it; then
 * the READ of the same blocks, answered from what arrived, which the
 * simulated initiator compares with its pattern (docs/scenario.md §3.4).
 */
#define SCENARIO_WRITE_READ \
    "{ \"name\": \"qtest-migrate\", \"first-command-delay-us\": 10,\n" \
    "  \"command-timeout-ms\": 600000,\n" \
    "  \"commands\": [\n" \
    "    { \"op\": \"write-10\", \"lba\": 8, \"blocks\": 8, " \
    "\"pattern\": 7 },\n" \
    "    { \"op\": \"read-10\", \"lba\": 8, \"blocks\": 8, " \
    "\"compare\": 7 } ] }\n"
/* A write the initiator retries after each lost attempt (docs/scenario.md
 * "retries"; the login lost with the link counts as an attempt). */
#define SCENARIO_WRITE_RETRY \
    "{ \"name\": \"qtest-link-events\", \"first-command-delay-us\": 10,\n" \
    "  \"command-timeout-ms\": 600000, \"retries\": 8,\n" \
    "  \"commands\": [ { \"op\": \"write-10\", \"lba\": 0, " \
    "\"blocks\": 1 } ] }\n"
#define MIGRATE_LBA             8
#define MIGRATE_BYTES           4096
#define MIGRATE_SEED            7

/* The scenario's data pattern (docs/scenario.md §3.4). */
static uint32_t mix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6b;
    h ^= h >> 13;
    h *= 0xc2b2ae35;
    h ^= h >> 16;
    return h;
}

static uint32_t pattern_word(uint32_t seed, uint64_t off)
{
    return mix32(mix32(seed) ^ (uint32_t)(off >> 2) ^
                 (uint32_t)(off >> 34) * 0x9e3779b9u);
}

/* query-migrate until it is neither setup nor active (bounded: 60 s). */
static void migrate_wait(QTestState *qts)
{
    int i;

    for (i = 0; i < 6000; i++) {
        QDict *rsp = qtest_qmp(qts, "{'execute': 'query-migrate'}");
        QDict *ret = qdict_get_qdict(rsp, "return");
        const char *st = qdict_get_try_str(ret, "status");
        g_autofree char *status = g_strdup(st ? st : "none");

        qobject_unref(rsp);
        if (!strcmp(status, "completed")) {
            return;
        }
        g_assert_cmpstr(status, !=, "failed");
        g_usleep(10000);
    }
    g_assert_not_reached();
}

/* The report of the (only) qla2532 of @qts, parsed. */
static QDict *device_report(QTestState *qts)
{
    g_autofree char *path = device_path(qts);
    QDict *rsp, *report;

    rsp = qtest_qmp(qts, "{'execute': 'qom-get', 'arguments': "
                    "{'path': %s, 'property': 'report'}}", path);
    report = qobject_to(QDict,
                        qobject_from_json(qdict_get_str(rsp, "return"),
                                          &error_abort));
    qobject_unref(rsp);
    return report;
}

/*
 * Migrate @t's VM to a file and start a second QEMU with the same command
 * line (plus @extra) that loads it; @d becomes @t's view of that QEMU,
 * its clock set to the source's so the loaded timers fire where they
 * would have.  Returns the second QEMU's PCI bus (qpci_free_pc it); the
 * file is unlinked.
 */
static QPCIBus *migrate_to_second(QlaTest *t, QlaTest *d, const char *extra)
{
    g_autofree char *file = NULL;
    g_autofree char *uri = NULL;
    int64_t now = qtest_clock_step(t->qts, 0);
    QPCIBus *bus;
    int fd;

    fd = g_file_open_tmp("qla2532-migrate-XXXXXX", &file, NULL);
    g_assert(fd >= 0);
    close(fd);
    uri = g_strdup_printf("exec:cat > %s", file);
    qtest_qmp_assert_success(t->qts, "{'execute': 'migrate', 'arguments': "
                             "{'uri': %s}}", uri);
    migrate_wait(t->qts);

    *d = *t;
    d->qts = qtest_initf("%s %s -incoming defer",
                         qos_get_current_command_line(), extra);
    g_free(uri);
    uri = g_strdup_printf("exec:cat %s", file);
    qtest_qmp_assert_success(d->qts, "{'execute': 'migrate-incoming', "
                             "'arguments': {'uri': %s}}", uri);
    migrate_wait(d->qts);
    unlink(file);
    bus = qpci_new_pc(d->qts, NULL);
    d->dev = qpci_device_find(bus, QLA2532_DEVFN);
    g_assert(d->dev);
    /* qtest's virtual clock is the test's, not migrated */
    qtest_clock_set(d->qts, now);
    return bus;
}

static void test_migrate_write(void *obj, void *data, QGuestAllocator *alloc)
{
    QlaTest t, d;
    g_autofree char *scenario = data;   /* scenario_before */
    g_autofree char *extra = NULL;
    uint8_t req[IOCB_SIZE], rsp[IOCB_SIZE], atio[IOCB_SIZE];
    uint8_t got[MIGRATE_BYTES];
    QDict *report, *ini, *cnt;
    QList *cmds;
    QListEntry *e;
    QPCIBus *bus;
    uint32_t exch;
    uint64_t buf;
    int i;

    exch = target_up(&t, obj, alloc, atio, &buf);
    g_assert_cmphex(atio[32 + 12], ==, 0x2a);   /* CDB: WRITE(10) */
    g_assert_cmphex(ldl_be_p(atio + 32 + 28), ==, MIGRATE_BYTES);

    /* the write's CTIO: XFER_RDY goes out, the data comes back */
    qtest_memset(t.qts, buf, 0, MIGRATE_BYTES);
    ctio_data_in(req, 1, CTIO_HANDLE_MARK | 0x31, exch, 1, buf,
                 MIGRATE_BYTES);
    stw_le_p(req + 26, CTIO7_FLAGS_DATA_OUT | CTIO7_FLAGS_SEND_STATUS);
    req_post(&t, req, 1);
    /* XFER_RDY reaches the initiator after one frame latency (1 µs) and
     * its data frames are on the link for another: migrate then */
    qtest_clock_step(t.qts, 1500);
    g_assert_cmpint(rsp_pending(&t), ==, 0);
    extra = g_strdup_printf("-global qla2532.scenario=%s", scenario);
    bus = migrate_to_second(&t, &d, extra);

    /* the write completes, its data in guest memory */
    events_run(&d, SETTLE_NS);
    g_assert_cmpint(rsp_pending(&d), ==, 1);
    rsp_take(&d, rsp);
    g_assert_cmphex(rsp[0], ==, ET_CTIO_TYPE7);
    g_assert_cmphex(rsp[3], ==, 0);
    g_assert_cmphex(lduw_le_p(rsp + 8), ==, CTIO_SUCCESS);
    qtest_memread(d.qts, buf, got, MIGRATE_BYTES);
    for (i = 0; i < MIGRATE_BYTES; i += 4) {
        g_assert_cmphex((uint32_t)ldl_be_p(got + i), ==,
                        pattern_word(MIGRATE_SEED,
                                     MIGRATE_LBA * 512ull + i));
    }

    /* the READ, answered with those bytes; the initiator compares */
    exch = atio_wait(&d, atio);
    g_assert_cmphex(atio[32 + 12], ==, 0x28);   /* CDB: READ(10) */
    ctio_data_in(req, 1, CTIO_HANDLE_MARK | 0x32, exch, 1, buf,
                 MIGRATE_BYTES);
    stw_le_p(req + 26, CTIO7_FLAGS_DATA_IN | CTIO7_FLAGS_SEND_STATUS);
    iocb_round_trip(&d, req, 1, rsp);
    g_assert_cmphex(lduw_le_p(rsp + 8), ==, CTIO_SUCCESS);
    events_run(&d, SETTLE_NS);

    report = device_report(d.qts);
    ini = qdict_get_qdict(report, "initiator");
    g_assert(ini);
    g_assert_true(qdict_get_bool(ini, "done"));
    g_assert_true(qdict_get_bool(ini, "all_passed"));
    cmds = qdict_get_qlist(ini, "commands");
    g_assert_cmpint(qlist_size(cmds), ==, 2);
    QLIST_FOREACH_ENTRY(cmds, e) {
        QDict *c = qobject_to(QDict, qlist_entry_obj(e));

        g_assert_true(qdict_get_bool(c, "passed"));
        g_assert_cmpint(qdict_get_int(c, "attempts"), ==, 1);
    }
    /* the event log came along: the login before the save is in it */
    cnt = qdict_get_qdict(ini, "counters");
    g_assert_cmpint(qdict_get_int(cnt, "bytes_written"), ==, MIGRATE_BYTES);
    g_assert_cmpint(qdict_get_int(cnt, "bytes_read"), ==, MIGRATE_BYTES);
    g_assert_cmpint(qlist_size(qdict_get_qlist(report, "events")), >, 0);
    qobject_unref(report);

    qpci_free_pc(bus);
    g_free(d.dev);
    qtest_quit(d.qts);
    qla_detach(&t);
    unlink(scenario);
}

/*
 * Issue #11, bad input from the host: QMP link events (qla2532.c
 * qla2532_set_link_event) at the worst moments of a write -- the cable
 * pulled between XFER_RDY and the data, a LIP while the data is on the
 * wire, a LIP reset with the CTIO outstanding.  Each time the CTIO comes
 * back (with the status the driver handles for it, never success) and
 * nothing else breaks: after the link is back the initiator logs in again
 * and its retry arrives as a new ATIO; the mailboxes answer.
 */
/*
 * The next ATIO (FCP_CMND) on the ATIO ring, acknowledging the immediate
 * notifies before it as the driver does (qla_target.c
 * qlt_24xx_atio_pkt_all_vps -> qlt_handle_imm_notify -> qlt_send_notify_ack:
 * nport handle, exchange address and OX_ID of the notify); returns the
 * ATIO's exchange address.
 */
static uint32_t atio_wait_acking(QlaTest *t, uint8_t *atio)
{
    uint8_t ack[IOCB_SIZE];
    int i;

    for (i = 0; i < SETTLE_NS / EVENT_STEP_NS; i++) {
        if (rd32(t, REG_ATIO_Q_IN) == t->atio_out) {
            events_run(t, EVENT_STEP_NS);
            continue;
        }
        qtest_memread(t->qts, t->atio + (uint64_t)t->atio_out * IOCB_SIZE,
                      atio, IOCB_SIZE);
        t->atio_out = (t->atio_out + 1) % t->atio_len;
        wr32(t, REG_ATIO_Q_OUT, t->atio_out);
        if (atio[0] == ET_ATIO_TYPE7) {
            return ldl_le_p(atio + 4);
        }
        g_assert_cmphex(atio[0], ==, ET_IMMED_NOTIFY);
        iocb_head(ack, ET_NOTIFY_ACK, 1, 0x3000 + i);
        stw_le_p(ack + 8, lduw_le_p(atio + 8));     /* nport_handle */
        ack[18] = atio[18];                         /* status_subcode */
        stl_le_p(ack + 20, ldl_le_p(atio + 20));    /* exchange_address */
        stw_le_p(ack + 62, lduw_le_p(atio + 62));   /* ox_id */
        req_post(t, ack, 1);
    }
    g_assert_not_reached();
}

static void test_link_events_during_io(void *obj, void *data,
                                       QGuestAllocator *alloc)
{
    QlaTest t;
    g_autofree char *scenario = data;   /* scenario_before */
    g_autofree char *path = NULL;
    static const char *const events[] = { "down", "lip", "lip-reset" };
    static const int64_t at_ns[] = { 500, 1500, 0 };
    uint8_t req[IOCB_SIZE], rsp[IOCB_SIZE], atio[IOCB_SIZE];
    uint16_t out[2];
    uint32_t exch;
    uint64_t buf;
    int i;

    exch = target_up(&t, obj, alloc, atio, &buf);
    path = device_path(t.qts);
    for (i = 0; i < ARRAY_SIZE(events); i++) {
        g_assert_cmphex(atio[32 + 12], ==, 0x2a);   /* WRITE(10) */
        ctio_data_in(req, 1, CTIO_HANDLE_MARK | (0x40 + i), exch, 1, buf,
                     512);
        stw_le_p(req + 26, CTIO7_FLAGS_DATA_OUT | CTIO7_FLAGS_SEND_STATUS);
        req_post(&t, req, 1);
        qtest_clock_step(t.qts, at_ns[i]);
        qtest_qmp_assert_success(t.qts, "{'execute': 'qom-set', "
                                 "'arguments': {'path': %s, 'property': "
                                 "'link-event', 'value': %s}}", path,
                                 events[i]);
        if (!strcmp(events[i], "down")) {
            events_run(&t, EVENT_STEP_NS);
            qtest_qmp_assert_success(t.qts, "{'execute': 'qom-set', "
                                     "'arguments': {'path': %s, 'property': "
                                     "'link-event', 'value': 'up'}}", path);
        }
        events_run(&t, SETTLE_NS);
        g_assert_cmpint(rsp_pending(&t), >=, 1);
        rsp_take(&t, rsp);
        g_assert_cmphex(rsp[0], ==, ET_CTIO_TYPE7);
        g_assert_cmphex(ldl_le_p(rsp + 4), ==, CTIO_HANDLE_MARK | (0x40 + i));
        g_assert_cmphex(lduw_le_p(rsp + 8), !=, CTIO_SUCCESS);
        while (rsp_pending(&t)) {
            rsp_take(&t, rsp);
        }
        /* the initiator's retry after its new login */
        exch = atio_wait_acking(&t, atio);
        while (rsp_pending(&t)) {
            rsp_take(&t, rsp);              /* the NOTIFY_ACKs' completions */
        }
    }
    g_assert_cmphex(fw_op(&t, MBC_GET_FIRMWARE_STATE, out, 2), ==,
                    MBS_COMMAND_COMPLETE);
    qla_detach(&t);
    unlink(scenario);
}

/* before: unimplemented-feature logging (-d unimp) into a file of the
 * test's own; its path is the test's data. */
/* ---------------------------------------------------------------------- */
/* Initiator mode: Command Type 7, Task Management, Abort                 */
/* ---------------------------------------------------------------------- */

#define ET_STATUS               0x03
#define ET_STATUS_CONT          0x10
#define ET_TSK_MGMT             0x14
#define ET_ABORT                0x33
#define ET_CMD7                 0x18
#define TMF_WRITE_DATA          BIT(0)
#define TMF_READ_DATA           BIT(1)
#define TCF_LUN_RESET           BIT(4)
#define CS_COMPLETE             0x00
#define CS_DMA                  0x02
#define CS_ABORTED              0x05
#define CS_DATA_UNDERRUN        0x15
#define CS_PORT_LOGGED_OUT      0x29
#define SS_RSP_INFO_VALID       BIT(8)
#define SS_SENSE_VALID          BIT(9)
#define SS_RESID_UNDER          BIT(11)

/*
 * Command Type 7 (qla_fw.h struct cmd_type_7, built by qla_iocb.c
 * qla24xx_start_scsi): nport_handle 8, dseg_count 12, LUN 16, flags 24,
 * CDB 28 and LUN each 32-bit word byte-swapped (host_to_fcp_swap),
 * byte_count 44, port_id 48, one DSD at 52.
 */
static void cmd7(uint8_t *e, uint32_t handle, uint16_t nph,
                 const uint8_t *port_id, const uint8_t *cdb, uint16_t flags,
                 uint32_t len, uint16_t dsegs, uint64_t addr, uint32_t dlen)
{
    int i;

    iocb_head(e, ET_CMD7, 1, handle);
    stw_le_p(e + 8, nph);
    stw_le_p(e + 12, dsegs);
    stw_le_p(e + 24, flags);
    for (i = 0; i < 16; i++) {
        e[28 + 4 * (i / 4) + 3 - i % 4] = cdb[i];
    }
    stl_le_p(e + 44, len);
    memcpy(e + 48, port_id, 3);
    stq_le_p(e + 52, addr);
    stl_le_p(e + 60, dlen);
}

/* Post @count entries, let the frames go round, take @n responses. */
static void iocb_exchange(QlaTest *t, const uint8_t *req, int count,
                          uint8_t *rsp, int n)
{
    int i;

    g_assert_cmpint(rsp_pending(t), ==, 0);
    req_post(t, req, count);
    events_run(t, 50 * 1000);
    g_assert_cmpint(rsp_pending(t), ==, n);
    for (i = 0; i < n; i++) {
        rsp_take(t, rsp + i * IOCB_SIZE);
    }
}

/* A status entry (struct sts_entry_24xx) for @handle with @comp. */
static void check_status(const uint8_t *st, uint32_t handle, uint16_t comp)
{
    g_assert_cmphex(st[0], ==, ET_STATUS);
    g_assert_cmphex(st[3], ==, 0);
    g_assert_cmphex(ldl_le_p(st + 4), ==, handle);
    g_assert_cmphex(lduw_le_p(st + 8), ==, comp);
}

/*
 * The firmware in initiator mode, its loop auto-login to the simulated
 * target (partner-role=target: a target with no logical units,
 * fc-sim-tgt.c), then what qla2xxx's SCSI path sends through it: INQUIRY
 * with its data and an underrun, TEST UNIT READY's CHECK CONDITION with
 * the sense in data[] (each word swapped, as host_to_fcp_swap undoes), a
 * LUN RESET, an abort of an open exchange (ABTS, BA_ACC: the command ABORTED,
 * then the abort), and the bad IOCBs: descriptor counts and lengths, both
 * directions, a buffer past RAM, an unknown handle, a logged-out port.
 */
static void test_initiator_io(void *obj, void *data, QGuestAllocator *alloc)
{
    static const uint8_t inquiry[16] = { 0x12, 0, 0, 0, 36 };
    static const uint8_t inquiry96[16] = { 0x12, 0, 0, 0, 96 };
    static const uint8_t tur[16] = { 0 };
    static const uint8_t write10[16] = { 0x2a, 0, 0, 0, 0, 0, 0, 0, 1 };
    g_autofree char *path = NULL;
    QlaTest t;
    int i;
    uint8_t ids[8 * 16], e[2 * IOCB_SIZE], rsp[4 * IOCB_SIZE], buf[96];
    uint8_t pid[3];
    uint64_t dma, data_buf;
    uint16_t nph;

    qla_attach(&t, obj, alloc);
    dma = guest_alloc(t.alloc, 0x1000);
    data_buf = guest_alloc(t.alloc, 0x1000);
    fw_up_initiator(&t);
    g_assert_cmpuint(wait_id_list(&t, dma, ids, sizeof(ids)), ==, 1);
    memcpy(pid, ids, 3);
    nph = lduw_le_p(ids + 4);

    /* INQUIRY, 36 bytes: complete, the target's data in the buffer */
    qtest_memset(t.qts, data_buf, 0xee, 96);
    cmd7(e, 0x101, nph, pid, inquiry, TMF_READ_DATA, 36, 1, data_buf, 36);
    iocb_exchange(&t, e, 1, rsp, 1);
    check_status(rsp, 0x101, CS_COMPLETE);
    g_assert_cmphex(lduw_le_p(rsp + 22), ==, 0);        /* scsi_status */
    g_assert_cmphex(lduw_le_p(rsp + 10), >=, 0x8000);   /* our OX_ID */
    qtest_memread(t.qts, data_buf, buf, 96);
    g_assert_cmphex(buf[0], ==, 0x7f);          /* PQ 3: no LUN 0 */
    g_assert(!memcmp(buf + 8, "QLAEMU  ", 8));
    g_assert_cmphex(buf[36], ==, 0xee);         /* nothing past it */

    /* INQUIRY, 96 expected, 36 sent: DATA UNDERRUN, both residuals 60 */
    cmd7(e, 0x102, nph, pid, inquiry96, TMF_READ_DATA, 96, 1, data_buf, 96);
    iocb_exchange(&t, e, 1, rsp, 1);
    check_status(rsp, 0x102, CS_DATA_UNDERRUN);
    g_assert_cmpuint(ldl_le_p(rsp + 12), ==, 60);       /* residual_len */
    g_assert_cmphex(lduw_le_p(rsp + 22), ==, SS_RESID_UNDER);
    g_assert_cmpuint(ldl_le_p(rsp + 24), ==, 60);       /* FCP_RESID */

    /* TEST UNIT READY: CHECK CONDITION, 18 bytes of sense in data[] */
    cmd7(e, 0x103, nph, pid, tur, 0, 0, 0, 0, 0);
    iocb_exchange(&t, e, 1, rsp, 1);
    check_status(rsp, 0x103, CS_COMPLETE);
    g_assert_cmphex(lduw_le_p(rsp + 22), ==, SS_SENSE_VALID | 0x02);
    g_assert_cmpuint(ldl_le_p(rsp + 28), ==, 18);       /* sense_len */
    g_assert_cmphex(rsp[36 + 3], ==, 0x70);     /* byte 0, word-swapped */
    g_assert_cmphex(rsp[36 + 1], ==, 0x05);     /* byte 2: ILLEGAL REQUEST */
    g_assert_cmphex(rsp[36 + 12 + 3], ==, 0x25);    /* byte 12: ASC */

    /*
     * WRITE(10) of 512 bytes the target rejects without asking for the
     * data, saying FCP_RESID_UNDER 512: DATA UNDERRUN with the residual
     * under both readings of ini-write-underrun (isp-fw.h; they differ
     * only for a target that leaves FCP_RESID_UNDER out, as LIO does for
     * writes -- the pair runs that), and the variant is settable at run
     * time.
     */
    path = device_path(t.qts);
    for (i = 0; i < 2; i++) {
        qom_set_str(t.qts, path, "ini-write-underrun",
                    i ? "short" : "resid-under");
        cmd7(e, 0x120 + i, nph, pid, write10, TMF_WRITE_DATA, 512, 1,
             data_buf, 512);
        iocb_exchange(&t, e, 1, rsp, 1);
        check_status(rsp, 0x120 + i, CS_DATA_UNDERRUN);
        g_assert_cmpuint(ldl_le_p(rsp + 12), ==, 512);  /* residual_len */
        g_assert_cmphex(lduw_le_p(rsp + 22), ==,
                        SS_RESID_UNDER | SS_SENSE_VALID | 0x02);
        g_assert_cmpuint(ldl_le_p(rsp + 24), ==, 512);  /* FCP_RESID */
    }
    qom_set_str(t.qts, path, "ini-write-underrun", "resid-under");

    /* LUN RESET (qla_iocb.c qla24xx_tm_iocb): response info, code 0 */
    iocb_head(e, ET_TSK_MGMT, 1, 0x104);
    stw_le_p(e + 8, nph);
    stl_le_p(e + 24, TCF_LUN_RESET);
    memcpy(e + 48, pid, 3);
    iocb_exchange(&t, e, 1, rsp, 1);
    check_status(rsp, 0x104, CS_COMPLETE);
    g_assert_cmphex(lduw_le_p(rsp + 22), ==, SS_RSP_INFO_VALID);
    g_assert_cmpuint(ldl_le_p(rsp + 32), ==, 4);        /* rsp_data_len */
    g_assert_cmphex(rsp[36], ==, 0);            /* response code (byte 3) */

    /* an INQUIRY and its abort together: ABORTED, then the abort (0) */
    cmd7(e, 0x105, nph, pid, inquiry, TMF_READ_DATA, 36, 1, data_buf, 36);
    iocb_head(e + IOCB_SIZE, ET_ABORT, 1, 0x106);
    stw_le_p(e + IOCB_SIZE + 8, nph);
    stl_le_p(e + IOCB_SIZE + 12, 0x105);        /* handle_to_abort */
    memcpy(e + IOCB_SIZE + 48, pid, 3);
    req_post(&t, e, 1);
    req_post(&t, e + IOCB_SIZE, 1);
    events_run(&t, 50 * 1000);
    g_assert_cmpint(rsp_pending(&t), ==, 2);
    rsp_take(&t, rsp);
    rsp_take(&t, rsp + IOCB_SIZE);
    check_status(rsp, 0x105, CS_ABORTED);
    g_assert_cmphex(rsp[IOCB_SIZE], ==, ET_ABORT);
    g_assert_cmphex(ldl_le_p(rsp + IOCB_SIZE + 4), ==, 0x106);
    g_assert_cmphex(lduw_le_p(rsp + IOCB_SIZE + 8), ==, CS_COMPLETE);

    /* an abort naming no open exchange: CS_IOCB_ERROR (0x31) */
    iocb_exchange(&t, e + IOCB_SIZE, 1, rsp, 1);
    g_assert_cmphex(rsp[0], ==, ET_ABORT);
    g_assert_cmphex(lduw_le_p(rsp + 8), ==, CS_LOGIO_ERROR);

    /* two DSDs in one entry, a DSD shorter than byte_count, both
     * directions, data without a direction: RF_INV_E_PARAM */
    cmd7(e, 0x107, nph, pid, inquiry, TMF_READ_DATA, 36, 2, data_buf, 36);
    iocb_round_trip(&t, e, 1, rsp);
    check_error_entry(rsp, e, RF_INV_E_PARAM);
    cmd7(e, 0x108, nph, pid, inquiry, TMF_READ_DATA, 36, 1, data_buf, 35);
    iocb_round_trip(&t, e, 1, rsp);
    check_error_entry(rsp, e, RF_INV_E_PARAM);
    cmd7(e, 0x109, nph, pid, inquiry, TMF_READ_DATA | TMF_WRITE_DATA, 36, 1,
         data_buf, 36);
    iocb_round_trip(&t, e, 1, rsp);
    check_error_entry(rsp, e, RF_INV_E_PARAM);
    cmd7(e, 0x10a, nph, pid, inquiry, 0, 36, 1, data_buf, 36);
    iocb_round_trip(&t, e, 1, rsp);
    check_error_entry(rsp, e, RF_INV_E_PARAM);
    /* a continuation of another type after the head */
    cmd7(e, 0x10b, nph, pid, inquiry, TMF_READ_DATA, 36, 2, data_buf, 18);
    iocb_head(e + IOCB_SIZE, ET_MARKER, 1, 0);
    e[1] = 2;
    iocb_round_trip(&t, e, 2, rsp);
    check_error_entry(rsp, e, RF_INV_E_PARAM);

    /* read data for a buffer past the end of RAM: DMA error (0x02) */
    cmd7(e, 0x10c, nph, pid, inquiry, TMF_READ_DATA, 36, 1,
         0xfffffffff000ULL, 36);
    iocb_exchange(&t, e, 1, rsp, 1);
    check_status(rsp, 0x10c, CS_DMA);

    /* a handle no port has: PORT LOGGED OUT, nothing sent */
    cmd7(e, 0x10d, 0x7e, pid, inquiry, TMF_READ_DATA, 36, 1, data_buf, 36);
    iocb_exchange(&t, e, 1, rsp, 1);
    check_status(rsp, 0x10d, CS_PORT_LOGGED_OUT);
    g_assert_cmpuint(ldl_le_p(rsp + 12), ==, 36);

    /*
     * plogi-handle-conflict=refuse (isp-fw.h): a LOGINOUT PLOGI to the
     * target under another handle is PORT ID USED with the handle in use,
     * one with the target's handle to another port ID N_PORT HANDLE USED
     * with the target's port ID (qla_isr.c qla24xx_logio_entry); nothing
     * is sent and the login stays (the INQUIRY below).
     */
    qom_set_str(t.qts, path, "plogi-handle-conflict", "refuse");
    g_assert_cmphex(pid[0], !=, 0x04);
    for (i = 0; i < 2; i++) {
        iocb_head(e, ET_LOGINOUT, 1, 0x130 + i);
        stw_le_p(e + 10, i ? nph : nph + 1);
        stw_le_p(e + 12, 0);                    /* LCF_COMMAND_PLOGI */
        memcpy(e + 16, pid, 3);
        if (i) {
            e[16] = 0x04;       /* neither ours (0x02) nor the target's */
        }
        iocb_exchange(&t, e, 1, rsp, 1);
        g_assert_cmphex(rsp[0], ==, ET_LOGINOUT);
        g_assert_cmphex(ldl_le_p(rsp + 4), ==, 0x130 + i);
        g_assert_cmphex(lduw_le_p(rsp + 8), ==, CS_LOGIO_ERROR);
        g_assert_cmphex(ldl_le_p(rsp + 20), ==,
                        i ? LSC_SCODE_NPORT_USED : LSC_SCODE_PORTID_USED);
        g_assert_cmphex(ldl_le_p(rsp + 24), ==,
                        i ? (uint32_t)(pid[2] << 16 | pid[1] << 8 | pid[0])
                          : nph);
    }
    qom_set_str(t.qts, path, "plogi-handle-conflict", "move");

    /* the firmware still works after all that */
    cmd7(e, 0x10e, nph, pid, inquiry, TMF_READ_DATA, 36, 1, data_buf, 36);
    iocb_exchange(&t, e, 1, rsp, 1);
    check_status(rsp, 0x10e, CS_COMPLETE);

    /*
     * Under "move" (the default) the same PLOGI under another handle goes
     * out and completes, and the login is then under the new handle: the
     * old one is PORT LOGGED OUT.
     */
    iocb_head(e, ET_LOGINOUT, 1, 0x132);
    stw_le_p(e + 10, nph + 1);
    stw_le_p(e + 12, 0);
    memcpy(e + 16, pid, 3);
    iocb_exchange(&t, e, 1, rsp, 1);
    g_assert_cmphex(rsp[0], ==, ET_LOGINOUT);
    g_assert_cmphex(lduw_le_p(rsp + 8), ==, CS_COMPLETE);
    cmd7(e, 0x10f, nph, pid, inquiry, TMF_READ_DATA, 36, 1, data_buf, 36);
    iocb_exchange(&t, e, 1, rsp, 1);
    check_status(rsp, 0x10f, CS_PORT_LOGGED_OUT);
    qla_detach(&t);
}

/*
 * An initiator exchange survives migration (isp-vmstate.c subsection
 * isp2532/initiator): a Command Type 7 INQUIRY is posted and the VM
 * migrated while its FCP_CMND is still on the link; the second QEMU loads
 * the file, the simulated target answers there, and the status entry and
 * the data arrive as they would have.  Without the subsection the
 * target's frames find no exchange and nothing completes.
 */
static void test_migrate_initiator(void *obj, void *data,
                                   QGuestAllocator *alloc)
{
    static const uint8_t inquiry[16] = { 0x12, 0, 0, 0, 36 };
    QlaTest t, d;
    uint8_t ids[8 * 16], e[IOCB_SIZE], rsp[IOCB_SIZE], buf[36];
    uint64_t dma, data_buf;
    QPCIBus *bus;

    qla_attach(&t, obj, alloc);
    dma = guest_alloc(t.alloc, 0x1000);
    data_buf = guest_alloc(t.alloc, 0x1000);
    fw_up_initiator(&t);
    g_assert_cmpuint(wait_id_list(&t, dma, ids, sizeof(ids)), ==, 1);
    qtest_memset(t.qts, data_buf, 0, 64);
    cmd7(e, 0x201, lduw_le_p(ids + 4), ids, inquiry, TMF_READ_DATA, 36, 1,
         data_buf, 36);
    req_post(&t, e, 1);
    g_assert_cmpint(rsp_pending(&t), ==, 0);
    bus = migrate_to_second(&t, &d, "");

    events_run(&d, 50 * 1000);
    g_assert_cmpint(rsp_pending(&d), ==, 1);
    rsp_take(&d, rsp);
    check_status(rsp, 0x201, CS_COMPLETE);
    qtest_memread(d.qts, data_buf, buf, sizeof(buf));
    g_assert_cmphex(buf[0], ==, 0x7f);
    g_assert(!memcmp(buf + 8, "QLAEMU  ", 8));

    qpci_free_pc(bus);
    g_free(d.dev);
    qtest_quit(d.qts);
    qla_detach(&t);
}

/*
 * fc-remote (hw/qla2532/fc-remote.h): this QEMU's ISP and a second QEMU's
 * on one link through a socket chardev.  Both firmwares in initiator mode
 * log in to each other (loop auto-login); each finds the other at the
 * address the other has for itself; a LIP on one side reaches the other;
 * the other QEMU's exit is loss of light here; bytes that are not the
 * protocol are refused without harm.
 */
#define REMOTE_WWPN             0x21000024ff00cafeULL
#define REMOTE_STEP_NS          (20 * 1000)

/* The link and its fc-remote: the chardev a server or a client. */
static char *remote_args(const char *sock, bool server)
{
    return g_strdup_printf(" -object fc-link,id=fc0,init-us=100 "
                           "-chardev socket,id=fcr,path=%s,%s "
                           "-object fc-remote,id=r0,link=fc0,chardev=fcr ",
                           sock, server ? "server=on,wait=off" :
                           "reconnect=1");
}

static void *remote_before(GString *cmd_line, void *arg)
{
    g_autofree char *dir = g_dir_make_tmp("qla2532-remote-XXXXXX", NULL);
    g_autofree char *args = NULL;
    char *sock = g_strdup_printf("%s/fc.sock", dir);

    args = remote_args(sock, true);
    g_string_append(cmd_line, args);
    return sock;
}

/* Run both QEMUs' clocks for @ns, in turns, taking their events. */
static void both_run(QlaTest *a, QlaTest *b, int64_t ns)
{
    int64_t done;

    for (done = 0; done < ns; done += REMOTE_STEP_NS) {
        events_run(a, REMOTE_STEP_NS);
        events_run(b, REMOTE_STEP_NS);
    }
}

/* Own AL_PA (MBC 0x20) and the ID list's one entry's, of @t. */
static void remote_ids(QlaTest *t, uint64_t dma, uint8_t *own,
                       uint8_t *other)
{
    uint16_t out[10] = { 0 };
    uint8_t ids[8 * 16];

    g_assert_cmphex(fw_op(t, MBC_GET_ADAPTER_LOOP_ID, out, 10), ==,
                    MBS_COMMAND_COMPLETE);
    *own = out[2] & 0xff;
    qtest_memset(t->qts, dma, 0, sizeof(ids));
    g_assert_cmphex(fw_dma(t, MBC_GET_ID_LIST, 0, dma, 0, out, 2), ==,
                    MBS_COMMAND_COMPLETE);
    g_assert_cmpuint(out[1], ==, 1);
    qtest_memread(t->qts, dma, ids, sizeof(ids));
    *other = ids[0];
}

static QDict *remote_report(QTestState *qts)
{
    QDict *rsp = qtest_qmp(qts, "{'execute': 'qom-get', 'arguments': "
                           "{'path': '/objects/fc0', 'property': "
                           "'report'}}");
    QDict *report = qobject_to(QDict,
                               qobject_from_json(qdict_get_str(rsp,
                                                               "return"),
                                                 &error_abort));
    QDict *remote = qdict_get_qdict(report, "remote");

    g_assert(remote);
    qobject_ref(remote);
    qobject_unref(report);
    qobject_unref(rsp);
    return remote;
}

static void test_remote_link(void *obj, void *data, QGuestAllocator *alloc)
{
    g_autofree char *sock = data;       /* remote_before */
    g_autofree char *dir = g_path_get_dirname(sock);
    g_autofree char *args = remote_args(sock, false);
    QlaTest a, b;
    uint8_t icb[ICB_SIZE], own_a, own_b, seen_a, seen_b;
    uint64_t dma;
    QPCIBus *bus;
    QDict *ra, *rb;
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    int i, n, fd, lip_b;

    qla_attach(&a, obj, alloc);
    dma = guest_alloc(a.alloc, 0x1000);

    /* the second QEMU: the same machine, the chardev a client */
    b = a;
    b.qts = qtest_initf("-M pc -device qla2532,addr=04.0,link=fc0 %s", args);
    bus = qpci_new_pc(b.qts, NULL);
    b.dev = qpci_device_find(bus, QLA2532_DEVFN);
    g_assert(b.dev);
    b.bar1 = qpci_iomap(b.dev, 1, NULL);
    qpci_device_enable(b.dev);

    fw_start(&a);
    fw_start(&b);
    rings_alloc(&a);
    rings_alloc(&b);                    /* other addresses: one allocator */
    icb_build(&a, icb, ICB_FO1_INITIATOR, false);
    g_assert_cmphex(fw_init(&a, icb), ==, MBS_COMMAND_COMPLETE);
    icb_build(&b, icb, ICB_FO1_INITIATOR, false);
    stq_be_p(icb + 12, REMOTE_WWPN);
    g_assert_cmphex(fw_init(&b, icb), ==, MBS_COMMAND_COMPLETE);
    both_run(&a, &b, SETTLE_NS);

    /* each has the other at the address the other has for itself */
    remote_ids(&a, dma, &own_a, &seen_b);
    remote_ids(&b, dma, &own_b, &seen_a);
    g_assert_cmphex(own_a, !=, own_b);
    g_assert_cmphex(seen_b, ==, own_b);
    g_assert_cmphex(seen_a, ==, own_a);
    ra = remote_report(a.qts);
    rb = remote_report(b.qts);
    g_assert(qdict_get_bool(ra, "connected"));
    g_assert_cmpuint(qdict_get_int(ra, "far_wwpn"), ==, REMOTE_WWPN);
    g_assert_cmpuint(qdict_get_int(rb, "far_wwpn"), ==, OUR_WWPN);
    g_assert_cmpint(qdict_get_int(ra, "frames_sent"), >, 0);
    g_assert_cmpint(qdict_get_int(ra, "frames_received"), >, 0);
    g_assert_cmpint(qdict_get_int(rb, "frames_received"), ==,
                    qdict_get_int(ra, "frames_sent"));
    g_assert_cmpint(qdict_get_int(ra, "address_mismatches"), ==, 0);
    g_assert_cmpint(qdict_get_int(rb, "address_mismatches"), ==, 0);
    g_assert_cmpint(qdict_get_int(ra, "frames_lost") +
                    qdict_get_int(rb, "frames_lost"), ==, 0);
    qobject_unref(ra);
    qobject_unref(rb);

    /* a LIP on this side's link is a LIP on the other's */
    lip_b = b.naen;
    qom_set_str(a.qts, "/objects/fc0", "link-event", "lip");
    both_run(&a, &b, SETTLE_NS);
    i = aen_find(&b, lip_b, MBA_LIP_OCCURRED);
    g_assert_cmpint(i, >=, 0);
    g_assert_cmpint(aen_find(&b, i, MBA_LOOP_UP), >=, 0);
    remote_ids(&b, dma, &own_b, &seen_a);
    g_assert_cmphex(seen_a, ==, own_a);

    /* the other QEMU goes away: no light (LOOP DOWN), no port list */
    qpci_free_pc(bus);
    g_free(b.dev);
    qtest_quit(b.qts);
    n = a.naen;
    for (i = 0; i < 200 && aen_find(&a, n, MBA_LOOP_DOWN) < 0; i++) {
        events_run(&a, REMOTE_STEP_NS);
    }
    g_assert_cmpint(aen_find(&a, n, MBA_LOOP_DOWN), >=, 0);
    g_assert_cmphex(fw_dma(&a, MBC_GET_ID_LIST, 0, dma, 0, NULL, 0), ==,
                    MBS_COMMAND_ERROR);

    /* not the protocol: refused, counted, the firmware unharmed */
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    g_assert(fd >= 0);
    g_strlcpy(un.sun_path, sock, sizeof(un.sun_path));
    g_assert_cmpint(connect(fd, (struct sockaddr *)&un, sizeof(un)), ==, 0);
    g_assert_cmpint(write(fd, "GET / HTTP/1.0\r\n\r\n", 18), ==, 18);
    for (i = 0; i < 200; i++) {
        events_run(&a, REMOTE_STEP_NS);
        ra = remote_report(a.qts);
        n = qdict_get_int(ra, "protocol_errors");
        qobject_unref(ra);
        if (n) {
            break;
        }
    }
    g_assert_cmpint(n, ==, 1);
    close(fd);
    g_assert_cmphex(fw_op(&a, MBC_GET_FIRMWARE_STATE, NULL, 0), ==,
                    MBS_COMMAND_COMPLETE);
    unlink(sock);
    rmdir(dir);
    qla_detach(&a);
}

static void *unimp_log_before(GString *cmd_line, void *arg)
{
    char *path = NULL;
    int fd = g_file_open_tmp("qla2532-unimp-XXXXXX.log", &path, NULL);

    g_assert(fd >= 0);
    close(fd);
    g_string_append_printf(cmd_line, " -d unimp -D %s ", path);
    return path;
}

/* before: the simulated initiator's scenario; its path is the test's
 * data. */
static void *scenario_before(GString *cmd_line, void *arg)
{
    char *path = scenario_file(arg);

    g_string_append_printf(cmd_line, " -global qla2532.scenario=%s ", path);
    return path;
}

static void qla2532_register_tests(void)
{
    QOSGraphTestOptions fast = {
        .edge.extra_device_opts = QLA_FAST,
    };
    QOSGraphTestOptions sys_err_none = {
        .edge.extra_device_opts = QLA_FAST ",system-error-completion=none",
    };
    QOSGraphTestOptions no_partner = {
        .edge.extra_device_opts = QLA_FAST ",partner=off",
    };
    QOSGraphTestOptions unimp = {
        .before = unimp_log_before,
    };
    QOSGraphTestOptions with_scenario = {
        .edge.extra_device_opts = QLA_FAST,
        .before = scenario_before,
        .arg = (void *)SCENARIO_INQUIRY,
    };
    QOSGraphTestOptions with_truncate = {
        .edge.extra_device_opts = QLA_FAST ",ctio-overrun=truncate",
        .before = scenario_before,
        .arg = (void *)SCENARIO_INQUIRY,
    };
    QOSGraphTestOptions with_write = {
        .edge.extra_device_opts = QLA_FAST,
        .before = scenario_before,
        .arg = (void *)SCENARIO_WRITE,
    };
    QOSGraphTestOptions with_write_retry = {
        .edge.extra_device_opts = QLA_FAST,
        .before = scenario_before,
        .arg = (void *)SCENARIO_WRITE_RETRY,
    };
    QOSGraphTestOptions with_write_read = {
        .edge.extra_device_opts = QLA_FAST,
        .before = scenario_before,
        .arg = (void *)SCENARIO_WRITE_READ,
    };

    QOSGraphTestOptions remote = {
        .edge.extra_device_opts = "link=fc0",
        .before = remote_before,
    };
    QOSGraphTestOptions sim_target = {
        .edge.extra_device_opts = QLA_FAST ",partner-role=target",
    };

    qos_add_test("soft-reset", "qla2532", test_soft_reset, NULL);
    qos_add_test("initiator-io", "qla2532", test_initiator_io, &sim_target);
    qos_add_test("migrate-initiator", "qla2532", test_migrate_initiator,
                 &sim_target);
    qos_add_test("remote-link", "qla2532", test_remote_link, &remote);
    qos_add_test("mbox-reg-test", "qla2532", test_mbox_reg_test, NULL);
    qos_add_test("invalid-command", "qla2532", test_invalid_command, &unimp);
    qos_add_test("malformed-mbox", "qla2532", test_malformed_mbox, NULL);
    qos_add_test("mbox-commands", "qla2532", test_mbox_commands, &fast);
    qos_add_test("mbox-diag", "qla2532", test_mbox_diag, &fast);
    qos_add_test("mbox-sys-err-none", "qla2532", test_mbox_sys_err_none,
                 &sys_err_none);
    qos_add_test("mbox-invalid-params", "qla2532", test_mbox_invalid_params,
                 &fast);
    qos_add_test("mbox-no-partner", "qla2532", test_mbox_no_partner,
                 &no_partner);
    qos_add_test("iocb-malformed", "qla2532", test_iocb_malformed,
                 &with_scenario);
    qos_add_test("iocb-hardening", "qla2532", test_iocb_hardening,
                 &with_write);
    qos_add_test("ctio-overrun-truncate", "qla2532",
                 test_ctio_overrun_truncate, &with_truncate);
    qos_add_test("migrate-write", "qla2532", test_migrate_write,
                 &with_write_read);
    qos_add_test("link-events-during-io", "qla2532",
                 test_link_events_during_io, &with_write_retry);
}

libqos_init(qla2532_register_tests);
