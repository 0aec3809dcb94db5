"""Pictures of runs, in SVG, drawn with matplotlib: the ladder diagram
of a run's login and first commands (:func:`ladder`) and the heat map of a
sweep's matrix (:func:`heatmap`).

The ladder (initiator | link | ISP firmware | driver) is made from the
run's capture (the frames on the link, as Wireshark dissected them:
:mod:`qlaemu.capture`) and the device's event log (what the firmware told
the driver and the driver asked of it: ATIO, CTIO, CTIO completion,
login-state changes).  Rows are in time order and evenly
spaced; each row is labelled with its virtual time in µs from the first
PLOGI.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import capture
from .evidence import LOGIN_STATES

#: Column positions: initiator, link, ISP firmware, driver.
COLS = {"initiator": 0.0, "link": 1.0, "isp": 2.0, "driver": 3.0}
#: Rows drawn by default.
DEFAULT_ROWS = 60


@dataclass
class Row:
    """One row of the ladder: an arrow from column ``src`` to column
    ``dst`` (:data:`COLS` keys), or a note on ``src`` when ``dst`` is
    None; ``t_ns`` is virtual time; ``bad`` draws it in red (a CTIO that
    did not complete 0x01, an LS_RJT, a LOGO sent by the ISP)."""
    t_ns: int
    src: str
    dst: str | None
    label: str
    bad: bool = False


def _pyplot():
    """matplotlib.pyplot on the SVG backend, text kept as SVG text (so
    that a picture can be searched and is small)."""
    import matplotlib
    matplotlib.use("svg")
    matplotlib.rcParams["svg.fonttype"] = "none"
    import matplotlib.pyplot as plt
    return plt


def _port_id(text: str) -> int | None:
    try:
        return int(text.replace(".", ""), 16)
    except ValueError:
        return None


def _frame_label(f: capture.Frame) -> str:
    k = f.kind
    ox = " OX_ID 0x%04x" % f.ox_id if f.ox_id is not None else ""
    if k == "FCP_CMND":
        return "FCP_CMND op 0x%02x DL %s%s" % (f.scsi_opcode or 0,
                                               f.fcp_dl, ox)
    if k == "FCP_RSP":
        s = "FCP_RSP status 0x%02x" % (f.scsi_status or 0)
        if f.sense:
            s += " sense %x/%02x/%02x" % tuple(x or 0 for x in f.sense)
        return s + ox
    return k + ox


def rows(frames: list, events: list, limit: int = DEFAULT_ROWS) -> list:
    """The ladder's rows: frames (from :func:`qlaemu.capture.frames`) and
    the firmware/driver events of the device's event log (report
    ``events``), merged in time order from the first PLOGI, at most
    ``limit``.

    The initiator's port ID is the one the ISP sent its ELS to (event
    ``els-sent``) or, failing that, the sender of the first FCP_CMND; a
    frame from it is drawn initiator -> ISP, any other ISP -> initiator.
    """
    ini = next((e.get("d_id") for e in events
                if e.get("source") == "isp" and e.get("event") == "els-sent"),
               None)
    if ini is None:
        ini = next((_port_id(f.s_id) for f in frames
                    if f.kind == "FCP_CMND"), None)
    out = []
    for f in frames:
        from_ini = _port_id(f.s_id) == ini
        out.append(Row(f.t_ns, "initiator" if from_ini else "isp",
                       "isp" if from_ini else "initiator", _frame_label(f),
                       bad=f.kind in ("ELS LS_RJT", "BLS BA_RJT")
                       or (f.kind == "ELS LOGO" and not from_ini)))
    for e in events:
        if e.get("source") != "isp":
            continue
        ev, t = e.get("event"), e.get("t_ns", 0)
        if ev == "atio":
            out.append(Row(t, "isp", "driver", "ATIO op 0x%02x exchange %s "
                           "(login state %s)" % (e.get("opcode", 0),
                                                 e.get("exchange"),
                                                 e.get("login_state"))))
        elif ev == "ctio":
            out.append(Row(t, "driver", "isp", "CTIO 7 flags 0x%04x "
                           "exchange %s" % (e.get("flags", 0),
                                            e.get("exchange"))))
        elif ev == "ctio-done":
            st = e.get("status", 0)
            out.append(Row(t, "isp", "driver", "CTIO done status 0x%02x"
                           % st, bad=st != 0x01))
        elif ev == "login-state":
            out.append(Row(t, "isp", None, "port 0x%06x: %s -> %s" % (
                e.get("port_id", 0),
                LOGIN_STATES.get(e.get("from"), e.get("from")),
                LOGIN_STATES.get(e.get("to"), e.get("to")))))
    out.sort(key=lambda r: r.t_ns)         # stable: frames before events
    start = next((i for i, r in enumerate(out) if "PLOGI" in r.label), 0)
    return out[start:start + limit]


def draw(rs: list, path, title: str = "") -> Path:
    """Draw rows ``rs`` (:func:`rows`) as an SVG file at ``path``.

    Raises:
        ImportError: matplotlib is missing (Debian package
            python3-matplotlib).
    """
    plt = _pyplot()
    n = max(len(rs), 1)
    fig, ax = plt.subplots(figsize=(11, 1.2 + 0.28 * n))
    t0 = rs[0].t_ns if rs else 0
    for name, x in COLS.items():
        ax.plot([x, x], [0, n + 0.5], color="0.6" if name == "link"
                else "0.2", lw=0.8, ls=":" if name == "link" else "-")
        ax.text(x, n + 0.8, {"isp": "ISP firmware"}.get(name, name),
                ha="center", va="bottom", fontsize=9, weight="bold")
    for i, r in enumerate(rs):
        y = n - i
        color = "tab:red" if r.bad else "black"
        ax.text(-0.45, y, "%.3f" % ((r.t_ns - t0) / 1000.0), ha="right",
                va="center", fontsize=6.5, color="0.35")
        if r.dst is None:
            ax.text(COLS[r.src] + 0.05, y, r.label, ha="left", va="center",
                    fontsize=6.5, style="italic", color=color)
            continue
        x0, x1 = COLS[r.src], COLS[r.dst]
        ax.annotate("", xy=(x1, y - 0.15), xytext=(x0, y + 0.15),
                    arrowprops={"arrowstyle": "->", "color": color,
                                "lw": 0.8})
        ax.text((x0 + x1) / 2, y + 0.12, r.label, ha="center",
                va="bottom", fontsize=6.5, color=color)
    ax.set_xlim(-1.2, 3.4)
    ax.set_ylim(0, n + 1.4)
    ax.axis("off")
    ax.set_title(title + ("\n" if title else "")
                 + "virtual µs from the first PLOGI (left)", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, format="svg")
    plt.close(fig)
    return path


def ladder(pcap, events: list, path, title: str = "",
           limit: int = DEFAULT_ROWS) -> Path:
    """The ladder of a run: its capture ``pcap`` and device ``events``
    drawn to ``path`` (SVG).

    Raises:
        capture.CaptureError: the capture cannot be read.
        ImportError: no matplotlib.
    """
    return draw(rows(capture.frames(pcap), events, limit), path, title)


def heatmap(sweep_result, path) -> Path:
    """The sweep's matrix (latency rows x first-command-delay columns) as
    an SVG heat map at ``path``: PASS green, FAIL red, INCONCLUSIVE grey;
    each FAIL cell shows its count of CTIOs completed 0x29.

    ``sweep_result``: a :class:`qlaemu.results.SweepResult`.

    Raises:
        ImportError: no matplotlib.
    """
    plt = _pyplot()
    from matplotlib.colors import ListedColormap

    r = sweep_result
    lats, delays = list(r.latencies), list(r.delays)
    code = {"PASS": 0, "FAIL": 1, "INCONCLUSIVE": 2}
    grid = [[2] * len(delays) for _ in lats]
    n29 = {}
    for p in r.points:
        if p.latency_us in lats and p.first_cmd_us in delays:
            i, j = lats.index(p.latency_us), delays.index(p.first_cmd_us)
            grid[i][j] = code.get(p.verdict, 2)
            n29[i, j] = p.ctio_status.get("0x29", 0)
    fig, ax = plt.subplots(figsize=(1.6 + 0.7 * len(delays),
                                    1.4 + 0.45 * len(lats)))
    ax.imshow(grid, cmap=ListedColormap(["#4caf50", "#e53935", "#9e9e9e"]),
              vmin=0, vmax=2, aspect="auto")
    for (i, j), n in n29.items():
        if grid[i][j] == 1:
            ax.text(j, i, str(n), ha="center", va="center", fontsize=7,
                    color="white")
    ax.set_xticks(range(len(delays)), [str(d) for d in delays],
                  fontsize=7, rotation=45)
    ax.set_yticks(range(len(lats)), [str(x) for x in lats], fontsize=7)
    ax.set_xlabel("first command after the PRLI LS_ACC (µs)", fontsize=8)
    ax.set_ylabel("prli-complete-latency-us (µs)", fontsize=8)
    ax.set_title("sweep: %s -- green PASS, red FAIL (number: CTIOs "
                 "0x29), grey INCONCLUSIVE" % (r.driver or {}).get(
                     "name", "?"), fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, format="svg")
    plt.close(fig)
    return path


def try_draw(draw_fn, *args, **kw) -> tuple:
    """Call a drawing function; (its path as str, None), or (None, why)
    when the picture cannot be made -- a run's verdict never depends on
    its picture."""
    try:
        return str(draw_fn(*args, **kw)), None
    except (capture.CaptureError, ImportError, OSError, ValueError) as e:
        return None, "%s: %s" % (type(e).__name__, e)
