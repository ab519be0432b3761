"""Runs one learner program inside the sandbox and reports what happened as JSON lines.

This file is executed as a script (``python -I -u harness.py``, configuration on stdin) in the sandbox process, so it
imports only the standard library at start-up. Keras is patched lazily, the moment the learner's
program imports it: a program that never imports TensorFlow does not pay for it.

What it observes, without changing what the program does:
- every ``Model.fit``: requested epochs, each finished epoch with its metrics, whether it completed;
- every ``load_model``: the path, and whether it returned a model or raised;
- ``keras.datasets.mnist.load_data``: served from the provisioned file (real or offline stand-in);
- an uncaught exception: type, message, the line in the learner's file, the traceback without our
  frames, and for a ``NameError`` the missing name and the names that existed at module level;
- a ``NameError`` the learner's own ``except`` caught: the line that raised it, the ``except``'s line, the
  missing name (a NameError hidden is not a NameError fixed);
- at the end: what ``model`` is at module level;
- matplotlib figures the program shows, saves or leaves open, as PNG (``FigureCollector``).

Events go to a dedicated pipe (never stdout), each stamped with a per-run token the runner chose, so a
program that prints or writes look-alike events cannot forge them casually.
"""

from __future__ import annotations

import ast
import base64
import builtins
import functools
import importlib
import importlib.abc
import importlib.util
import inspect
import io
import json
import os
import re
import resource
import shutil
import site  # (here, not when an error is reported: a program may hold every open file by then)
import sys
import sysconfig
import threading
import time
import traceback
import types
import weakref

HARNESS_FILE = os.path.abspath(__file__)


def load_sibling(name: str) -> types.ModuleType:
    """A module the sandbox binds next to this file (protocol.py: event names and the encoder, defined once
    for both sides; kernel_boot.py). Loaded by path: ``python -I`` puts no script folder on sys.path."""
    path = os.path.join(os.path.dirname(HARNESS_FILE), f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"tutor_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


protocol = load_sibling("protocol")
Event = protocol.EventType
Phase = protocol.Phase
Status = protocol.FinishStatus
BATCH_EVENT_INTERVAL_S = 0.25  # progress within an epoch; the UI polls about once a second
# Batches per call into TensorFlow while a fit runs here, where the learner's program cannot tell: Keras spends
# most of a small model's step in Python dispatch (the article's model: 12 s a fit at 1, 5 s at 32, same
# accuracy; ../shared/notes/training-speed.md). Same epochs, same steps, progress every 32 steps.
FAST_STEPS_PER_EXECUTION = 32
BATCH_HOOKS = ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end")


def make_sender(fd: int, token: str):
    """Return send(type, **fields); the token lives only in this closure."""
    lock = threading.Lock()
    started = time.monotonic()

    def send(event_type: str, /, **fields) -> None:
        try:
            data = protocol.encode_event(event_type, token, time.monotonic() - started, fields)
            with lock:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
        except (OSError, ValueError):
            # The channel is gone (the learner closed it) or a value would not encode: never let our
            # bookkeeping turn into an exception inside the learner's program. The runner notices
            # missing events.
            pass

    return send


class Observer:
    """Holds what the harness saw; the parts of Keras it patches report here."""

    def __init__(self, send, learner_file: str, dataset: dict) -> None:
        self.send = send
        self.learner_file = learner_file
        self.dataset = dataset
        self.fit_count = 0
        self.fitted = _IdentitySet()
        self.loaded = _IdentitySet()
        self.keras = None

    def learner_line(self) -> int | None:
        """Line of the innermost frame of the learner's file on the current stack."""
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_filename == self.learner_file:
                return frame.f_lineno
            frame = frame.f_back
        return None


class _IdentitySet:
    """Remembers objects by identity; weakly where the type allows it (Keras models do)."""

    def __init__(self) -> None:
        self._weak: weakref.WeakSet = weakref.WeakSet()
        self._strong: list = []

    def add(self, obj) -> None:
        try:
            self._weak.add(obj)
        except TypeError:
            self._strong.append(obj)

    def __contains__(self, obj) -> bool:
        try:
            return obj in self._weak
        except TypeError:
            return any(o is obj for o in self._strong)


# --- lazy patching ---------------------------------------------------------------------------


class ImportWatcher(importlib.abc.MetaPathFinder):
    """Calls before(name) and after(module) around the first import of each watched module."""

    def __init__(self, watched: dict) -> None:
        self._watched = dict(watched)

    def find_spec(self, fullname, path=None, target=None):
        # Not popped here: importlib.util.find_spec() asks without importing (TensorFlow does that).
        hooks = self._watched.get(fullname)
        if hooks is None:
            return None
        spec = None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        before, after = hooks
        original_exec = spec.loader.exec_module

        def exec_module(module):
            if self._watched.pop(fullname, None) is None:
                return original_exec(module)
            before(fullname)
            original_exec(module)
            after(module)

        spec.loader.exec_module = exec_module
        return spec


def replace_everywhere(module_prefix: str, original, replacement) -> None:
    """Rebind a function in every loaded module that exposes it (Keras re-exports API functions)."""
    for name, module in list(sys.modules.items()):
        if module is None or not (name == module_prefix or name.startswith(module_prefix + ".")):
            continue
        namespace = getattr(module, "__dict__", {})
        for attr, value in list(namespace.items()):
            if value is original:
                setattr(module, attr, replacement)


def patch_keras(observer: Observer, keras) -> None:
    observer.keras = keras
    patch_fit(observer, keras.Model)
    patch_load_model(observer)
    patch_mnist(observer)


def patch_fit(observer: Observer, model_class) -> None:
    original_fit = model_class.fit
    signature = inspect.signature(original_fit)
    callback_base = sys.modules["keras"].callbacks.Callback

    class ProgressCallback(callback_base):
        def __init__(self, fit_index: int) -> None:
            super().__init__()
            self.fit_index = fit_index
            self.epochs_done = 0
            self.epoch = 0
            self.last_batch_event = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
            steps = (self.params or {}).get("steps")
            observer.send(Event.EPOCH_BEGIN, fit=self.fit_index, epoch=epoch, steps=steps)

        def on_train_batch_end(self, batch, logs=None):
            now = time.monotonic()
            if now - self.last_batch_event >= BATCH_EVENT_INTERVAL_S:
                self.last_batch_event = now
                steps = (self.params or {}).get("steps")
                observer.send(Event.BATCH, fit=self.fit_index, epoch=self.epoch, step=batch + 1, steps=steps)

        def on_epoch_end(self, epoch, logs=None):
            self.epochs_done += 1
            observer.send(Event.EPOCH_END, fit=self.fit_index, epoch=epoch, metrics=to_metrics(logs))

    @functools.wraps(original_fit)
    def fit(self, *args, **kwargs):
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError:
            return original_fit(self, *args, **kwargs)  # let Keras word its own error
        bound.apply_defaults()
        observer.fit_count += 1
        index = observer.fit_count
        epochs = bound.arguments.get("epochs")
        initial_epoch = bound.arguments.get("initial_epoch") or 0
        callback = ProgressCallback(index)
        callbacks = bound.arguments.get("callbacks")
        if callbacks is None or isinstance(callbacks, (list, tuple)):
            bound.arguments["callbacks"] = [*(callbacks or []), callback]
        else:  # a CallbackList the learner built
            callbacks.append(callback)
        faster = runs_faster(self, callbacks)
        observer.send(
            Event.FIT_BEGIN,
            fit=index,
            epochs=_plain_number(epochs),
            initial_epoch=_plain_number(initial_epoch),
            line=observer.learner_line(),
            model_type=type(self).__name__,
        )
        if faster:
            set_steps_per_execution(self, FAST_STEPS_PER_EXECUTION)
        try:
            history = original_fit(*bound.args, **bound.kwargs)
        except BaseException as exc:
            observer.send(
                Event.FIT_END, fit=index, epochs_run=callback.epochs_done, completed=False, error=type(exc).__name__
            )
            raise
        finally:
            if faster:  # as the learner compiled it, for whatever the program does next
                set_steps_per_execution(self, 1)
        wanted = epochs - initial_epoch if isinstance(epochs, int) and isinstance(initial_epoch, int) else None
        completed = wanted is not None and callback.epochs_done == wanted
        if callback.epochs_done > 0:
            observer.fitted.add(self)
        observer.send(Event.FIT_END, fit=index, epochs_run=callback.epochs_done, completed=completed, error=None)
        return history

    model_class.fit = fit


def runs_faster(model, callbacks) -> bool:
    """Whether this fit may run several batches per call into TensorFlow without the program telling the
    difference: compiled with the default one step (a learner's own steps_per_execution is theirs), and none
    of its callbacks hooks batches (those would be called once per 32 batches)."""
    if not getattr(model, "compiled", False) or getattr(model, "steps_per_execution", None) != 1:
        return False
    if getattr(model, "run_eagerly", False):
        return False
    base = sys.modules["keras"].callbacks.Callback
    listed = callbacks if isinstance(callbacks, (list, tuple)) else getattr(callbacks, "callbacks", None)
    if listed is None and callbacks is not None:
        return False  # something we cannot look into
    hooked = (getattr(type(cb), hook, None) is not getattr(base, hook) for cb in listed or () for hook in BATCH_HOOKS)
    return not any(hooked)


def set_steps_per_execution(model, steps: int) -> None:
    """Batches per call into TensorFlow; the compiled functions are made again for it on the next call."""
    model.steps_per_execution = steps
    model.train_function = model.test_function = model.predict_function = None


def patch_load_model(observer: Observer) -> None:
    saving_api = importlib.import_module("keras.src.saving.saving_api")
    original = saving_api.load_model

    @functools.wraps(original)
    def load_model(filepath, *args, **kwargs):
        line = observer.learner_line()
        try:
            result = original(filepath, *args, **kwargs)
        except BaseException as exc:
            observer.send(
                Event.LOAD_MODEL, path=str(filepath), ok=False, line=line, error_type=type(exc).__name__, error=str(exc)
            )
            raise
        observer.loaded.add(result)
        observer.send(Event.LOAD_MODEL, path=str(filepath), ok=True, line=line, model_type=type(result).__name__)
        return result

    saving_api.load_model = load_model
    replace_everywhere("keras", original, load_model)


def patch_mnist(observer: Observer) -> None:
    """Serve mnist.npz from the provisioned file; Keras' own load_data code runs unchanged."""
    mnist = importlib.import_module("keras.src.datasets.mnist")
    original_get_file = mnist.get_file
    dataset = observer.dataset

    def get_file(fname=None, origin=None, *args, **kwargs):
        if fname != "mnist.npz":
            return original_get_file(fname, origin, *args, **kwargs)
        observer.send(Event.PHASE, phase=Phase.LOADING_DATA)
        observer.send(Event.DATASET, kind=dataset.get("kind"), description=dataset.get("description"))
        if dataset.get("kind") == "real":
            # The real file sits in $KERAS_HOME/datasets: Keras verifies its hash and uses it as is.
            return original_get_file(fname, origin, *args, **kwargs)
        return dataset["path"]

    mnist.get_file = get_file


def _plain_number(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else repr(value)


def to_metrics(logs) -> dict:
    metrics = {}
    for key, value in (logs or {}).items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if number == number and abs(number) != float("inf"):  # JSON has no NaN
            metrics[str(key)] = number
        else:
            metrics[str(key)] = None
    return metrics


# --- matplotlib figures ------------------------------------------------------------------------------


class FigureCollector:
    """Figures come back as PNG within the protocol's caps. ``plt.show()`` renders what is open and closes it,
    as closing the windows on a desktop would (a loop of shows never piles figures up); ``savefig`` notes its
    figure, rendered at the end as it is then; what is still open at the end is rendered then too. Past
    MAX_FIGURES a figure is only counted, never rendered: a thousand figures cost no time."""

    def __init__(self, send) -> None:
        self.send = send
        self.made = 0
        self.pending: dict[int, tuple] = {}  # index -> (figure, how): to render at the end
        self.sent_bytes = 0
        self.savefig = None  # Figure.savefig as matplotlib has it: renders without being noted

    def note(self, figure, how: str, now: bool = False) -> None:
        index = getattr(figure, "_tutor_index", None)
        if index is None:
            self.made += 1
            index = figure._tutor_index = self.made
        if index > protocol.MAX_FIGURES or getattr(figure, "_tutor_sent", False):
            return
        if now:
            self.pending.pop(index, None)
            self.send_figure(figure, index, how)
        else:
            self.pending.setdefault(index, (figure, how))

    def open_figures(self) -> list:
        helpers = sys.modules.get("matplotlib._pylab_helpers")
        return [manager.canvas.figure for manager in helpers.Gcf.get_all_fig_managers()] if helpers else []

    def finish(self) -> int:
        """Render what is saved or open; returns how many figures the program made."""
        for figure in self.open_figures():
            self.note(figure, "open")
        for index, (figure, how) in sorted(self.pending.items(), key=lambda item: item[0]):
            self.send_figure(figure, index, how)
        return self.made

    def send_figure(self, figure, index: int, how: str) -> None:
        figure._tutor_sent = True
        try:
            png = self.render(figure)
        except Exception:  # noqa: BLE001 - a figure that cannot be drawn is not shown; the program is not ours
            return
        if png is not None and self.sent_bytes + len(png) <= protocol.MAX_FIGURES_BYTES:
            self.sent_bytes += len(png)
            self.send(Event.FIGURE, index=index, how=how, png=base64.b64encode(png).decode("ascii"))

    def render(self, figure) -> bytes | None:
        """PNG at the figure's dpi, lowered until it is at most MAX_FIGURE_SIDE pixels a side and
        MAX_FIGURE_BYTES (a noisy image compresses badly); None if it will not fit."""
        side = max(*figure.get_size_inches(), 0.01)
        dpi = min(float(figure.dpi), protocol.MAX_FIGURE_SIDE / side)
        for _ in range(6):
            buffer = io.BytesIO()
            self.savefig(figure, buffer, format="png", dpi=dpi)
            data = buffer.getvalue()
            width, height = protocol.png_size(data)
            if max(width, height) > protocol.MAX_FIGURE_SIDE:  # rcParams["savefig.bbox"] = "tight" can grow it
                dpi *= protocol.MAX_FIGURE_SIDE / max(width, height) * 0.98
            elif len(data) > protocol.MAX_FIGURE_BYTES:
                dpi *= max(0.25, (protocol.MAX_FIGURE_BYTES / len(data)) ** 0.5 * 0.9)
            else:
                return data if min(width, height) >= 1 else None
        return None


def seed_font_cache(cache: dict | None) -> None:
    """Write the runner's font list (tutor/sandbox/fonts.py) where matplotlib reads it, before its import."""
    folder = os.environ.get("MPLCONFIGDIR")
    if not cache or not folder:
        return
    try:
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, os.path.basename(cache["name"]))
        if not os.path.exists(path):
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(cache["text"])
    except (OSError, KeyError, TypeError):
        pass  # matplotlib then builds its own, as it always would


def patch_figure(collector: FigureCollector, figure_module) -> None:
    figure_class = figure_module.Figure
    original = collector.savefig = figure_class.savefig

    @functools.wraps(original)
    def savefig(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        try:
            collector.note(self, "saved")
        except Exception:  # noqa: BLE001 - our bookkeeping never becomes the learner's exception
            pass
        return result

    figure_class.savefig = savefig


def patch_pyplot(collector: FigureCollector, pyplot) -> None:
    @functools.wraps(pyplot.show)
    def show(*args, **kwargs) -> None:
        for figure in collector.open_figures():
            collector.note(figure, "shown", now=True)
        pyplot.close("all")

    pyplot.show = show


# --- running the learner's program ---------------------------------------------------------------


def describe_names(namespace: dict, limit: int = 80) -> dict:
    """Names the learner's module defined, with a short kind, for "which names existed"."""
    names = {}
    for name, value in namespace.items():
        if name.startswith("__") or len(names) >= limit:
            continue
        if isinstance(value, types.ModuleType):
            kind = "module"
        elif isinstance(value, types.FunctionType):
            kind = "function"
        elif isinstance(value, type):
            kind = "class"
        else:
            kind = type(value).__name__
        names[name] = kind
    return names


def strip_harness_frames(te: traceback.TracebackException) -> None:
    seen = set()
    while te is not None and id(te) not in seen:
        seen.add(id(te))
        te.stack = traceback.StackSummary.from_list([f for f in te.stack if f.filename != HARNESS_FILE])
        if te.__cause__ is not None:
            strip_harness_frames(te.__cause__)
        te = te.__context__


def describe_exception(exc: BaseException, learner_file: str, namespace: dict, modules: tuple[str, ...] = ()) -> dict:
    """``modules``: a project's other modules (paths): the innermost line of any of the learner's files is the
    error's line, with ``file`` naming the module when it is not the program."""
    tb = exc.__traceback__
    line = None
    function = None
    frame_kind = None
    in_file = learner_file
    files = {learner_file, *modules}
    while tb is not None:
        if tb.tb_frame.f_code.co_filename in files:
            line = tb.tb_lineno
            function = tb.tb_frame.f_code.co_name
            in_file = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    if isinstance(exc, SyntaxError) and exc.filename in files:
        line, in_file = exc.lineno, exc.filename
    te = traceback.TracebackException.from_exception(exc, capture_locals=False)
    strip_harness_frames(te)
    text = shorten_paths("".join(te.format()), learner_file)
    if function is not None:
        frame_kind = "module" if function == "<module>" else "function"
    kind = type(exc)
    qualified = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    info = {
        "type": kind.__name__,
        "qualified_type": qualified,
        "message": _safe_str(exc),
        "line": line,
        "function": None if frame_kind == "module" else function,
        "traceback": text[-20000:],
        "is_name_error": isinstance(exc, NameError),
        "name": missing_name(exc),
        "module_names": describe_names(namespace),
    }
    if in_file != learner_file:
        info["file"] = os.path.basename(in_file)
    context = exc.__context__ or exc.__cause__
    if context is not None:
        info["context"] = {"type": type(context).__name__, "message": _safe_str(context)}
    return info


def shorten_paths(text: str, learner_file: str) -> str:
    """main.py instead of /home/learner/main.py; keras/src/... instead of the venv's full path."""
    prefixes = [os.path.dirname(learner_file), *site.getsitepackages(), sysconfig.get_paths()["stdlib"]]
    for prefix in sorted(set(prefixes), key=len, reverse=True):
        text = text.replace(f'"{prefix}{os.sep}', '"')
    return text


def missing_name(exc: BaseException) -> str | None:
    """The name a NameError is about (UnboundLocalError carries it only in its message)."""
    if not isinstance(exc, NameError):
        return None
    name = getattr(exc, "name", None)
    if name is None:
        match = re.search(r"'([A-Za-z_][A-Za-z0-9_]*)'", _safe_str(exc))
        name = match.group(1) if match else None
    return name


def _safe_str(obj) -> str:
    try:
        return str(obj)[:4000]
    except Exception:  # a learner's exception class with a broken __str__
        return f"<{type(obj).__name__}>"


# --- NameErrors the learner's own ``except`` catches ---------------------------------------------------
# Every handler that could catch a NameError gets a first statement that reports what it caught. Done on
# the learner's syntax tree before compiling, not with sys.settrace: a program pays nothing where no such
# handler runs, and the line numbers stay the learner's.

CAUGHT_HOOK = "__tutor_caught_error__"  # bound in builtins; a learner's program has no reason to use this name
# The last part of a handler's type that can catch a NameError: `except NameError`, `except builtins.Exception`...
CATCHES_NAME_ERROR = frozenset({"NameError", "UnboundLocalError", "Exception", "BaseException"})
HANDLER_LOOKS = 100  # NameErrors one ``except`` may catch before the hook stops looking where they came from


def may_catch_name_error(handler: ast.ExceptHandler) -> bool:
    """A bare ``except:``, or one naming NameError or a base of it, alone or in a tuple. A type the source
    does not spell out (``except ERRORS:``) is not guessed at."""
    if handler.type is None:
        return True
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    for kind in kinds:
        name = kind.id if isinstance(kind, ast.Name) else kind.attr if isinstance(kind, ast.Attribute) else None
        if name in CATCHES_NAME_ERROR:
            return True
    return False


class CaughtReporter(ast.NodeTransformer):
    """Puts ``try: __tutor_caught_error__(<except line>) / except: pass`` first in each handler that may catch
    a NameError. Guarded, so that not even a failed call (e.g. a RecursionError when the handler runs at the
    recursion limit) turns into an exception of the learner's; every node sits on the ``except`` line."""

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> ast.ExceptHandler:
        self.generic_visit(node)
        if may_catch_name_error(node):
            call = ast.Call(ast.Name(CAUGHT_HOOK, ast.Load()), [ast.Constant(node.lineno)], [])
            guard = ast.Try(
                body=[ast.Expr(call)], handlers=[ast.ExceptHandler(None, None, [ast.Pass()])], orelse=[], finalbody=[]
            )
            for part in ast.walk(guard):
                part.lineno, part.end_lineno = node.lineno, node.lineno
                part.col_offset, part.end_col_offset = node.col_offset, node.col_offset + len("except")
            node.body.insert(0, guard)
        return node


MAX_INSTRUMENTED_BYTES = 300_000


def compile_learner_file(source: bytes, learner_file: str):
    """The learner's program, compiled with the caught-NameError reports. Whatever goes wrong on the way
    (a syntax error, a tree the compiler refuses) compiles the source exactly as it is instead: the
    learner's own error is reported as ever, and a program is never broken by our instrumentation."""
    if b"except" not in source or len(source) > MAX_INSTRUMENTED_BYTES:
        # nothing to mark; or a source far beyond any written by hand, whose syntax tree alone would cost
        # seconds and memory (a 5 MB program must still run as quickly as plain Python runs it)
        return compile(source, learner_file, "exec", dont_inherit=True)
    try:
        tree = CaughtReporter().visit(ast.parse(source, learner_file))
        return compile(tree, learner_file, "exec", dont_inherit=True)
    except Exception:  # noqa: BLE001 - any failure here falls back to the plain compile below
        return compile(source, learner_file, "exec", dont_inherit=True)


def find_name_error(exc: BaseException | None) -> NameError | None:
    """The NameError an ``except`` is handling: the exception itself, or the first one in an exception group
    (``except*``, or ``except Exception`` around a TaskGroup)."""
    if isinstance(exc, NameError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = find_name_error(inner)
            if found is not None:
                return found
    return None


def make_caught_hook(send, learner_file: str, limit: int = protocol.MAX_CAUGHT_REPORTS):
    """The function bound as ``CAUGHT_HOOK``: reports the NameError the calling ``except`` is handling, once
    per (raise line, except line) and at most ``limit`` of them. It never raises. A loop that catches a
    NameError a million times sends one event, and after ``HANDLER_LOOKS`` NameErrors in one ``except`` the
    hook no longer reads their tracebacks there (measured: a caught NameError took 0.41 µs, 0.63 µs with it)."""
    reported: set[tuple[int | None, int]] = set()
    looks: dict[int, int] = {}  # except line -> NameErrors it caught that were looked at

    def caught(handler_line: int) -> None:
        try:
            if len(reported) >= limit:
                return
            exc = sys.exception()
            if not isinstance(exc, NameError):
                exc = find_name_error(exc)
                if exc is None:
                    return
            seen = looks.get(handler_line, 0)
            if seen >= HANDLER_LOOKS:
                return
            looks[handler_line] = seen + 1
            line, function = raise_site(exc, learner_file)
            if (line, handler_line) in reported:
                return
            reported.add((line, handler_line))
            kind = type(exc).__name__
            if not kind.isidentifier():  # a learner's class renamed to anything: say what Python would catch
                kind = "UnboundLocalError" if isinstance(exc, UnboundLocalError) else "NameError"
            error = {"type": kind, "name": missing_name(exc), "message": _safe_str(exc), "line": line,
                     "function": function, "handler_line": handler_line}  # fmt: skip
            send(Event.CAUGHT_ERROR, error=error)
        except BaseException:  # noqa: BLE001 - our bookkeeping never becomes the learner's exception
            pass

    return caught


def raise_site(exc: BaseException, learner_file: str) -> tuple[int | None, str | None]:
    """The innermost line of the learner's file in the exception's traceback, and its function (None at
    module level)."""
    line = function = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == learner_file:
            line, function = tb.tb_lineno, tb.tb_frame.f_code.co_name
        tb = tb.tb_next
    return line, None if function == "<module>" else function


def describe_model(observer: Observer, namespace: dict, name: str) -> dict:
    if name not in namespace:
        return {"name": name, "defined": False}
    value = namespace[name]
    keras = observer.keras
    is_model = bool(keras is not None and isinstance(value, keras.Model))
    info = {
        "name": name,
        "defined": True,
        "type": type(value).__name__,
        "is_keras_model": is_model,
        "trained": is_model and value in observer.fitted,
        "loaded": is_model and value in observer.loaded,
        "params": None,
    }
    if is_model:
        try:
            info["params"] = int(value.count_params())
        except Exception:  # an unbuilt model has no weights yet
            pass
    return info


def describe_predictions(observer: Observer, namespace: dict, name: str, count: int) -> dict | None:
    """Predictions of the final model on the first test digits, for the grid shown after a pass."""
    value = namespace.get(name)
    keras = observer.keras
    if count <= 0 or keras is None or not isinstance(value, keras.Model) or value not in observer.fitted:
        return None
    import numpy as np

    with np.load(observer.dataset["path"]) as data:
        images = data["x_test"][:count]
        labels = data["y_test"][:count]
    shape = tuple(dim for dim in value.inputs[0].shape[1:]) if getattr(value, "inputs", None) else (784,)
    batch = (images.astype("float32") / 255.0).reshape((count, *shape))
    probabilities = np.asarray(value.predict(batch, verbose=0))
    predicted = probabilities.argmax(axis=-1) if probabilities.ndim > 1 else probabilities.round()
    return {"labels": labels.tolist(), "predicted": [int(p) for p in predicted]}


def run_program(config: dict, send) -> None:
    learner_file = config["learner_file"]
    observer = Observer(send, learner_file, config.get("dataset") or {})

    def before_import(name: str) -> None:
        send(Event.PHASE, phase=Phase.IMPORTING, module=name)

    def after_tensorflow(module) -> None:
        send(Event.PHASE, phase=Phase.RUNNING)

    def after_keras(module) -> None:
        patch_keras(observer, module)
        send(Event.PHASE, phase=Phase.RUNNING)

    figures = FigureCollector(send)
    watched = {
        "matplotlib": (lambda name: seed_font_cache(config.get("font_cache")), lambda module: None),
        "matplotlib.figure": (lambda name: None, functools.partial(patch_figure, figures)),
        "matplotlib.pyplot": (lambda name: None, functools.partial(patch_pyplot, figures)),
    }
    if "keras" in sys.modules:  # a warm sandbox imported it before the program arrived
        patch_keras(observer, sys.modules["keras"])
    else:
        watched.update({"tensorflow": (before_import, after_tensorflow), "keras": (before_import, after_keras)})
    for name in [name for name in watched if name.startswith("matplotlib.") and name in sys.modules]:
        watched.pop(name)[1](sys.modules[name])  # already imported (by nothing of ours today): patch it now
    sys.meta_path.insert(0, ImportWatcher(watched))

    modules = tuple(config.get("modules") or ())
    if modules:  # a project: its modules import each other from the program's folder, as `python train.py` does
        sys.path.insert(0, os.path.dirname(learner_file))
    module = types.ModuleType("__main__")
    module.__file__ = learner_file
    module.__builtins__ = builtins
    namespace = module.__dict__
    sys.modules["__main__"] = module
    sys.argv = [learner_file]
    model_name = config.get("model_name", "model")
    status, exit_code, error = Status.OK, 0, None

    setattr(builtins, CAUGHT_HOOK, make_caught_hook(send, learner_file))
    try:
        with open(learner_file, "rb") as handle:
            source = handle.read()
        code = compile_learner_file(source, learner_file)
    except (SyntaxError, ValueError) as exc:  # ValueError: NUL bytes in the source
        send(Event.ERROR, error=describe_source_error(exc, learner_file), stage="compile")
        send(Event.FINISHED, status=Status.ERROR, exit_code=1)
        return

    send(Event.PHASE, phase=Phase.RUNNING)
    try:
        exec(code, namespace)
    except SystemExit as exc:
        exit_code = _exit_code(exc.code)
        status = Status.OK if exit_code == 0 else Status.EXIT
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)  # as the interpreter would
    except BaseException as exc:  # the learner's own error, reported, never re-raised
        error = describe_exception(exc, learner_file, namespace, modules)
        status, exit_code = Status.ERROR, 1
        send(Event.ERROR, error=error, stage="run")
    send(Event.MODEL, model=describe_model(observer, namespace, model_name))
    if status is Status.OK:
        try:
            predictions = describe_predictions(observer, namespace, model_name, config.get("predict_samples", 0))
        except Exception as exc:  # the learner's model may not fit MNIST digits; that is not an error here
            predictions = {"error": f"{type(exc).__name__}: {_safe_str(exc)[:300]}"}
        if predictions is not None:
            send(Event.PREDICTIONS, **predictions)
    try:
        figures_made = figures.finish()  # also after an error: what the program drew up to it is worth seeing
    except Exception:  # noqa: BLE001 - a program that broke matplotlib itself keeps its verdict
        figures_made = figures.made
    # Peak memory of this process (Linux reports KiB), for the benchmark and the teacher's view.
    peak_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    send(Event.FINISHED, status=status, exit_code=exit_code, peak_memory_mb=peak_mb, figures_made=figures_made)


def describe_source_error(exc: Exception, learner_file: str) -> dict:
    if isinstance(exc, SyntaxError):
        kind = type(exc).__name__  # SyntaxError, IndentationError, TabError
        text = shorten_paths("".join(traceback.format_exception_only(type(exc), exc)), learner_file)
        return {
            "type": kind,
            "qualified_type": kind,
            "message": exc.msg or str(exc),
            "line": exc.lineno,
            "function": None,
            "traceback": text,
            "is_name_error": False,
            "name": None,
            "module_names": {},
        }
    return {
        "type": "SyntaxError",
        "qualified_type": "SyntaxError",
        "message": f"the file cannot be read as Python source: {_safe_str(exc)}",
        "line": None,
        "function": None,
        "traceback": f"SyntaxError: {_safe_str(exc)}\n",
        "is_name_error": False,
        "name": None,
        "module_names": {},
    }


def _exit_code(code) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    return 1


def prepare_workdir(config: dict) -> None:
    """Copy the case's files and the learner's program into the (empty) working folder."""
    case_dir = config.get("case_dir")
    if case_dir and os.path.isdir(case_dir):
        for entry in os.listdir(case_dir):
            shutil.copy(os.path.join(case_dir, entry), entry)
    keras_home = os.environ.get("KERAS_HOME")
    dataset = config.get("dataset") or {}
    if keras_home and dataset.get("kind") == "real":
        datasets = os.path.join(keras_home, "datasets")
        os.makedirs(datasets, exist_ok=True)
        target = os.path.join(datasets, "mnist.npz")
        if not os.path.exists(target):
            os.symlink(dataset["path"], target)


def read_boot() -> dict:
    """The first line on stdin: the private channel (fd and token) and whether to preload."""
    return json.loads(sys.stdin.buffer.readline().decode("utf-8"))


def read_config() -> dict:
    """The rest of stdin: the program's configuration. Afterwards stdin is /dev/null, as for a script
    started without input (``input()`` raises EOFError)."""
    config = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    return config


def preload() -> None:
    """Warm sandbox: import TensorFlow and Keras while no program is waiting. No TensorFlow op runs here (a
    process that ran one cannot fork a working child: measured on our machines), and their start-up
    chatter is not the learner's output."""
    saved = os.dup(1), os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        import keras  # noqa: F401
        import keras.datasets.mnist  # noqa: F401
        import tensorflow

        tensorflow.keras.layers  # noqa: B018 - resolves TensorFlow's lazy `tf.keras` now, not in the run
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


# glibc's mallopt parameters (malloc.h): where big blocks come from, and when the heap shrinks.
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4


def prefault_heap(megabytes: int) -> bool:
    """Warm sandbox: touch ``megabytes`` of heap now and keep it, so the learner's first big arrays reuse
    memory that is already there. On a VM whose host takes back free memory (free page reporting, a
    balloon), first touching fresh memory is slow: the starter's float32 copy of MNIST (~0.4 GB) took
    1.0-1.4 s of a 1.3 s warm run here, and 0.1 s in memory touched ahead (bench/README.md).

    Blocks above 32 MiB normally come from mmap and go back at free(); with mmap off (glibc falls back
    to it by itself if the heap cannot grow) and no trimming they come from this heap. A sandbox serves
    one program and exits, so memory it keeps after a free is never missed. Not glibc: nothing done."""
    if megabytes <= 0:
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt, malloc, free = libc.mallopt, libc.malloc, libc.free
    except (OSError, AttributeError):
        return False
    malloc.restype, malloc.argtypes, free.argtypes = ctypes.c_void_p, [ctypes.c_size_t], [ctypes.c_void_p]
    if not (mallopt(M_MMAP_MAX, 0) and mallopt(M_TRIM_THRESHOLD, 2**31 - 1)):
        return False  # musl and others accept mallopt and do nothing: touching would only cost memory
    size = megabytes * 1024 * 1024
    block = malloc(size)
    if not block:
        return False
    ctypes.memset(block, 0, size)
    free(block)
    return True


def resident_mb() -> float:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def main() -> int:
    boot = read_boot()
    fd = int(boot["events_fd"])
    send = make_sender(fd, boot["token"])
    os.set_inheritable(fd, False)  # child processes the learner starts do not get the channel
    send(Event.STARTED, pid=os.getpid(), python=sys.version.split()[0])
    if boot.get("preload"):
        try:
            preload()
            prefault_heap(int(boot.get("prefault_mb", 0)))
        except BaseException as exc:  # a fault of ours, not the learner's: say so separately
            send(Event.HARNESS_ERROR, error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()[-8000:])
            return 70
        send(Event.READY, rss_mb=resident_mb())
    if boot.get("fork_server"):  # a fork server: each run forked from here (zygote.py, beside this file)
        return load_sibling("zygote").serve(boot["fork_server"], sys.modules[__name__], (fd,))
    return serve_program(send, fd, started=True)


def serve_program(send, fd: int, started: bool = False) -> int:
    """Read the program's configuration and run it: the rest of a sandbox's life. A run forked from a fork
    server starts here, with its own channel."""
    os.set_inheritable(fd, False)
    if not started:
        send(Event.STARTED, pid=os.getpid(), python=sys.version.split()[0])
    try:
        config = read_config()
        if config.get("kernel"):  # a notebook kernel, not one program (kernel_boot.py, beside this file)
            return load_sibling("kernel_boot").serve(config, sys.modules[__name__])
        prepare_workdir(config)
        run_program(config, send)
    except BaseException as exc:  # a fault of ours, not the learner's: say so separately
        send(Event.HARNESS_ERROR, error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()[-8000:])
        return 70
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return 0


if __name__ == "__main__":
    # os._exit skips interpreter shutdown: a learner's atexit handlers or threads cannot add output or
    # events after "finished", and exit status stays ours.
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)
