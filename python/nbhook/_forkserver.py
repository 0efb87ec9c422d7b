"""Fork server ("zygote") for ipykernel: nbhook starts one per kernelspec and asks it for kernels.

Started by Node as ``<kernelspec python> .../nbhook/_forkserver.py <module> <kernel temp root>
[<the kernels' ipython_kernel_config.json>]`` (run by path). It imports what an ipykernel process
imports anyway, and nbhook's helpers, then forks one child per request; each child becomes
exactly what ``python -m <module> -f <connection file>`` would have become, minus ~400 ms of
imports. Given the kernels' IPython config, it also builds their InteractiveShell before forking
(the "template": ~20 ms of CPU a child no longer spends), and pays the per-process caches of a
first execute, a first displayed result and a first error (_warm_code_paths); a child whose loaded config is the same adopts the shell and
redoes its per-process parts, any other builds its own (NBHOOK_FORKSERVER_SHELL=0 in its
environment: no template). With the shell it builds the kernels' IPKernelApp up to its loaded
config (_prebuild_app), which a child whose config files are exactly those takes (~3 ms). A child
writes the files it is given (its connection file, its IPython config) before it becomes the
kernel, and keeps that connection file when ipykernel would write the same. A child ends without the interpreter's module teardown, once what a notebook can see of
an ending is done (_end).

Nothing here may start a thread, create a zmq Context or an event loop before forking: the
imports are checked (one thread, no zmq Context instance), and the server refuses to serve if
that ever stops being true.

Protocol, one JSON object per line. Node -> server (stdin)::

    {"id": 1, "args": ["-f", "/tmp/nbhook-k-x/connection.json"], "cwd": "/nb", "env": {...},
     "log": "/tmp/nbhook-k-x/kernel.log", "orig_argv": [...],
     "files": [{"path": "/tmp/nbhook-k-x/connection.json", "text": "..."}, ...]}  (written by the child)

Server -> Node (the stdout it was started with)::

    {"ready": true, "pid": 123, "python": "3.11.2", "ipykernel": "6.17.0",
     "shell": "template", "app": "prebuilt"}   once, first ("off", "none" or why not)
    {"refused": "why"}                                                           instead of ready
    {"id": 1, "pid": 456, "prewarmed": true}  or  {"id": 1, "error": "why"}     one per request
    {"exit": 456, "code": 0, "signal": null}                                     when a child ends

A child's stdout and stderr go to its ``log`` file; its stdin is /dev/null. Children die with the
server (PR_SET_PDEATHSIG), and the server kills the ones left when its stdin closes (Node is gone),
so no kernel outlives the process that asked for it.

Stdlib and ipykernel only; keep it runnable on Python 3.8+.
"""

import gc
import json
import os
import select
import signal
import sys
import traceback

PR_SET_PDEATHSIG = 1
# Major versions whose imports were checked to be fork-safe and whose forked kernels were compared
# with spawned ones (module-level reads of the environment, threads, zmq contexts).
TESTED_IPYKERNEL_MAJORS = ("6",)
# Imported before forking; a child whose working directory has a module of the same name (which
# comes first on its sys.path) forgets them, so it imports that one as a spawned kernel would.
HELPER_MODULES = ("nbhook", "naas")
# Their modules a kernel of nbhook's imports too: the cell runner (the pool's warm-up imports it)
# and the kernel tweaks (an extension of nbhook's kernel config); forgotten with nbhook when shadowed.
HELPER_SUBMODULES = ("nbhook._runner", "nbhook._kernel_tweaks")
# How long a child's ending waits for the threads the notebook started (a spawned interpreter
# waits for non-daemon threads without limit; nbhook kills a kernel that takes longer than its
# grace period anyway).
THREADS_JOIN_S = 1.0


def _preimport(module):
    """Imports what a kernel process imports while starting (measured on ipykernel 6.17)."""
    import importlib

    importlib.import_module("ipykernel")
    for name in (
        "ipykernel.kernelapp",
        "ipykernel.ipkernel",
        "ipykernel.zmqshell",
        "ipykernel.heartbeat",
        "ipykernel.iostream",
        "ipykernel.parentpoller",
        "IPython.core.completerlib",
        "faulthandler",
        "ctypes",
        "runpy",
        "types",
    ):
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # another ipykernel version; the child imports what it needs
    # nbhook's in-kernel helpers (on PYTHONPATH in every kernel nbhook starts): every pooled kernel
    # imports them at once (warm-up), so they are shared with the children instead of per kernel.
    _Template.helpers = True
    for name in HELPER_MODULES + HELPER_SUBMODULES:
        try:
            importlib.import_module(name)
        except Exception:
            _Template.helpers = False  # not on the path (a kernel not started by nbhook): imported if asked
    # The launcher module itself is run fresh in each child (as __main__), like `python -m` does;
    # only check it exists.
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ImportError("No module named %s" % module)


class _Template(object):
    """The IPython shell built before forking, for children whose kernel config is the same."""

    shell = None
    config = None
    error = None
    # Whether `-f <file>` parses to just IPKernelApp.connection_file (checked before forking).
    known_argv = False
    # (IPKernelApp.classes, what _classes_with_config_traits gave for them), when known_argv.
    classes = None
    # Whether nbhook's helpers were imported (HELPER_MODULES, HELPER_SUBMODULES).
    helpers = False
    # Whether a first execute's per-process caches were paid (_warm_code_paths).
    warmed = False
    # The kernels' IPKernelApp (the singleton), its command line and config files loaded before
    # forking (_prebuild_app); the kernel_config text it loaded; why there is none.
    app = None
    kernel_config = None
    app_error = None


def _shell_config(config):
    """A kernel's traitlets config but for its connection file (given on its command line)."""
    plain = dict(config)
    app = dict(plain.get("IPKernelApp", {}))
    app.pop("connection_file", None)
    if app:
        plain["IPKernelApp"] = app
    else:
        plain.pop("IPKernelApp", None)
    return plain


def _prebuild_shell(kernel_config, tmp_root):
    """Builds the kernel's InteractiveShell (with its magics, formatters, completer, prefilters)
    before forking, with the traitlets config a kernel of nbhook's loads.

    ``kernel_config`` is the ipython_kernel_config.json nbhook writes in every kernel's profile:
    a throwaway profile with it is loaded as a kernel's is (profile, then the jupyter config
    folders). The shell's per-process parts are redone in each child (_adopt_template_shell).
    """
    import shutil
    import tempfile

    from IPython.core.profiledir import ProfileDir
    from ipykernel.compiler import XCachingCompiler
    from ipykernel.kernelapp import IPKernelApp
    from ipykernel.zmqshell import ZMQInteractiveShell

    folder = tempfile.mkdtemp(prefix="nbhook-template-", dir=tmp_root if os.path.isdir(tmp_root) else None)
    old_dir = os.environ.get("IPYTHONDIR")
    try:
        ipython_dir = os.path.join(folder, "ipython")
        profile = os.path.join(ipython_dir, "profile_default")
        os.makedirs(profile)
        with open(os.path.join(profile, "ipython_kernel_config.json"), "w") as f:
            f.write(kernel_config)
        os.environ["IPYTHONDIR"] = ipython_dir
        app = IPKernelApp()  # not the singleton: only its config loading is used
        app.ipython_dir = ipython_dir
        app.init_profile_dir()
        app.init_config_files()
        app.load_config_file()
        profile_dir = ProfileDir.find_profile_dir(profile, config=app.config)
        shell = ZMQInteractiveShell.instance(
            config=app.config,
            profile_dir=profile_dir,
            user_module=None,
            user_ns=None,
            kernel=None,
            compiler_class=XCachingCompiler,
        )
        _Template.shell = shell
        _Template.config = _shell_config(app.config)
        _Template.known_argv = _check_known_argv()
        _prebuild_app(kernel_config, folder, ipython_dir)
        try:
            _warm_code_paths(shell)
            _Template.warmed = True
        except Exception:
            pass  # another IPython: the children pay these on their first execute, as before
    finally:
        if old_dir is None:
            os.environ.pop("IPYTHONDIR", None)
        else:
            os.environ["IPYTHONDIR"] = old_dir
        shutil.rmtree(folder, ignore_errors=True)


# The config files IPython's kernel app looks for in each folder of its config_file_paths.
CONFIG_FILE_NAMES = ("ipython_config.py", "ipython_config.json", "ipython_kernel_config.py", "ipython_kernel_config.json")


def _prebuild_app(kernel_config, folder, ipython_dir):
    """Builds the kernels' IPKernelApp (the singleton a kernel's launch gets) through what
    BaseIPythonApplication.initialize does that is the same for every kernel: the command line
    parsed (`-f <file>`, the file set per child), the profile found and the config files loaded
    (~3 ms of a child's start). Its crash handler, IPYTHONDIR and profile are redone in each child
    (_use_prebuilt_app), which builds its own app when its config files are not exactly these.
    Called with IPYTHONDIR at the throwaway profile holding ``kernel_config``."""
    from IPython.core.application import BaseIPythonApplication
    from ipykernel.kernelapp import IPKernelApp

    if not _Template.known_argv:
        _Template.app_error = "the kernel's command line is not known"
        return
    try:
        app = IPKernelApp.instance()
        app.init_crash_handler = lambda: None  # the child's, in the child
        try:
            BaseIPythonApplication.initialize(app, ["-f", os.path.join(folder, "connection.json")])
        finally:
            del app.init_crash_handler
        expected = [os.path.join(ipython_dir, "profile_default", "ipython_kernel_config.json")]
        if app.subapp is not None or app.profile_dir is None or app.loaded_config_files != expected:
            raise RuntimeError("it loaded %s" % (app.loaded_config_files,))
        _Template.app = app
        _Template.kernel_config = kernel_config
    except BaseException as err:  # catch_config_error exits
        _Template.app_error = "%s: %s" % (type(err).__name__, err)
        IPKernelApp.clear_instance()


def _prebuilt_app_unfit(request):
    """In a child: why its kernel must build its own app (as a spawned kernel), or None. Its
    command line must be `-f <file>` and its config files exactly the template's: its profile's
    ipython_kernel_config.json, with the text the server loaded, and no other in the folders the
    app searches (those of the server's app, with this kernel's profile for the template's)."""
    app = _Template.app
    args = request.get("args") or []
    if len(args) != 2 or args[0] != "-f" or args[1].startswith("-"):
        return "command line %s" % (args,)
    ipython_dir = os.environ.get("IPYTHONDIR")
    if not ipython_dir or not os.path.isabs(ipython_dir):
        return "IPYTHONDIR is not an absolute path"
    profile = os.path.join(ipython_dir, "profile_default")
    template_profile = app.profile_dir.location
    for where in [profile] + [p for p in app.config_file_paths if p != template_profile]:
        for name in CONFIG_FILE_NAMES:
            path = os.path.join(where, name)
            if where == profile and name == "ipython_kernel_config.json":
                try:
                    with open(path) as f:
                        if f.read() != _Template.kernel_config:
                            return "%s differs from the template's" % path
                except OSError:
                    return "no %s" % path
            elif os.path.exists(path):
                return "a config file %s" % path
    return None


def _use_prebuilt_app(request):
    """In a child: lets its kernel launch take the IPKernelApp built before forking when fit
    (_prebuilt_app_unfit), redoing the per-kernel part of BaseIPythonApplication.initialize: the
    command line's connection file, the crash handler, IPYTHONDIR and the profile in it. Otherwise
    the singleton is cleared, and the kernel builds its own."""
    app = _Template.app
    if app is None:
        return
    from IPython.core.application import BaseIPythonApplication
    from IPython.paths import get_ipython_dir
    from ipykernel.kernelapp import IPKernelApp
    from traitlets.config import Config

    unfit = _prebuilt_app_unfit(request)
    if unfit is not None:
        IPKernelApp.clear_instance()
        return
    initialize = BaseIPythonApplication.initialize

    def prebuilt_initialize(self, argv=None):
        if self is not app:
            return initialize(self, argv)
        argv = sys.argv[1:] if argv is None else argv
        connection_file = argv[1]
        # What parse_command_line leaves.
        self.argv = list(argv)
        self.cli_config = Config({"IPKernelApp": {"connection_file": connection_file}})
        self.config.IPKernelApp.connection_file = connection_file
        self.connection_file = connection_file
        self.init_crash_handler()
        # init_profile_dir and init_config_files, for this kernel's IPYTHONDIR; the config files
        # are the ones already loaded (checked).
        template_paths = [p for p in self.config_file_paths if p != self.profile_dir.location]
        self.ipython_dir = get_ipython_dir()
        self.profile_dir = None
        self.config_file_paths = []
        self.init_profile_dir()
        self.config_file_paths = [self.profile_dir.location] + template_paths
        self._loaded_config_files = [os.path.join(self.profile_dir.location, "ipython_kernel_config.json")]
        self._nbhook_prebuilt = True  # for the tests that compare it with a spawned kernel

    BaseIPythonApplication.initialize = prebuilt_initialize


CONNECTION_FIELDS = ("ip", "transport", "shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")


def _skip_unchanged_connection_file(request):
    """In a child: ipykernel rewrites its connection file once its sockets are bound, to record
    the ports it chose; nbhook gives them all, so the file this child wrote from the request
    (_write_private_file) already says what would be written (~0.6 ms of a kernel's start, and
    the server removes the file once connected). A kernel whose ports or key differ from it
    writes as before."""
    from ipykernel.kernelapp import IPKernelApp

    written = {}
    for item in request.get("files") or ():
        try:
            written[os.path.abspath(item["path"])] = json.loads(item["text"])
        except (KeyError, TypeError, ValueError):
            pass
    if not written:
        return
    write = IPKernelApp.write_connection_file

    def write_if_changed(app):
        info = written.get(os.path.abspath(app.abs_connection_file))
        try:
            same = (
                info is not None
                and all(info.get(name) == getattr(app, name) for name in CONNECTION_FIELDS)
                and info.get("key", "").encode() == app.session.key
            )
        except Exception:
            same = False
        if not same:
            return write(app)

    write_if_changed.__doc__ = write.__doc__
    IPKernelApp.write_connection_file = write_if_changed


_TEMP_VARS = ("TMPDIR", "TEMP", "TMP")
# The values of _TEMP_VARS when this process last chose tempfile's folder ("fallback": no usable
# choice, or one a child must not inherit): _choose_tempdir.
_TEMP_ENV = {}


def _choose_tempdir():
    """Chooses tempfile's folder now (it writes and removes a probe file, ~0.5 ms), noting the
    variables it was chosen with, so that a child whose own are the same keeps it (_fit_tempdir)."""
    import tempfile

    _TEMP_ENV.clear()
    _TEMP_ENV.update({name: os.environ.get(name) for name in _TEMP_VARS})
    tempfile.tempdir = None
    try:
        # No usable temp folder: tempfile falls back to the working folder, the kernel's own.
        chosen = tempfile.gettempdir()
        relative = any(v is not None and not os.path.isabs(v) for v in _TEMP_ENV.values())
        _TEMP_ENV["fallback"] = chosen == os.getcwd() or relative
    except Exception:
        _TEMP_ENV["fallback"] = True


def _fit_tempdir():
    """In a child, once its environment is final: tempfile's folder as a spawned kernel would
    choose it. The server's choice stands when made with the same variables (absolute ones: a
    relative TMPDIR depends on the working folder), else the kernel chooses anew."""
    import tempfile

    if _TEMP_ENV.get("fallback", True) or any(os.environ.get(n) != _TEMP_ENV.get(n) for n in _TEMP_VARS):
        tempfile.tempdir = None


def _load_nss_protocols():
    """libzmq's first context in a process (libpgm's init) looks a protocol up, and glibc then
    loads the name service modules of nsswitch.conf's `protocols` line (Debian's: `db files`,
    ~45 failed opens for the absent libnss_db in each kernel). Looked up here once, the children
    inherit that state."""
    try:
        import socket

        socket.getprotobyname("tcp")
    except Exception:
        pass


def _warm_code_paths(shell):
    """Pays before forking what a kernel's first execute_request pays once per process for pure
    caches: tokenize's token regex (compiled on first use, ~2 ms), IPython's cell transforms and
    prefilter, the compile of `should_run_async`, and dateutil's parser (jupyter_client reads the
    request's date with it). Nothing here is per-process state: the children share these pages.
    Then the shell's display formatters, which IPython makes at the first result or display (ten
    configurables from the shell's config: ~4 ms of a forked kernel's first `Out[n]`), exactly as
    the child would make them; each child then changes its own copy (`for_type`, `%matplotlib`).
    And a first error's traceback (_warm_tracebacks)."""
    code = "x = 1\n"
    last_line = getattr(shell, "_last_input_line", None)  # prefilter notes the line it saw
    shell.transform_cell(code)
    shell.should_run_async(code, transformed_cell=code, preprocessing_exc_tuple=None)
    shell._last_input_line = last_line
    shell.display_formatter.format({"x": [1, "s"]})
    try:
        _warm_tracebacks(shell)
    except Exception:
        pass  # an IPython without stack_data: the kernels' first error pays it, as before
    try:
        from jupyter_client.jsonutil import extract_dates

        extract_dates({"date": "2026-01-01T00:00:00.000000Z"})
    except Exception:
        pass


WARM_TRACEBACK_FILE = "<nbhook-fork-server-warm-traceback>"


def _warm_tracebacks(shell):
    """Pays what the first failing cell of every kernel paid once per process: IPython's verbose
    traceback through stack_data (the pygments lexer's regular expressions, compiled into `re`'s
    cache), and the parse of interactiveshell.py, where every cell's traceback starts (stack_data
    keeps it by file name and text; ~8 MiB in the fork server, shared). A forked kernel's first
    failing cell: ~120-140 ms of CPU before, 23-37 after (the next ones ~18). The warm-up's own
    code, its source and what stack_data and executing noted of it are removed again."""
    import linecache

    source = "def failing():\n    raise ValueError('warm')\n\nfailing()\n"
    lines = source.splitlines(True)
    linecache.cache[WARM_TRACEBACK_FILE] = (len(source), None, lines, WARM_TRACEBACK_FILE)
    try:
        exec(compile(source, WARM_TRACEBACK_FILE, "exec"), {"__name__": "__nbhook_warm__"})
    except ValueError:
        etype, value, tb = sys.exc_info()
        try:
            shell.InteractiveTB.structured_traceback(etype, value, tb)
        finally:
            del etype, value, tb
    finally:
        linecache.cache.pop(WARM_TRACEBACK_FILE, None)
        _forget_warm_sources()
    # Every cell's traceback starts in IPython's run_code: the source of that 3 900-line file is
    # parsed and walked once per process (~100 ms).
    import stack_data
    from IPython.core import interactiveshell

    stack_data.Source.for_filename(interactiveshell.__file__)


def _forget_warm_sources():
    """Drops the entries of stack_data's and executing's per-class caches about the warm-up's code
    and this file (a frame of the warm-up's traceback)."""
    ours = (WARM_TRACEBACK_FILE, os.path.abspath(__file__))
    for name in ("stack_data.core", "executing.executing"):
        module = sys.modules.get(name)
        source_class = getattr(module, "Source", None)
        for klass in getattr(source_class, "__mro__", ()):
            for value in list(vars(klass).values()):
                if not isinstance(value, dict):
                    continue
                for key in list(value):
                    parts = key if isinstance(key, tuple) else (key,)
                    if any(part in ours or getattr(part, "co_filename", None) in ours for part in parts):
                        del value[key]


def _check_known_argv():
    """Whether a kernel's command line (`-f <connection file>`) gives the config it is expected to:
    then a child can skip building the argparse parser of every configurable class (~10 ms)."""
    from ipykernel.kernelapp import IPKernelApp
    from traitlets.config import Config

    probe = "/nbhook-probe/connection.json"
    app = IPKernelApp()
    app.parse_command_line(["-f", probe])
    known = app.cli_config == Config({"IPKernelApp": {"connection_file": probe}}) and app.extra_args == []
    if known:
        # parse_command_line lists the configurable classes for the loader (~3 ms of a child's
        # start), which _KnownArgsLoader ignores: a child with the same classes reuses this list.
        _Template.classes = (list(app.classes), tuple(app._classes_with_config_traits()))
    return known


class _KnownArgsLoader(object):
    """Stands for traitlets' command-line loader when the command line is `-f <file>`."""

    def __init__(self, connection_file):
        from traitlets.config import Config

        self.config = Config({"IPKernelApp": {"connection_file": connection_file}})
        self.extra_args = []

    def load_config(self, argv=None, aliases=None, flags=None, classes=None):
        return self.config


def _adopt_template_shell():
    """In a child: lets its IPKernelApp take the shell built before forking, when its config is the
    template's (else the singleton is cleared, and the kernel builds its own, as a spawned one)."""
    shell = _Template.shell
    if shell is None:
        return
    from ipykernel.kernelapp import IPKernelApp

    init_kernel = IPKernelApp.init_kernel

    def adopting_init_kernel(app):
        if _shell_config(app.config) != _Template.config:
            import atexit

            atexit.unregister(shell.atexit_operations)
            type(shell).clear_instance()  # this kernel builds its own (from its class up)
            return init_kernel(app)
        init_kernel(app)  # IPythonKernel(...) gets the shell from shell_class.instance()
        kernel = app.kernel
        if kernel.shell is not shell:
            return
        _fit_shell(shell, app, kernel)
        shell._nbhook_forked_shell = True  # for the tests that compare it with a spawned kernel

    IPKernelApp.init_kernel = adopting_init_kernel
    if _Template.known_argv:
        create_loader = IPKernelApp._create_loader

        def known_loader(app, argv, aliases, flags, classes=None):
            if isinstance(app, IPKernelApp) and len(argv) == 2 and argv[0] == "-f" and not argv[1].startswith("-"):
                return _KnownArgsLoader(argv[1])
            return create_loader(app, argv, aliases, flags, classes=classes)

        IPKernelApp._create_loader = known_loader
        if _Template.classes is not None:
            classes_with_config_traits = IPKernelApp._classes_with_config_traits
            known_classes, with_config_traits = _Template.classes

            def listed_classes(app):
                if isinstance(app, IPKernelApp) and list(app.classes) == known_classes:
                    return iter(with_config_traits)
                return classes_with_config_traits(app)

            IPKernelApp._classes_with_config_traits = listed_classes


TWEAKS_EXTENSION = "nbhook._kernel_tweaks"


def _tweak_streams_from_start():
    """In a child: when its kernel config loads nbhook's kernel tweaks (an extension, loaded after
    ipykernel made its output streams), applies them just before ipykernel makes the streams, so
    that their fd forwarders are nbhook's from the start instead of ipykernel's watcher threads
    started, then replaced (python/nbhook/_kernel_tweaks.py, 3.). The extension then finds them
    applied. Not when a module of the kernel's folder shadows nbhook (the kernel imports that one)."""
    tweaks = sys.modules.get(TWEAKS_EXTENSION)
    if tweaks is None:
        return
    from ipykernel.kernelapp import IPKernelApp

    init_io = IPKernelApp.init_io

    def init_io_tweaked(app):
        try:
            listed = list(app.default_extensions) + list(app.extensions) + list(app.extra_extensions)
            if TWEAKS_EXTENSION in listed and sys.modules.get(TWEAKS_EXTENSION) is tweaks:
                tweaks.apply()
        except Exception:
            pass  # the extension applies them when it loads, as in a spawned kernel
        return init_io(app)

    IPKernelApp.init_io = init_io_tweaked


def _fit_shell(shell, app, kernel):
    """Redoes what InteractiveShell.__init__ did that depends on the process, the kernel, the
    working folder or the profile (the kernel's own IPYTHONDIR)."""
    from IPython.utils.path import get_home_dir

    shell.parent = kernel
    shell.kernel = kernel
    shell.ipython_dir = app.ipython_dir
    shell.profile_dir = app.profile_dir
    shell.init_instance_attrs()  # starting_dir, compiler, temp files
    shell.home_dir = get_home_dir()
    shell.save_sys_module_state()  # the kernel's sys.stdout/stderr (init_io came first)
    shell.init_sys_modules()  # sys.modules["__main__"] is the user module
    try:
        from pickleshare import PickleShareDB

        shell.db = PickleShareDB(os.path.join(shell.profile_dir.location, "db"))
    except ImportError:
        pass
    old_history = shell.history_manager
    if old_history in shell.configurables:
        shell.configurables.remove(old_history)
    shell.init_history()  # its folder history (_dh) starts at this kernel's working folder
    shell.init_encoding()
    shell.init_user_ns()  # _ih, _oh, _dh, In, Out from the new history


def _fork_unsafe_state():
    """Why forking now would be unsafe, or None."""
    import threading

    if threading.active_count() != 1:
        return "threads exist after the imports: %s" % [t.name for t in threading.enumerate()]
    try:
        tasks = os.listdir("/proc/self/task")
        if len(tasks) != 1:
            return "native threads exist after the imports (%d)" % len(tasks)
    except OSError:
        pass
    zmq = sys.modules.get("zmq")
    if zmq is not None and getattr(zmq.Context, "_instance", None) is not None:
        return "a zmq Context exists after the imports"
    return None


class _Child(Exception):
    """Unwinds the server's frames in a freshly forked child, carrying its request."""

    def __init__(self, request):
        Exception.__init__(self)
        self.request = request


def _send(fd, obj):
    data = (json.dumps(obj) + "\n").encode("utf-8")
    while data:
        data = data[os.write(fd, data) :]


def _set_pdeathsig():
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:
        pass  # not Linux, or no libc: the kernel's own parent poller still applies


def _become_child(request, server_pid, fds_to_close, import_env, final_env=True):
    """In the forked child: the process setup `spawn` would have done. Never returns on failure.
    ``final_env``: the environment given here is the kernel's (a template's child gets another)."""
    try:
        signal.set_wakeup_fd(-1)
        for fd in fds_to_close:
            os.close(fd)
        # Handlers as a fresh interpreter has them: Python's own SIGINT handler, defaults elsewhere
        # (SIGPIPE stays ignored, as Python sets it at startup).
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _set_pdeathsig()
        if os.getppid() != server_pid:
            os._exit(1)  # the server died between fork and prctl

        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(null)
        os.close(log)
        for item in request.get("files") or ():
            _write_private_file(item["path"], item["text"])

        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        # What the imports did to the environment (e.g. ipykernel sets PYDEVD_USE_FRAME_EVAL)
        # happens after the environment is given in a spawned kernel too: redo it on top.
        for name, value in import_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        import time

        time.tzset()
        if final_env:
            _fit_tempdir()
        psutil = sys.modules.get("psutil")
        if psutil is not None:
            psutil.cpu_percent(interval=None)  # restart its "since last call" from now

        _forget_shadowed_helpers(os.getcwd())
        # `python -m`: sys.path[0] is the working directory, argv[0] becomes the module's file.
        sys.path.insert(0, os.getcwd())
        sys.argv = ["-m"] + list(request["args"])
        if hasattr(sys, "orig_argv") and request.get("orig_argv"):
            sys.orig_argv = list(request["orig_argv"])
    except BaseException:
        try:
            traceback.print_exc()
            sys.stderr.flush()
        finally:
            os._exit(127)


def _write_private_file(path, text):
    """A file of the kernel's own, as src/kernel/launch.ts writes it for a spawned kernel: 0600,
    in folders it creates 0700 (the connection file with its key, the IPython profile's config)."""
    missing = []
    folder = os.path.dirname(path)
    while not os.path.isdir(folder):
        missing.append(folder)
        folder = os.path.dirname(folder)
    for folder in reversed(missing):
        os.mkdir(folder, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        data = text.encode("utf-8")
        while data:
            data = data[os.write(fd, data) :]
    finally:
        os.close(fd)


def _prewarmed(request):
    """Whether the child of ``request`` starts with the prebuilt shell's first-execute caches paid
    and nbhook's helpers imported (nbhook then skips its warm-up execute). Not when a module in its
    working folder shadows a helper (_forget_shadowed_helpers drops them); a child whose IPython
    config differs from the server's builds its own shell, which only the child can tell."""
    if _Template.shell is None or not _Template.warmed or not _Template.helpers:
        return False
    return not _shadowed(request.get("cwd") or "/")  # where _become_child looks


def _shadowed(cwd):
    return [
        name
        for name in HELPER_MODULES
        if os.path.exists(os.path.join(cwd, name + ".py")) or os.path.isdir(os.path.join(cwd, name))
    ]


def _forget_shadowed_helpers(cwd):
    """Drops the pre-imported helpers when a module in the kernel's working folder shadows one of
    them (all of them: naas imports nbhook, so it must find the shadowing one too)."""
    if not _shadowed(cwd):
        return
    for name in HELPER_MODULES:
        for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[loaded]


def _exit_report(pid, status):
    if os.WIFSIGNALED(status):
        num = os.WTERMSIG(status)
        try:
            name = signal.Signals(num).name
        except ValueError:
            name = "SIG%d" % num
        return {"exit": pid, "code": None, "signal": name}
    return {"exit": pid, "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None, "signal": None}


def _serve(out, import_env):
    """The request loop. Returns when stdin closes; raises _Child in each forked child."""
    server_pid = os.getpid()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    signal.set_wakeup_fd(wake_w)
    children = set()
    poller = select.poll()
    poller.register(0, select.POLLIN)
    poller.register(wake_r, select.POLLIN)
    buf = b""
    try:
        while True:
            eof = False
            for fd, _events in poller.poll():
                if fd == wake_r:
                    try:
                        while os.read(wake_r, 512):
                            pass
                    except BlockingIOError:
                        pass
                    continue
                data = os.read(0, 1 << 16)
                if not data:
                    eof = True
                    continue
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if not line.strip():
                        continue
                    request = None
                    try:
                        request = json.loads(line)
                        sys.stdout.flush()
                        sys.stderr.flush()
                        pid = os.fork()
                    except Exception as err:
                        _send(out, {"id": (request or {}).get("id"), "error": "%s: %s" % (type(err).__name__, err)})
                        continue
                    if pid == 0:
                        if _TemplateState.active:
                            _become_template_child(request, server_pid, (out, wake_r, wake_w), import_env)
                        else:
                            _become_child(request, server_pid, (out, wake_r, wake_w), import_env)
                        raise _Child(request)
                    children.add(pid)
                    _send(out, {"id": request.get("id"), "pid": pid, "prewarmed": _prewarmed(request)})
            while children:
                try:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
                children.discard(pid)
                _send(out, _exit_report(pid, status))
            if eof:
                return
    finally:
        if os.getpid() == server_pid:
            # Node is gone (or stops us): no kernel may outlive the server.
            for pid in children:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            for pid in children:
                try:
                    _, status = os.waitpid(pid, 0)
                    _send(out, _exit_report(pid, status))
                except OSError:
                    pass  # reaped already, or nobody reads our reports any more


def main():
    module = sys.argv[1] if len(sys.argv) > 1 else "ipykernel_launcher"
    # The protocol gets its own descriptor; stray prints of imported code go to stderr instead.
    out = os.dup(1)
    os.dup2(2, 1)
    # Our own folder must not shadow anything the kernel imports (we are run by path).
    here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and sys.path[0] in (here, ""):
        del sys.path[0]
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is Node's to handle
    env_before = dict(os.environ)
    try:
        _preimport(module)
    except BaseException as err:
        _send(out, {"refused": "cannot import the kernel: %s: %s" % (type(err).__name__, err)})
        return 1
    import ipykernel

    version = getattr(ipykernel, "__version__", "?")
    if version.split(".")[0] not in TESTED_IPYKERNEL_MAJORS:
        _send(out, {"refused": "ipykernel %s is not a version the fork server was checked with" % version})
        return 1
    kernel_config = sys.argv[3] if len(sys.argv) > 3 else None
    if os.environ.get("NBHOOK_FORKSERVER_SHELL") == "0":
        _Template.error = "off"
    elif kernel_config is not None and module == "ipykernel_launcher":
        try:
            _prebuild_shell(kernel_config, sys.argv[2] if len(sys.argv) > 2 else "")
        except Exception as err:
            # Kernels then build their own shell, as before.
            _Template.error = "%s: %s" % (type(err).__name__, err)
            _Template.shell = None
            try:
                from ipykernel.zmqshell import ZMQInteractiveShell

                ZMQInteractiveShell.clear_instance()
            except Exception:
                pass
    _choose_tempdir()
    _load_nss_protocols()
    import_env = {k: v for k, v in os.environ.items() if env_before.get(k) != v}
    import_env.update({k: None for k in env_before if k not in os.environ})
    unsafe = _fork_unsafe_state()
    if unsafe:
        _send(out, {"refused": unsafe})
        return 1
    setup_file = os.environ.pop("NBHOOK_SETUP_TEMPLATE_FILE", None)
    if setup_file is not None:
        refused = _run_template_setup(out, setup_file)
        if refused is not None:
            _send(out, {"refused": refused})
            return 1
    # What is imported now stays shared with the children: keep the collector off those pages.
    gc.collect()
    gc.freeze()
    _send(
        out,
        {
            "ready": True,
            "pid": os.getpid(),
            "python": sys.version.split()[0],
            "ipykernel": version,
            "shell": "template" if _Template.shell is not None else (_Template.error or "none"),
            "app": "prebuilt" if _Template.app is not None else (_Template.app_error or "none"),
        },
    )
    try:
        _serve(out, import_env)
        return 0
    except _Child as child:
        request = child.request
    except OSError:
        return 1  # Node closed our stdout
    # A forked child: run the kernel outside any exception handler (nothing may chain to _Child).
    _adopt_template_shell()
    _use_prebuilt_app(request)
    _skip_unchanged_connection_file(request)
    _tweak_streams_from_start()
    if _TemplateState.active:
        _keep_setup_history()
    return _run_kernel(module, request)


class _TemplateState(object):
    """A setup template (a fork server that ran a webhook version's setup cells): what its
    children keep instead of starting from the launch's folder and environment."""

    active = False
    environ = None
    cwd = None
    path = None


def _run_template_setup(out, setup_file):
    """Runs the version's setup cells in the prebuilt shell (nbhook._template), reporting each
    cell's messages and reply; returns why this process must not serve forks, or None.

    ``setup_file`` is JSON: {"cells": [code, ...], "cwd": folder, "env": {...}} (the setup
    environment: the kernels' base one plus the version's). A failing cell ends the setup (the
    server then refuses, with the outputs reported: nbhook fails the calls with them)."""
    with open(setup_file) as f:
        setup = json.load(f)
    shell = _Template.shell
    if shell is None:
        return "no prebuilt shell (%s)" % (_Template.error or "none")
    import importlib.util

    # Beside this file, which is run by path (its folder is not on sys.path).
    spec = importlib.util.spec_from_file_location(
        "_nbhook_template", os.path.join(os.path.dirname(os.path.abspath(__file__)), "_template.py")
    )
    _template = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(_template)

    for index, code in enumerate(setup["cells"]):
        if _template.needs_async(shell, code):
            return "setup cell %d needs top-level await (a kernel's event loop)" % (index + 1)
    os.chdir(setup["cwd"] or "/")
    os.environ.update(setup["env"])
    _choose_tempdir()  # the setup cells see tempfile's folder of the version's environment
    # As in a kernel started in that folder (`python -m`: sys.path[0] is the working directory).
    sys.path.insert(0, os.getcwd())
    # The shell was built in another folder: its folder history and starting dir are the kernel's.
    shell.init_instance_attrs()
    for index, code in enumerate(setup["cells"]):
        reply = _template.run_cell(shell, code, lambda msg, i=index: _send(out, {"cell": i, "msg": msg}))
        _send(out, {"cell": index, "reply": reply})
        if reply["status"] != "ok":
            return "setup cell %d failed" % (index + 1)
    unsafe = _template.unsafe_after_setup()
    if unsafe:
        return unsafe
    _TemplateState.active = True
    _TemplateState.environ = dict(os.environ)
    _TemplateState.cwd = os.getcwd()
    _TemplateState.path = list(sys.path)
    return None


def _become_template_child(request, server_pid, fds_to_close, import_env):
    """_become_child, then the setup state back: the environment, folder and sys.path the setup
    cells left, with the launch's own variables (IPYTHONDIR, …: request["launch_env"]) on top."""
    _become_child(request, server_pid, fds_to_close, import_env, final_env=False)
    try:
        os.environ.clear()
        os.environ.update(_TemplateState.environ)
        os.environ.update(request.get("launch_env") or {})
        os.chdir(_TemplateState.cwd)
        sys.path[:] = _TemplateState.path
        _fit_tempdir()
    except BaseException:
        try:
            traceback.print_exc()
            sys.stderr.flush()
        finally:
            os._exit(127)


def _keep_setup_history():
    """In a template's child: the adopted shell keeps the setup cells' In/Out history (a new
    history manager is made per kernel by _fit_shell), as a kernel that ran them would."""
    global _fit_shell
    fit = _fit_shell

    def fit_keeping_history(shell, app, kernel):
        old = shell.history_manager
        kept = (list(old.input_hist_parsed), list(old.input_hist_raw), dict(old.output_hist))
        fit(shell, app, kernel)
        new = shell.history_manager
        new.input_hist_parsed[:] = kept[0]
        new.input_hist_raw[:] = kept[1]
        new.output_hist.update(kept[2])

    _fit_shell = fit_keeping_history
    # A kernel that would build its own shell (its config differs) would lack the setup state:
    # it must not start (nbhook sees the launch fail and prepares kernels the usual way).
    from ipykernel.kernelapp import IPKernelApp

    init_kernel = IPKernelApp.init_kernel

    def init_kernel_with_setup_shell(app):
        init_kernel(app)
        if app.kernel.shell is not _Template.shell:
            sys.stderr.write("nbhook: this kernel's IPython config differs from the setup template's\n")
            sys.stderr.flush()
            os._exit(3)

    IPKernelApp.init_kernel = init_kernel_with_setup_shell


def _run_kernel(module, request):
    """In a child: run the kernel module as `python -m` runs it, in a fresh __main__, then end."""
    import runpy
    import types

    sys.modules["__main__"] = types.ModuleType("__main__")
    run_as_main = getattr(runpy, "_run_module_as_main", None)
    try:
        if run_as_main is not None:
            run_as_main(module, alter_argv=True)
        else:  # pragma: no cover - every CPython 3 has it
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as stop:
        code = _exit_code(stop.code)
    except BaseException:
        traceback.print_exc()
        code = 1
    _end(code)


def _exit_code(value):
    """The status `sys.exit(value)` gives a process (None: 0, an int: itself, else printed: 1)."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    try:
        sys.stderr.write("%s\n" % (value,))
    except Exception:
        pass
    return 1


def _let_control_finish():
    """Waits (bounded) until ipykernel's control thread has finished the message it handles.

    The shutdown_request is handled on that thread, which then flushes the output streams through
    the iopub thread; the main thread gets here first, and the atexit callbacks stop the iopub
    thread: that flush would then wait its 10 s timeout. (An interpreter's slower teardown hides it.)
    """
    try:
        import threading

        kernelapp = sys.modules.get("ipykernel.kernelapp")
        app_class = getattr(kernelapp, "IPKernelApp", None)
        if app_class is None or not app_class.initialized():
            return
        control = getattr(app_class.instance(), "control_thread", None)
        loop = getattr(control, "io_loop", None)
        if loop is None or not control.is_alive():
            return
        # After a shutdown_request its loop stops (the thread ends) once the flush is done; after
        # another ending (the notebook called exit()) it runs on, and runs our callback after it.
        done = threading.Event()
        loop.add_callback(done.set)
        import time

        until = time.monotonic() + THREADS_JOIN_S
        while control.is_alive() and not done.is_set() and time.monotonic() < until:
            control.join(0.002)
    except Exception:
        pass


def _end(code):
    """Ends a child as an interpreter ends, for what a notebook can see, without its teardown.

    Python's finalization waits for non-daemon threads, runs the atexit callbacks (IPython's
    resets the user namespace: files only the notebook referenced are closed, hence flushed),
    then tears every module down: that last part touches every object inherited from the server
    (copying its memory pages) and costs tens of ms for nothing a notebook can observe. This does
    the first two, collects the garbage left, flushes every file object still open (those
    reachable from modules, or in reference cycles), then leaves with os._exit.
    """
    import threading
    import time

    _let_control_finish()
    try:
        until = time.monotonic() + THREADS_JOIN_S
        for thread in threading.enumerate():
            if thread is threading.main_thread() or thread.daemon:
                continue
            thread.join(max(0.0, until - time.monotonic()))
    except BaseException:
        pass
    try:
        import atexit

        atexit._run_exitfuncs()
    except BaseException:
        pass
    try:
        import _io

        # Flushed before collecting: CPython can lose the buffer of a file in a reference cycle
        # when the collector breaks it (bpo-17852), which a spawned kernel does too.
        # _io._IOBase, the C base every file object derives from (io.IOBase's Python subclasses
        # too), rather than the io.IOBase ABC: what a teardown flushes is what that base's finalizer
        # closes, and an ABC check of each new type costs ~2.5 ms over a used kernel's objects.
        for obj in gc.get_objects():
            if isinstance(obj, _io._IOBase):
                try:
                    if not obj.closed:
                        obj.flush()
                except Exception:
                    pass
        gc.collect()
    except BaseException:
        pass
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except Exception:
            pass
    _remove_private_files()
    os._exit(code)


def _remove_private_files():
    """Removes what the kernel made in the folder nbhook gave it (src/kernel/launch.ts: the
    connection file's folder, IPYTHONDIR its ``ipython`` subfolder): the IPython profile (a dozen
    folders and files) and the ipc socket files. nbhook removes the folder after the kernel's exit
    anyway; done here, with C-level calls off the server's event loop, it costs the server a
    folder of one file (the kernel's log, which it reads for error messages) instead of ~17 entries.
    Nothing a notebook can see: the kernel is done with them."""
    try:
        import shutil

        kernelapp = sys.modules.get("ipykernel.kernelapp")
        app_class = getattr(kernelapp, "IPKernelApp", None)
        if app_class is None or not app_class.initialized():
            return
        app = app_class.instance()
        folder = os.path.dirname(os.path.abspath(app.connection_file))
        if os.path.abspath(app.ipython_dir) == os.path.join(folder, "ipython"):
            shutil.rmtree(app.ipython_dir, ignore_errors=True)
        if app.transport == "ipc" and os.path.dirname(os.path.abspath(app.ip)) == folder:
            for port in (app.shell_port, app.iopub_port, app.stdin_port, app.control_port, app.hb_port):
                try:
                    os.unlink("%s-%s" % (app.ip, port))
                except OSError:
                    pass
    except Exception:
        pass


if __name__ == "__main__":
    sys.exit(main())
