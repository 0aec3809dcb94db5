"""Scenario files the device must refuse (hw/qla2532/fc-scenario.c,
docs/scenario.md): each bad file stops QEMU at start-up with exit status 1
and one line that names the file and the offending key, never a crash and
never a run that silently ignores the mistake.

QEMU is started with ``-S`` and no guest; a file the device accepts would
leave QEMU waiting, so a good file is checked with QMP (``quit``) instead.
Then the same refusal through ``./qlaemu scenario``: exit 2 and the reason
at the top of the summary, on both forms of the command line.
"""
import json
import subprocess

import pytest

from qlaemu import cli, evidence, paths, results, vm

BASIC = paths.REPO / "traces" / "basic.json"


def _cmd(**extra) -> dict:
    c = {"op": "read-10", "lba": 0, "blocks": 1}
    c.update(extra)
    return c


def _scn(**top) -> dict:
    d = {"commands": [_cmd()]}
    d.update(top)
    return d


#: (id, file contents (bytes, or a dict written as JSON), text the error
#: must contain).  One per distinct check of the loader.
BAD_FILES = [
    ("not-json", b"{", "not valid JSON"),
    ("empty", b"", "empty"),
    ("nul-byte", b'{"commands": []}\0', "contains a NUL byte"),
    ("not-object", b"[]", "must be a JSON object"),
    ("too-large", b" " * (1024 * 1024 + 1) + b"{}",
     "larger than 1048576 bytes"),
    ("unknown-top-key", _scn(comands=[]), "scenario: unknown key 'comands'"),
    ("no-commands", {"name": "x"}, "'commands' is missing"),
    ("commands-not-list", {"commands": {}}, "scenario.commands: must be a "
     "list"),
    ("command-not-object", {"commands": [1]}, "commands[0]: must be an "
     "object"),
    ("unknown-step-key", {"commands": [_cmd(blockz=2)]},
     "commands[0]: unknown key 'blockz'"),
    ("no-op", {"commands": [{"lba": 0}]}, "commands[0]: 'op' is missing"),
    ("unknown-op", {"commands": [{"op": "read-11"}]},
     "commands[0].op: unknown operation 'read-11'"),
    ("negative-lun", _scn(lun=-1), "scenario.lun: must be a non-negative "
     "integer"),
    ("lun-string", _scn(lun="0x1g"), "scenario.lun: '0x1g' is not a "
     "non-negative integer"),
    ("zero-blocks", {"commands": [_cmd(blocks=0)]},
     "commands[0].blocks: must be 1..32768"),
    ("too-many-blocks", {"commands": [_cmd(blocks=32769)]},
     "commands[0].blocks: 32769 is out of range"),
    ("past-last-lba", {"commands": [_cmd(lba=0xffffffff, blocks=2)]},
     "past the last LBA the CDB can address"),
    ("lba-for-tur", {"commands": [{"op": "test-unit-ready", "lba": 1}]},
     "commands[0]: lba and blocks only for"),
    ("bad-hex", {"commands": [{"op": "cdb", "cdb": "12 0g"}]},
     "commands[0].cdb: 'g' is not a hex digit"),
    ("cdb-too-long", {"commands": [{"op": "cdb", "cdb": "00" * 17}]},
     "commands[0].cdb: longer than 16 bytes"),
    ("direction-without-length", {"commands": [
        {"op": "cdb", "cdb": "12", "direction": "read"}]},
     "length must be > 0 with direction read"),
    ("vendor-for-tur", {"commands": [
        {"op": "test-unit-ready", "expect": {"vendor": "LIO-ORG"}}]},
     "commands[0].expect.vendor: only for inquiry or cdb"),
    ("bad-status", {"commands": [_cmd(expect={"status": "fine"})]},
     "commands[0].expect.status: 'fine' is not a non-negative integer"),
    ("abts-without-abort", {"commands": [
        _cmd(op="write-10", expect={"abts": "ba-acc"})]},
     "commands[0].expect.abts: needs abort-after-us"),
    ("pattern-on-read", {"commands": [_cmd(pattern=1)]},
     "commands[0].pattern: only for a command that writes"),
    ("zero-timeout", _scn(**{"command-timeout-ms": 0}),
     "scenario.command-timeout-ms: must be at least 1"),
    ("lips-without-repeat", _scn(lips=1, **{"repeat-after-relogin": False}),
     "scenario.lips: needs repeat-after-relogin"),
    ("bios-scan-not-object", _scn(**{"bios-scan": True}),
     "scenario.bios-scan: must be an object"),
    ("too-many-commands", {"commands": [_cmd()] * 4097},
     "scenario.commands: more than 4096 commands"),
]


def _write(tmp_path, name, content) -> str:
    f = tmp_path / ("%s.json" % name)
    if isinstance(content, bytes):
        f.write_bytes(content)
    else:
        f.write_text(json.dumps(content))
    return str(f)


def _qemu(qemu, device: str, qmp_quit: bool = False):
    argv = [str(qemu), "-M", "q35", "-display", "none", "-nodefaults", "-S"]
    for d in vm.qemu_data_dirs():
        argv += ["-L", d]
    argv += ["-device", device]
    inp = None
    if qmp_quit:
        argv += ["-qmp", "stdio"]
        inp = '{"execute": "qmp_capabilities"}\n{"execute": "quit"}\n'
    return subprocess.run(argv, input=inp, capture_output=True, text=True,
                          timeout=30)


@pytest.mark.device
@pytest.mark.parametrize("name,content,why", BAD_FILES,
                         ids=[b[0] for b in BAD_FILES])
def test_device_refuses_bad_scenario(guest_ready, tmp_path, name, content,
                                     why):
    f = _write(tmp_path, name, content)
    p = _qemu(guest_ready, "qla2532,scenario=%s" % f)
    assert p.returncode == 1, p.stderr
    line = evidence.qemu_refusal(p.stderr)
    assert line.startswith("qla2532: scenario %s: " % f), p.stderr
    assert why in line, line
    assert "core dumped" not in p.stderr and "Assertion" not in p.stderr


@pytest.mark.device
def test_device_refuses_missing_scenario(guest_ready, tmp_path):
    f = tmp_path / "absent.json"
    p = _qemu(guest_ready, "qla2532,scenario=%s" % f)
    assert p.returncode == 1
    assert evidence.qemu_refusal(p.stderr).startswith(
        "qla2532: cannot read scenario %s: " % f), p.stderr


@pytest.mark.device
def test_device_accepts_the_traces(guest_ready):
    """The control: every scenario in traces/ loads (QEMU starts, answers
    QMP and quits with 0), so the refusals above are about the files."""
    for f in sorted((paths.REPO / "traces").glob("*.json")):
        if f.name.endswith(".pcap.json"):
            continue            # a capture's run conditions, not a scenario
        p = _qemu(guest_ready, "qla2532,scenario=%s" % f, qmp_quit=True)
        assert p.returncode == 0, (f, p.stderr)


@pytest.mark.device
@pytest.mark.parametrize("link_objects", [False, True],
                         ids=["device-form", "object-form"])
def test_cli_names_the_refused_key(guest_ready, tmp_path, capsys,
                                   link_objects):
    """``./qlaemu scenario BAD.json [--link-objects]``: exit 2 (set-up
    error), QEMU's reason as the first thing under the headline, the JSON
    says qemu-error."""
    f = _write(tmp_path, "bad", {"commands": [_cmd(blockz=2)]})
    out = tmp_path / "r.json"
    rc = cli.main(["scenario", f, "--json", str(out)]
                  + (["--link-objects"] if link_objects else []))
    text = capsys.readouterr().out
    assert rc == 2, text
    r = results.ScenarioResult.from_json(json.loads(out.read_text()))
    assert r.exit == "qemu-error"
    second = text.splitlines()[1]
    assert second == ("  QEMU refused the run: qla2532: scenario %s: "
                      "commands[0]: unknown key 'blockz'" % f), text
