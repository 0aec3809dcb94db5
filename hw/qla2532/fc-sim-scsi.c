/*
 * SCSI initiator engine of the simulated remote port.
 *
 * It runs a scenario (docs/scenario.md) the way an initiator HBA driver
 * would: after the PRLI is accepted it sends SCSI commands as FCP-4
 * exchanges (FCP_CMND, FCP_DATA in answer to FCP_XFER_RDY, reassembly of
 * FCP_DATA by relative offset, FCP_RSP), one command at a time, with a
 * command timeout followed by ABTS, retries on timeout and BUSY / TASK SET
 * FULL, and restarts after a logout.  Every answer is checked against the
 * scenario's expectations; events and counters go to the device's FcLog
 * and the outcome to the device's report.  Only the virtual clock is used
 * and nothing is random, so a run is reproducible.
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "qemu/timer.h"
#include "qapi/error.h"
#include "qapi/qmp/qbool.h"
#include "qapi/qmp/qdict.h"
#include "qapi/qmp/qjson.h"
#include "qapi/qmp/qlist.h"
#include "qapi/qmp/qnum.h"
#include "qapi/qmp/qstring.h"
#include "scsi/constants.h"
#include "fc-sim-port.h"
#include "fc-sim-scsi.h"

/* SPC-4 sense key UNIT ATTENTION */
#define SIM_SENSE_UNIT_ATTENTION 0x06

#define SIM_BLOCK_SIZE          512
#define SIM_MAX_XFER            (16 * 1024 * 1024)  /* bytes per command */
#define SIM_MAX_BLOCKS          (SIM_MAX_XFER / SIM_BLOCK_SIZE)
#define SIM_MAX_STEPS           4096
#define SIM_MAX_FILE            (1024 * 1024)       /* scenario file bytes */
#define SIM_MAX_REASONS         32                  /* kept per command */
#define SIM_MAX_INTERRUPTS      256                 /* kept per scenario */
#define SIM_MAX_LUNS            1024                /* in an expectation */
#define SIM_DATA_FRAME          2048                /* FCP_DATA payload */
#define SIM_US                  1000LL
#define SIM_MS                  1000000LL
/* 2 x R_A_TOV, R_A_TOV = 10 s (FC-FS-3 Table 48, and qla2xxx's default) */
#define SIM_ABTS_TIMEOUT_NS     (20000 * SIM_MS)

/* FCP-4 information units */
#define FCP_CMND_LEN            32
#define FCP_CMND_WRDATA         0x01
#define FCP_CMND_RDDATA         0x02
#define FCP_XFER_RDY_LEN        12
#define FCP_RSP_MIN_LEN         24
#define FCP_RSP_LEN_VALID       0x01
#define FCP_SNS_LEN_VALID       0x02
#define FCP_RESID_OVER          0x04
#define FCP_RESID_UNDER         0x08

/* F_CTL bit 3: the parameter field is a relative offset (FC-FS-3 §9.8) */
#define FC_FCTL_REL_OFF         (1u << 3)

/* BA_ACC payload (FC-FS-3 §15.3.2) */
#define FC_BA_ACC_LEN           12
#define FC_BA_RJT_LEN           4

typedef enum SimOp {
    SIM_OP_REPORT_LUNS,
    SIM_OP_INQUIRY,
    SIM_OP_TUR,
    SIM_OP_READ_CAP16,
    SIM_OP_READ10,
    SIM_OP_WRITE10,
    SIM_OP_READ16,
    SIM_OP_WRITE16,
    SIM_OP_CDB,
    SIM_OP__MAX
} SimOp;

static const char *const sim_op_names[SIM_OP__MAX] = {
    [SIM_OP_REPORT_LUNS] = "report-luns",
    [SIM_OP_INQUIRY] = "inquiry",
    [SIM_OP_TUR] = "test-unit-ready",
    [SIM_OP_READ_CAP16] = "read-capacity-16",
    [SIM_OP_READ10] = "read-10",
    [SIM_OP_WRITE10] = "write-10",
    [SIM_OP_READ16] = "read-16",
    [SIM_OP_WRITE16] = "write-16",
    [SIM_OP_CDB] = "cdb",
};

typedef enum SimCounter {
    SIM_C_ISSUED,
    SIM_C_COMPLETED,
    SIM_C_GOOD,
    SIM_C_CHECK_CONDITION,
    SIM_C_BUSY,
    SIM_C_FAILED,
    SIM_C_TIMED_OUT,
    SIM_C_ABORTED,
    SIM_C_RETRIED,
    SIM_C_CHECKS_PASSED,
    SIM_C_CHECKS_FAILED,
    SIM_C_LOGOUTS,
    SIM_C_LOGINS,
    SIM_C_BIOS_SCAN_INQUIRIES,
    SIM_C_ABTS_BA_ACC,
    SIM_C_ABTS_BA_RJT,
    SIM_C_ABTS_NO_ANSWER,
    SIM_C_DATA_FRAMES_SENT,
    SIM_C_DATA_FRAMES_RECEIVED,
    SIM_C_BYTES_WRITTEN,
    SIM_C_BYTES_READ,
    SIM_C_BAD_FRAMES,
    SIM_C_STALE_FRAMES,
    SIM_C__MAX
} SimCounter;

static const char *const sim_counter_names[SIM_C__MAX] = {
    [SIM_C_ISSUED] = "issued",
    [SIM_C_COMPLETED] = "completed",
    [SIM_C_GOOD] = "good",
    [SIM_C_CHECK_CONDITION] = "check_condition",
    [SIM_C_BUSY] = "busy",
    [SIM_C_FAILED] = "failed",
    [SIM_C_TIMED_OUT] = "timed_out",
    [SIM_C_ABORTED] = "aborted",
    [SIM_C_RETRIED] = "retried",
    [SIM_C_CHECKS_PASSED] = "checks_passed",
    [SIM_C_CHECKS_FAILED] = "checks_failed",
    [SIM_C_LOGOUTS] = "logouts",
    [SIM_C_LOGINS] = "logins",
    [SIM_C_BIOS_SCAN_INQUIRIES] = "bios_scan_inquiries",
    [SIM_C_ABTS_BA_ACC] = "abts_ba_acc",
    [SIM_C_ABTS_BA_RJT] = "abts_ba_rjt",
    [SIM_C_ABTS_NO_ANSWER] = "abts_no_answer",
    [SIM_C_DATA_FRAMES_SENT] = "data_frames_sent",
    [SIM_C_DATA_FRAMES_RECEIVED] = "data_frames_received",
    [SIM_C_BYTES_WRITTEN] = "bytes_written",
    [SIM_C_BYTES_READ] = "bytes_read",
    [SIM_C_BAD_FRAMES] = "bad_frames",
    [SIM_C_STALE_FRAMES] = "stale_frames",
};

/* Answers to an ABTS */
typedef enum SimAbts {
    SIM_ABTS_NOT_SENT,
    SIM_ABTS_BA_ACC,
    SIM_ABTS_BA_RJT,
    SIM_ABTS_NONE,              /* sent, no answer in time */
} SimAbts;

static const char *const sim_abts_names[] = {
    [SIM_ABTS_NOT_SENT] = "not-sent",
    [SIM_ABTS_BA_ACC] = "ba-acc",
    [SIM_ABTS_BA_RJT] = "ba-rjt",
    [SIM_ABTS_NONE] = "none",
};

/**
 * SimExpect: what a command's answer must be; -1 / false: not checked.
 * @status is checked always: GOOD unless the scenario names another.
 */
typedef struct SimExpect {
    int status;
    bool status_given;
    int sense_key;
    int asc;
    int ascq;
    char *vendor;
    bool has_block_size;
    uint32_t block_size;
    bool has_last_lba;
    uint64_t last_lba;
    bool has_luns;
    uint64_t *luns;             /* sorted */
    unsigned nluns;
    bool has_abts;
    SimAbts abts;
} SimExpect;

/**
 * SimStep: one command of the list, as parsed (CDB, LUN, direction and
 * length are fixed at parse time), and its outcome in the current pass.
 */
typedef struct SimStep {
    SimOp op;
    char *name;
    uint64_t lun;
    uint64_t lba;               /* of the data pattern (0 for "cdb") */
    uint32_t blocks;
    uint8_t cdb[16];
    bool read;
    bool write;
    uint32_t xfer_len;          /* FCP_DL */
    uint32_t pattern;
    bool has_compare;
    uint32_t compare;
    bool withhold;
    int64_t abort_after_ns;     /* -1: no ABTS of our own */
    int64_t delay_ns;           /* -1: command-gap-us */
    unsigned retries;
    SimExpect expect;

    unsigned attempts;          /* in this pass */
    unsigned total_attempts;    /* in every pass */
    bool finished;
    bool passed;
    int status;                 /* last SCSI status, -1: none */
    int sense_key;              /* -1: no sense data */
    int asc;
    int ascq;
    uint32_t residual;
    uint8_t resid_flags;
    int64_t latency_ns;
    SimAbts abts;
    GPtrArray *reasons;         /* char *, at most SIM_MAX_REASONS */
    unsigned reasons_dropped;
} SimStep;

typedef enum SimCmdState {
    SIM_CMD_IDLE,
    SIM_CMD_ACTIVE,             /* FCP_CMND sent, exchange open */
    SIM_CMD_ABTS,               /* ABTS sent, waiting for BA_ACC/BA_RJT */
} SimCmdState;

/* The one outstanding exchange. */
typedef struct SimCmd {
    SimCmdState state;
    int step;                   /* index, or -1: a BIOS-scan INQUIRY */
    uint16_t ox_id;
    uint16_t rx_id;
    uint8_t seq_id;
    bool read;
    bool write;
    uint32_t xfer_len;
    uint8_t *buf;
    uint32_t bytes_in;
    uint32_t bytes_out;
    int64_t issue_ns;
    int64_t deadline_ns;
    int64_t abort_at_ns;        /* -1: none */
    bool abts_for_timeout;
    bool withheld;
    bool error;                 /* a protocol error was noted */
} SimCmd;

typedef enum SimPhase {
    SIM_PHASE_WAIT,             /* before the first login */
    SIM_PHASE_SCAN,             /* BIOS-scan INQUIRYs */
    SIM_PHASE_STEPS,            /* the command list */
    SIM_PHASE_DONE,
} SimPhase;

static const char *const sim_phase_names[] = {
    [SIM_PHASE_WAIT] = "waiting-for-login",
    [SIM_PHASE_SCAN] = "bios-scan",
    [SIM_PHASE_STEPS] = "commands",
    [SIM_PHASE_DONE] = "done",
};

struct FcSimScsi {
    FcSimPort *sp;
    FcLog *log;
    char *path;

    /* the scenario */
    uint64_t lun;
    int64_t first_delay_ns;
    int64_t gap_ns;
    int64_t timeout_ns;
    int64_t busy_delay_ns;
    unsigned retries;
    bool scan;
    unsigned scan_max;
    int64_t scan_interval_ns;
    bool repeat;
    unsigned max_passes;
    unsigned lips;              /* LIPs to originate, one after each pass */
    int64_t lip_delay_ns;       /* from the end of a pass to its LIP */
    SimStep *steps;
    unsigned nsteps;

    /* the run */
    bool logged_in;
    SimPhase phase;
    unsigned pass;              /* passes started */
    unsigned passes_done;
    unsigned cur;
    unsigned scan_sent;         /* in this pass */
    bool scan_ok;
    bool scan_done;
    bool done;
    unsigned lips_sent;
    SimCmd cmd;
    QEMUTimer *next_timer;      /* issues the next command */
    QEMUTimer *lip_timer;       /* originates the next LIP */
    QEMUTimer *cmd_timer;       /* timeout, abort-after, ABTS answer */
    QList *interrupts;
    unsigned ninterrupts;
    uint64_t counters[SIM_C__MAX];
};

/* ------------------------------------------------------------------ */
/* Helpers                                                            */

static void sim_count(FcSimScsi *ss, SimCounter c, int64_t n)
{
    ss->counters[c] += n;
    if (ss->log) {
        fc_log_count(ss->log, "initiator", sim_counter_names[c], n);
    }
}

static QDict *sim_event(FcSimScsi *ss, const char *event)
{
    return ss->log ? fc_log_event(ss->log, "initiator", event) : NULL;
}

static int64_t sim_now(void)
{
    return qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
}

static const char *sim_cmd_op_name(FcSimScsi *ss, int step)
{
    return step < 0 ? "bios-scan-inquiry" : sim_op_names[ss->steps[step].op];
}

/* murmur3's finaliser: a well-mixed 32-bit function of @h */
static uint32_t sim_mix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6b;
    h ^= h >> 13;
    h *= 0xc2b2ae35;
    h ^= h >> 16;
    return h;
}

/*
 * The data pattern of seed @seed: the big-endian 32-bit word at byte
 * offset @off (a multiple of 4) of the LUN is
 * mix32(mix32(seed) ^ (off >> 2) ^ ((off >> 34) * 0x9e3779b9)), so any
 * range of blocks can be written and read back in any split.
 */
static uint32_t sim_pattern_word(uint32_t seed, uint64_t off)
{
    return sim_mix32(sim_mix32(seed) ^ (uint32_t)(off >> 2) ^
                     (uint32_t)(off >> 34) * 0x9e3779b9u);
}

static void sim_pattern_fill(uint8_t *buf, uint32_t len, uint64_t base,
                             uint32_t seed)
{
    uint8_t w[4];
    uint32_t i;

    for (i = 0; i + 4 <= len; i += 4) {
        stl_be_p(buf + i, sim_pattern_word(seed, base + i));
    }
    if (i < len) {
        stl_be_p(w, sim_pattern_word(seed, base + i));
        memcpy(buf + i, w, len - i);
    }
}

/* Offset of the first byte of @buf that differs from the pattern, or -1. */
static int64_t sim_pattern_compare(const uint8_t *buf, uint32_t len,
                                   uint64_t base, uint32_t seed)
{
    uint8_t w[4];
    uint32_t i, j;

    for (i = 0; i < len; i += 4) {
        stl_be_p(w, sim_pattern_word(seed, base + i));
        for (j = 0; j < 4 && i + j < len; j++) {
            if (buf[i + j] != w[j]) {
                return i + j;
            }
        }
    }
    return -1;
}

/* LUN <-> 8-byte FCP_LUN, as Linux's int_to_scsilun / scsilun_to_int. */
static void sim_lun_encode(uint64_t lun, uint8_t *out)
{
    int i;

    for (i = 0; i < 8; i += 2) {
        out[i] = (lun >> 8) & 0xff;
        out[i + 1] = lun & 0xff;
        lun >>= 16;
    }
}

static uint64_t sim_lun_decode(const uint8_t *in)
{
    uint64_t lun = 0;
    int i;

    for (i = 0; i < 8; i += 2) {
        lun |= (uint64_t)(in[i] << 8 | in[i + 1]) << (i * 8);
    }
    return lun;
}

static int sim_u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* ------------------------------------------------------------------ */
/* Scenario parsing                                                   */

static bool sim_check_keys(QDict *d, const char *ctx,
                           const char *const *allowed, Error **errp)
{
    const QDictEntry *e;

    for (e = qdict_first(d); e; e = qdict_next(d, e)) {
        if (!g_strv_contains((const gchar *const *)allowed,
                             qdict_entry_key(e))) {
            error_setg(errp, "%s: unknown key '%s'", ctx,
                       qdict_entry_key(e));
            return false;
        }
    }
    return true;
}

/*
 * An unsigned integer @key of @d (a JSON number, or a string in C syntax
 * such as "0x20") in 0..@max into @out; absent: @out is left alone.
 */
static bool sim_get_uint(QDict *d, const char *key, const char *ctx,
                         uint64_t max, uint64_t *out, Error **errp)
{
    QObject *o = qdict_get(d, key);
    const char *s;
    uint64_t v;

    if (!o) {
        return true;
    }
    switch (qobject_type(o)) {
    case QTYPE_QNUM:
        if (!qnum_get_try_uint(qobject_to(QNum, o), &v)) {
            error_setg(errp, "%s.%s: must be a non-negative integer", ctx,
                       key);
            return false;
        }
        break;
    case QTYPE_QSTRING:
        s = qstring_get_str(qobject_to(QString, o));
        if (strchr(s, '-') || qemu_strtou64(s, NULL, 0, &v) < 0) {
            error_setg(errp, "%s.%s: '%s' is not a non-negative integer",
                       ctx, key, s);
            return false;
        }
        break;
    default:
        error_setg(errp, "%s.%s: must be an integer", ctx, key);
        return false;
    }
    if (v > max) {
        error_setg(errp, "%s.%s: %" PRIu64 " is out of range (0..%" PRIu64
                   ")", ctx, key, v, max);
        return false;
    }
    *out = v;
    return true;
}

/* sim_get_uint() into an int64_t, scaled by @unit (e.g. µs -> ns). */
static bool sim_get_time(QDict *d, const char *key, const char *ctx,
                         uint64_t max, int64_t unit, int64_t *out_ns,
                         Error **errp)
{
    uint64_t v;

    if (!qdict_haskey(d, key)) {
        return true;
    }
    if (!sim_get_uint(d, key, ctx, max, &v, errp)) {
        return false;
    }
    *out_ns = (int64_t)v * unit;
    return true;
}

static bool sim_get_bool(QDict *d, const char *key, const char *ctx,
                         bool *out, Error **errp)
{
    QObject *o = qdict_get(d, key);

    if (!o) {
        return true;
    }
    if (qobject_type(o) != QTYPE_QBOOL) {
        error_setg(errp, "%s.%s: must be true or false", ctx, key);
        return false;
    }
    *out = qbool_get_bool(qobject_to(QBool, o));
    return true;
}

/* A string @key, or NULL when absent; an error if not a string. */
static bool sim_get_str(QDict *d, const char *key, const char *ctx,
                        const char **out, Error **errp)
{
    QObject *o = qdict_get(d, key);

    *out = NULL;
    if (!o) {
        return true;
    }
    if (qobject_type(o) != QTYPE_QSTRING) {
        error_setg(errp, "%s.%s: must be a string", ctx, key);
        return false;
    }
    *out = qstring_get_str(qobject_to(QString, o));
    return true;
}

/* A SCSI status: 0..255 or good, check-condition, busy, task-set-full. */
static bool sim_get_status(QDict *d, const char *key, const char *ctx,
                           int *out, Error **errp)
{
    static const struct {
        const char *name;
        int status;
    } names[] = {
        { "good", GOOD },
        { "check-condition", CHECK_CONDITION },
        { "busy", BUSY },
        { "task-set-full", TASK_SET_FULL },
        { "reservation-conflict", 0x18 },
    };
    QObject *o = qdict_get(d, key);
    uint64_t v;
    unsigned i;

    if (!o) {
        return true;
    }
    if (qobject_type(o) == QTYPE_QSTRING) {
        const char *s = qstring_get_str(qobject_to(QString, o));

        for (i = 0; i < ARRAY_SIZE(names); i++) {
            if (!strcmp(s, names[i].name)) {
                *out = names[i].status;
                return true;
            }
        }
    }
    if (!sim_get_uint(d, key, ctx, 0xff, &v, errp)) {
        return false;
    }
    *out = v;
    return true;
}

static bool sim_parse_hex(const char *s, const char *ctx, uint8_t *cdb,
                          Error **errp)
{
    unsigned n = 0;
    int hi = -1;

    memset(cdb, 0, 16);
    for (; *s; s++) {
        int v;

        if (*s == ' ' || *s == ':') {
            continue;
        }
        if (!g_ascii_isxdigit(*s)) {
            error_setg(errp, "%s.cdb: '%c' is not a hex digit", ctx, *s);
            return false;
        }
        v = g_ascii_xdigit_value(*s);
        if (hi < 0) {
            hi = v;
            continue;
        }
        if (n == 16) {
            error_setg(errp, "%s.cdb: longer than 16 bytes", ctx);
            return false;
        }
        cdb[n++] = hi << 4 | v;
        hi = -1;
    }
    if (hi >= 0) {
        error_setg(errp, "%s.cdb: odd number of hex digits", ctx);
        return false;
    }
    if (n == 0) {
        error_setg(errp, "%s.cdb: empty", ctx);
        return false;
    }
    return true;
}

static bool sim_op_reads(SimOp op)
{
    return op == SIM_OP_READ10 || op == SIM_OP_READ16;
}

static bool sim_op_writes(SimOp op)
{
    return op == SIM_OP_WRITE10 || op == SIM_OP_WRITE16;
}

static bool sim_parse_expect(QDict *d, const char *ctx, SimStep *st,
                             Error **errp)
{
    static const char *const keys[] = {
        "status", "sense-key", "asc", "ascq", "vendor", "block-size",
        "last-lba", "luns", "abts", NULL
    };
    SimExpect *ex = &st->expect;
    const char *s;
    uint64_t v;
    QList *l;
    QListEntry *le;
    unsigned n;

    if (!sim_check_keys(d, ctx, keys, errp)) {
        return false;
    }
    if (qdict_haskey(d, "status")) {
        if (!sim_get_status(d, "status", ctx, &ex->status, errp)) {
            return false;
        }
        ex->status_given = true;
    }
    v = 0;
    if (qdict_haskey(d, "sense-key")) {
        if (!sim_get_uint(d, "sense-key", ctx, 0xf, &v, errp)) {
            return false;
        }
        ex->sense_key = v;
    }
    if (qdict_haskey(d, "asc")) {
        if (!sim_get_uint(d, "asc", ctx, 0xff, &v, errp)) {
            return false;
        }
        ex->asc = v;
    }
    if (qdict_haskey(d, "ascq")) {
        if (!sim_get_uint(d, "ascq", ctx, 0xff, &v, errp)) {
            return false;
        }
        ex->ascq = v;
    }
    if (!sim_get_str(d, "vendor", ctx, &s, errp)) {
        return false;
    }
    if (s) {
        if (st->op != SIM_OP_INQUIRY && st->op != SIM_OP_CDB) {
            error_setg(errp, "%s.vendor: only for inquiry or cdb", ctx);
            return false;
        }
        if (strlen(s) > 8) {
            error_setg(errp, "%s.vendor: at most 8 characters", ctx);
            return false;
        }
        ex->vendor = g_strdup(s);
    }
    if (qdict_haskey(d, "block-size") || qdict_haskey(d, "last-lba")) {
        if (st->op != SIM_OP_READ_CAP16 && st->op != SIM_OP_CDB) {
            error_setg(errp, "%s: block-size and last-lba only for "
                       "read-capacity-16 or cdb", ctx);
            return false;
        }
    }
    if (qdict_haskey(d, "block-size")) {
        if (!sim_get_uint(d, "block-size", ctx, UINT32_MAX, &v, errp)) {
            return false;
        }
        ex->has_block_size = true;
        ex->block_size = v;
    }
    if (qdict_haskey(d, "last-lba")) {
        if (!sim_get_uint(d, "last-lba", ctx, UINT64_MAX, &ex->last_lba,
                          errp)) {
            return false;
        }
        ex->has_last_lba = true;
    }
    if (qdict_haskey(d, "luns")) {
        if (st->op != SIM_OP_REPORT_LUNS && st->op != SIM_OP_CDB) {
            error_setg(errp, "%s.luns: only for report-luns or cdb", ctx);
            return false;
        }
        l = qobject_to(QList, qdict_get(d, "luns"));
        if (!l) {
            error_setg(errp, "%s.luns: must be a list of LUNs", ctx);
            return false;
        }
        n = qlist_size(l);
        if (n > SIM_MAX_LUNS) {
            error_setg(errp, "%s.luns: more than %d LUNs", ctx,
                       SIM_MAX_LUNS);
            return false;
        }
        ex->has_luns = true;
        ex->luns = g_new0(uint64_t, n ? n : 1);
        QLIST_FOREACH_ENTRY(l, le) {
            QNum *q = qobject_to(QNum, qlist_entry_obj(le));

            if (!q || !qnum_get_try_uint(q, &v)) {
                error_setg(errp, "%s.luns[%u]: must be a non-negative "
                           "integer", ctx, ex->nluns);
                return false;
            }
            ex->luns[ex->nluns++] = v;
        }
        qsort(ex->luns, ex->nluns, sizeof(uint64_t), sim_u64_cmp);
    }
    if (!sim_get_str(d, "abts", ctx, &s, errp)) {
        return false;
    }
    if (s) {
        if (!strcmp(s, "ba-acc")) {
            ex->abts = SIM_ABTS_BA_ACC;
        } else if (!strcmp(s, "ba-rjt")) {
            ex->abts = SIM_ABTS_BA_RJT;
        } else if (!strcmp(s, "none")) {
            ex->abts = SIM_ABTS_NONE;
        } else {
            error_setg(errp, "%s.abts: must be ba-acc, ba-rjt or none", ctx);
            return false;
        }
        ex->has_abts = true;
    }
    return true;
}

static bool sim_parse_step(FcSimScsi *ss, QDict *d, const char *ctx,
                           SimStep *st, Error **errp)
{
    static const char *const keys[] = {
        "op", "name", "lun", "lba", "blocks", "alloc-len", "cdb",
        "direction", "length", "pattern", "compare", "withhold-data",
        "abort-after-us", "retries", "delay-us", "expect", NULL
    };
    const char *s;
    uint64_t v, lba = 0, blocks = 1, alloc;
    bool reads, writes;
    QDict *ex;
    int i;

    if (!sim_check_keys(d, ctx, keys, errp)) {
        return false;
    }
    if (!sim_get_str(d, "op", ctx, &s, errp)) {
        return false;
    }
    if (!s) {
        error_setg(errp, "%s: 'op' is missing", ctx);
        return false;
    }
    for (i = 0; i < SIM_OP__MAX; i++) {
        if (!strcmp(s, sim_op_names[i])) {
            break;
        }
    }
    if (i == SIM_OP__MAX) {
        error_setg(errp, "%s.op: unknown operation '%s' (report-luns, "
                   "inquiry, test-unit-ready, read-capacity-16, read-10, "
                   "write-10, read-16, write-16, cdb)", ctx, s);
        return false;
    }
    st->op = i;
    reads = sim_op_reads(st->op);
    writes = sim_op_writes(st->op);

    if (!sim_get_str(d, "name", ctx, &s, errp)) {
        return false;
    }
    st->name = g_strdup(s);
    st->lun = ss->lun;
    if (!sim_get_uint(d, "lun", ctx, UINT64_MAX, &st->lun, errp)) {
        return false;
    }
    st->retries = ss->retries;
    if (!sim_get_uint(d, "retries", ctx, 100, &v, errp)) {
        return false;
    }
    if (qdict_haskey(d, "retries")) {
        st->retries = v;
    }
    st->delay_ns = -1;
    if (!sim_get_time(d, "delay-us", ctx, 3600000000ULL, SIM_US,
                      &st->delay_ns, errp)) {
        return false;
    }
    st->abort_after_ns = -1;
    if (!sim_get_time(d, "abort-after-us", ctx, 3600000000ULL, SIM_US,
                      &st->abort_after_ns, errp)) {
        return false;
    }

    /* the command's CDB, direction and FCP_DL */
    if ((qdict_haskey(d, "lba") || qdict_haskey(d, "blocks")) &&
        !reads && !writes) {
        error_setg(errp, "%s: lba and blocks only for read-10, write-10, "
                   "read-16, write-16", ctx);
        return false;
    }
    if (qdict_haskey(d, "alloc-len") && st->op != SIM_OP_INQUIRY &&
        st->op != SIM_OP_REPORT_LUNS && st->op != SIM_OP_READ_CAP16) {
        error_setg(errp, "%s.alloc-len: only for inquiry, report-luns, "
                   "read-capacity-16", ctx);
        return false;
    }
    if ((qdict_haskey(d, "cdb") || qdict_haskey(d, "direction") ||
         qdict_haskey(d, "length")) && st->op != SIM_OP_CDB) {
        error_setg(errp, "%s: cdb, direction and length only for op cdb",
                   ctx);
        return false;
    }
    if (reads || writes) {
        uint64_t max_lba;
        bool ten = st->op == SIM_OP_READ10 || st->op == SIM_OP_WRITE10;

        if (!sim_get_uint(d, "lba", ctx, ten ? UINT32_MAX : UINT64_MAX,
                          &lba, errp) ||
            !sim_get_uint(d, "blocks", ctx, SIM_MAX_BLOCKS, &blocks,
                          errp)) {
            return false;
        }
        if (blocks == 0) {
            error_setg(errp, "%s.blocks: must be 1..%d", ctx,
                       SIM_MAX_BLOCKS);
            return false;
        }
        max_lba = ten ? UINT32_MAX : UINT64_MAX;
        if (lba > max_lba - (blocks - 1)) {
            error_setg(errp, "%s: lba %" PRIu64 " + %" PRIu64 " blocks is "
                       "past the last LBA the CDB can address", ctx, lba,
                       blocks);
            return false;
        }
        st->lba = lba;
        st->blocks = blocks;
        st->xfer_len = blocks * SIM_BLOCK_SIZE;
        st->read = reads;
        st->write = writes;
        switch (st->op) {
        case SIM_OP_READ10:
        case SIM_OP_WRITE10:
            st->cdb[0] = reads ? READ_10 : WRITE_10;
            stl_be_p(st->cdb + 2, lba);
            stw_be_p(st->cdb + 7, blocks);
            break;
        default:
            st->cdb[0] = reads ? READ_16 : WRITE_16;
            stq_be_p(st->cdb + 2, lba);
            stl_be_p(st->cdb + 10, blocks);
            break;
        }
    }
    switch (st->op) {
    case SIM_OP_REPORT_LUNS:
        alloc = 4096;
        if (!sim_get_uint(d, "alloc-len", ctx, SIM_MAX_XFER, &alloc,
                          errp)) {
            return false;
        }
        if (alloc < 16) {
            error_setg(errp, "%s.alloc-len: report-luns needs 16 or more",
                       ctx);
            return false;
        }
        st->cdb[0] = REPORT_LUNS;
        stl_be_p(st->cdb + 6, alloc);
        st->read = true;
        st->xfer_len = alloc;
        break;
    case SIM_OP_INQUIRY:
        alloc = 96;
        if (!sim_get_uint(d, "alloc-len", ctx, 0xffff, &alloc, errp)) {
            return false;
        }
        st->cdb[0] = INQUIRY;
        stw_be_p(st->cdb + 3, alloc);
        st->read = alloc != 0;
        st->xfer_len = alloc;
        break;
    case SIM_OP_TUR:
        st->cdb[0] = TEST_UNIT_READY;
        break;
    case SIM_OP_READ_CAP16:
        alloc = 32;
        if (!sim_get_uint(d, "alloc-len", ctx, SIM_MAX_XFER, &alloc,
                          errp)) {
            return false;
        }
        st->cdb[0] = SERVICE_ACTION_IN_16;
        st->cdb[1] = SAI_READ_CAPACITY_16;
        stl_be_p(st->cdb + 10, alloc);
        st->read = alloc != 0;
        st->xfer_len = alloc;
        break;
    case SIM_OP_CDB:
        if (!sim_get_str(d, "cdb", ctx, &s, errp)) {
            return false;
        }
        if (!s) {
            error_setg(errp, "%s: op cdb needs 'cdb' (hex string)", ctx);
            return false;
        }
        if (!sim_parse_hex(s, ctx, st->cdb, errp)) {
            return false;
        }
        if (!sim_get_str(d, "direction", ctx, &s, errp)) {
            return false;
        }
        if (!s || !strcmp(s, "none")) {
            st->read = st->write = false;
        } else if (!strcmp(s, "read")) {
            st->read = true;
        } else if (!strcmp(s, "write")) {
            st->write = true;
        } else {
            error_setg(errp, "%s.direction: must be none, read or write",
                       ctx);
            return false;
        }
        v = 0;
        if (!sim_get_uint(d, "length", ctx, SIM_MAX_XFER, &v, errp)) {
            return false;
        }
        if ((v != 0) != (st->read || st->write)) {
            error_setg(errp, "%s: length must be > 0 with direction read "
                       "or write and 0 with none", ctx);
            return false;
        }
        st->xfer_len = v;
        break;
    default:
        break;
    }

    /* data options */
    if (qdict_haskey(d, "pattern")) {
        if (!st->write) {
            error_setg(errp, "%s.pattern: only for a command that writes",
                       ctx);
            return false;
        }
        if (!sim_get_uint(d, "pattern", ctx, UINT32_MAX, &v, errp)) {
            return false;
        }
        st->pattern = v;
    }
    if (qdict_haskey(d, "compare")) {
        if (!st->read || (!reads && st->op != SIM_OP_CDB)) {
            error_setg(errp, "%s.compare: only for a command that reads "
                       "blocks (read-10, read-16, cdb with direction read)",
                       ctx);
            return false;
        }
        if (!sim_get_uint(d, "compare", ctx, UINT32_MAX, &v, errp)) {
            return false;
        }
        st->has_compare = true;
        st->compare = v;
    }
    if (!sim_get_bool(d, "withhold-data", ctx, &st->withhold, errp)) {
        return false;
    }
    if (st->withhold && !st->write) {
        error_setg(errp, "%s.withhold-data: only for a command that writes",
                   ctx);
        return false;
    }

    st->expect.status = GOOD;
    st->expect.sense_key = st->expect.asc = st->expect.ascq = -1;
    if (qdict_haskey(d, "expect")) {
        g_autofree char *ectx = g_strdup_printf("%s.expect", ctx);

        ex = qobject_to(QDict, qdict_get(d, "expect"));
        if (!ex) {
            error_setg(errp, "%s: must be an object", ectx);
            return false;
        }
        if (!sim_parse_expect(ex, ectx, st, errp)) {
            return false;
        }
    }
    if (st->expect.has_abts && st->abort_after_ns < 0) {
        error_setg(errp, "%s.expect.abts: needs abort-after-us", ctx);
        return false;
    }
    if (st->abort_after_ns >= 0 && !st->expect.has_abts) {
        st->expect.has_abts = true;
        st->expect.abts = SIM_ABTS_BA_ACC;
    }
    st->reasons = g_ptr_array_new_with_free_func(g_free);
    st->status = -1;
    st->sense_key = st->asc = st->ascq = -1;
    return true;
}

static bool sim_parse(FcSimScsi *ss, QDict *d, Error **errp)
{
    static const char *const keys[] = {
        "name", "description", "lun", "first-command-delay-us",
        "command-gap-us", "command-timeout-ms", "busy-delay-us", "retries",
        "bios-scan", "repeat-after-relogin", "max-passes", "commands",
        "lips", "lip-delay-ms", NULL
    };
    static const char *const scan_keys[] = {
        "max-inquiry", "interval-ms", NULL
    };
    const char *s;
    uint64_t v;
    QDict *scan;
    QList *cmds;
    QListEntry *le;
    unsigned n;

    if (!sim_check_keys(d, "scenario", keys, errp)) {
        return false;
    }
    if (!sim_get_str(d, "name", "scenario", &s, errp) ||
        !sim_get_str(d, "description", "scenario", &s, errp)) {
        return false;
    }
    ss->lun = 0;
    ss->first_delay_ns = 100 * SIM_US;
    ss->gap_ns = 20 * SIM_US;
    ss->timeout_ns = 2000 * SIM_MS;
    ss->busy_delay_ns = 1000 * SIM_US;
    ss->retries = 2;
    ss->repeat = true;
    ss->max_passes = 16;
    if (!sim_get_uint(d, "lun", "scenario", UINT64_MAX, &ss->lun, errp) ||
        !sim_get_time(d, "first-command-delay-us", "scenario",
                      3600000000ULL, SIM_US, &ss->first_delay_ns, errp) ||
        !sim_get_time(d, "command-gap-us", "scenario", 3600000000ULL,
                      SIM_US, &ss->gap_ns, errp) ||
        !sim_get_time(d, "busy-delay-us", "scenario", 3600000000ULL,
                      SIM_US, &ss->busy_delay_ns, errp) ||
        !sim_get_time(d, "command-timeout-ms", "scenario", 3600000,
                      SIM_MS, &ss->timeout_ns, errp) ||
        !sim_get_bool(d, "repeat-after-relogin", "scenario", &ss->repeat,
                      errp)) {
        return false;
    }
    if (ss->timeout_ns == 0) {
        error_setg(errp, "scenario.command-timeout-ms: must be at least 1");
        return false;
    }
    v = ss->retries;
    if (!sim_get_uint(d, "retries", "scenario", 100, &v, errp)) {
        return false;
    }
    ss->retries = v;
    v = ss->max_passes;
    if (!sim_get_uint(d, "max-passes", "scenario", 1000, &v, errp)) {
        return false;
    }
    if (v == 0) {
        error_setg(errp, "scenario.max-passes: must be 1..1000");
        return false;
    }
    ss->max_passes = v;
    v = 0;
    if (!sim_get_uint(d, "lips", "scenario", 100, &v, errp) ||
        !sim_get_time(d, "lip-delay-ms", "scenario", 3600000, SIM_MS,
                      &ss->lip_delay_ns, errp)) {
        return false;
    }
    ss->lips = v;
    if (ss->lips && !ss->repeat) {
        error_setg(errp, "scenario.lips: needs repeat-after-relogin (the "
                   "pass after a LIP is a new pass)");
        return false;
    }

    if (qdict_haskey(d, "bios-scan")) {
        scan = qobject_to(QDict, qdict_get(d, "bios-scan"));
        if (!scan) {
            error_setg(errp, "scenario.bios-scan: must be an object");
            return false;
        }
        if (!sim_check_keys(scan, "scenario.bios-scan", scan_keys, errp)) {
            return false;
        }
        v = 8;
        if (!sim_get_uint(scan, "max-inquiry", "scenario.bios-scan", 1000,
                          &v, errp)) {
            return false;
        }
        if (v == 0) {
            error_setg(errp, "scenario.bios-scan.max-inquiry: must be "
                       "1..1000");
            return false;
        }
        ss->scan = true;
        ss->scan_max = v;
        ss->scan_interval_ns = 500 * SIM_MS;
        if (!sim_get_time(scan, "interval-ms", "scenario.bios-scan", 600000,
                          SIM_MS, &ss->scan_interval_ns, errp)) {
            return false;
        }
    }

    if (!qdict_haskey(d, "commands")) {
        error_setg(errp, "scenario: 'commands' is missing (it may be an "
                   "empty list)");
        return false;
    }
    cmds = qobject_to(QList, qdict_get(d, "commands"));
    if (!cmds) {
        error_setg(errp, "scenario.commands: must be a list");
        return false;
    }
    n = qlist_size(cmds);
    if (n > SIM_MAX_STEPS) {
        error_setg(errp, "scenario.commands: more than %d commands",
                   SIM_MAX_STEPS);
        return false;
    }
    ss->steps = g_new0(SimStep, n ? n : 1);
    QLIST_FOREACH_ENTRY(cmds, le) {
        g_autofree char *ctx = g_strdup_printf("commands[%u]", ss->nsteps);
        QDict *c = qobject_to(QDict, qlist_entry_obj(le));
        SimStep *st = &ss->steps[ss->nsteps];

        if (!c) {
            error_setg(errp, "%s: must be an object", ctx);
            return false;
        }
        /* counted first, so that a half-parsed step is freed too */
        ss->nsteps++;
        if (!sim_parse_step(ss, c, ctx, st, errp)) {
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Frames                                                             */

static bool sim_can_send(FcSimScsi *ss)
{
    return ss->logged_in && ss->sp->port.up &&
           ss->sp->login == FC_SIM_LOGGED_IN;
}

static uint16_t sim_new_ox_id(FcSimScsi *ss)
{
    /* the port's exchange IDs, shared with its ELS exchanges */
    if (ss->sp->next_ox_id == 0xffff) {
        ss->sp->next_ox_id = 0;
    }
    return ss->sp->next_ox_id++;
}

static FcFrame *sim_frame(FcSimScsi *ss, uint8_t r_ctl, uint8_t type,
                          uint32_t f_ctl, uint16_t ox_id, uint16_t rx_id,
                          uint32_t param, const uint8_t *pl, uint32_t len)
{
    FcFrame *f = g_new0(FcFrame, 1);

    assert(len <= FC_MAX_PAYLOAD);
    if (len) {
        memcpy(f->payload, pl, len);
    }
    fc_frame_init(f, r_ctl, ss->sp->peer_id, ss->sp->port.port_id, type,
                  f_ctl, ox_id, rx_id, param, len);
    return f;
}

/* A malformed or unexpected frame from the target: count and record it. */
static void sim_bad_frame(FcSimScsi *ss, const FcFrame *f, const char *what)
{
    QDict *e = sim_event(ss, "bad-frame");

    sim_count(ss, SIM_C_BAD_FRAMES, 1);
    if (e) {
        qdict_put_str(e, "what", what);
        qdict_put_int(e, "r_ctl", fc_r_ctl(f));
        qdict_put_int(e, "type", fc_type(f));
        qdict_put_int(e, "ox_id", fc_ox_id(f));
        qdict_put_int(e, "rx_id", fc_rx_id(f));
        qdict_put_int(e, "len", f->len);
    }
}

/* A frame of an exchange that is not (or no longer) open. */
static void sim_stale_frame(FcSimScsi *ss, const FcFrame *f, bool log)
{
    QDict *e;

    sim_count(ss, SIM_C_STALE_FRAMES, 1);
    if (!log) {
        return;
    }
    e = sim_event(ss, "stale-frame");
    if (e) {
        qdict_put_int(e, "r_ctl", fc_r_ctl(f));
        qdict_put_int(e, "type", fc_type(f));
        qdict_put_int(e, "ox_id", fc_ox_id(f));
        qdict_put_int(e, "rx_id", fc_rx_id(f));
    }
}

/* ------------------------------------------------------------------ */
/* Command outcome                                                    */

static void G_GNUC_PRINTF(2, 3) sim_step_reason(SimStep *st,
                                                const char *fmt, ...)
{
    va_list ap;

    if (st->reasons->len >= SIM_MAX_REASONS) {
        st->reasons_dropped++;
        return;
    }
    va_start(ap, fmt);
    g_ptr_array_add(st->reasons, g_strdup_vprintf(fmt, ap));
    va_end(ap);
}

/* A protocol error of the current exchange (frame from the target). */
static void sim_cmd_error(FcSimScsi *ss, const FcFrame *f, const char *what)
{
    SimCmd *c = &ss->cmd;

    sim_bad_frame(ss, f, what);
    c->error = true;
    if (c->step >= 0) {
        sim_step_reason(&ss->steps[c->step], "%s", what);
    }
}

/* One check: count it, record a failure. */
static bool sim_check(FcSimScsi *ss, SimStep *st, const char *what,
                      bool ok, const char *expected, const char *got)
{
    QDict *e;

    if (ok) {
        sim_count(ss, SIM_C_CHECKS_PASSED, 1);
        return true;
    }
    sim_count(ss, SIM_C_CHECKS_FAILED, 1);
    sim_step_reason(st, "%s: expected %s, got %s", what, expected, got);
    e = sim_event(ss, "check-failed");
    if (e) {
        qdict_put_int(e, "step", st - ss->steps);
        qdict_put_str(e, "op", sim_op_names[st->op]);
        qdict_put_int(e, "ox_id", ss->cmd.ox_id);
        qdict_put_str(e, "what", what);
        qdict_put_str(e, "expected", expected);
        qdict_put_str(e, "got", got);
    }
    return false;
}

static bool sim_check_int(FcSimScsi *ss, SimStep *st, const char *what,
                          uint64_t expected, int64_t got, bool hex)
{
    g_autofree char *es = NULL, *gs = NULL;

    if (got >= 0 && (uint64_t)got == expected) {
        return sim_check(ss, st, what, true, NULL, NULL);
    }
    es = g_strdup_printf(hex ? "0x%02" PRIx64 : "%" PRIu64, expected);
    gs = got < 0 ? g_strdup("none") :
         g_strdup_printf(hex ? "0x%02" PRIx64 : "%" PRIu64, (uint64_t)got);
    return sim_check(ss, st, what, false, es, gs);
}

static void sim_cmd_clear(FcSimScsi *ss)
{
    SimCmd *c = &ss->cmd;

    timer_del(ss->cmd_timer);
    g_free(c->buf);
    memset(c, 0, sizeof(*c));
    c->state = SIM_CMD_IDLE;
    c->step = -1;
    c->abort_at_ns = -1;
}

static void sim_schedule(FcSimScsi *ss, int64_t delay_ns)
{
    timer_mod(ss->next_timer, sim_now() + MAX(delay_ns, 0));
}

static void sim_pass_done(FcSimScsi *ss);

/* Whether every command of the pass completed and passed its checks. */
static bool sim_all_passed(FcSimScsi *ss)
{
    unsigned i;

    /* the pass that ended last (with "lips" the scenario is not done
     * yet after it, but the pass is) */
    if (ss->phase != SIM_PHASE_DONE || (ss->scan && !ss->scan_ok)) {
        return false;
    }
    for (i = 0; i < ss->nsteps; i++) {
        if (!ss->steps[i].finished || !ss->steps[i].passed) {
            return false;
        }
    }
    return true;
}

/* Go on with the list after the current step ended. */
static void sim_advance(FcSimScsi *ss)
{
    if (ss->cur >= ss->nsteps) {
        sim_pass_done(ss);
        return;
    }
    sim_schedule(ss, ss->steps[ss->cur].delay_ns >= 0 ?
                 ss->steps[ss->cur].delay_ns : ss->gap_ns);
}

static void sim_step_finish(FcSimScsi *ss, SimStep *st, bool passed)
{
    st->finished = true;
    st->passed = passed;
    ss->cur++;
    sim_advance(ss);
}

static void sim_scan_finish(FcSimScsi *ss, bool ok)
{
    QDict *e = sim_event(ss, "bios-scan-done");

    if (e) {
        qdict_put_bool(e, "ok", ok);
        qdict_put_int(e, "inquiries", ss->scan_sent);
    }
    ss->scan_ok = ok;
    ss->scan_done = true;
    ss->phase = SIM_PHASE_STEPS;
    ss->cur = 0;
    sim_advance(ss);
}

/* A BIOS-scan INQUIRY ended, with GOOD status or not. */
static void sim_scan_attempt_done(FcSimScsi *ss, bool ok, int64_t issue_ns)
{
    if (ok) {
        sim_scan_finish(ss, true);
    } else if (ss->scan_sent >= ss->scan_max) {
        sim_scan_finish(ss, false);
    } else {
        sim_schedule(ss, issue_ns + ss->scan_interval_ns - sim_now());
    }
}

/*
 * The exchange ended without a SCSI status (@reason: timeout, logged-out,
 * link, ...): retry the command if it may, else it failed.
 */
static void sim_attempt_lost(FcSimScsi *ss, const char *reason)
{
    SimCmd *c = &ss->cmd;
    int idx = c->step;
    int64_t issue_ns = c->issue_ns;
    QDict *e = sim_event(ss, "command-failed");
    SimStep *st;

    if (e) {
        qdict_put_int(e, "ox_id", c->ox_id);
        qdict_put_int(e, "step", idx);
        qdict_put_str(e, "op", sim_cmd_op_name(ss, idx));
        qdict_put_str(e, "reason", reason);
    }
    sim_count(ss, SIM_C_FAILED, 1);
    sim_cmd_clear(ss);
    if (idx < 0) {
        sim_scan_attempt_done(ss, false, issue_ns);
        return;
    }
    st = &ss->steps[idx];
    sim_step_reason(st, "%s", reason);
    st->status = -1;
    st->sense_key = st->asc = st->ascq = -1;
    if (st->attempts <= st->retries) {
        sim_schedule(ss, ss->gap_ns);   /* the same step again */
    } else {
        sim_step_finish(ss, st, false);
    }
}

/* Our own ABTS (abort-after-us) was answered, or not. */
static void sim_abort_done(FcSimScsi *ss, SimAbts got)
{
    SimCmd *c = &ss->cmd;
    SimStep *st = &ss->steps[c->step];
    bool ok = !c->error;

    st->abts = got;
    st->status = -1;
    st->sense_key = st->asc = st->ascq = -1;
    st->latency_ns = sim_now() - c->issue_ns;
    ok &= sim_check(ss, st, "abts", got == st->expect.abts,
                    sim_abts_names[st->expect.abts], sim_abts_names[got]);
    if (st->expect.status_given) {
        ok &= sim_check_int(ss, st, "status", st->expect.status, -1, true);
    }
    sim_cmd_clear(ss);
    sim_step_finish(ss, st, ok);
}

static void sim_send_abts(FcSimScsi *ss, bool for_timeout)
{
    SimCmd *c = &ss->cmd;
    QDict *e = sim_event(ss, "abts-sent");

    c->state = SIM_CMD_ABTS;
    c->abts_for_timeout = for_timeout;
    sim_count(ss, SIM_C_ABORTED, 1);
    if (e) {
        qdict_put_int(e, "ox_id", c->ox_id);
        qdict_put_int(e, "rx_id", c->rx_id);
        qdict_put_str(e, "why", for_timeout ? "timeout" : "abort-after");
    }
    /* the answer to an ABTS may take 2 x R_A_TOV (FC-FS-3 §15.3.2) */
    timer_mod(ss->cmd_timer, sim_now() + SIM_ABTS_TIMEOUT_NS);
    fc_link_send(&ss->sp->port,
                 sim_frame(ss, FC_RCTL_BA_ABTS, FC_TYPE_BLS,
                           FC_FCTL_END_SEQ | FC_FCTL_SEQ_INIT, c->ox_id,
                           c->rx_id, 0, NULL, 0));
}

static void sim_issue(FcSimScsi *ss, int idx)
{
    SimCmd *c = &ss->cmd;
    SimStep *st = idx >= 0 ? &ss->steps[idx] : NULL;
    uint8_t pl[FCP_CMND_LEN] = { 0 };
    int64_t now = sim_now(), at;
    QDict *e;

    sim_cmd_clear(ss);
    c->state = SIM_CMD_ACTIVE;
    c->step = idx;
    c->ox_id = sim_new_ox_id(ss);
    c->rx_id = 0xffff;
    c->issue_ns = now;
    c->deadline_ns = now + ss->timeout_ns;
    if (st) {
        sim_lun_encode(st->lun, pl);
        memcpy(pl + 12, st->cdb, 16);
        c->read = st->read;
        c->write = st->write;
        c->xfer_len = st->xfer_len;
        if (st->attempts++ > 0) {
            sim_count(ss, SIM_C_RETRIED, 1);
        }
        st->total_attempts++;
        if (st->abort_after_ns >= 0) {
            c->abort_at_ns = now + st->abort_after_ns;
        }
    } else {
        /* BIOS scan: INQUIRY, LUN 0, 96 bytes */
        pl[12] = INQUIRY;
        stw_be_p(pl + 15, 96);
        c->read = true;
        c->xfer_len = 96;
        ss->scan_sent++;
        sim_count(ss, SIM_C_BIOS_SCAN_INQUIRIES, 1);
    }
    pl[11] = (c->write ? FCP_CMND_WRDATA : 0) | (c->read ? FCP_CMND_RDDATA : 0);
    stl_be_p(pl + 28, c->xfer_len);
    if (c->xfer_len) {
        c->buf = g_malloc0(c->xfer_len);
        if (c->write) {
            sim_pattern_fill(c->buf, c->xfer_len,
                             st->lba * SIM_BLOCK_SIZE, st->pattern);
        }
    }

    sim_count(ss, SIM_C_ISSUED, 1);
    e = sim_event(ss, "command");
    if (e) {
        qdict_put_str(e, "op", sim_cmd_op_name(ss, idx));
        qdict_put_int(e, "step", idx);
        qdict_put_int(e, "ox_id", c->ox_id);
        qdict_put_int(e, "lun", st ? st->lun : 0);
        qdict_put_int(e, "opcode", pl[12]);
        qdict_put_int(e, "lba", st ? st->lba : 0);
        qdict_put_int(e, "blocks", st ? st->blocks : 0);
        qdict_put_int(e, "fcp_dl", c->xfer_len);
        qdict_put_int(e, "attempt", st ? st->attempts : ss->scan_sent);
        qdict_put_int(e, "pass", ss->pass);
    }
    at = c->deadline_ns;
    if (c->abort_at_ns >= 0) {
        at = MIN(at, c->abort_at_ns);
    }
    timer_mod(ss->cmd_timer, at);
    fc_link_send(&ss->sp->port,
                 sim_frame(ss, FC_RCTL_DD_UNSOL_CMD, FC_TYPE_FCP,
                           FC_FCTL_FIRST_SEQ | FC_FCTL_END_SEQ |
                           FC_FCTL_SEQ_INIT, c->ox_id, 0xffff, 0, pl,
                           FCP_CMND_LEN));
}

/* The next command, when its time has come. */
static void sim_next_cb(void *opaque)
{
    FcSimScsi *ss = opaque;

    if (!sim_can_send(ss) || ss->cmd.state != SIM_CMD_IDLE) {
        return;     /* the next login reschedules */
    }
    switch (ss->phase) {
    case SIM_PHASE_SCAN:
        if (ss->scan_sent < ss->scan_max) {
            sim_issue(ss, -1);
        } else {
            sim_scan_finish(ss, false);
        }
        break;
    case SIM_PHASE_STEPS:
        if (ss->cur < ss->nsteps) {
            sim_issue(ss, ss->cur);
        } else {
            sim_pass_done(ss);
        }
        break;
    default:
        break;
    }
}

/* Timeout, abort-after-us, or no answer to our ABTS. */
static void sim_cmd_timer_cb(void *opaque)
{
    FcSimScsi *ss = opaque;
    SimCmd *c = &ss->cmd;
    int64_t now = sim_now();
    QDict *e;

    switch (c->state) {
    case SIM_CMD_ACTIVE:
        if (c->abort_at_ns >= 0 && now >= c->abort_at_ns) {
            c->abort_at_ns = -1;
            sim_send_abts(ss, false);
        } else if (now >= c->deadline_ns) {
            sim_count(ss, SIM_C_TIMED_OUT, 1);
            e = sim_event(ss, "timeout");
            if (e) {
                qdict_put_int(e, "ox_id", c->ox_id);
                qdict_put_int(e, "step", c->step);
                qdict_put_str(e, "op", sim_cmd_op_name(ss, c->step));
                qdict_put_int(e, "bytes_in", c->bytes_in);
                qdict_put_int(e, "bytes_out", c->bytes_out);
                qdict_put_bool(e, "xfer_rdy_withheld", c->withheld);
            }
            sim_send_abts(ss, true);
        } else {
            timer_mod(ss->cmd_timer, c->abort_at_ns >= 0 ?
                      MIN(c->abort_at_ns, c->deadline_ns) : c->deadline_ns);
        }
        break;
    case SIM_CMD_ABTS:
        sim_count(ss, SIM_C_ABTS_NO_ANSWER, 1);
        e = sim_event(ss, "abts-answer");
        if (e) {
            qdict_put_int(e, "ox_id", c->ox_id);
            qdict_put_str(e, "answer", "none");
        }
        if (c->abts_for_timeout) {
            sim_attempt_lost(ss, "timeout (no answer to ABTS)");
        } else {
            sim_abort_done(ss, SIM_ABTS_NONE);
        }
        break;
    default:
        break;
    }
}

/* ------------------------------------------------------------------ */
/* Received frames                                                    */

static void sim_rx_xfer_rdy(FcSimScsi *ss, const FcFrame *f)
{
    SimCmd *c = &ss->cmd;
    uint32_t ro, burst, off, len, fctl;
    uint16_t cnt = 0;
    FcFrame *d;
    QDict *e;

    if (f->len < FCP_XFER_RDY_LEN) {
        sim_cmd_error(ss, f, "FCP_XFER_RDY shorter than 12 bytes");
        return;
    }
    if (!c->write) {
        sim_cmd_error(ss, f, "FCP_XFER_RDY for a command without data out");
        return;
    }
    ro = ldl_be_p(f->payload);
    burst = ldl_be_p(f->payload + 4);
    if (burst == 0 || ro > c->xfer_len || burst > c->xfer_len - ro) {
        g_autofree char *what =
            g_strdup_printf("FCP_XFER_RDY offset %u burst %u outside "
                            "FCP_DL %u", ro, burst, c->xfer_len);

        sim_cmd_error(ss, f, what);
        return;
    }
    c->rx_id = fc_rx_id(f);
    if (ss->steps[c->step].withhold) {
        if (!c->withheld) {
            e = sim_event(ss, "xfer-rdy-withheld");
            if (e) {
                qdict_put_int(e, "ox_id", c->ox_id);
                qdict_put_int(e, "rx_id", c->rx_id);
                qdict_put_int(e, "offset", ro);
                qdict_put_int(e, "burst", burst);
            }
        }
        c->withheld = true;
        return;
    }
    /* one sequence of FCP_DATA frames per burst */
    c->seq_id++;
    for (off = 0; off < burst; off += len) {
        len = MIN(SIM_DATA_FRAME, burst - off);
        fctl = FC_FCTL_REL_OFF;
        if (off + len == burst) {
            fctl |= FC_FCTL_END_SEQ | FC_FCTL_SEQ_INIT;
        }
        d = sim_frame(ss, FC_RCTL_DD_SOL_DATA, FC_TYPE_FCP, fctl, c->ox_id,
                      c->rx_id, ro + off, c->buf + ro + off, len);
        d->hdr[12] = c->seq_id;
        stw_be_p(d->hdr + 14, cnt);
        if (cnt++) {
            d->sof = FC_SOF_N3;
        }
        fc_link_send(&ss->sp->port, d);
    }
    c->bytes_out += burst;
    sim_count(ss, SIM_C_DATA_FRAMES_SENT, cnt);
    sim_count(ss, SIM_C_BYTES_WRITTEN, burst);
}

static void sim_rx_data(FcSimScsi *ss, const FcFrame *f)
{
    SimCmd *c = &ss->cmd;
    uint32_t off = fc_param(f);

    if (!c->read) {
        sim_cmd_error(ss, f, "FCP_DATA for a command without data in");
        return;
    }
    if (off > c->xfer_len || f->len > c->xfer_len - off) {
        g_autofree char *what =
            g_strdup_printf("FCP_DATA offset %u length %u beyond FCP_DL %u",
                            off, f->len, c->xfer_len);

        sim_cmd_error(ss, f, what);
        return;
    }
    memcpy(c->buf + off, f->payload, f->len);
    c->bytes_in += f->len;
    c->rx_id = fc_rx_id(f);
    sim_count(ss, SIM_C_DATA_FRAMES_RECEIVED, 1);
    sim_count(ss, SIM_C_BYTES_READ, f->len);
}

/* The data checks of a command that completed with GOOD status. */
static bool sim_check_data(FcSimScsi *ss, SimStep *st, uint32_t valid)
{
    SimCmd *c = &ss->cmd;
    SimExpect *ex = &st->expect;
    const uint8_t *b = c->buf;
    bool ok = true;

    if (ex->vendor) {
        char got[9];
        int i, n = 0;

        if (valid >= 16) {
            for (i = 8; i < 16; i++) {
                got[n++] = g_ascii_isprint(b[i]) ? b[i] : '.';
            }
            while (n > 0 && got[n - 1] == ' ') {
                n--;
            }
            got[n] = 0;
            ok &= sim_check(ss, st, "vendor", !strcmp(got, ex->vendor),
                            ex->vendor, got);
        } else {
            ok &= sim_check(ss, st, "vendor", false, ex->vendor,
                            "fewer than 16 bytes");
        }
    }
    if (ex->has_last_lba) {
        ok &= sim_check_int(ss, st, "last-lba", ex->last_lba,
                            valid >= 8 && ldq_be_p(b) <= INT64_MAX ?
                            (int64_t)ldq_be_p(b) : -1, false);
    }
    if (ex->has_block_size) {
        ok &= sim_check_int(ss, st, "block-size", ex->block_size,
                            valid >= 12 ? ldl_be_p(b + 8) : -1, false);
    }
    if (ex->has_luns) {
        g_autofree uint64_t *luns = NULL;
        g_autoptr(GString) es = g_string_new("[");
        g_autoptr(GString) gs = g_string_new("[");
        unsigned i, n = 0;
        bool same;

        if (valid >= 8) {
            n = MIN(ldl_be_p(b) / 8, (valid - 8) / 8);
        }
        luns = g_new0(uint64_t, n ? n : 1);
        for (i = 0; i < n; i++) {
            luns[i] = sim_lun_decode(b + 8 + 8 * i);
        }
        qsort(luns, n, sizeof(uint64_t), sim_u64_cmp);
        same = n == ex->nluns &&
               !memcmp(luns, ex->luns, n * sizeof(uint64_t));
        for (i = 0; i < ex->nluns; i++) {
            g_string_append_printf(es, "%s%" PRIu64, i ? ", " : "",
                                   ex->luns[i]);
        }
        for (i = 0; i < n; i++) {
            g_string_append_printf(gs, "%s%" PRIu64, i ? ", " : "",
                                   luns[i]);
        }
        g_string_append_c(es, ']');
        g_string_append_c(gs, ']');
        ok &= sim_check(ss, st, "luns", same, es->str, gs->str);
    }
    if (st->has_compare) {
        int64_t bad = valid < c->xfer_len ? valid :
            sim_pattern_compare(b, c->xfer_len, st->lba * SIM_BLOCK_SIZE,
                                st->compare);
        g_autofree char *es = g_strdup_printf("pattern %u", st->compare);
        g_autofree char *gs = NULL;

        if (bad >= 0) {
            gs = valid < c->xfer_len ?
                g_strdup_printf("%u of %u bytes", valid, c->xfer_len) :
                g_strdup_printf("a difference at byte %" PRId64 " (LBA %"
                                PRIu64 ")", bad,
                                st->lba + bad / SIM_BLOCK_SIZE);
        }
        ok &= sim_check(ss, st, "compare", bad < 0, es, gs);
    }
    return ok;
}

static void sim_rx_rsp(FcSimScsi *ss, const FcFrame *f)
{
    SimCmd *c = &ss->cmd;
    const uint8_t *p = f->payload, *sns;
    uint32_t resid = 0, sns_len = 0, rsp_len = 0, expected, moved;
    uint8_t flags, status;
    int key = -1, asc = -1, ascq = -1;
    int64_t latency = sim_now() - c->issue_ns;
    bool ok, retry;
    SimStep *st;
    QDict *e;
    int idx;

    if (f->len < FCP_RSP_MIN_LEN) {
        sim_cmd_error(ss, f, "FCP_RSP shorter than 24 bytes");
        return;
    }
    flags = p[10];
    status = p[11];
    if (flags & (FCP_RESID_OVER | FCP_RESID_UNDER)) {
        resid = ldl_be_p(p + 12);
    }
    if (flags & FCP_SNS_LEN_VALID) {
        sns_len = ldl_be_p(p + 16);
    }
    if (flags & FCP_RSP_LEN_VALID) {
        rsp_len = ldl_be_p(p + 20);
    }
    if (rsp_len > f->len - FCP_RSP_MIN_LEN ||
        sns_len > f->len - FCP_RSP_MIN_LEN - rsp_len) {
        sim_cmd_error(ss, f, "FCP_RSP_LEN/FCP_SNS_LEN beyond the frame");
        return;
    }
    if ((flags & (FCP_RESID_OVER | FCP_RESID_UNDER)) ==
        (FCP_RESID_OVER | FCP_RESID_UNDER)) {
        sim_cmd_error(ss, f, "FCP_RSP with both FCP_RESID_OVER and UNDER");
    }
    if (rsp_len >= 4 && p[FCP_RSP_MIN_LEN + 3] != 0) {
        g_autofree char *what = g_strdup_printf("FCP_RSP_INFO RSP_CODE 0x%02x",
                                                p[FCP_RSP_MIN_LEN + 3]);

        sim_cmd_error(ss, f, what);
    }
    sns = p + FCP_RSP_MIN_LEN + rsp_len;
    if (sns_len >= 1) {
        switch (sns[0] & 0x7f) {
        case 0x70:
        case 0x71:
            key = sns_len >= 3 ? (sns[2] & 0xf) : -1;
            asc = sns_len >= 13 ? sns[12] : -1;
            ascq = sns_len >= 14 ? sns[13] : -1;
            break;
        case 0x72:
        case 0x73:
            key = sns_len >= 2 ? (sns[1] & 0xf) : -1;
            asc = sns_len >= 3 ? sns[2] : -1;
            ascq = sns_len >= 4 ? sns[3] : -1;
            break;
        default:
            sim_cmd_error(ss, f, "FCP_SNS_INFO: unknown sense format");
            break;
        }
    }

    sim_count(ss, SIM_C_COMPLETED, 1);
    if (status == GOOD) {
        sim_count(ss, SIM_C_GOOD, 1);
    } else if (status == CHECK_CONDITION) {
        sim_count(ss, SIM_C_CHECK_CONDITION, 1);
    } else if (status == BUSY || status == TASK_SET_FULL) {
        sim_count(ss, SIM_C_BUSY, 1);
    }
    if (ss->log) {
        fc_log_count_code(ss->log, "initiator_scsi_status", status);
    }
    e = sim_event(ss, "completed");
    if (e) {
        qdict_put_int(e, "ox_id", c->ox_id);
        qdict_put_int(e, "step", c->step);
        qdict_put_str(e, "op", sim_cmd_op_name(ss, c->step));
        qdict_put_int(e, "status", status);
        if (key >= 0) {
            qdict_put_int(e, "sense_key", key);
        }
        if (asc >= 0) {
            qdict_put_int(e, "asc", asc);
        }
        if (ascq >= 0) {
            qdict_put_int(e, "ascq", ascq);
        }
        qdict_put_int(e, "residual", resid);
        if (flags & (FCP_RESID_OVER | FCP_RESID_UNDER)) {
            qdict_put_str(e, "residual_kind", flags & FCP_RESID_UNDER ?
                          "under" : "over");
        }
        qdict_put_int(e, "bytes_in", c->bytes_in);
        qdict_put_int(e, "bytes_out", c->bytes_out);
        qdict_put_int(e, "latency_ns", latency);
    }

    idx = c->step;
    if (idx < 0) {
        int64_t issue_ns = c->issue_ns;

        ok = status == GOOD && !c->error;
        sim_cmd_clear(ss);
        sim_scan_attempt_done(ss, ok, issue_ns);
        return;
    }
    st = &ss->steps[idx];
    st->status = status;
    st->sense_key = key;
    st->asc = asc;
    st->ascq = ascq;
    st->residual = resid;
    st->resid_flags = flags & (FCP_RESID_OVER | FCP_RESID_UNDER);
    st->latency_ns = latency;

    /*
     * BUSY and TASK SET FULL are retried unless they are the answer, and
     * so is a UNIT ATTENTION unless the step expects one: a target reports
     * one on the first command of every new I_T nexus (SAM-5, unit
     * attention conditions; e.g. SCST's power-on / reset UA), and an
     * initiator retries the command (Linux scsi_error.c scsi_check_sense:
     * UNIT_ATTENTION -> NEEDS_RETRY).  Each retry counts as an attempt.
     */
    retry = (status == BUSY || status == TASK_SET_FULL) &&
            !(st->expect.status_given && st->expect.status == status) &&
            st->attempts <= st->retries;
    retry |= status == CHECK_CONDITION && key == SIM_SENSE_UNIT_ATTENTION &&
             st->expect.sense_key != SIM_SENSE_UNIT_ATTENTION &&
             st->attempts <= st->retries;
    if (retry) {
        if (status == CHECK_CONDITION) {
            sim_step_reason(st, "UNIT ATTENTION %02x/%02x, retried", asc,
                            ascq);
        } else {
            sim_step_reason(st, "status 0x%02x, retried", status);
        }
        sim_cmd_clear(ss);
        sim_schedule(ss, ss->busy_delay_ns);
        return;
    }

    ok = !c->error;
    ok &= sim_check_int(ss, st, "status", st->expect.status, status, true);
    if (st->expect.sense_key >= 0) {
        ok &= sim_check_int(ss, st, "sense-key", st->expect.sense_key, key,
                            true);
    }
    if (st->expect.asc >= 0) {
        ok &= sim_check_int(ss, st, "asc", st->expect.asc, asc, true);
    }
    if (st->expect.ascq >= 0) {
        ok &= sim_check_int(ss, st, "ascq", st->expect.ascq, ascq, true);
    }
    if (st->expect.has_abts) {
        ok &= sim_check(ss, st, "abts", false,
                        sim_abts_names[st->expect.abts], "a SCSI status");
    }
    /* the data moved must match FCP_DL less the residual */
    expected = c->xfer_len;
    if (flags & FCP_RESID_UNDER) {
        expected = resid <= c->xfer_len ? c->xfer_len - resid : 0;
    }
    moved = c->read ? c->bytes_in : c->bytes_out;
    if (status == GOOD && (c->read || c->write)) {
        g_autofree char *es = g_strdup_printf("%u bytes", expected);
        g_autofree char *gs = g_strdup_printf("%u bytes", moved);

        ok &= sim_check(ss, st, "data-length", moved == expected, es, gs);
    }
    if (status == GOOD && c->read) {
        ok &= sim_check_data(ss, st, MIN(expected, moved));
    } else if (st->expect.vendor || st->expect.has_block_size ||
               st->expect.has_last_lba || st->expect.has_luns ||
               st->has_compare) {
        ok &= sim_check(ss, st, "data", false, "data with GOOD status",
                        "no data");
    }
    sim_cmd_clear(ss);
    sim_step_finish(ss, st, ok);
}

static void sim_rx_ba(FcSimScsi *ss, const FcFrame *f, bool acc)
{
    SimCmd *c = &ss->cmd;
    QDict *e;

    if (c->state != SIM_CMD_ABTS || fc_ox_id(f) != c->ox_id) {
        sim_stale_frame(ss, f, true);
        return;
    }
    sim_count(ss, acc ? SIM_C_ABTS_BA_ACC : SIM_C_ABTS_BA_RJT, 1);
    e = sim_event(ss, "abts-answer");
    if (e) {
        qdict_put_int(e, "ox_id", c->ox_id);
        qdict_put_str(e, "answer", acc ? "ba-acc" : "ba-rjt");
        if (!acc && f->len >= FC_BA_RJT_LEN) {
            qdict_put_int(e, "reason", f->payload[1]);
            qdict_put_int(e, "explanation", f->payload[2]);
        }
        qdict_put_int(e, "latency_ns", sim_now() - c->issue_ns);
    }
    if (c->abts_for_timeout) {
        sim_attempt_lost(ss, acc ? "timeout" : "timeout (ABTS rejected)");
    } else {
        sim_abort_done(ss, acc ? SIM_ABTS_BA_ACC : SIM_ABTS_BA_RJT);
    }
}

/* An ABTS from the target (the exchange responder aborts it). */
static void sim_rx_abts(FcSimScsi *ss, const FcFrame *f)
{
    SimCmd *c = &ss->cmd;
    uint8_t pl[FC_BA_ACC_LEN] = { 0 };
    bool ours = c->state != SIM_CMD_IDLE && fc_ox_id(f) == c->ox_id;
    QDict *e = sim_event(ss, "abts-received");

    if (e) {
        qdict_put_int(e, "ox_id", fc_ox_id(f));
        qdict_put_int(e, "rx_id", fc_rx_id(f));
        qdict_put_bool(e, "open_exchange", ours);
    }
    if (ours) {
        stw_be_p(pl + 4, fc_ox_id(f));
        stw_be_p(pl + 6, fc_rx_id(f));
        stw_be_p(pl + 10, 0xffff);
        fc_link_send(&ss->sp->port,
                     sim_frame(ss, FC_RCTL_BA_ACC, FC_TYPE_BLS,
                               FC_FCTL_LAST_SEQ | FC_FCTL_END_SEQ,
                               fc_ox_id(f), fc_rx_id(f), 0, pl,
                               FC_BA_ACC_LEN));
        sim_attempt_lost(ss, "aborted by the target");
    } else {
        pl[1] = 0x03;           /* logical error */
        pl[2] = 0x03;           /* invalid OX_ID-RX_ID combination */
        fc_link_send(&ss->sp->port,
                     sim_frame(ss, FC_RCTL_BA_RJT, FC_TYPE_BLS,
                               FC_FCTL_LAST_SEQ | FC_FCTL_END_SEQ,
                               fc_ox_id(f), fc_rx_id(f), 0, pl,
                               FC_BA_RJT_LEN));
    }
}

bool fc_sim_scsi_receive(FcSimScsi *ss, const FcFrame *f)
{
    SimCmd *c = &ss->cmd;
    uint8_t type = fc_type(f);

    if (type != FC_TYPE_FCP && type != FC_TYPE_BLS) {
        return false;
    }
    if (f->len > FC_MAX_PAYLOAD) {
        sim_bad_frame(ss, f, "payload longer than 2112 bytes");
        return true;
    }
    if (fc_s_id(f) != ss->sp->peer_id || !ss->logged_in) {
        sim_stale_frame(ss, f, true);
        return true;
    }
    if (type == FC_TYPE_BLS) {
        switch (fc_r_ctl(f)) {
        case FC_RCTL_BA_ACC:
            sim_rx_ba(ss, f, true);
            break;
        case FC_RCTL_BA_RJT:
            sim_rx_ba(ss, f, false);
            break;
        case FC_RCTL_BA_ABTS:
            sim_rx_abts(ss, f);
            break;
        default:
            sim_bad_frame(ss, f, "unknown basic link service");
            break;
        }
        return true;
    }
    if (c->state == SIM_CMD_IDLE || fc_ox_id(f) != c->ox_id) {
        sim_stale_frame(ss, f, fc_r_ctl(f) != FC_RCTL_DD_SOL_DATA);
        return true;
    }
    if (c->state == SIM_CMD_ABTS) {
        /* the target answered before it saw our ABTS: too late */
        sim_stale_frame(ss, f, fc_r_ctl(f) == FC_RCTL_DD_CMD_STATUS);
        return true;
    }
    switch (fc_r_ctl(f)) {
    case FC_RCTL_DD_SOL_DATA:
        sim_rx_data(ss, f);
        break;
    case FC_RCTL_DD_DATA_DESC:
        sim_rx_xfer_rdy(ss, f);
        break;
    case FC_RCTL_DD_CMD_STATUS:
        sim_rx_rsp(ss, f);
        break;
    default:
        sim_cmd_error(ss, f, "unexpected FCP R_CTL");
        break;
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Passes, logins and logouts                                         */

static void sim_pass_done(FcSimScsi *ss)
{
    QDict *e;

    if (ss->phase == SIM_PHASE_DONE) {
        return;
    }
    timer_del(ss->next_timer);
    ss->phase = SIM_PHASE_DONE;
    ss->passes_done++;
    /* with LIPs still to originate the scenario is not done yet */
    ss->done = ss->lips_sent >= ss->lips || ss->pass >= ss->max_passes;
    e = sim_event(ss, "scenario-done");
    if (e) {
        qdict_put_int(e, "pass", ss->pass);
        qdict_put_bool(e, "all_passed", sim_all_passed(ss));
        qdict_put_bool(e, "final", ss->done);
    }
    if (!ss->done) {
        timer_mod(ss->lip_timer, sim_now() + ss->lip_delay_ns);
    }
}

/*
 * The scenario's "lips": lip-delay-ms after a pass, the initiator's port
 * originates LIP(F7, AL_PS) -- the LIP an HBA sends to re-initialise the
 * loop on demand (FC-AL-2, LIP primitive sequences; Linux fc_host
 * issue_lip) -- and, once logged in again, starts the next pass.  On a
 * point-to-point link the same call re-runs the link initialisation.
 */
static void sim_lip_cb(void *opaque)
{
    FcSimScsi *ss = opaque;
    uint16_t lip = 0xf700 | (ss->sp->port.port_id & 0xff);
    QDict *e;

    if (ss->done || ss->lips_sent >= ss->lips || !ss->sp->port.link) {
        return;
    }
    ss->lips_sent++;
    e = sim_event(ss, "lip-sent");
    if (e) {
        qdict_put_int(e, "lip", lip);
        qdict_put_int(e, "number", ss->lips_sent);
    }
    fc_link_lip(ss->sp->port.link, lip);
}

static void sim_pass_start(FcSimScsi *ss)
{
    unsigned i;

    ss->pass++;
    ss->done = false;
    ss->cur = 0;
    ss->scan_sent = 0;
    ss->scan_ok = false;
    ss->scan_done = false;
    for (i = 0; i < ss->nsteps; i++) {
        SimStep *st = &ss->steps[i];

        st->attempts = 0;
        st->finished = st->passed = false;
        st->status = st->sense_key = st->asc = st->ascq = -1;
        st->residual = 0;
        st->resid_flags = 0;
        st->latency_ns = 0;
        st->abts = SIM_ABTS_NOT_SENT;
        g_ptr_array_set_size(st->reasons, 0);
        st->reasons_dropped = 0;
    }
    ss->phase = ss->scan ? SIM_PHASE_SCAN : SIM_PHASE_STEPS;
    sim_schedule(ss, ss->first_delay_ns);
}

static void sim_logout(FcSimScsi *ss, const char *why)
{
    SimCmd *c = &ss->cmd;
    const char *reason = !strcmp(why, "logo") ? "logged-out" : why;
    QDict *e;

    if (!ss->logged_in) {
        return;
    }
    ss->logged_in = false;
    timer_del(ss->next_timer);
    sim_count(ss, SIM_C_LOGOUTS, 1);
    e = sim_event(ss, "logged-out");
    if (e) {
        qdict_put_str(e, "why", why);
        qdict_put_bool(e, "command_outstanding", c->state != SIM_CMD_IDLE);
    }
    if (c->state == SIM_CMD_IDLE) {
        return;
    }
    if (ss->ninterrupts < SIM_MAX_INTERRUPTS) {
        QDict *d = qdict_new();

        qdict_put_int(d, "t_ns", sim_now());
        qdict_put_int(d, "pass", ss->pass);
        qdict_put_int(d, "step", c->step);
        qdict_put_str(d, "op", sim_cmd_op_name(ss, c->step));
        qdict_put_int(d, "ox_id", c->ox_id);
        qdict_put_str(d, "why", reason);
        qlist_append(ss->interrupts, d);
        ss->ninterrupts++;
    }
    sim_attempt_lost(ss, reason);
    /* sim_attempt_lost() may have scheduled the next command: not yet */
    timer_del(ss->next_timer);
}

void fc_sim_scsi_logged_in(FcSimScsi *ss)
{
    QDict *e;

    if (ss->logged_in) {
        /* a new PRLI without a logout we saw: the old image pair is gone */
        sim_logout(ss, "relogin");
    }
    ss->logged_in = true;
    sim_count(ss, SIM_C_LOGINS, 1);
    e = sim_event(ss, "logged-in");
    if (e) {
        qdict_put_int(e, "peer_id", ss->sp->peer_id);
        qdict_put_int(e, "port_id", ss->sp->port.port_id);
    }
    if (ss->pass == 0 ||
        (ss->repeat && ss->pass < ss->max_passes)) {
        sim_pass_start(ss);
    } else if (ss->phase != SIM_PHASE_DONE) {
        /* resume where the logout left the list */
        sim_schedule(ss, ss->first_delay_ns);
    }
}

void fc_sim_scsi_logged_out(FcSimScsi *ss, const char *why)
{
    sim_logout(ss, why ? why : "unknown");
}

/* ------------------------------------------------------------------ */
/* Report                                                             */

static QDict *sim_step_report(FcSimScsi *ss, unsigned i)
{
    SimStep *st = &ss->steps[i];
    QDict *d = qdict_new();
    QList *reasons = qlist_new();
    unsigned j;

    qdict_put_int(d, "index", i);
    qdict_put_str(d, "op", sim_op_names[st->op]);
    if (st->name) {
        qdict_put_str(d, "name", st->name);
    }
    if (sim_op_reads(st->op) || sim_op_writes(st->op)) {
        qdict_put_int(d, "lba", st->lba);
        qdict_put_int(d, "blocks", st->blocks);
    }
    qdict_put_int(d, "fcp_dl", st->xfer_len);
    qdict_put_int(d, "attempts", st->attempts);
    qdict_put_int(d, "total_attempts", st->total_attempts);
    qdict_put_str(d, "result", !st->finished ? "pending" :
                  st->passed ? "passed" : "failed");
    qdict_put_bool(d, "passed", st->finished && st->passed);
    if (st->status >= 0) {
        qdict_put_int(d, "status", st->status);
        qdict_put_int(d, "residual", st->residual);
        qdict_put_int(d, "latency_ns", st->latency_ns);
    }
    if (st->sense_key >= 0) {
        qdict_put_int(d, "sense_key", st->sense_key);
    }
    if (st->asc >= 0) {
        qdict_put_int(d, "asc", st->asc);
    }
    if (st->ascq >= 0) {
        qdict_put_int(d, "ascq", st->ascq);
    }
    if (st->abts != SIM_ABTS_NOT_SENT) {
        qdict_put_str(d, "abts", sim_abts_names[st->abts]);
    }
    for (j = 0; j < st->reasons->len; j++) {
        qlist_append_str(reasons, g_ptr_array_index(st->reasons, j));
    }
    if (st->reasons_dropped) {
        g_autofree char *more = g_strdup_printf("(%u more)",
                                                st->reasons_dropped);

        qlist_append_str(reasons, more);
    }
    qdict_put(d, "reasons", reasons);
    return d;
}

void fc_sim_scsi_report(FcSimScsi *ss, QDict *out)
{
    QDict *r = qdict_new();
    QDict *counters = qdict_new();
    QDict *scan = qdict_new();
    QList *cmds = qlist_new();
    QList *ints = qlist_new();
    QListEntry *le;
    unsigned i;

    for (i = 0; i < SIM_C__MAX; i++) {
        qdict_put_int(counters, sim_counter_names[i], ss->counters[i]);
    }
    for (i = 0; i < ss->nsteps; i++) {
        qlist_append(cmds, sim_step_report(ss, i));
    }
    QLIST_FOREACH_ENTRY(ss->interrupts, le) {
        qlist_append_obj(ints, qobject_ref(qlist_entry_obj(le)));
    }
    qdict_put_bool(scan, "configured", ss->scan);
    if (ss->scan) {
        qdict_put_int(scan, "max_inquiry", ss->scan_max);
        qdict_put_int(scan, "inquiries", ss->scan_sent);
        qdict_put_bool(scan, "done", ss->scan_done);
        qdict_put_bool(scan, "ok", ss->scan_ok);
    }

    qdict_put_str(r, "scenario", ss->path);
    qdict_put_bool(r, "done", ss->done);
    qdict_put_bool(r, "all_passed", sim_all_passed(ss));
    qdict_put_str(r, "phase", sim_phase_names[ss->phase]);
    qdict_put_bool(r, "logged_in", ss->logged_in);
    qdict_put_int(r, "passes", ss->pass);
    qdict_put_int(r, "passes_done", ss->passes_done);
    qdict_put_int(r, "lips_sent", ss->lips_sent);
    if (ss->phase == SIM_PHASE_STEPS) {
        qdict_put_int(r, "current", ss->cur);
    }
    qdict_put(r, "counters", counters);
    qdict_put(r, "bios_scan", scan);
    qdict_put(r, "commands", cmds);
    qdict_put(r, "interruptions", ints);
    qdict_put(out, "initiator", r);
}

bool fc_sim_scsi_done(FcSimScsi *ss)
{
    return ss->done;
}

/* ------------------------------------------------------------------ */
/* Creation                                                           */

FcSimScsi *fc_sim_scsi_new(FcSimPort *sp, const char *path, FcLog *log,
                           Error **errp)
{
    g_autofree char *text = NULL;
    g_autoptr(GError) gerr = NULL;
    Error *err = NULL;
    QObject *obj;
    QDict *d;
    FcSimScsi *ss;
    gsize len;
    unsigned i;

    if (!g_file_get_contents(path, &text, &len, &gerr)) {
        error_setg(errp, "qla2532: cannot read scenario %s: %s", path,
                   gerr->message);
        return NULL;
    }
    if (len > SIM_MAX_FILE) {
        error_setg(errp, "qla2532: scenario %s: larger than %d bytes", path,
                   SIM_MAX_FILE);
        return NULL;
    }
    if (strlen(text) != len) {
        error_setg(errp, "qla2532: scenario %s: contains a NUL byte", path);
        return NULL;
    }
    obj = qobject_from_json(text, &err);
    if (!obj) {
        if (err) {
            error_prepend(&err, "qla2532: scenario %s: not valid JSON: ",
                          path);
            error_propagate(errp, err);
        } else {
            error_setg(errp, "qla2532: scenario %s: empty", path);
        }
        return NULL;
    }
    d = qobject_to(QDict, obj);
    if (!d) {
        error_setg(errp, "qla2532: scenario %s: must be a JSON object",
                   path);
        qobject_unref(obj);
        return NULL;
    }

    ss = g_new0(FcSimScsi, 1);
    ss->sp = sp;
    ss->log = log;
    ss->path = g_strdup(path);
    ss->interrupts = qlist_new();
    if (!sim_parse(ss, d, &err)) {
        qobject_unref(obj);
        error_prepend(&err, "qla2532: scenario %s: ", path);
        error_propagate(errp, err);
        fc_sim_scsi_free(ss);
        return NULL;
    }
    qobject_unref(obj);

    ss->phase = SIM_PHASE_WAIT;
    ss->cmd.step = -1;
    ss->cmd.abort_at_ns = -1;
    ss->next_timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, sim_next_cb, ss);
    ss->cmd_timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, sim_cmd_timer_cb, ss);
    ss->lip_timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, sim_lip_cb, ss);
    for (i = 0; i < SIM_C__MAX; i++) {
        sim_count(ss, i, 0);    /* every counter is in the report */
    }
    return ss;
}

void fc_sim_scsi_free(FcSimScsi *ss)
{
    unsigned i;

    if (!ss) {
        return;
    }
    if (ss->next_timer) {
        timer_free(ss->next_timer);
    }
    if (ss->cmd_timer) {
        timer_free(ss->cmd_timer);
    }
    if (ss->lip_timer) {
        timer_free(ss->lip_timer);
    }
    g_free(ss->cmd.buf);
    for (i = 0; i < ss->nsteps; i++) {
        SimStep *st = &ss->steps[i];

        g_free(st->name);
        g_free(st->expect.vendor);
        g_free(st->expect.luns);
        if (st->reasons) {
            g_ptr_array_free(st->reasons, true);
        }
    }
    g_free(ss->steps);
    qobject_unref(ss->interrupts);
    g_free(ss->path);
    g_free(ss);
}
