/*
 * QLogic ISP2532 serial flash image builder.
 *
 * Builds, from the device's properties, the flash contents the Linux driver
 * validates at probe: the boot image's PCI expansion-ROM header, the FLT
 * locator and FLT, the FDT, per-port VPD and NVRAM, and a firmware image
 * header.  Each structure follows the driver's definition (qla_fw.h) and its
 * validity checks (qla_sup.c, qla_init.c) cited below.  None of the contents
 * is QLogic code: the boot image is a 512-byte x86 option ROM whose entry
 * point only returns, and the firmware image is a synthetic two-segment
 * header.
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "isp-flash.h"

static void put_le16(uint8_t *p, uint16_t v)
{
    stw_le_p(p, v);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    stl_le_p(p, v);
}

static void put_wwn(uint8_t *p, uint64_t wwn)
{
    stq_be_p(p, wwn);   /* WWNs are stored MSB first (qla_fw.h port_name) */
}

/* Make the sum of @len/2 little-endian 16-bit words zero via @csum. */
static void fix_le16_sum(uint8_t *start, size_t len, uint8_t *csum)
{
    uint16_t sum = 0;
    size_t i;

    put_le16(csum, 0);
    for (i = 0; i + 1 < len; i += 2) {
        sum += lduw_le_p(start + i);
    }
    put_le16(csum, (uint16_t)-sum);
}

/*
 * Boot image: PCI Firmware Specification expansion-ROM header (55 AA, size
 * in 512-byte units, entry point at 3, PCIR pointer at 0x18) followed by the
 * PCI data structure.  The driver walks it in qla2xxx_find_flt_start and
 * qla24xx_get_flash_version (qla_sup.c); SeaBIOS runs it from the
 * expansion-ROM BAR, so the entry point is a far return (0xcb).
 */
static void build_boot_image(uint8_t *img)
{
    uint8_t *pcir = img + 0x20;
    uint8_t sum = 0;
    int i;

    memset(img, 0, 512);
    img[0] = 0x55;
    img[1] = 0xaa;
    img[2] = 1;                     /* length: one 512-byte block */
    img[3] = 0xcb;                  /* entry point: retf */
    put_le16(img + 0x18, 0x20);     /* PCI data structure offset */
    memcpy(pcir, "PCIR", 4);
    put_le16(pcir + 0x04, 0x1077);  /* vendor id, must match the function */
    put_le16(pcir + 0x06, 0x2532);  /* device id */
    put_le16(pcir + 0x0a, 0x18);    /* PCIR length */
    pcir[0x0d] = 0x00;              /* class code: 0c 04 00 */
    pcir[0x0e] = 0x04;
    pcir[0x0f] = 0x0c;
    put_le16(pcir + 0x10, 1);       /* image length, 512-byte units */
    pcir[0x12] = 28;                /* code revision -> "BIOS 3.28" */
    pcir[0x13] = 3;
    pcir[0x14] = 0;                 /* code type 0: x86 BIOS */
    pcir[0x15] = 0x80;              /* last image */
    memcpy(img + 0x40, "qla2532-emu boot image: no QLogic code", 38);
    for (i = 0; i < 511; i++) {
        sum += img[i];
    }
    img[511] = (uint8_t)-sum;
}

/*
 * FLT locator right after the last expansion-ROM image: struct
 * qla_flt_location (qla_fw.h), le16 sum zero (qla2xxx_find_flt_start).
 */
static void build_flt_location(uint8_t *p)
{
    memcpy(p, "QFLT", 4);
    put_le16(p + 4, ISP_FLASH_FLT & 0xffff);       /* start_lo, bytes */
    put_le16(p + 6, ISP_FLASH_FLT >> 16);          /* start_hi */
    p[8] = 1;                                      /* version */
    memset(p + 9, 0, 5);
    fix_le16_sum(p, 16, p + 14);
}

typedef struct FltRegion {
    uint16_t code;      /* FLT_REG_*, qla_fw.h */
    uint32_t start;     /* bytes */
    uint32_t size;      /* bytes */
} FltRegion;

/*
 * Flash layout table: struct qla_flt_header + struct qla_flt_region[]
 * (qla_fw.h), version 1, le16 sum over header and regions zero
 * (qla_sup.c qla2xxx_get_flt_info).
 */
static void build_flt(uint8_t *p)
{
    static const FltRegion regions[] = {
        { 0x07, ISP_FLASH_BOOT, ISP_FLASH_BOOT_SIZE },      /* BOOT_CODE */
        { 0x01, ISP_FLASH_FW, 0x70000 },                    /* FW */
        { 0x87, ISP_FLASH_FCP_PRIO0, 0x8000 },              /* FCP_PRIO_0 */
        { 0x88, ISP_FLASH_FCP_PRIO1, 0x8000 },              /* FCP_PRIO_1 */
        { 0x14, ISP_FLASH_VPD(0), ISP_FLASH_VPD_SIZE },     /* VPD_0 */
        { 0x15, ISP_FLASH_NVRAM(0), ISP_FLASH_NVRAM_SIZE }, /* NVRAM_0 */
        { 0x16, ISP_FLASH_VPD(1), ISP_FLASH_VPD_SIZE },     /* VPD_1 */
        { 0x17, ISP_FLASH_NVRAM(1), ISP_FLASH_NVRAM_SIZE }, /* NVRAM_1 */
        { 0x1a, ISP_FLASH_FDT, 0x1000 },                    /* FDT */
        { 0x1c, ISP_FLASH_FLT, 0x1000 },                    /* FLT */
        { 0x29, ISP_FLASH_NPIV0, 0x4000 },                  /* NPIV_CONF_0 */
        { 0x2a, ISP_FLASH_NPIV1, 0x4000 },                  /* NPIV_CONF_1 */
    };
    size_t n = ARRAY_SIZE(regions), i;
    uint8_t *r;

    memset(p, 0, 8 + n * 16);
    put_le16(p + 0, 1);                 /* version */
    put_le16(p + 2, n * 16);            /* length of the region entries */
    for (i = 0; i < n; i++) {
        r = p + 8 + i * 16;
        put_le16(r + 0, regions[i].code);
        put_le32(r + 4, regions[i].size);
        put_le32(r + 8, regions[i].start);
        put_le32(r + 12, regions[i].start + regions[i].size - 1);
    }
    fix_le16_sum(p, 8 + n * 16, p + 4);
}

/*
 * Flash descriptor table: struct qla_fdt_layout (128 bytes, qla_fw.h), "QLID",
 * le16 sum zero (qla_sup.c qla2xxx_get_fdt_info).  The command bytes are the
 * usual SPI NOR ones; the driver uses them only to write flash.
 */
static void build_fdt(uint8_t *p)
{
    memset(p, 0, 128);
    memcpy(p, "QLID", 4);
    put_le16(p + 4, 1);                 /* version */
    put_le16(p + 6, 128);               /* len */
    memcpy(p + 12, "emulated-2MiB", 13);/* model */
    put_le16(p + 28, 0xc2);             /* man_id */
    put_le16(p + 30, 0x2015);           /* id: 16 Mbit */
    p[33] = 0xd8;                       /* erase_cmd: 64 KiB sector erase */
    p[35] = 0x06;                       /* wrt_enable_cmd */
    p[36] = 0x9c;                       /* wrt_enable_bits */
    p[37] = 0x01;                       /* wrt_sts_reg_cmd */
    p[39] = 0x9f;                       /* read_man_id_cmd */
    put_le32(p + 40, 0x10000);          /* block_size */
    put_le32(p + 48, ISP_FLASH_SIZE);   /* flash_size */
    p[57] = 0x9c;                       /* wrt_disable_bits */
    put_le16(p + 60, 0x0010);           /* read_timeout */
    fix_le16_sum(p, 128, p + 8);
}

static size_t vpd_keyword(uint8_t *p, const char *key, const char *val)
{
    size_t len = strlen(val);

    p[0] = key[0];
    p[1] = key[1];
    p[2] = len;
    memcpy(p + 3, val, len);
    return 3 + len;
}

/*
 * VPD (PCI Local Bus Specification, "Vital Product Data"): identifier string
 * tag 0x82, VPD-R tag 0x90 with PN/SN/EC/MN keywords and the RV checksum
 * keyword, end tag 0x78.  The driver checks exactly this tag order
 * (qla_sup.c qla2xxx_is_vpd_valid) and takes model_desc from tag 0x82
 * (qla_init.c qla2x00_set_model_info) and "SN" for sysfs serial_num.
 */
static void build_vpd(uint8_t *p, const IspFlashConfig *cfg)
{
    size_t desc_len = strlen(cfg->model_desc);
    uint8_t *r, *rv;
    size_t n = 0;
    uint8_t sum = 0;
    uint8_t *q;

    p[n++] = 0x82;
    p[n++] = desc_len;
    p[n++] = 0;
    memcpy(p + n, cfg->model_desc, desc_len);
    n += desc_len;

    r = p + n;                          /* VPD-R header, length filled later */
    n += 3;
    n += vpd_keyword(p + n, "PN", cfg->model_name);
    n += vpd_keyword(p + n, "SN", cfg->serial);
    n += vpd_keyword(p + n, "EC", "EMU");
    n += vpd_keyword(p + n, "MN", "1077");
    rv = p + n;
    rv[0] = 'R';
    rv[1] = 'V';
    rv[2] = 1;
    n += 4;
    r[0] = 0x90;
    r[1] = (p + n) - (r + 3);
    r[2] = 0;
    for (q = p; q < rv + 3; q++) {
        sum += *q;
    }
    rv[3] = (uint8_t)-sum;              /* bytes 0..RV[3] sum to zero */
    p[n++] = 0x78;
}

/*
 * NVRAM: struct nvram_24xx (512 bytes, qla_fw.h), checked in qla_init.c
 * qla24xx_nvram_config: id "ISP ", nvram_version >= 1, sum of the 128
 * little-endian dwords zero.  Values are the driver's own defaults for an
 * invalid NVRAM (same function) except the WWNs, the loop ID and the
 * connection option, which come from the properties.
 */
static void build_nvram(uint8_t *p, const IspFlashConfig *cfg, int port)
{
    uint32_t sum = 0;
    int i;

    memset(p, 0, ISP_FLASH_NVRAM_SIZE);
    memcpy(p, "ISP ", 4);
    put_le16(p + 4, 1);                 /* nvram_version */
    put_le16(p + 8, 1);                 /* version */
    put_le16(p + 12, 2048);             /* frame_payload_size */
    put_le16(p + 14, 0xffff);           /* execution_throttle */
    put_le16(p + 16, 0);                /* exchange_count */
    put_le16(p + 18, cfg->hard_loop_id[port]);
    put_wwn(p + 20, cfg->wwpn[port]);
    put_wwn(p + 28, cfg->wwnn[port]);
    put_le16(p + 36, 8);                /* login_retry_count */
    put_le16(p + 42, 0);                /* login_timeout */
    /* fo1: BIT_14 node name from NVRAM, BIT_13 full login after LIP,
     * BIT_2 full duplex, BIT_1 fairness */
    put_le32(p + 44, 0x6006);
    /* fo2: BIT_12 FC-tape, bits 6:4 connection option, ZIO off */
    put_le32(p + 48, 0x1000 | ((cfg->conn_option & 7) << 4));
    /* fo3: bits 15:13 data rate */
    put_le32(p + 52, (cfg->data_rate & 7) << 13);
    put_le32(p + 256, 0x0c00);          /* host_p: BIT_11 | BIT_10 */
    p[328] = 5;                         /* reset_delay, seconds */
    put_le16(p + 336, 128);             /* max_luns_per_target */
    put_le16(p + 340, 30);              /* port_down_retry_count */
    put_le16(p + 342, 30);              /* link_down_timeout */
    strncpy((char *)p + 480, cfg->model_name, 16);
    put_le16(p + 504, cfg->subsystem_vendor);
    put_le16(p + 506, cfg->subsystem_device);
    for (i = 0; i < 127; i++) {
        sum += ldl_le_p(p + 4 * i);
    }
    put_le32(p + 508, -sum);
}

/*
 * Firmware image header in flash: two segments of big-endian dwords, dword 2
 * the RISC load address, dword 3 the length in dwords including the header,
 * dwords 4..7 the version (qla_init.c qla24xx_load_risc_flash,
 * qla_sup.c qla24xx_get_flash_version).  Synthetic: no code.
 */
static void build_fw_image(uint8_t *p, const IspFlashConfig *cfg)
{
    static const uint32_t risc_addr[2] = { 0x00100000, 0x00180000 };
    const uint32_t seg_dwords = 64;
    int seg, i;

    for (seg = 0; seg < 2; seg++) {
        uint8_t *s = p + seg * seg_dwords * 4;

        memset(s, 0, seg_dwords * 4);
        stl_be_p(s + 8, risc_addr[seg]);
        stl_be_p(s + 12, seg_dwords);
        for (i = 0; i < 4; i++) {
            stl_be_p(s + 16 + 4 * i, cfg->fw_version[i]);
        }
        memcpy(s + 40, "qla2532-emu synthetic firmware", 30);
    }
}

void isp_flash_build(uint8_t *flash, const IspFlashConfig *cfg)
{
    int port;

    memset(flash, 0xff, ISP_FLASH_SIZE);
    build_boot_image(flash + ISP_FLASH_BOOT);
    build_flt_location(flash + ISP_FLASH_BOOT + 512);
    build_fw_image(flash + ISP_FLASH_FW, cfg);
    for (port = 0; port < 2; port++) {
        memset(flash + ISP_FLASH_VPD(port), 0, ISP_FLASH_VPD_SIZE);
        build_vpd(flash + ISP_FLASH_VPD(port), cfg);
        build_nvram(flash + ISP_FLASH_NVRAM(port), cfg, port);
    }
    build_fdt(flash + ISP_FLASH_FDT);
    build_flt(flash + ISP_FLASH_FLT);
}
