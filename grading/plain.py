"""Plain data between a student's kernel and the judge: a strict JSON format, and the kernel's side of it.

Values the format holds: None, bool, int, float (nan and infinities included), str, list, tuple, dict with
str keys, numpy scalars and arrays, pandas Index, RangeIndex, Series and DataFrame, all of dtype bool,
(unsigned) integer, float or str. :func:`encode` turns such a value into a JSON tree and refuses anything
else (:class:`Unsupported`); :func:`decode` rebuilds the value from a tree and refuses anything :func:`encode`
would not have made (:class:`Malformed`); :func:`loads` reads JSON text under size caps. Exact types only:
a subclass (say a float that says it equals everything) is not one of these values.

This file is also the code the grader runs in a student's kernel: the export of a test cell's answers
(:func:`export`) and, for answers that are functions, a frozen copy of the kernel that calls them
(:func:`serve_calls`). It therefore imports only the standard library, numpy and pandas, and only inside
functions. Nothing the kernel sends is trusted: the judge decodes it with :func:`loads`.
"""

import json
import math

MIME = "application/x.random-effects-course.answers"  # the one output of an export the grader reads
MAX_CHARS = 16 * 2**20  # of one export or one reply, as JSON text
MAX_ITEMS = 500_000  # values in one export or one reply, all arrays together
MAX_STR_CHARS = 4 * 2**20  # characters of all its str values together (so that the JSON text stays in MAX_CHARS)
MAX_DEPTH = 16  # nesting of containers
MAX_TEXT = 200  # characters kept of a type name or an exception's message
NUMBER_DTYPES = (
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
)
NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
LABEL_TYPES = (type(None), bool, int, float, str)  # of a Series', an Index's or a column's name
TAGS = {  # the fields of each kind of tagged tree
    "float": {"v"},
    "tuple": {"items"},
    "dict": {"keys", "values"},
    "scalar": {"dtype", "v"},
    "ndarray": {"dtype", "shape", "data"},
    "Index": {"dtype", "data", "name"},
    "RangeIndex": {"start", "stop", "step", "name"},
    "Series": {"dtype", "data", "index", "name"},
    "DataFrame": {"index", "columns", "dtypes", "data"},
    "function": set(),
    "unsupported": {"type"},
}
ERRORS = (
    "ArithmeticError",
    "AssertionError",
    "AttributeError",
    "FloatingPointError",
    "IndexError",
    "KeyError",
    "LookupError",
    "MemoryError",
    "NameError",
    "NotImplementedError",
    "OverflowError",
    "RecursionError",
    "RuntimeError",
    "TypeError",
    "ValueError",
    "ZeroDivisionError",
)  # come back as themselves


class Unsupported(TypeError):
    """A value outside the format."""


class Malformed(ValueError):
    """Text or a tree that :func:`encode` would not have made."""


class _Budget:
    """What one export or one reply has used of :data:`MAX_ITEMS` and :data:`MAX_STR_CHARS`."""

    def __init__(self):
        self.items = self.chars = 0

    def spend(self, items, error, chars=0):
        self.items, self.chars = self.items + items, self.chars + chars
        if self.items > MAX_ITEMS or self.chars > MAX_STR_CHARS:
            raise error("too large")


# ----------------------------------------------------------------------------- encoding


def encode(value, budget=None, depth=0):
    """The JSON tree of ``value``; :class:`Unsupported` if the format does not hold it."""
    import numpy as np
    import pandas as pd

    budget = budget or _Budget()
    kind = type(value)
    budget.spend(1, Unsupported, len(value) if kind is str else 0)
    if depth > MAX_DEPTH:
        raise Unsupported("nested too deeply")
    if value is None or kind in (bool, str):
        return value
    if kind is int:
        if abs(value) >= 2**63:
            raise Unsupported("an integer beyond 64 bits")
        return value
    if kind is float:
        return value if math.isfinite(value) else {"t": "float", "v": str(value)}
    if kind in (list, tuple):
        items = [encode(v, budget, depth + 1) for v in value]
        return items if kind is list else {"t": "tuple", "items": items}
    if kind is dict:
        if not all(type(k) is str for k in value):
            raise Unsupported("a dict with keys that are not str")
        return {"t": "dict", "keys": list(value), "values": [encode(v, budget, depth + 1) for v in value.values()]}
    if isinstance(value, np.generic) and kind is np.dtype(kind).type:
        dtype, data = _array(np.asarray(value).reshape(1), budget)
        return {"t": "scalar", "dtype": dtype, "v": data[0]}
    if kind is np.ndarray:
        dtype, data = _array(value, budget)
        return {"t": "ndarray", "dtype": dtype, "shape": list(value.shape), "data": data}
    if kind is pd.RangeIndex:
        return {
            "t": "RangeIndex",
            "start": value.start,
            "stop": value.stop,
            "step": value.step,
            "name": _label(value.name),
        }
    if kind is pd.Index:
        dtype, data = _array(value, budget)
        return {"t": "Index", "dtype": dtype, "data": data, "name": _label(value.name)}
    if kind is pd.Series:
        dtype, data = _array(value, budget)
        return {
            "t": "Series",
            "dtype": dtype,
            "data": data,
            "index": encode(value.index, budget, depth + 1),
            "name": _label(value.name),
        }
    if kind is pd.DataFrame:
        columns = [_array(value.iloc[:, i], budget) for i in range(value.shape[1])]
        return {
            "t": "DataFrame",
            "index": encode(value.index, budget, depth + 1),
            "columns": encode(value.columns, budget, depth + 1),
            "dtypes": [c[0] for c in columns],
            "data": [c[1] for c in columns],
        }
    raise Unsupported(kind.__name__)


def _label(name):
    if type(name) not in LABEL_TYPES or (type(name) is float and not math.isfinite(name)):
        raise Unsupported("a label that is not None, a bool, a number or a str")
    return name


def _array(values, budget):
    """(dtype name, flat list) of a numpy array or of a pandas Index's or Series' values."""
    import numpy as np
    import pandas as pd

    dtype = values.dtype
    budget.spend(int(np.prod(values.shape)), Unsupported)
    if isinstance(dtype, np.dtype) and dtype.name in NUMBER_DTYPES:
        flat = np.asarray(values).reshape(-1)
        data = flat.tolist()
        if dtype.kind == "f" and not np.isfinite(flat).all():
            data = [v if math.isfinite(v) else str(v) for v in data]
        return dtype.name, data
    if isinstance(dtype, np.dtype) and dtype.kind == "U" or pd.api.types.is_string_dtype(dtype):
        data = np.asarray(values, dtype=object).reshape(-1).tolist()
        if all(type(v) is str or v is None or (type(v) is float and math.isnan(v)) for v in data):
            budget.spend(0, Unsupported, sum(len(v) for v in data if type(v) is str))
            return "str", [v if type(v) is str else None for v in data]
    raise Unsupported(f"values of dtype {dtype}")


def export(user_ns, names, serve_path=None):
    """Display, as one output of type :data:`MIME`, the values that ``names`` have in ``user_ns``. A function
    is sent as a marker; if there is one and ``serve_path`` is given, a frozen copy of this process answers
    calls to it there (:func:`serve_calls`)."""
    budget, answers, functions = _Budget(), {}, False
    for name in names:
        if name not in user_ns:
            continue
        value = user_ns[name]
        if callable(value) and not isinstance(value, type):
            answers[name], functions = {"t": "function"}, True
            continue
        try:
            answers[name] = encode(value, budget)
        except (Unsupported, RecursionError):
            answers[name] = {"t": "unsupported", "type": _text(type(value).__name__)}
    if functions and serve_path:
        _fork(user_ns, serve_path)
    from IPython.display import publish_display_data

    publish_display_data({MIME: json.dumps({"answers": answers}, allow_nan=False, separators=(",", ":"))})


def _text(text):
    return "".join(c for c in str(text)[:MAX_TEXT] if c.isprintable())


# ----------------------------------------------------------------------------- decoding


def loads(text, cap=MAX_CHARS):
    """The value of JSON ``text`` written from :func:`encode`'s tree; :class:`Malformed` for anything else."""
    if type(text) is not str or len(text) > cap:
        raise Malformed("not text, or too long")
    try:
        tree = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as e:
        raise Malformed(f"not JSON: {e}") from None
    return tree


def _no_constant(name):
    raise Malformed(f"{name} is not JSON")


def decode(tree, budget=None, depth=0):
    """The value of a tree made by :func:`encode`; :class:`Malformed` for any other tree."""
    budget = budget or _Budget()
    budget.spend(1, Malformed)
    if depth > MAX_DEPTH:
        raise Malformed("nested too deeply")
    kind = type(tree)
    if tree is None or kind in (bool, str):
        return tree
    if kind is float:
        if not math.isfinite(tree):
            raise Malformed("a non-finite float without its tag")
        return tree
    if kind is int:
        if abs(tree) >= 2**64:
            raise Malformed("an integer beyond 64 bits")
        return tree
    if kind is list:
        return [decode(v, budget, depth + 1) for v in tree]
    if kind is not dict or tree.get("t") not in TAGS or set(tree) != TAGS[tree["t"]] | {"t"}:
        raise Malformed("an object that is not a tagged value")
    return _DECODERS[tree["t"]](tree, budget, depth)


def _decode_float(tree, budget, depth):
    if tree["v"] not in NON_FINITE:
        raise Malformed("a float tag that is not nan or an infinity")
    return NON_FINITE[tree["v"]]


def _decode_tuple(tree, budget, depth):
    return tuple(decode(v, budget, depth + 1) for v in _list(tree["items"]))


def _decode_dict(tree, budget, depth):
    keys, values = _list(tree["keys"]), _list(tree["values"])
    if len(keys) != len(values) or not all(type(k) is str for k in keys) or len(set(keys)) != len(keys):
        raise Malformed("dict keys that are not distinct str, one per value")
    return {k: decode(v, budget, depth + 1) for k, v in zip(keys, values)}


def _decode_scalar(tree, budget, depth):
    return _numpy(tree["dtype"], [tree["v"]], budget)[0]


def _decode_ndarray(tree, budget, depth):
    shape = _list(tree["shape"])
    if not all(type(n) is int and 0 <= n for n in shape) or len(shape) > 32:
        raise Malformed("a shape that is not a list of sizes")
    data = _list(tree["data"])
    if math.prod(shape) != len(data):
        raise Malformed("a shape that does not match the data")
    return _numpy(tree["dtype"], data, budget).reshape(shape)


def _decode_index(tree, budget, depth):
    import pandas as pd

    return pd.Index(_pandas_values(tree["dtype"], _list(tree["data"]), budget), name=_name(tree["name"]))


def _decode_range_index(tree, budget, depth):
    import pandas as pd

    bounds = [tree[k] for k in ("start", "stop", "step")]
    if not all(type(b) is int and abs(b) < 2**63 for b in bounds) or bounds[2] == 0:
        raise Malformed("a RangeIndex that is not three integers")
    index = pd.RangeIndex(*bounds, name=_name(tree["name"]))
    budget.spend(len(index), Malformed)
    return index


def _decode_series(tree, budget, depth):
    import pandas as pd

    index = _any_index(tree["index"], budget, depth)
    values = _pandas_values(tree["dtype"], _list(tree["data"]), budget)
    if len(values) != len(index):
        raise Malformed("a Series whose index and values differ in length")
    return pd.Series(values, index=index, name=_name(tree["name"]))


def _decode_frame(tree, budget, depth):
    import pandas as pd

    index, columns = _any_index(tree["index"], budget, depth), _any_index(tree["columns"], budget, depth)
    dtypes, data = _list(tree["dtypes"]), _list(tree["data"])
    if not len(dtypes) == len(data) == len(columns):
        raise Malformed("a DataFrame whose columns, dtypes and data differ in number")
    arrays = [_pandas_values(d, _list(v), budget) for d, v in zip(dtypes, data)]
    if any(len(a) != len(index) for a in arrays):
        raise Malformed("a DataFrame column whose length is not the index's")
    frame = pd.DataFrame({i: pd.Series(a, index=index) for i, a in enumerate(arrays)}, index=index)
    frame.columns = columns
    return frame


def _decode_marker(tree, budget, depth):
    raise Malformed(f"a {tree['t']} marker where a value belongs")


_DECODERS = {
    "float": _decode_float,
    "tuple": _decode_tuple,
    "dict": _decode_dict,
    "scalar": _decode_scalar,
    "ndarray": _decode_ndarray,
    "Index": _decode_index,
    "RangeIndex": _decode_range_index,
    "Series": _decode_series,
    "DataFrame": _decode_frame,
    "function": _decode_marker,
    "unsupported": _decode_marker,
}


def _list(value):
    if type(value) is not list:
        raise Malformed("a list was expected")
    return value


def _name(name):
    if type(name) not in LABEL_TYPES:
        raise Malformed("a label that is not None, a bool, a number or a str")
    return name


def _any_index(tree, budget, depth):
    if type(tree) is not dict or tree.get("t") not in ("Index", "RangeIndex"):
        raise Malformed("an index was expected")
    return decode(tree, budget, depth + 1)


def _numpy(dtype, data, budget):
    """A flat numpy array of ``dtype`` from ``data``, each element checked against the dtype."""
    import numpy as np

    budget.spend(len(data), Malformed)
    if dtype == "str":
        if not all(type(v) is str for v in data):
            raise Malformed("str data that is not all str")
        return np.array(data, dtype=str) if data else np.array([], dtype=str)
    if dtype not in NUMBER_DTYPES:
        raise Malformed(f"dtype {dtype!r} is not one the format holds")
    kind = np.dtype(dtype).kind
    if kind == "b":
        ok = all(type(v) is bool for v in data)
    elif kind in "iu":
        ok = all(type(v) is int for v in data)
    else:
        data = [NON_FINITE.get(v, v) if type(v) is str else v for v in data]
        ok = all(type(v) in (int, float) for v in data)
    if not ok:
        raise Malformed(f"data that is not all of dtype {dtype}")
    try:
        return np.array(data, dtype=dtype)
    except (OverflowError, ValueError):
        raise Malformed(f"data out of the range of dtype {dtype}") from None


def _pandas_values(dtype, data, budget):
    """Values for a pandas Index, Series or column: numbers as numpy arrays; str (None: missing) as a list."""
    if dtype == "str":
        budget.spend(len(data), Malformed)
        if not all(type(v) is str or v is None for v in data):
            raise Malformed("str data that is not all str or missing")
        return list(data)
    return _numpy(dtype, data, budget)


# ----------------------------------------------------------------------------- calls to a student's function


def _fork(user_ns, path):
    """Leave a frozen copy of this process behind that answers calls at ``path``; return at once.

    The copy is a grandchild, whose parent ends at once: this process (the kernel) then has no child of
    it to wait for, whereas ipykernel's shutdown waits seconds for every child, zombies included. The
    orphan goes to the first process of the sandbox (or of the unsandboxed kernel), which ends it with the
    kernel.
    """
    import os
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "fork() of a multi-threaded process": the children run no thread
        try:
            middle = os.fork()
        except OSError:
            return  # out of processes: the judge finds no copy, and calls to the function fail
        if middle == 0:
            try:
                me = os.getpid()
                if os.fork() == 0:
                    serve_calls(user_ns, path, orphan_of=me)
            except OSError:
                pass
            finally:
                os._exit(0)
    try:
        os.waitpid(middle, 0)
    except ChildProcessError:  # the student's code reaps children itself (SIGCHLD ignored)
        pass


def serve_calls(user_ns, path, poll_seconds=1.0, orphan_of=None):
    """Answer the judge's calls, one connection at ``path``, until it hangs up or this process's parent ends
    (the parent it has once process ``orphan_of``, its parent at the start, has ended).

    Each request is a frame (see :func:`send_frame`) holding ``{"name", "args", "kwargs", "seconds"}``; the
    reply holds ``{"value": tree}`` or ``{"error": {"type", "message"}}``. A call that runs past its seconds
    ends this process (SIGALRM).
    """
    import os
    import signal
    import socket
    import sys
    import time

    while os.getppid() == orphan_of:
        time.sleep(0.001)
    parent = os.getppid()
    quiet = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # the kernel's output channels belong to the kernel, not to this copy
        os.dup2(quiet, fd)
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (lives as long as this process)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    listener.settimeout(poll_seconds)
    while True:
        try:
            connection, _ = listener.accept()
            break
        except socket.timeout:
            if os.getppid() != parent:
                return
    connection.settimeout(None)
    with connection:
        while True:
            request = receive_frame(connection)
            if request is None:
                return
            send_frame(connection, _call(user_ns, request))


def _call(user_ns, request):
    import signal

    try:
        function = user_ns[request["name"]]
        args = decode(request["args"])
        kwargs = decode(request["kwargs"])
        signal.alarm(max(1, int(request["seconds"])))
        try:
            result = function(*args, **kwargs)
        finally:
            signal.alarm(0)
    except BaseException as error:  # noqa: BLE001 (every failure of the student's function goes back)
        return {"error": {"type": _builtin_error(error), "message": _message(error)}}
    try:
        return {"value": encode(result)}
    except (Unsupported, RecursionError):
        return {"value": {"t": "unsupported", "type": _text(type(result).__name__)}}


def _message(error):
    try:
        return _text(error)
    except BaseException:  # noqa: BLE001 (a student's exception whose str() fails)
        return ""


def _builtin_error(error):
    """The name of the first class of :data:`ERRORS` that ``error`` is an instance of, else "Exception"."""
    for kind in type(error).__mro__:
        if kind.__module__ == "builtins" and kind.__name__ in ERRORS:
            return kind.__name__
    return "Exception"


def send_frame(connection, message):
    """Send ``message`` as JSON text preceded by its length (8 bytes, big-endian)."""
    body = json.dumps(message, allow_nan=False, separators=(",", ":")).encode()
    connection.sendall(len(body).to_bytes(8, "big") + body)


def receive_frame(connection, cap=MAX_CHARS):
    """The JSON value of the next frame (not decoded: see :func:`decode`), None at the end of the stream;
    :class:`Malformed` if the frame is too long or not JSON."""
    head = _receive(connection, 8)
    if head is None:
        return None
    size = int.from_bytes(head, "big")
    if size > cap:
        raise Malformed("a frame beyond the size cap")
    body = _receive(connection, size)
    if body is None:
        raise Malformed("a frame cut short")
    try:
        return loads(body.decode(), cap)
    except UnicodeDecodeError:
        raise Malformed("a frame that is not UTF-8") from None


def _receive(connection, size):
    chunks, left = [], size
    while left:
        chunk = connection.recv(min(left, 2**20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
