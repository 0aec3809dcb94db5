/*
 * The emulated Fibre Channel link and its peers as QOM objects
 * (docs/link.md, "The link as an object").
 *
 *   -object fc-link,id=fc0
 *   -object fc-initiator,id=ini0,link=fc0,scenario=traces/basic.json
 *   -object fc-capture,id=cap0,link=fc0,file=fc0.pcap
 *   -object fc-replayer,id=rp0,link=fc0,file=traces/race-stock.pcap
 *   -object fc-remote,id=r0,link=fc0,chardev=fcr  (another QEMU's port)
 *   -device qla2532,link=fc0,...
 *
 * This file is only the QOM glue: the link (fc-link.c), the simulated
 * initiator (fc-sim-port.c, fc-sim-scsi.c), the capture (fc-capture.c) and
 * the replayer (fc-replay.c) do not know QOM, as the ISP's firmware model
 * does not know PCI.  The event log belongs to the link, so that every
 * port on it writes one timeline.
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_QLA2532_FC_OBJECTS_H
#define HW_QLA2532_FC_OBJECTS_H

#include "qom/object.h"
#include "fc-link.h"
#include "fc-log.h"

#define TYPE_FC_LINK_OBJECT "fc-link"
OBJECT_DECLARE_SIMPLE_TYPE(FcLinkObject, FC_LINK_OBJECT)

/**
 * FcLinkObject: an FcLink and the FcLog of its ports.
 * @init_us: loop initialisation / point-to-point login time, µs.
 * @frame_ns: a frame's transit time, ns.
 * @departed: what peers that were deleted last reported (QEMU deletes
 *   -object peers at exit before the device writes its report-file).
 */
struct FcLinkObject {
    Object parent_obj;
    FcLink link;
    FcLog log;
    QDict *departed;            /* the last report of peers deleted */
    uint32_t init_us;
    uint32_t frame_ns;
    bool complete;
};

/**
 * fc_link_object_report: the link's report as JSON (the event log and
 * counters, the topology, each port's @report, and @extra's members);
 * @extra may be NULL and is not consumed.  Caller frees.
 */
GString *fc_link_object_report(FcLinkObject *lo, QDict *extra);

#endif /* HW_QLA2532_FC_OBJECTS_H */
