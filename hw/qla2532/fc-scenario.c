/*
 * Scenario files of the simulated initiator: reading, schema checks and
 * defaults (docs/scenario.md).  See fc-scenario.h.
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/cutils.h"
#include "qapi/error.h"
#include "qapi/qmp/qbool.h"
#include "qapi/qmp/qdict.h"
#include "qapi/qmp/qjson.h"
#include "qapi/qmp/qlist.h"
#include "qapi/qmp/qnum.h"
#include "qapi/qmp/qstring.h"
#include "scsi/constants.h"
#include "fc-scenario.h"
#include "trace.h"

#define SCN_US                  1000LL
#define SCN_MS                  1000000LL

const char *const fc_scenario_op_names[FC_SCN_OP__MAX] = {
    [FC_SCN_OP_REPORT_LUNS] = "report-luns",
    [FC_SCN_OP_INQUIRY] = "inquiry",
    [FC_SCN_OP_TUR] = "test-unit-ready",
    [FC_SCN_OP_READ_CAP16] = "read-capacity-16",
    [FC_SCN_OP_READ10] = "read-10",
    [FC_SCN_OP_WRITE10] = "write-10",
    [FC_SCN_OP_READ16] = "read-16",
    [FC_SCN_OP_WRITE16] = "write-16",
    [FC_SCN_OP_CDB] = "cdb",
};

const char *const fc_scenario_abts_names[FC_SCN_ABTS__MAX] = {
    [FC_SCN_ABTS_NOT_SENT] = "not-sent",
    [FC_SCN_ABTS_BA_ACC] = "ba-acc",
    [FC_SCN_ABTS_BA_RJT] = "ba-rjt",
    [FC_SCN_ABTS_NONE] = "none",
};

static int scn_u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

void fc_scenario_sort_luns(uint64_t *luns, unsigned n)
{
    qsort(luns, n, sizeof(uint64_t), scn_u64_cmp);
}

/* ------------------------------------------------------------------ */
/* Scenario parsing                                                   */

static bool scn_check_keys(QDict *d, const char *ctx,
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
static bool scn_get_uint(QDict *d, const char *key, const char *ctx,
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

/* scn_get_uint() into an int64_t, scaled by @unit (e.g. µs -> ns). */
static bool scn_get_time(QDict *d, const char *key, const char *ctx,
                         uint64_t max, int64_t unit, int64_t *out_ns,
                         Error **errp)
{
    uint64_t v;

    if (!qdict_haskey(d, key)) {
        return true;
    }
    if (!scn_get_uint(d, key, ctx, max, &v, errp)) {
        return false;
    }
    *out_ns = (int64_t)v * unit;
    return true;
}

static bool scn_get_bool(QDict *d, const char *key, const char *ctx,
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
static bool scn_get_str(QDict *d, const char *key, const char *ctx,
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
static bool scn_get_status(QDict *d, const char *key, const char *ctx,
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
    if (!scn_get_uint(d, key, ctx, 0xff, &v, errp)) {
        return false;
    }
    *out = v;
    return true;
}

static bool scn_parse_hex(const char *s, const char *ctx, uint8_t *cdb,
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

bool fc_scenario_op_reads(FcScenarioOp op)
{
    return op == FC_SCN_OP_READ10 || op == FC_SCN_OP_READ16;
}

bool fc_scenario_op_writes(FcScenarioOp op)
{
    return op == FC_SCN_OP_WRITE10 || op == FC_SCN_OP_WRITE16;
}

static bool scn_parse_expect(QDict *d, const char *ctx, FcScenarioStep *st,
                             Error **errp)
{
    static const char *const keys[] = {
        "status", "sense-key", "asc", "ascq", "vendor", "block-size",
        "last-lba", "luns", "abts", NULL
    };
    FcScenarioExpect *ex = &st->expect;
    const char *s;
    uint64_t v;
    QList *l;
    QListEntry *le;
    unsigned n;

    if (!scn_check_keys(d, ctx, keys, errp)) {
        return false;
    }
    if (qdict_haskey(d, "status")) {
        if (!scn_get_status(d, "status", ctx, &ex->status, errp)) {
            return false;
        }
        ex->status_given = true;
    }
    v = 0;
    if (qdict_haskey(d, "sense-key")) {
        if (!scn_get_uint(d, "sense-key", ctx, 0xf, &v, errp)) {
            return false;
        }
        ex->sense_key = v;
    }
    if (qdict_haskey(d, "asc")) {
        if (!scn_get_uint(d, "asc", ctx, 0xff, &v, errp)) {
            return false;
        }
        ex->asc = v;
    }
    if (qdict_haskey(d, "ascq")) {
        if (!scn_get_uint(d, "ascq", ctx, 0xff, &v, errp)) {
            return false;
        }
        ex->ascq = v;
    }
    if (!scn_get_str(d, "vendor", ctx, &s, errp)) {
        return false;
    }
    if (s) {
        if (st->op != FC_SCN_OP_INQUIRY && st->op != FC_SCN_OP_CDB) {
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
        if (st->op != FC_SCN_OP_READ_CAP16 && st->op != FC_SCN_OP_CDB) {
            error_setg(errp, "%s: block-size and last-lba only for "
                       "read-capacity-16 or cdb", ctx);
            return false;
        }
    }
    if (qdict_haskey(d, "block-size")) {
        if (!scn_get_uint(d, "block-size", ctx, UINT32_MAX, &v, errp)) {
            return false;
        }
        ex->has_block_size = true;
        ex->block_size = v;
    }
    if (qdict_haskey(d, "last-lba")) {
        if (!scn_get_uint(d, "last-lba", ctx, UINT64_MAX, &ex->last_lba,
                          errp)) {
            return false;
        }
        ex->has_last_lba = true;
    }
    if (qdict_haskey(d, "luns")) {
        if (st->op != FC_SCN_OP_REPORT_LUNS && st->op != FC_SCN_OP_CDB) {
            error_setg(errp, "%s.luns: only for report-luns or cdb", ctx);
            return false;
        }
        l = qobject_to(QList, qdict_get(d, "luns"));
        if (!l) {
            error_setg(errp, "%s.luns: must be a list of LUNs", ctx);
            return false;
        }
        n = qlist_size(l);
        if (n > FC_SCN_MAX_LUNS) {
            error_setg(errp, "%s.luns: more than %d LUNs", ctx,
                       FC_SCN_MAX_LUNS);
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
        fc_scenario_sort_luns(ex->luns, ex->nluns);
    }
    if (!scn_get_str(d, "abts", ctx, &s, errp)) {
        return false;
    }
    if (s) {
        if (!strcmp(s, "ba-acc")) {
            ex->abts = FC_SCN_ABTS_BA_ACC;
        } else if (!strcmp(s, "ba-rjt")) {
            ex->abts = FC_SCN_ABTS_BA_RJT;
        } else if (!strcmp(s, "none")) {
            ex->abts = FC_SCN_ABTS_NONE;
        } else {
            error_setg(errp, "%s.abts: must be ba-acc, ba-rjt or none", ctx);
            return false;
        }
        ex->has_abts = true;
    }
    return true;
}

static bool scn_parse_step(FcScenario *scn, QDict *d, const char *ctx,
                           FcScenarioStep *st, Error **errp)
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

    if (!scn_check_keys(d, ctx, keys, errp)) {
        return false;
    }
    if (!scn_get_str(d, "op", ctx, &s, errp)) {
        return false;
    }
    if (!s) {
        error_setg(errp, "%s: 'op' is missing", ctx);
        return false;
    }
    for (i = 0; i < FC_SCN_OP__MAX; i++) {
        if (!strcmp(s, fc_scenario_op_names[i])) {
            break;
        }
    }
    if (i == FC_SCN_OP__MAX) {
        error_setg(errp, "%s.op: unknown operation '%s' (report-luns, "
                   "inquiry, test-unit-ready, read-capacity-16, read-10, "
                   "write-10, read-16, write-16, cdb)", ctx, s);
        return false;
    }
    st->op = i;
    reads = fc_scenario_op_reads(st->op);
    writes = fc_scenario_op_writes(st->op);

    if (!scn_get_str(d, "name", ctx, &s, errp)) {
        return false;
    }
    st->name = g_strdup(s);
    st->lun = scn->lun;
    if (!scn_get_uint(d, "lun", ctx, UINT64_MAX, &st->lun, errp)) {
        return false;
    }
    st->retries = scn->retries;
    if (!scn_get_uint(d, "retries", ctx, 100, &v, errp)) {
        return false;
    }
    if (qdict_haskey(d, "retries")) {
        st->retries = v;
    }
    st->delay_ns = -1;
    if (!scn_get_time(d, "delay-us", ctx, 3600000000ULL, SCN_US,
                      &st->delay_ns, errp)) {
        return false;
    }
    st->abort_after_ns = -1;
    if (!scn_get_time(d, "abort-after-us", ctx, 3600000000ULL, SCN_US,
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
    if (qdict_haskey(d, "alloc-len") && st->op != FC_SCN_OP_INQUIRY &&
        st->op != FC_SCN_OP_REPORT_LUNS && st->op != FC_SCN_OP_READ_CAP16) {
        error_setg(errp, "%s.alloc-len: only for inquiry, report-luns, "
                   "read-capacity-16", ctx);
        return false;
    }
    if ((qdict_haskey(d, "cdb") || qdict_haskey(d, "direction") ||
         qdict_haskey(d, "length")) && st->op != FC_SCN_OP_CDB) {
        error_setg(errp, "%s: cdb, direction and length only for op cdb",
                   ctx);
        return false;
    }
    if (reads || writes) {
        uint64_t max_lba;
        bool ten = st->op == FC_SCN_OP_READ10 || st->op == FC_SCN_OP_WRITE10;

        if (!scn_get_uint(d, "lba", ctx, ten ? UINT32_MAX : UINT64_MAX,
                          &lba, errp) ||
            !scn_get_uint(d, "blocks", ctx, FC_SCN_MAX_BLOCKS, &blocks,
                          errp)) {
            return false;
        }
        if (blocks == 0) {
            error_setg(errp, "%s.blocks: must be 1..%d", ctx,
                       FC_SCN_MAX_BLOCKS);
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
        st->xfer_len = blocks * FC_SCN_BLOCK_SIZE;
        st->read = reads;
        st->write = writes;
        switch (st->op) {
        case FC_SCN_OP_READ10:
        case FC_SCN_OP_WRITE10:
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
    case FC_SCN_OP_REPORT_LUNS:
        alloc = 4096;
        if (!scn_get_uint(d, "alloc-len", ctx, FC_SCN_MAX_XFER, &alloc,
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
    case FC_SCN_OP_INQUIRY:
        alloc = 96;
        if (!scn_get_uint(d, "alloc-len", ctx, 0xffff, &alloc, errp)) {
            return false;
        }
        st->cdb[0] = INQUIRY;
        stw_be_p(st->cdb + 3, alloc);
        st->read = alloc != 0;
        st->xfer_len = alloc;
        break;
    case FC_SCN_OP_TUR:
        st->cdb[0] = TEST_UNIT_READY;
        break;
    case FC_SCN_OP_READ_CAP16:
        alloc = 32;
        if (!scn_get_uint(d, "alloc-len", ctx, FC_SCN_MAX_XFER, &alloc,
                          errp)) {
            return false;
        }
        st->cdb[0] = SERVICE_ACTION_IN_16;
        st->cdb[1] = SAI_READ_CAPACITY_16;
        stl_be_p(st->cdb + 10, alloc);
        st->read = alloc != 0;
        st->xfer_len = alloc;
        break;
    case FC_SCN_OP_CDB:
        if (!scn_get_str(d, "cdb", ctx, &s, errp)) {
            return false;
        }
        if (!s) {
            error_setg(errp, "%s: op cdb needs 'cdb' (hex string)", ctx);
            return false;
        }
        if (!scn_parse_hex(s, ctx, st->cdb, errp)) {
            return false;
        }
        if (!scn_get_str(d, "direction", ctx, &s, errp)) {
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
        if (!scn_get_uint(d, "length", ctx, FC_SCN_MAX_XFER, &v, errp)) {
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
        if (!scn_get_uint(d, "pattern", ctx, UINT32_MAX, &v, errp)) {
            return false;
        }
        st->pattern = v;
    }
    if (qdict_haskey(d, "compare")) {
        if (!st->read || (!reads && st->op != FC_SCN_OP_CDB)) {
            error_setg(errp, "%s.compare: only for a command that reads "
                       "blocks (read-10, read-16, cdb with direction read)",
                       ctx);
            return false;
        }
        if (!scn_get_uint(d, "compare", ctx, UINT32_MAX, &v, errp)) {
            return false;
        }
        st->has_compare = true;
        st->compare = v;
    }
    if (!scn_get_bool(d, "withhold-data", ctx, &st->withhold, errp)) {
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
        if (!scn_parse_expect(ex, ectx, st, errp)) {
            return false;
        }
    }
    if (st->expect.has_abts && st->abort_after_ns < 0) {
        error_setg(errp, "%s.expect.abts: needs abort-after-us", ctx);
        return false;
    }
    if (st->abort_after_ns >= 0 && !st->expect.has_abts) {
        st->expect.has_abts = true;
        st->expect.abts = FC_SCN_ABTS_BA_ACC;
    }
    return true;
}

static bool scn_parse(FcScenario *scn, QDict *d, Error **errp)
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

    if (!scn_check_keys(d, "scenario", keys, errp)) {
        return false;
    }
    if (!scn_get_str(d, "name", "scenario", &s, errp)) {
        return false;
    }
    scn->name = g_strdup(s);
    if (!scn_get_str(d, "description", "scenario", &s, errp)) {
        return false;
    }
    scn->lun = 0;
    scn->first_delay_ns = FC_SCN_DEFAULT_FIRST_DELAY_NS;
    scn->gap_ns = FC_SCN_DEFAULT_GAP_NS;
    scn->timeout_ns = FC_SCN_DEFAULT_TIMEOUT_NS;
    scn->busy_delay_ns = FC_SCN_DEFAULT_BUSY_DELAY_NS;
    scn->retries = FC_SCN_DEFAULT_RETRIES;
    scn->repeat = true;
    scn->max_passes = FC_SCN_DEFAULT_MAX_PASSES;
    if (!scn_get_uint(d, "lun", "scenario", UINT64_MAX, &scn->lun, errp) ||
        !scn_get_time(d, "first-command-delay-us", "scenario",
                      3600000000ULL, SCN_US, &scn->first_delay_ns, errp) ||
        !scn_get_time(d, "command-gap-us", "scenario", 3600000000ULL,
                      SCN_US, &scn->gap_ns, errp) ||
        !scn_get_time(d, "busy-delay-us", "scenario", 3600000000ULL,
                      SCN_US, &scn->busy_delay_ns, errp) ||
        !scn_get_time(d, "command-timeout-ms", "scenario", 3600000,
                      SCN_MS, &scn->timeout_ns, errp) ||
        !scn_get_bool(d, "repeat-after-relogin", "scenario", &scn->repeat,
                      errp)) {
        return false;
    }
    if (scn->timeout_ns == 0) {
        error_setg(errp, "scenario.command-timeout-ms: must be at least 1");
        return false;
    }
    v = scn->retries;
    if (!scn_get_uint(d, "retries", "scenario", 100, &v, errp)) {
        return false;
    }
    scn->retries = v;
    v = scn->max_passes;
    if (!scn_get_uint(d, "max-passes", "scenario", 1000, &v, errp)) {
        return false;
    }
    if (v == 0) {
        error_setg(errp, "scenario.max-passes: must be 1..1000");
        return false;
    }
    scn->max_passes = v;
    v = 0;
    if (!scn_get_uint(d, "lips", "scenario", 100, &v, errp) ||
        !scn_get_time(d, "lip-delay-ms", "scenario", 3600000, SCN_MS,
                      &scn->lip_delay_ns, errp)) {
        return false;
    }
    scn->lips = v;
    if (scn->lips && !scn->repeat) {
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
        if (!scn_check_keys(scan, "scenario.bios-scan", scan_keys, errp)) {
            return false;
        }
        v = FC_SCN_DEFAULT_SCAN_MAX;
        if (!scn_get_uint(scan, "max-inquiry", "scenario.bios-scan", 1000,
                          &v, errp)) {
            return false;
        }
        if (v == 0) {
            error_setg(errp, "scenario.bios-scan.max-inquiry: must be "
                       "1..1000");
            return false;
        }
        scn->scan = true;
        scn->scan_max = v;
        scn->scan_interval_ns = FC_SCN_DEFAULT_SCAN_INTERVAL_NS;
        if (!scn_get_time(scan, "interval-ms", "scenario.bios-scan", 600000,
                          SCN_MS, &scn->scan_interval_ns, errp)) {
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
    if (n > FC_SCN_MAX_STEPS) {
        error_setg(errp, "scenario.commands: more than %d commands",
                   FC_SCN_MAX_STEPS);
        return false;
    }
    scn->steps = g_new0(FcScenarioStep, n ? n : 1);
    QLIST_FOREACH_ENTRY(cmds, le) {
        g_autofree char *ctx = g_strdup_printf("commands[%u]", scn->nsteps);
        QDict *c = qobject_to(QDict, qlist_entry_obj(le));
        FcScenarioStep *st = &scn->steps[scn->nsteps];

        if (!c) {
            error_setg(errp, "%s: must be an object", ctx);
            return false;
        }
        /* counted first, so that a half-parsed step is freed too */
        scn->nsteps++;
        if (!scn_parse_step(scn, c, ctx, st, errp)) {
            return false;
        }
    }
    return true;
}


/* ------------------------------------------------------------------ */
/* Loading                                                            */

/* FNV-1a (32 bits) of the file's bytes: a saved run names its program. */
static uint32_t fc_scenario_digest(const char *text, gsize len)
{
    uint32_t h = 0x811c9dc5u;
    gsize i;

    for (i = 0; i < len; i++) {
        h = (h ^ (uint8_t)text[i]) * 0x01000193u;
    }
    return h;
}

FcScenario *fc_scenario_load(const char *path, Error **errp)
{
    g_autofree char *text = NULL;
    g_autoptr(GError) gerr = NULL;
    Error *err = NULL;
    QObject *obj;
    QDict *d;
    FcScenario *scn;
    gsize len;

    if (!g_file_get_contents(path, &text, &len, &gerr)) {
        error_setg(errp, "qla2532: cannot read scenario %s: %s", path,
                   gerr->message);
        return NULL;
    }
    if (len > FC_SCN_MAX_FILE) {
        error_setg(errp, "qla2532: scenario %s: larger than %d bytes", path,
                   FC_SCN_MAX_FILE);
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

    scn = g_new0(FcScenario, 1);
    scn->path = g_strdup(path);
    scn->digest = fc_scenario_digest(text, len);
    if (!scn_parse(scn, d, &err)) {
        qobject_unref(obj);
        error_prepend(&err, "qla2532: scenario %s: ", path);
        error_propagate(errp, err);
        fc_scenario_free(scn);
        return NULL;
    }
    qobject_unref(obj);
    trace_qla2532_scenario_load(path, scn->nsteps, scn->lips,
                                scn->scan ? scn->scan_max : 0);
    return scn;
}

void fc_scenario_free(FcScenario *scn)
{
    unsigned i;

    if (!scn) {
        return;
    }
    for (i = 0; i < scn->nsteps; i++) {
        FcScenarioStep *st = &scn->steps[i];

        g_free(st->name);
        g_free(st->expect.vendor);
        g_free(st->expect.luns);
    }
    g_free(scn->steps);
    g_free(scn->name);
    g_free(scn->path);
    g_free(scn);
}
