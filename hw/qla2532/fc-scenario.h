/*
 * Scenario files of the simulated initiator: the JSON schema of
 * docs/scenario.md, its checks and its defaults, loaded into a plain,
 * read-only program (FcScenario) that the SCSI engine (fc-sim-scsi.c)
 * runs.  Nothing here touches the link, the clock or the device: a
 * scenario is the same program wherever it runs, and everything the
 * engine keeps of a run is apart from it.
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_QLA2532_FC_SCENARIO_H
#define HW_QLA2532_FC_SCENARIO_H

#include "qapi/error.h"

/* Logical block size the read/write operations assume (bytes). */
#define FC_SCN_BLOCK_SIZE       512
/* Limits of a scenario; larger input is refused with an error. */
#define FC_SCN_MAX_XFER         (16 * 1024 * 1024)  /* bytes per command */
#define FC_SCN_MAX_BLOCKS       (FC_SCN_MAX_XFER / FC_SCN_BLOCK_SIZE)
#define FC_SCN_MAX_STEPS        4096                /* commands */
#define FC_SCN_MAX_FILE         (1024 * 1024)       /* file bytes */
#define FC_SCN_MAX_LUNS         1024                /* in an expectation */

/*
 * Defaults of the top-level keys (docs/scenario.md "Top-level keys");
 * times in ns.
 */
#define FC_SCN_DEFAULT_FIRST_DELAY_NS   (100 * 1000LL)      /* 100 µs */
#define FC_SCN_DEFAULT_GAP_NS           (20 * 1000LL)       /* 20 µs */
#define FC_SCN_DEFAULT_TIMEOUT_NS       (2000 * 1000000LL)  /* 2 s */
#define FC_SCN_DEFAULT_BUSY_DELAY_NS    (1000 * 1000LL)     /* 1 ms */
#define FC_SCN_DEFAULT_RETRIES          2
#define FC_SCN_DEFAULT_MAX_PASSES       16
#define FC_SCN_DEFAULT_SCAN_MAX         8
#define FC_SCN_DEFAULT_SCAN_INTERVAL_NS (500 * 1000000LL)   /* 500 ms */

/* The operations a step can name ("op"). */
typedef enum FcScenarioOp {
    FC_SCN_OP_REPORT_LUNS,
    FC_SCN_OP_INQUIRY,
    FC_SCN_OP_TUR,
    FC_SCN_OP_READ_CAP16,
    FC_SCN_OP_READ10,
    FC_SCN_OP_WRITE10,
    FC_SCN_OP_READ16,
    FC_SCN_OP_WRITE16,
    FC_SCN_OP_CDB,
    FC_SCN_OP__MAX
} FcScenarioOp;

/* The scenario name of each FcScenarioOp ("read-10", ...). */
extern const char *const fc_scenario_op_names[FC_SCN_OP__MAX];

/* Answers to an ABTS (expected by a step, or observed by the engine). */
typedef enum FcScenarioAbts {
    FC_SCN_ABTS_NOT_SENT,
    FC_SCN_ABTS_BA_ACC,
    FC_SCN_ABTS_BA_RJT,
    FC_SCN_ABTS_NONE,           /* sent, no answer in time */
    FC_SCN_ABTS__MAX
} FcScenarioAbts;

/* "not-sent", "ba-acc", "ba-rjt", "none". */
extern const char *const fc_scenario_abts_names[FC_SCN_ABTS__MAX];

/**
 * FcScenarioExpect: what a command's answer must be; -1 / false: not
 * checked.  @status is checked always: GOOD unless the scenario names
 * another.  @luns is sorted ascending, @nluns entries.
 */
typedef struct FcScenarioExpect {
    int status;
    bool status_given;
    int sense_key;
    int asc;
    int ascq;
    char *vendor;
    bool has_block_size;
    uint32_t block_size;        /* bytes */
    bool has_last_lba;
    uint64_t last_lba;
    bool has_luns;
    uint64_t *luns;
    unsigned nluns;
    bool has_abts;
    FcScenarioAbts abts;
} FcScenarioExpect;

/**
 * FcScenarioStep: one command of the list as the file gives it, with the
 * defaults applied and the CDB, direction and FCP_DL fixed.
 */
typedef struct FcScenarioStep {
    FcScenarioOp op;
    char *name;                 /* NULL: unnamed */
    uint64_t lun;
    uint64_t lba;               /* of the data pattern (0 for "cdb") */
    uint32_t blocks;
    uint8_t cdb[16];
    bool read;
    bool write;
    uint32_t xfer_len;          /* FCP_DL, bytes */
    uint32_t pattern;           /* seed of the written data */
    bool has_compare;
    uint32_t compare;           /* seed the read data must match */
    bool withhold;              /* never send the write data */
    int64_t abort_after_ns;     /* -1: no ABTS of our own */
    int64_t delay_ns;           /* -1: the scenario's gap_ns */
    unsigned retries;
    FcScenarioExpect expect;
} FcScenarioStep;

/**
 * FcScenario: a loaded scenario file.  Times in ns; @steps has @nsteps
 * entries (0 allowed).  Read-only once loaded.
 */
typedef struct FcScenario {
    char *path;
    uint32_t digest;            /* FNV-1a of the file: saved state names it */
    char *name;                 /* "name", or NULL */
    uint64_t lun;
    int64_t first_delay_ns;
    int64_t gap_ns;
    int64_t timeout_ns;
    int64_t busy_delay_ns;
    unsigned retries;
    bool scan;                  /* "bios-scan" given */
    unsigned scan_max;
    int64_t scan_interval_ns;
    bool repeat;
    unsigned max_passes;
    unsigned lips;              /* LIPs to originate, one after each pass */
    int64_t lip_delay_ns;       /* from the end of a pass to its LIP */
    FcScenarioStep *steps;
    unsigned nsteps;
} FcScenario;

/**
 * fc_scenario_load: read and check the scenario file at @path
 * (docs/scenario.md).
 * Returns the scenario, or NULL with @errp set to a message that names
 * the file and the offending key ("commands[3].lba: ...") when the file
 * cannot be read, is larger than FC_SCN_MAX_FILE, holds a NUL byte, is
 * not a JSON object, or breaks the schema.
 */
FcScenario *fc_scenario_load(const char *path, Error **errp);

/* Free @scn and everything it owns; NULL is ignored. */
void fc_scenario_free(FcScenario *scn);

/* The operation transfers blocks from / to the target (read-N, write-N). */
bool fc_scenario_op_reads(FcScenarioOp op);
bool fc_scenario_op_writes(FcScenarioOp op);

/* Sort @n LUNs ascending (the order of FcScenarioExpect.luns). */
void fc_scenario_sort_luns(uint64_t *luns, unsigned n);

#endif /* HW_QLA2532_FC_SCENARIO_H */
