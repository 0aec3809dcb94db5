/*
 * Fibre Channel FC-2 frames as they travel on the emulated link.
 *
 * A frame is its start-of-frame delimiter, the 24-byte frame header
 * (FC-FS-3 §9.1, all fields big-endian), the payload (at most 2112 bytes)
 * and its end-of-frame delimiter; the CRC is implied.  Every frame on the
 * link carries the virtual time it was sent, so a capture (pcap with
 * Wireshark's FC-2 link types) or an event log can be made of it later.
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_QLA2532_FC_H
#define HW_QLA2532_FC_H

#include "qemu/bswap.h"

#define FC_HDR_LEN              24
#define FC_MAX_PAYLOAD          2112

/* R_CTL routing and information categories (FC-FS-3 §9.3) */
#define FC_RCTL_DD_UNSOL_CTL    0x02    /* FC-4 device data: unsolicited control */
#define FC_RCTL_DD_SOL_DATA     0x01    /* solicited data (FCP_DATA) */
#define FC_RCTL_DD_DATA_DESC    0x05    /* FCP_XFER_RDY */
#define FC_RCTL_DD_UNSOL_CMD    0x06    /* FCP_CMND */
#define FC_RCTL_DD_CMD_STATUS   0x07    /* FCP_RSP */
#define FC_RCTL_ELS_REQ         0x22    /* extended link service request */
#define FC_RCTL_ELS_REP         0x23    /* extended link service reply */
#define FC_RCTL_BA_ABTS         0x81    /* basic link service ABTS */
#define FC_RCTL_BA_ACC          0x84
#define FC_RCTL_BA_RJT          0x85

/* TYPE (FC-FS-3 §9.6) */
#define FC_TYPE_BLS             0x00
#define FC_TYPE_ELS             0x01
#define FC_TYPE_FCP             0x08

/* F_CTL bits (FC-FS-3 §9.8), 24 bits */
#define FC_FCTL_EX_CTX          (1u << 23)  /* sent by the responder */
#define FC_FCTL_SEQ_CTX         (1u << 22)
#define FC_FCTL_FIRST_SEQ       (1u << 21)
#define FC_FCTL_LAST_SEQ        (1u << 20)
#define FC_FCTL_END_SEQ         (1u << 19)
#define FC_FCTL_SEQ_INIT        (1u << 16)
#define FC_FCTL_REL_OFF         (1u << 3)   /* param: relative offset */

/* SOF / EOF delimiters (FC-FS-3 §4.3): the model's own codes for SOFi3,
 * SOFn3, EOFn and EOFt; a capture writer maps them to its format. */
#define FC_SOF_I3               0x2e
#define FC_SOF_N3               0x36
#define FC_EOF_N                0x41
#define FC_EOF_T                0x42

/* ELS command codes (FC-LS-3 §4.2) */
#define ELS_LS_RJT              0x01
#define ELS_LS_ACC              0x02
#define ELS_PLOGI               0x03
#define ELS_FLOGI               0x04
#define ELS_LOGO                0x05
#define ELS_PRLI                0x20
#define ELS_PRLO                0x21
#define ELS_ADISC               0x52

/* FCP-4 information units: FCP_CMND (§9.2), FCP_XFER_RDY (§9.3), FCP_RSP
 * (§9.5) */
#define FCP_CMND_LEN            32  /* without additional CDB */
#define FCP_CMND_WRDATA         0x01    /* byte 11 */
#define FCP_CMND_RDDATA         0x02
#define FCP_XFER_RDY_LEN        12
#define FCP_RSP_MIN_LEN         24
#define FCP_RSP_LEN_VALID       0x01    /* byte 10 */
#define FCP_SNS_LEN_VALID       0x02
#define FCP_RESID_OVER          0x04
#define FCP_RESID_UNDER         0x08
#define FCP_CONF_REQ            0x10
/* BA_ACC payload (FC-FS-3 §15.3.2) */
#define FC_BA_ACC_LEN           12

/* Well-known addresses (FC-FS-3 §11) */
#define FC_FID_FLOGI            0xfffffe

/**
 * FcFrame: one FC-2 frame.
 * @sof/@eof: delimiters (FC_SOF_*, FC_EOF_*).
 * @hdr: the frame header as on the wire.
 * @len: payload length in bytes, 0..FC_MAX_PAYLOAD.
 * @payload: the payload as on the wire.
 * @time_ns: virtual time (QEMU_CLOCK_VIRTUAL) the frame was sent.
 */
typedef struct FcFrame {
    uint8_t sof;
    uint8_t eof;
    uint8_t hdr[FC_HDR_LEN];
    uint32_t len;
    int64_t time_ns;
    uint8_t payload[FC_MAX_PAYLOAD];
} FcFrame;

static inline uint32_t fc_get24(const uint8_t *p)
{
    return (uint32_t)p[0] << 16 | p[1] << 8 | p[2];
}

static inline void fc_put24(uint8_t *p, uint32_t v)
{
    p[0] = v >> 16;
    p[1] = v >> 8;
    p[2] = v;
}

static inline uint8_t fc_r_ctl(const FcFrame *f) { return f->hdr[0]; }
static inline uint32_t fc_d_id(const FcFrame *f) { return fc_get24(f->hdr + 1); }
static inline uint32_t fc_s_id(const FcFrame *f) { return fc_get24(f->hdr + 5); }
static inline uint8_t fc_type(const FcFrame *f) { return f->hdr[8]; }
static inline uint32_t fc_f_ctl(const FcFrame *f) { return fc_get24(f->hdr + 9); }
static inline uint16_t fc_ox_id(const FcFrame *f) { return lduw_be_p(f->hdr + 16); }
static inline uint16_t fc_rx_id(const FcFrame *f) { return lduw_be_p(f->hdr + 18); }
static inline uint32_t fc_param(const FcFrame *f) { return ldl_be_p(f->hdr + 20); }

/**
 * fc_frame_init: fill a frame header.
 * @f: frame; @len payload bytes must already be in @f->payload.
 * Sequence fields: SEQ_ID 0, SEQ_CNT 0, DF_CTL 0: a one-frame sequence;
 * a caller building a longer sequence sets SEQ_CNT and @sof itself.
 */
static inline void fc_frame_init(FcFrame *f, uint8_t r_ctl, uint32_t d_id,
                                 uint32_t s_id, uint8_t type, uint32_t f_ctl,
                                 uint16_t ox_id, uint16_t rx_id,
                                 uint32_t param, uint32_t len)
{
    memset(f->hdr, 0, FC_HDR_LEN);
    f->hdr[0] = r_ctl;
    fc_put24(f->hdr + 1, d_id);
    fc_put24(f->hdr + 5, s_id);
    f->hdr[8] = type;
    fc_put24(f->hdr + 9, f_ctl);
    stw_be_p(f->hdr + 16, ox_id);
    stw_be_p(f->hdr + 18, rx_id);
    stl_be_p(f->hdr + 20, param);
    f->len = len;
    /* class 3: SOFi3 opens every sequence, EOFt ends its last frame */
    f->sof = FC_SOF_I3;
    f->eof = (f_ctl & FC_FCTL_END_SEQ) ? FC_EOF_T : FC_EOF_N;
}

#endif /* HW_QLA2532_FC_H */
