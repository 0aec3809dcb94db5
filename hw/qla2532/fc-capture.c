/*
 * Capture of the frames on an emulated Fibre Channel link to a pcap file
 * (fc-capture.h; docs/capture.md).
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/timer.h"
#include <pcap/pcap.h>
#include <zlib.h>
#include "fc-capture.h"

/*
 * Ordered sets of the delimiters (FC-FS-3), big-endian as transmitted:
 * K28.5 then three data characters.  The values are the ones Wireshark's
 * fcsof dissector (epan/dissectors/packet-fc.c) names SOFi3, SOFn3, and
 * EOFn / EOFt for negative running disparity.
 */
#define FC_OS_SOF_I3            0xbcb55656u
#define FC_OS_SOF_N3            0xbcb53636u
#define FC_OS_EOF_N             0xbc95d5d5u
#define FC_OS_EOF_T             0xbc957575u

struct FcCapture {
    pcap_t *pcap;
    pcap_dumper_t *dumper;
    uint64_t frames;
};

size_t fc_capture_record(const FcFrame *f, uint8_t *buf)
{
    uint32_t len = MIN(f->len, FC_MAX_PAYLOAD);
    uint8_t *p = buf;
    uint32_t crc;

    stl_be_p(p, f->sof == FC_SOF_N3 ? FC_OS_SOF_N3 : FC_OS_SOF_I3);
    p += 4;
    memcpy(p, f->hdr, FC_HDR_LEN);
    memcpy(p + FC_HDR_LEN, f->payload, len);
    crc = crc32(0, p, FC_HDR_LEN + len);
    p += FC_HDR_LEN + len;
    stl_le_p(p, crc);
    p += 4;
    stl_be_p(p, f->eof == FC_EOF_T ? FC_OS_EOF_T : FC_OS_EOF_N);
    p += 4;
    return p - buf;
}

const char *fc_capture_parse_record(const uint8_t *rec, uint32_t len,
                                    bool delims, FcFrame *f)
{
    uint32_t head = delims ? 4 : 0;
    uint32_t tail = delims ? 8 : 0;
    uint32_t plen;

    if (len < head + FC_HDR_LEN + tail) {
        return "shorter than a frame header";
    }
    plen = len - head - FC_HDR_LEN - tail;
    if (plen > FC_MAX_PAYLOAD) {
        return "a payload over FC's 2112 bytes";
    }
    if (tail && crc32(0, rec + head, FC_HDR_LEN + plen) !=
                (uint32_t)ldl_le_p(rec + head + FC_HDR_LEN + plen)) {
        return "bad CRC";
    }
    memcpy(f->hdr, rec + head, FC_HDR_LEN);
    memcpy(f->payload, rec + head + FC_HDR_LEN, plen);
    f->len = plen;
    f->sof = FC_SOF_I3;
    f->eof = (fc_f_ctl(f) & FC_FCTL_END_SEQ) ? FC_EOF_T : FC_EOF_N;
    return NULL;
}

FcCapture *fc_capture_open(const char *path, Error **errp)
{
    FcCapture *c = g_new0(FcCapture, 1);

    c->pcap = pcap_open_dead_with_tstamp_precision(
        FC_CAPTURE_LINKTYPE, FC_CAPTURE_MAX_RECORD, PCAP_TSTAMP_PRECISION_NANO);
    if (!c->pcap) {
        error_setg(errp, "capture %s: libpcap cannot make a capture of link "
                   "type %d", path, FC_CAPTURE_LINKTYPE);
        g_free(c);
        return NULL;
    }
    c->dumper = pcap_dump_open(c->pcap, path);
    if (!c->dumper) {
        error_setg(errp, "capture %s: %s", path, pcap_geterr(c->pcap));
        pcap_close(c->pcap);
        g_free(c);
        return NULL;
    }
    pcap_dump_flush(c->dumper);         /* the file header, at once */
    return c;
}

void fc_capture_frame(FcCapture *c, const FcFrame *f)
{
    uint8_t buf[FC_CAPTURE_MAX_RECORD];
    struct pcap_pkthdr h = { 0 };
    int64_t t = MAX(f->time_ns, 0);

    h.caplen = h.len = fc_capture_record(f, buf);
    /* a nanosecond-precision pcap_t takes tv_usec as nanoseconds */
    h.ts.tv_sec = t / NANOSECONDS_PER_SECOND;
    h.ts.tv_usec = t % NANOSECONDS_PER_SECOND;
    pcap_dump((u_char *)c->dumper, &h, buf);
    pcap_dump_flush(c->dumper);
    c->frames++;
}

uint64_t fc_capture_count(const FcCapture *c)
{
    return c->frames;
}

void fc_capture_close(FcCapture *c)
{
    if (!c) {
        return;
    }
    pcap_dump_close(c->dumper);
    pcap_close(c->pcap);
    g_free(c);
}
