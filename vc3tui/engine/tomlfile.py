"""Reading the user's TOML files with errors that name the file, the line and the field.

tomllib gives no positions, so `KeyLines` scans the text once to learn on which line each key
(and each `[[array]]` element) sits; validation errors are then mapped back to those lines.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from vc3tui.engine.errors import VC3Error

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class FileProblem:
    file: str
    line: int
    field: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:" if self.line else f"{self.file}:"
        field = f" {self.field}:" if self.field else ""
        hint = f"; {self.hint}" if self.hint else ""
        return f"{where}{field} {self.message}{hint}"


class FileErrors(VC3Error):
    """One or more problems in a file; str() is one line per problem, `problems` the lines."""

    def __init__(self, problems: Sequence[FileProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.located = list(problems)
        self.problems = [str(p) for p in problems]


_BARE_KEY = r"[A-Za-z0-9_-]+"
_KEY_PART = rf'(?:{_BARE_KEY}|"(?:[^"\\]|\\.)*"|\'[^\']*\')'
_DOTTED_KEY = re.compile(rf"\s*({_KEY_PART}(?:\s*\.\s*{_KEY_PART})*)\s*")
_KEY_SPLIT = re.compile(rf"\s*({_KEY_PART})\s*\.?")


def _split_key(text: str) -> list[str]:
    parts = []
    for match in _KEY_SPLIT.finditer(text):
        part = match.group(1)
        parts.append(part[1:-1] if part[0] in "\"'" else part)
    return parts


class KeyLines:
    """Where each key of a TOML document sits: path tuple -> 1-based line."""

    def __init__(self, text: str) -> None:
        self.lines: dict[Loc, int] = {}
        array_index: dict[Loc, int] = {}
        table: Loc = ()
        depth = 0
        open_string: str | None = None
        for number, line in enumerate(text.splitlines(), start=1):
            rest = line
            if depth == 0 and open_string is None:
                stripped = line.lstrip()
                header = re.match(r"(\[\[?)([^\]]*)\]\]?", stripped)
                if header:
                    keys = _split_key(header.group(2))
                    table = self._resolve(keys, array_index)
                    if header.group(1) == "[[":
                        array_index[table] = array_index.get(table, -1) + 1
                        self.lines.setdefault(table, number)
                        table = (*table, array_index[table])
                    self.lines[table] = number
                    continue
                key = _DOTTED_KEY.match(stripped)
                if key and stripped[key.end() :].startswith("="):
                    self.lines[(*table, *_split_key(key.group(1)))] = number
                    rest = stripped[key.end() + 1 :]
            depth, open_string = _scan_value(rest, depth, open_string)

    def _resolve(self, keys: list[str], array_index: dict[Loc, int]) -> Loc:
        path: Loc = ()
        for key in keys[:-1]:
            path = (*path, key)
            if path in array_index:
                path = (*path, array_index[path])
        return (*path, keys[-1]) if keys else path

    def line_for(self, loc: Loc) -> int:
        """The line of `loc`, or of its nearest parent that has one; 1 for the top level."""
        for end in range(len(loc), 0, -1):
            if loc[:end] in self.lines:
                return self.lines[loc[:end]]
        return 1


def _scan_value(text: str, depth: int, open_string: str | None) -> tuple[int, str | None]:
    """Follow brackets and strings across a line so multi-line values hide their contents."""
    i = 0
    while i < len(text):
        if open_string:
            if open_string.startswith('"') and text[i] == "\\":
                i += 2
                continue
            if text.startswith(open_string, i):
                i += len(open_string)
                open_string = None
                continue
            i += 1
            continue
        char = text[i]
        if char == "#":
            break
        if text.startswith('"""', i) or text.startswith("'''", i):
            open_string = text[i : i + 3]
            i += 3
            continue
        if char in "\"'":
            open_string = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth = max(0, depth - 1)
        i += 1
    if open_string in ('"', "'"):
        open_string = None
    return depth, open_string


MAX_FILE_BYTES = 1 << 20
"""The largest blueprint, project, ticket or resources file read: 1 MB."""
MAX_DEPTH = 32
"""How deeply tables and arrays may nest in such a file (a blueprint needs 4)."""


def read_toml(path: Path, what: str) -> tuple[dict[str, Any], KeyLines]:
    """Parse a TOML file that is a regular file of at most MAX_FILE_BYTES, nested at most
    MAX_DEPTH deep, with no NUL in any string; any reason it cannot be used is a FileErrors with a fix."""
    name = str(path)
    raw = _read_regular(path, what)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise FileErrors([FileProblem(name, line, "", "is not UTF-8 text", f"save the {what} as UTF-8 TOML")]) from None
    lines = KeyLines(text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc)) or "invalid TOML"
        message = message[0].lower() + message[1:]
        raise FileErrors(
            [FileProblem(name, int(match.group(1)) if match else 0, "", f"invalid TOML: {message}", "see https://toml.io for the syntax")]
        ) from None
    except RecursionError:
        raise FileErrors([FileProblem(name, 0, "", f"nests arrays or tables more than {MAX_DEPTH} deep", f"a {what} needs far fewer levels")]) from None
    problem = _shape_problem(data)
    if problem:
        loc, message, hint = problem
        raise FileErrors([located(path, lines, loc, message, hint)])
    return data, lines


def _read_regular(path: Path, what: str) -> bytes:
    """The file's bytes, refusing before any read what is not a regular file of a sane size (a
    FIFO or a device would block or never end)."""
    name = str(path)

    def problem(message: str, hint: str) -> FileErrors:
        return FileErrors([FileProblem(name, 0, "", message, hint)])

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        raise problem(f"no such {what} file", "check the path") from None
    except PermissionError:
        raise problem("permission denied", "make the file readable (chmod u+r)") from None
    except OSError as exc:
        raise problem(f"cannot be read: {exc.strerror}", "check the path") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise problem("is a directory", f"give the path of a {what} .toml file")
        if not stat.S_ISREG(info.st_mode):
            raise problem("is not a regular file (a pipe, a device or a socket)", f"give the path of a {what} .toml file")
        with os.fdopen(fd, "rb", closefd=False) as file:
            raw = file.read(MAX_FILE_BYTES + 1) if info.st_size <= MAX_FILE_BYTES else b""
        if info.st_size > MAX_FILE_BYTES or len(raw) > MAX_FILE_BYTES:
            raise problem(f"is larger than {MAX_FILE_BYTES >> 20} MB, the most a {what} file may be", f"check that this is a {what} file")
    finally:
        os.close(fd)
    return raw


def _shape_problem(data: dict[str, Any]) -> tuple[Loc, str, str] | None:
    """The first place nested too deeply or holding a NUL (which no argument or variable can carry)."""
    stack: list[tuple[Loc, Any]] = [((), data)]
    while stack:
        loc, value = stack.pop()
        if len(loc) > MAX_DEPTH:
            return loc[:MAX_DEPTH], f"nests arrays or tables more than {MAX_DEPTH} deep", "flatten it"
        if isinstance(value, str) and "\x00" in value:
            return loc, "holds a NUL character", "remove the \\u0000"
        if isinstance(value, dict):
            stack.extend(((*loc, key), item) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend(((*loc, index), item) for index, item in enumerate(value))
    return None


def validate_file(
    model: type[M], data: dict[str, Any], path: Path, lines: KeyLines, hints: Mapping[str, str] | None = None
) -> M:
    """Validate `data` as `model`; pydantic's errors become one FileProblem each.

    `hints` maps a field name to what it means, used when pydantic's own words give no fix.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise FileErrors([_problem(model, error, str(path), lines, hints or {}) for error in exc.errors()]) from None


def located(path: Path, lines: KeyLines, loc: Loc, message: str, hint: str = "") -> FileProblem:
    return FileProblem(str(path), lines.line_for(loc), dotted(loc), message, hint)


def field_problems(model: type[BaseModel], exc: ValidationError) -> list[str]:
    """One line per problem, `field: message; hint`, for values that came from a form, not a file."""
    return [f"{p.field}: {p.message}" + (f"; {p.hint}" if p.hint else "") for p in (_problem(model, e, "", KeyLines(""), {}) for e in exc.errors())]


def value_problems(exc: ValidationError, what: str) -> list[str]:
    """One line per problem of a single value (a count typed in the app, a duration on the
    command line), named `what`."""
    problems = (_problem(BaseModel, e, "", KeyLines(""), {}) for e in exc.errors())
    return [f"{what}: {p.message}" + (f"; {p.hint}" if p.hint and p.hint != "change the value" else "") for p in problems]


def validation_summary(exc: ValidationError) -> str:
    """pydantic's errors as one line, `field: message; ...`, for values from flags or a form."""
    return "; ".join(f"{dotted(tuple(e['loc'])) or 'value'}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors())


def dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _problem(model: type[BaseModel], error: Any, file: str, lines: KeyLines, hints: Mapping[str, str]) -> FileProblem:
    loc: Loc = tuple(error["loc"])
    kind = error["type"]
    value = error.get("input")
    field = dotted(loc)
    message, hint = error["msg"], ""
    if kind == "missing":
        message, hint = "is required", f"add `{loc[-1]} = ...`"
    elif kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        message = "unknown key"
        hint = f"did you mean '{close[0]}'?" if close else f"allowed here: {', '.join(allowed)}"
    elif kind == "enum":
        message = f"unknown value {value!r}"
        hint = f"choose one of: {error['ctx']['expected'].replace(' or ', ', ')}"
    elif kind in ("int_type", "int_parsing", "int_from_float"):
        quoted = kind == "int_type" and isinstance(value, str)
        message, hint = f"expected a whole number, got {value!r}", "write it without quotes, e.g. 4" if quoted else "e.g. 4"
    elif kind in ("float_type", "float_parsing"):
        message, hint = f"expected a number, got {value!r}", "write it without quotes, e.g. 1.5"
    elif kind in ("bool_type", "bool_parsing"):
        message, hint = f"expected true or false, got {value!r}", "write true or false without quotes"
    elif kind in ("string_type",):
        message, hint = f"expected text, got {value!r}", 'put it in quotes, e.g. "value"'
    elif kind in ("list_type",):
        message, hint = f"expected a list, got {value!r}", 'write it as ["a", "b"]'
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        message, hint = f"expected a table, got {value!r}", f"write it as [{field}] with keys below it"
    elif kind in ("greater_than", "greater_than_equal", "less_than_equal", "less_than"):
        bound = {"greater_than": "more than", "greater_than_equal": "at least", "less_than_equal": "at most", "less_than": "less than"}[kind]
        limit = next(iter(error["ctx"].values()))
        if isinstance(limit, float) and limit.is_integer():
            limit = int(limit)
        message, hint = f"must be {bound} {limit}, got {value!r}", "change the value"
    elif kind == "too_short":
        message, hint = "must not be empty", "add at least one entry"
    elif kind == "value_error":
        message = str(error["ctx"]["error"])
        if "; " in message:
            message, hint = message.split("; ", 1)
    elif kind == "string_pattern_mismatch":
        message, hint = f"{value!r} is not allowed here", "use letters, digits, _ and -"
    named = next((part for part in reversed(loc) if isinstance(part, str)), "")
    if kind != "extra_forbidden" and named in hints and hint in ("", "change the value"):
        hint = hints[named]
    return FileProblem(file, lines.line_for(loc), field, message, hint)


def _allowed_keys(model: type[BaseModel], loc: Loc) -> list[str]:
    """The keys a table at `loc` may hold, for 'did you mean' hints."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        info = getattr(current, "model_fields", {}).get(part)
        if info is None:
            return []
        current = _model_in(info.annotation)
    return sorted(getattr(current, "model_fields", {}))


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
