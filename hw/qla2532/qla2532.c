/*
 * QLogic ISP2532 Fibre Channel HBA (QLE2560/QLE2562), PCI function glue.
 *
 * This file is only the PCI/QOM face of the card: configuration space,
 * BARs, interrupts, properties.  The card's behaviour (registers, mailbox
 * engine, rings, flash, link) is the firmware model in isp-fw.c.
 *
 * PCI identity (a QLE2562 as published by lspci): 1077:2532 rev 02, class
 * 0c04, subsystem 1077:015d; BAR0 I/O 256 B, BAR1 64-bit MMIO 16 KiB (the
 * 24xx register block at 0x000-0x0ff), BAR3 64-bit MMIO 1 MiB, expansion
 * ROM 256 KiB; capabilities PM 0x44, PCIe 0x4c, MSI 0x88 (32 vectors,
 * 64-bit), VPD 0x98, MSI-X 0xa0 (32 vectors), AER 0x100, power budgeting
 * 0x138 (0x148 here, see QLA2532_EXTCAP_PWR).
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/module.h"
#include "qemu/range.h"
#include "qemu/error-report.h"
#include "qapi/qmp/qdict.h"
#include "qapi/qmp/qlist.h"
#include "qapi/visitor.h"
#include "qemu/units.h"
#include "qapi/error.h"
#include "hw/pci/pci.h"
#include "hw/pci/pcie.h"
#include "hw/pci/pcie_regs.h"
#include "hw/pci/msi.h"
#include "hw/pci/msix.h"
#include "hw/qdev-properties.h"
#include "migration/vmstate.h"
#include "migration/blocker.h"
#include "sysemu/dma.h"
#include "sysemu/sysemu.h"
#include "sysemu/runstate.h"
#include "qemu/notify.h"
#include "isp-fw.h"
#include "fc-sim-port.h"
#include "fc-capture.h"
#include "fc-replay.h"
#include "fc-objects.h"
#include "trace.h"

#define TYPE_QLA2532 "qla2532"
OBJECT_DECLARE_SIMPLE_TYPE(QLA2532State, QLA2532)

#define PCI_VENDOR_ID_QLOGIC    0x1077
#define QLA2532_DEVICE_ID       0x2532

#define QLA2532_BAR1_SIZE       (16 * KiB)
#define QLA2532_BAR3_SIZE       (1 * MiB)
#define QLA2532_ROM_SIZE        (256 * KiB)
#define QLA2532_MSIX_VECTORS    32
/* MSI-X table and PBA in BAR1 above the register block (chosen offsets) */
#define QLA2532_MSIX_TABLE      0x2000
#define QLA2532_MSIX_PBA        0x3000

#define QLA2532_CAP_PM          0x44
#define QLA2532_CAP_EXP         0x4c
#define QLA2532_CAP_MSI         0x88
#define QLA2532_CAP_VPD         0x98
#define QLA2532_CAP_MSIX        0xa0
#define QLA2532_EXTCAP_AER      0x100
/*
 * Extended capabilities.  A real QLE2562 has AER v1 at 0x100 (0x38 bytes:
 * no TLP prefix log before PCIe 3.0) and power budgeting at 0x138 (lspci
 * -vvv of the card).  QEMU's AER emulation owns PCI_ERR_SIZEOF (0x48)
 * bytes: pcie_aer_update_log()/pcie_aer_clear_log() write the TLP prefix
 * log at 0x138-0x147 whether or not the capability has one, which would
 * wipe a capability placed there.  So power budgeting moves to 0x148, past
 * what QEMU writes; no driver reads these offsets (Linux walks the chain:
 * drivers/pci/pci.c pci_find_ext_capability).
 */
#define QLA2532_EXTCAP_PWR      (QLA2532_EXTCAP_AER + PCI_ERR_SIZEOF)

/* VPD capability registers (PCI Local Bus Specification 3.0 §I) */
#define VPD_ADDR                2       /* 15-bit address, bit 15 flag */
#define VPD_DATA                4
#define VPD_FLAG                0x8000

struct QLA2532State {
    PCIDevice parent_obj;

    MemoryRegion io_bar;
    MemoryRegion mmio_bar;
    MemoryRegion regs;
    MemoryRegion bar3;
    MemoryRegion rom;
    uint8_t *flash;
    IspState isp;
    bool irq_level;
    FcLink link;                /* the device's own link (no link=) */
    FcLink *lnk;                /* the link the ISP is on */
    FcLinkObject *link_obj;     /* link=: an fc-link object */
    FcSimPort partner;
    char *last_link_event;
    FcLog log;
    FcLog *lg;                  /* the log of the link the ISP is on */
    Notifier exit_notifier;

    /* properties */
    uint64_t wwpn;
    uint64_t wwnn;
    uint32_t link_speed_gbps;
    uint32_t mbox_latency_ns;
    uint32_t link_init_us;
    uint32_t frame_latency_ns;
    uint32_t prli_latency_us;
    uint32_t partner_login_delay_us;
    uint16_t hard_loop_id;
    uint8_t conn_option;
    char *serial;
    bool partner_present;
    uint64_t partner_wwpn;
    uint64_t partner_wwnn;
    uint8_t partner_conn_option;
    int32_t partner_hard_loop_id;
    char *partner_role;
    char *scenario;
    char *report_file;
    char *capture;              /* pcap file of the link's frames, or NULL */
    FcCapture *cap;
    char *replay;               /* capture to replay, or NULL */
    uint64_t replay_initiator;
    uint32_t replay_scale_pct;
    FcReplay *replayer;
    uint64_t stop_after_done_ns;    /* 0: never stop the VM */
    QEMUTimer *stop_timer;

    uint8_t ports;              /* 2: QLE2562 (function 1 made here) */
    bool port1_partner;         /* function 1's link has a partner */
    FcLinkObject *port1_link;   /* port1-link=: function 1 on that fc-link */
    char *port1_partner_role;

    /* saved state (vmstate_qla2532): JSON and the scenario's path */
    char *mig_log;
    uint32_t mig_log_len;           /* bytes, with the NUL */
    char *mig_scenario;
    uint32_t mig_scenario_len;      /* bytes, with the NUL */
    Error *migration_blocker;
};

static uint64_t qla2532_reg_read(void *opaque, hwaddr addr, unsigned size)
{
    QLA2532State *s = opaque;

    return isp_reg_read(&s->isp, addr, size);
}

static void qla2532_reg_write(void *opaque, hwaddr addr, uint64_t val,
                              unsigned size)
{
    QLA2532State *s = opaque;

    isp_reg_write(&s->isp, addr, val, size);
}

/* The driver uses 32-bit accesses except for the 16-bit mailboxes
 * (qla_def.h rd_reg_word / rd_reg_dword); unaligned ones are rejected. */
static const MemoryRegionOps qla2532_reg_ops = {
    .read = qla2532_reg_read,
    .write = qla2532_reg_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = {
        .min_access_size = 1,
        .max_access_size = 4,
    },
    .impl = {
        .min_access_size = 1,
        .max_access_size = 4,
    },
};

/* BAR3 holds the multiqueue registers of later ISPs; the 2532 driver never
 * maps it (qla_os.c qla2x00_iospace_config). */
static uint64_t qla2532_bar3_read(void *opaque, hwaddr addr, unsigned size)
{
    qemu_log_mask(LOG_UNIMP, "qla2532: BAR3 read at 0x%" HWADDR_PRIx "\n",
                  addr);
    return 0;
}

static void qla2532_bar3_write(void *opaque, hwaddr addr, uint64_t val,
                               unsigned size)
{
    qemu_log_mask(LOG_UNIMP, "qla2532: BAR3 write at 0x%" HWADDR_PRIx "\n",
                  addr);
}

static const MemoryRegionOps qla2532_bar3_ops = {
    .read = qla2532_bar3_read,
    .write = qla2532_bar3_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = {
        .min_access_size = 1,
        .max_access_size = 4,
    },
};

/*
 * Whether [@addr, @addr + @len) of the card's bus-master address space is
 * RAM.  Everything the firmware reads or writes by DMA goes through this
 * check, so no DMA of the card lands in a device's MMIO, its own BARs
 * included: such a write would re-enter this device from wherever the
 * DMA was issued (a timer, a bottom half, the link), which QEMU 7.2's
 * guard for MMIO dispatch does not cover.  A real card's DMA to its own
 * BAR goes out as a peer-to-peer request that the root port does not
 * reflect back (PCIe r4.0 §6.12, ACS); the model fails it with a bus
 * error and each caller answers with the firmware's error status.
 */
static bool qla2532_dma_is_ram(void *opaque, uint64_t addr, uint64_t len)
{
    AddressSpace *as = pci_get_address_space(PCI_DEVICE(opaque));

    if (addr + len < addr) {
        return false;
    }
    RCU_READ_LOCK_GUARD();
    while (len) {
        hwaddr xlat, l = len;
        MemoryRegion *mr = address_space_translate(as, addr, &xlat, &l,
                                                   false,
                                                   MEMTXATTRS_UNSPECIFIED);

        if (!memory_region_is_ram(mr) || memory_region_is_ram_device(mr) ||
            l == 0) {
            return false;
        }
        addr += l;
        len -= MIN(l, len);
    }
    return true;
}

static MemTxResult qla2532_dma_read(void *opaque, uint64_t addr, void *buf,
                                    uint32_t len)
{
    QLA2532State *s = opaque;

    if (!qla2532_dma_is_ram(s, addr, len)) {
        return MEMTX_ACCESS_ERROR;
    }
    return pci_dma_read(PCI_DEVICE(s), addr, buf, len);
}

static MemTxResult qla2532_dma_write(void *opaque, uint64_t addr,
                                     const void *buf, uint32_t len)
{
    QLA2532State *s = opaque;

    if (!qla2532_dma_is_ram(s, addr, len)) {
        return MEMTX_ACCESS_ERROR;
    }
    return pci_dma_write(PCI_DEVICE(s), addr, buf, len);
}

/*
 * Every event goes to MSI-X vector 0, the driver's default handler, which
 * reads host_status and handles all event types (qla_isr.c
 * qla24xx_msix_default).  Vector 1's handler only drains the response ring
 * and writes CLR_RISC_INT, which would also acknowledge a latched mailbox
 * completion, so the model does not use it (chosen).  MSI and MSI-X are
 * edge-triggered: one message per presented event; INTx is a level.
 */
static void qla2532_update_irq(void *opaque)
{
    QLA2532State *s = opaque;
    PCIDevice *pdev = PCI_DEVICE(s);
    bool level = isp_irq_pending(&s->isp);

    if (msix_enabled(pdev)) {
        pci_set_irq(pdev, 0);
        if (level && !s->irq_level) {
            msix_notify(pdev, 0);
        }
    } else if (msi_enabled(pdev)) {
        pci_set_irq(pdev, 0);
        if (level && !s->irq_level) {
            msi_notify(pdev, 0);
        }
    } else {
        pci_set_irq(pdev, level);
    }
    if (level != s->irq_level) {
        trace_qla2532_irq(s->isp.port_no, level);
    }
    s->irq_level = level;
}

static const IspHostOps qla2532_host_ops = {
    .dma_read = qla2532_dma_read,
    .dma_write = qla2532_dma_write,
    .dma_is_ram = qla2532_dma_is_ram,
    .update_irq = qla2532_update_irq,
};

/* VPD capability: a read request (flag clear) completes at once with four
 * bytes of the port's VPD from flash; writes are not supported (the VPD-W
 * area is empty) and complete without effect. */
static void qla2532_vpd_access(QLA2532State *s)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    uint8_t *cap = pdev->config + QLA2532_CAP_VPD;
    uint16_t addr = pci_get_word(cap + VPD_ADDR);
    uint32_t off = addr & 0x7ffc;
    uint32_t data = 0;

    if (!(addr & VPD_FLAG)) {
        if (off + 4 <= ISP_FLASH_VPD_SIZE) {
            data = ldl_le_p(s->flash + ISP_FLASH_VPD(s->isp.port_no) + off);
        }
        pci_set_long(cap + VPD_DATA, data);
        pci_set_word(cap + VPD_ADDR, addr | VPD_FLAG);
    } else {
        pci_set_word(cap + VPD_ADDR, addr & ~VPD_FLAG);
    }
}

static void qla2532_write_config(PCIDevice *pdev, uint32_t addr, uint32_t val,
                                 int len)
{
    QLA2532State *s = QLA2532(pdev);

    pci_default_write_config(pdev, addr, val, len);
    if (ranges_overlap(addr, len, QLA2532_CAP_VPD + VPD_ADDR, 2)) {
        qla2532_vpd_access(s);
    }
    qla2532_update_irq(s);
}

static void qla2532_init_pm(PCIDevice *pdev, Error **errp)
{
    int pos = pci_add_capability(pdev, PCI_CAP_ID_PM, QLA2532_CAP_PM,
                                 PCI_PM_SIZEOF, errp);

    if (pos < 0) {
        return;
    }
    pci_set_word(pdev->config + pos + PCI_PM_PMC, 0x0003);  /* version 3 */
    pci_set_word(pdev->wmask + pos + PCI_PM_CTRL, PCI_PM_CTRL_STATE_MASK);
}

static void qla2532_init_vpd(PCIDevice *pdev, Error **errp)
{
    int pos = pci_add_capability(pdev, PCI_CAP_ID_VPD, QLA2532_CAP_VPD, 8,
                                 errp);

    if (pos < 0) {
        return;
    }
    pci_set_word(pdev->wmask + pos + VPD_ADDR, 0xffff);
    pci_set_long(pdev->wmask + pos + VPD_DATA, 0xffffffff);
}

/* PCIe 2.0 endpoint, 5 GT/s x8 (chosen: the ISP2532 is a Gen2 part). */
static void qla2532_init_pcie(PCIDevice *pdev)
{
    uint8_t *exp = pdev->config + pdev->exp.exp_cap;

    pci_long_test_and_clear_mask(exp + PCI_EXP_LNKCAP,
                                 PCI_EXP_LNKCAP_SLS | PCI_EXP_LNKCAP_MLW);
    pci_long_test_and_set_mask(exp + PCI_EXP_LNKCAP,
                               PCI_EXP_LNKCAP_SLS_5_0GB |
                               QEMU_PCI_EXP_LNKCAP_MLW(QEMU_PCI_EXP_LNK_X8));
    pci_word_test_and_clear_mask(exp + PCI_EXP_LNKSTA,
                                 PCI_EXP_LNKSTA_CLS | PCI_EXP_LNKSTA_NLW);
    pci_word_test_and_set_mask(exp + PCI_EXP_LNKSTA,
                               PCI_EXP_LNKSTA_CLS_5_0GB |
                               QEMU_PCI_EXP_LNKSTA_NLW(QEMU_PCI_EXP_LNK_X8));
}

static uint8_t qla2532_speed_code(uint32_t gbps)
{
    switch (gbps) {
    case 2:
        return PORT_SPEED_2GB;
    case 4:
        return PORT_SPEED_4GB;
    case 8:
        return PORT_SPEED_8GB;
    default:
        return 0xff;
    }
}

/*
 * The device's report: counters and the event log of the link (ISP and
 * simulated initiator), the partner's outcome and the firmware's view of
 * the remote ports.  JSON (docs/scenario.md, "report").
 */
static GString *qla2532_report_json(QLA2532State *s)
{
    QDict *extra = qdict_new();
    QList *rports = qlist_new();
    GString *json;
    int i;

    for (i = 0; i < ISP_MAX_RPORTS; i++) {
        IspRport *rp = &s->isp.rports[i];
        QDict *d;

        if (!rp->valid) {
            continue;
        }
        d = qdict_new();
        qdict_put_int(d, "handle", rp->handle);
        qdict_put_int(d, "port_id", rp->port_id);
        qdict_put_int(d, "wwpn", rp->wwpn);
        qdict_put_int(d, "login_state", rp->state);
        qlist_append(rports, d);
    }
    qdict_put(extra, "remote_ports", rports);
    qdict_put_int(extra, "virtual_time_ns",
                  qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL));
    qdict_put_str(extra, "topology", fc_topology_name(s->lnk->topology));
    qdict_put_int(extra, "capture_frames",
                  s->cap ? fc_capture_count(s->cap) : 0);
    /* ZIO: interrupts that each covered the responses of one delay */
    qdict_put_int(extra, "zio_interrupts", s->isp.zio_interrupts);
    if (s->link_obj) {
        json = fc_link_object_report(s->link_obj, extra);
        qobject_unref(extra);
        return json;
    }
    fc_link_report(s->lnk, extra);          /* scenario, replay outcome */
    json = fc_log_to_json(s->lg, extra);
    qobject_unref(extra);
    return json;
}

/*
 * capture: the pcap file every frame on the wire is written to
 * (fc-capture.h, docs/capture.md); "" for none.  Settable on the command
 * line and at run time (qom-set): the file open until then is closed
 * first, so that a sweep gives each point its own.  A file that cannot be
 * created is an error and leaves the capture as it was.
 */
static void qla2532_capture_tap(void *opaque, const FcPort *from,
                                const FcFrame *f)
{
    QLA2532State *s = opaque;

    fc_capture_frame(s->cap, f);
}

static bool qla2532_open_capture(QLA2532State *s, const char *path,
                                 Error **errp)
{
    FcCapture *c = NULL;

    if (path && *path) {
        c = fc_capture_open(path, errp);
        if (!c) {
            return false;
        }
    }
    fc_capture_close(s->cap);
    s->cap = c;
    fc_link_set_tap(s->lnk, c ? qla2532_capture_tap : NULL, s);
    return true;
}

static char *qla2532_get_capture(Object *obj, Error **errp)
{
    QLA2532State *s = QLA2532(obj);

    return g_strdup(s->capture ? s->capture : "");
}

static void qla2532_set_capture(Object *obj, const char *value, Error **errp)
{
    QLA2532State *s = QLA2532(obj);

    if (DEVICE(obj)->realized && s->link_obj) {
        error_setg(errp, "qla2532: on an fc-link, the capture is an "
                   "fc-capture object");
        return;
    }
    if (DEVICE(obj)->realized && !qla2532_open_capture(s, value, errp)) {
        return;
    }
    g_free(s->capture);
    s->capture = g_strdup(value);
}

static void qla2532_write_report_at_exit(Notifier *n, void *data)
{
    QLA2532State *s = container_of(n, QLA2532State, exit_notifier);
    g_autoptr(GString) json = qla2532_report_json(s);
    g_autoptr(GError) err = NULL;

    if (!g_file_set_contents(s->report_file, json->str, json->len, &err)) {
        error_report("qla2532: cannot write report %s: %s", s->report_file,
                     err->message);
    }
}

static char *qla2532_get_report(Object *obj, Error **errp)
{
    QLA2532State *s = QLA2532(obj);
    GString *json;

    if (!s->lg) {
        error_setg(errp, "qla2532: report needs a realized device");
        return NULL;
    }
    json = qla2532_report_json(s);
    return g_string_free(json, false);
}

/* The properties' values, checked before anything is built. */
/* The longest serial number the VPD holds here (a QLE2562's is 13). */
#define QLA2532_SERIAL_MAX          32
/* stop-after-done-ns at most one hour of virtual time */
#define QLA2532_STOP_AFTER_MAX_NS   (3600 * NANOSECONDS_PER_SECOND)

static bool qla2532_serial_ok(const char *serial)
{
    size_t i, len = strlen(serial);

    if (len < 1 || len > QLA2532_SERIAL_MAX) {
        return false;
    }
    for (i = 0; i < len; i++) {
        if (serial[i] < 0x20 || serial[i] > 0x7e) {
            return false;
        }
    }
    return true;
}

/* A partner role property: unset (the default) or initiator / target. */
static bool qla2532_role_ok(const char *role)
{
    return !role || !strcmp(role, "initiator") || !strcmp(role, "target");
}

static bool qla2532_check_props(QLA2532State *s, Error **errp)
{
    if (s->ports != 1 && s->ports != 2) {
        error_setg(errp, "qla2532: ports must be 1 (QLE2560) or 2 (QLE2562)");
        return false;
    }
    if (!qla2532_role_ok(s->port1_partner_role)) {
        error_setg(errp, "qla2532: port1-partner-role must be initiator or "
                   "target");
        return false;
    }
    if (qla2532_speed_code(s->link_speed_gbps) == 0xff) {
        error_setg(errp, "qla2532: link-speed must be 2, 4 or 8 (Gb/s)");
        return false;
    }
    if (s->conn_option > ISP_CONN_P2P_LOOP ||
        s->partner_conn_option > ISP_CONN_P2P_LOOP) {
        error_setg(errp, "qla2532: conn-option and partner-conn-option "
                   "must be 0 (loop), 1 (point-to-point), 2 (loop "
                   "preferred) or 3 (point-to-point preferred)");
        return false;
    }
    if (!fc_port_options_ok(FC_CONN_LOOP, s->partner_hard_loop_id)) {
        error_setg(errp, "qla2532: partner-hard-loop-id must be 0..125 or -1");
        return false;
    }
    /* NVRAM hard address: a loop ID of an NL_Port, 0..125 (FC-AL-2 §10.4) */
    if (s->hard_loop_id > FC_LAST_NL_LOOP_ID) {
        error_setg(errp, "qla2532: hard-loop-id must be 0..125");
        return false;
    }
    /* the VPD "SN" keyword (isp-flash.c build_vpd), printable ASCII */
    if (s->serial && !qla2532_serial_ok(s->serial)) {
        error_setg(errp, "qla2532: serial must be 1..%d printable ASCII "
                   "characters", QLA2532_SERIAL_MAX);
        return false;
    }
    if (s->stop_after_done_ns > QLA2532_STOP_AFTER_MAX_NS) {
        error_setg(errp, "qla2532: stop-after-done-ns must be at most %"
                   PRIu64 " (one hour)", (uint64_t)QLA2532_STOP_AFTER_MAX_NS);
        return false;
    }
    if (!qla2532_role_ok(s->partner_role)) {
        error_setg(errp, "qla2532: partner-role must be initiator or target");
        return false;
    }
    if (!s->partner_present && s->scenario) {
        error_setg(errp, "qla2532: a scenario needs the partner port");
        return false;
    }
    if (s->replay && (s->scenario || !s->partner_present)) {
        error_setg(errp, "qla2532: replay takes the partner's place: it "
                   "needs partner=on and no scenario");
        return false;
    }
    if (s->replay_scale_pct < 1 || s->replay_scale_pct > 100000) {
        error_setg(errp, "qla2532: replay-scale-pct must be 1..100000");
        return false;
    }
    return true;
}

/* Subsystem ID by model (pci.ids, 1077:2532: 015c QLE2560 single channel,
 * 015d QLE2562 dual channel). */
static uint16_t qla2532_subsystem_id(QLA2532State *s)
{
    return s->ports == 1 ? 0x015c : 0x015d;
}

/* The flash image: the NVRAM of both ports, port 1's pair swapped when this
 * function is port 1 of the card. */
static void qla2532_build_flash(QLA2532State *s, uint8_t port)
{
    IspFlashConfig fc = {
        .wwpn = { s->wwpn, s->wwpn + 1 },
        .wwnn = { s->wwnn, s->wwnn + 1 },
        .hard_loop_id = { s->hard_loop_id, s->hard_loop_id },
        .conn_option = s->conn_option,
        .data_rate = 2,
        .subsystem_vendor = PCI_VENDOR_ID_QLOGIC,
        .subsystem_device = qla2532_subsystem_id(s),
        .model_name = s->ports == 1 ? "QLE2560" : "QLE2562",
        .model_desc = s->ports == 1 ?
            "QLE2560 8Gb Fibre Channel Single-Port HBA (emulated)" :
            "QLE2562 8Gb Fibre Channel Dual-Port HBA (emulated)",
        .serial = s->serial ? s->serial : "EMU0000001",
        .fw_version = { 8, 7, 0, 0 },
    };

    if (port) {
        fc.wwpn[0] = s->wwpn - 1;
        fc.wwpn[1] = s->wwpn;
        fc.wwnn[0] = s->wwnn - 1;
        fc.wwnn[1] = s->wwnn;
    }
    s->flash = g_malloc(ISP_FLASH_SIZE);
    isp_flash_build(s->flash, &fc);
}

/* BAR0 (I/O registers), BAR1 (registers, MSI-X table and PBA), BAR3 and
 * the expansion ROM (the flash's boot image). */
static bool qla2532_init_bars(PCIDevice *pdev, Error **errp)
{
    ERRP_GUARD();
    QLA2532State *s = QLA2532(pdev);

    memory_region_init_io(&s->io_bar, OBJECT(s), &qla2532_reg_ops, s,
                          "qla2532-io", ISP_REG_BLOCK_SIZE);
    memory_region_init(&s->mmio_bar, OBJECT(s), "qla2532-bar1",
                       QLA2532_BAR1_SIZE);
    memory_region_init_io(&s->regs, OBJECT(s), &qla2532_reg_ops, s,
                          "qla2532-regs", ISP_REG_BLOCK_SIZE);
    memory_region_add_subregion(&s->mmio_bar, 0, &s->regs);
    memory_region_init_io(&s->bar3, OBJECT(s), &qla2532_bar3_ops, s,
                          "qla2532-bar3", QLA2532_BAR3_SIZE);
    memory_region_init_rom(&s->rom, OBJECT(s), "qla2532.rom",
                           QLA2532_ROM_SIZE, errp);
    if (*errp) {
        return false;
    }
    memcpy(memory_region_get_ram_ptr(&s->rom), s->flash + ISP_FLASH_BOOT,
           QLA2532_ROM_SIZE);

    pci_register_bar(pdev, 0, PCI_BASE_ADDRESS_SPACE_IO, &s->io_bar);
    pci_register_bar(pdev, 1, PCI_BASE_ADDRESS_SPACE_MEMORY |
                     PCI_BASE_ADDRESS_MEM_TYPE_64, &s->mmio_bar);
    pci_register_bar(pdev, 3, PCI_BASE_ADDRESS_SPACE_MEMORY |
                     PCI_BASE_ADDRESS_MEM_TYPE_64, &s->bar3);
    pci_register_bar(pdev, PCI_ROM_SLOT, PCI_BASE_ADDRESS_SPACE_MEMORY,
                     &s->rom);
    return true;
}

/* Undo qla2532_init_bars: the ROM's RAM block is registered by name
 * (memory_region_init_rom -> vmstate_register_ram); another device at the
 * same address would otherwise find the name taken, as after a failed
 * device_add (pci.c pci_del_option_rom does the same for option ROMs). */
static void qla2532_uninit_bars(PCIDevice *pdev)
{
    QLA2532State *s = QLA2532(pdev);

    vmstate_unregister_ram(&s->rom, DEVICE(pdev));
}

/* Undo qla2532_init_caps, also after it failed half-way (each uninit
 * checks whether its capability exists). */
static void qla2532_uninit_caps(PCIDevice *pdev)
{
    QLA2532State *s = QLA2532(pdev);

    pcie_aer_exit(pdev);
    msix_uninit(pdev, &s->mmio_bar, &s->mmio_bar);
    msi_uninit(pdev);
}

/* The capabilities.  pci_add_capability() links each new capability at the
 * head of the list: they are added from the highest offset down. */
static bool qla2532_init_caps(PCIDevice *pdev, Error **errp)
{
    ERRP_GUARD();
    QLA2532State *s = QLA2532(pdev);

    if (msix_init(pdev, QLA2532_MSIX_VECTORS, &s->mmio_bar, 1,
                  QLA2532_MSIX_TABLE, &s->mmio_bar, 1, QLA2532_MSIX_PBA,
                  QLA2532_CAP_MSIX, errp) < 0) {
        return false;
    }
    for (int v = 0; v < QLA2532_MSIX_VECTORS; v++) {
        msix_vector_use(pdev, v);
    }
    qla2532_init_vpd(pdev, errp);
    if (*errp) {
        goto fail;
    }
    if (msi_init(pdev, QLA2532_CAP_MSI, 32, true, false, errp) < 0) {
        goto fail;
    }
    if (pcie_endpoint_cap_init(pdev, QLA2532_CAP_EXP) < 0) {
        error_setg(errp, "qla2532: cannot add the PCIe capability");
        goto fail;
    }
    qla2532_init_pcie(pdev);
    qla2532_init_pm(pdev, errp);
    if (*errp) {
        goto fail;
    }
    if (pcie_aer_init(pdev, PCI_ERR_VER, QLA2532_EXTCAP_AER, PCI_ERR_SIZEOF,
                      errp) < 0) {
        goto fail;
    }
    pcie_add_capability(pdev, PCI_EXT_CAP_ID_PWR, 1, QLA2532_EXTCAP_PWR,
                        0x10);
    return true;

fail:
    qla2532_uninit_caps(pdev);
    return false;
}

/*
 * stop-after-done-ns: the VM pauses this long (virtual time) after the
 * scenario is done, from the vCPU's own timer (vm_stop stops the current
 * CPU at once), so that a harness can wait for QMP's STOP event instead of
 * polling QMP while the guest runs: a host request served at a
 * host-dependent instant shifts the guest by a few instructions, and the
 * timeline by some ns (docs/race.md "Bit-identical timelines").
 */
static void qla2532_stop_cb(void *opaque)
{
    QLA2532State *s = opaque;

    trace_qla2532_vm_stop(s->isp.port_no,
                          qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL));
    vm_stop(RUN_STATE_PAUSED);
}

static void qla2532_scenario_done(void *opaque)
{
    QLA2532State *s = opaque;

    if (s->stop_after_done_ns) {
        timer_mod(s->stop_timer, qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) +
                  s->stop_after_done_ns);
    }
}

/* The firmware model, the event log and the link with the simulated
 * partner (which takes the scenario, if any). */
static bool qla2532_init_model(QLA2532State *s, uint8_t port, Error **errp)
{
    s->stop_timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, qla2532_stop_cb, s);
    s->isp.port_no = port;
    s->isp.link_speed = qla2532_speed_code(s->link_speed_gbps);
    s->isp.mbox_latency_ns = s->mbox_latency_ns;
    s->isp.prli_latency_ns = (int64_t)s->prli_latency_us * 1000;
    s->isp.flash = s->flash;
    isp_init(&s->isp, &qla2532_host_ops, s, s->wwpn, s->wwnn);

    if (s->link_obj) {
        /* on an fc-link object: its peers are objects too (fc-objects.h) */
        if (s->scenario || s->replay || s->capture) {
            error_setg(errp, "qla2532: with link=, the initiator, replayer "
                       "and capture are objects on the link (fc-initiator, "
                       "fc-replayer, fc-capture), not scenario=, replay=, "
                       "capture=");
            return false;
        }
        if (!s->link_obj->complete) {
            error_setg(errp, "qla2532: the fc-link is not complete");
            return false;
        }
        s->lnk = &s->link_obj->link;
        s->lg = &s->link_obj->log;
        s->isp.log = s->lg;
        fc_link_attach(s->lnk, &s->isp.port);
        return true;
    }
    fc_log_init(&s->log, 100000);
    s->lg = &s->log;
    s->isp.log = &s->log;

    /* a direct-attach link with the simulated partner at its other end */
    fc_link_init(&s->link, (int64_t)s->link_init_us * 1000,
                 s->frame_latency_ns);
    s->lnk = &s->link;
    fc_link_attach(&s->link, &s->isp.port);
    if (!qla2532_open_capture(s, s->capture, errp)) {
        return false;
    }
    if (!s->partner_present) {
        return true;
    }
    if (s->replay) {
        /* the replayer plays the captured initiator (fc-replay.h) */
        s->replayer = fc_replay_new(
            s->replay, s->replay_initiator, s->partner_wwpn,
            s->partner_wwnn, s->partner_conn_option,
            s->replay_scale_pct / 100.0,
            (int64_t)s->partner_login_delay_us * 1000, &s->link, &s->log,
            errp);
        if (!s->replayer) {
            return false;
        }
        fc_link_set_online(fc_replay_port(s->replayer), true);
        return true;
    }
    s->partner.port.wwpn = s->partner_wwpn;
    s->partner.port.wwnn = s->partner_wwnn;
    s->partner.port.conn = s->partner_conn_option;
    s->partner.port.hard_loop_id = s->partner_hard_loop_id;
    s->partner.login_delay_ns = (int64_t)s->partner_login_delay_us * 1000;
    s->partner.fcp_role = s->partner_role &&
                          !strcmp(s->partner_role, "target") ?
                          FC_SIM_ROLE_TARGET : FC_SIM_ROLE_INITIATOR;
    s->partner.log = &s->log;
    fc_sim_port_init(&s->partner, &s->link);
    if (s->scenario) {
        s->partner.scsi = fc_sim_scsi_new(&s->partner, s->scenario,
                                          &s->log, errp);
        if (!s->partner.scsi) {
            return false;
        }
        fc_sim_scsi_on_done(s->partner.scsi, qla2532_scenario_done, s);
    }
    fc_link_set_online(&s->partner.port, true);
    return true;
}

/* Undo qla2532_init_model (also after it failed). */
static void qla2532_uninit_model(QLA2532State *s)
{
    timer_free(s->stop_timer);
    s->stop_timer = NULL;
    if (s->link_obj) {
        fc_link_detach(&s->isp.port);       /* the link lives on */
        isp_finalize(&s->isp);
        s->lnk = NULL;
        s->lg = NULL;
        return;
    }
    isp_finalize(&s->isp);
    s->lnk = NULL;
    s->lg = NULL;
    fc_sim_port_finalize(&s->partner);
    fc_replay_free(s->replayer);
    s->replayer = NULL;
    fc_capture_close(s->cap);
    s->cap = NULL;
    fc_link_finalize(&s->link);
    fc_log_destroy(&s->log);
}

/*
 * The card's second port.  A QLE2562 is one PCI device with two functions
 * (lspci of the card: 0x.00.0 and 0x.00.1, header type 0x80 in function
 * 0); each function is a whole ISP with its own registers, firmware, NVRAM
 * region and link.  Function 0 with ports=2 makes function 1 as a child
 * "port1": its names are port 0's plus one (the NVRAM pair
 * qla2532_build_flash writes), its link the port1-partner* properties'
 * (default: no cable), the link timing and the flash options port 0's.
 */
static void qla2532_port1_variants(QLA2532State *p1, QLA2532State *s);

static bool qla2532_add_port1(QLA2532State *s, Error **errp)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    PCIBus *bus = pci_get_bus(pdev);
    int devfn = PCI_DEVFN(PCI_SLOT(pdev->devfn), 1);
    PCIDevice *f1 = pci_find_device(bus, pci_bus_num(bus), devfn);
    DeviceState *dev;
    QLA2532State *p1;

    if (s->port1_link && s->port1_partner) {
        error_setg(errp, "qla2532: port1-link and port1-partner exclude "
                   "each other (a partner is a peer object on the link)");
        return false;
    }
    if (f1) {
        error_setg(errp, "qla2532: ports=2 puts port 1 at function %02x.1, "
                   "which %s already takes; use ports=1 on function 0 to "
                   "place port 1 by hand", PCI_SLOT(pdev->devfn), f1->name);
        return false;
    }
    /* PCI 3.0 §6.2.1: function 0's header type bit 7 = multi-function */
    pdev->cap_present |= QEMU_PCI_CAP_MULTIFUNCTION;
    pdev->config[PCI_HEADER_TYPE] |= PCI_HEADER_TYPE_MULTI_FUNCTION;

    f1 = pci_new_multifunction(devfn, true, TYPE_QLA2532);
    dev = DEVICE(f1);
    /*
     * What belongs to port 0's link and run does not go to port 1, also
     * when it came as -global qla2532.<property> (applied to every
     * instance): the scenario, replay, capture, report file, VM stop and
     * fc-link object.
     */
    p1 = QLA2532(f1);
    g_clear_pointer(&p1->scenario, g_free);
    g_clear_pointer(&p1->replay, g_free);
    g_clear_pointer(&p1->capture, g_free);
    g_clear_pointer(&p1->report_file, g_free);
    p1->stop_after_done_ns = 0;
    if (p1->link_obj) {
        /* a strong link property holds a reference (qdev_prop_link) */
        object_unref(OBJECT(p1->link_obj));
        p1->link_obj = NULL;
    }
    if (s->port1_link) {
        /*
         * port1-link: port 1's cable goes to that fc-link object, e.g. the
         * one port 0 is on (link=), which cables the card's two ports to
         * each other as a lab does to test a target with an initiator on
         * the same host (docs/link.md §9).
         */
        p1->link_obj = s->port1_link;
        object_ref(OBJECT(p1->link_obj));
    }
    qdev_prop_set_uint64(dev, "wwpn", s->wwpn + 1);
    qdev_prop_set_uint64(dev, "wwnn", s->wwnn + 1);
    qdev_prop_set_uint32(dev, "link-speed", s->link_speed_gbps);
    qdev_prop_set_uint32(dev, "mbox-latency-ns", s->mbox_latency_ns);
    qdev_prop_set_uint32(dev, "link-init-us", s->link_init_us);
    qdev_prop_set_uint32(dev, "frame-latency-ns", s->frame_latency_ns);
    qdev_prop_set_uint16(dev, "hard-loop-id", s->hard_loop_id);
    qdev_prop_set_uint8(dev, "conn-option", s->conn_option);
    if (s->serial) {
        qdev_prop_set_string(dev, "serial", s->serial);
    }
    qla2532_port1_variants(p1, s);
    qdev_prop_set_bit(dev, "partner", s->port1_partner);
    qdev_prop_set_uint64(dev, "partner-wwpn", s->partner_wwpn + 1);
    qdev_prop_set_uint64(dev, "partner-wwnn", s->partner_wwnn + 1);
    qdev_prop_set_string(dev, "partner-role", s->port1_partner_role ?
                         s->port1_partner_role : "target");
    /*
     * When the card is hot-added, function 1 comes with function 0: it is
     * built before function 0's plug handler tells the guest about the
     * slot, and the guest's scan of the slot finds both (Linux pciehp ->
     * pci_scan_slot).  As a hot-added function of its own it would be
     * refused (pci.c do_pci_register_device: a function added after
     * function 0 cannot be exposed), and it is not one.
     */
    dev->hotplugged = false;
    object_property_add_child(OBJECT(s), "port1", OBJECT(f1));
    if (!pci_realize_and_unref(f1, bus, errp)) {
        object_unparent(OBJECT(f1));
        return false;
    }
    return true;
}

/* Remove function 1 if function 0 made it and it is still there (a PCIe
 * slot's unplug removes the slot's functions one by one). */
static void qla2532_del_port1(QLA2532State *s)
{
    Object *f1 = object_resolve_path_component(OBJECT(s), "port1");

    if (f1) {
        object_unparent(f1);
    }
}

/* Undo the migration blocker of a device on a link object or replaying. */
static void qla2532_del_blocker(QLA2532State *s)
{
    if (s->migration_blocker) {
        migrate_del_blocker(s->migration_blocker);
        error_free(s->migration_blocker);
        s->migration_blocker = NULL;
    }
}

/*
 * Realize: check the properties, then build the flash, the BARs, the
 * capabilities and the model in that order; a step that fails undoes the
 * ones before it, so a failed device_add leaves nothing behind.
 */
static void qla2532_realize(PCIDevice *pdev, Error **errp)
{
    QLA2532State *s = QLA2532(pdev);
    uint8_t port = PCI_FUNC(pdev->devfn) & 1;

    if (!qla2532_check_props(s, errp)) {
        return;
    }
    qla2532_build_flash(s, port);
    pci_set_word(pdev->config + PCI_SUBSYSTEM_ID, qla2532_subsystem_id(s));

    /* qla_os.c qla2x00_probe_one: port_no = INTERRUPT_PIN - 1 on 25xx */
    pci_config_set_interrupt_pin(pdev->config, port + 1);
    pdev->config_write = qla2532_write_config;

    if (!qla2532_init_bars(pdev, errp)) {
        goto fail_flash;
    }
    if (!qla2532_init_caps(pdev, errp)) {
        goto fail_bars;
    }
    if (!qla2532_init_model(s, port, errp)) {
        goto fail_model;
    }
    if (s->link_obj || s->replay) {
        error_setg(&s->migration_blocker, "qla2532: a device on an fc-link "
                   "object or replaying a capture is not migratable "
                   "(docs/migration.md)");
        if (migrate_add_blocker(s->migration_blocker, errp) < 0) {
            error_free(s->migration_blocker);
            s->migration_blocker = NULL;
            goto fail_model;
        }
    }
    if (s->ports == 2 && PCI_FUNC(pdev->devfn) == 0 &&
        !qla2532_add_port1(s, errp)) {
        goto fail_blocker;
    }
    if (s->report_file) {
        s->exit_notifier.notify = qla2532_write_report_at_exit;
        qemu_add_exit_notifier(&s->exit_notifier);
    }
    return;

fail_blocker:
    qla2532_del_blocker(s);
fail_model:
    qla2532_uninit_model(s);
    qla2532_uninit_caps(pdev);
fail_bars:
    qla2532_uninit_bars(pdev);
fail_flash:
    g_free(s->flash);
    s->flash = NULL;
}

static void qla2532_exit(PCIDevice *pdev)
{
    QLA2532State *s = QLA2532(pdev);

    qla2532_del_port1(s);
    if (s->report_file) {
        qemu_remove_exit_notifier(&s->exit_notifier);
    }
    qla2532_del_blocker(s);
    qla2532_uninit_model(s);
    qla2532_uninit_caps(pdev);
    qla2532_uninit_bars(pdev);
    g_free(s->flash);
    s->flash = NULL;
}

static void qla2532_reset(DeviceState *dev)
{
    QLA2532State *s = QLA2532(dev);

    isp_reset(&s->isp);
    s->irq_level = false;
    pci_set_irq(PCI_DEVICE(s), 0);
}

static Property qla2532_properties[] = {
    DEFINE_PROP_UINT64("wwpn", QLA2532State, wwpn, 0x21000024ff000001ULL),
    DEFINE_PROP_UINT64("wwnn", QLA2532State, wwnn, 0x20000024ff000001ULL),
    DEFINE_PROP_UINT32("link-speed", QLA2532State, link_speed_gbps, 8),
    DEFINE_PROP_UINT32("mbox-latency-ns", QLA2532State, mbox_latency_ns,
                       10000),
    DEFINE_PROP_UINT32("link-init-us", QLA2532State, link_init_us,
                       FC_LINK_DEFAULT_INIT_US),
    DEFINE_PROP_UINT32("frame-latency-ns", QLA2532State, frame_latency_ns,
                       FC_LINK_DEFAULT_FRAME_NS),
    DEFINE_PROP_UINT32("partner-login-delay-us", QLA2532State,
                       partner_login_delay_us, FC_SIM_DEFAULT_LOGIN_DELAY_US),
    DEFINE_PROP_UINT16("hard-loop-id", QLA2532State, hard_loop_id, 0),
    DEFINE_PROP_UINT8("conn-option", QLA2532State, conn_option,
                      ISP_CONN_LOOP_P2P),
    DEFINE_PROP_STRING("serial", QLA2532State, serial),
    DEFINE_PROP_BOOL("partner", QLA2532State, partner_present, true),
    DEFINE_PROP_UINT64("partner-wwpn", QLA2532State, partner_wwpn,
                       FC_SIM_DEFAULT_WWPN),
    DEFINE_PROP_UINT64("partner-wwnn", QLA2532State, partner_wwnn,
                       FC_SIM_DEFAULT_WWNN),
    DEFINE_PROP_UINT8("partner-conn-option", QLA2532State,
                      partner_conn_option, ISP_CONN_LOOP_P2P),
    DEFINE_PROP_INT32("partner-hard-loop-id", QLA2532State,
                      partner_hard_loop_id, -1),
    DEFINE_PROP_STRING("partner-role", QLA2532State, partner_role),
    DEFINE_PROP_STRING("report-file", QLA2532State, report_file),
    /* on an fc-link object instead of the device's own link */
    DEFINE_PROP_LINK("link", QLA2532State, link_obj, TYPE_FC_LINK_OBJECT,
                     FcLinkObject *),
    /* replay a captured initiator instead (fc-replay.h, docs/replay.md) */
    DEFINE_PROP_STRING("replay", QLA2532State, replay),
    DEFINE_PROP_UINT64("replay-initiator", QLA2532State, replay_initiator,
                       0),
    DEFINE_PROP_UINT64("stop-after-done-ns", QLA2532State,
                       stop_after_done_ns, 0),
    DEFINE_PROP_UINT32("replay-scale-pct", QLA2532State, replay_scale_pct,
                       100),
    /* the card: 2 = QLE2562 (function 1 made by function 0), 1 = QLE2560 */
    DEFINE_PROP_UINT8("ports", QLA2532State, ports, 2),
    DEFINE_PROP_BOOL("port1-partner", QLA2532State, port1_partner, false),
    DEFINE_PROP_LINK("port1-link", QLA2532State, port1_link,
                     TYPE_FC_LINK_OBJECT, FcLinkObject *),
    DEFINE_PROP_STRING("port1-partner-role", QLA2532State,
                       port1_partner_role),
    DEFINE_PROP_END_OF_LIST(),
};

/*
 * Saved state (savevm/loadvm, migration; docs/migration.md): PCI config
 * space, MSI-X, AER, the flash, the firmware model (isp-vmstate.c), the
 * device's own link with its frames in flight, the event log and, in
 * subsections, the simulated partner's login and its scenario's progress.
 * A device on an fc-link object or replaying a capture is not migratable
 * (a migration blocker says so); the link objects' peers are not saved.
 */
static bool qla2532_partner_needed(void *opaque)
{
    QLA2532State *s = opaque;

    return s->partner_present && !s->replayer && !s->link_obj;
}

static bool qla2532_initiator_needed(void *opaque)
{
    QLA2532State *s = opaque;

    return qla2532_partner_needed(s) && s->partner.scsi;
}

/* A saved string: @len bytes with the NUL as the last one. */
static const char *qla2532_saved_str(const char *str, uint32_t len)
{
    return str && len && str[len - 1] == '\0' && strlen(str) == len - 1 ?
           str : NULL;
}

static int qla2532_pre_save(void *opaque)
{
    QLA2532State *s = opaque;

    g_free(s->mig_log);
    g_free(s->mig_scenario);
    s->mig_log = fc_log_save(&s->log);
    s->mig_log_len = strlen(s->mig_log) + 1;
    s->mig_scenario = g_strdup(s->scenario && s->partner.scsi ?
                               s->scenario : "");
    s->mig_scenario_len = strlen(s->mig_scenario) + 1;
    return 0;
}

static int qla2532_post_save(void *opaque)
{
    QLA2532State *s = opaque;

    g_free(s->mig_log);
    g_free(s->mig_scenario);
    s->mig_log = s->mig_scenario = NULL;
    s->mig_log_len = s->mig_scenario_len = 0;
    return 0;
}

static int qla2532_pre_load(void *opaque)
{
    QLA2532State *s = opaque;

    if (s->link_obj || s->replayer) {
        error_report("qla2532: a device on an fc-link object or replaying "
                     "a capture cannot load a saved state");
        return -EINVAL;
    }
    return qla2532_post_save(s);
}

static int qla2532_post_load(void *opaque, int version_id)
{
    QLA2532State *s = opaque;
    const char *log = qla2532_saved_str(s->mig_log, s->mig_log_len);
    Error *err = NULL;
    int ret = 0;

    if (!log) {
        error_report("qla2532: the saved event log is not a string");
        ret = -EINVAL;
    } else if (!fc_log_load(&s->log, log, &err)) {
        error_report_err(err);
        ret = -EINVAL;
    }
    s->prli_latency_us = s->isp.prli_latency_ns / 1000;
    qla2532_post_save(s);
    return ret;
}

static int qla2532_partner_pre_load(void *opaque)
{
    if (!qla2532_partner_needed(opaque)) {
        error_report("qla2532: the saved state has a simulated partner "
                     "port; this device has none (partner=off or replay=)");
        return -EINVAL;
    }
    return 0;
}

/*
 * The partner runs the scenario the source ran (its path, which a
 * qom-set may have changed since start-up); the next subsection loads its
 * progress into it.
 */
static int qla2532_partner_post_load(void *opaque, int version_id)
{
    QLA2532State *s = opaque;
    const char *path = qla2532_saved_str(s->mig_scenario,
                                         s->mig_scenario_len);
    Error *err = NULL;
    FcSimScsi *ss;

    if (!path) {
        error_report("qla2532: the saved scenario path is not a string");
        return -EINVAL;
    }
    if (!*path) {
        fc_sim_scsi_free(s->partner.scsi);
        s->partner.scsi = NULL;
    } else if (!s->partner.scsi || g_strcmp0(path, s->scenario)) {
        ss = fc_sim_scsi_new(&s->partner, path, &s->log, &err);
        if (!ss) {
            error_report_err(err);
            return -EINVAL;
        }
        fc_sim_scsi_on_done(ss, qla2532_scenario_done, s);
        fc_sim_scsi_free(s->partner.scsi);
        s->partner.scsi = ss;
    }
    g_free(s->scenario);
    s->scenario = *path ? g_strdup(path) : NULL;
    return 0;
}

static const VMStateDescription vmstate_qla2532_partner = {
    .name = TYPE_QLA2532 "/partner",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = qla2532_partner_needed,
    .pre_load = qla2532_partner_pre_load,
    .post_load = qla2532_partner_post_load,
    .fields = (VMStateField[]) {
        VMSTATE_STRUCT(partner, QLA2532State, 1, vmstate_fc_sim_port,
                       FcSimPort),
        VMSTATE_UINT32(mig_scenario_len, QLA2532State),
        VMSTATE_VBUFFER_ALLOC_UINT32(mig_scenario, QLA2532State, 0, NULL,
                                     mig_scenario_len),
        VMSTATE_END_OF_LIST()
    }
};

static int qla2532_initiator_pre_load(void *opaque)
{
    QLA2532State *s = opaque;

    return s->partner.scsi ? 0 : -EINVAL;
}

static const VMStateDescription vmstate_qla2532_initiator = {
    .name = TYPE_QLA2532 "/initiator",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = qla2532_initiator_needed,
    .pre_load = qla2532_initiator_pre_load,
    .fields = (VMStateField[]) {
        VMSTATE_STRUCT_POINTER(partner.scsi, QLA2532State,
                               vmstate_fc_sim_scsi, FcSimScsi),
        VMSTATE_END_OF_LIST()
    }
};

static const VMStateDescription vmstate_qla2532 = {
    .name = TYPE_QLA2532,
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_save = qla2532_pre_save,
    .post_save = qla2532_post_save,
    .pre_load = qla2532_pre_load,
    .post_load = qla2532_post_load,
    .fields = (VMStateField[]) {
        VMSTATE_PCI_DEVICE(parent_obj, QLA2532State),
        VMSTATE_MSIX(parent_obj, QLA2532State),
        VMSTATE_STRUCT(parent_obj.exp.aer_log, QLA2532State, 0,
                       vmstate_pcie_aer_log, PCIEAERLog),
        VMSTATE_BOOL(irq_level, QLA2532State),
        VMSTATE_TIMER_PTR(stop_timer, QLA2532State),
        VMSTATE_BUFFER_POINTER_UNSAFE(flash, QLA2532State, 0,
                                      ISP_FLASH_SIZE),
        VMSTATE_STRUCT(isp, QLA2532State, 1, vmstate_isp, IspState),
        VMSTATE_STRUCT(link, QLA2532State, 1, vmstate_fc_link, FcLink),
        VMSTATE_UINT32(mig_log_len, QLA2532State),
        VMSTATE_VBUFFER_ALLOC_UINT32(mig_log, QLA2532State, 0, NULL,
                                     mig_log_len),
        VMSTATE_END_OF_LIST()
    },
    .subsections = (const VMStateDescription * []) {
        &vmstate_qla2532_partner,
        &vmstate_qla2532_initiator,
        NULL
    }
};

/*
 * Run-time link events, for monitor/QMP users and scenarios:
 *   qom-set <path> link-event lip|lip-reset|down|up
 * lip: the partner sends LIP(F7,F7) and the loop re-initialises; lip-reset:
 * LIP(F7,F7) after which the ISP reports LIP RESET; down: the cable is
 * pulled; up: it is put back.
 */
static char *qla2532_get_link_event(Object *obj, Error **errp)
{
    QLA2532State *s = QLA2532(obj);

    return g_strdup(s->last_link_event ? s->last_link_event : "");
}

static void qla2532_set_link_event(Object *obj, const char *value,
                                   Error **errp)
{
    QLA2532State *s = QLA2532(obj);
    FcPort *peer;

    if (!s->lnk) {
        error_setg(errp, "qla2532: link-event needs a realized device");
        return;
    }
    if (!strcmp(value, "lip")) {
        fc_link_lip(s->lnk, 0xf7f7);
    } else if (!strcmp(value, "lip-reset")) {
        /* from the other port on the link (the partner, the replayer) */
        peer = fc_link_peer(&s->isp.port);
        if (!peer) {
            error_setg(errp, "qla2532: lip-reset needs another port that "
                       "is up on the link");
            return;
        }
        fc_link_lip_reset(peer, &s->isp.port);
    } else if (!strcmp(value, "down")) {
        fc_link_force_down(s->lnk, true);
    } else if (!strcmp(value, "up")) {
        fc_link_force_down(s->lnk, false);
    } else {
        error_setg(errp, "qla2532: link-event must be lip, lip-reset, down "
                   "or up");
        return;
    }
    g_free(s->last_link_event);
    s->last_link_event = g_strdup(value);
}

/*
 * prli-complete-latency-us (µs): settable on the command line and at run time
 * (qom-set), e.g. between the points of a sweep; applies to PRLIs
 * accepted from then on.
 */
static void qla2532_get_prli_latency(Object *obj, Visitor *v,
                                     const char *name, void *opaque,
                                     Error **errp)
{
    QLA2532State *s = QLA2532(obj);

    visit_type_uint32(v, name, &s->prli_latency_us, errp);
}

static void qla2532_set_prli_latency(Object *obj, Visitor *v,
                                     const char *name, void *opaque,
                                     Error **errp)
{
    QLA2532State *s = QLA2532(obj);
    uint32_t us;

    if (!visit_type_uint32(v, name, &us, errp)) {
        return;
    }
    s->prli_latency_us = us;
    s->isp.prli_latency_ns = (int64_t)us * 1000;
}

/*
 * Firmware variants where the real ISP2532's behaviour is unknown
 * (docs/login-states.md): a name per value, settable on the command line
 * and at run time (qom-set), like prli-complete-latency-us.
 */
static const char *const last_state_names[] = {
    [ISP_LAST_STATE_PREVIOUS] = "previous",
    [ISP_LAST_STATE_SESSION] = "session",
};
static const char *const gid_list_names[] = {
    [ISP_GID_LIST_LOGGED_IN] = "logged-in",
    [ISP_GID_LIST_PRLI_COMPLETE] = "prli-complete",
};

static const char *const ctio_overrun_names[] = {
    [ISP_CTIO_OVERRUN_REJECT] = "reject",
    [ISP_CTIO_OVERRUN_TRUNCATE] = "truncate",
};

static const char *const zio_names[] = {
    [ISP_ZIO_RSPQ] = "rspq",
    [ISP_ZIO_AEN] = "aen",
};

static const char *const ini_write_underrun_names[] = {
    [ISP_INI_WRITE_UNDERRUN_RESID] = "resid-under",
    [ISP_INI_WRITE_UNDERRUN_SHORT] = "short",
};

static const char *const logo_unknown_names[] = {
    [ISP_LOGO_UNKNOWN_ERROR] = "not-logged-in",
    [ISP_LOGO_UNKNOWN_COMPLETE] = "complete",
};

static const char *const plogi_conflict_names[] = {
    [ISP_PLOGI_CONFLICT_MOVE] = "move",
    [ISP_PLOGI_CONFLICT_REFUSE] = "refuse",
};

static const char *const sys_err_names[] = {
    [ISP_SYS_ERR_COMPLETE] = "complete",
    [ISP_SYS_ERR_NONE] = "none",
};

/*
 * One firmware-variant property: its name, the name of each value (two),
 * and where the value lives in IspState (a uint8_t).
 */
typedef struct QlaVariant {
    const char *prop;
    const char *const *names;
    size_t offset;
} QlaVariant;

static const QlaVariant qla_variants[] = {
    { "last-login-state", last_state_names,
      offsetof(IspState, last_state_mode) },
    { "gid-list", gid_list_names, offsetof(IspState, gid_list_mode) },
    { "ctio-overrun", ctio_overrun_names,
      offsetof(IspState, ctio_overrun_mode) },
    { "system-error-completion", sys_err_names,
      offsetof(IspState, sys_err_mode) },
    { "zio-interrupt", zio_names, offsetof(IspState, zio_mode) },
    { "ini-write-underrun", ini_write_underrun_names,
      offsetof(IspState, ini_write_underrun_mode) },
    { "logo-without-login", logo_unknown_names,
      offsetof(IspState, logo_unknown_mode) },
    { "plogi-handle-conflict", plogi_conflict_names,
      offsetof(IspState, plogi_conflict_mode) },
};

static uint8_t *variant_field(Object *obj, const QlaVariant *va)
{
    return (uint8_t *)&QLA2532(obj)->isp + va->offset;
}

/*
 * Function 1 runs the same firmware image as function 0 (the driver loads
 * it into each function's RISC, qla_init.c qla24xx_load_risc), so the
 * firmware variants -- the readings of undocumented firmware behaviour --
 * set on the card (function 0) hold for both ports.
 */
static void qla2532_port1_variants(QLA2532State *p1, QLA2532State *s)
{
    size_t i;

    for (i = 0; i < ARRAY_SIZE(qla_variants); i++) {
        *variant_field(OBJECT(p1), &qla_variants[i]) =
            *variant_field(OBJECT(s), &qla_variants[i]);
    }
}

static void qla2532_get_variant(Object *obj, Visitor *v, const char *name,
                                void *opaque, Error **errp)
{
    const QlaVariant *va = opaque;
    char *value = (char *)va->names[*variant_field(obj, va)];

    visit_type_str(v, name, &value, errp);
}

static void qla2532_set_variant(Object *obj, Visitor *v, const char *name,
                                void *opaque, Error **errp)
{
    const QlaVariant *va = opaque;
    g_autofree char *value = NULL;
    int i;

    if (!visit_type_str(v, name, &value, errp)) {
        return;
    }
    for (i = 0; i < 2; i++) {
        if (!strcmp(value, va->names[i])) {
            *variant_field(obj, va) = i;
            return;
        }
    }
    error_setg(errp, "qla2532: %s must be %s or %s, not '%s'", va->prop,
               va->names[0], va->names[1], value);
}

/*
 * scenario: the simulated initiator's scenario file.  Set at run time it
 * replaces the running scenario and clears the report; the new one starts
 * at the partner's next login (inject a LIP to make it log in again).
 */
static char *qla2532_get_scenario(Object *obj, Error **errp)
{
    QLA2532State *s = QLA2532(obj);

    return g_strdup(s->scenario ? s->scenario : "");
}

static void qla2532_set_scenario(Object *obj, const char *value,
                                 Error **errp)
{
    QLA2532State *s = QLA2532(obj);
    FcSimScsi *ss;

    if (!DEVICE(obj)->realized) {
        g_free(s->scenario);
        s->scenario = g_strdup(value);
        return;
    }
    if (!s->partner_present || s->replayer || s->link_obj) {
        error_setg(errp, "qla2532: a scenario needs the simulated partner "
                   "port (not a replay; on an fc-link, an fc-initiator's)");
        return;
    }
    ss = fc_sim_scsi_new(&s->partner, value, &s->log, errp);
    if (!ss) {
        return;
    }
    fc_sim_scsi_on_done(ss, qla2532_scenario_done, s);
    timer_del(s->stop_timer);       /* the old scenario's stop */
    if (s->partner.scsi) {
        fc_sim_scsi_free(s->partner.scsi);
    }
    fc_log_clear(&s->log);
    s->partner.scsi = ss;
    g_free(s->scenario);
    s->scenario = g_strdup(value);
}

static void qla2532_instance_init(Object *obj)
{
    size_t i;

    object_property_add(obj, "prli-complete-latency-us", "uint32",
                        qla2532_get_prli_latency, qla2532_set_prli_latency,
                        NULL, NULL);
    object_property_add_str(obj, "scenario", qla2532_get_scenario,
                            qla2532_set_scenario);
    for (i = 0; i < ARRAY_SIZE(qla_variants); i++) {
        object_property_add(obj, qla_variants[i].prop, "str",
                            qla2532_get_variant, qla2532_set_variant, NULL,
                            (void *)&qla_variants[i]);
    }
    object_property_add_str(obj, "link-event", qla2532_get_link_event,
                            qla2532_set_link_event);
    object_property_add_str(obj, "report", qla2532_get_report, NULL);
    object_property_add_str(obj, "capture", qla2532_get_capture,
                            qla2532_set_capture);
}

static void qla2532_instance_finalize(Object *obj)
{
    QLA2532State *s = QLA2532(obj);

    g_free(s->last_link_event);
    g_free(s->scenario);
    g_free(s->capture);
}

static void qla2532_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    PCIDeviceClass *k = PCI_DEVICE_CLASS(klass);

    k->realize = qla2532_realize;
    k->exit = qla2532_exit;
    k->vendor_id = PCI_VENDOR_ID_QLOGIC;
    k->device_id = QLA2532_DEVICE_ID;
    k->revision = 0x02;
    k->class_id = PCI_CLASS_SERIAL_FIBER;
    k->subsystem_vendor_id = PCI_VENDOR_ID_QLOGIC;
    k->subsystem_id = 0x015d;
    dc->desc = "QLogic ISP2532 8Gb Fibre Channel HBA (QLE2562)";
    dc->reset = qla2532_reset;
    dc->vmsd = &vmstate_qla2532;
    device_class_set_props(dc, qla2532_properties);
    set_bit(DEVICE_CATEGORY_STORAGE, dc->categories);
}

static const TypeInfo qla2532_info = {
    .name = TYPE_QLA2532,
    .parent = TYPE_PCI_DEVICE,
    .instance_size = sizeof(QLA2532State),
    .instance_init = qla2532_instance_init,
    .instance_finalize = qla2532_instance_finalize,
    .class_init = qla2532_class_init,
    .interfaces = (InterfaceInfo[]) {
        { INTERFACE_PCIE_DEVICE },
        { }
    },
};

static void qla2532_register_types(void)
{
    type_register_static(&qla2532_info);
}

type_init(qla2532_register_types)
