/*
 * QLogic ISP2532 serial flash image: layout and builder.
 *
 * The 2 MiB flash holds the boot image, firmware, VPD and NVRAM of both
 * ports, the flash descriptor table (FDT) and the flash layout table (FLT).
 * The layout is the driver's default for ISP25xx (qla_fw.h FA_*, which are
 * dword addresses; the byte addresses below are those times four) and is
 * also described by an FLT that the driver finds through the FLT locator
 * after the last PCI expansion-ROM image (qla_sup.c qla2xxx_find_flt_start).
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_QLA2532_ISP_FLASH_H
#define HW_QLA2532_ISP_FLASH_H

/* OPTROM_SIZE_25XX, qla_def.h: bytes */
#define ISP_FLASH_SIZE              0x200000

/* Byte addresses of the regions (qla_fw.h FA_* x 4). */
#define ISP_FLASH_BOOT              0x000000    /* FA_BOOT_CODE_ADDR */
#define ISP_FLASH_BOOT_SIZE         0x040000    /* = expansion ROM BAR size */
#define ISP_FLASH_FW                0x080000    /* FA_RISC_CODE_ADDR */
#define ISP_FLASH_FCP_PRIO0         0x0f0000    /* FA_FCP_PRIO0_ADDR_25 */
#define ISP_FLASH_FCP_PRIO1         0x0f8000    /* FA_FCP_PRIO1_ADDR_25 */
#define ISP_FLASH_VPD_NVRAM         0x120000    /* FA_VPD_NVRAM_ADDR */
#define ISP_FLASH_VPD_SIZE          0x200       /* FA_NVRAM_VPD_SIZE bytes */
#define ISP_FLASH_NVRAM_SIZE        0x200       /* sizeof(struct nvram_24xx) */
#define ISP_FLASH_FDT               0x140000    /* FA_FLASH_DESCR_ADDR */
#define ISP_FLASH_FLT               0x141000    /* FA_FLASH_LAYOUT_ADDR */
#define ISP_FLASH_NPIV0             0x170000    /* FA_NPIV_CONF0_ADDR */
#define ISP_FLASH_NPIV1             0x174000    /* FA_NPIV_CONF1_ADDR */

/*
 * Per-function VPD and NVRAM: the driver reads VPD at dword
 * flt_region_vpd_nvram | (port ? 0x100 : 0) and NVRAM at
 * flt_region_vpd_nvram | (port ? 0x180 : 0x80) (qla_init.c
 * qla24xx_nvram_config, qla_fw.h FA_NVRAM_FUNC0_ADDR/FUNC1_ADDR).
 */
#define ISP_FLASH_VPD(port)   (ISP_FLASH_VPD_NVRAM + ((port) ? 0x400 : 0))
#define ISP_FLASH_NVRAM(port) (ISP_FLASH_VPD_NVRAM + ((port) ? 0x600 : 0x200))

/* Connection options, NVRAM firmware_options_2 bits 6:4 (qla_def.h). */
#define ISP_CONN_LOOP               0
#define ISP_CONN_P2P                1
#define ISP_CONN_LOOP_P2P           2   /* loop preferred, else point-to-point */
#define ISP_CONN_P2P_LOOP           3   /* point-to-point preferred, else loop */

/**
 * IspFlashConfig: what the flash image is built from.
 * @wwpn: WWPN of each of the two ports (functions 0 and 1).
 * @wwnn: WWNN of each port.
 * @hard_loop_id: NVRAM hard_address of each port (FC-AL loop ID, 0..125).
 * @conn_option: NVRAM connection option, ISP_CONN_*.
 * @data_rate: NVRAM firmware_options_3 bits 15:13 (2 = auto).
 * @subsystem_vendor/@subsystem_device: PCI subsystem ids stored in NVRAM.
 * @model_name: NVRAM model_name (<= 16 chars), e.g. "QLE2562".
 * @model_desc: VPD identifier string (tag 0x82).
 * @serial: VPD "SN" keyword.
 * @fw_version: firmware major, minor, subminor, attributes written into the
 *   flash firmware image's segment header (qla_sup.c
 *   qla24xx_get_flash_version reads dwords 4..7 of it).
 */
typedef struct IspFlashConfig {
    uint64_t wwpn[2];
    uint64_t wwnn[2];
    uint16_t hard_loop_id[2];
    uint8_t conn_option;
    uint8_t data_rate;
    uint16_t subsystem_vendor;
    uint16_t subsystem_device;
    const char *model_name;
    const char *model_desc;
    const char *serial;
    uint32_t fw_version[4];
} IspFlashConfig;

/**
 * isp_flash_build: fill @flash (ISP_FLASH_SIZE bytes) with a complete image.
 *
 * Erased flash reads 0xff; every table the driver checksums (FLT locator,
 * FLT, FDT, NVRAM, VPD RV keyword, boot image) gets a valid checksum.
 */
void isp_flash_build(uint8_t *flash, const IspFlashConfig *cfg);

#endif /* HW_QLA2532_ISP_FLASH_H */
