/*
 * qlbsg: qla2xxx vendor requests through an FC host's bsg node, the way
 * QLogic's management tools (QConvergeConsole, qaucli) issue them, for the
 * guest tests (harness/tests/test_card.py).  Built static by the harness
 * (qlaemu.image.guest_tool) and run in the guest.
 *
 *   qlbsg DEV loopback LEN OPTIONS ITER    QL_VND_LOOPBACK (MBC 0x45)
 *   qlbsg DEV serdes-write ADDR VAL        QL_VND_SERDES_OP (MBC 0x03)
 *   qlbsg DEV serdes-read ADDR             QL_VND_SERDES_OP (MBC 0x04)
 *   qlbsg DEV i2c-write DEV OFF HEX        QL_VND_WRITE_I2C (MBC 0x30)
 *   qlbsg DEV i2c-read DEV OFF LEN         QL_VND_READ_I2C (MBC 0x31)
 *   qlbsg DEV iidma WWPN MODE SPEED        QL_VND_IIDMA (MBC 0x1a)
 *
 * DEV is /dev/bsg/fc_hostN.  Each prints "vendor_rsp=N" (the driver's
 * EXT_STATUS_*, qla_bsg.h) and what came back, and exits 0 when the
 * SG_IO ioctl itself succeeded, 1 otherwise, 2 on a usage error.
 *
 * The request and reply layouts are the kernel's UAPI
 * (include/uapi/scsi/scsi_bsg_fc.h: struct fc_bsg_request, fc_bsg_reply;
 * include/uapi/scsi/scsi_netlink.h: SCSI_NL_VID_TYPE_PCI) and the
 * driver's (drivers/scsi/qla2xxx/qla_bsg.h), restated here because
 * Debian's linux-libc-dev does not ship scsi_bsg_fc.h.
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/bsg.h>
#include <scsi/sg.h>

#define FC_BSG_HST_VENDOR       0x800000ffu
#define SCSI_NL_VID_TYPE_PCI    (1ull << 56)
#define PCI_VENDOR_ID_QLOGIC    0x1077
#define QL_VND_LOOPBACK         0x01
#define QL_VND_IIDMA            0x05
#define QL_VND_WRITE_I2C        0x10
#define QL_VND_READ_I2C         0x11
#define QL_VND_SERDES_OP        0x13
#define SERDES_READ             1
#define SERDES_WRITE            2

struct vendor_request {                 /* fc_bsg_request, h_vendor */
    uint32_t msgcode;
    uint64_t vendor_id;
    uint32_t vendor_cmd[13];    /* past sizeof(fc_bsg_request) + 3 words */
} __attribute__((packed));

struct vendor_reply {                   /* fc_bsg_reply, vendor_reply */
    uint32_t result;
    uint32_t reply_payload_rcv_len;
    uint32_t vendor_rsp[64];
} __attribute__((packed));

struct i2c_access {                     /* qla_bsg.h qla_i2c_access */
    uint16_t device, offset, option, length;
    uint8_t buffer[0x40];
} __attribute__((packed));

struct serdes_reg {                     /* qla_bsg.h qla_serdes_reg */
    uint16_t cmd, addr, val;
} __attribute__((packed));

struct port_param {                     /* qla_bsg.h qla_port_param */
    uint8_t wwpn[8];
    uint16_t dest_type;                 /* EXT_DEF_TYPE_WWPN = 2 */
    uint16_t lun;
    uint16_t padding[2];
    uint16_t mode;
    uint16_t speed;
} __attribute__((packed));

/*
 * sizeof(struct fc_bsg_request): the message code and the union, whose
 * largest member is h_ct (16 bytes).  qla_bsg.c qla24xx_iidma reads its
 * struct qla_port_param from the request right after it.
 */
#define FC_BSG_REQUEST_SIZE     20

static int vendor_ex(const char *dev, uint32_t cmd, uint32_t arg1,
                     uint32_t arg2, const void *tail, uint32_t tail_len,
                     void *out, uint32_t out_len, void *in, uint32_t in_len,
                     struct vendor_reply *rep)
{
    struct vendor_request req = {
        .msgcode = FC_BSG_HST_VENDOR,
        .vendor_id = SCSI_NL_VID_TYPE_PCI | PCI_VENDOR_ID_QLOGIC,
        .vendor_cmd = { cmd, arg1, arg2 },
    };
    struct sg_io_v4 io;
    int fd;

    if (tail_len > sizeof(req) - FC_BSG_REQUEST_SIZE) {
        return -1;
    }
    memcpy((uint8_t *)&req + FC_BSG_REQUEST_SIZE, tail, tail_len);
    fd = open(dev, O_RDWR);
    if (fd < 0) {
        fprintf(stderr, "qlbsg: %s: %s\n", dev, strerror(errno));
        return -1;
    }
    memset(&io, 0, sizeof(io));
    memset(rep, 0, sizeof(*rep));
    io.guard = 'Q';
    io.protocol = BSG_PROTOCOL_SCSI;
    io.subprotocol = BSG_SUB_PROTOCOL_SCSI_TRANSPORT;
    io.request_len = sizeof(req);
    io.request = (uintptr_t)&req;
    io.response = (uintptr_t)rep;
    io.max_response_len = sizeof(*rep);
    io.dout_xferp = (uintptr_t)out;
    io.dout_xfer_len = out_len;
    io.din_xferp = (uintptr_t)in;
    io.din_xfer_len = in_len;
    io.timeout = 30000;
    if (ioctl(fd, SG_IO, &io) < 0) {
        fprintf(stderr, "qlbsg: SG_IO: %s\n", strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    printf("vendor_rsp=%u result=0x%x", rep->vendor_rsp[0], rep->result);
    return 0;
}

static int vendor(const char *dev, uint32_t cmd, uint32_t arg1,
                  uint32_t arg2, void *out, uint32_t out_len, void *in,
                  uint32_t in_len, struct vendor_reply *rep)
{
    return vendor_ex(dev, cmd, arg1, arg2, NULL, 0, out, out_len, in,
                     in_len, rep);
}

static unsigned long num(const char *s)
{
    return strtoul(s, NULL, 0);
}

int main(int argc, char **argv)
{
    struct vendor_reply rep;
    const char *dev = argc > 2 ? argv[1] : NULL;
    const char *op = argc > 2 ? argv[2] : "";

    if (!strcmp(op, "loopback") && argc == 6) {
        uint32_t len = num(argv[3]), i, same = 1;
        uint8_t *out = malloc(len), *in = calloc(1, len);

        for (i = 0; i < len; i++) {
            out[i] = i * 7 + 3;
        }
        if (vendor(dev, QL_VND_LOOPBACK, num(argv[4]), num(argv[5]), out,
                   len, in, len, &rep) < 0) {
            return 1;
        }
        /*
         * qla_bsg.c qla2x00_process_loopback: the status is in result
         * (DID_ERROR << 16 on failure) and the mailboxes follow the
         * 16-byte fc_bsg_reply (its union's largest member, ctels_reply,
         * is 8 bytes)
         */
        same = !memcmp(out, in, len);
        printf(" mb0=0x%04x data=%s\n",
               *(uint16_t *)((uint8_t *)&rep + 16), same ? "same" : "differs");
        return 0;
    }
    if (!strcmp(op, "serdes-write") && argc == 5) {
        struct serdes_reg sr = { SERDES_WRITE, num(argv[3]), num(argv[4]) };

        if (vendor(dev, QL_VND_SERDES_OP, 0, 0, &sr, sizeof(sr), NULL, 0,
                   &rep) < 0) {
            return 1;
        }
        printf("\n");
        return 0;
    }
    if (!strcmp(op, "serdes-read") && argc == 4) {
        struct serdes_reg sr = { SERDES_READ, num(argv[3]), 0 }, back;

        memset(&back, 0, sizeof(back));
        if (vendor(dev, QL_VND_SERDES_OP, 0, 0, &sr, sizeof(sr), &back,
                   sizeof(back), &rep) < 0) {
            return 1;
        }
        printf(" val=0x%04x\n", back.val);
        return 0;
    }
    if ((!strcmp(op, "i2c-write") || !strcmp(op, "i2c-read")) &&
        argc == 6) {
        struct i2c_access a, back;
        int wr = !strcmp(op, "i2c-write");
        unsigned i;

        memset(&a, 0, sizeof(a));
        memset(&back, 0, sizeof(back));
        a.device = num(argv[3]);
        a.offset = num(argv[4]);
        if (wr) {
            const char *h = argv[5];

            for (i = 0; h[2 * i] && h[2 * i + 1] && i < sizeof(a.buffer);
                 i++) {
                char b[3] = { h[2 * i], h[2 * i + 1], 0 };

                a.buffer[i] = strtoul(b, NULL, 16);
            }
            a.length = i;
        } else {
            a.length = num(argv[5]);
        }
        if (vendor(dev, wr ? QL_VND_WRITE_I2C : QL_VND_READ_I2C, 0, 0, &a,
                   sizeof(a), &back, sizeof(back), &rep) < 0) {
            return 1;
        }
        printf(" data=");
        for (i = 0; !wr && i < a.length && i < sizeof(back.buffer); i++) {
            printf("%02x", back.buffer[i]);
        }
        printf("\n");
        return 0;
    }
    if (!strcmp(op, "iidma") && argc == 6) {
        struct port_param p, back;
        uint64_t wwpn = strtoull(argv[3], NULL, 0);
        int i;

        memset(&p, 0, sizeof(p));
        memset(&back, 0, sizeof(back));
        for (i = 0; i < 8; i++) {
            p.wwpn[i] = wwpn >> (56 - 8 * i);
        }
        p.dest_type = 2;
        p.mode = num(argv[4]);
        p.speed = num(argv[5]);
        /* the parameters follow the request; a get's answer follows the
         * 16-byte fc_bsg_reply (qla_bsg.c qla24xx_iidma) */
        if (vendor_ex(dev, QL_VND_IIDMA, 0, 0, &p, sizeof(p), NULL, 0, NULL,
                      0, &rep) < 0) {
            return 1;
        }
        memcpy(&back, (uint8_t *)&rep + 16, sizeof(back));
        if (p.mode) {
            printf(" set\n");
        } else {
            printf(" speed=%u\n", back.speed);
        }
        return 0;
    }
    fprintf(stderr, "usage: qlbsg /dev/bsg/fc_hostN loopback LEN OPT ITER"
            " | serdes-write ADDR VAL | serdes-read ADDR"
            " | i2c-write DEV OFF HEX | i2c-read DEV OFF LEN"
            " | iidma WWPN MODE SPEED\n");
    return 2;
}
