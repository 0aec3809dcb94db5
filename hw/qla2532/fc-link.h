/*
 * Emulated Fibre Channel link: ports, link initialisation, frame transport.
 *
 * A link joins ports (the ISP's own port, simulated remote ports, later a
 * port in another QEMU or a trace replayer).  It decides the topology the
 * standards give for the ports' connection options, runs FC-AL loop
 * initialisation or point-to-point login to give every port its address,
 * and carries FC-2 frames between ports with a transit time.  Everything
 * happens on QEMU's virtual clock.
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_QLA2532_FC_LINK_H
#define HW_QLA2532_FC_LINK_H

#include "qemu/timer.h"
#include "qapi/qmp/qdict.h"
#include "migration/vmstate.h"
#include "fc.h"

#define FC_LINK_MAX_PORTS       8

/*
 * Defaults of a link's timing (device properties link-init-us and
 * frame-latency-ns, fc-link object init-us and frame-latency-ns).
 */
#define FC_LINK_DEFAULT_INIT_US         2000
#define FC_LINK_DEFAULT_FRAME_NS        1000

/* Connection options (the ISP's NVRAM firmware_options_2 bits 6:4). */
typedef enum FcConnOption {
    FC_CONN_LOOP = 0,           /* loop only (L_Port) */
    FC_CONN_P2P = 1,            /* point-to-point only (N_Port) */
    FC_CONN_LOOP_P2P = 2,       /* loop preferred, else point-to-point */
    FC_CONN_P2P_LOOP = 3,       /* point-to-point preferred, else loop */
} FcConnOption;

/* The last loop ID of an NL_Port (126 is an FL_Port's), FC-AL-2 §10.4. */
#define FC_LAST_NL_LOOP_ID      125

/*
 * fc_port_options_ok: @conn is a connection option (FcConnOption) and
 * @hard_loop_id an NL_Port's loop ID or -1 (a soft address) -- what a
 * port on the link may be given (the device's partner, an fc-initiator,
 * the port another QEMU announces).
 */
static inline bool fc_port_options_ok(unsigned conn, int hard_loop_id)
{
    return conn <= FC_CONN_P2P_LOOP && hard_loop_id >= -1 &&
           hard_loop_id <= FC_LAST_NL_LOOP_ID;
}

typedef enum FcTopology {
    FC_TOPO_NONE,               /* link down: no common topology, no light */
    FC_TOPO_LOOP,               /* private arbitrated loop (FC-AL-2) */
    FC_TOPO_P2P,                /* N_Port to N_Port (FC-FS-3 §?) */
} FcTopology;

typedef enum FcLinkEvent {
    FC_EV_LINK_DOWN,            /* loss of sync: the port has no address */
    FC_EV_LIP,                  /* loop initialisation began (LIP seen) */
    FC_EV_LIP_RESET,            /* a LIP(AL_PD, AL_PS) reset was received */
    FC_EV_LINK_UP,              /* initialisation done: address valid */
} FcLinkEvent;

typedef struct FcPort FcPort;
typedef struct FcLink FcLink;

/**
 * FcPortOps: how the link talks to a port.
 * @link_event: topology/address changes; @lip is the LIP type
 *   (e.g. 0xf7f7 initialising, 0xf8f7 loop failure) for FC_EV_LIP.
 * @receive: a frame addressed to this port arrived; the frame is only
 *   valid during the call.
 * @report: optional; add what the port has to say to a report (the
 *   simulated initiator's scenario outcome, the replayer's divergences).
 */
typedef struct FcPortOps {
    void (*link_event)(FcPort *port, FcLinkEvent ev, uint16_t lip);
    void (*receive)(FcPort *port, const FcFrame *f);
    void (*report)(FcPort *port, QDict *out);
} FcPortOps;

/**
 * FcPort: a port attached to a link.
 * Set by the owner: @name, @wwpn, @wwnn, @conn, @hard_loop_id (0..125, or
 * -1 for a soft address), @ops, @opaque.  Set by the link: @online state
 * reported through fc_link_set_online(), and after FC_EV_LINK_UP
 * @port_id (24-bit N_Port ID), @loop_id (FC-AL loop ID, or 0xffff when not
 * on a loop), @al_pa.
 */
struct FcPort {
    const char *name;
    uint64_t wwpn;
    uint64_t wwnn;
    FcConnOption conn;
    int hard_loop_id;
    const FcPortOps *ops;
    void *opaque;

    FcLink *link;
    bool online;
    bool up;
    uint32_t port_id;
    uint16_t loop_id;
    uint8_t al_pa;
    uint8_t prev_al_pa;         /* LIPA: kept across re-initialisations */
};

/**
 * FcLinkTap: observer of every frame that goes on the wire (a capture):
 * called once per frame a port that is up sends while the link has a
 * topology, before delivery; @f->time_ns is the send time.
 */
typedef void FcLinkTap(void *opaque, const FcPort *from, const FcFrame *f);

/* What a port or a user did to the link (FcLinkCtlHook). */
typedef enum FcLinkCtl {
    FC_CTL_ONLINE,              /* @a went online or offline (@arg 1/0) */
    FC_CTL_LIP,                 /* fc_link_lip, @arg the LIP type */
    FC_CTL_LIP_RESET,           /* fc_link_lip_reset from @a to @b */
    FC_CTL_DOWN,                /* fc_link_force_down, @arg 1 down, 0 up */
} FcLinkCtl;

/**
 * FcLinkCtlHook: observer of the link's controls (a link to another
 * QEMU, fc-remote.h, repeats them there): called at the start of
 * fc_link_set_online (on a change), fc_link_lip, fc_link_lip_reset and
 * fc_link_force_down, before the link acts.  @a, @b: the ports concerned
 * or NULL; @arg as FcLinkCtl says.
 */
typedef void FcLinkCtlHook(void *opaque, FcLinkCtl ctl, FcPort *a, FcPort *b,
                           uint16_t arg);

/**
 * FcLink: the medium.
 * @init_ns: virtual time loop initialisation / point-to-point login takes.
 * @frame_ns: transit time of one frame.
 */
struct FcLink {
    FcPort *ports[FC_LINK_MAX_PORTS];
    unsigned nports;
    FcTopology topology;
    uint8_t lilp[128];          /* positional map: [0] count, AL_PAs */
    int64_t init_ns;
    int64_t frame_ns;
    uint16_t pending_lip;
    bool forced_down;
    QEMUTimer *init_timer;
    QEMUTimer *frame_timer;
    GQueue *in_flight;          /* FcFrame *, in delivery order */
    FcLinkTap *tap;
    void *tap_opaque;
    FcLinkCtlHook *ctl_hook;
    void *ctl_opaque;
    /* saved state: @in_flight as an array while saving/loading */
    FcFrame *mig_frames;
    uint32_t mig_nframes;
};

/*
 * Saved state (savevm, migration) of a link and of a port's place on it.
 * vmstate_fc_link holds the medium: topology, loop map, the pending
 * initialisation and the frames in flight with their send times;
 * vmstate_fc_port what the link gave a port (online, up, addresses) and
 * the names and options the firmware may have changed.  The set of
 * attached ports is configuration: the destination must have the same
 * (checked by count).
 */
extern const VMStateDescription vmstate_fc_link;
extern const VMStateDescription vmstate_fc_port;

/* FC-AL AL_PA of loop ID @loop_id (0..126), FC-AL-2 §10.4 (table). */
uint8_t fc_al_pa_of_loop_id(unsigned loop_id);

/**
 * fc_resolve_topology: the topology two ports with connection options
 * @a and @b come up in, or FC_TOPO_NONE.  Rules: a port that only does
 * one topology forces it (and an L_Port-only against an N_Port-only port
 * never comes up); otherwise the loop wins if either side prefers it,
 * because an L_Port that sees LIP joins loop initialisation (FC-AL-2
 * §10.4.1); two point-to-point-preferring ports stay point-to-point.
 */
FcTopology fc_resolve_topology(FcConnOption a, FcConnOption b);

const char *fc_topology_name(FcTopology t);

void fc_link_init(FcLink *l, int64_t init_ns, int64_t frame_ns);
void fc_link_finalize(FcLink *l);

/* Attach @p (at most FC_LINK_MAX_PORTS); it starts offline. */
void fc_link_attach(FcLink *l, FcPort *p);

/**
 * fc_link_set_online: the port's transmitter goes on or off (the ISP
 * after INITIALIZE FIRMWARE / after reset).  Any change re-initialises
 * the link: LIP on loop-capable links, then FC_EV_LINK_UP after
 * @init_ns if a topology results.
 */
void fc_link_set_online(FcPort *p, bool online);

/**
 * fc_link_lip: start loop initialisation with LIP type @lip (0xf7f7: an
 * L_Port initialising, 0xf8f7: loop failure); on a point-to-point link
 * this re-runs the point-to-point login.  Used for injected LIPs.
 */
void fc_link_lip(FcLink *l, uint16_t lip);

/**
 * fc_link_lip_reset: @from sends LIP(AL_PD, AL_PS) addressed to @to, which
 * resets (FC_EV_LIP_RESET) while the other ports see FC_EV_LIP; the loop
 * then re-initialises.  Only meaningful on a loop.
 */
void fc_link_lip_reset(FcPort *from, FcPort *to);

/**
 * fc_link_force_down: @down true takes the medium down (cable pulled):
 * every port sees FC_EV_LINK_DOWN; false re-initialises it.
 */
void fc_link_force_down(FcLink *l, bool down);

/**
 * fc_link_detach: take @p off its link (a port whose owner goes away); the
 * link re-initialises if @p was online.
 */
void fc_link_detach(FcPort *p);

/* fc_link_report: every port's @report into @out. */
void fc_link_report(FcLink *l, QDict *out);

/* fc_link_set_tap: observe the link's frames with @tap (NULL: none). */
void fc_link_set_tap(FcLink *l, FcLinkTap *tap, void *opaque);

/* fc_link_set_ctl_hook: observe the link's controls (NULL: none). */
void fc_link_set_ctl_hook(FcLink *l, FcLinkCtlHook *hook, void *opaque);

/* fc_link_initialising: a (re)initialisation is under way (init timer). */
bool fc_link_initialising(FcLink *l);

/* The first other port that is up on @p's link, or NULL. */
FcPort *fc_link_peer(FcPort *p);

/**
 * fc_link_send: send @f from @from; the link takes ownership (g_free).
 * Delivered to the port whose port_id is the frame's D_ID after @frame_ns,
 * in send order; dropped if the link is not up or no port has that
 * address.
 */
void fc_link_send(FcPort *from, FcFrame *f);

#endif /* HW_QLA2532_FC_LINK_H */
