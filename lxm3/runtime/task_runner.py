"""The task runner: what every job script on every backend executes.

This module and its three siblings are shipped to the cluster (content-addressed)
and run there with the cluster's `python3`, so they use the standard library only
and work on Python 3.6+. One task model for every backend:

    python3 task_runner.py JOB_SPEC.json TASK_ID
    python3 task_runner.py JOB_SPEC.json [--parallel N] TASK_ID TASK_ID...   (a packed array task)

1. looks up task TASK_ID's args and env in the job's task table in O(1): an
   8-byte offset index (`tasks.idx`) points into a JSON-lines file
   (`tasks.jsonl`), so a 100,000-task sweep costs each task one seek;
2. makes a fresh working directory and extracts the code archive into it;
3. runs the entrypoint with the args as an argv list (never through a shell,
   so every byte arrives as given; only `ShellSafeArg` items are expanded, by
   bash, on purpose), stdout/stderr going to the task's own log files;
4. forwards SIGTERM/SIGINT (scancel, qdel, Ctrl-C) to the program, copies the
   job's after-files (globs in the work dir) into the task's output dir whatever
   the exit code, removes the working directory and exits with the program's
   exit code.

Every task has an output dir that outlives the work dir,
`<job dir>/outputs/<task>/` (`LXM_OUTPUT_DIR`, created before the program
starts), and a metrics file in it that the program may append JSON lines to
(`LXM_METRICS_FILE`, see `lxm3.report`).

With a `container` in the job spec, step 3 runs the program inside a
Singularity/Apptainer (or, locally, Docker/Podman) container instead
(`runner_containers`); a job that waits on others first checks that its
dependency still holds (`runner_dependencies`); outputs and after-files are
`runner_outputs`. Those modules ship with this one in one content-addressed
zip (`lxm3.runtime.shipped_runner`), run as `python3 task_runner-<sha>.pyz`.
"""

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import typing  # noqa: F401 - used in type comments (py3.6-compatible)
import zipfile

if __package__:  # imported as lxm3.runtime.task_runner, by lxm3 itself and its tests
    from . import runner_containers, runner_dependencies, runner_outputs
else:  # `python3 task_runner.py` or the shipped zip: the runner's modules sit beside this one
    import runner_containers  # type: ignore[import-not-found, no-redef]
    import runner_dependencies  # type: ignore[import-not-found, no-redef]
    import runner_outputs  # type: ignore[import-not-found, no-redef]

# The names lxm3 0.5 offered here, where callers (and the runner below) still find them.
SINGULARITY_BINARIES = runner_containers.SINGULARITY_BINARIES
DOCKER_BINARIES = runner_containers.DOCKER_BINARIES
ContainerError = runner_containers.ContainerError
find_container_binary = runner_containers.find_container_binary
singularity_env_prefix = runner_containers.singularity_env_prefix
version_supports_no_eval = runner_containers.version_supports_no_eval
probe_no_eval = runner_containers.probe_no_eval
container_argv = runner_containers.container_argv
container_env = runner_containers.container_env
task_env_keys = runner_containers.task_env_keys
wrap_in_container = runner_containers.wrap_in_container
METRICS_NAME = runner_outputs.METRICS_NAME
output_dir_of = runner_outputs.output_dir_of
copy_after_files = runner_outputs.copy_after_files
copy_one = runner_outputs.copy_one
resolve = runner_outputs.resolve
DEPENDENCY_NOT_MET = runner_dependencies.DEPENDENCY_NOT_MET
read_exit_file = runner_dependencies.read_exit_file
term_holds = runner_dependencies.term_holds
term_codes = runner_dependencies.term_codes
unmet_reason = runner_dependencies.unmet_reason
dependency_block = runner_dependencies.dependency_block

INDEX_ENTRY = struct.Struct("<Q")
SHELL_ITEM_KEY = "sh"


def read_task(table_path, index_path, task_id):
    """Returns the task's record `{"args": [...], "env": {...}}` by direct seek."""
    with open(index_path, "rb") as index:
        index.seek(task_id * INDEX_ENTRY.size)
        raw = index.read(INDEX_ENTRY.size)
    if len(raw) != INDEX_ENTRY.size:
        raise IndexError("task %d is not in %s" % (task_id, index_path))
    (offset,) = INDEX_ENTRY.unpack(raw)
    with open(table_path, "rb") as table:
        table.seek(offset)
        return json.loads(table.readline().decode("utf-8"))


def expand_args(items, env, cwd=None):
    """Plain strings pass through untouched; `{"sh": text}` items are expanded by bash.

    Expansion happens in the task's work dir (so `$PWD` and globs see it), and
    an item that expands to no words (an unset variable) adds no argument, as
    on a shell command line.
    """
    argv = []  # type: list
    for item in items:
        if isinstance(item, dict):
            out = subprocess.run(
                ["bash", "-c", "set -- " + item[SHELL_ITEM_KEY] + '\n[ "$#" -eq 0 ] || printf "%s\\0" "$@"'],
                env=env,
                cwd=cwd,
                stdout=subprocess.PIPE,
                check=True,
            ).stdout
            argv.extend(os.fsdecode(part) for part in out.split(b"\0")[:-1])
        else:
            argv.append(item)
    return argv


def extract_archive(archive, destination):
    """Extracts a zip keeping the executable bits (zipfile alone drops them)."""
    with zipfile.ZipFile(archive) as bundle:
        for info in bundle.infolist():
            path = bundle.extract(info, destination)
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                os.chmod(path, mode)


def entrypoint_argv(spec, args):
    """The program's argv for the job's entrypoint kind."""
    entry = spec["entrypoint"]
    if entry["kind"] == "module":
        return [spec.get("python") or "python3", "-m", entry["module"]] + args
    if entry["kind"] == "commands":
        script = "\n".join(entry["commands"])
        # The job's args are appended to the last command, unless it takes them itself.
        if not script.rstrip().endswith("$@") and not script.rstrip().endswith('"$@"'):
            script += ' "$@"'
        return ["bash", "-c", script, "lxm3-task"] + args
    if entry["kind"] == "argv":
        return list(entry["argv"]) + args
    raise ValueError("unknown entrypoint kind %r" % (entry["kind"],))


def run_pack(spec_path, task_ids, parallel):
    """Runs several sweep tasks in one array task: each as its own runner process.

    Each task keeps everything a lone task has (its LXM_TASK_ID, args, env,
    work dir, logs and `<task>.exit`), because each is this runner again with
    one task id. Up to `parallel` run at once, in task order. A stop signal
    (scancel, qdel) is forwarded to the running ones and starts no further
    task; the pack then dies of it. Otherwise the pack exits 0 when every task
    did, else with the first failed task's code (each task's own code is in its
    exit file, which is what lxm3 reads).
    """
    running = {}  # type: dict
    codes = {}  # type: dict
    received = []

    def forward(signum, _frame):
        received.append(signum)
        for process in list(running.values()):
            if process.poll() is None:
                process.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    queue = list(task_ids)
    while queue or running:
        while queue and len(running) < parallel and not received:
            process = subprocess.Popen([sys.executable, own_path(), spec_path, str(queue[0])])
            running[process.pid] = process
            codes[queue.pop(0)] = process
        if received:
            queue = []
        if running:
            pid, status = os.wait()  # whichever task ends first (retried after a signal, PEP 475)
            process = running.pop(pid, None)
            if process is not None:
                process.returncode = -(status & 0x7F) if status & 0x7F else (status >> 8) & 0xFF
    if received:
        signal.signal(received[0], signal.SIG_DFL)
        os.kill(os.getpid(), received[0])
    for task_id in task_ids:
        code = codes[task_id].returncode
        if code:
            return 128 - code if code < 0 else code
    return 0


def own_path():
    """What `python3 PATH` runs as this runner again: this file, or the shipped zip holding it."""
    here = os.path.abspath(__file__)
    folder = os.path.dirname(here)
    return folder if os.path.isfile(folder) else here


def parse_pack(args):
    """`[--parallel N] TASK TASK...` -> (task ids, parallelism)."""
    parallel = 1
    if args[:1] == ["--parallel"]:
        parallel = max(1, int(args[1]))
        args = args[2:]
    return [int(arg) for arg in args], parallel


def main(argv):
    if len(argv) > 3:
        task_ids, parallel = parse_pack(argv[2:])
        return run_pack(os.path.abspath(argv[1]), task_ids, parallel)
    if len(argv) != 3:
        sys.stderr.write("usage: task_runner.py JOB_SPEC.json [--parallel N] TASK_ID [TASK_ID...]\n")
        return 2
    child = None
    pending = []  # signals that arrived while no program was running to receive them

    received = []  # every stop signal that reached the runner

    def forward(signum, _frame):
        received.append(signum)
        if child is not None and child.poll() is None:
            child.send_signal(signum)
        else:
            pending.append(signum)

    # First of all, so a cancel that comes while the task is prepared is never lost.
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)

    def warn(signum, _frame):
        # A warning before the walltime or a suspend (Slurm --signal=B:USR1@60, Grid Engine
        # -notify): the program may checkpoint; the runner itself carries on.
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    for name in ("SIGUSR1", "SIGUSR2", "SIGURG"):
        signal.signal(getattr(signal, name), warn)
    spec_path = os.path.abspath(argv[1])
    task_id = int(argv[2])
    base = os.path.dirname(spec_path)
    with open(spec_path, "rb") as handle:
        spec = json.loads(handle.read().decode("utf-8"))
    log_dir = spec.get("log_dir")
    if spec.get("dependency"):
        reason = dependency_block(spec["dependency"], task_id)
        if reason is not None:
            return not_run(resolve(base, log_dir) if log_dir else None, task_id, reason)
    record = read_task(resolve(base, spec["table"]), resolve(base, spec["index"]), task_id)

    env = dict(os.environ)
    env.update(spec.get("env", {}))
    env.update(record.get("env", {}))
    env["LXM_TASK_ID"] = str(task_id)
    env["LXM_NUM_TASKS"] = str(spec.get("num_tasks", ""))

    workdir_root = spec.get("workdir_root") or env.get("TMPDIR") or tempfile.gettempdir()
    if not os.path.isdir(workdir_root):
        workdir_root = tempfile.gettempdir()
    workdir = tempfile.mkdtemp(prefix="lxm3-%s-%d-" % (spec.get("name", "task"), task_id), dir=workdir_root)
    env["LXM_WORKDIR"] = workdir
    output_dir = output_dir_of(spec, base, task_id)
    # makedirs' mode covers only the last folder: `outputs/` itself is made private first.
    for folder in (os.path.dirname(output_dir), output_dir):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            pass
    env["LXM_OUTPUT_DIR"] = output_dir
    env["LXM_METRICS_FILE"] = os.path.join(output_dir, METRICS_NAME)

    stdout = stderr = None  # type: typing.Optional[typing.BinaryIO]
    if log_dir:
        log_dir = resolve(base, log_dir)
        stdout = open_private(os.path.join(log_dir, "%d.out" % task_id))
        stderr = open_private(os.path.join(log_dir, "%d.err" % task_id))

    try:
        if spec.get("archive"):
            extract_archive(resolve(base, spec["archive"]), workdir)
        if spec["entrypoint"]["kind"] == "module":
            paths = [workdir] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
            env["PYTHONPATH"] = os.pathsep.join(paths)
        program = entrypoint_argv(spec, expand_args(record.get("args", []), env, workdir))
        try:
            if spec.get("container"):
                program, env = wrap_in_container(
                    spec["container"], workdir, env, task_env_keys(spec, record), program, [output_dir]
                )
            if not pending:  # cancelled (scancel, qdel, Ctrl-C) while preparing: never start
                child = subprocess.Popen(program, cwd=workdir, env=env, stdout=stdout, stderr=stderr)
        except ContainerError as error:
            (stderr or sys.stderr.buffer).write(("lxm3: container: %s\n" % (error,)).encode())
            code = 127
        except OSError as error:
            (stderr or sys.stderr.buffer).write(
                ("lxm3: cannot start %r: %s\n" % (program[0], error)).encode()
            )
            code = 127
        else:
            if child is not None and pending:  # the signal came just as the program started
                child.send_signal(pending[0])
            code = child.wait() if child is not None else -pending[0]
    except Exception as error:  # noqa: BLE001 - preparing failed (bad archive, shell arg): say so, exit 126
        (stderr or sys.stderr.buffer).write(
            ("lxm3: cannot prepare task %d: %s\n" % (task_id, error)).encode()
        )
        code = 126
    finally:
        for problem in copy_after_files(workdir, spec.get("after_files") or [], output_dir):
            (stderr or sys.stderr.buffer).write(("lxm3: after-files: %s\n" % (problem,)).encode())
        shutil.rmtree(workdir, ignore_errors=True)
        for log_handle in (stdout, stderr):
            if log_handle is not None:
                log_handle.close()
    code = 128 - code if code < 0 else code
    if log_dir:
        write_exit_code(log_dir, task_id, code)
    if received and code == 128 + received[0]:
        # Stopped by the scheduler (scancel, qdel) or Ctrl-C: die of the same signal, as
        # the job would have without a runner, so the scheduler reports it CANCELLED
        # rather than FAILED with exit code 143.
        signal.signal(received[0], signal.SIG_DFL)
        os.kill(os.getpid(), received[0])
    return code


def not_run(log_dir, task_id, reason):
    """Ends a task whose dependency can never hold, without running its program."""
    message = ("lxm3: task %d not run: %s\n" % (task_id, reason)).encode("utf-8")
    if log_dir:
        with open(os.path.join(log_dir, "%d.err" % task_id), "ab") as handle:
            handle.write(message)
        write_exit_code(log_dir, task_id, DEPENDENCY_NOT_MET)
    sys.stderr.write(message.decode("utf-8"))
    return DEPENDENCY_NOT_MET


def open_private(path):
    """Opens a log for appending, created 0600 (the program may print secrets); umask untouched."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")


def write_exit_code(log_dir, task_id, code):
    """Leaves `<task>.exit` as the completion signal, atomically (temp, then rename)."""
    final = os.path.join(log_dir, "%d.exit" % task_id)
    temporary = final + ".tmp%d" % os.getpid()
    with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
        handle.write("%d\n" % code)
    os.rename(temporary, final)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
