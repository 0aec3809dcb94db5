/*
 * QLogic ISP2532 host interface: register offsets, bits and firmware codes.
 *
 * Every value here is what the Linux 6.1 qla2xxx driver uses; the file:symbol
 * after each group names the definition (drivers/scsi/qla2xxx/...).
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_QLA2532_ISP_REGS_H
#define HW_QLA2532_ISP_REGS_H

/* struct device_reg_24xx, qla_fw.h: byte offsets into BAR1. */
#define ISP_REG_FLASH_ADDR      0x00
#define ISP_REG_FLASH_DATA      0x04
#define ISP_REG_CTRL_STATUS     0x08
#define ISP_REG_ICTRL           0x0c
#define ISP_REG_ISTATUS         0x10
#define ISP_REG_REQ_Q_IN        0x1c
#define ISP_REG_REQ_Q_OUT       0x20
#define ISP_REG_RSP_Q_IN        0x24
#define ISP_REG_RSP_Q_OUT       0x28
#define ISP_REG_PREQ_Q_IN       0x2c
#define ISP_REG_PREQ_Q_OUT      0x30
#define ISP_REG_ATIO_Q_IN       0x3c
#define ISP_REG_ATIO_Q_OUT      0x40
#define ISP_REG_HOST_STATUS     0x44
#define ISP_REG_HCCR            0x48
#define ISP_REG_GPIOD           0x4c
#define ISP_REG_GPIOE           0x50
#define ISP_REG_IOBASE_ADDR     0x54
#define ISP_REG_MAILBOX0        0x80    /* mailbox0..31, 16 bit each */
#define ISP_REG_IOBASE_WINDOW   0xc0
#define ISP_REG_BLOCK_SIZE      0x100   /* MIN_IOBASE_LEN, qla_def.h */

#define ISP_NUM_MAILBOXES       32      /* MAILBOX_REGISTER_COUNT, qla_def.h */

/* flash_addr, qla_fw.h FARX_* */
#define FARX_DATA_FLAG          (1u << 31)
#define FARX_ACCESS_FLASH_CONF  0x7ffd0000
#define FARX_ACCESS_FLASH_DATA  0x7ff00000
#define FARX_ACCESS_NVRAM_CONF  0x7fff0000
#define FARX_ACCESS_NVRAM_DATA  0x7ffe0000

/* ctrl_status, qla_fw.h CSRX_* */
#define CSRX_FLASH_ACCESS_ERROR (1u << 18)
#define CSRX_DMA_ACTIVE         (1u << 17)
#define CSRX_DMA_SHUTDOWN       (1u << 16)
#define CSRX_FUNCTION           (1u << 15)
#define CSRX_ISP_SOFT_RESET     (1u << 0)
#define CSRX_FLASH_ENABLE       (1u << 1)
#define CSRX_WRITABLE_MASK      0x000100f2  /* bits the driver writes back */

/* ictrl, qla_fw.h ICRX_EN_RISC_INT */
#define ICRX_EN_RISC_INT        (1u << 3)

/* istatus, qla_fw.h ISRX_RISC_INT */
#define ISRX_RISC_INT           (1u << 3)

/* host_status, qla_fw.h HSRX_* */
#define HSRX_RISC_INT           (1u << 15)
#define HSRX_RISC_PAUSED        (1u << 8)

/* host_status[7:0] interrupt types, qla_def.h INTR_* */
#define INTR_ROM_MB_SUCCESS     0x01
#define INTR_ROM_MB_FAILED      0x02
#define INTR_MB_SUCCESS         0x10
#define INTR_MB_FAILED          0x11
#define INTR_ASYNC_EVENT        0x12
#define INTR_RSP_QUE_UPDATE     0x13
#define INTR_ATIO_QUE_UPDATE    0x1c
#define INTR_ATIO_RSP_QUE_UPDATE 0x1d

/* hccr commands (bits 31:28), qla_fw.h HCCRX_* */
#define HCCRX_CMD_MASK          0xf0000000u
#define HCCRX_NOOP              0x00000000u
#define HCCRX_SET_RISC_RESET    0x10000000u
#define HCCRX_CLR_RISC_RESET    0x20000000u
#define HCCRX_SET_RISC_PAUSE    0x30000000u
#define HCCRX_REL_RISC_PAUSE    0x40000000u
#define HCCRX_SET_HOST_INT      0x50000000u
#define HCCRX_CLR_HOST_INT      0x60000000u
#define HCCRX_CLR_RISC_INT      0xa0000000u
/* hccr read-back status bits, qla_fw.h HCCRX_HOST_INT / HCCRX_RISC_RESET */
#define HCCRX_STAT_RISC_RESET   (1u << 5)
#define HCCRX_STAT_HOST_INT     (1u << 6)

/* Mailbox completion status, qla_def.h MBS_* */
#define MBS_COMMAND_COMPLETE    0x4000
#define MBS_INVALID_COMMAND     0x4001
#define MBS_HOST_INTERFACE_ERROR 0x4002
#define MBS_TEST_FAILED         0x4003
#define MBS_COMMAND_ERROR       0x4005
#define MBS_COMMAND_PARAMETER_ERROR 0x4006
#define MBS_LINK_DOWN_ERROR     0x400b
#define MBS_CHECKSUM_ERROR      0x4010

/* Mailbox opcodes, qla_def.h MBC_* */
#define MBC_NOP                         0x00
#define MBC_WRITE_SERDES                0x03
#define MBC_READ_SERDES                 0x04
#define MBC_PORT_PARAMS                 0x1a
#define MBC_GEN_SYSTEM_ERROR            0x2a
#define MBC_WRITE_SFP                   0x30
#define MBC_GET_MEM_OFFLOAD_CNTRL_STAT  0x34
#define MBC_DIAGNOSTIC_ECHO             0x44
#define MBC_DIAGNOSTIC_LOOP_BACK        0x45
#define MBC_IOCB_COMMAND_A64            0x54
#define MBC_EXECUTE_FIRMWARE            0x02
#define MBC_MAILBOX_REGISTER_TEST       0x06
#define MBC_VERIFY_CHECKSUM             0x07
#define MBC_GET_FIRMWARE_VERSION        0x08
#define MBC_LOAD_RISC_RAM_EXTENDED      0x0b
#define MBC_DUMP_RISC_RAM_EXTENDED      0x0c
#define MBC_SERDES_PARAMS               0x10
#define MBC_STOP_FIRMWARE               0x14
#define MBC_GET_ADAPTER_LOOP_ID         0x20
#define MBC_GET_RETRY_COUNT             0x22
#define MBC_TRACE_CONTROL               0x27
#define MBC_GET_FIRMWARE_OPTION         0x28
#define MBC_READ_SFP                    0x31
#define MBC_SET_FIRMWARE_OPTION         0x38
#define MBC_GET_RESOURCE_COUNTS         0x42
#define MBC_MID_INITIALIZE_FIRMWARE     0x48
#define MBC_SET_RNID_PARAMS             0x59
#define MBC_GET_RNID_PARAMS             0x5a
#define MBC_DATA_RATE                   0x5d
#define MBC_INITIALIZE_FIRMWARE         0x60
#define MBC_GET_FC_AL_POSITION_MAP      0x63
#define MBC_GET_PORT_DATABASE           0x64
#define MBC_GET_FIRMWARE_STATE          0x69
#define MBC_GET_PORT_NAME               0x6a
#define MBC_SEND_CHANGE_REQUEST         0x70
#define MBC_GET_LINK_PRIV_STATS         0x6d
#define MBC_LIP_FULL_LOGIN              0x72
#define MBC_GET_PORT_NAME_LIST          0x75
#define MBC_GET_ID_LIST                 0x7c

/* Firmware states reported by MBC 0x69 mb1, qla_def.h FSTATE_* */
#define FSTATE_CONFIG_WAIT      0
#define FSTATE_WAIT_AL_PA       1
#define FSTATE_WAIT_LOGIN       2
#define FSTATE_READY            3
#define FSTATE_LOSS_OF_SYNC     4
#define FSTATE_ERROR            5

/* Asynchronous event codes, qla_def.h MBA_* */
#define MBA_SYSTEM_ERR          0x8002
#define MBA_REQ_TRANSFER_ERR    0x8003
#define MBA_RSP_TRANSFER_ERR    0x8004
#define MBA_ZIO_RESPONSE        0x8040
#define MBA_LIP_OCCURRED        0x8010
#define MBA_LOOP_UP             0x8011
#define MBA_LOOP_DOWN           0x8012
#define MBA_LIP_RESET           0x8013
#define MBA_PORT_UPDATE         0x8014

/* Link speed codes in LOOP UP mb1 and MBC 0x5d, qla_def.h PORT_SPEED_* */
#define PORT_SPEED_1GB          0x00
#define PORT_SPEED_2GB          0x01
#define PORT_SPEED_4GB          0x03
#define PORT_SPEED_8GB          0x04

/* Topology in MBC 0x20 mb6, qla_init.c qla2x00_configure_hba */
#define ISP_TOPO_NL             0   /* private loop */
#define ISP_TOPO_FL             1
#define ISP_TOPO_N2N            2
#define ISP_TOPO_F              3

/* IOCB entry types (request/response rings), qla_fw.h / qla_def.h */
#define IOCB_SIZE               64  /* REQUEST_ENTRY_SIZE */
#define ET_STATUS_TYPE          0x03
#define ET_STATUS_CONT_TYPE     0x10
#define ET_TSK_MGMT             0x14
#define ET_COMMAND_TYPE_7       0x18
#define ET_MARKER_TYPE          0x04
#define ET_CONTINUE_A64_TYPE    0x0a
#define ET_CTIO_TYPE7           0x12
#define ET_ABTS_RESP            0x55
#define ET_MBX_IOCB_TYPE        0x39

/* IOCB entry_status bits, qla_def.h RF_* */
#define RF_INV_E_ORDER          (1u << 5)
#define RF_INV_E_COUNT          (1u << 4)
#define RF_INV_E_PARAM          (1u << 3)
#define RF_INV_E_TYPE           (1u << 2)
#define RF_BUSY                 (1u << 1)

/* Response-entry signature the driver writes after consuming an entry. */
#define RESPONSE_PROCESSED      0xdeaddead

#endif /* HW_QLA2532_ISP_REGS_H */
