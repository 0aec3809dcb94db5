"""Issue #8: SCST's QLogic target drivers, guest kernels, FC-AL.

Three groups:

* profile mechanics, without SCST: the scst-* profiles parse, their
  variables reach the scripts, ``--profile-var`` / ``--patches`` are
  checked, a tree that is not SCST fails to build with the build script's
  own first error (bisect: 125), and a configure script that fails makes
  the race INCONCLUSIVE with that script's exit status and output;
* guest kernels: each Debian kernel boots with the emulated card and its
  in-tree qla2xxx reaches Online with no failure message;
* SCST itself, with the checkout named by ``$QLAEMU_SCST_TREE`` (skipped,
  saying so, without it): bring-up on a loop with no failure message, and
  the race on both drivers and both last-login-state variants.
"""
import json
import os
import subprocess
from pathlib import Path

import pytest

from qlaemu import (cli, commands, driver, kernels, kmsg, matrix, modbuild,
                    probe, profiles, race, report, results, verdict)

SCST_TREE = os.environ.get("QLAEMU_SCST_TREE")
needs_scst = pytest.mark.skipif(
    not SCST_TREE, reason="QLAEMU_SCST_TREE is not set: no SCST checkout "
    "to build (the project ships no SCST code; set it to a checkout of "
    "SCST-project/scst, e.g. tag v3.9)")


# --------------------------------------------------------------------------
# profile mechanics (no SCST needed)
# --------------------------------------------------------------------------

def test_scst_profiles_parse():
    for name, qla in (("scst-legacy", "qla2x00t"),
                      ("scst-32gbit", "qla2x00t-32gbit")):
        p = profiles.load_profile(name)
        assert p.kind == "out-of-tree" and p.driver_tree is None
        assert p.vars["QLA_DIR"] == qla
        assert p.modules == ("scst", "scst_vdisk", "qla2xxx_scst",
                             "qla2x00tgt")
        assert p.build.name == "build.sh" and p.configure is not None


def test_profile_vars_reach_the_guest_scripts():
    p = profiles.load_profile("scst-legacy", profile_vars={
        "QLINI_MODE": "disabled", "BUILD_MODE": "debug"})
    assert p.vars["QLINI_MODE"] == "disabled"
    assert p.vars["QLA_DIR"] == "qla2x00t"           # kept
    load = driver.target_load_commands(p)
    assert "QLINI_MODE=disabled" in load and "QLAEMU_MODE=target" in load
    conf = driver.target_configure_commands(p, "21:00:00:24:ff:00:00:01")
    assert "QLAEMU_WWPN=21:00:00:24:ff:00:00:01" in conf
    # values are shell-quoted
    q = profiles.load_profile("scst-legacy", profile_vars={"X": "a b;c"})
    assert "X='a b;c'" in driver.target_load_commands(q)


@pytest.mark.parametrize("items,msg", [
    (["NOEQUALS"], "NAME=VALUE"),
    (["1BAD=x"], "NAME=VALUE"),
    (["KDIR=/x"], "set by the harness"),
    (["QLAEMU_MODE=x"], "set by the harness"),
])
def test_bad_profile_vars(items, msg):
    with pytest.raises(profiles.ProfileError, match=msg):
        profiles.parse_vars(items)


def test_profile_var_and_patches_need_a_built_driver(tmp_path):
    with pytest.raises(profiles.ProfileError, match="out-of-tree"):
        profiles.load_profile("debian-6.1", profile_vars={"A": "1"})
    with pytest.raises(profiles.ProfileError, match="stock"):
        profiles.load_profile("debian-6.1", patches=str(tmp_path))
    with pytest.raises(profiles.ProfileError, match="no series file"):
        profiles.load_profile("scst-legacy", patches=str(tmp_path))
    (tmp_path / "b.patch").write_text("")
    (tmp_path / "a.patch").write_text("")
    p = profiles.load_profile("scst-legacy", patches=str(tmp_path))
    assert [x.name for x in p.extra_patches] == ["a.patch", "b.patch"]


def test_cli_resolves_profile_options(tmp_path):
    args = cli.build_parser().parse_args(
        ["race", "--driver", "scst-legacy", "--driver-tree", str(tmp_path),
         "--profile-var", "QLINI_MODE=disabled", "--kernel", "debian-5.10",
         "--memory", "8192", "--lips", "2"])
    p = commands.resolve_driver(args)
    assert p.name == "scst-legacy" and p.driver_tree == tmp_path.resolve()
    assert p.vars["QLINI_MODE"] == "disabled"
    assert args.kernel == "debian-5.10" and args.memory == 8192
    assert race.lip_overrides(args.lips, args.lip_delay_ms)["lips"] == 2


def test_first_build_error():
    log = ("make -C /usr/src/x M=/y\n  CC [M]  a.o\n"
           "b.c:12:3: error: 'x' undeclared (first use in this function)\n"
           "b.c:13:1: error: second\nmake: *** Error 1\n")
    assert modbuild.first_build_error(log) == \
        "b.c:12:3: error: 'x' undeclared (first use in this function)"
    assert modbuild.first_build_error("ERROR: modpost: \"f\" undefined!") \
        .startswith("ERROR: modpost")
    assert modbuild.first_build_error("nothing") is None
    # Kbuild's refusal of an old tree (SCST 3.3 on Linux 5.10)
    kb = ("/usr/src/h/Makefile:232: =============== ERROR ==============\n"
          "/usr/src/h/Makefile:233: 'SUBDIRS' was removed in Linux 5.3\n"
          "/usr/src/h/Makefile:236: *** ..  Stop.\n")
    assert modbuild.first_build_error(kb).endswith(
        "'SUBDIRS' was removed in Linux 5.3")


def test_scst_driver_messages():
    """SCST's legacy driver splits each ql_log message into two records;
    they are joined, its link-up at KERN_ERR is no failure, SCST's
    ***ERROR*** is."""
    raw = ("<3>[ 17.28] qla2xxx [0000:01:00.0]-505f:0: \n"
           "<4>[ 17.29] Link is operational (8 Gbps).\n"
           "<3>[ 20.90] qla2xxx [0000:01:00.0]-5030:0: \n"
           "<4>[ 20.91] Error entry - invalid handle/queue.\n"
           "<3>[ 20.92] [139]: ***ERROR***: qla2x00t(0): Received response "
           "packet 12 with error status 8\n"
           "<6>[ 21.00] [103]: scst: Target 21:00 registered\n")
    joined = kmsg.join_split_records(raw)
    assert "-505f:0: Link is operational (8 Gbps)." in joined
    errs = kmsg.driver_errors(joined)
    assert len(errs) == 2, errs
    assert errs[0].endswith("-5030:0: Error entry - invalid handle/queue.")
    assert "***ERROR***" in errs[1]
    assert any("scst: Target" in x for x in kmsg.relevant_dmesg(
        kmsg.join_split_records(raw.replace("<6>", "").replace("<3>", "")
                                .replace("<4>", ""))))


@pytest.mark.build
def test_tree_that_is_not_scst_is_a_build_error(tmp_path):
    """bisect-step exits 125 with the build script's own first error."""
    (tmp_path / "README").write_text("not SCST\n")
    rc = cli.main(["bisect-step", "--driver", "scst-legacy",
                   "--driver-tree", str(tmp_path),
                   "--json", str(tmp_path / "r.json")])
    r = json.loads((tmp_path / "r.json").read_text())
    assert rc == 125, r.get("setup_error")
    assert r["build_error"] and "not an SCST tree" in r["setup_error"]


def _dummy_tree(d: Path) -> Path:
    """A module tree that builds (a do-nothing module), for profiles whose
    scripts are what is tested."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "Kbuild").write_text("obj-m := qlaemu_dummy.o\n")
    (d / "qlaemu_dummy.c").write_text(
        '#include <linux/module.h>\nMODULE_LICENSE("GPL");\n')
    return d


def _dummy_profile(d: Path, **extra) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "profile.json").write_text(json.dumps(dict(
        {"kind": "out-of-tree", "load": "load.sh"}, **extra)))
    (d / "load.sh").write_text("true\n")
    return d


@pytest.mark.build
def test_patches_on_an_out_of_tree_build(tmp_path):
    """--patches: applied to the harness's copy (the tree is untouched),
    part of the cache key; one that does not apply, or that breaks the
    compile, is a BuildError naming the cause."""
    tree = _dummy_tree(tmp_path / "tree")
    prof = _dummy_profile(tmp_path / "prof")
    pdir = tmp_path / "patches"
    pdir.mkdir()
    (pdir / "0001-param.patch").write_text(
        "--- a/qlaemu_dummy.c\n+++ b/qlaemu_dummy.c\n@@ -1,2 +1,3 @@\n"
        " #include <linux/module.h>\n MODULE_LICENSE(\"GPL\");\n"
        "+MODULE_DESCRIPTION(\"patched by qlaemu\");\n")
    p = profiles.load_profile(str(prof), driver_tree=tree,
                              patches=str(pdir))
    mods = modbuild.ensure_modules(p)
    desc = subprocess.run(["modinfo", "-F", "description",
                           str(mods["qlaemu_dummy"])],
                          capture_output=True, text=True).stdout.strip()
    assert desc == "patched by qlaemu"
    assert "MODULE_DESCRIPTION" not in (tree / "qlaemu_dummy.c").read_text()
    # a patch that does not apply
    (pdir / "0002-stale.patch").write_text(
        "--- a/qlaemu_dummy.c\n+++ b/qlaemu_dummy.c\n@@ -1,1 +1,1 @@\n"
        "-#include <linux/nothing.h>\n+#include <linux/else.h>\n")
    p = profiles.load_profile(str(prof), driver_tree=tree,
                              patches=str(pdir))
    with pytest.raises(profiles.BuildError, match="0002-stale.patch does not "
                       "apply"):
        modbuild.ensure_modules(p)
    # a patch that breaks the compile: the compiler's first error
    (pdir / "0002-stale.patch").write_text(
        "--- a/qlaemu_dummy.c\n+++ b/qlaemu_dummy.c\n@@ -2,2 +2,3 @@\n"
        " MODULE_LICENSE(\"GPL\");\n"
        " MODULE_DESCRIPTION(\"patched by qlaemu\");\n"
        "+int qlaemu_broken = undeclared_thing;\n")
    p = profiles.load_profile(str(prof), driver_tree=tree,
                              patches=str(pdir))
    with pytest.raises(profiles.BuildError,
                       match=r"qlaemu_dummy.c:\d+:\d+: error: "
                       r".undeclared_thing. undeclared"):
        modbuild.ensure_modules(p)


@pytest.mark.guest
@pytest.mark.device
def test_failing_configure_is_the_reported_cause(guest_ready, tmp_path):
    """A configure script that fails: INCONCLUSIVE, and its exit status
    and output are the reason -- not "no session"."""
    prof = tmp_path / "prof"
    prof.mkdir()
    (prof / "profile.json").write_text(json.dumps({
        "kind": "out-of-tree", "modules": ["qlaemu_dummy"],
        "load": "load.sh", "configure": "configure.sh"}))
    (prof / "load.sh").write_text(
        "modprobe qla2xxx qlini_mode=disabled\nmodprobe tcm_qla2xxx\n")
    (prof / "configure.sh").write_text(
        "echo 'no target for $QLAEMU_WWPN' >&2\nexit 3\n")
    p = profiles.load_profile(str(prof),
                              driver_tree=_dummy_tree(tmp_path / "tree"))
    r = race.run_race(driver=p, run_name="pytest-configure-fails",
                      timeout_s=240)
    assert r.verdict == verdict.INCONCLUSIVE, r.reasons
    assert r.exit_code == 125
    why = r.reasons[0]
    assert "configure script (configure.sh) exited 3" in why, why
    assert "no target for" in why


# --------------------------------------------------------------------------
# guest kernels
# --------------------------------------------------------------------------

def test_kernel_specs(tmp_path):
    assert kernels.DEFAULT_KERNEL == "debian-6.1"
    for spec in kernels.DEBIAN_KERNELS:
        kernels.check(spec)
    with pytest.raises(kernels.KernelError, match="unknown kernel"):
        kernels.check("debian-4.19")
    with pytest.raises(kernels.KernelError, match="no such file"):
        kernels.check(str(tmp_path / "linux-image-x.deb"))
    bad = tmp_path / "other.deb"
    bad.write_text("")
    with pytest.raises(kernels.KernelError, match="linux-image"):
        kernels.check(str(bad))
    assert kernels.tag("debian-5.10") == "debian-5.10"
    assert kernels.tag("/x/linux-image-6.1.0-9-amd64_6.1.1-1_amd64.deb") \
        .startswith("deb-linux-image-6.1.0-9-amd64")


def test_added_suites_are_pinned_below_the_host():
    text = kernels.preferences_text({"bullseye"})
    assert "Pin: release n=bullseye\nPin-Priority: 100" in text
    assert "n=bullseye-security" in text
    assert kernels.PIN_PRIORITY < 500


def test_bad_kernel_or_memory_is_a_usage_error(capsys):
    assert cli.main(["probe", "--kernel", "debian-4.19"]) == 2
    assert "unknown kernel" in capsys.readouterr().err
    assert cli.main(["probe", "--memory", "16"]) == 2
    assert cli.main(["bisect-step", "--kernel", "nope"]) == 255


@pytest.fixture
def selected_kernel():
    """Restores the kernel and memory selection after a test."""
    yield
    kernels.select(kernels.DEFAULT_KERNEL)


@pytest.mark.guest
@pytest.mark.device
@pytest.mark.parametrize("spec", sorted(kernels.DEBIAN_KERNELS))
def test_each_debian_kernel_reaches_online(guest_ready, selected_kernel,
                                           spec, record_property):
    """Each Debian kernel boots with the card; its own qla2xxx in target
    mode (tcm_qla2xxx + LIO) reaches Online with no failure message."""
    kernels.select(spec)
    r = probe.probe(mode="target", run_name="pytest-kernel-%s" % spec)
    info = kernels.kernel_info()
    series = kernels.DEBIAN_KERNELS[spec][1]
    record_property("kernel", info["release"])
    assert info["release"].startswith(series + "."), info
    assert r.exit == "poweroff", r.console_tail
    assert r.driver_bound, r
    assert (r.fc_host or {}).get("port_state") == "Online", r
    assert r.errors == [], r.errors
    assert r.lio_sessions, "no LIO session for the initiator"


# --------------------------------------------------------------------------
# SCST (QLAEMU_SCST_TREE)
# --------------------------------------------------------------------------

def _scst_race(name, run, **kw):
    p = profiles.load_profile(name, driver_tree=Path(SCST_TREE).resolve())
    return race.run_race(driver=p, run_name=run, **kw)


@needs_scst
@pytest.mark.guest
@pytest.mark.device
@pytest.mark.parametrize("name", ["scst-legacy", "scst-32gbit"])
def test_scst_bring_up_without_failure_messages(guest_ready, name):
    """Latency 0: the race passes, and neither driver prints a failure
    message (KERN_ERR or worse from qla2xxx_scst / qla2x00t, or SCST's
    ***ERROR***) during bring-up."""
    r = _scst_race(name, "pytest-%s-lat0" % name, latency_us=0)
    assert r.verdict == verdict.PASS, report.race_summary(r)
    dmesg = Path(r.artifacts, "dmesg-raw.txt").read_text()
    failures = driver.filter_kernel_load_notices(
        kmsg.driver_errors(kmsg.join_split_records(dmesg)))
    assert failures == [], failures


@needs_scst
@pytest.mark.guest
@pytest.mark.device
def test_scst_legacy_runs_on_a_loop(guest_ready):
    """The legacy driver does not force point to point: FC-AL, as in the
    field."""
    r = _scst_race("scst-legacy", "pytest-scst-legacy-loop", latency_us=0)
    assert (r.topology or "").startswith("loop"), r.topology


@needs_scst
@pytest.mark.guest
@pytest.mark.device
@pytest.mark.parametrize("variant,want", [("previous", verdict.PASS),
                                          ("session", verdict.FAIL)])
def test_scst_legacy_after_a_lip(guest_ready, variant, want):
    """The field report's question, after a LIP: the legacy driver accepts
    a port whose *last* login state is PRLI complete (qla_mbx.c
    qla2x00_get_port_database).  When the firmware's last_login_state
    keeps the previous login's PRLI complete ("session"), the first
    command after the LIP gets CTIOs that complete 0x29; when it is the
    state before the latest change ("previous"), the driver waits."""
    r = _scst_race("scst-legacy", "pytest-scst-legacy-lip-%s" % variant,
                   scenario_overrides=race.lip_overrides(1),
                   device_opts="last-login-state=%s" % variant)
    assert r.verdict == want, report.race_summary(r)
    n29 = r.ctio_status.get("0x29", 0)
    if want == verdict.FAIL:
        assert n29 and r.label == verdict.LABEL_CTIO_29, r.label
        t_lip = next(e["t_ns"] for e in r.events
                     if e["what"] == "LIP sent")
        first29 = next(e["t_ns"] for e in r.events
                       if e["what"] == "CTIO 0x29")
        assert first29 > t_lip          # after the LIP, not before
    else:
        assert n29 == 0


@needs_scst
@pytest.mark.guest
@pytest.mark.device
def test_scst_32gbit_reproduces_the_race(guest_ready):
    """The 32gbit driver (upstream lineage) forces point to point and
    registers the session at the PRLI notification, like Linux 6.1."""
    r = _scst_race("scst-32gbit", "pytest-scst-32gbit-race")
    assert r.verdict == verdict.FAIL, report.race_summary(r)
    assert r.ctio_status.get("0x29") and r.label == verdict.FAIL_LABEL
    assert (r.topology or "").startswith("p2p")


def test_matrix_markdown_renders_every_cell():
    """./qlaemu matrix's table: one row per cell, one column per latency,
    FAIL cells with their label and counts, set-up errors listed."""
    rows = []
    for lat, v, n29 in ((0, verdict.PASS, 0), (2000, verdict.FAIL, 4)):
        rows.append(results.MatrixRow(
            driver="scst-legacy", kernel="debian-6.1", topology="loop",
            variant="session", release="6.1.0-57-amd64", latency_us=lat,
            verdict=v, label=verdict.LABEL_CTIO_29,
            ctio_status={"0x29": n29} if n29 else {},
            logouts={"isp_logo": 0},
            topology_seen="loop (LPort (private loop), port_id 0x000002)"))
    m = results.MatrixResult(
        rows=rows, axes={"latencies": [0, 2000]},
        cells=[results.MatrixCell(
            driver="scst-32gbit", kernel="debian-6.12", topology="loop",
            variant="session",
            setup_error="ProfileError: cannot install headers")])
    md = matrix.markdown(m)
    line = [x for x in md.splitlines() if x.startswith("| scst-legacy")]
    assert len(line) == 1
    assert "| loop (loop) | session | PASS | FAIL (CTIO PORT LOGGED OUT; " \
        "0x29 ×4, LOGO ×0) |" in line[0]
    assert "scst-32gbit on debian-6.12: ProfileError" in md
