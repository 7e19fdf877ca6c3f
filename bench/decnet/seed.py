"""DECNET's TTP repository code, read from the seed dump at run time (never copied into
this repository).

The seed (`shared/seed/000_*.txt`, named by SPEC's introduction) is a text dump of DECNET's
`decnet/web/db/sqlmodel_repo/ttp.py` as a web page rendered it: one line of commit message,
a few header lines ("485 lines", "20 KiB", "Python"), then the source lines, each followed
by a line `|` and a line `||` (an empty source line is just the pair). The dump lost every
line's leading white space, so Python's block structure has to be rebuilt:

- the tokenizer (which does not need indentation) groups physical lines into statements
  and tells which end in a block header (`if …:`, `async with …:`, `def …:`);
- a header opens a block one level deeper; `elif`/`else`/`except`/`finally` go back to the
  nearest header they can continue;
- `def`/`class` after two blank lines are module level, after one blank line the body of
  the enclosing class (PEP 8, which the file follows);
- after `return`/`raise`/`continue`/`break` the block is over (more code would be dead);
- otherwise the body of an `if`/`for`/`while`/`else`/`except` goes on only while the next
  statement uses a name first bound inside that block (its loop variable, a name it
  assigned); `def`, `class`, `with` and `try` bodies go on.

The result must compile, and with its indentation stripped again it must equal the dump
line for line. (A dump that kept its indentation and compiles is used as it is.)

The rebuild of today's seed was reviewed by hand against DECNET's published ttp.py of a
later commit: the same blocks, with one placement the dump cannot tell: DECNET builds
`get_all_ttp_rollups_for_export`'s dict after its `async with` block, the rebuild inside
it (same SQL, same answer; the session closes after the loop instead of before it).
`REVIEWED` is that rebuild's hash: another seed, or other rules, give another hash, which
the results and the report flag until someone has looked at the new rebuild. `python3 bench/decnet/seed.py [--seed PATH]` prints it for inspection.

Standard library only (imported by the harness inside its own venv, and usable without).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import keyword
import os
import re
import sys
import tokenize
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SEED_DIR = ROOT.parent / "shared" / "seed"
MODULE = "decnet.web.db.sqlmodel_repo.ttp"

_HEADER = re.compile(r"^(\d[\d,]* lines?( \(\d[\d,]* loc\))?|[\d.]+ (B|Bytes|KB|KiB|MB|MiB)|Python)$")
_CLAUSES = {"elif": {"if", "elif"}, "else": {"if", "elif", "for", "while", "try", "except"},
            "except": {"try", "except"}, "finally": {"try", "except", "else"}}
_COMPOUND = {"if", "elif", "else", "for", "while", "try", "except", "finally", "with", "def", "class"}
_TERMINATORS = {"return", "raise", "continue", "break"}
# sha256 of the rebuild that was reviewed (module docstring).
REVIEWED = "2ce1689f70914dc62910518c77ca026afd3cab44626a866e3bda7a99a7a90737"
# Bodies that go on until something else ends them (a clause, a def, a terminator).
_OPEN_ENDED = {"module", "def", "class", "with", "try"}


def default_seed() -> Path:
    """DECNET_SEED, else the file in ../shared/seed that holds the TTP mixin."""
    env = os.environ.get("DECNET_SEED")
    if env:
        return Path(env)
    for f in sorted(SEED_DIR.glob("*.txt")):
        if "class TTPMixin(" in f.read_text(errors="replace"):
            return f
    raise SystemExit(f"FAILED: no seed in {SEED_DIR} holds `class TTPMixin(`: pass --seed or set DECNET_SEED")


def dump_lines(text: str) -> list[str]:
    """The source lines of the dump (commit message and header dropped)."""
    raw = text.replace("\r\n", "\n").split("\n")
    i = 1  # line 0 is the commit message
    while i < len(raw) and _HEADER.match(raw[i].strip()):
        i += 1
    out: list[str] = []
    cur: str | None = None
    while i < len(raw):
        line = raw[i]
        if line == "|" and (i + 1 == len(raw) or raw[i + 1] == "||"):
            out.append(cur or "")
            cur = None
            i += 2
            continue
        if cur is not None:
            raise ValueError(f"seed line {i + 1}: two source lines without a `|`/`||` separator between them")
        cur = line
        i += 1
    if cur is not None:
        out.append(cur)
    return out


class _Stmt:
    """One logical line: its physical rows and what the indentation rules need of it."""

    def __init__(self, first: int, last: int, toks: list[tokenize.TokenInfo]):
        self.first, self.last = first, last
        sig = [t for t in toks if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE)]
        self.words = [t.string for t in sig]
        kw = self.words[0]
        if kw == "async" and len(self.words) > 1:
            kw = self.words[1]
        self.keyword = kw
        self.header = kw in _COMPOUND and self.words[-1] == ":"
        self.decorator = kw == "@"
        self.uses, self.binds = _names(sig, kw)


def _names(sig: list[tokenize.TokenInfo], kw: str) -> tuple[set[str], set[str]]:
    """(names the statement reads, names it binds), from its tokens: enough to tell
    whether a statement belongs to the block before it."""
    words = [t.string for t in sig]
    depth, targets_end = 0, None
    for k, t in enumerate(sig):  # assignment targets: what precedes the last top-level `=` or `op=`
        if t.type == tokenize.OP and t.string in "([{":
            depth += 1
        elif t.type == tokenize.OP and t.string in ")]}":
            depth -= 1
        elif depth == 0 and t.type == tokenize.OP and t.string.endswith("=") \
                and t.string not in ("==", "!=", "<=", ">="):
            targets_end = k
    uses, binds = set(), set()
    depth, annotation = 0, False
    for k, t in enumerate(sig):
        if t.type == tokenize.OP and t.string in "([{":
            depth += 1
        elif t.type == tokenize.OP and t.string in ")]}":
            depth -= 1
        elif depth == 0 and t.string == ":" and targets_end is not None and k < targets_end:
            annotation = True  # `name: Type = value`: the type is read, not bound
        if t.type != tokenize.NAME or keyword.iskeyword(t.string) or t.string in ("async", "await"):
            continue
        after_dot = k > 0 and sig[k - 1].string == "."
        kwarg = depth > 0 and k + 1 < len(sig) and sig[k + 1].string == "=" and kw != "def"
        if after_dot or kwarg:
            continue
        if targets_end is not None and k < targets_end and depth == 0 and not annotation:
            binds.add(t.string)
        else:
            uses.add(t.string)
    ident = [w.isidentifier() and not keyword.iskeyword(w) for w in words]
    if kw == "for" and "in" in words:
        start = words.index("for") + 1
        binds |= {w for w, ok in zip(words[start:words.index("in")], ident[start:]) if ok}
    binds |= {words[k + 1] for k, w in enumerate(words[:-1]) if w == "as" and ident[k + 1]}
    if kw == "import":
        binds |= {w for k, w in enumerate(words) if ident[k] and words[k - 1] in ("import", ",")}
    if kw == "from" and "import" in words:
        i = words.index("import")
        binds |= {w for k, w in enumerate(words) if k > i and ident[k] and words[k - 1] in ("import", ",", "(")
                  and (k + 1 == len(words) or words[k + 1] != "as")}
    if kw in ("def", "class"):
        binds.add(words[words.index(kw) + 1])
    return uses, binds


def _params(stmt: _Stmt) -> set[str]:
    """A def header's parameter names."""
    w, out, depth = stmt.words, set(), 0
    for k, s in enumerate(w):
        if s in "([{":
            depth += 1
        elif s in ")]}":
            depth -= 1
        elif depth == 1 and s.isidentifier() and not keyword.iskeyword(s) and w[k - 1] in ("(", ",", "*", "**") \
                and k + 1 < len(w) and w[k + 1] in (":", ",", "=", ")"):
            out.add(s)
    return out


class _Block:
    """An open block body: its kind (the header's keyword, or module), its indentation,
    and the names bound in its scope before it opened and inside it."""

    def __init__(self, kind: str, level: int, before: set[str]):
        self.kind, self.level = kind, level
        self.before = set(before)
        self.bound: set[str] = set()
        self.statements = 0

    def new_names(self) -> set[str]:
        return self.bound - self.before


def _statements(src: str) -> tuple[list[_Stmt], list[tokenize.TokenInfo]]:
    toks = list(tokenize.generate_tokens(io.StringIO(src).readline))
    stmts, cur = [], []
    for t in toks:
        if t.type in (tokenize.ENDMARKER, tokenize.INDENT, tokenize.DEDENT):
            continue
        if t.type in (tokenize.NL, tokenize.COMMENT) and all(x.type in (tokenize.NL, tokenize.COMMENT) for x in cur):
            cur = []  # a blank or comment-only line is no statement
            continue
        cur.append(t)
        if t.type == tokenize.NEWLINE:
            stmts.append(_Stmt(cur[0].start[0], t.start[0], cur))
            cur = []
    return stmts, toks


def _levels(stmts: list[_Stmt], lines: list[str]) -> dict[int, int]:
    """The indentation level of every statement (keyed by its first row)."""
    levels: dict[int, int] = {}
    stack = [_Block("module", 0, set())]
    scopes: list[set[str]] = [set()]  # names bound so far, per function or class scope
    last_at: dict[int, str] = {}  # what the last statement at each level was: a header's keyword, or "simple"
    exit_pending, prev_end, prev_decorator = False, 0, False

    def close() -> None:
        if stack.pop().kind in ("def", "class"):
            scopes.pop()

    for st in stmts:
        blanks = _blank_run(lines, prev_end + 1, st.first)
        if st.keyword in _CLAUSES:
            target = next((lv for lv in sorted(last_at, reverse=True)
                           if lv <= stack[-1].level and last_at[lv] in _CLAUSES[st.keyword]), None)
            if target is None:
                raise ValueError(f"source line {st.first}: `{st.keyword}` continues no open block")
            while stack[-1].level > target:
                close()
        elif (st.keyword in ("def", "class") or st.decorator) and not prev_decorator:
            if blanks >= 2:
                del stack[1:], scopes[1:]
            elif blanks == 1 or exit_pending:
                while len(stack) > 1 and stack[-1].kind != "class":
                    close()
        elif not prev_decorator:
            if blanks >= 2:
                del stack[1:], scopes[1:]
                exit_pending = False
            while len(stack) > 1:
                top = stack[-1]
                if exit_pending:
                    exit_pending = False
                elif top.kind in _OPEN_ENDED or not top.statements or st.uses & top.new_names():
                    break
                close()
        level = stack[-1].level
        levels[st.first] = level
        for lv in [lv for lv in last_at if lv > level]:
            del last_at[lv]
        last_at[level] = st.keyword if st.header else "simple"
        stack[-1].statements += 1
        before = set(scopes[-1])
        scopes[-1].update(st.binds)
        for b in reversed(stack):  # names bound count for every block of the same scope
            b.bound.update(st.binds)
            if b.kind in ("def", "class", "module"):
                break
        if st.header:
            stack.append(_Block(st.keyword, level + 1, before))
            if st.keyword in ("def", "class"):
                scopes.append(_params(st) if st.keyword == "def" else set())
                stack[-1].before = set(scopes[-1])
            else:
                stack[-1].bound.update(st.binds)  # a loop variable, `as` name: bound in the block
        exit_pending = st.keyword in _TERMINATORS
        prev_end, prev_decorator = st.last, st.decorator
    return levels


def _blank_run(lines: list[str], start: int, end: int) -> int:
    """The longest run of blank lines among rows start..end-1 (comments between
    statements do not count, so that a comment block does not add up its blank lines)."""
    best = run = 0
    for r in range(start, end):
        run = run + 1 if not lines[r - 1].strip() else 0
        best = max(best, run)
    return best


def reindent(lines: list[str]) -> str:
    """The source with its block structure rebuilt (rules in the module docstring)."""
    stmts, toks = _statements("\n".join(lines) + "\n")
    levels = _levels(stmts, lines)
    row_level: dict[int, int] = {}
    for st in stmts:
        for r in range(st.first, st.last + 1):
            row_level[r] = levels[st.first]
    # Rows inside a multi-line string keep their text as it is; continuation rows are
    # indented by their bracket depth (cosmetic: Python ignores it); comment rows take the
    # level of the statement after them.
    in_string: set[int] = set()
    depth_before: dict[int, int] = {}
    depth = 0
    for t in toks:
        if t.type == tokenize.STRING and t.end[0] > t.start[0]:
            in_string.update(range(t.start[0] + 1, t.end[0] + 1))
        depth_before.setdefault(t.start[0], depth)
        if t.type == tokenize.OP and t.string in "([{":
            depth += 1
        elif t.type == tokenize.OP and t.string in ")]}":
            depth -= 1
    out, upcoming = [], 0
    for r in range(len(lines), 0, -1):
        line = lines[r - 1]
        if r in levels:
            upcoming = levels[r]
        if r in in_string or not line.strip():
            out.append(line)
        elif r in levels or r not in row_level:
            out.append("    " * (levels.get(r, upcoming)) + line)
        else:
            d = depth_before.get(r, 1)
            closer = line.startswith((")", "]", "}"))
            out.append("    " * (row_level[r] + (d - 1 if closer else max(d, 1))) + line)
    return "\n".join(reversed(out)) + "\n"


def _compiles(source: str) -> bool:
    try:
        compile(source, "<seed>", "exec")
    except SyntaxError:
        return False
    return True


def extract(seed: Path) -> tuple[str, dict]:
    """(the rebuilt source, facts about the seed for the results)."""
    text = seed.read_text(encoding="utf-8")
    lines = dump_lines(text)
    source = "\n".join(lines) + "\n"
    if not (any(ln[:1].isspace() for ln in lines) and _compiles(source)):  # a dump that kept it is used as is
        lines = [ln.lstrip() for ln in lines]
        source = reindent(lines)
    compile(source, str(seed), "exec")
    back = [ln.lstrip() for ln in source[:-1].split("\n")]
    if back != [ln.lstrip() for ln in lines]:
        raise ValueError("the rebuilt source differs from the dump beyond indentation")
    info = {
        "path": str(seed),
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
        "commit_message": text.split("\n", 1)[0][:120],
        "source_lines": len(lines),
        "source_sha256": hashlib.sha256(source.encode()).hexdigest(),
    }
    info["reviewed"] = info["source_sha256"] == REVIEWED
    return source, info


def load(seed: Path) -> tuple[types.ModuleType, dict]:
    """Executes the rebuilt source as `decnet.web.db.sqlmodel_repo.ttp` (its imports must
    resolve: the harness puts the shims on sys.path first)."""
    source, info = extract(seed)
    mod = types.ModuleType(MODULE)
    mod.__file__ = f"{seed}#{MODULE.replace('.', '/')}.py"
    sys.modules[MODULE] = mod
    exec(compile(source, mod.__file__, "exec"), mod.__dict__)
    return mod, info


def main() -> None:
    p = argparse.ArgumentParser(description="Print DECNET's ttp.py as rebuilt from the seed dump.")
    p.add_argument("--seed", type=Path, help="the dump (default: DECNET_SEED, else the one in ../shared/seed)")
    a = p.parse_args()
    source, _ = extract(a.seed or default_seed())
    sys.stdout.write(source)


if __name__ == "__main__":
    main()
