"""The judge: autograded test cells run outside the kernel that ran the student's code.

For each test cell of a notebook (nbgrader ``grade: true``, code, not a solution) the grader knows, from the
gradebook and never from the submission, its source and the *setup* before it (the notebook's read-only code
cells: imports, data, simulations with fixed seeds). Its *answer names* (:func:`answer_names`) are the names
the test reads that it does not bind, that are not builtins and that the setup does not bind. The student's
kernel runs :func:`export_snippet` in place of the test cell; what that displays is read with
:func:`read_export`. The judge (:func:`judge`) then runs, in a fresh namespace of this process, the setup,
binds the answers and runs the test cell: it passes if nothing is raised. A function answer is a
:class:`FunctionProxy` that calls the student's function in a frozen copy of their kernel (:mod:`grading.plain`).
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import copy
import hashlib
import io
import math
import os
import socket
import stat
import symtable
import time
import types
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from grading import plain

HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
# Inside the hidden tests, what depends only on the setup (reference fits, simulations): computed once per
# grading process for every student, never in the student's kernel (see TestCell.parts).
REFERENCE_BEGIN, REFERENCE_END = "### BEGIN REFERENCE", "### END REFERENCE"
BUILTINS = frozenset(dir(builtins))
CODEC_SOURCE = Path(plain.__file__).read_text()
CONNECT_SECONDS = 10  # how long a frozen copy may take to be ready for calls after the student pass


class SetupError(ValueError):
    """Setup cells the judge cannot use (the course's fault, not the student's)."""


# ----------------------------------------------------------------------------- names


def bound_names(source: str) -> set[str]:
    """The names that code binds at its top level (assignments, imports, definitions)."""
    tree = ast.parse(source)
    if any(isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names) for node in ast.walk(tree)):
        raise SetupError("setup code may not use 'import *': the names it binds must be readable from the code")
    table = symtable.symtable(source, "<setup>", "exec")
    return {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}


def read_names(source: str) -> set[str]:
    """The global names that code reads, at its top level or in functions and classes it defines, without
    binding them at its top level."""
    table = symtable.symtable(source, "<cell>", "exec")
    read: set[str] = set()

    def walk(scope: symtable.SymbolTable) -> None:
        for symbol in scope.get_symbols():
            if symbol.is_referenced() and (scope.get_type() == "module" or symbol.is_global()):
                read.add(symbol.get_name())
        for child in scope.get_children():
            walk(child)

    walk(table)
    return read - bound_names(source)


def answer_names(test_source: str, setup_names: set[str]) -> list[str]:
    """What a test cell reads of the student's work (sorted)."""
    return sorted(read_names(test_source) - BUILTINS - setup_names)


def hidden_lines(source: str) -> set[int]:
    """Line numbers (from 1) of the hidden part of a test cell, markers included."""
    return marked_lines(source, HIDDEN_BEGIN, HIDDEN_END)


def marked_lines(source: str, begin: str, end: str) -> set[int]:
    """Line numbers (from 1) between the lines that start with ``begin`` and ``end``, markers included."""
    marked, inside = set(), False
    for number, line in enumerate(source.splitlines(), 1):
        if line.strip().startswith(begin):
            inside = True
        if inside:
            marked.add(number)
        if line.strip().startswith(end):
            inside = False
    return marked


# ----------------------------------------------------------------------------- the student's kernel


def export_snippet(names: list[str], serve_path: str | None) -> str:
    """The code run in the student's kernel in place of a test cell: it displays the values of ``names``
    (:func:`grading.plain.export`) and binds nothing in the student's namespace."""
    code = CODEC_SOURCE + "\nexport(_user_ns, _names, _serve_path)\n"
    return (
        f"exec(compile({code!r}, '<grading export>', 'exec'), "
        f"{{'_user_ns': globals(), '_names': {names!r}, '_serve_path': {serve_path!r}}})"
    )


@dataclass
class Export:
    """What one export displayed: decoded answers, the names that are functions, the names of values the
    format does not hold with their types; or why there is nothing (``problem``)."""

    values: dict = field(default_factory=dict)
    functions: set = field(default_factory=set)
    unsupported: dict = field(default_factory=dict)
    problem: str | None = None


def read_export(outputs: list, names: list[str]) -> Export:
    """The answers in a test cell's outputs from the student pass: exactly one output of type
    :data:`grading.plain.MIME`, strictly decoded. Anything else (several, none, malformed) is no answer."""
    found = [
        o
        for o in outputs
        if o.get("output_type") in ("display_data", "execute_result")
        and isinstance(o.get("data"), dict)
        and plain.MIME in o["data"]
    ]
    if len(found) != 1:
        return Export(
            problem="the grader could not read your answers at this cell"
            if not found
            else "your notebook displayed more than one set of answers at this cell"
        )
    try:
        tree = plain.loads(found[0]["data"][plain.MIME])
        if type(tree) is not dict or set(tree) != {"answers"} or type(tree["answers"]) is not dict:
            raise plain.Malformed("not a set of answers")
        result = Export()
        for name, value in tree["answers"].items():
            if name not in names:
                continue
            if type(value) is dict and value.get("t") == "function" and set(value) == {"t"}:
                result.functions.add(name)
            elif (
                type(value) is dict
                and value.get("t") == "unsupported"
                and set(value) == {"t", "type"}
                and type(value["type"]) is str
            ):
                result.unsupported[name] = value["type"][: plain.MAX_TEXT]
            else:
                result.values[name] = plain.decode(value)
        return result
    except plain.Malformed:
        return Export(problem="the grader could not read your answers at this cell")


# ----------------------------------------------------------------------------- function answers


class FunctionProxy:
    """Stands for a student's function in the judge: a call sends plain-data arguments to the frozen copy of
    the student's kernel at the test cell and brings back a plain-data result, or raises what it raised."""

    def __init__(self, name: str, calls: Calls):
        self.name, self._calls = name, calls

    def __call__(self, *args, **kwargs):
        return self._calls.call(self.name, args, kwargs)

    def __repr__(self):
        return f"<your function {self.name}>"


class Calls:
    """The connection to one frozen copy of a student's kernel (at one test cell), opened at the first call;
    all calls together get ``seconds``, like the test cell they belong to. The copy runs as ``uid``, the user
    of the student's kernel. ``path`` lies in a folder that kernel can write, where it could leave a link to
    a classmate's copy: the grader connects only to a socket file of that user's, never through a link."""

    def __init__(self, path: str, seconds: float, uid: int):
        self.path, self.seconds, self.uid = path, seconds, uid
        self._socket: socket.socket | None = None
        self._deadline: float | None = None

    def call(self, name: str, args: tuple, kwargs: dict):
        try:
            request = {"name": name, "args": plain.encode(list(args)), "kwargs": plain.encode(dict(kwargs))}
        except plain.Unsupported as e:
            raise SetupError(f"a test calls {name} with an argument the grader cannot send ({e})") from None
        connection = self._connect(name)
        left = self._deadline - time.monotonic()
        try:
            if left <= 0:
                raise TimeoutError
            connection.settimeout(left)
            plain.send_frame(connection, {**request, "seconds": math.ceil(left) + 1})  # it ends after we stop waiting
            reply = plain.receive_frame(connection)
        except (TimeoutError, socket.timeout):
            self.close()
            raise TimeoutError(
                f"{name} did not return within the time limit of this test ({self.seconds:g} s)"
            ) from None
        except (OSError, plain.Malformed):
            self.close()
            reply = None
        if reply is None:
            raise RuntimeError(f"{name} ended the process it ran in, so the grader got no result")
        return self._result(name, reply)

    def _connect(self, name: str) -> socket.socket:
        if self._socket is not None:
            return self._socket
        if self._deadline is not None:  # connected once, and lost
            raise RuntimeError(f"{name} cannot be called again here: an earlier call ended its process")
        self._deadline = time.monotonic() + self.seconds
        until = time.monotonic() + CONNECT_SECONDS
        while (connection := self._open(name)) is None:
            if time.monotonic() > until:
                raise RuntimeError(
                    f"the grader could not call {name}: no copy of your kernel was left "
                    f"at this test cell (the notebook stopped before it?)"
                )
            time.sleep(0.05)
        self._socket = connection
        return connection

    def _open(self, name: str) -> socket.socket | None:
        """A connection to the socket file at :attr:`path` itself, never through a link, and only to one that
        the kernel's user made; None while there is none."""
        try:
            found = os.open(self.path, os.O_PATH | os.O_NOFOLLOW)
        except OSError:
            return None
        try:
            info = os.fstat(found)
            if not stat.S_ISSOCK(info.st_mode) or info.st_uid != self.uid:
                raise RuntimeError(
                    f"the grader could not call {name}: what waits at this test cell is not a copy of your kernel"
                )
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                connection.connect(f"/proc/self/fd/{found}")  # the file just checked, whatever the path holds now
            except OSError:
                connection.close()
                return None
            return connection
        finally:
            os.close(found)

    @staticmethod
    def _result(name: str, reply):
        if type(reply) is dict and set(reply) == {"value"}:
            value = reply["value"]
            if type(value) is dict and value.get("t") == "unsupported" and set(value) == {"t", "type"}:
                raise AssertionError(
                    f"{name} returned a {str(value['type'])[: plain.MAX_TEXT]}, which the grader "
                    f"cannot read: return numbers, arrays, Series, DataFrames, lists or dicts"
                )
            try:
                return plain.decode(value)
            except plain.Malformed:
                pass
        elif type(reply) is dict and set(reply) == {"error"} and type(reply["error"]) is dict:
            error = reply["error"]
            kind = error.get("type") if error.get("type") in plain.ERRORS else "Exception"
            exception = getattr(builtins, kind)(str(error.get("message", ""))[: plain.MAX_TEXT])
            exception.raised_by_answer = name
            raise exception
        raise RuntimeError(f"the grader could not read what {name} returned")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


# ----------------------------------------------------------------------------- judging


@dataclass
class TestCell:
    """One autograded test cell as the gradebook has it, with the setup that comes before it."""

    grade_id: str
    source: str
    setup: list[str]

    @property
    def setup_names(self) -> set[str]:
        names = set()
        for code in self.setup:
            names |= bound_names(code)
        return names

    @property
    def answers(self) -> list[str]:
        return answer_names(self.source, self.setup_names)

    @property
    def filename(self) -> str:
        return f"<test cell {self.grade_id}>"

    def parts(self) -> tuple[ast.Module, ast.Module | None, ast.Module]:
        """The cell's top-level statements before its reference block, in it (None: no block) and after it,
        each keeping its line numbers in the cell. The block (between ``### BEGIN REFERENCE`` and ``### END
        REFERENCE`` lines, inside the hidden tests) may read only what the setup binds, so that what it binds
        is the same for every student: :func:`reference_values` computes it once."""
        tree = ast.parse(self.source)
        block = marked_lines(self.source, REFERENCE_BEGIN, REFERENCE_END)
        if not block:
            return tree, None, ast.Module(body=[], type_ignores=[])
        if not block <= hidden_lines(self.source):
            raise SetupError(f"{self.grade_id}: the reference block must lie inside the hidden tests")
        inside = [node for node in tree.body if node.lineno in block]
        if any((node.lineno in block) != (node.end_lineno in block) for node in tree.body) or not inside:
            raise SetupError(f"{self.grade_id}: the reference block must hold whole top-level statements")
        first, last = tree.body.index(inside[0]), tree.body.index(inside[-1])
        if last - first + 1 != len(inside):
            raise SetupError(f"{self.grade_id}: one reference block per test cell")
        reference = ast.Module(body=inside, type_ignores=[])
        reads = read_names(ast.unparse(reference)) - BUILTINS - self.setup_names
        if reads:
            raise SetupError(
                f"{self.grade_id}: the reference block reads {sorted(reads)}, which the setup does not "
                f"bind: it may depend on nothing but the setup"
            )
        return (
            ast.Module(body=tree.body[:first], type_ignores=[]),
            reference,
            ast.Module(body=tree.body[last + 1 :], type_ignores=[]),
        )


@dataclass
class Verdict:
    """A test cell's outcome: passed, or the error to show (name and message; never code or a traceback)."""

    passed: bool
    ename: str = ""
    evalue: str = ""


def judge(test: TestCell, export: Export, calls: Calls | None) -> Verdict:
    """Run ``test`` on the student's exported answers in a fresh namespace of this process."""
    if export.problem is not None and test.answers:
        return Verdict(False, "AssertionError", export.problem)
    for name in test.answers:
        if name in export.unsupported:
            return Verdict(
                False,
                "AssertionError",
                f"{name} is a {export.unsupported[name]}, which the grader cannot read: answers must be "
                f"numbers, arrays, Series, DataFrames, lists, dicts or functions",
            )
    before, reference, after = test.parts()
    with _quiet():
        namespace = _setup_namespace(test)
        namespace.update(export.values)
        if export.functions:
            if calls is None:
                raise SetupError(f"{test.grade_id}: a function answer, and no way to call it")
            namespace.update({name: FunctionProxy(name, calls) for name in export.functions})
        try:
            exec(compile(before, test.filename, "exec"), namespace)  # noqa: S102
            if reference is not None:
                namespace.update(reference_values(test, reference))
            exec(compile(after, test.filename, "exec"), namespace)  # noqa: S102
        except Exception as error:  # noqa: BLE001 (any failure of a test is the student's lost point)
            return _verdict(error, test.filename, hidden_lines(test.source))
        finally:
            if calls is not None:
                calls.close()
    return Verdict(True)


def _setup_namespace(test: TestCell) -> dict:
    """A fresh namespace in which the test's setup has run."""
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    for number, code in enumerate(test.setup):
        exec(compile(code, f"<setup {number} of {test.grade_id}>", "exec"), namespace)  # noqa: S102
    return namespace


# Per grading process: the names a reference block binds, by the hash of its code and its setup's. The student's
# kernel is another process, and answers reach the judge as plain data, so no student code can reach them.
_references: dict[str, dict] = {}


def reference_values(test: TestCell, reference: ast.Module) -> dict:
    """What the test's reference block binds, run after the setup in a namespace of its own: computed at the
    first call, then a deep copy of it at each call (a test that changes a value in place changes it for
    nobody else). An error of the block is raised at every call, as if it ran each time."""
    code = ast.unparse(reference)
    key = hashlib.sha256("\0".join([*test.setup, code]).encode()).hexdigest()
    if key not in _references:
        namespace = _setup_namespace(test)
        exec(compile(reference, test.filename, "exec"), namespace)  # noqa: S102
        _references[key] = {name: namespace[name] for name in bound_names(code) if name in namespace}
    values = _references[key]
    shared = {id(value): value for value in values.values() if isinstance(value, types.ModuleType)}  # not copyable
    return copy.deepcopy(values, shared)


def _verdict(error: Exception, filename: str, hidden: set[int]) -> Verdict:
    """The error a student sees: name and message; for an error of their function that a hidden test's call
    raised, not its message (which could repeat the hidden test's inputs)."""
    line = None
    frame = error.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_filename == filename:
            line = frame.tb_lineno
        frame = frame.tb_next
    answer = getattr(error, "raised_by_answer", None)
    if answer is not None and line in hidden:
        return Verdict(
            False, type(error).__name__, f"{answer} raised {type(error).__name__} when a hidden test called it"
        )
    return Verdict(False, type(error).__name__, str(error)[:2000])


@contextlib.contextmanager
def _quiet():
    """What setup and tests print, and the warnings they raise, stay out of the grader's output."""
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def serve_path(folder: str, index: int) -> str:
    """Where the frozen copy of the kernel at the test cell with notebook index ``index`` answers calls."""
    return os.path.join(folder, f"answers-{index}")
