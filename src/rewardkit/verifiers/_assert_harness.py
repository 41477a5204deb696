"""The assert-test harness: run inside a sandbox as the main script, never imported by rewardkit.

Its source text plus one call line, ``_rewardkit_harness(<program text>)``, is the program the
``code`` verifier hands to a :class:`~rewardkit.verifiers.CodeSandbox` for an assert test. It
uses only the standard library. Two processes:

* the **judge** (this script's process) never runs a line of the program. It reads from stdin,
  behind a private descriptor, the modules the test imports (imported *before* the program
  starts, so files the program writes cannot replace them), then the test's source, which the
  program never sees, and the run's nonce, which it prints once the test has passed;
* the **program** process is forked from the judge before the test is read, and waits until
  the judge has read all of stdin (another process of the sandbox, such as bwrap's init, may
  hold the pipe where the program could reopen it). It then runs the candidate as module
  ``solution`` and serves requests: look up a name, get an attribute, call, apply an operator.

The test runs in the judge with the judge's own, untouched builtins and modules; a name the test
does not define and that is not a builtin is looked up in the program (builtins win over the
program's names). Values cross the pipe as JSON of *plain* values only (None, bool, int, float,
complex, str, bytes, bytearray, range, and tuple/list/dict/set/frozenset of these); subclasses
of those types are read through the built-in type's own methods (a namedtuple crosses as its
tuple, a ``Counter`` as its dict, an ``IntEnum`` as its int); anything else stays in the
program's process and the judge holds a proxy to it. The judge decodes plain JSON and nothing
else, so no object of the program ever runs code in the judge. A proxy compared with anything
but another proxy of the program (or ``None``, an identity test) refuses: the assert fails with
``value of type X is not a plain built-in; refusing to compare``. Arguments the test passes to
the program's functions are copied the same way; a test-made callable (a lambda passed as a
key) stays in the judge and the program can only call it.
"""

from __future__ import annotations

import builtins as _builtins
import ctypes as _ctypes
import importlib as _importlib
import json as _json
import linecache as _linecache
import operator as _operator
import os as _os
import sys as _sys
import traceback as _traceback
import types as _types

_EXCEPTIONS = {
    e.__name__: e
    for e in (
        ArithmeticError,
        AssertionError,
        AttributeError,
        EOFError,
        ImportError,
        IndexError,
        KeyError,
        LookupError,
        MemoryError,
        NameError,
        NotImplementedError,
        OverflowError,
        RecursionError,
        RuntimeError,
        StopIteration,
        TypeError,
        UnicodeError,
        ValueError,
        ZeroDivisionError,
    )
}
# The arithmetic operators a proxy forwards (and their reflected forms), then the others.
_ARITHMETIC = [
    "add",
    "sub",
    "mul",
    "truediv",
    "floordiv",
    "mod",
    "pow",
    "matmul",
    "and_",
    "or_",
    "xor",
    "lshift",
    "rshift",
]
_BINARY = [
    *_ARITHMETIC,
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "getitem",
    "delitem",
    "contains",
]
_UNARY_ARITHMETIC = ["neg", "pos", "abs", "invert"]
_UNARY = [
    *_UNARY_ARITHMETIC,
    "index",
    "len",
    "not_",
    "truth",
    "iter",
    "next",
    "hash",
    "repr",
    "str",
    "int",
    "float",
]
_OPS = {name: getattr(_operator, name, None) for name in _BINARY + _UNARY}
_OPS.update(len=len, iter=iter, next=next, hash=hash, repr=repr, str=str, int=int, float=float)
_OPS["setitem"] = _operator.setitem
_MAX_DEPTH = 100
_BIG = 1 << 62


class ProgramError(Exception):
    """An exception of the program that is not a built-in one, or the program going away."""


def _refuse(kind, what="compare"):
    return AssertionError(f"value of type {kind} is not a plain built-in; refusing to {what}")


class _Endpoint:
    """One end of the pipe pair. Both processes use this class; ``own`` is the tag of the
    objects this side keeps (``"ref"``: the program's, ``"jref"``: the judge's)."""

    def __init__(self, rfd, wfd, own, serve_ops):
        self.rfd, self.wfd, self.own = rfd, wfd, own
        self.other = "jref" if own == "ref" else "ref"
        self.serve_ops = serve_ops
        self.objects = []
        self.buffer = bytearray()
        self.dumps = _json.JSONEncoder(ensure_ascii=True, allow_nan=True, separators=(",", ":"))
        self.loads = _json.JSONDecoder().decode

    # ---------------------------------------------------------------- wire

    def send(self, message):
        data = (self.dumps.encode(message) + "\n").encode("ascii")
        view = memoryview(data)
        while view:
            n = _os.write(self.wfd, view)
            view = view[n:]

    def recv(self):
        while True:
            end = self.buffer.find(b"\n")
            if end >= 0:
                line = bytes(self.buffer[:end])
                del self.buffer[: end + 1]
                message = self.loads(line.decode("ascii"))
                if type(message) is not list or not message or type(message[0]) is not str:
                    raise ProgramError("malformed message from the other process")
                return message
            chunk = _os.read(self.rfd, 1 << 16)
            if not chunk:
                raise ProgramError("the program exited before its tests finished")
            self.buffer += chunk

    # ---------------------------------------------------------------- values

    def encode(self, value, depth=0):
        t = type(value)
        if value is None or t is bool or t is str or t is float:
            return value
        if t is int:
            return value if -_BIG < value < _BIG else {"#": "int", "v": hex(value)}
        if t is _Proxy and value._end is self:
            return {"#": self.other, "v": value._id}
        if depth > _MAX_DEPTH:
            return self.handle(value)
        if issubclass(t, int):
            return self.encode(int.__index__(value))
        if issubclass(t, float):
            return float.__float__(value)
        if issubclass(t, str):
            return str.__str__(value)
        if issubclass(t, complex):
            c = complex.__complex__(value)
            return {"#": "complex", "v": [c.real, c.imag]}
        if issubclass(t, bytes):
            return {"#": "bytes", "v": bytes.hex(value)}
        if issubclass(t, bytearray):
            return {"#": "bytearray", "v": bytearray.hex(value)}
        if t is range:
            return {"#": "range", "v": [value.start, value.stop, value.step]}
        if issubclass(t, dict):
            pairs = [
                [self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in dict.items(value)
            ]
            return {"#": "dict", "v": pairs}
        for base, tag in ((list, None), (tuple, "tuple"), (set, "set"), (frozenset, "frozenset")):
            if issubclass(t, base):
                items = [self.encode(v, depth + 1) for v in base.__iter__(value)]
                return items if tag is None else {"#": tag, "v": items}
        return self.handle(value)

    def handle(self, value):
        self.objects.append(value)
        message = {"#": self.own, "v": len(self.objects) - 1}
        kind = type.__dict__["__name__"].__get__(type(value))
        message["t"] = kind
        if isinstance(value, _types.ModuleType):
            name = getattr(value, "__name__", None)
            message["m"] = name if type(name) is str else ""
        return message

    def decode(self, data):
        t = type(data)
        if data is None or t is bool or t is int or t is float or t is str:
            return data
        if t is list:
            return [self.decode(v) for v in data]
        if t is not dict or type(data.get("#")) is not str:
            raise ProgramError("malformed value from the other process")
        tag, v = data["#"], data.get("v")
        if tag == self.own:
            return self.objects[_index(v, len(self.objects))]
        if tag == self.other:
            kind = data.get("t")
            module = data.get("m")
            if type(module) is str and self.own == "jref":
                imported = _safe_module(module)
                if imported is not None:
                    return imported
            return _Proxy(self, _index(v, 1 << 62), kind if type(kind) is str else "object")
        if tag == "int" and type(v) is str:
            return int(v, 16)
        if tag in ("tuple", "set", "frozenset") and type(v) is list:
            items = [self.decode(x) for x in v]
            return {"tuple": tuple, "set": set, "frozenset": frozenset}[tag](items)
        if tag == "dict" and type(v) is list:
            out = {}
            for pair in v:
                if type(pair) is not list or len(pair) != 2:
                    raise ProgramError("malformed dict from the other process")
                out[self.decode(pair[0])] = self.decode(pair[1])
            return out
        if tag in ("bytes", "bytearray") and type(v) is str:
            return (bytes if tag == "bytes" else bytearray).fromhex(v)
        if tag == "complex" and type(v) is list and [type(x) for x in v] == [float, float]:
            return complex(v[0], v[1])
        if tag == "range" and type(v) is list and [type(x) for x in v] == [int, int, int]:
            return range(v[0], v[1], v[2])
        raise ProgramError(f"malformed value from the other process (tag {tag!r})")

    # ---------------------------------------------------------------- calls

    def request(self, *message):
        self.send(list(message))
        while True:
            reply = self.recv()
            if reply[0] == "ok" and len(reply) == 2:
                return self.decode(reply[1])
            if reply[0] == "err" and len(reply) == 4:
                name, kind, text = reply[1], reply[2], reply[3]
                if not (type(name) is type(kind) is type(text) is str):
                    raise ProgramError("malformed error from the other process")
                cls = _EXCEPTIONS.get(name)
                if cls is StopIteration and message[0::2][:2] != ("op", "next"):
                    # Only the answer to next(); from a call it would silently end the test's
                    # map()/filter() (all(map(f, xs)) true), as PEP 479 does for generators.
                    raise RuntimeError(f"the program raised {kind} outside next()")
                if cls is None:
                    raise ProgramError(f"{kind}: {text}" if text else kind)
                raise cls(text) if text else cls()
            self.serve(reply)

    def serve(self, message):
        try:
            value = self.perform(message)
            reply = ["ok", self.encode(value)]
        except BaseException as exc:  # the other side decides what an error means
            reply = self.error(exc)
        self.send(reply)

    def error(self, exc):
        cls = type(exc)
        for base in cls.__mro__:
            if base.__name__ in _EXCEPTIONS and _EXCEPTIONS[base.__name__] is base:
                name = base.__name__
                break
        else:
            name = ""
        kind = type.__dict__["__name__"].__get__(cls)
        if isinstance(exc, SystemExit):
            return ["err", "", kind, f"{exc.code!r} raised by the program during the test"]
        try:
            text = repr(exc.args[0]) if name == "KeyError" and exc.args else str(exc)
        except BaseException:
            text = ""
        if type(text) is not str:
            text = ""
        return ["err", name, kind, text]

    def perform(self, message):
        kind = message[0]
        if kind not in self.serve_ops:
            raise TypeError(f"{kind!r} is not served here")
        if kind == "get":
            return self.lookup(message[1])
        target = self.decode(message[1])
        if kind == "call":
            args = self.decode(message[2])
            kwargs = self.decode(message[3])
            return target(*args, **kwargs)
        if kind == "attr":
            return getattr(target, message[2])
        if kind == "op":
            name, args = message[2], self.decode(message[3])
            if name.startswith("r") and name[1:] in _OPS:  # reflected: other <op> target
                return _OPS[name[1:]](args[0], target)
            return _OPS[name](target, *args)
        raise TypeError(f"unknown request {kind!r}")

    def lookup(self, name):  # replaced in the program's process
        raise NameError(name)


def _index(v, size):
    if type(v) is not int or not 0 <= v < size:
        raise ProgramError("malformed handle from the other process")
    return v


def _describe(exc):
    try:
        text = str(exc)
    except BaseException:
        text = ""
    kind = type.__dict__["__name__"].__get__(type(exc))
    return f"{kind}: {text}" if text else kind


def _safe_module(name):
    """A module the judge may import itself in place of the program's: the standard library
    (found on the judge's own path, before the program could write files) or already loaded."""
    if not name or name == "solution":
        return None
    if name in _sys.modules:
        return _sys.modules[name]
    if name.partition(".")[0] not in _sys.stdlib_module_names:
        return None
    try:
        return _importlib.import_module(name)
    except BaseException:
        return None


class _Proxy:
    """An object living in the other process."""

    __slots__ = ("_end", "_id", "_type")

    def __init__(self, end, ident, kind):
        object.__setattr__(self, "_end", end)
        object.__setattr__(self, "_id", ident)
        object.__setattr__(self, "_type", kind)

    def _ref(self):
        return {"#": self._end.other, "v": self._id}

    def _op(self, name, *args):
        end = self._end
        return end.request("op", self._ref(), name, [end.encode(a) for a in args])

    def __getattr__(self, name):
        return self._end.request("attr", self._ref(), name)

    def __setattr__(self, name, value):
        raise AttributeError("cannot set attributes of the program's objects from a test")

    def __call__(self, *args, **kwargs):
        end = self._end
        encoded = [end.encode(a) for a in args]
        return end.request(
            "call",
            self._ref(),
            encoded,
            {"#": "dict", "v": [[k, end.encode(v)] for k, v in kwargs.items()]},
        )

    def _typed(self, name, kind, message):
        """The program's answer to the operator ``name``, which must be of exactly ``kind``."""
        value = self._op(name)
        if type(value) is not kind:
            raise TypeError(message)
        return value

    def _compare(self, other, name):
        if type(other) is _Proxy and other._end is self._end:
            return self._op(name, other)
        if other is None and name in ("eq", "ne"):
            return name == "ne"
        raise _refuse(self._type)

    def __eq__(self, other):
        return self._compare(other, "eq")

    def __ne__(self, other):
        return self._compare(other, "ne")

    def __lt__(self, other):
        return self._compare(other, "lt")

    def __le__(self, other):
        return self._compare(other, "le")

    def __gt__(self, other):
        return self._compare(other, "gt")

    def __ge__(self, other):
        return self._compare(other, "ge")

    def __hash__(self):
        return self._typed("hash", int, "hash of a program object is not an int")

    def __bool__(self):
        return self._typed("truth", bool, "truth value of a program object is not a bool")

    def __len__(self):
        value = self._op("len")
        if type(value) is not int or value < 0:
            raise TypeError("len() of a program object is not a non-negative int")
        return value

    def __iter__(self):
        return self._op("iter")

    def __next__(self):
        return self._op("next")

    def __contains__(self, item):
        # Iterated here and compared in the judge: the program never sees the item, so it
        # cannot answer "yes" to whatever the test looks for.
        return any(value is item or value == item for value in self)

    def __getitem__(self, key):
        return self._op("getitem", key)

    def __setitem__(self, key, value):
        self._op("setitem", key, value)

    def __delitem__(self, key):
        self._op("delitem", key)

    def __index__(self):
        return self._typed("index", int, "__index__ of a program object is not an int")

    def __int__(self):
        return self._typed("int", int, "int() of a program object is not an int")

    def __float__(self):
        return self._typed("float", float, "float() of a program object is not a float")

    def __repr__(self):
        try:
            value = self._op("repr")
        except Exception:
            value = None
        return value if type(value) is str else f"<{self._type} of the program>"

    def __str__(self):
        return self._typed("str", str, "str() of a program object is not a str")


def _arith(name):
    def forward(self, *args):
        # With a test's value the program would see it and pick the result (f(x) - y == 0 for
        # any y); only the program's own objects combine in the program.
        for a in args:
            if type(a) is not _Proxy or a._end is not self._end:
                raise _refuse(self._type, "compute with it")
        return self._op(name, *args)

    forward.__name__ = f"__{name.rstrip('_')}__"
    return forward


for _name in _ARITHMETIC:
    _dunder = _name.rstrip("_")
    setattr(_Proxy, f"__{_dunder}__", _arith(_name))
    setattr(_Proxy, f"__r{_dunder}__", _arith("r" + _name))
for _name in _UNARY_ARITHMETIC:
    setattr(_Proxy, f"__{_name}__", _arith(_name))
del _name, _dunder


class _TestGlobals(dict):
    """The test's namespace: its own names, then builtins, then the program's names."""

    def __missing__(self, name):
        if name in _builtins.__dict__ or name.startswith("__"):
            raise KeyError(name)
        try:
            value = self["__rewardkit_end__"].request("get", name)
        except NameError:
            raise KeyError(name) from None
        self[name] = value
        return value


class _SolutionModule(_types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self.__dict__["_end"].request("get", name)
        except NameError:
            raise AttributeError(f"module 'solution' has no attribute {name!r}") from None


def _read_line(fd):
    data = bytearray()
    while not data.endswith(b"\n"):
        chunk = _os.read(fd, 1)
        if not chunk:
            break
        data += chunk
    return bytes(data)


def _read_exact(fd, size):
    data = bytearray()
    while len(data) < size:
        chunk = _os.read(fd, min(1 << 16, size - len(data)))
        if not chunk:
            break
        data += chunk
    return bytes(data)


def _prctl(option, value):
    try:
        return _ctypes.CDLL(None).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):
        return -1


def _fail(message=None):
    for stream in (_sys.stdout, _sys.stderr):
        try:
            stream.flush()
        except BaseException:
            continue
    if message is not None:
        _os.write(2, message.encode("utf-8", "replace") + b"\n")
    _os._exit(1)


def _program_process(program, judge_pid, rfd, wfd):
    """The forked child: run the program, then serve the judge until it closes the pipe."""
    try:
        if _sys.platform.startswith("linux"):
            _prctl(1, 9)  # PR_SET_PDEATHSIG: SIGKILL when the judge goes
            if _os.getppid() != judge_pid:
                _os._exit(1)
        # Wait until the judge has read the test and the nonce: the stdin pipe may be open in
        # another process of the sandbox (bwrap's init), where the program could read it.
        if _os.read(rfd, 1) != b"g":
            _os._exit(1)
        end = _Endpoint(rfd, wfd, "ref", ("get", "call", "attr", "op"))
        module = _types.ModuleType("solution")
        module.__file__ = "solution.py"
        namespace = module.__dict__
        _sys.modules["solution"] = module
        _linecache.cache["solution.py"] = (len(program), None, program.splitlines(True), "x")

        def lookup(name):
            if type(name) is not str or name not in namespace:
                raise NameError(name)
            return namespace[name]

        end.lookup = lookup
        send, recv, serve, exit_ = end.send, end.recv, end.serve, _os._exit
        code = compile(program, "solution.py", "exec", dont_inherit=True, optimize=0)
        try:
            exec(code, namespace)
        except SystemExit:
            pass  # ends the program's top level; what it defined so far is tested
        except BaseException as exc:
            _traceback.print_exc()
            send(["load_error", _describe(exc)])
            exit_(1)
        _sys.settrace(None)
        _sys.setprofile(None)
        send(["ready"])
        while True:
            try:
                message = recv()
            except BaseException:
                exit_(0)
            serve(message)
    finally:
        _os._exit(1)


def _rewardkit_harness(program):
    exit_, write = _os._exit, _os.write
    no_input = b"rewardkit harness: no test on stdin (the sandbox must pass request.stdin)\n"
    # The test and the nonce stay in the stdin pipe, behind a private descriptor, until needed.
    try:
        secret = _os.dup(0)
        null = _os.open(_os.devnull, _os.O_RDONLY)
        _os.dup2(null, 0)
        _os.close(null)
    except OSError:
        write(2, no_input)
        exit_(2)
    try:
        imports = _json.loads(_read_line(secret).decode("utf-8"))
        size = int(_read_line(secret))
    except (ValueError, UnicodeDecodeError):
        write(2, no_input)
        exit_(2)
    for name in imports if type(imports) is list else []:
        if type(name) is str:
            try:
                _importlib.import_module(name)
            except BaseException:  # the test's own import raises it again
                continue
    if _sys.platform.startswith("linux"):
        _prctl(4, 0)  # PR_SET_DUMPABLE 0: no ptrace or /proc/<pid>/{mem,fd} without privilege
    to_program, from_judge = _os.pipe()
    to_judge, from_program = _os.pipe()
    judge_pid = _os.getpid()
    _sys.stdout.flush()
    _sys.stderr.flush()
    child = _os.fork()
    if child == 0:
        _os.close(secret)
        _os.close(from_judge)
        _os.close(to_judge)
        _program_process(program, judge_pid, to_program, from_program)
    _os.close(to_program)
    _os.close(from_program)
    end = _Endpoint(to_judge, from_judge, "jref", ("call",))
    test = _read_exact(secret, size).decode("utf-8", "surrogateescape")
    nonce = _read_line(secret).strip()
    _os.close(secret)
    if not nonce:
        write(2, no_input)
        _os.kill(child, 9)
        exit_(2)
    _os.write(from_judge, b"g")  # the program may start: nothing is left in the stdin pipe
    _linecache.cache["test.py"] = (len(test), None, test.splitlines(True), "test.py")
    try:
        code = compile(test, "test.py", "exec", dont_inherit=True, optimize=0)
        hello = end.recv()
        if hello[0] == "load_error":
            _fail(str(hello[1]) if len(hello) > 1 else "the program raised at its top level")
        if hello != ["ready"]:
            raise ProgramError("the program did not start properly")
        solution = _SolutionModule("solution")
        solution.__dict__["_end"] = end
        _sys.modules["solution"] = solution
        namespace = _TestGlobals(__builtins__=_builtins, __name__="__test__")
        namespace["__rewardkit_end__"] = end
        exec(code, namespace)
    except SystemExit as exc:
        _fail(f"SystemExit({exc.code!r}) raised by the test")
    except BaseException:
        _traceback.print_exc()
        _fail()
    try:
        _os.kill(child, 9)
        _os.waitpid(child, 0)
    except OSError:
        pass
    _sys.stdout.flush()
    _sys.stderr.flush()
    write(1, b"\n" + nonce + b"\n")
    exit_(0)
