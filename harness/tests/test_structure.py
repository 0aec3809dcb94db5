"""The house rules of issue #9, checked on every run.

* The harness's modules import each other without cycles, and none is much
  over 500 lines (a module that grows past that wants splitting).
* The firmware model's files call each other in layers (hw/qla2532/
  isp-int.h): a file calls functions of the files below it only.  The
  calls are found by name in the C text (comments removed): a function
  defined without ``static`` in one file and called in another.
"""
import ast
import re
from pathlib import Path

from qlaemu import paths

PKG = paths.REPO / "harness" / "qlaemu"
#: Module size the harness keeps to (lines, docstrings included).
MAX_MODULE_LINES = 520
#: The layers of the firmware model, bottom first (isp-int.h).
ISP_LAYERS = ("isp-core", "isp-els", "isp-tgt", "isp-ini", "isp-mbx",
              "isp-fw")


def _imports(path: Path) -> set:
    """The qlaemu modules ``path`` imports (relative imports)."""
    out = set()
    for n in ast.walk(ast.parse(path.read_text())):
        if isinstance(n, ast.ImportFrom) and n.level == 1:
            if n.module:
                out.add(n.module.split(".")[0])
            else:
                out.update(a.name for a in n.names)
    return out


def _cycle(graph: dict) -> list:
    """One import cycle of ``graph`` ({module: {module}}), or []."""
    state = {}

    def visit(u, stack):
        state[u] = 1
        stack.append(u)
        for v in sorted(graph.get(u, ())):
            if state.get(v) == 1:
                return stack[stack.index(v):] + [v]
            if not state.get(v):
                found = visit(v, stack)
                if found:
                    return found
        stack.pop()
        state[u] = 2
        return []

    for u in sorted(graph):
        if not state.get(u):
            found = visit(u, [])
            if found:
                return found
    return []


def test_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c",
                                                            "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []


def test_harness_modules_import_without_cycles():
    graph = {p.stem: _imports(p) for p in PKG.glob("*.py")}
    assert len(graph) > 20
    assert _cycle(graph) == []


def test_harness_modules_stay_small():
    big = {p.name: n for p in PKG.glob("*.py")
           if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert big == {}


def _c_calls() -> dict:
    """{file stem: {file stem it calls into}} of hw/qla2532/*.c."""
    files = sorted(paths.HW_DIR.glob("*.c"))
    text = {f.stem: re.sub(r"/\*.*?\*/", "", f.read_text(), flags=re.S)
            for f in files}
    defined = {}
    for stem, t in text.items():
        for m in re.finditer(r"^(?!static)[A-Za-z_][\w \*]*?\b(\w+)\([^;{]*\)"
                             r"\s*\n?\{", t, re.M):
            defined[m.group(1)] = stem
    calls = {stem: set() for stem in text}
    for stem, t in text.items():
        for name, where in defined.items():
            if where != stem and re.search(r"\b%s\b" % name, t):
                calls[stem].add(where)
    return calls


def test_firmware_model_is_layered():
    calls = _c_calls()
    assert calls["isp-fw"] >= {"isp-core", "isp-els", "isp-tgt", "isp-ini",
                               "isp-mbx"}
    for i, low in enumerate(ISP_LAYERS):
        above = set(ISP_LAYERS[i + 1:])
        assert not calls[low] & above, (low, calls[low] & above)
    # the PCI/QOM glue is the only caller of the top layer's life cycle
    assert not any("qla2532" in c for s, c in calls.items()
                   if s.startswith("isp-"))
