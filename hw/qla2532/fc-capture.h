/*
 * Capture of the frames on an emulated Fibre Channel link to a pcap file.
 *
 * The file is written through libpcap with link type
 * LINKTYPE_FC_2_WITH_FRAME_DELIMS (225): each record is the frame as an
 * analyzer sees it on the wire -- the 4-byte SOF ordered set, the 24-byte
 * frame header, the payload, the 4-byte CRC and the 4-byte EOF ordered set
 * -- stamped with the virtual time it was sent, in nanoseconds.  Wireshark
 * reads it with its "fcsof" dissector, which takes the first/last frame of
 * each sequence from the delimiters (docs/capture.md says why 225 and not
 * 224).  Primitive sequences (LIP, loop initialisation) are not frames and
 * have no record in this link type: they are in the device's event log.
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_QLA2532_FC_CAPTURE_H
#define HW_QLA2532_FC_CAPTURE_H

#include "fc.h"

/* LINKTYPE_FC_2_WITH_FRAME_DELIMS (tcpdump.org link-layer header types) */
#define FC_CAPTURE_LINKTYPE     225
/* SOF + header + payload + CRC + EOF, bytes */
#define FC_CAPTURE_MAX_RECORD   (4 + FC_HDR_LEN + FC_MAX_PAYLOAD + 4 + 4)

typedef struct FcCapture FcCapture;

/**
 * fc_capture_open: create (or truncate) the pcap file @path.
 * Returns NULL with @errp set (naming the file and libpcap's reason) when
 * it cannot be written.
 */
FcCapture *fc_capture_open(const char *path, Error **errp);

/**
 * fc_capture_frame: append @f, stamped with @f->time_ns (virtual ns).
 * Each record is flushed, so the file is complete whenever QEMU stops.
 * A frame whose @len exceeds FC_MAX_PAYLOAD is recorded truncated to it.
 */
void fc_capture_frame(FcCapture *c, const FcFrame *f);

/* fc_capture_count: the number of frames written so far. */
uint64_t fc_capture_count(const FcCapture *c);

/* fc_capture_close: flush and close; @c may be NULL. */
void fc_capture_close(FcCapture *c);

/**
 * fc_capture_record: the on-the-wire bytes of @f as one capture record
 * into @buf (at least FC_CAPTURE_MAX_RECORD bytes); returns its length.
 * SOFi3/SOFn3 and EOFn/EOFt are written as their FC-FS-3 ordered sets
 * (K28.5 and three data characters, as Wireshark's fcsof dissector
 * decodes them), the EOFs in their negative-running-disparity form (the
 * model has no 8b/10b encoding); the CRC is FC-FS-3's CRC-32 (the IEEE
 * 802.3 polynomial) over header and payload, least significant byte
 * first as on the wire.
 */
size_t fc_capture_record(const FcFrame *f, uint8_t *buf);

/**
 * fc_capture_parse_record: the frame of one record @rec of @len bytes
 * into @f: with @delims as fc_capture_record writes it (link type 225:
 * SOF, header, payload, CRC, EOF; the CRC is checked), without the
 * header and payload only (link type 224).  @f->sof is SOFi3, @f->eof
 * EOFt when F_CTL says End_Sequence, else EOFn; @f->time_ns is not set.
 * Returns NULL, or why the record is no frame (a static string: shorter
 * than a frame header, a payload over FC's 2112 bytes, a bad CRC).
 */
const char *fc_capture_parse_record(const uint8_t *rec, uint32_t len,
                                    bool delims, FcFrame *f);

#endif /* HW_QLA2532_FC_CAPTURE_H */
