/*
 * libqos driver for the QLogic ISP2532 Fibre Channel HBA (qla2532)
 *
 * A qgraph node "qla2532" that consumes a PCI bus and produces a PCI
 * device; started, the device is enabled and BAR1 (the register block,
 * qla_fw.h struct device_reg_24xx) is mapped.
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef QTEST_LIBQOS_QLA2532_H
#define QTEST_LIBQOS_QLA2532_H

#include "qgraph.h"
#include "pci.h"

/* Where the driver node puts the device on its bus (slot 4, function 0). */
#define QLA2532_DEVFN           QPCI_DEVFN(4, 0)

typedef struct QQla2532 {
    QOSGraphObject obj;
    QPCIDevice dev;
    QPCIBar bar1;               /* registers: valid once started */
} QQla2532;

#endif
