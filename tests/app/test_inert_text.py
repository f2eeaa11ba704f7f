"""Untrusted text reaches Markdown/HTML panes only through ``app.text.inert`` (issue 15).

The first tests pin what ``inert`` shows. The last walks the syntax trees of ``app/`` and
``layouts/`` and fails if a text pane (``pn.pane.Markdown``, ``HTML``, ``Alert``, ``Str``,
``pn.panel``) is given, or has its ``.object`` set to, text that is not *inert*:

- a literal (string, number, None);
- a call of ``inert(...)``;
- a number formatted in an f-string (``{n:,}``, ``{x:.1f}``, ``{p:.0%}``...: a format spec
  that only numbers accept), or a call of ``int``/``float``/``len``/``round``/``abs``;
- an f-string, ``+`` concatenation, ``a if c else b``, ``a or b`` or ``sep.join(...)`` whose
  parts are all inert;
- a local variable or module constant whose every assignment is inert;
- a call of a function of the project whose every ``return`` is inert (``history_html(...)``).

A function that hands one of its parameters to a pane (``format.pane(obj)``) becomes a sink
itself: every call of it must pass inert text for that parameter. Anything else (an attribute
such as ``self.state.message``, ``str(exc)``, ``html.escape(...)``, a subscript) fails the test
with its file and line: wrap it in ``inert(...)`` at the sink.
"""

from __future__ import annotations

import ast
import html
import re
from pathlib import Path

import panel as pn
import pytest

from app.text import ELLIPSIS, MAX_CHARS, inert, readable

REPO = Path(__file__).resolve().parents[2]
ROOTS = ("app", "layouts")

TEXT_PANES = {"Markdown", "HTML", "Alert", "Str"}
OTHER_PANES = {
    "HoloViews", "Bokeh", "Matplotlib", "Plotly", "Vega", "DataFrame", "PNG", "SVG", "JPG",
    "Image", "JSON", "Perspective", "DeckGL", "ECharts", "IPyWidget", "Placeholder", "Reacton", "Textual",
}  # fmt: skip
LAYOUTS = {"Column", "Row", "WidgetBox", "Card", "FlexBox", "GridBox", "Tabs", "Accordion", "panel"}
NUMERIC_CALLS = {"int", "float", "len", "round", "abs", "bool"}
NUMERIC_SPEC = re.compile(r"[,_]|[bcdeEfFgGnoxX%]$")

# -- what inert shows ------------------------------------------------------------------------

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "<script>window.__pwned=1</script>",
    "[click](javascript:alert(1))",
    "**bold** _it_ `code` # heading > quote",
    ":smile: www.example.com (c) -- \"quoted\" 'single'",
    "a & b &amp; &#60; c",
]


def rendered(pane_type, text: str) -> str:
    """The HTML a pane sends to the browser (Panel escapes it for transport; the browser undoes that)."""
    pane = pane_type(inert(text))
    return html.unescape(pane._transform_object(pane.object)["object"])


def shown(markup: str) -> str:
    """The characters a browser shows for ``markup`` (what ``innerText`` would be, minus layout)."""
    return html.unescape(re.sub(r"<[^>]*>", "", markup)).strip("\n")


@pytest.mark.parametrize("pane_type", [pn.pane.Markdown, pn.pane.Alert, pn.pane.HTML])
@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_is_shown_verbatim_and_never_markup(pane_type, text):
    out = rendered(pane_type, text)
    assert shown(out) == text
    # The only tags are the pane's own paragraph: nothing from the text became an element or a link.
    assert set(re.findall(r"<(/?\w+)", out)) <= {"p", "/p"}


def test_line_breaks_and_spaces_are_kept():
    text = "# not a heading\n\n    not code\n* not a list  two  spaces "
    for pane_type in (pn.pane.Markdown, pn.pane.HTML):
        out = rendered(pane_type, text)
        assert shown(out) == text
        assert "white-space:pre-wrap" in out


def test_documented_changes_only():
    assert readable(b"caf\xc3\xa9 \xff\xfe!") == "café \ufffd\ufffd!"
    assert readable("lone \udcff surrogate") == "lone \ufffd surrogate"
    assert readable("bell\x07 nul\x00 tab\t") == "bell\ufffd nul\ufffd tab\t"
    long = "x" * (MAX_CHARS + 50)
    assert readable(long) == "x" * (MAX_CHARS - 1) + ELLIPSIS
    assert len(readable(long)) == MAX_CHARS
    assert readable("short", limit=3) == "sh" + ELLIPSIS
    assert readable(None) == ""
    assert readable(12.5) == "12.5"


def test_inert_text_is_safe_in_a_quoted_attribute():
    out = inert("x' onmouseover='alert(1)\" y")
    assert "'" not in out and '"' not in out and "<" not in out


# -- the walk over the code ------------------------------------------------------------------


def dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return "?"


def pane_kind(call: ast.Call) -> str | None:
    """'text' for a Markdown/HTML/Alert/Str pane constructor, 'other' for another pane, else None."""
    name = dotted(call.func)
    last = name.rsplit(".", 1)[-1]
    if last in TEXT_PANES and (name == last or name.rsplit(".", 2)[-2] == "pane"):
        return "text"
    if last in OTHER_PANES and ".pane." in f".{name}":
        return "other"
    return None


class Module:
    def __init__(self, path: Path):
        self.path = path
        self.name = ".".join(path.relative_to(REPO).with_suffix("").parts)
        self.tree = ast.parse(path.read_text(), filename=str(path))
        self.parent: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(self.tree):
            for child in ast.iter_child_nodes(node):
                self.parent[child] = node
        self.imports: dict[str, str] = {}  # local name -> module it comes from
        for node in ast.walk(self.tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = node.module

    def where(self, node: ast.AST) -> str:
        return f"{self.path.relative_to(REPO)}:{node.lineno}"

    def scope(self, node: ast.AST) -> ast.AST:
        """The function (or module) whose local names ``node`` sees."""
        while node in self.parent:
            node = self.parent[node]
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                return node
        return self.tree


def names_in(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def params(fn: ast.AST) -> list[str]:
    a = fn.args
    return [p.arg for p in [*a.posonlyargs, *a.args, *a.kwonlyargs]]


def own_nodes(fn: ast.AST):
    """Nodes of ``fn``'s body, not descending into nested functions or classes."""
    nested = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
    stack = [n for n in (fn.body if isinstance(fn.body, list) else [fn.body]) if not isinstance(n, nested)]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, nested):
                stack.append(child)


def attribute_values(modules: list[Module]) -> dict[str, list[tuple[Module, ast.AST]]]:
    """attribute name -> every value assigned to an attribute of that name anywhere in the project:
    ``x.name = v``, ``x.name += v``, ``x.param.update(name=v)`` and a ``name = param.X(default=v)`` declaration."""
    found: dict[str, list[tuple[Module, ast.AST]]] = {}
    for m in modules:
        for node in ast.walk(m.tree):
            if isinstance(node, ast.Assign):
                for t in node.targets:
                    if isinstance(t, ast.Attribute):
                        found.setdefault(t.attr, []).append((m, node.value))
            elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Attribute):
                found.setdefault(node.target.attr, []).append((m, node.value))
            elif isinstance(node, ast.Call) and dotted(node.func).endswith("param.update"):
                for k in node.keywords:
                    if k.arg:
                        found.setdefault(k.arg, []).append((m, k.value))
            elif isinstance(node, ast.ClassDef):
                for stmt in node.body:
                    if (
                        isinstance(stmt, ast.Assign)
                        and isinstance(stmt.value, ast.Call)
                        and dotted(stmt.value.func).startswith("param.")
                    ):
                        default = next((k.value for k in stmt.value.keywords if k.arg == "default"), None)
                        if default is None and stmt.value.args:
                            default = stmt.value.args[0]
                        for t in stmt.targets:
                            if isinstance(t, ast.Name):
                                found.setdefault(t.id, []).append((m, default or ast.Constant(None)))
    return found


class Walk:
    def __init__(self):
        self.modules = [Module(p) for root in ROOTS for p in sorted((REPO / root).rglob("*.py"))]
        self.by_name = {m.name: m for m in self.modules}
        self.functions: dict[str, list[tuple[Module, ast.AST]]] = {}
        for m in self.modules:
            for node in ast.walk(m.tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    self.functions.setdefault(node.name, []).append((m, node))
        self._returns: dict[int, bool] = {}
        self.attribute_values = attribute_values(self.modules)
        self.sink_params: dict[str, set[str]] = {}  # function name -> parameters that reach a pane
        self.problems: list[str] = []
        self.checked = 0

    # -- is an expression inert? ------------------------------------------------------------

    def inert(self, m: Module, e: ast.AST, trusted: frozenset[str] = frozenset(), seen=frozenset()) -> bool:
        ok = lambda x: self.inert(m, x, trusted, seen)  # noqa: E731
        if isinstance(e, ast.Constant):
            return True
        if isinstance(e, ast.JoinedStr):
            return all(ok(v) for v in e.values)
        if isinstance(e, ast.FormattedValue):
            spec = "".join(v.value for v in getattr(e.format_spec, "values", []) if isinstance(v, ast.Constant))
            numeric = e.conversion == -1 and bool(spec) and NUMERIC_SPEC.search(spec)
            return bool(numeric) or (e.conversion == -1 and ok(e.value))
        if isinstance(e, ast.BinOp) and isinstance(e.op, ast.Add):
            return ok(e.left) and ok(e.right)
        if isinstance(e, ast.IfExp):
            return ok(e.body) and ok(e.orelse)
        if isinstance(e, ast.BoolOp):
            return all(ok(v) for v in e.values)
        if isinstance(e, (ast.GeneratorExp, ast.ListComp)):
            return ok(e.elt)
        if isinstance(e, (ast.List, ast.Tuple)):
            return all(ok(v) for v in e.elts)
        if isinstance(e, ast.Await):
            return ok(e.value)
        if isinstance(e, ast.Call):
            return self.inert_call(m, e, trusted, seen)
        if isinstance(e, ast.Name):
            return self.inert_name(m, e, trusted, seen)
        if isinstance(e, ast.Attribute):
            return self.inert_attribute(e.attr, seen)
        return False

    def inert_attribute(self, attr: str, seen) -> bool:
        """An attribute (``st.feedback``) is inert if everything the project ever assigns to that name is."""
        key = ("attribute", attr)
        if key in seen:
            return True
        values = [(vm, v) for vm, v in self.attribute_values.get(attr, []) if not self.makes_pane(vm, v)]
        return bool(values) and all(self.inert(vm, v, frozenset(), seen | {key}) for vm, v in values)

    def makes_pane(self, m: Module, e: ast.AST) -> bool:
        """True for a pane constructor, or a call of a function that returns one (``html_pane("")``)."""
        if not isinstance(e, ast.Call):
            return False
        if pane_kind(e):
            return True
        fns = self.candidates(m, e.func) if dotted(e.func).rsplit(".", 1)[-1] in self.functions else []
        returns = [(fm, r.value) for fm, fn in fns for r in own_nodes(fn) if isinstance(r, ast.Return)]
        return bool(returns) and all(isinstance(v, ast.Call) and pane_kind(v) for _, v in returns)

    def inert_call(self, m: Module, e: ast.Call, trusted, seen) -> bool:
        name = dotted(e.func)
        last = name.rsplit(".", 1)[-1]
        if last == "inert" and (name == "inert" or name.endswith("text.inert")):
            return True
        if name in NUMERIC_CALLS:
            return True
        if isinstance(e.func, ast.Attribute) and e.func.attr == "join" and len(e.args) == 1:
            return self.inert(m, e.func.value, trusted, seen) and self.inert(m, e.args[0], trusted, seen)
        skip = 0  # arguments before the function's own: the result is what that function returns
        if last == "run_in_executor" and len(e.args) >= 2:
            skip = 2
        elif last == "off_loop" and e.args:  # app.off_loop.off_loop(fn, *args)
            skip = 1
        if skip:
            func = e.args[skip - 1]
            last = dotted(func).rsplit(".", 1)[-1]
        else:
            func = e.func
        if last not in self.functions:
            return False
        fns = self.candidates(m, func)
        if all(self.returns_inert(fm, fn, seen) for fm, fn in fns):
            return True
        # A function that only joins its arguments with inert text (``_table(head, rows)``) passes
        # inert text through: inert if every argument given is.
        args = [*e.args, *(k.value for k in e.keywords)] if func is e.func else e.args[skip:]
        return all(self.inert(m, a, trusted, seen) for a in args) and all(
            self.returns_inert(fm, fn, seen, frozenset(params(fn))) for fm, fn in fns
        )

    def candidates(self, m: Module, func: ast.AST):
        """The project functions a call may reach: by module when known, else every one of that name."""
        name = dotted(func)
        last = name.rsplit(".", 1)[-1]
        found = self.functions.get(last, [])
        if isinstance(func, ast.Name):
            home = m.imports.get(last, m.name)
            local = [(fm, fn) for fm, fn in found if fm.name == home]
            return local or found
        return found

    def returns_inert(self, m: Module, fn: ast.AST, seen, trusted: frozenset[str] = frozenset()) -> bool:
        key = (id(fn), trusted)
        if key in seen:
            return True  # recursion: judged by its other returns
        if key not in self._returns:
            returns = [n for n in own_nodes(fn) if isinstance(n, ast.Return)]
            self._returns[key] = bool(returns) and all(
                r.value is not None and self.inert(m, r.value, trusted, seen | {key}) for r in returns
            )
        return self._returns[key]

    def inert_name(self, m: Module, e: ast.Name, trusted, seen) -> bool:
        if e.id in trusted:
            return True
        scope = m.scope(e)
        # Comprehension variables and parameters carry whatever the caller gives.
        node = e
        while node in m.parent and node is not scope:
            node = m.parent[node]
            if isinstance(node, (ast.GeneratorExp, ast.ListComp, ast.SetComp, ast.DictComp)):
                for g in node.generators:
                    if e.id in names_in(g.target):
                        # ``for h in ("a", "b")``: a variable over a literal list of inert items is inert.
                        literal = isinstance(g.target, ast.Name) and isinstance(g.iter, (ast.Tuple, ast.List))
                        return literal and self.inert(m, g.iter, trusted, seen)
        if scope is not m.tree and e.id in params(scope):
            return False
        values = self.assignments(scope, e.id) if scope is not m.tree else None
        if values is None:
            home = self.by_name.get(m.imports.get(e.id, ""), m)
            values = self.assignments(home.tree, e.id)
            if values is None:
                return False
            m = home
        key = (id(scope), e.id)
        if key in seen:
            return True
        return all(v is not None and self.inert(m, v, trusted, seen | {key}) for v in values)

    @staticmethod
    def assignments(scope: ast.AST, name: str) -> list[ast.AST | None] | None:
        """Values assigned to ``name`` in ``scope`` (None for a loop or with target), or None if never."""
        values: list[ast.AST | None] = []
        nodes = own_nodes(scope) if not isinstance(scope, ast.Module) else iter(scope.body)
        for node in nodes:
            if isinstance(node, ast.Assign):
                for t in node.targets:
                    if isinstance(t, ast.Name) and t.id == name:
                        values.append(node.value)
                    elif isinstance(t, (ast.Tuple, ast.List)) and name in names_in(t):
                        values.append(None)
                    elif isinstance(t, ast.Subscript) and dotted(t.value) == name:
                        values.append(node.value)
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)) and isinstance(node.target, ast.Name):
                if node.target.id == name:
                    values.append(node.value)
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("append", "extend", "insert")
                and dotted(node.func.value) == name
            ):
                values.append(node.args[-1] if node.args else None)
            elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Subscript):
                if dotted(node.target.value) == name:
                    values.append(node.value)
            elif isinstance(node, (ast.For, ast.AsyncFor, ast.With, ast.AsyncWith, ast.NamedExpr)):
                targets = [node.target] if hasattr(node, "target") else [i.optional_vars for i in node.items]
                if any(name in names_in(t) for t in targets if t):
                    values.append(None)
        return values or None

    # -- the sinks ---------------------------------------------------------------------------

    def check(self, m: Module, value: ast.AST, at: ast.AST, what: str) -> None:
        self.checked += 1
        if self.inert(m, value):
            return
        scope = m.scope(at)
        if scope is not m.tree:
            names = set(params(scope))
            used = names_in(value) & names
            if used and self.inert(m, value, frozenset(used)):
                fname = getattr(scope, "name", None)
                if fname:
                    self.sink_params.setdefault(fname, set()).update(used)
                    return
        cm, culprit = self.culprit(m, value, frozenset())
        because = "" if culprit is value else f" (not inert: {ast.unparse(culprit)[:80]!r} at {cm.where(culprit)})"
        self.problems.append(f"{m.where(at)}: {what} gets {ast.unparse(value)[:80]!r}{because}")

    def culprit(self, m: Module, e: ast.AST, seen) -> tuple[Module, ast.AST]:
        """The smallest part of ``e`` (followed into functions and assignments) that is not inert."""
        children: list[ast.AST] = []
        if isinstance(e, ast.JoinedStr):
            children = [v.value for v in e.values if isinstance(v, ast.FormattedValue) and not self.inert(m, v)]
        elif isinstance(e, ast.BinOp):
            children = [e.left, e.right]
        elif isinstance(e, ast.IfExp):
            children = [e.body, e.orelse]
        elif isinstance(e, ast.BoolOp):
            children = e.values
        elif isinstance(e, (ast.GeneratorExp, ast.ListComp)):
            children = [e.elt]
        elif isinstance(e, ast.Call) and isinstance(e.func, ast.Attribute) and e.func.attr == "join":
            children = [e.func.value, *e.args]
        elif isinstance(e, ast.Call) and dotted(e.func).rsplit(".", 1)[-1] in self.functions:
            for fm, fn in self.candidates(m, e.func):
                if id(fn) not in seen and not self.returns_inert(fm, fn, frozenset()):
                    for r in (n for n in own_nodes(fn) if isinstance(n, ast.Return)):
                        if r.value is None:
                            return fm, r
                        if not self.inert(fm, r.value):
                            return self.culprit(fm, r.value, seen | {id(fn)})
        elif isinstance(e, ast.Name):
            scope = m.scope(e)
            values = self.assignments(scope, e.id) if scope is not m.tree else None
            for v in values or []:
                if v is not None and not self.inert(m, v) and (id(scope), e.id) not in seen:
                    return self.culprit(m, v, seen | {(id(scope), e.id)})
        elif isinstance(e, ast.Attribute) and ("attribute", e.attr) not in seen:
            for vm, v in self.attribute_values.get(e.attr, []):
                if not self.makes_pane(vm, v) and not self.inert(vm, v):
                    return self.culprit(vm, v, seen | {("attribute", e.attr)})
        for child in children:
            if not self.inert(m, child):
                return self.culprit(m, child, seen)
        return m, e

    def pane_attributes(self, m: Module) -> dict[tuple[int, str], str]:
        """(class, attribute) -> 'text'/'other' for ``self.X = <pane>`` in each class."""
        kinds: dict[tuple[int, str], str] = {}
        for cls in (n for n in ast.walk(m.tree) if isinstance(n, ast.ClassDef)):
            for node in ast.walk(cls):
                if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                    wrapper = dotted(node.value.func).rsplit(".", 1)[-1] in self.sink_params
                    kind = pane_kind(node.value) or ("text" if wrapper else None)
                    for t in node.targets:
                        if isinstance(t, ast.Attribute) and dotted(t.value) == "self" and kind:
                            # An attribute that is ever a text pane is checked as one.
                            known = kinds.get((id(cls), t.attr))
                            kinds[(id(cls), t.attr)] = "text" if "text" in (kind, known) else kind
        return kinds

    def enclosing_class(self, m: Module, node: ast.AST) -> ast.AST | None:
        while node in m.parent:
            node = m.parent[node]
            if isinstance(node, ast.ClassDef):
                return node
        return None

    def run(self) -> None:
        for m in self.modules:
            for node in ast.walk(m.tree):
                if isinstance(node, ast.Call) and pane_kind(node) == "text":
                    for arg in [*node.args[:1], *(k.value for k in node.keywords if k.arg == "object")]:
                        self.check(m, arg, node, dotted(node.func))
                elif isinstance(node, ast.Call) and dotted(node.func).rsplit(".", 1)[-1] in LAYOUTS:
                    for arg in node.args:
                        if isinstance(arg, (ast.Constant, ast.JoinedStr, ast.BinOp)):
                            self.check(m, arg, node, dotted(node.func))
        for m in self.modules:
            kinds = self.pane_attributes(m)
            for node in ast.walk(m.tree):
                if isinstance(node, ast.Assign):
                    for t in node.targets:
                        if isinstance(t, ast.Attribute) and t.attr == "object":
                            self.check_object(m, node, t, kinds)
        # Functions found to forward a parameter to a pane: check what their callers pass.
        done: set[str] = set()
        while set(self.sink_params) - done:
            for fname in sorted(set(self.sink_params) - done):
                done.add(fname)
                self.check_callers(fname)

    def check_callers(self, fname: str) -> None:
        (_, fn), *_ = self.functions[fname]
        names = params(fn)
        for m in self.modules:
            for node in ast.walk(m.tree):
                if isinstance(node, ast.Call) and dotted(node.func).rsplit(".", 1)[-1] == fname:
                    method = names[:1] in (["self"], ["cls"]) and isinstance(node.func, ast.Attribute)
                    offset = 1 if method else 0
                    for i, arg in enumerate(node.args):
                        if i + offset < len(names) and names[i + offset] in self.sink_params[fname]:
                            self.check(m, arg, node, f"{fname}() (hands it to a pane)")
                    for k in node.keywords:
                        if k.arg in self.sink_params[fname]:
                            self.check(m, k.value, node, f"{fname}() (hands it to a pane)")

    def check_object(self, m: Module, node: ast.Assign, target: ast.Attribute, kinds) -> None:
        owner = target.value
        cls = self.enclosing_class(m, node)
        kind = None
        if isinstance(owner, ast.Attribute) and dotted(owner.value) == "self" and cls is not None:
            kind = kinds.get((id(cls), owner.attr))
        if kind == "other":
            return
        self.check(m, node.value, node, f"{ast.unparse(target)} (a {kind or 'pane of unknown type'})")


def test_every_text_pane_gets_inert_text():
    walk = Walk()
    walk.run()
    assert walk.checked > 100, "the walk found too few panes: has the code moved?"
    assert not walk.problems, (
        "Untrusted text may reach a Markdown/HTML pane; wrap it in app.text.inert() at the sink:\n  "
        + "\n  ".join(walk.problems)
    )


def test_no_other_escaping_in_the_app():
    """One way: no ``html.escape``/``markupsafe`` beside ``app.text`` (they leave Markdown live)."""
    found = []
    for m in Walk().modules:
        for node in ast.walk(m.tree):
            name = dotted(node) if isinstance(node, ast.Attribute) else ""
            imported = isinstance(node, ast.ImportFrom) and node.module in ("html", "markupsafe")
            if name in ("html.escape", "markupsafe.escape", "markupsafe.Markup") or imported:
                found.append(m.where(node))
    assert not found, f"use app.text.inert instead: {found}"


def test_the_walk_catches_what_it_should():
    """The walk itself, on a small module: each hole is found, each safe form passes."""
    src = """
import panel as pn
from app.text import inert

HELP = "static"

def card_html(row):
    return f"<b>{inert(row['name'])}</b> {row['n']:,}"

def bad_html(row):
    return f"<b>{row['name']}</b>"

def wrap(obj):
    return pn.pane.HTML(obj)

class View:
    def __init__(self, state):
        self.a = pn.pane.Alert("")
        self.plot = pn.pane.HoloViews(None)
        self.ok = pn.pane.Markdown(HELP)
        self.w = wrap("literal")
        self.w2 = wrap(state.name)

    def update(self, exc):
        self.a.object = str(exc)
        self.a.object = inert(exc)
        self.plot.object = make_plot()
        self.ok.object = card_html({})
        self.ok.object = bad_html({})
        text = "x"
        text += inert(self.state.message)
        self.ok.object = text
        self.ok.object = f"{self.state.message}"
        self.ok.object = ", ".join(inert(v) for v in self.state.values)
"""
    path = REPO / "app" / "_walk_probe.py"
    walk = Walk.__new__(Walk)
    module = Module.__new__(Module)
    module.path, module.name = path, "app._walk_probe"
    module.tree = ast.parse(src)
    module.parent = {c: n for n in ast.walk(module.tree) for c in ast.iter_child_nodes(n)}
    module.imports = {"inert": "app.text"}
    walk.modules, walk.by_name = [module], {module.name: module}
    walk.functions = {}
    for node in ast.walk(module.tree):
        if isinstance(node, ast.FunctionDef):
            walk.functions.setdefault(node.name, []).append((module, node))
    walk._returns, walk.sink_params, walk.problems, walk.checked = {}, {}, [], 0
    walk.attribute_values = attribute_values(walk.modules)
    walk.run()
    lines = sorted(int(p.split(":")[1]) for p in walk.problems)
    src_lines = src.splitlines()
    flagged = [src_lines[n - 1].strip() for n in lines]
    assert flagged == [
        "self.w2 = wrap(state.name)",
        "self.a.object = str(exc)",
        "self.ok.object = bad_html({})",
        'self.ok.object = f"{self.state.message}"',
    ]
    assert walk.sink_params == {"wrap": {"obj"}}
