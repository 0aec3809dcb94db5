/*
 * Emulated Fibre Channel link: topology, loop initialisation, frame transport.
 *
 * Copyright (c) 2026 qla2532-emu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "fc-link.h"
#include "trace.h"

/*
 * FC-AL valid AL_PAs in loop ID order (FC-AL-2 §10.4, the 127 characters
 * of neutral running disparity): loop ID n has AL_PA al_pa_table[n]; loop
 * ID 126 (AL_PA 0x00) is reserved for an FL_Port.
 */
static const uint8_t al_pa_table[127] = {
    0xef, 0xe8, 0xe4, 0xe2, 0xe1, 0xe0, 0xdc, 0xda, 0xd9, 0xd6, 0xd5, 0xd4,
    0xd3, 0xd2, 0xd1, 0xce, 0xcd, 0xcc, 0xcb, 0xca, 0xc9, 0xc7, 0xc6, 0xc5,
    0xc3, 0xbc, 0xba, 0xb9, 0xb6, 0xb5, 0xb4, 0xb3, 0xb2, 0xb1, 0xae, 0xad,
    0xac, 0xab, 0xaa, 0xa9, 0xa7, 0xa6, 0xa5, 0xa3, 0x9f, 0x9e, 0x9d, 0x9b,
    0x98, 0x97, 0x90, 0x8f, 0x88, 0x84, 0x82, 0x81, 0x80, 0x7c, 0x7a, 0x79,
    0x76, 0x75, 0x74, 0x73, 0x72, 0x71, 0x6e, 0x6d, 0x6c, 0x6b, 0x6a, 0x69,
    0x67, 0x66, 0x65, 0x63, 0x5c, 0x5a, 0x59, 0x56, 0x55, 0x54, 0x53, 0x52,
    0x51, 0x4e, 0x4d, 0x4c, 0x4b, 0x4a, 0x49, 0x47, 0x46, 0x45, 0x43, 0x3c,
    0x3a, 0x39, 0x36, 0x35, 0x34, 0x33, 0x32, 0x31, 0x2e, 0x2d, 0x2c, 0x2b,
    0x2a, 0x29, 0x27, 0x26, 0x25, 0x23, 0x1f, 0x1e, 0x1d, 0x1b, 0x18, 0x17,
    0x10, 0x0f, 0x08, 0x04, 0x02, 0x01, 0x00,
};

#define FC_LOOP_ID_FL_PORT      126
#define FC_LOOP_ID_NONE         0xffff

uint8_t fc_al_pa_of_loop_id(unsigned loop_id)
{
    return loop_id < ARRAY_SIZE(al_pa_table) ? al_pa_table[loop_id] : 0;
}

static int loop_id_of_al_pa(uint8_t al_pa)
{
    unsigned i;

    for (i = 0; i < ARRAY_SIZE(al_pa_table); i++) {
        if (al_pa_table[i] == al_pa) {
            return i;
        }
    }
    return -1;
}

static bool can_loop(FcConnOption c)
{
    return c != FC_CONN_P2P;
}

static bool can_p2p(FcConnOption c)
{
    return c != FC_CONN_LOOP;
}

FcTopology fc_resolve_topology(FcConnOption a, FcConnOption b)
{
    if (a == FC_CONN_LOOP || b == FC_CONN_LOOP) {
        return can_loop(a) && can_loop(b) ? FC_TOPO_LOOP : FC_TOPO_NONE;
    }
    if (a == FC_CONN_P2P || b == FC_CONN_P2P) {
        return can_p2p(a) && can_p2p(b) ? FC_TOPO_P2P : FC_TOPO_NONE;
    }
    if (a == FC_CONN_LOOP_P2P || b == FC_CONN_LOOP_P2P) {
        return FC_TOPO_LOOP;
    }
    return FC_TOPO_P2P;
}

const char *fc_topology_name(FcTopology t)
{
    switch (t) {
    case FC_TOPO_LOOP:
        return "loop";
    case FC_TOPO_P2P:
        return "point-to-point";
    default:
        return "none";
    }
}

static unsigned online_ports(FcLink *l, FcPort **out)
{
    unsigned i, n = 0;

    for (i = 0; i < l->nports; i++) {
        if (l->ports[i]->online) {
            out[n++] = l->ports[i];
        }
    }
    return n;
}

/* The topology the online ports will have once initialisation is done. */
static FcTopology link_topology(FcLink *l)
{
    FcPort *p[FC_LINK_MAX_PORTS];
    unsigned n = online_ports(l, p), i;

    if (l->forced_down || n < 2) {
        return FC_TOPO_NONE;        /* no light from a partner */
    }
    if (n == 2) {
        return fc_resolve_topology(p[0]->conn, p[1]->conn);
    }
    for (i = 0; i < n; i++) {       /* a hub: only L_Ports take part */
        if (!can_loop(p[i]->conn)) {
            return FC_TOPO_NONE;
        }
    }
    return FC_TOPO_LOOP;
}

static void port_event(FcPort *p, FcLinkEvent ev, uint16_t lip)
{
    trace_qla2532_fc_port_event(p->name, ev, lip, p->port_id);
    p->ops->link_event(p, ev, lip);
}

/*
 * FC-AL-2 §10.4 loop initialisation, after LIP: LISM selects the loop
 * master (lowest Port_Name), then AL_PAs are collected in the order
 * LIFA (none: no fabric), LIPA (the AL_PA a port held before), LIHA (hard
 * address), LISA (soft address: the first free bit of the AL_PA bit map,
 * which is ordered by AL_PA value; 0x00 belongs to an FL_Port).  LIRP/LILP
 * then give the positional map starting at the loop master.
 */
static void loop_assign(FcLink *l, FcPort **ports, unsigned n)
{
    bool used[256] = { false };
    FcPort *p[FC_LINK_MAX_PORTS];
    unsigned i, j, master = 0;
    int lid;

    /* LISM: the lowest Port_Name is loop master; the address frames start
     * and end at it, so ports acquire in loop order from the master. */
    for (i = 1; i < n; i++) {
        if (ports[i]->wwpn < ports[master]->wwpn) {
            master = i;
        }
    }
    for (i = 0; i < n; i++) {
        p[i] = ports[(master + i) % n];
    }
    used[0x00] = true;
    for (i = 0; i < n; i++) {
        p[i]->al_pa = 0;
    }
    for (i = 0; i < n; i++) {                       /* LIPA */
        if (p[i]->prev_al_pa && !used[p[i]->prev_al_pa]) {
            p[i]->al_pa = p[i]->prev_al_pa;
            used[p[i]->al_pa] = true;
        }
    }
    for (i = 0; i < n; i++) {                       /* LIHA */
        if (!p[i]->al_pa && p[i]->hard_loop_id >= 0 &&
            p[i]->hard_loop_id < FC_LOOP_ID_FL_PORT &&
            !used[al_pa_table[p[i]->hard_loop_id]]) {
            p[i]->al_pa = al_pa_table[p[i]->hard_loop_id];
            used[p[i]->al_pa] = true;
        }
    }
    for (i = 0; i < n; i++) {                       /* LISA */
        for (j = 1; !p[i]->al_pa && j < 256; j++) {
            if (!used[j] && loop_id_of_al_pa(j) >= 0) {
                p[i]->al_pa = j;
                used[j] = true;
            }
        }
    }
    memset(l->lilp, 0, sizeof(l->lilp));
    l->lilp[0] = n;
    for (i = 0; i < n; i++) {
        FcPort *q = p[i];

        l->lilp[1 + i] = q->al_pa;
        lid = loop_id_of_al_pa(q->al_pa);
        q->loop_id = lid < 0 ? FC_LOOP_ID_NONE : lid;
        q->port_id = q->al_pa;
        q->prev_al_pa = q->al_pa;
    }
}

/*
 * Point-to-point: the two N_Ports exchange FLOGI; the port with the higher
 * Port_Name wins, assigns the N_Port IDs and originates PLOGI (FC-FS-3
 * point-to-point topology).  The IDs are the ones qla2xxx uses when it is
 * the winner: 0x000001 for itself, 0x000002 for the other port (qla_mbx.c
 * qla24xx_report_id_acquisition, N2N branch).
 */
static void p2p_assign(FcPort **p)
{
    FcPort *hi = p[0]->wwpn > p[1]->wwpn ? p[0] : p[1];
    FcPort *lo = hi == p[0] ? p[1] : p[0];

    hi->port_id = 0x000001;
    lo->port_id = 0x000002;
    hi->loop_id = lo->loop_id = FC_LOOP_ID_NONE;
    hi->al_pa = lo->al_pa = 0;
}

static void link_init_done(void *opaque)
{
    FcLink *l = opaque;
    FcPort *p[FC_LINK_MAX_PORTS];
    unsigned n = online_ports(l, p), i;

    l->topology = link_topology(l);
    trace_qla2532_fc_link_up(fc_topology_name(l->topology), n);
    if (l->topology == FC_TOPO_NONE) {
        return;
    }
    if (l->topology == FC_TOPO_LOOP) {
        loop_assign(l, p, n);
    } else {
        p2p_assign(p);
    }
    for (i = 0; i < n; i++) {
        p[i]->up = true;
    }
    for (i = 0; i < n; i++) {
        port_event(p[i], FC_EV_LINK_UP, 0);
    }
}

/* Begin (re)initialisation: everyone loses its address, LIP if a loop
 * will form, and the result is announced after init_ns.  @reset is the
 * port a LIP(AL_PD, AL_PS) addresses, or NULL. */
static void link_reinit(FcLink *l, uint16_t lip, FcPort *reset)
{
    FcPort *p[FC_LINK_MAX_PORTS];
    unsigned n, i;
    FcTopology next = link_topology(l);
    bool was_up;

    l->topology = FC_TOPO_NONE;
    g_queue_free_full(l->in_flight, g_free);
    l->in_flight = g_queue_new();
    timer_del(l->frame_timer);
    for (i = 0; i < l->nports; i++) {
        was_up = l->ports[i]->up;
        l->ports[i]->up = false;
        if (was_up && !l->ports[i]->online) {
            port_event(l->ports[i], FC_EV_LINK_DOWN, 0);
        }
    }
    n = online_ports(l, p);
    for (i = 0; i < n; i++) {
        if (next == FC_TOPO_LOOP) {
            port_event(p[i], p[i] == reset ? FC_EV_LIP_RESET : FC_EV_LIP,
                       lip);
        } else {
            port_event(p[i], FC_EV_LINK_DOWN, 0);
        }
    }
    timer_del(l->init_timer);
    if (next != FC_TOPO_NONE) {
        timer_mod(l->init_timer,
                  qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) + l->init_ns);
    }
}

static void link_ctl(FcLink *l, FcLinkCtl ctl, FcPort *a, FcPort *b,
                     uint16_t arg)
{
    if (l->ctl_hook) {
        l->ctl_hook(l->ctl_opaque, ctl, a, b, arg);
    }
}

void fc_link_set_online(FcPort *p, bool online)
{
    if (p->online == online) {
        return;
    }
    link_ctl(p->link, FC_CTL_ONLINE, p, NULL, online);
    p->online = online;
    if (!online) {
        p->prev_al_pa = 0;
    }
    link_reinit(p->link, 0xf7f7, NULL);
}

void fc_link_lip(FcLink *l, uint16_t lip)
{
    link_ctl(l, FC_CTL_LIP, NULL, NULL, lip);
    link_reinit(l, lip, NULL);
}

void fc_link_lip_reset(FcPort *from, FcPort *to)
{
    /* LIP(AL_PD, AL_PS), FC-AL-2 §7.4: the addressed port resets */
    link_ctl(from->link, FC_CTL_LIP_RESET, from, to, 0);
    link_reinit(from->link, to->al_pa << 8 | from->al_pa, to);
}

void fc_link_force_down(FcLink *l, bool down)
{
    link_ctl(l, FC_CTL_DOWN, NULL, NULL, down);
    l->forced_down = down;
    link_reinit(l, 0xf7f7, NULL);
}

static void deliver_frames(void *opaque)
{
    FcLink *l = opaque;
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
    FcFrame *f;
    unsigned i;

    while ((f = g_queue_peek_head(l->in_flight)) != NULL) {
        if (f->time_ns + l->frame_ns > now) {
            timer_mod(l->frame_timer, f->time_ns + l->frame_ns);
            return;
        }
        g_queue_pop_head(l->in_flight);
        for (i = 0; i < l->nports; i++) {
            FcPort *dst = l->ports[i];

            if (dst->up && dst->port_id == fc_d_id(f)) {
                dst->ops->receive(dst, f);
                break;
            }
        }
        g_free(f);
    }
}

void fc_link_send(FcPort *from, FcFrame *f)
{
    FcLink *l = from->link;

    f->time_ns = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
    trace_qla2532_fc_frame(from->name, fc_r_ctl(f), fc_s_id(f), fc_d_id(f),
                           fc_type(f), fc_ox_id(f), fc_rx_id(f),
                           f->len ? f->payload[0] : 0);
    if (l->topology == FC_TOPO_NONE || !from->up) {
        g_free(f);
        return;
    }
    /* on the wire: what an analyzer on the link would see */
    if (l->tap) {
        l->tap(l->tap_opaque, from, f);
    }
    g_queue_push_tail(l->in_flight, f);
    if (!timer_pending(l->frame_timer)) {
        timer_mod(l->frame_timer, f->time_ns + l->frame_ns);
    }
}

void fc_link_detach(FcPort *p)
{
    FcLink *l = p->link;
    bool online = p->online;
    unsigned i, j;

    if (!l) {
        return;
    }
    for (i = j = 0; i < l->nports; i++) {
        if (l->ports[i] != p) {
            l->ports[j++] = l->ports[i];
        }
    }
    l->nports = j;
    p->link = NULL;
    p->online = p->up = false;
    if (online) {
        link_reinit(l, 0xf7f7, NULL);
    }
}

void fc_link_report(FcLink *l, QDict *out)
{
    unsigned i;

    for (i = 0; i < l->nports; i++) {
        if (l->ports[i]->ops->report) {
            l->ports[i]->ops->report(l->ports[i], out);
        }
    }
}

void fc_link_set_tap(FcLink *l, FcLinkTap *tap, void *opaque)
{
    l->tap = tap;
    l->tap_opaque = opaque;
}

void fc_link_set_ctl_hook(FcLink *l, FcLinkCtlHook *hook, void *opaque)
{
    l->ctl_hook = hook;
    l->ctl_opaque = opaque;
}

bool fc_link_initialising(FcLink *l)
{
    return timer_pending(l->init_timer);
}

FcPort *fc_link_peer(FcPort *p)
{
    FcLink *l = p->link;
    unsigned i;

    for (i = 0; i < l->nports; i++) {
        if (l->ports[i] != p && l->ports[i]->up) {
            return l->ports[i];
        }
    }
    return NULL;
}

void fc_link_attach(FcLink *l, FcPort *p)
{
    assert(l->nports < FC_LINK_MAX_PORTS);
    l->ports[l->nports++] = p;
    p->link = l;
    p->online = false;
    p->up = false;
    p->loop_id = FC_LOOP_ID_NONE;
}

void fc_link_init(FcLink *l, int64_t init_ns, int64_t frame_ns)
{
    memset(l, 0, sizeof(*l));
    l->init_ns = init_ns;
    l->frame_ns = frame_ns;
    l->in_flight = g_queue_new();
    l->init_timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, link_init_done, l);
    l->frame_timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, deliver_frames, l);
}

void fc_link_finalize(FcLink *l)
{
    timer_free(l->init_timer);
    timer_free(l->frame_timer);
    g_queue_free_full(l->in_flight, g_free);
    l->in_flight = NULL;
}

/* ------------------------------------------------------------------ */
/* Saved state                                                        */

static const VMStateDescription vmstate_fc_frame = {
    .name = "fc-frame",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (VMStateField[]) {
        VMSTATE_UINT8(sof, FcFrame),
        VMSTATE_UINT8(eof, FcFrame),
        VMSTATE_UINT8_ARRAY(hdr, FcFrame, FC_HDR_LEN),
        VMSTATE_UINT32(len, FcFrame),
        VMSTATE_INT64(time_ns, FcFrame),
        VMSTATE_UINT8_ARRAY(payload, FcFrame, FC_MAX_PAYLOAD),
        VMSTATE_END_OF_LIST()
    }
};

const VMStateDescription vmstate_fc_port = {
    .name = "fc-port",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (VMStateField[]) {
        VMSTATE_UINT64(wwpn, FcPort),
        VMSTATE_UINT64(wwnn, FcPort),
        VMSTATE_UINT32(conn, FcPort),
        VMSTATE_INT32(hard_loop_id, FcPort),
        VMSTATE_BOOL(online, FcPort),
        VMSTATE_BOOL(up, FcPort),
        VMSTATE_UINT32(port_id, FcPort),
        VMSTATE_UINT16(loop_id, FcPort),
        VMSTATE_UINT8(al_pa, FcPort),
        VMSTATE_UINT8(prev_al_pa, FcPort),
        VMSTATE_END_OF_LIST()
    }
};

/* The frames in flight, oldest first, as an array for the stream. */
static int fc_link_pre_save(void *opaque)
{
    FcLink *l = opaque;
    GList *e;
    uint32_t i = 0;

    l->mig_nframes = g_queue_get_length(l->in_flight);
    l->mig_frames = g_new(FcFrame, MAX(l->mig_nframes, 1));
    for (e = l->in_flight->head; e; e = e->next) {
        l->mig_frames[i++] = *(FcFrame *)e->data;
    }
    return 0;
}

static int fc_link_post_save(void *opaque)
{
    FcLink *l = opaque;

    g_free(l->mig_frames);
    l->mig_frames = NULL;
    l->mig_nframes = 0;
    return 0;
}

static int fc_link_pre_load(void *opaque)
{
    return fc_link_post_save(opaque);
}

static int fc_link_post_load(void *opaque, int version_id)
{
    FcLink *l = opaque;
    uint32_t i;
    int ret = 0;

    if (l->topology > FC_TOPO_P2P || l->lilp[0] >= sizeof(l->lilp)) {
        ret = -EINVAL;
    }
    for (i = 0; i < l->mig_nframes; i++) {
        if (l->mig_frames[i].len > FC_MAX_PAYLOAD) {
            ret = -EINVAL;
        }
    }
    g_queue_free_full(l->in_flight, g_free);
    l->in_flight = g_queue_new();
    for (i = 0; !ret && i < l->mig_nframes; i++) {
        g_queue_push_tail(l->in_flight,
                          g_memdup2(&l->mig_frames[i], sizeof(FcFrame)));
    }
    fc_link_post_save(l);
    return ret;
}

const VMStateDescription vmstate_fc_link = {
    .name = "fc-link",
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_save = fc_link_pre_save,
    .post_save = fc_link_post_save,
    .pre_load = fc_link_pre_load,
    .post_load = fc_link_post_load,
    .fields = (VMStateField[]) {
        VMSTATE_UINT32_EQUAL(nports, FcLink,
                             "the destination's link has other ports"),
        VMSTATE_UINT32(topology, FcLink),
        VMSTATE_UINT8_ARRAY(lilp, FcLink, 128),
        VMSTATE_UINT16(pending_lip, FcLink),
        VMSTATE_BOOL(forced_down, FcLink),
        VMSTATE_TIMER_PTR(init_timer, FcLink),
        VMSTATE_TIMER_PTR(frame_timer, FcLink),
        VMSTATE_UINT32(mig_nframes, FcLink),
        {
            .name = "mig_frames",
            .version_id = 0,
            .vmsd = &vmstate_fc_frame,
            .num_offset = vmstate_offset_value(FcLink, mig_nframes,
                                               uint32_t),
            .size = sizeof(FcFrame),
            .flags = VMS_STRUCT | VMS_VARRAY_UINT32 | VMS_ALLOC |
                     VMS_POINTER,
            .offset = vmstate_offset_pointer(FcLink, mig_frames, FcFrame),
        },
        VMSTATE_END_OF_LIST()
    }
};
