/*
 * A link between two QEMUs: the far side's port on this QEMU's link,
 * over a chardev (docs/link.md §10).
 *
 *   QEMU A: -object fc-link,id=fc0
 *           -chardev socket,id=fcr,path=/tmp/fc.sock,server=on,wait=off
 *           -object fc-remote,id=r0,link=fc0,chardev=fcr
 *           -device qla2532,link=fc0,ports=1
 *   QEMU B: the same with -chardev socket,id=fcr,path=/tmp/fc.sock,
 *           reconnect=1
 *
 * Each QEMU keeps its own link (fc-link.c) with its own port and a proxy
 * of the other QEMU's port, whose names, connection option, hard loop ID
 * and online state the other side announces.  Both links then decide the
 * same topology and addresses, because with two ports the decisions
 * depend on the ports' parameters only (fc-link.c: point-to-point by
 * Port_Name, the loop from the master, the lowest Port_Name, with LIPA
 * and LIHA from each port's own state); each side checks that the other
 * came up with the address it gave the proxy.  What one side's port or
 * user does to the link (online, LIP, LIP reset, link down/up) is
 * repeated on the other side's link; frames the local link delivers to
 * the proxy cross over and are sent on the other link from its proxy.
 *
 * Time: each QEMU has its own virtual clock.  A frame is sent on the far
 * link at that clock's time when it arrives, so the two timelines agree
 * in order, not in time, and a run is not repeatable to the nanosecond.
 * Two QEMUs under -icount with sleep=off run their clocks apart (an idle
 * guest's clock jumps to its next timer): use real time (no -icount, or
 * sleep=on).  A frame that arrives while the far link is still
 * initialising waits for it (the two sides' initialisations end at
 * different host times); one that arrives while it is down is lost.
 *
 * Wire format, both directions: messages of an 8-byte header -- the
 * bytes 'F' 'C', a type, 0, the body's length (32 bits big-endian) -- and
 * the body.  A FRAME's body is the sender's virtual time (64 bits, ns)
 * and the frame as one record of the link's capture (fc-capture.h:
 * SOF, header, payload, CRC, EOF).
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_QLA2532_FC_REMOTE_H
#define HW_QLA2532_FC_REMOTE_H

#include "chardev/char-fe.h"
#include "fc-link.h"
#include "fc-log.h"

/* Frames kept for a far link that is still initialising, at most. */
#define FC_REMOTE_MAX_HELD      256

typedef struct FcRemote FcRemote;

/**
 * fc_remote_new: put the far side's port on @link and carry it over
 * @chr (a connected or listening chardev).  @log: the link's event log
 * (connects, disagreements, losses).  Only one fc-remote per link: the
 * link's control hook is taken (NULL with @errp set if it is not free,
 * or if @chr is in use).  Not migratable (a migration blocker is added).
 */
FcRemote *fc_remote_new(FcLink *link, Chardev *chr, FcLog *log,
                        Error **errp);

/* fc_remote_port: the proxy of the far side's port on the link. */
FcPort *fc_remote_port(FcRemote *r);

/* fc_remote_free: detach the proxy, free the hook and the chardev. */
void fc_remote_free(FcRemote *r);

/**
 * fc_remote_report: {"connected", "far_wwpn", "frames_sent",
 * "frames_received", "frames_held", "frames_lost", "address_mismatches",
 * "protocol_errors"} into @out["remote"].
 */
void fc_remote_report(FcRemote *r, QDict *out);

#endif /* HW_QLA2532_FC_REMOTE_H */
