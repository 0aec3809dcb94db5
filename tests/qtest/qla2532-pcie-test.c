/*
 * QTest testcase for the QLogic ISP2532 Fibre Channel HBA (qla2532): what
 * needs a PCI Express machine (q35), as a plain qtest.  The register,
 * mailbox and IOCB contracts are qgraph tests in qla2532-test.c.
 *
 * pci-identity   qla_os.c qla2xxx_pci_tbl / qla2x00_probe_one (1077:2532,
 *                port_no from PCI_INTERRUPT_PIN), qla_os.c
 *                qla2x00_iospace_config (BAR0 I/O >= MIN_IOBASE_LEN, BAR1
 *                memory >= MIN_IOBASE_LEN, BAR3 mapped as mqiobase),
 *                qla_isr.c qla2x00_request_irqs / qla24xx_enable_msix (MSI-X,
 *                MSI fallback); drivers/pci/vpd.c pci_vpd_wait (VPD
 *                address/flag protocol, large resource tag 0x82 first);
 *                the PCIe extended capabilities through q35's ECAM window.
 * realize-failure  a device_add that fails late in realize leaves nothing
 *                behind (qla2532.c qla2532_realize): the same device then
 *                realizes at the same address.
 * link-objects   the link and its peers as objects (fc-objects.c,
 *                docs/link.md): a device on an fc-link, the link's report,
 *                a peer deleted and the device's scenario= refused there.
 * bad-properties issue #11: every property out of range fails device_add
 *                naming it; link events at any moment, a bad one refused.
 * migration-blocker  a device on an fc-link object is not migratable.
 * dual-port      issue #12: a QLE2562 is two functions (function 0's
 *                header type bit 7, function 1 on INTB with port 0's names
 *                plus one and its own link); ports=1 is a QLE2560
 *                (subsystem 015c, pci.ids) with one function; function 1
 *                taken refuses ports=2 naming the way out.
 * capture        the capture property (fc-capture.c, docs/capture.md): a
 *                file that cannot be created fails device_add and qom-set
 *                with the file's name; a good one starts a nanosecond pcap
 *                of link type 225; qom-set moves the capture to a new file.
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bitops.h"
#include "qemu/host-utils.h"
#include "libqtest.h"
#include "libqos/pci.h"
#include "libqos/pci-pc.h"
#include "libqos/malloc-pc.h"
#include "hw/pci/pci_regs.h"
#include "qapi/qmp/qdict.h"
#include "qapi/qmp/qjson.h"
#include "qapi/error.h"

#define QLA_DEVFN               QPCI_DEVFN(4, 0)
#define QLA_ARGS        "-machine q35 -nodefaults " \
                        "-device qla2532,bus=pcie.0,addr=04.0"

/* q35 MCH PCIEXBAR (hw/pci-host/q35.h), enabled by the test for ECAM */
#define Q35_PCIEXBAR            0x60
#define Q35_ECAM_BASE           0xb0000000ULL

typedef struct QlaPcie {
    QTestState *qts;
    QGuestAllocator alloc;
    QPCIBus *bus;
    QPCIDevice *dev;
} QlaPcie;

/* Start QEMU with @args and find the device at QLA_DEVFN. */
static void qla_start_args(QlaPcie *t, const char *args)
{
    memset(t, 0, sizeof(*t));
    t->qts = qtest_init(args);
    pc_alloc_init(&t->alloc, t->qts, ALLOC_NO_FLAGS);
    t->bus = qpci_new_pc(t->qts, &t->alloc);
    t->dev = qpci_device_find(t->bus, QLA_DEVFN);
    g_assert(t->dev);
}

static void qla_start(QlaPcie *t)
{
    qla_start_args(t, QLA_ARGS);
}

static void qla_stop(QlaPcie *t)
{
    g_free(t->dev);
    qpci_free_pc(t->bus);
    alloc_destroy(&t->alloc);
    qtest_quit(t->qts);
}

static uint32_t bar_probe(QPCIDevice *dev, uint8_t reg, uint32_t ones)
{
    uint32_t old = qpci_config_readl(dev, reg);
    uint32_t val;

    qpci_config_writel(dev, reg, ones);
    val = qpci_config_readl(dev, reg);
    qpci_config_writel(dev, reg, old);
    return val;
}
static uint32_t ecam_readl(QlaPcie *t, uint16_t off)
{
    return qtest_readl(t->qts, Q35_ECAM_BASE + (QLA_DEVFN << 12) + off);
}

static void test_pci_identity(void)
{
    QlaPcie t;
    QPCIDevice *d, *mch;
    uint32_t v;
    uint16_t flags, addr;
    uint8_t pos;
    int i;

    qla_start(&t);
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
    /* power budgeting at 0x148, past QEMU's AER (qla2532.c) */
    g_assert_cmphex(PCI_EXT_CAP_NEXT(v), ==, 0x148);
    v = ecam_readl(&t, 0x148);
    g_assert_cmphex(PCI_EXT_CAP_ID(v), ==, PCI_EXT_CAP_ID_PWR);
    g_assert_cmphex(PCI_EXT_CAP_NEXT(v), ==, 0);
    g_free(mch);

    qla_stop(&t);
}

/*
 * A device_add whose realize fails late (a scenario file that does not
 * exist fails after the flash, the BARs, the capabilities and the model
 * were built) undoes every step: the same device, with the same ID and
 * address, then realizes and answers (qla2532.c qla2532_realize).
 */
static void test_realize_failure_cleans_up(void)
{
    QTestState *qts = qtest_init("-machine q35 -nodefaults -device "
                                 "pcie-root-port,id=rp0,chassis=1,slot=1");
    QDict *resp;

    resp = qtest_qmp(qts, "{'execute': 'device_add', 'arguments': "
                     "{'driver': 'qla2532', 'id': 'hba', 'bus': 'rp0', "
                     "'scenario': '/nonexistent/qla2532-scenario.json'}}");
    g_assert(qdict_haskey(resp, "error"));
    /* the failure is the scenario's, late in realize */
    g_assert(strstr(qdict_get_str(qdict_get_qdict(resp, "error"), "desc"),
                    "qla2532-scenario.json"));
    qobject_unref(resp);
    resp = qtest_qmp(qts, "{'execute': 'device_add', 'arguments': "
                     "{'driver': 'qla2532', 'id': 'hba', 'bus': 'rp0'}}");
    if (!qdict_haskey(resp, "return")) {
        g_printerr("device_add: %s\n", qdict_get_str(
            qdict_get_qdict(resp, "error"), "desc"));
    }
    g_assert(qdict_haskey(resp, "return"));
    qobject_unref(resp);
    resp = qtest_qmp(qts, "{'execute': 'qom-get', 'arguments': "
                     "{'path': '/machine/peripheral/hba', "
                     "'property': 'realized'}}");
    g_assert(qdict_get_bool(resp, "return"));
    qobject_unref(resp);
    qtest_quit(qts);
}

/* The pcap file header of @path (libpcap's savefile.c layout). */
static void assert_pcap_header(const char *path)
{
    g_autofree char *data = NULL;
    gsize len;

    g_assert(g_file_get_contents(path, &data, &len, NULL));
    g_assert_cmpuint(len, >=, 24);
    /* nanosecond time stamps */
    g_assert_cmphex((uint32_t)ldl_le_p(data), ==, 0xa1b23c4d);
    g_assert_cmpuint(lduw_le_p(data + 4), ==, 2);       /* version 2.4 */
    g_assert_cmpuint(lduw_le_p(data + 6), ==, 4);
    g_assert_cmpuint(ldl_le_p(data + 20), ==, 225);     /* FC_2 + delims */
}

static char *qom_get_str(QTestState *qts, const char *prop)
{
    QDict *resp = qtest_qmp(qts, "{'execute': 'qom-get', 'arguments': "
                            "{'path': '/machine/peripheral/hba', "
                            "'property': %s}}", prop);
    char *v = g_strdup(qdict_get_str(resp, "return"));

    qobject_unref(resp);
    return v;
}

static void test_capture(void)
{
    QTestState *qts = qtest_init("-machine q35 -nodefaults -device "
                                 "pcie-root-port,id=rp0,chassis=1,slot=1");
    g_autofree char *dir = g_dir_make_tmp("qla2532-capture-XXXXXX", NULL);
    g_autofree char *a = g_build_filename(dir, "a.pcap", NULL);
    g_autofree char *b = g_build_filename(dir, "b.pcap", NULL);
    g_autofree char *v = NULL;
    QDict *resp;

    resp = qtest_qmp(qts, "{'execute': 'device_add', 'arguments': "
                     "{'driver': 'qla2532', 'id': 'hba', 'bus': 'rp0', "
                     "'capture': '/nonexistent/qla2532/a.pcap'}}");
    g_assert(strstr(qdict_get_str(qdict_get_qdict(resp, "error"), "desc"),
                    "capture /nonexistent/qla2532/a.pcap"));
    qobject_unref(resp);
    resp = qtest_qmp(qts, "{'execute': 'device_add', 'arguments': "
                     "{'driver': 'qla2532', 'id': 'hba', 'bus': 'rp0', "
                     "'capture': %s}}", a);
    g_assert(qdict_haskey(resp, "return"));
    qobject_unref(resp);
    assert_pcap_header(a);

    resp = qtest_qmp(qts, "{'execute': 'qom-set', 'arguments': "
                     "{'path': '/machine/peripheral/hba', 'property': "
                     "'capture', 'value': '/nonexistent/qla2532/b.pcap'}}");
    g_assert(qdict_haskey(resp, "error"));
    qobject_unref(resp);
    v = qom_get_str(qts, "capture");
    g_assert_cmpstr(v, ==, a);                  /* unchanged */

    resp = qtest_qmp(qts, "{'execute': 'qom-set', 'arguments': "
                     "{'path': '/machine/peripheral/hba', 'property': "
                     "'capture', 'value': %s}}", b);
    g_assert(qdict_haskey(resp, "return"));
    qobject_unref(resp);
    assert_pcap_header(b);
    qtest_quit(qts);
    unlink(a);
    unlink(b);
    rmdir(dir);
}

static void test_link_objects(void)
{
    QTestState *qts = qtest_init(
        "-machine q35 -nodefaults "
        "-device pcie-root-port,id=rp0,chassis=1,slot=1 "
        "-device pcie-root-port,id=rp1,chassis=2,slot=2 "
        "-object fc-link,id=fc0 -object fc-initiator,id=ini0,link=fc0 "
        "-device qla2532,id=hba,bus=rp0,link=fc0");
    QDict *resp;
    g_autofree char *report = NULL;

    resp = qtest_qmp(qts, "{'execute': 'qom-get', 'arguments': "
                     "{'path': '/objects/fc0', 'property': 'report'}}");
    report = g_strdup(qdict_get_str(resp, "return"));
    qobject_unref(resp);
    g_assert(strstr(report, "\"topology\""));
    /* on an fc-link, the initiator is an object, not the device's */
    resp = qtest_qmp(qts, "{'execute': 'device_add', 'arguments': "
                     "{'driver': 'qla2532', 'id': 'hba2', 'bus': 'rp1', "
                     "'link': 'fc0', 'scenario': '/x.json'}}");
    g_assert(strstr(qdict_get_str(qdict_get_qdict(resp, "error"), "desc"),
                    "fc-initiator"));
    qobject_unref(resp);
    /* a peer leaves; the link and the device go on */
    resp = qtest_qmp(qts, "{'execute': 'object-del', 'arguments': "
                     "{'id': 'ini0'}}");
    g_assert(qdict_haskey(resp, "return"));
    qobject_unref(resp);
    resp = qtest_qmp(qts, "{'execute': 'qom-set', 'arguments': "
                     "{'path': '/objects/fc0', 'property': 'link-event', "
                     "'value': 'lip'}}");
    g_assert(qdict_haskey(resp, "return"));
    qobject_unref(resp);
    resp = qtest_qmp(qts, "{'execute': 'qom-get', 'arguments': "
                     "{'path': '/machine/peripheral/hba', "
                     "'property': 'report'}}");
    g_assert(qdict_haskey(resp, "return"));
    qobject_unref(resp);
    qtest_quit(qts);
}

/*
 * Issue #11, bad input from the host: every property outside its range
 * fails device_add with a message that names it (qla2532.c
 * qla2532_check_props), and nothing is left behind.
 */
static const struct {
    const char *prop;
    const char *json;
} bad_props[] = {
    { "link-speed", "'link-speed': 3" },
    { "conn-option", "'conn-option': 4" },
    { "partner-conn-option", "'partner-conn-option': 9" },
    { "partner-hard-loop-id", "'partner-hard-loop-id': 126" },
    { "partner-hard-loop-id", "'partner-hard-loop-id': -2" },
    { "hard-loop-id", "'hard-loop-id': 126" },
    { "partner-role", "'partner-role': 'both'" },
    { "serial", "'serial': ''" },
    { "serial", "'serial': '0123456789abcdef0123456789abcdef0'" },
    { "serial", "'serial': 'SN\\u0001'" },
    { "replay-scale-pct", "'replay-scale-pct': 0" },
    { "stop-after-done-ns", "'stop-after-done-ns': 3600000000001" },
    { "scenario", "'partner': false, 'scenario': '/x.json'" },
    { "ctio-overrun", "'ctio-overrun': 'drop'" },
    { "ini-write-underrun", "'ini-write-underrun': 'sometimes'" },
    { "logo-without-login", "'logo-without-login': ''" },
    { "plogi-handle-conflict", "'plogi-handle-conflict': 'share'" },
};

static void qmp_assert_error_names(QTestState *qts, QDict *resp,
                                   const char *what)
{
    const char *desc;

    g_assert(qdict_haskey(resp, "error"));
    desc = qdict_get_str(qdict_get_qdict(resp, "error"), "desc");
    if (!strstr(desc, what)) {
        g_printerr("error '%s' does not name '%s'\n", desc, what);
        g_assert_not_reached();
    }
    qobject_unref(resp);
}

static QDict *link_event(QTestState *qts, const char *ev)
{
    return qtest_qmp(qts, "{'execute': 'qom-set', 'arguments': "
                     "{'path': '/machine/peripheral/hba', "
                     "'property': 'link-event', 'value': %s}}", ev);
}

static void test_bad_properties(void)
{
    QTestState *qts = qtest_init("-machine q35 -nodefaults -device "
                                 "pcie-root-port,id=rp0,chassis=1,slot=1");
    static const char *const events[] = {
        "down", "lip", "up", "lip", "lip-reset", "down", "down", "up",
        "lip", "up",
    };
    QDict *resp;
    size_t i;

    for (i = 0; i < ARRAY_SIZE(bad_props); i++) {
        g_autofree char *args = g_strdup_printf(
            "{'driver': 'qla2532', 'id': 'hba', 'bus': 'rp0', %s}",
            bad_props[i].json);

        qmp_assert_error_names(qts, qtest_qmp(
            qts, "{'execute': 'device_add', 'arguments': %p}",
            qobject_from_json(args, &error_abort)), bad_props[i].prop);
    }
    resp = qtest_qmp(qts, "{'execute': 'device_add', 'arguments': "
                     "{'driver': 'qla2532', 'id': 'hba', 'bus': 'rp0', "
                     "'serial': 'RFD1234X56789'}}");
    g_assert(qdict_haskey(resp, "return"));
    qobject_unref(resp);

    /*
     * Link events at any moment: before the firmware runs, back to back,
     * with the clock stepped by odd amounts between them (inside loop
     * initialisation, between a frame's send and its delivery); a value
     * that is not an event is refused with the list of events.
     */
    for (i = 0; i < ARRAY_SIZE(events); i++) {
        resp = link_event(qts, events[i]);
        g_assert(qdict_haskey(resp, "return") ||
                 !strcmp(events[i], "lip-reset"));
        qobject_unref(resp);
        qtest_clock_step(qts, 1 + i * 377 * 1000);
    }
    qmp_assert_error_names(qts, link_event(qts, "flap"), "link-event");
    g_free(qom_get_str(qts, "report"));     /* the device still answers */
    qtest_quit(qts);
}

/*
 * Issue #11, savevm/migration: a device on an fc-link object is not
 * migratable (its peers have no saved state): migrate fails and says so.
 */
static void test_migration_blocker(void)
{
    QTestState *qts = qtest_init(
        "-machine q35 -nodefaults "
        "-device pcie-root-port,id=rp0,chassis=1,slot=1 "
        "-object fc-link,id=fc0 -object fc-initiator,id=ini0,link=fc0 "
        "-device qla2532,id=hba,bus=rp0,link=fc0");

    qmp_assert_error_names(qts, qtest_qmp(
        qts, "{'execute': 'migrate', 'arguments': "
        "{'uri': 'exec:cat > /dev/null'}}"), "not migratable");
    qtest_quit(qts);
}

static uint64_t qom_get_u64(QTestState *qts, const char *path,
                            const char *prop)
{
    QDict *resp = qtest_qmp(qts, "{'execute': 'qom-get', 'arguments': "
                            "{'path': %s, 'property': %s}}", path, prop);
    uint64_t v = qdict_get_int(resp, "return");

    qobject_unref(resp);
    return v;
}

static void test_dual_port(void)
{
    QlaPcie t;
    QPCIDevice *f1;
    QTestState *qts;
    QDict *resp;

    /* the default: a QLE2562, functions 04.0 and 04.1 */
    qla_start_args(&t, "-machine q35 -nodefaults -device qla2532,id=hba,"
                   "bus=pcie.0,addr=04.0,port1-partner=on,"
                   "logo-without-login=complete,ctio-overrun=truncate");
    f1 = qpci_device_find(t.bus, QPCI_DEVFN(4, 1));
    g_assert(f1);
    /* one firmware image on both functions: the card's variants hold for
     * port 1 (qla2532.c qla2532_port1_variants) */
    resp = qtest_qmp(t.qts, "{'execute': 'qom-get', 'arguments': "
                     "{'path': '/machine/peripheral/hba/port1', "
                     "'property': 'logo-without-login'}}");
    g_assert_cmpstr(qdict_get_str(resp, "return"), ==, "complete");
    qobject_unref(resp);
    resp = qtest_qmp(t.qts, "{'execute': 'qom-get', 'arguments': "
                     "{'path': '/machine/peripheral/hba/port1', "
                     "'property': 'ctio-overrun'}}");
    g_assert_cmpstr(qdict_get_str(resp, "return"), ==, "truncate");
    qobject_unref(resp);
    /*
     * PCI 3.0 §6.2.1: function 0 says multi-function; Linux then scans
     * the other functions (drivers/pci/probe.c pci_scan_slot)
     */
    g_assert_cmphex(qpci_config_readb(t.dev, PCI_HEADER_TYPE), ==, 0x80);
    g_assert_cmphex(qpci_config_readw(f1, PCI_VENDOR_ID), ==, 0x1077);
    g_assert_cmphex(qpci_config_readw(f1, PCI_DEVICE_ID), ==, 0x2532);
    g_assert_cmphex(qpci_config_readw(t.dev, PCI_SUBSYSTEM_ID), ==, 0x015d);
    g_assert_cmphex(qpci_config_readw(f1, PCI_SUBSYSTEM_ID), ==, 0x015d);
    /* qla_os.c qla2x00_probe_one: port_no = INTERRUPT_PIN - 1 */
    g_assert_cmphex(qpci_config_readb(f1, PCI_INTERRUPT_PIN), ==, 2);
    g_assert_cmphex(qom_get_u64(t.qts, "/machine/peripheral/hba/port1",
                                "wwpn"), ==, 0x21000024ff000002ULL);
    g_assert_cmphex(qom_get_u64(t.qts, "/machine/peripheral/hba/port1",
                                "wwnn"), ==, 0x20000024ff000002ULL);
    resp = qtest_qmp(t.qts, "{'execute': 'qom-get', 'arguments': "
                     "{'path': '/machine/peripheral/hba/port1', "
                     "'property': 'partner'}}");
    g_assert(qdict_get_bool(resp, "return"));
    qobject_unref(resp);
    g_free(f1);
    qla_stop(&t);

    /* ports=1: a QLE2560, one function */
    qla_start_args(&t, "-machine q35 -nodefaults -device qla2532,"
                   "bus=pcie.0,addr=04.0,ports=1");
    g_assert(!qpci_device_find(t.bus, QPCI_DEVFN(4, 1)));
    g_assert_cmphex(qpci_config_readb(t.dev, PCI_HEADER_TYPE), ==, 0);
    g_assert_cmphex(qpci_config_readw(t.dev, PCI_SUBSYSTEM_ID), ==, 0x015c);
    qla_stop(&t);

    /* function 1 taken by hand: ports=2 is refused, naming ports=1 */
    qts = qtest_init("-machine q35 -nodefaults "
                     "-device pcie-root-port,id=rp0,chassis=1,slot=1 "
                     "-device pcie-root-port,id=rp1,chassis=2,slot=2 "
                     "-device qla2532,bus=rp0,addr=00.1,ports=1");
    qmp_assert_error_names(qts, qtest_qmp(
        qts, "{'execute': 'device_add', 'arguments': {'driver': 'qla2532',"
        " 'id': 'hba', 'bus': 'rp0', 'addr': '00.0', "
        "'multifunction': true}}"), "ports=1");
    qmp_assert_error_names(qts, qtest_qmp(
        qts, "{'execute': 'device_add', 'arguments': {'driver': 'qla2532',"
        " 'id': 'hba', 'bus': 'rp1', 'ports': 3}}"), "ports");
    resp = qtest_qmp(qts, "{'execute': 'device_add', 'arguments': "
                     "{'driver': 'qla2532', 'id': 'hba', 'bus': 'rp0', "
                     "'addr': '00.0', 'multifunction': true, 'ports': 1}}");
    g_assert(qdict_haskey(resp, "return"));
    qobject_unref(resp);
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("/qla2532/pci-identity", test_pci_identity);
    qtest_add_func("/qla2532/realize-failure", test_realize_failure_cleans_up);
    qtest_add_func("/qla2532/capture", test_capture);
    qtest_add_func("/qla2532/link-objects", test_link_objects);
    qtest_add_func("/qla2532/bad-properties", test_bad_properties);
    qtest_add_func("/qla2532/migration-blocker", test_migration_blocker);
    qtest_add_func("/qla2532/dual-port", test_dual_port);
    return g_test_run();
}
