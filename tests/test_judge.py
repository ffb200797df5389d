"""The judge's parts alone: the plain-data format, answer names, the export, verdicts and function calls.

End to end (nbgrader autograde with the course's configuration, honest and cheating students):
tests/test_grading.py and tests/test_cheats.py.
"""

from __future__ import annotations

import ast
import json
import math
import multiprocessing
import os
import socket
import subprocess
import sys

import nbformat
import numpy as np
import pandas as pd
import pytest

from grading import COURSE_ROOT
from grading import judge as jd
from grading import plain

ROUND_TRIP = [
    None,
    True,
    0,
    -7,
    2**62,
    2.5,
    math.nan,
    math.inf,
    -math.inf,
    "text",
    "",
    [1, 2.0, "x"],
    (1, (2, 3)),
    {"a": 1, "b": [np.float64(2)]},
    np.float64(1.5),
    np.int32(-3),
    np.bool_(False),
    np.str_("s"),
    np.array([[1.0, np.nan], [np.inf, 4.0]]),
    np.array([1, 2], dtype=np.uint8),
    np.array(["a", "bc"]),
    np.zeros((0, 3)),
    pd.RangeIndex(1, 13, name="doctor"),
    pd.Index([0.5, 1.5], name="x"),
    pd.Index(["a", "b"], name=None),
    pd.Series([1.0, 2.0], index=pd.Index([3, 4], name="doctor"), name="size"),
    pd.Series(["u", None]),
    pd.Series([True, False]),
    pd.DataFrame({"a": [1, 2], "b": ["x", "y"], "c": [0.5, np.nan]}, index=pd.Index(["p", "q"], name="k")),
    pd.DataFrame({1: [1.0], 2: [2.0]}),
    pd.DataFrame(),
]


def round_trip(value):
    return plain.decode(plain.loads(json.dumps(plain.encode(value), allow_nan=False)))


def same(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, pd.DataFrame):
        return (
            a.equals(b)
            and a.index.equals(b.index)
            and list(a.dtypes) == list(b.dtypes)
            and a.index.name == b.index.name
        )
    if isinstance(a, (pd.Series, pd.Index)):
        return a.equals(b) and a.name == b.name and a.dtype == b.dtype
    if isinstance(a, (np.ndarray, np.generic)):
        return a.dtype == b.dtype and np.shape(a) == np.shape(b) and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


@pytest.mark.parametrize("value", ROUND_TRIP, ids=lambda v: type(v).__name__)
def test_plain_values_come_back_equal_and_of_the_same_type(value):
    assert same(round_trip(value), value)


def nested(depth):
    value = 1
    for _ in range(depth):
        value = [value]
    return value


class EqualsEverything(float):
    def __eq__(self, other):
        return True

    __hash__ = float.__hash__


class MyArray(np.ndarray):
    pass


@pytest.mark.parametrize(
    "value",
    [
        EqualsEverything(1.0),
        object(),
        {1: 2},
        np.array([1 + 2j]),
        pd.Series(pd.Categorical(["a"])),
        np.array([object()]),
        pd.Series([object()]),
        np.zeros(2).view(MyArray),
        pd.MultiIndex.from_tuples([(1, 2)]),
        pd.Timestamp("2024-01-01"),
        2**70,
        nested(plain.MAX_DEPTH + 2),
        np.zeros(plain.MAX_ITEMS + 1),
        "x" * (plain.MAX_STR_CHARS + 1),
        print,
    ],
    ids=lambda v: type(v).__name__,
)
def test_values_outside_the_format_are_refused(value):
    with pytest.raises(plain.Unsupported):
        plain.encode(value)


@pytest.mark.parametrize(
    "text",
    [
        "NaN",
        "1e999",
        "[" * 100_000,
        '{"t": "float", "v": "1"}',
        '{"t": "nope"}',
        '{"t": "tuple"}',
        '{"t": "tuple", "items": [], "extra": 1}',
        '{"t": "ndarray", "dtype": "object", "shape": [1], "data": [1]}',
        '{"t": "ndarray", "dtype": "int8", "shape": [1], "data": [1000]}',
        '{"t": "ndarray", "dtype": "float64", "shape": [2], "data": [1]}',
        '{"t": "ndarray", "dtype": "bool", "shape": [1], "data": [1]}',
        '{"t": "dict", "keys": ["a", "a"], "values": [1, 2]}',
        '{"t": "Series", "dtype": "float64", "data": [1.0], "index": {"t": "RangeIndex", "start": 0, "stop": 2, '
        '"step": 1, "name": null}, "name": null}',
        '{"t": "Index", "dtype": "int64", "data": [1], "name": [1]}',
        '{"t": "function"}',
        "x" * 100,
        '{"t": "RangeIndex", "start": 0, "stop": 10000000, "step": 1, "name": null}',
    ],
)
def test_the_decoder_refuses_anything_the_encoder_would_not_write(text):
    with pytest.raises(plain.Malformed):
        plain.decode(plain.loads(text))


def test_loads_refuses_text_beyond_the_cap():
    with pytest.raises(plain.Malformed):
        plain.loads("[" + "1," * plain.MAX_CHARS + "1]")


# ----------------------------------------------------------------------------- names


def test_answer_names_are_what_a_test_reads_and_neither_binds_nor_gets_from_setup_or_builtins():
    setup = "import numpy as np\nfrom helpers.checks import check_close\ngp = load()\ndef helper(): pass\n"
    test = (
        "check_close(slope, np.polyfit(gp.x, gp.y, 1)[0], 'slope')\n_ref = len(gp)\n"
        "def _reference(d):\n    return d + offset + _ref\n"
        "for _k in range(3):\n    check_close(fit(_k), [v for v in values], 'fit')\n"
        "assert helper() is None and sorted(x for x in table) == table\n"
    )
    assert jd.answer_names(test, jd.bound_names(setup)) == ["fit", "offset", "slope", "table", "values"]


def test_setup_may_not_hide_what_it_binds():
    with pytest.raises(jd.SetupError):
        jd.bound_names("from numpy import *")


def test_hidden_lines_are_those_between_the_markers():
    source = "a()\n### BEGIN HIDDEN TESTS\nb()\nc()\n### END HIDDEN TESTS\nd()"
    assert jd.hidden_lines(source) == {2, 3, 4, 5}


# ----------------------------------------------------------------------------- the export, in a real kernel


@pytest.fixture(scope="module")
def kernel():
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", stderr=subprocess.DEVNULL)
    yield kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def run(kc, code: str) -> list[dict]:
    """Execute ``code``; return its outputs as nbformat dicts."""
    from nbformat.v4 import output_from_msg

    outputs = []

    def keep(msg):
        if msg["msg_type"] in ("stream", "display_data", "execute_result", "error"):
            outputs.append(output_from_msg(msg))

    kc.execute_interactive(code, output_hook=keep, timeout=120)
    return outputs


def test_an_export_displays_the_answers_once_and_binds_nothing(kernel):
    run(
        kernel,
        "import numpy as np, pandas as pd\nx = 1.5\ns = pd.Series([1, 2], name='n')\n"
        "f = lambda a: a * 2\nclass Thing: pass\nthing = Thing()\nbefore = set(globals()) | {'before'}",
    )
    outputs = run(kernel, jd.export_snippet(["x", "s", "f", "thing", "missing"], None))
    export = jd.read_export(outputs, ["x", "s", "f", "thing", "missing"])
    assert (
        export.problem is None and export.values["x"] == 1.5 and same(export.values["s"], pd.Series([1, 2], name="n"))
    )
    assert export.functions == {"f"} and export.unsupported == {"thing": "Thing"} and "missing" not in export.values
    assert (
        run(
            kernel,
            "print(sorted(set(globals()) - before - {'_', '__', '___'} - {k for k in globals() "
            "if k.startswith('_i') or k.startswith('_') and k[1:].isdigit()}))",
        )[0]["text"].strip()
        == "[]"
    )


@pytest.mark.parametrize(
    "outputs, problem",
    [
        ([], "could not read"),
        ([{"output_type": "display_data", "data": {plain.MIME: '{"answers": {}}'}}] * 2, "more than one"),
        (
            [{"output_type": "display_data", "data": {plain.MIME: '{"answers": {"x": {"t": "nope"}}}'}}],
            "could not read",
        ),
        ([{"output_type": "display_data", "data": {plain.MIME: '{"answers": {}, "more": 1}'}}], "could not read"),
        ([{"output_type": "display_data", "data": {plain.MIME: "NaN"}}], "could not read"),
    ],
)
def test_an_export_that_is_missing_doubled_or_malformed_is_no_answer(outputs, problem):
    assert problem in jd.read_export(outputs, ["x"]).problem


# ----------------------------------------------------------------------------- verdicts

SETUP = ["import numpy as np\nfrom helpers.checks import check_close\nprint('setup says hello')\n"]


def verdict(test_source: str, values: dict, **export) -> jd.Verdict:
    return jd.judge(jd.TestCell("q", test_source, SETUP), jd.Export(values=values, **export), None)


def test_a_test_passes_on_right_answers_and_fails_with_name_and_message_only(capsys):
    test = "check_close(x, 2.0, 'x')\n### BEGIN HIDDEN TESTS\n_ref = np.sqrt(4.0)\ncheck_close(x, _ref, 'x')\n"
    assert verdict(test, {"x": 2.0}).passed
    failed = verdict(test, {"x": 3.0})
    assert (failed.passed, failed.ename) == (False, "AssertionError") and "not the expected value" in failed.evalue
    assert "_ref" not in failed.evalue and "sqrt" not in failed.evalue
    missing = verdict(test, {})
    assert missing.ename == "NameError" and "'x'" in missing.evalue
    assert "hello" not in capsys.readouterr().out, "what setup prints stays out of the grader's output"


def test_unreadable_answers_fail_the_cell_naming_the_answer_and_its_type():
    failed = verdict("check_close(x, 2.0, 'x')", {}, unsupported={"x": "RegressionResultsWrapper"})
    assert not failed.passed and "x is a RegressionResultsWrapper" in failed.evalue
    assert (
        "could not read your answers"
        in verdict("check_close(x, 2.0, 'x')", {}, problem=jd.read_export([], ["x"]).problem).evalue
    )


def test_the_judge_uses_its_own_setup_whatever_the_student_bound():
    """An exported answer named like a setup name would be the student's check function: the judge never
    exports such names, and its setup's check_close is the real one."""
    test = "check_close(x, 2.0, 'x')"
    assert jd.answer_names(test, jd.bound_names(SETUP[0])) == ["x"]
    assert not verdict(test, {"x": 3.0}).passed


def reference_test(block: str, after: str) -> str:
    return (
        f"check_close(x, 2.0, 'x')\n### BEGIN HIDDEN TESTS\n{jd.REFERENCE_BEGIN}\n{block}\n{jd.REFERENCE_END}\n"
        f"{after}\n{jd.HIDDEN_END}\n"
    )


def test_a_reference_block_runs_once_and_each_test_gets_its_own_copy():
    """What the block binds is computed at the first student's test only (a random draw stays the same), each
    student gets a copy (one test's change in place reaches nobody else), and a changed setup gets its own."""
    test = reference_test(
        "import random as _random\n_draw = [_random.random()]",
        "_draw.append(x)\nassert len(_draw) == 2 and False, _draw[0]",
    )
    first, second = verdict(test, {"x": 2.0}), verdict(test, {"x": 2.0})
    assert not first.passed and first.evalue == second.evalue, "the block ran twice, or the copy was shared"
    other = jd.judge(jd.TestCell("q", test, [*SETUP, "y = 1"]), jd.Export(values={"x": 2.0}), None)
    assert other.evalue != first.evalue, "another setup must get its own reference"


def test_a_reference_block_is_reached_only_where_the_test_would_run_it():
    test = reference_test("_ref = np.sqrt(4.0)", "check_close(x, _ref, 'x')")
    assert verdict(test, {"x": 2.0}).passed and not verdict(test, {"x": 2.1}).passed
    assert verdict(test, {}).ename == "NameError", "the visible checks come first"
    failing = reference_test("_ref = undefined_in_setup", "pass")
    with pytest.raises(jd.SetupError, match="undefined_in_setup"):
        verdict(failing, {"x": 2.0})
    raising = reference_test("_ref = 1 / 0", "pass")
    for _ in range(2):  # an error of the block is every student's, with no hidden code in its message
        failed = verdict(raising, {"x": 2.0})
        assert (failed.passed, failed.ename) == (False, "ZeroDivisionError") and "1 / 0" not in failed.evalue


@pytest.mark.parametrize(
    "block, problem",
    [
        ("_ref = x * 2", "reads ['x']"),
        ("_ref = [\n1,\n### END REFERENCE\n2]", "whole top-level statements"),
    ],
)
def test_a_reference_block_may_depend_on_the_setup_alone(block, problem):
    with pytest.raises(jd.SetupError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        verdict(reference_test(block, "pass"), {"x": 2.0})
    outside = f"{jd.REFERENCE_BEGIN}\n_ref = 1\n{jd.REFERENCE_END}\ncheck_close(x, 2.0, 'x')\n"
    with pytest.raises(jd.SetupError, match="inside the hidden tests"):
        verdict(outside, {"x": 2.0})


# ----------------------------------------------------------------------------- function answers


def serve(path, code):
    namespace = {}
    exec(code, namespace)  # noqa: S102
    plain.serve_calls(namespace, path, poll_seconds=0.2)


@pytest.fixture
def student_function(tmp_path):
    """A frozen copy of a 'kernel' that defines some functions, answering at a socket path."""
    code = (
        "import numpy as np, os, time\n"
        "def ivw(y, s):\n    y, s = np.asarray(y, float), np.asarray(s, float)\n"
        "    if y.shape != s.shape or y.size == 0: raise ValueError(f'bad input {list(y)}')\n"
        "    w = 1 / s**2\n    return float((w * y).sum() / w.sum()), float(w.sum() ** -0.5)\n"
        "class Mine(KeyError): pass\n"
        "def odd(kind):\n    if kind == 'mine': raise Mine('custom')\n"
        "    if kind == 'exit': os._exit(3)\n    if kind == 'slow': time.sleep(60)\n"
        "    if kind == 'object': return object()\n    return kind\n"
    )
    path = str(tmp_path / "answers-0")
    process = multiprocessing.get_context("fork").Process(target=serve, args=(path, code), daemon=True)
    process.start()
    yield path
    process.kill()


def call_test(path, source, seconds=20):
    return jd.judge(
        jd.TestCell("q", source, SETUP), jd.Export(functions={"ivw", "odd"}), jd.Calls(path, seconds, os.getuid())
    )


def test_the_grader_calls_no_copy_through_a_link_nor_one_of_another_user(student_function, tmp_path):
    """The socket folder is the student's kernel's to write: a link left there to a classmate's copy, or a
    socket of another user's, is refused without reaching it (a copy ends at its first hang-up, so a call
    made through the link would cost the classmate their function points)."""
    link = tmp_path / "answers-1"
    link.symlink_to(student_function)
    with pytest.raises(RuntimeError, match="not a copy of your kernel"):
        jd.Calls(str(link), 20, os.getuid()).call("odd", ("x",), {})
    with pytest.raises(RuntimeError, match="not a copy of your kernel"):
        jd.Calls(student_function, 20, os.getuid() + 1).call("odd", ("x",), {})
    assert call_test(student_function, "assert odd('x') == 'x'").passed, "the copy was reached"


def test_a_function_answer_is_called_in_its_own_process_with_plain_data(student_function):
    source = (
        "import pandas as pd\n_got = ivw(pd.Series([1.0, 3.0]), [1.0, 1.0])\n"
        "assert type(_got) is tuple and _got == (2.0, 2 ** -0.5), _got\n"
        "try:\n    ivw([1.0], [])\nexcept ValueError as e:\n    assert 'bad input' in str(e)\n"
        "else:\n    raise AssertionError('no ValueError')\n"
        "try:\n    odd('mine')\nexcept KeyError:\n    pass\n"
    )
    assert call_test(student_function, source).passed


@pytest.mark.parametrize("hidden", [False, True])
def test_errors_of_a_function_called_by_a_hidden_test_do_not_show_its_message(student_function, hidden):
    call = "ivw([41.0], [])"
    failed = call_test(student_function, f"### BEGIN HIDDEN TESTS\n{call}\n### END HIDDEN TESTS" if hidden else call)
    assert failed.ename == "ValueError"
    assert ("41" in failed.evalue, "hidden test" in failed.evalue) == (not hidden, hidden), failed


@pytest.mark.parametrize(
    "kind, ename, words",
    [
        ("exit", "RuntimeError", "ended the process"),
        ("slow", "TimeoutError", "time limit"),
        ("object", "AssertionError", "returned a object"),
    ],
)
def test_a_function_that_dies_hangs_or_returns_an_object_fails_its_test(student_function, kind, ename, words):
    failed = call_test(student_function, f"odd({kind!r})", seconds=3)
    assert (failed.ename, words in failed.evalue) == (ename, True), failed


def test_no_frozen_copy_means_the_calls_fail(tmp_path, monkeypatch):
    monkeypatch.setattr(jd, "CONNECT_SECONDS", 0.2)
    failed = call_test(str(tmp_path / "nobody"), "ivw([1.0], [1.0])")
    assert failed.ename == "RuntimeError" and "could not call ivw" in failed.evalue


def test_a_reply_that_is_not_the_format_fails_the_call(tmp_path):
    path = str(tmp_path / "liar")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)

    def lie():
        connection, _ = listener.accept()
        plain.receive_frame(connection)
        plain.send_frame(connection, {"value": {"t": "ndarray", "dtype": "object", "shape": [1], "data": [1]}})
        connection.close()

    child = os.fork()
    if child == 0:
        try:
            lie()
        finally:
            os._exit(0)
    try:
        failed = call_test(path, "ivw([1.0], [1.0])")
    finally:
        os.waitpid(child, 0)
    assert failed.ename == "RuntimeError" and "could not read what ivw returned" in failed.evalue


def test_the_kernel_side_code_imports_only_the_standard_library_numpy_and_pandas():
    code = (
        "import sys\nsource = open(sys.argv[1]).read()\nexec(compile(source, 'plain', 'exec'), {})\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'grading', 'nbgrader', 'jupyter_client'}))"
    )
    result = subprocess.run([sys.executable, "-c", code, plain.__file__], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stderr


# ----------------------------------------------------------------------------- the course's assignments

COURSE_NOTEBOOKS = sorted(COURSE_ROOT.glob("source/*/*.ipynb"))


def cells_of(path):
    """(kind, grade id, source) of each code cell: setup, answer, test or other."""
    out = []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        kind = (
            "answer"
            if meta.get("solution")
            else "test"
            if meta.get("grade")
            else "setup"
            if meta.get("locked")
            else "other"
        )
        out.append((kind, meta.get("grade_id"), cell.source))
    return out


def mutated_names(source: str) -> set[str]:
    """Names whose value a cell changes in place: ``name[...] = ``, ``name.attr += ``, ``del name[...]``."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Assign, ast.Delete)):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        else:
            continue
        for target in targets:
            if isinstance(target, (ast.Subscript, ast.Attribute)):
                while isinstance(target, (ast.Subscript, ast.Attribute)):
                    target = target.value
                if isinstance(target, ast.Name):
                    found.add(target.id)
    return found


@pytest.mark.parametrize("path", COURSE_NOTEBOOKS, ids=lambda p: p.parent.name)
def test_each_assignment_follows_the_judging_contract(path):
    """Setup first and read-only, reading no answer; each test reads answers only by names that an answer
    cell before it binds, and no setup name that an answer cell changes in place (the judge's setup is fresh)."""
    cells = cells_of(path)
    assert cells[0][0] == "setup", "the first code cell is the locked setup (imports, data)"
    assert not [c for c in cells if c[0] == "other"], "every code cell is setup, an answer or a test"
    setup_names, answered, changed = set(), set(), set()
    setup_sources = []
    for kind, grade_id, source in cells:
        if kind == "setup":
            assert jd.read_names(source) - jd.BUILTINS <= setup_names | jd.bound_names(source), (
                f"setup cell {grade_id} reads a name that no setup before it binds"
            )
            setup_names |= jd.bound_names(source)
            setup_sources.append(source)
        elif kind == "answer":
            answered |= jd.bound_names(source)
            changed |= mutated_names(source) & setup_names
        else:
            compile(source, grade_id, "exec")
            names = set(jd.answer_names(source, setup_names))
            assert names, f"{grade_id} reads no answer"
            assert names <= answered, f"{grade_id} reads {sorted(names - answered)}, which no answer cell binds"
            assert not jd.read_names(source) & changed, (
                f"{grade_id} reads {sorted(jd.read_names(source) & changed)}, which answers change in place"
            )
            assert jd.HIDDEN_BEGIN in source and jd.HIDDEN_END in source, f"{grade_id} has no hidden tests"
            jd.TestCell(grade_id, source, setup_sources).parts()  # a reference block reads the setup alone


def test_the_contract_check_sees_a_test_that_reads_a_changed_setup_name():
    assert mutated_names('gp["age_c"] = gp["age"] - 1\nx = 2\nfit.params = None') == {"gp", "fit"}


def test_setup_and_tests_follow_the_course_order_whatever_a_submission_moves_or_deletes(monkeypatch):
    """Else a submission that deletes the setup cell, or moves a test above it, has the judge take the
    student's own check functions and data as answers."""
    from types import SimpleNamespace

    from grading import autograde

    setup, test = "from helpers.checks import check_close\nimport numpy as np", "check_close(x, np.pi)"
    book = SimpleNamespace(
        source_cells=[
            SimpleNamespace(name=n, source=src, cell_type="code", locked=locked)
            for n, src, locked in [("setup", setup, True), ("answer", "x = 3", False), ("test", test, True)]
        ],
        grade_cells=[SimpleNamespace(name="test")],
        solution_cells=[SimpleNamespace(name="answer")],
    )

    class Gradebook:
        def __init__(self, url):
            pass

        def __enter__(self):
            return SimpleNamespace(find_notebook=lambda notebook, assignment: book)

        def __exit__(self, *error):
            return False

    monkeypatch.setattr(autograde, "Gradebook", Gradebook)
    resources = {"nbgrader": {"db_url": "", "notebook": "nb", "assignment": "a"}}

    def submission(*grade_ids):
        return nbformat.v4.new_notebook(
            cells=[
                nbformat.v4.new_code_cell("check_close = print", metadata={"nbgrader": {"grade_id": g}})
                for g in grade_ids
            ]
        )

    for cells, index in [
        (["setup", "answer", "test"], 2),
        (["answer", "test"], 1),
        (["test", "setup", "answer"], 0),
        (["test", "answer", "test"], 0),
    ]:
        (found,) = autograde.plan(submission(*cells), resources, ["setup", "answer", "test"])
        assert found[0] == index and found[1].setup == [setup] and found[1].source == test, cells
        assert found[1].answers == ["x"], cells


def test_autograde_refuses_where_no_sandbox_can_be_had_unless_told_it_is_self_study(monkeypatch, tmp_path):
    """Without root, the sandbox is bubblewrap's: refused, naming the setting, where the kernel forbids
    unprivileged user namespaces (here a stand-in for /proc/sys saying so; for real: tests/test_cheats.py)."""
    from grading import sandbox
    from grading.autograde import GradingRefused, JudgedExecute

    (tmp_path / "kernel").mkdir()
    (tmp_path / "kernel" / "unprivileged_userns_clone").write_text("0\n")
    monkeypatch.setattr(sandbox, "SYSCTL", tmp_path)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(GradingRefused, match=r"kernel\.unprivileged_userns_clone = 0"):
        JudgedExecute()._sandboxed()
    assert JudgedExecute(self_study=True)._sandboxed() is False
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert JudgedExecute()._sandboxed() is True


@pytest.mark.parametrize(
    "setting, value",
    [
        ("kernel.unprivileged_userns_clone", "0"),
        ("user.max_user_namespaces", "0"),
        ("kernel.apparmor_restrict_unprivileged_userns", "1"),
    ],
)
def test_each_setting_that_forbids_user_namespaces_is_named(tmp_path, setting, value):
    from grading import sandbox

    allowing = {"kernel.unprivileged_userns_clone": "1", "user.max_user_namespaces": "1000"}
    for name, text in {**allowing, setting: value}.items():
        path = tmp_path / name.replace(".", "/")
        path.parent.mkdir(exist_ok=True)
        path.write_text(text + "\n")
    assert f"({setting} = {value};" in sandbox.bubblewrap_refusal(tmp_path)


def test_a_notebooks_time_and_output_limits_are_settings_of_the_sandbox_limits():
    """One place for every limit: JudgedExecute and the kernel manager it makes read the same SandboxLimits."""
    from traitlets.config import Config

    from grading.autograde import JudgedExecute
    from grading.sandbox import UnsandboxedKernelManager

    config = Config()
    config.SandboxLimits.notebook_seconds, config.SandboxLimits.notebook_output_kb = 77, 8
    config.SandboxLimits.memory_mb = 8192
    config.JudgedExecute.timeouts = {"own": {"timeout": 5, "notebook_timeout": 20}}
    step = JudgedExecute(config=config, self_study=True)
    assert step._timeouts({"nbgrader": {"assignment": "own"}}) == (5, 20)
    assert step._timeouts({"nbgrader": {"assignment": "other"}}) == (step.timeout, 77)
    assert step.limits.notebook_output_kb == 8
    step.nb, step._course_files = nbformat.v4.new_notebook(), []
    step.kernel_manager_class = UnsandboxedKernelManager
    km = step.create_kernel_manager()
    assert km.limits is step.limits and km.limits.memory_mb == 8192


def test_a_test_cells_first_export_is_kept_whole_and_more_count_against_the_output_limit():
    """Else a hook could send export after export in a test cell, every one kept in the grader's memory."""
    from traitlets.config import Config

    from grading.autograde import JudgedExecute

    config = Config()
    config.SandboxLimits.notebook_output_kb = 64
    step = JudgedExecute(config=config, self_study=True)
    step.reset_execution_trackers()
    step.clear_before_next_output = False  # as a run sets it
    step._output_bytes, step._dropped, step._exports, step._exported = 0, set(), {3}, set()
    outs = []
    for _ in range(100):
        step.output(
            outs,
            {
                "msg_type": "display_data",
                "header": {"msg_type": "display_data"},
                "parent_header": {"msg_id": "m"},
                "content": {"data": {plain.MIME: "x" * 10_000}, "metadata": {}},
            },
            None,
            3,
        )
    kept = [len(o.data[plain.MIME]) for o in outs if o.output_type == "display_data"]
    assert kept[0] == 10_000 and sum(kept) <= 10_000 + 64 * 1024, f"{len(kept)} exports kept"
    assert "dropped by the grader" in outs[-1].text


def test_a_frozen_copy_is_no_child_of_the_kernel_answers_calls_and_ends_with_it(tmp_path):
    """ipykernel's shutdown waits seconds for every child of the kernel, zombies included (which made judged
    grading half again as slow as nbgrader's Execute): the copy is left to the kernel's first process."""
    import struct
    import time

    from grading.sandbox import UnsandboxedKernelManager
    from test_sandbox import kernel

    path = str(tmp_path / "answers-0")
    with kernel(UnsandboxedKernelManager(kernel_name="python3"), tmp_path) as run_code:
        run_code("def twice(a):\n    return a * 2")
        run_code(jd.export_snippet(["twice"], path))
        children = run_code(
            "import os\nprint(sum(len(open(f'/proc/self/task/{t}/children').read().split()) "
            "for t in os.listdir('/proc/self/task')))"
        )
        calls = jd.Calls(path, 20, os.getuid())
        assert calls.call("twice", (21,), {}) == 42
        pid, _, _ = struct.unpack(
            "3i", calls._socket.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        )
    assert children.strip() == "0", "the kernel has no child to wait for"
    for _ in range(200):
        if not os.path.exists(f"/proc/{pid}"):
            break
        time.sleep(0.05)
    calls.close()  # only now: a hang-up alone would end the copy too
    assert not os.path.exists(f"/proc/{pid}"), "the copy ends with its kernel"


def test_the_kernel_is_stopped_at_once_so_no_student_code_runs_after_the_pass(monkeypatch, tmp_path):
    """A graceful stop would run the student's atexit hooks after the verdicts, with the grader waiting on
    them: the kernel is killed as soon as the judge has its answers."""
    from grading import autograde

    monkeypatch.setattr(autograde, "plan", lambda nb, resources, order: [])
    monkeypatch.setattr(autograde, "course_order", lambda config, assignment, notebook: [])
    monkeypatch.setattr(autograde, "course_files", lambda config, assignment: [])
    ran, after = tmp_path / "ran", tmp_path / "after-the-pass"
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                f"import atexit, pathlib\npathlib.Path({str(ran)!r}).touch()\n"
                f"atexit.register(pathlib.Path({str(after)!r}).touch)"
            )
        ]
    )
    resources = {"nbgrader": {"db_url": "", "notebook": "nb", "assignment": "a"}}
    autograde.JudgedExecute(self_study=True).preprocess(nb, resources)
    assert ran.exists(), "the student's cell did not run"
    assert not after.exists(), "the student's atexit hook ran after the pass"


def student_pass(sources: list[str], timeout: int, notebook_timeout: int) -> nbformat.NotebookNode:
    """The student pass of JudgedExecute (unsandboxed, no test cells) over cells of ``sources``, with these
    limits and one second for an interrupted kernel to answer; the notebook as it comes back."""
    from traitlets.config import Config

    from grading import autograde

    config = Config()
    config.JudgedExecute.timeouts = {"a": {"timeout": timeout, "notebook_timeout": notebook_timeout}}
    config.SandboxLimits.interrupt_seconds = 1
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in sources])
    resources = {"nbgrader": {"db_url": "", "notebook": "nb", "assignment": "a"}}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(autograde, "plan", lambda nb, resources, order: [])
        patch.setattr(autograde, "course_order", lambda config, assignment, notebook: [])
        patch.setattr(autograde, "course_files", lambda config, assignment: [])
        return autograde.JudgedExecute(config=config, self_study=True).preprocess(nb, resources)[0]


def errors_of(cell) -> list[str]:
    return [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]


def autograde_note(note: str, seconds: int) -> str:
    from grading import autograde

    return getattr(autograde, note).format(seconds)


def test_a_cell_at_its_time_limit_is_interrupted_and_the_next_cells_run(tmp_path):
    nb = student_pass(["import time\ntime.sleep(600)", f"open({str(tmp_path / 'next')!r}, 'w').close()"], 2, 60)
    assert any(error.startswith("CellTimeoutError") for error in errors_of(nb.cells[0]))
    assert (tmp_path / "next").exists() and not errors_of(nb.cells[1])


def test_a_kernel_that_ignores_the_interrupt_runs_no_other_cell(tmp_path):
    """Else it would keep a core busy, and every later cell wait its whole time limit, up to the notebook's."""
    ignore = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    time.sleep(0.1)"
    # a notebook limit well past the cell's: waiting for the kernel would end there, with another note
    nb = student_pass([ignore, f"open({str(tmp_path / 'next')!r}, 'w').close()"], 2, 30)
    assert any(error.startswith("CellTimeoutError") for error in errors_of(nb.cells[0]))
    assert not (tmp_path / "next").exists()
    assert errors_of(nb.cells[1]) == [f"NotRun: {autograde_note('IGNORED_INTERRUPT_NOTE', 1)}"]


def test_cells_past_the_notebooks_time_limit_are_not_run(tmp_path):
    nb = student_pass(["import time\ntime.sleep(1.5)"] * 3 + [f"open({str(tmp_path / 'last')!r}, 'w').close()"], 2, 4)
    assert not (tmp_path / "last").exists()
    not_run = [error for cell in nb.cells for error in errors_of(cell) if error.startswith("NotRun")]
    assert not_run == [f"NotRun: {autograde_note('NOTEBOOK_TIMEOUT_NOTE', 4)}"]
