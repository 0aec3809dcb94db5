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
#include "qemu/error-report.h"
#include "qapi/error.h"
#include "qapi/qmp/qbool.h"
#include "qapi/qmp/qdict.h"
#include "qapi/qmp/qjson.h"
#include "qapi/qmp/qlist.h"
#include "qapi/qmp/qnum.h"
#include "qapi/qmp/qstring.h"
#include "scsi/constants.h"
#include "fc-sim-port.h"
#include "fc-scenario.h"
#include "fc-sim-scsi.h"
#include "trace.h"

/* SPC-4 sense key UNIT ATTENTION */
#define SIM_SENSE_UNIT_ATTENTION 0x06

#define SIM_MAX_REASONS         32                  /* kept per command */
#define SIM_MAX_INTERRUPTS      256                 /* kept per scenario */
#define SIM_DATA_FRAME          2048                /* FCP_DATA payload */
#define SIM_US                  1000LL
#define SIM_MS                  1000000LL
/* 2 x R_A_TOV, R_A_TOV = 10 s (FC-FS-3 Table 48, and qla2xxx's default) */
#define SIM_ABTS_TIMEOUT_NS     (20000 * SIM_MS)

#define FC_BA_RJT_LEN           4

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

/**
 * SimStep: one command of the scenario (@spec) and its outcome in the
 * current pass.
 */
typedef struct SimStep {
    const FcScenarioStep *spec;
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
    FcScenarioAbts abts;
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
    FcScenario *scn;            /* the program, read-only */
    SimStep *steps;             /* scn->nsteps entries */

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
    void (*done_cb)(void *);    /* fc_sim_scsi_on_done */
    void *done_opaque;

    /* saved state (vmstate_fc_sim_scsi) */
    uint32_t mig_nsteps;        /* scn->nsteps */
    uint32_t mig_digest;        /* scn->digest */
    char *mig_json;             /* reasons and interruptions, while saving */
    uint32_t mig_json_len;      /* bytes, with the NUL */
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
    return step < 0 ? "bios-scan-inquiry"
                    : fc_scenario_op_names[ss->steps[step].spec->op];
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
        qdict_put_str(e, "op", fc_scenario_op_names[st->spec->op]);
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

    /*
     * the pass that ended last (with "lips" the scenario is not done
     * yet after it, but the pass is)
     */
    if (ss->phase != SIM_PHASE_DONE || (ss->scn->scan && !ss->scan_ok)) {
        return false;
    }
    for (i = 0; i < ss->scn->nsteps; i++) {
        if (!ss->steps[i].finished || !ss->steps[i].passed) {
            return false;
        }
    }
    return true;
}

/* Go on with the list after the current step ended. */
static void sim_advance(FcSimScsi *ss)
{
    if (ss->cur >= ss->scn->nsteps) {
        sim_pass_done(ss);
        return;
    }
    sim_schedule(ss, ss->steps[ss->cur].spec->delay_ns >= 0 ?
                 ss->steps[ss->cur].spec->delay_ns : ss->scn->gap_ns);
}

static void sim_step_finish(FcSimScsi *ss, SimStep *st, bool passed)
{
    trace_qla2532_sim_step_done(ss->pass, ss->cur, passed, st->attempts);
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
    } else if (ss->scan_sent >= ss->scn->scan_max) {
        sim_scan_finish(ss, false);
    } else {
        sim_schedule(ss, issue_ns + ss->scn->scan_interval_ns - sim_now());
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
    trace_qla2532_sim_cmd_lost(c->ox_id, idx, reason);
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
    if (st->attempts <= st->spec->retries) {
        sim_schedule(ss, ss->scn->gap_ns);   /* the same step again */
    } else {
        sim_step_finish(ss, st, false);
    }
}

/* Our own ABTS (abort-after-us) was answered, or not. */
static void sim_abort_done(FcSimScsi *ss, FcScenarioAbts got)
{
    SimCmd *c = &ss->cmd;
    SimStep *st = &ss->steps[c->step];
    const FcScenarioExpect *ex = &st->spec->expect;
    bool ok = !c->error;

    st->abts = got;
    st->status = -1;
    st->sense_key = st->asc = st->ascq = -1;
    st->latency_ns = sim_now() - c->issue_ns;
    ok &= sim_check(ss, st, "abts", got == ex->abts,
                    fc_scenario_abts_names[ex->abts],
                    fc_scenario_abts_names[got]);
    if (ex->status_given) {
        ok &= sim_check_int(ss, st, "status", ex->status, -1, true);
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
    trace_qla2532_sim_abts(c->ox_id, c->rx_id, for_timeout);
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
    c->deadline_ns = now + ss->scn->timeout_ns;
    if (st) {
        sim_lun_encode(st->spec->lun, pl);
        memcpy(pl + 12, st->spec->cdb, 16);
        c->read = st->spec->read;
        c->write = st->spec->write;
        c->xfer_len = st->spec->xfer_len;
        if (st->attempts++ > 0) {
            sim_count(ss, SIM_C_RETRIED, 1);
        }
        st->total_attempts++;
        if (st->spec->abort_after_ns >= 0) {
            c->abort_at_ns = now + st->spec->abort_after_ns;
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
                             st->spec->lba * FC_SCN_BLOCK_SIZE,
                             st->spec->pattern);
        }
    }

    sim_count(ss, SIM_C_ISSUED, 1);
    trace_qla2532_sim_cmd(ss->pass, idx, sim_cmd_op_name(ss, idx), c->ox_id,
                          pl[12], c->xfer_len,
                          st ? st->attempts : ss->scan_sent);
    e = sim_event(ss, "command");
    if (e) {
        qdict_put_str(e, "op", sim_cmd_op_name(ss, idx));
        qdict_put_int(e, "step", idx);
        qdict_put_int(e, "ox_id", c->ox_id);
        qdict_put_int(e, "lun", st ? st->spec->lun : 0);
        qdict_put_int(e, "opcode", pl[12]);
        qdict_put_int(e, "lba", st ? st->spec->lba : 0);
        qdict_put_int(e, "blocks", st ? st->spec->blocks : 0);
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
        if (ss->scan_sent < ss->scn->scan_max) {
            sim_issue(ss, -1);
        } else {
            sim_scan_finish(ss, false);
        }
        break;
    case SIM_PHASE_STEPS:
        if (ss->cur < ss->scn->nsteps) {
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
            trace_qla2532_sim_timeout(c->ox_id, c->step, c->bytes_in,
                                      c->bytes_out);
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
        trace_qla2532_sim_abts_answer(c->ox_id, "none");
        e = sim_event(ss, "abts-answer");
        if (e) {
            qdict_put_int(e, "ox_id", c->ox_id);
            qdict_put_str(e, "answer", "none");
        }
        if (c->abts_for_timeout) {
            sim_attempt_lost(ss, "timeout (no answer to ABTS)");
        } else {
            sim_abort_done(ss, FC_SCN_ABTS_NONE);
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
    trace_qla2532_sim_xfer_rdy(c->ox_id, c->rx_id, ro, burst,
                               ss->steps[c->step].spec->withhold);
    if (ss->steps[c->step].spec->withhold) {
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
    const FcScenarioExpect *ex = &st->spec->expect;
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
        fc_scenario_sort_luns(luns, n);
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
    if (st->spec->has_compare) {
        int64_t bad = valid < c->xfer_len ? valid :
            sim_pattern_compare(b, c->xfer_len,
                                st->spec->lba * FC_SCN_BLOCK_SIZE,
                                st->spec->compare);
        g_autofree char *es = g_strdup_printf("pattern %u", st->spec->compare);
        g_autofree char *gs = NULL;

        if (bad >= 0) {
            gs = valid < c->xfer_len ?
                g_strdup_printf("%u of %u bytes", valid, c->xfer_len) :
                g_strdup_printf("a difference at byte %" PRId64 " (LBA %"
                                PRIu64 ")", bad,
                                st->spec->lba + bad / FC_SCN_BLOCK_SIZE);
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
    const FcScenarioExpect *ex;
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

    trace_qla2532_sim_rsp(c->ox_id, c->step, status, key, asc, ascq, resid,
                          latency);
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
    ex = &st->spec->expect;

    /*
     * BUSY and TASK SET FULL are retried unless they are the answer, and
     * so is a UNIT ATTENTION unless the step expects one: a target reports
     * one on the first command of every new I_T nexus (SAM-5, unit
     * attention conditions; e.g. SCST's power-on / reset UA), and an
     * initiator retries the command (Linux scsi_error.c scsi_check_sense:
     * UNIT_ATTENTION -> NEEDS_RETRY).  Each retry counts as an attempt.
     */
    retry = (status == BUSY || status == TASK_SET_FULL) &&
            !(ex->status_given && ex->status == status) &&
            st->attempts <= st->spec->retries;
    retry |= status == CHECK_CONDITION && key == SIM_SENSE_UNIT_ATTENTION &&
             ex->sense_key != SIM_SENSE_UNIT_ATTENTION &&
             st->attempts <= st->spec->retries;
    if (retry) {
        if (status == CHECK_CONDITION) {
            sim_step_reason(st, "UNIT ATTENTION %02x/%02x, retried", asc,
                            ascq);
        } else {
            sim_step_reason(st, "status 0x%02x, retried", status);
        }
        sim_cmd_clear(ss);
        sim_schedule(ss, ss->scn->busy_delay_ns);
        return;
    }

    ok = !c->error;
    ok &= sim_check_int(ss, st, "status", ex->status, status, true);
    if (ex->sense_key >= 0) {
        ok &= sim_check_int(ss, st, "sense-key", ex->sense_key, key, true);
    }
    if (ex->asc >= 0) {
        ok &= sim_check_int(ss, st, "asc", ex->asc, asc, true);
    }
    if (ex->ascq >= 0) {
        ok &= sim_check_int(ss, st, "ascq", ex->ascq, ascq, true);
    }
    if (ex->has_abts) {
        ok &= sim_check(ss, st, "abts", false,
                        fc_scenario_abts_names[ex->abts], "a SCSI status");
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
    } else if (st->spec->expect.vendor || st->spec->expect.has_block_size ||
               st->spec->expect.has_last_lba || st->spec->expect.has_luns ||
               st->spec->has_compare) {
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
    trace_qla2532_sim_abts_answer(c->ox_id, acc ? "ba-acc" : "ba-rjt");
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
        sim_abort_done(ss, acc ? FC_SCN_ABTS_BA_ACC : FC_SCN_ABTS_BA_RJT);
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
    ss->done = ss->lips_sent >= ss->scn->lips ||
               ss->pass >= ss->scn->max_passes;
    trace_qla2532_sim_pass_done(ss->pass, sim_all_passed(ss), ss->done);
    e = sim_event(ss, "scenario-done");
    if (e) {
        qdict_put_int(e, "pass", ss->pass);
        qdict_put_bool(e, "all_passed", sim_all_passed(ss));
        qdict_put_bool(e, "final", ss->done);
    }
    if (!ss->done) {
        timer_mod(ss->lip_timer, sim_now() + ss->scn->lip_delay_ns);
    } else if (ss->done_cb) {
        ss->done_cb(ss->done_opaque);
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

    if (ss->done || ss->lips_sent >= ss->scn->lips || !ss->sp->port.link) {
        return;
    }
    ss->lips_sent++;
    trace_qla2532_sim_lip(lip, ss->lips_sent);
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
    for (i = 0; i < ss->scn->nsteps; i++) {
        SimStep *st = &ss->steps[i];

        st->attempts = 0;
        st->finished = st->passed = false;
        st->status = st->sense_key = st->asc = st->ascq = -1;
        st->residual = 0;
        st->resid_flags = 0;
        st->latency_ns = 0;
        st->abts = FC_SCN_ABTS_NOT_SENT;
        g_ptr_array_set_size(st->reasons, 0);
        st->reasons_dropped = 0;
    }
    ss->phase = ss->scn->scan ? SIM_PHASE_SCAN : SIM_PHASE_STEPS;
    trace_qla2532_sim_pass_start(ss->pass, ss->scn->scan, ss->scn->nsteps);
    sim_schedule(ss, ss->scn->first_delay_ns);
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
    trace_qla2532_sim_logout(why, c->state != SIM_CMD_IDLE);
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
        (ss->scn->repeat && ss->pass < ss->scn->max_passes)) {
        sim_pass_start(ss);
    } else if (ss->phase != SIM_PHASE_DONE) {
        /* resume where the logout left the list */
        sim_schedule(ss, ss->scn->first_delay_ns);
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
    qdict_put_str(d, "op", fc_scenario_op_names[st->spec->op]);
    if (st->spec->name) {
        qdict_put_str(d, "name", st->spec->name);
    }
    if (fc_scenario_op_reads(st->spec->op) ||
        fc_scenario_op_writes(st->spec->op)) {
        qdict_put_int(d, "lba", st->spec->lba);
        qdict_put_int(d, "blocks", st->spec->blocks);
    }
    qdict_put_int(d, "fcp_dl", st->spec->xfer_len);
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
    if (st->abts != FC_SCN_ABTS_NOT_SENT) {
        qdict_put_str(d, "abts", fc_scenario_abts_names[st->abts]);
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
    for (i = 0; i < ss->scn->nsteps; i++) {
        qlist_append(cmds, sim_step_report(ss, i));
    }
    QLIST_FOREACH_ENTRY(ss->interrupts, le) {
        qlist_append_obj(ints, qobject_ref(qlist_entry_obj(le)));
    }
    qdict_put_bool(scan, "configured", ss->scn->scan);
    if (ss->scn->scan) {
        qdict_put_int(scan, "max_inquiry", ss->scn->scan_max);
        qdict_put_int(scan, "inquiries", ss->scan_sent);
        qdict_put_bool(scan, "done", ss->scan_done);
        qdict_put_bool(scan, "ok", ss->scan_ok);
    }

    qdict_put_str(r, "scenario", ss->scn->path);
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

void fc_sim_scsi_on_done(FcSimScsi *ss, void (*cb)(void *), void *opaque)
{
    ss->done_cb = cb;
    ss->done_opaque = opaque;
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
    FcScenario *scn = fc_scenario_load(path, errp);
    FcSimScsi *ss;
    unsigned i;

    if (!scn) {
        return NULL;
    }
    ss = g_new0(FcSimScsi, 1);
    ss->sp = sp;
    ss->log = log;
    ss->scn = scn;
    ss->steps = g_new0(SimStep, scn->nsteps ? scn->nsteps : 1);
    for (i = 0; i < scn->nsteps; i++) {
        SimStep *st = &ss->steps[i];

        st->spec = &scn->steps[i];
        st->reasons = g_ptr_array_new_with_free_func(g_free);
        st->status = -1;
        st->sense_key = st->asc = st->ascq = -1;
    }
    ss->interrupts = qlist_new();
    ss->mig_nsteps = scn->nsteps;
    ss->mig_digest = scn->digest;
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
    timer_free(ss->next_timer);
    timer_free(ss->cmd_timer);
    timer_free(ss->lip_timer);
    g_free(ss->cmd.buf);
    g_free(ss->mig_json);
    for (i = 0; i < ss->scn->nsteps; i++) {
        g_ptr_array_free(ss->steps[i].reasons, true);
    }
    g_free(ss->steps);
    fc_scenario_free(ss->scn);
    qobject_unref(ss->interrupts);
    g_free(ss);
}

/* ------------------------------------------------------------------ */
/* Saved state                                                        */

static const VMStateDescription vmstate_sim_step = {
    .name = "fc-sim-scsi-step",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (VMStateField[]) {
        VMSTATE_UINT32(attempts, SimStep),
        VMSTATE_UINT32(total_attempts, SimStep),
        VMSTATE_BOOL(finished, SimStep),
        VMSTATE_BOOL(passed, SimStep),
        VMSTATE_INT32(status, SimStep),
        VMSTATE_INT32(sense_key, SimStep),
        VMSTATE_INT32(asc, SimStep),
        VMSTATE_INT32(ascq, SimStep),
        VMSTATE_UINT32(residual, SimStep),
        VMSTATE_UINT8(resid_flags, SimStep),
        VMSTATE_INT64(latency_ns, SimStep),
        VMSTATE_UINT32(abts, SimStep),
        VMSTATE_UINT32(reasons_dropped, SimStep),
        VMSTATE_END_OF_LIST()
    }
};

static const VMStateDescription vmstate_sim_cmd = {
    .name = "fc-sim-scsi-exchange",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (VMStateField[]) {
        VMSTATE_UINT32(state, SimCmd),
        VMSTATE_INT32(step, SimCmd),
        VMSTATE_UINT16(ox_id, SimCmd),
        VMSTATE_UINT16(rx_id, SimCmd),
        VMSTATE_UINT8(seq_id, SimCmd),
        VMSTATE_BOOL(read, SimCmd),
        VMSTATE_BOOL(write, SimCmd),
        VMSTATE_UINT32(xfer_len, SimCmd),
        /* the data to write, or the data read so far: xfer_len bytes */
        VMSTATE_VBUFFER_ALLOC_UINT32(buf, SimCmd, 0, NULL, xfer_len),
        VMSTATE_UINT32(bytes_in, SimCmd),
        VMSTATE_UINT32(bytes_out, SimCmd),
        VMSTATE_INT64(issue_ns, SimCmd),
        VMSTATE_INT64(deadline_ns, SimCmd),
        VMSTATE_INT64(abort_at_ns, SimCmd),
        VMSTATE_BOOL(abts_for_timeout, SimCmd),
        VMSTATE_BOOL(withheld, SimCmd),
        VMSTATE_BOOL(error, SimCmd),
        VMSTATE_END_OF_LIST()
    }
};

/* The steps' reasons and the interruptions, as JSON, for the stream. */
static int sim_pre_save(void *opaque)
{
    FcSimScsi *ss = opaque;
    QDict *d = qdict_new();
    QList *reasons = qlist_new();
    GString *json;
    unsigned i, j;

    for (i = 0; i < ss->scn->nsteps; i++) {
        QList *r = qlist_new();

        for (j = 0; j < ss->steps[i].reasons->len; j++) {
            qlist_append_str(r, g_ptr_array_index(ss->steps[i].reasons, j));
        }
        qlist_append(reasons, r);
    }
    qdict_put(d, "reasons", reasons);
    qdict_put_obj(d, "interruptions",
                  QOBJECT(qobject_ref(ss->interrupts)));
    json = qobject_to_json(QOBJECT(d));
    qobject_unref(d);
    g_free(ss->mig_json);
    ss->mig_json_len = json->len + 1;
    ss->mig_json = g_string_free(json, false);
    return 0;
}

static int sim_post_save(void *opaque)
{
    FcSimScsi *ss = opaque;

    g_free(ss->mig_json);
    ss->mig_json = NULL;
    ss->mig_json_len = 0;
    return 0;
}

static int sim_pre_load(void *opaque)
{
    FcSimScsi *ss = opaque;

    g_free(ss->cmd.buf);
    ss->cmd.buf = NULL;
    return sim_post_save(ss);
}

/* Rebuild the reasons and interruptions from the loaded JSON. */
static bool sim_load_lists(FcSimScsi *ss, QList *reasons, QList *ints)
{
    QListEntry *e, *r;
    unsigned i = 0;

    if (!reasons || !ints || qlist_size(reasons) != ss->scn->nsteps ||
        qlist_size(ints) > SIM_MAX_INTERRUPTS) {
        return false;
    }
    QLIST_FOREACH_ENTRY(reasons, e) {
        QList *rl = qobject_to(QList, qlist_entry_obj(e));
        GPtrArray *a = ss->steps[i++].reasons;

        if (!rl) {
            return false;
        }
        g_ptr_array_set_size(a, 0);
        QLIST_FOREACH_ENTRY(rl, r) {
            QString *str = qobject_to(QString, qlist_entry_obj(r));

            if (!str || a->len >= SIM_MAX_REASONS) {
                return false;
            }
            g_ptr_array_add(a, g_strdup(qstring_get_str(str)));
        }
    }
    qobject_unref(ss->interrupts);
    ss->interrupts = qobject_ref(ints);
    ss->ninterrupts = qlist_size(ints);
    return true;
}

static bool sim_load_json(FcSimScsi *ss)
{
    QObject *obj;
    QDict *d;
    bool ok;

    if (!ss->mig_json || !ss->mig_json_len ||
        ss->mig_json[ss->mig_json_len - 1] != '\0') {
        return false;
    }
    obj = qobject_from_json(ss->mig_json, NULL);
    d = qobject_to(QDict, obj);
    ok = d && sim_load_lists(ss, qdict_get_qlist(d, "reasons"),
                             qdict_get_qlist(d, "interruptions"));
    qobject_unref(obj);
    return ok;
}

static int sim_post_load(void *opaque, int version_id)
{
    FcSimScsi *ss = opaque;
    SimCmd *c = &ss->cmd;
    bool ok;

    ok = ss->phase <= SIM_PHASE_DONE && ss->cur <= ss->scn->nsteps &&
         c->state <= SIM_CMD_ABTS && c->step >= -1 &&
         c->step < (int)ss->scn->nsteps && c->bytes_in <= c->xfer_len &&
         c->bytes_out <= c->xfer_len && (c->xfer_len == 0) == !c->buf &&
         sim_load_json(ss);
    sim_post_save(ss);
    if (!ok) {
        error_report("qla2532: the saved state of scenario %s is not one "
                     "the initiator can be in", ss->scn->path);
        return -EINVAL;
    }
    return 0;
}

const VMStateDescription vmstate_fc_sim_scsi = {
    .name = "fc-sim-scsi",
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_save = sim_pre_save,
    .post_save = sim_post_save,
    .pre_load = sim_pre_load,
    .post_load = sim_post_load,
    .fields = (VMStateField[]) {
        VMSTATE_UINT32_EQUAL(mig_nsteps, FcSimScsi,
                             "the scenario has another number of commands"),
        VMSTATE_UINT32_EQUAL(mig_digest, FcSimScsi,
                             "the scenario file changed since the save"),
        VMSTATE_BOOL(logged_in, FcSimScsi),
        VMSTATE_UINT32(phase, FcSimScsi),
        VMSTATE_UINT32(pass, FcSimScsi),
        VMSTATE_UINT32(passes_done, FcSimScsi),
        VMSTATE_UINT32(cur, FcSimScsi),
        VMSTATE_UINT32(scan_sent, FcSimScsi),
        VMSTATE_BOOL(scan_ok, FcSimScsi),
        VMSTATE_BOOL(scan_done, FcSimScsi),
        VMSTATE_BOOL(done, FcSimScsi),
        VMSTATE_UINT32(lips_sent, FcSimScsi),
        VMSTATE_STRUCT(cmd, FcSimScsi, 1, vmstate_sim_cmd, SimCmd),
        VMSTATE_TIMER_PTR(next_timer, FcSimScsi),
        VMSTATE_TIMER_PTR(lip_timer, FcSimScsi),
        VMSTATE_TIMER_PTR(cmd_timer, FcSimScsi),
        VMSTATE_UINT64_ARRAY(counters, FcSimScsi, SIM_C__MAX),
        VMSTATE_STRUCT_VARRAY_POINTER_UINT32(steps, FcSimScsi, mig_nsteps,
                                             vmstate_sim_step, SimStep),
        VMSTATE_UINT32(mig_json_len, FcSimScsi),
        VMSTATE_VBUFFER_ALLOC_UINT32(mig_json, FcSimScsi, 0, NULL,
                                     mig_json_len),
        VMSTATE_END_OF_LIST()
    }
};
