/*
 * QTest testcase for the QLogic ISP2532 Fibre Channel HBA (qla2532)
 *
 * The assertions are what the Linux 6.1 qla2xxx driver needs from the card
 * (drivers/scsi/qla2xxx/..., file:function named at each check), not a
 * restatement of the model.  Test by test:
 *
 * pci-identity   qla_os.c qla2xxx_pci_tbl / qla2x00_probe_one (1077:2532,
 *                port_no from PCI_INTERRUPT_PIN), qla_os.c
 *                qla2x00_iospace_config (BAR0 I/O >= MIN_IOBASE_LEN, BAR1
 *                memory >= MIN_IOBASE_LEN, BAR3 mapped as mqiobase),
 *                qla_isr.c qla2x00_request_irqs / qla24xx_enable_msix (MSI-X,
 *                MSI fallback); drivers/pci/vpd.c pci_vpd_wait (VPD
 *                address/flag protocol, large resource tag 0x82 first).
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
#include "libqos/pci.h"
#include "libqos/pci-pc.h"
#include "libqos/malloc-pc.h"
#include "hw/pci/pci_regs.h"

#define QLA_DEVFN               QPCI_DEVFN(4, 0)
#define QLA_ARGS        "-machine q35 -nodefaults " \
                        "-device qla2532,bus=pcie.0,addr=04.0"

/* q35 MCH PCIEXBAR (hw/pci-host/q35.h), enabled by the test for ECAM */
#define Q35_PCIEXBAR            0x60
#define Q35_ECAM_BASE           0xb0000000ULL

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

/* Firmware image: one segment at the driver's usual start address. */
#define FW_RISC_ADDR            0x00100000u
#define FW_DWORDS               64
static const uint16_t fw_version[3] = { 5, 6, 7 };  /* != flash's 8.7.0 */

/* Virtual-clock step and bound for waiting on a mailbox completion. */
#define MBOX_POLL_NS            1000
#define MBOX_POLL_MAX           10000   /* 10 ms of virtual time */

typedef struct QlaTest {
    QTestState *qts;
    QGuestAllocator alloc;
    QPCIBus *bus;
    QPCIDevice *dev;
    QPCIBar bar1;
} QlaTest;

static void qla_start(QlaTest *t, bool map)
{
    t->qts = qtest_init(QLA_ARGS);
    pc_alloc_init(&t->alloc, t->qts, ALLOC_NO_FLAGS);
    t->bus = qpci_new_pc(t->qts, &t->alloc);
    t->dev = qpci_device_find(t->bus, QLA_DEVFN);
    g_assert(t->dev);
    if (map) {
        t->bar1 = qpci_iomap(t->dev, 1, NULL);
        qpci_device_enable(t->dev);
    }
}

static void qla_stop(QlaTest *t)
{
    g_free(t->dev);
    qpci_free_pc(t->bus);
    alloc_destroy(&t->alloc);
    qtest_quit(t->qts);
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
static uint16_t mbox_ram(QlaTest *t, uint16_t op, uint32_t risc,
                         uint64_t dma, uint32_t dwords)
{
    uint16_t mb[9] = { op };

    mb[1] = risc;
    mb[8] = risc >> 16;
    mb[4] = dwords >> 16;
    mb[5] = dwords;
    mb_set_dma(mb, dma);
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
    uint64_t dma = guest_alloc(&t->alloc, sizeof(img));
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

/* Size a 32-bit BAR register: write all-ones, read back, restore. */
static uint32_t bar_probe(QPCIDevice *dev, uint8_t reg, uint32_t ones)
{
    uint32_t old = qpci_config_readl(dev, reg);
    uint32_t val;

    qpci_config_writel(dev, reg, ones);
    val = qpci_config_readl(dev, reg);
    qpci_config_writel(dev, reg, old);
    return val;
}

/* Extended configuration space through q35's ECAM window. */
static uint32_t ecam_readl(QlaTest *t, uint16_t off)
{
    return qtest_readl(t->qts, Q35_ECAM_BASE + (QLA_DEVFN << 12) + off);
}

static void test_pci_identity(void)
{
    QlaTest t;
    QPCIDevice *d, *mch;
    uint32_t v;
    uint16_t flags, addr;
    uint8_t pos;
    int i;

    qla_start(&t, false);
    d = t.dev;

    /* qla_os.c qla2xxx_pci_tbl: PCI_DEVICE(0x1077, 0x2532) */
    g_assert_cmphex(qpci_config_readw(d, PCI_VENDOR_ID), ==, 0x1077);
    g_assert_cmphex(qpci_config_readw(d, PCI_DEVICE_ID), ==, 0x2532);
    g_assert_cmphex(qpci_config_readb(d, PCI_REVISION_ID), ==, 0x02);
    g_assert_cmphex(qpci_config_readw(d, PCI_CLASS_DEVICE), ==, 0x0c04);
    g_assert_cmphex(qpci_config_readb(d, PCI_CLASS_PROG), ==, 0x00);
    g_assert_cmphex(qpci_config_readw(d, PCI_SUBSYSTEM_VENDOR_ID), ==,
                    0x1077);
    g_assert_cmphex(qpci_config_readw(d, PCI_SUBSYSTEM_ID), ==, 0x015d);
    /* qla_os.c qla2x00_probe_one: port_no = INTERRUPT_PIN - 1 */
    g_assert_cmphex(qpci_config_readb(d, PCI_INTERRUPT_PIN), ==, 1);

    /* qla_os.c qla2x00_iospace_config: BAR0 IORESOURCE_IO, 256 bytes */
    v = bar_probe(d, PCI_BASE_ADDRESS_0, 0xffffffff);
    g_assert_cmphex(v & PCI_BASE_ADDRESS_SPACE, ==, PCI_BASE_ADDRESS_SPACE_IO);
    g_assert_cmphex(1u << ctz32(v & PCI_BASE_ADDRESS_IO_MASK), ==, 0x100);

    /* BAR1: 64-bit, non-prefetchable memory, 16 KiB */
    v = bar_probe(d, PCI_BASE_ADDRESS_1, 0xffffffff);
    g_assert_cmphex(v & ~PCI_BASE_ADDRESS_MEM_MASK, ==,
                    PCI_BASE_ADDRESS_SPACE_MEMORY |
                    PCI_BASE_ADDRESS_MEM_TYPE_64);
    g_assert_cmphex(1u << ctz32(v & PCI_BASE_ADDRESS_MEM_MASK), ==,
                    16 * 1024);
    g_assert_cmphex(bar_probe(d, PCI_BASE_ADDRESS_2, 0xffffffff), ==,
                    0xffffffff);

    /* BAR3: 64-bit, non-prefetchable memory, 1 MiB (mqiobase) */
    v = bar_probe(d, PCI_BASE_ADDRESS_3, 0xffffffff);
    g_assert_cmphex(v & ~PCI_BASE_ADDRESS_MEM_MASK, ==,
                    PCI_BASE_ADDRESS_SPACE_MEMORY |
                    PCI_BASE_ADDRESS_MEM_TYPE_64);
    g_assert_cmphex(1u << ctz32(v & PCI_BASE_ADDRESS_MEM_MASK), ==,
                    1024 * 1024);
    g_assert_cmphex(bar_probe(d, PCI_BASE_ADDRESS_5, 0xffffffff), ==, 0);

    /* expansion ROM: 256 KiB */
    v = bar_probe(d, PCI_ROM_ADDRESS, PCI_ROM_ADDRESS_MASK);
    g_assert_cmphex(1u << ctz32(v & PCI_ROM_ADDRESS_MASK), ==, 256 * 1024);

    /* capability list: PM, PCIe, MSI, VPD, MSI-X */
    g_assert_cmphex(qpci_config_readw(d, PCI_STATUS) & PCI_STATUS_CAP_LIST,
                    ==, PCI_STATUS_CAP_LIST);
    {
        static const uint8_t chain[][2] = {
            { 0x44, PCI_CAP_ID_PM }, { 0x4c, PCI_CAP_ID_EXP },
            { 0x88, PCI_CAP_ID_MSI }, { 0x98, PCI_CAP_ID_VPD },
            { 0xa0, PCI_CAP_ID_MSIX },
        };

        pos = qpci_config_readb(d, PCI_CAPABILITY_LIST);
        for (i = 0; i < ARRAY_SIZE(chain); i++) {
            g_assert_cmphex(pos, ==, chain[i][0]);
            g_assert_cmphex(qpci_config_readb(d, pos), ==, chain[i][1]);
            pos = qpci_config_readb(d, pos + PCI_CAP_LIST_NEXT);
        }
        g_assert_cmphex(pos, ==, 0);
    }

    /* MSI: 64-bit, 32 vectors (multiple message capable = 5) */
    flags = qpci_config_readw(d, 0x88 + PCI_MSI_FLAGS);
    g_assert_cmphex(flags & PCI_MSI_FLAGS_64BIT, ==, PCI_MSI_FLAGS_64BIT);
    g_assert_cmphex((flags & PCI_MSI_FLAGS_QMASK) >> 1, ==, 5);

    /* MSI-X: 32 vectors, table/PBA in BAR1 at 0x2000/0x3000 */
    flags = qpci_config_readw(d, 0xa0 + PCI_MSIX_FLAGS);
    g_assert_cmphex((flags & PCI_MSIX_FLAGS_QSIZE) + 1, ==, 32);
    g_assert_cmphex(qpci_config_readl(d, 0xa0 + PCI_MSIX_TABLE), ==,
                    0x2000 | 1);
    g_assert_cmphex(qpci_config_readl(d, 0xa0 + PCI_MSIX_PBA), ==,
                    0x3000 | 1);

    /*
     * VPD (drivers/pci/vpd.c pci_vpd_wait): write the address with the
     * flag clear, poll for the flag, read the data.
     */
    qpci_config_writew(d, 0x98 + PCI_VPD_ADDR, 0);
    for (i = 0; i < 100; i++) {
        addr = qpci_config_readw(d, 0x98 + PCI_VPD_ADDR);
        if (addr & PCI_VPD_ADDR_F) {
            break;
        }
        qtest_clock_step(t.qts, 1000);
    }
    g_assert_cmphex(addr, ==, PCI_VPD_ADDR_F | 0);
    v = qpci_config_readl(d, 0x98 + PCI_VPD_DATA);
    g_assert_cmphex(v & 0xff, ==, 0x82);            /* identifier string */
    g_assert_cmpuint((v >> 8) & 0xffff, >, 0);

    /* extended capabilities: enable the q35 ECAM window and walk them */
    mch = qpci_device_find(t.bus, 0);
    g_assert(mch);
    qpci_config_writel(mch, Q35_PCIEXBAR + 4, 0);
    qpci_config_writel(mch, Q35_PCIEXBAR, Q35_ECAM_BASE | 1);
    g_assert_cmphex(ecam_readl(&t, 0), ==, 0x25321077);
    v = ecam_readl(&t, 0x100);
    g_assert_cmphex(PCI_EXT_CAP_ID(v), ==, PCI_EXT_CAP_ID_ERR);
    g_assert_cmphex(PCI_EXT_CAP_NEXT(v), ==, 0x138);
    v = ecam_readl(&t, 0x138);
    g_assert_cmphex(PCI_EXT_CAP_ID(v), ==, PCI_EXT_CAP_ID_PWR);
    g_assert_cmphex(PCI_EXT_CAP_NEXT(v), ==, 0);
    g_free(mch);

    qla_stop(&t);
}

static void test_soft_reset(void)
{
    QlaTest t;
    uint16_t out[4];
    uint16_t mb[1] = { MBC_MAILBOX_REGISTER_TEST };
    uint8_t type;
    int i;

    qla_start(&t, true);
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

    qla_stop(&t);
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

static void test_mbox_reg_test(void)
{
    QlaTest t;

    qla_start(&t, true);
    mbx_reg_test(&t, 0);
    /* a second, different pattern: an echo, not constants */
    mbx_reg_test(&t, 0xffff);
    qla_stop(&t);
}

static void test_invalid_command(void)
{
    QlaTest t;
    uint16_t out[18];
    uint16_t mb[1] = { MBC_GET_FIRMWARE_VERSION };
    uint8_t type;

    qla_start(&t, true);
    g_assert_cmphex(mbox_op(&t, MBC_UNKNOWN, &type), ==, MBS_INVALID_COMMAND);
    g_assert_cmphex(type, ==, INTR_ROM_MB_FAILED);

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
    qla_stop(&t);
}

static void test_malformed_mbox(void)
{
    QlaTest t;
    const uint64_t bad_dma = 0xfffffffff000ULL;
    uint16_t mb[11];
    uint64_t buf, img;
    uint8_t sfp[64];
    uint32_t v;
    int i;

    qla_start(&t, true);
    buf = guest_alloc(&t.alloc, 0x1000);
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

    qla_stop(&t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("/qla2532/pci-identity", test_pci_identity);
    qtest_add_func("/qla2532/soft-reset", test_soft_reset);
    qtest_add_func("/qla2532/mbox-reg-test", test_mbox_reg_test);
    qtest_add_func("/qla2532/invalid-command", test_invalid_command);
    qtest_add_func("/qla2532/malformed-mbox", test_malformed_mbox);
    return g_test_run();
}
