"""Go templates (alert summaries and descriptions): would Prometheus accept this annotation?"""

from __future__ import annotations

import re

# ---- Go templates (alert summaries and descriptions) -------------------------------------------
# Prometheus parses every annotation of an alerting rule as a Go text/template when it loads the
# rule file, and refuses the whole file when one does not parse. What follows is Go 1.22's
# text/template/parse (lexer and parser; Prometheus 2.53 is built with it) reduced to what decides
# whether a template parses: balanced actions and control structures, terminated strings, known
# functions, defined variables.
_GO_BUILTINS = frozenset("and call html index slice js len not or print printf println urlquery "
                         "eq ge gt le lt ne".split())
# Prometheus' template functions (template/template.go, v2.53)
_PROM_TEMPLATE_FUNCS = frozenset(
    "query first label value strvalue args reReplaceAll safeHtml match title toUpper toLower graphLink "
    "tableLink sortByLabel stripPort stripDomain humanize humanize1024 humanizeDuration humanizePercentage "
    "humanizeTimestamp toTime pathPrefix externalURL parseDuration".split())
# rulefmt prepends these declarations to every annotation before parsing it
_PROM_TEMPLATE_VARS = ("$", "$labels", "$externalLabels", "$externalURL", "$value")
_GO_KEYWORDS = {"block", "break", "continue", "define", "else", "end", "if", "range", "nil",
                "template", "with"}
_GO_STRING = re.compile(r'"(?:[^"\\\n]|\\(?:[abfnrtv\\"]|x[0-9a-fA-F]{2}|[0-3][0-7]{2}|u[0-9a-fA-F]{4}'
                        r'|U[0-9a-fA-F]{8}))*"')
_GO_CHAR = re.compile(r"'(?:[^'\\\n]|\\(?:[abfnrtv\\']|x[0-9a-fA-F]{2}|[0-3][0-7]{2}|u[0-9a-fA-F]{4}"
                      r"|U[0-9a-fA-F]{8}))'")


class TemplateError(ValueError):
    pass


def _go_space(c: str) -> bool:
    return c in " \t\r\n"


def _go_alnum(c: str) -> bool:
    return c == "_" or c.isalpha() or c.isdigit()


def _go_lex(text: str) -> list[tuple[str, str]]:
    """Go's text/template lexer: (kind, value) tokens; a lexing error ends the list as ("error", msg)."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(text)

    def at_right_delim(j: int) -> int:
        """Length of the right delimiter (with its trim marker) at j, or 0."""
        if text.startswith("}}", j):
            return 2
        if j + 1 < n and _go_space(text[j]) and text[j + 1] == "-" and text.startswith("}}", j + 2):
            return 4
        return 0

    def at_terminator(j: int) -> bool:
        return j >= n or _go_space(text[j]) or text[j] in ".,|:)(" or text.startswith("}}", j)

    while i < n:
        start = text.find("{{", i)
        if start < 0:
            out.append(("text", text[i:]))
            break
        if start > i:
            out.append(("text", text[i:start]))
        i = start + 2
        if i + 1 < n and text[i] == "-" and _go_space(text[i + 1]):
            i += 2
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                out.append(("error", "unclosed comment"))
                return out
            i = end + 2
            width = at_right_delim(i)
            if not width:
                out.append(("error", "comment ends before closing delimiter"))
                return out
            i += width
            continue
        out.append(("left", "{{"))
        depth = 0
        while True:
            width = at_right_delim(i)
            if width:
                if depth:
                    out.append(("error", "unclosed left paren"))
                    return out
                out.append(("right", "}}"))
                i += width
                break
            if i >= n:
                out.append(("error", "unclosed action"))
                return out
            c = text[i]
            if _go_space(c):
                j = i
                while j < n and _go_space(text[j]):
                    j += 1
                if at_right_delim(j - 1) == 4 and j - i == 1:
                    i = j - 1
                    continue
                if at_right_delim(j - 1) == 4:
                    j -= 1
                out.append(("space", text[i:j]))
                i = j
            elif c == "=":
                out.append(("assign", "="))
                i += 1
            elif c == ":":
                if not text.startswith(":=", i):
                    out.append(("error", "expected :="))
                    return out
                out.append(("declare", ":="))
                i += 2
            elif c == "|":
                out.append(("pipe", "|"))
                i += 1
            elif c in "\"'":
                j = i + 1
                while True:
                    if j >= n or text[j] == "\n":
                        what = "quoted string" if c == '"' else "character constant"
                        out.append(("error", f"unterminated {what}"))
                        return out
                    if text[j] == "\\":
                        if j + 1 >= n or text[j + 1] == "\n":
                            what = "quoted string" if c == '"' else "character constant"
                            out.append(("error", f"unterminated {what}"))
                            return out
                        j += 2
                        continue
                    if text[j] == c:
                        break
                    j += 1
                out.append(("string" if c == '"' else "char", text[i:j + 1]))
                i = j + 1
            elif c == "`":
                j = text.find("`", i + 1)
                if j < 0:
                    out.append(("error", "unterminated raw quoted string"))
                    return out
                out.append(("rawstring", text[i:j + 1]))
                i = j + 1
            elif c in "$." and not (c == "." and i + 1 < n and text[i + 1].isdigit() and text[i + 1].isascii()):
                j = i + 1
                if at_terminator(j):
                    out.append(("variable" if c == "$" else "dot", c))
                    i = j
                    continue
                while j < n and _go_alnum(text[j]):
                    j += 1
                if not at_terminator(j):
                    out.append(("error", f"bad character {_go_rune(text[j])}"))
                    return out
                out.append(("variable" if c == "$" else "field", text[i:j]))
                i = j
            elif c in "+-." or "0" <= c <= "9":
                m = re.match(r"[+-]?(0[xX][0-9a-fA-F_]*(\.[0-9a-fA-F_]*)?([pP][+-]?[0-9_]*)?|0[oO][0-7_]*"
                             r"|0[bB][01_]*|[0-9_]*(\.[0-9_]*)?([eE][+-]?[0-9_]*)?)i?", text[i:])
                j = i + (m.end() if m else 0)
                if j < n and _go_alnum(text[j]):
                    out.append(("error", f'bad number syntax: "{text[i:j + 1]}"'))
                    return out
                if j < n and text[j] in "+-":
                    m2 = re.match(r"[+-][0-9_.eE+-]*i", text[j:])
                    if not m2:
                        out.append(("error", f'bad number syntax: "{text[i:j + 1]}"'))
                        return out
                    j += m2.end()
                    out.append(("complex", text[i:j]))
                else:
                    out.append(("number", text[i:j]))
                i = j
            elif _go_alnum(c):
                j = i
                while j < n and _go_alnum(text[j]):
                    j += 1
                if not at_terminator(j):
                    out.append(("error", f"bad character {_go_rune(text[j])}"))
                    return out
                word = text[i:j]
                if word in _GO_KEYWORDS:
                    out.append((word, word))
                elif word in ("true", "false"):
                    out.append(("bool", word))
                else:
                    out.append(("identifier", word))
                i = j
            elif c == "(":
                out.append(("lparen", c))
                depth += 1
                i += 1
            elif c == ")":
                out.append(("rparen", c))
                depth -= 1
                i += 1
                if depth < 0:
                    out.append(("error", "unexpected right paren"))
                    return out
            elif c.isascii() and c.isprintable():
                out.append(("punct", c))
                i += 1
            else:
                out.append(("error", f"unrecognized character in action: {_go_rune(c)}"))
                return out
    out.append(("eof", ""))
    return out


def _go_rune(c: str) -> str:
    return f"U+{ord(c):04X} '{c}'"


class _GoParser:
    def __init__(self, tokens: list[tuple[str, str]], funcs: frozenset[str], variables: tuple[str, ...]):
        self.tokens = tokens
        self.pos = 0
        self.funcs = funcs
        self.vars = list(variables)
        self.range_depth = 0

    # token stream
    def next(self) -> tuple[str, str]:
        tok = self.tokens[min(self.pos, len(self.tokens) - 1)]
        self.pos += 1
        return tok

    def backup(self) -> None:
        self.pos -= 1

    def peek(self) -> tuple[str, str]:
        return self.tokens[min(self.pos, len(self.tokens) - 1)]

    def next_non_space(self) -> tuple[str, str]:
        tok = self.next()
        while tok[0] == "space":
            tok = self.next()
        return tok

    def peek_non_space(self) -> tuple[str, str]:
        """Like Go's: the spaces before the token are consumed, the token is not."""
        tok = self.next_non_space()
        self.backup()
        return tok

    @staticmethod
    def show(tok: tuple[str, str]) -> str:
        kind, val = tok
        if kind == "eof":
            return "EOF"
        if kind == "error":
            return val
        if kind in _GO_KEYWORDS or kind == "dot":
            return f"<{val}>"
        if len(val) > 10:
            return '"' + val[:10] + '"...'
        return '"' + val + '"'

    def fail(self, message: str) -> None:
        raise TemplateError(message)

    def unexpected(self, tok: tuple[str, str], context: str) -> None:
        if tok[0] == "error":
            self.fail(tok[1])
        self.fail(f"unexpected {self.show(tok)} in {context}")

    # grammar
    def parse(self) -> None:
        while self.peek()[0] != "eof":
            if self.peek()[0] == "left":
                save = self.pos
                self.next()
                if self.next_non_space()[0] == "define":
                    self.definition()
                    continue
                self.pos = save
            node = self.text_or_action()
            if node in ("end", "else"):
                self.fail(f"unexpected {{{{{node}}}}}")

    def definition(self) -> None:
        tok = self.next_non_space()
        if tok[0] not in ("string", "rawstring"):
            self.unexpected(tok, "define clause")
        self.unquote(tok)
        tok = self.next_non_space()
        if tok[0] != "right":
            self.unexpected(tok, "define clause")
        outer, self.vars = self.vars, ["$"]
        end = self.item_list()
        if end != "end":
            self.fail(f"unexpected {{{{{end}}}}} in define clause")
        self.vars = outer

    def item_list(self) -> str:
        while self.peek_non_space()[0] != "eof":
            node = self.text_or_action()
            if node in ("end", "else"):
                return node
        self.fail("unexpected EOF")
        return ""

    def text_or_action(self) -> str:
        tok = self.next_non_space()
        if tok[0] == "text":
            return "text"
        if tok[0] == "left":
            return self.action()
        self.unexpected(tok, "input")
        return ""

    def action(self) -> str:
        tok = self.next_non_space()
        kind = tok[0]
        if kind == "block":
            self.block()
        elif kind == "else":
            if self.peek_non_space()[0] != "if":
                self.expect_right("else")
            return "else"
        elif kind == "end":
            self.expect_right("end")
            return "end"
        elif kind in ("if", "range", "with"):
            self.control(kind)
        elif kind == "template":
            self.template()
        elif kind in ("break", "continue"):
            self.expect_right(f"{{{{{kind}}}}}")
            if not self.range_depth:
                self.fail(f"{{{{{kind}}}}} outside {{{{range}}}}")
        else:
            self.backup()
            self.pipeline("command", "right")
        return "action"

    def expect_right(self, context: str) -> None:
        tok = self.next_non_space()
        if tok[0] != "right":
            self.unexpected(tok, context)

    def control(self, context: str) -> None:
        depth = len(self.vars)
        self.pipeline(context, "right")
        if context == "range":
            self.range_depth += 1
        nxt = self.item_list()
        if context == "range":
            self.range_depth -= 1
        if nxt == "else":
            if context == "if" and self.peek()[0] == "if":
                self.next()
                self.control("if")
            else:
                if self.item_list() != "end":
                    self.fail("expected end; found {{else}}")
        del self.vars[depth:]

    def template(self) -> None:
        tok = self.next_non_space()
        if tok[0] not in ("string", "rawstring"):
            self.unexpected(tok, "template clause")
        self.unquote(tok)
        if self.next_non_space()[0] != "right":
            self.backup()
            self.pipeline("template clause", "right")

    def block(self) -> None:
        tok = self.next_non_space()
        if tok[0] not in ("string", "rawstring"):
            self.unexpected(tok, "block clause")
        self.unquote(tok)
        self.pipeline("block clause", "right")
        outer, self.vars = self.vars, ["$"]
        end = self.item_list()
        if end != "end":
            self.fail(f"unexpected {{{{{end}}}}} in block clause")
        self.vars = outer

    def pipeline(self, context: str, end: str) -> None:
        decls = 0
        while self.peek_non_space()[0] == "variable":
            save = self.pos
            var = self.next()
            nxt = self.peek_non_space()
            if nxt[0] in ("assign", "declare"):
                self.next_non_space()
                self.vars.append(var[1])
                break
            if nxt == ("punct", ","):
                self.next_non_space()
                self.vars.append(var[1])
                decls += 1
                if context == "range" and decls < 2:
                    if self.peek_non_space()[0] in ("variable", "right", "rparen"):
                        continue
                    self.fail("range can only initialize variables")
                self.fail(f"too many declarations in {context}")
            self.pos = save
            break
        commands: list[str] = []
        while True:
            tok = self.next_non_space()
            if tok[0] == end:
                if not commands:
                    self.fail(f"missing value for {context}")
                for stage, first in enumerate(commands[1:], start=2):
                    if first in ("bool", "dot", "nil", "number", "string"):
                        self.fail(f"non executable command in pipeline stage {stage}")
                if end == "rparen":
                    self.backup()
                return
            if tok[0] in ("bool", "char", "complex", "dot", "field", "identifier", "number", "nil",
                          "rawstring", "string", "variable", "lparen"):
                self.backup()
                commands.append(self.command())
            else:
                self.unexpected(tok, context)

    def command(self) -> str:
        first = ""
        while True:
            self.peek_non_space()
            kind = self.operand()
            if kind and not first:
                first = kind
            tok = self.next()
            if tok[0] == "space":
                continue
            if tok[0] == "error":
                self.fail(tok[1])
            if tok[0] in ("right", "rparen"):
                self.backup()
            elif tok[0] != "pipe":
                self.fail(f"unexpected {self.show(tok)} in operand")
            break
        if not first:
            self.fail("empty command")
        return first

    def operand(self) -> str:
        kind = self.term()
        if not kind:
            return ""
        if self.peek()[0] == "field":
            while self.peek()[0] == "field":
                self.next()
            if kind in ("bool", "string", "number", "nil", "dot"):
                self.fail("unexpected . after term")
            return "chain" if kind not in ("field", "variable") else kind
        return kind

    def term(self) -> str:
        tok = self.next_non_space()
        kind, val = tok
        if kind == "error":
            self.fail(val)
        if kind == "identifier":
            if val not in self.funcs:
                self.fail(f'function "{val}" not defined')
            return "identifier"
        if kind in ("dot", "nil", "field", "bool"):
            return kind
        if kind == "variable":
            if val not in self.vars:
                self.fail(f'undefined variable "{val}"')
            return "variable"
        if kind in ("char", "complex", "number"):
            self.number(tok)
            return "number"
        if kind == "lparen":
            self.pipeline("parenthesized pipeline", "rparen")
            tok = self.next()
            if tok[0] != "rparen":
                self.fail(f"unclosed right paren: unexpected {self.show(tok)}")
            return "pipeline"
        if kind in ("string", "rawstring"):
            self.unquote(tok)
            return "string"
        self.backup()
        return ""

    def unquote(self, tok: tuple[str, str]) -> None:
        if tok[0] == "string" and not _GO_STRING.fullmatch(tok[1]):
            self.fail(f"invalid syntax in {tok[1]} (a backslash escape Go does not know, such as \\d: "
                      "write \\\\d, or use a `raw string`)")

    def number(self, tok: tuple[str, str]) -> None:
        kind, val = tok
        if kind == "char":
            if not _GO_CHAR.fullmatch(val):
                self.fail(f"malformed character constant: {val}")
            return
        if kind == "complex":
            return
        plain = val.replace("_", "")
        try:
            int(plain, 0)
            return
        except ValueError:
            pass
        try:
            float(plain.rstrip("i") if plain.endswith("i") else plain)
            if plain.lower().startswith(("0x", "+0x", "-0x")) and "p" not in plain.lower() and "." in plain:
                raise ValueError
        except ValueError:
            self.fail(f'illegal number syntax: "{val}"')


def template_problem(text: str) -> str | None:
    """Why Prometheus would refuse `text` as an annotation template, or None."""
    if "{{" not in text:
        return None
    try:
        _GoParser(_go_lex(text), _GO_BUILTINS | _PROM_TEMPLATE_FUNCS, _PROM_TEMPLATE_VARS).parse()
    except TemplateError as exc:
        return str(exc)
    return None
