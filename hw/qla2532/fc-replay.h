/*
 * Replay of a captured initiator against the emulated ISP, with a
 * divergence report (docs/replay.md).
 *
 * The replayer is a port on the link in the initiator's place.  It reads
 * a capture (pcap, LINKTYPE_FC_2_WITH_FRAME_DELIMS or LINKTYPE_FC_2, as
 * fc-capture.c writes them or an analyzer exports them), takes the frames
 * the initiator sent and sends them again, in capture order, with the
 * capture's gaps (scaled), each after the target's frames that came
 * before it in the capture have come (or were given up on).  Exchange and
 * port IDs are mapped to the live link: the initiator's OX_IDs are kept,
 * the target's RX_IDs and OX_IDs are learned from its live frames.  The
 * initiator's answers in the capture (data after XFER_RDY, LS_ACC to the
 * target's LOGO, BA_ACC to its ABTS) are sent the same way.
 *
 * Each frame the target sends is compared with the captured one of the
 * same exchange and kind: ELS accept or reject (and the reject reason),
 * BA_ACC or BA_RJT, FCP_RSP status, sense key/ASC/ASCQ, and per exchange
 * the read data's length and digest; a frame the capture does not have is
 * "unexpected", a captured one that never comes is "missing", one that
 * comes before an earlier captured one is "order".  Everything is in
 * virtual time.
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_QLA2532_FC_REPLAY_H
#define HW_QLA2532_FC_REPLAY_H

#include "fc-link.h"
#include "fc-log.h"

/* Frames a capture may hold, and payload bytes in all (loading limits). */
#define FC_REPLAY_MAX_FRAMES    (1u << 20)
#define FC_REPLAY_MAX_BYTES     (512u << 20)
/* Divergences kept in detail (all are counted). */
#define FC_REPLAY_MAX_DETAIL    64

typedef struct FcReplay FcReplay;

/**
 * fc_replay_new: load the capture @path and attach a replaying port to
 * @link.
 * @as_initiator: the WWPN of the port to play (0: the sender of the first
 *   FCP_CMND).
 * @wwpn/@wwnn: the port's names when the capture has no login of it.
 * @conn: the port's connection option (FcConnOption).
 * @scale: capture gaps are multiplied by this (1.0: as captured).
 * @start_ns: virtual time from link up to the first frame when the
 *   capture starts with one of the initiator's.
 * @log: where events go (source "replay"; may be NULL).
 * Errors (with @errp, naming the file and the frame): unreadable or
 * truncated file, a link type other than 224/225, a frame shorter than
 * its header or with more than 2112 bytes of payload, a bad CRC, too many
 * frames, no frame of the initiator.
 */
FcReplay *fc_replay_new(const char *path, uint64_t as_initiator,
                        uint64_t wwpn, uint64_t wwnn, FcConnOption conn,
                        double scale, int64_t start_ns, FcLink *link,
                        FcLog *log, Error **errp);
void fc_replay_free(FcReplay *r);

/* The replaying port (to put online, to address LIP resets). */
FcPort *fc_replay_port(FcReplay *r);

/**
 * fc_replay_report: add "replay" to @extra: {"capture", "frames",
 * "initiator_frames", "sent", "matched", "done", "divergences" (count),
 * "counts" {kind: n}, "first" (the first divergence), "detail" [...]}.
 * A divergence: {"kind", "frame" (1-based capture frame number, or 0),
 * "expected", "got", "t_ns"}.
 */
void fc_replay_report(FcReplay *r, QDict *extra);

#endif /* HW_QLA2532_FC_REPLAY_H */
