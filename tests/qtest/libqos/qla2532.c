/*
 * libqos driver for the QLogic ISP2532 Fibre Channel HBA (qla2532)
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "../libqtest.h"
#include "qemu/module.h"
#include "qla2532.h"

static void *qla2532_get_driver(void *obj, const char *interface)
{
    QQla2532 *q = obj;

    if (!g_strcmp0(interface, "pci-device")) {
        return &q->dev;
    }
    fprintf(stderr, "%s not present in qla2532\n", interface);
    g_assert_not_reached();
}

/* The driver's probe: enable memory/I/O decoding and bus mastering (DMA),
 * map the register BAR (qla_os.c qla2x00_iospace_config). */
static void qla2532_start_hw(QOSGraphObject *obj)
{
    QQla2532 *q = (QQla2532 *)obj;

    q->bar1 = qpci_iomap(&q->dev, 1, NULL);
    qpci_device_enable(&q->dev);
}

static void qla2532_destructor(QOSGraphObject *obj)
{
    QQla2532 *q = (QQla2532 *)obj;

    qpci_iounmap(&q->dev, q->bar1);
}

static void *qla2532_create(void *pci_bus, QGuestAllocator *alloc,
                            void *addr)
{
    QQla2532 *q = g_new0(QQla2532, 1);

    qpci_device_init(&q->dev, pci_bus, addr);
    q->obj.get_driver = qla2532_get_driver;
    q->obj.start_hw = qla2532_start_hw;
    q->obj.destructor = qla2532_destructor;
    return &q->obj;
}

static void qla2532_register_nodes(void)
{
    QOSGraphEdgeOptions opts = {
        .extra_device_opts = "addr=04.0",
    };

    add_qpci_address(&opts, &(QPCIAddress) { .devfn = QLA2532_DEVFN });
    qos_node_create_driver("qla2532", qla2532_create);
    qos_node_consumes("qla2532", "pci-bus", &opts);
    qos_node_produces("qla2532", "pci-device");
}

libqos_init(qla2532_register_nodes);
