"""The task runner: what every job script on every backend executes.

This file is copied verbatim to the cluster (content-addressed) and run there
with the cluster's `python3`, so it uses the standard library only and works
on Python 3.6+. One task model for every backend:

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
Singularity/Apptainer (or, locally, Docker/Podman) container instead: the
runtime binary is found here at run time, the working directory is bound at
the same path and used as the container's cwd, args stay an argv list, and
the task's env reaches the program through the runtime's own channels
(APPTAINERENV_/SINGULARITYENV_ with `--no-eval`, or `docker run -e KEY`).
"""

import glob
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


#: Singularity-family runtimes, in the order the runner looks for them on PATH.
SINGULARITY_BINARIES = ("apptainer", "singularity")
#: Docker-family runtimes (Local executor only), in the same sense.
DOCKER_BINARIES = ("docker", "podman")


class ContainerError(RuntimeError):
    """The container runtime cannot be found or the container spec is unusable."""


def find_container_binary(container, env, which=shutil.which):
    """The runtime to run: $LXM3_SINGULARITY_BINARY (or $LXM3_DOCKER_BINARY), else the
    configured binary, else the first of apptainer/singularity (docker/podman) on PATH.

    Resolved here, on the execution host at run time, because only this host
    knows what its PATH (after `module load`, say) holds.
    """
    docker = container.get("runtime") == "docker"
    variable = "LXM3_DOCKER_BINARY" if docker else "LXM3_SINGULARITY_BINARY"
    explicit = [(env.get(variable), "$" + variable), (container.get("binary"), "the cluster config")]
    for choice, source in explicit:
        if choice:
            found = which(choice, path=env.get("PATH"))
            if not found:
                raise ContainerError(
                    "container runtime %r (from %s) is not an executable on this host" % (choice, source)
                )
            return found
    candidates = DOCKER_BINARIES if docker else SINGULARITY_BINARIES
    for name in candidates:
        found = which(name, path=env.get("PATH"))
        if found:
            return found
    raise ContainerError(
        "none of %s is on PATH on this host; set [clusters.singularity] binary in the lxm3 config or $%s"
        % (", ".join(candidates), variable)
    )


def singularity_env_prefix(binary):
    """APPTAINERENV_ for Apptainer (also when reached through a `singularity` symlink)."""
    real = os.path.basename(os.path.realpath(binary))
    return (
        "APPTAINERENV_"
        if "apptainer" in real or "apptainer" in os.path.basename(binary)
        else "SINGULARITYENV_"
    )


def version_supports_no_eval(version_text):
    """Whether `--version` output names a runtime with `--no-eval` (Apptainer >= 1.1, SingularityCE >= 3.10).

    Without it the runtime shell-evaluates SINGULARITYENV_/APPTAINERENV_ values
    (`$HOME` would expand), so values would not arrive byte for byte.
    """
    words = version_text.strip().split()
    if len(words) < 3 or words[1] != "version":
        return False
    try:
        numbers = [int(part) for part in words[2].split("-")[0].split(".")[:2]]
    except ValueError:
        return False
    if len(numbers) < 2:
        return False
    if words[0] == "apptainer":
        return numbers >= [1, 1]
    if words[0] == "singularity-ce":
        return numbers >= [3, 10]
    return False


def probe_no_eval(binary, env):
    try:
        out = subprocess.run(
            [binary, "--version"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=60
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return version_supports_no_eval(out.stdout.decode("utf-8", "replace"))


def container_argv(container, binary, workdir, env_keys, argv, no_eval=True):
    """The command that runs argv in the container, with workdir bound and used as cwd.

    Singularity/Apptainer: `BIN exec|run [--nv] [--no-eval] --bind W:W --pwd W
    [--bind SRC:DST]... [OPTIONS] IMAGE ARGV`; the env travels in prefixed
    variables (see container_env). Docker/Podman: `BIN run --rm --init [--gpus all]
    [--user UID:GID] -v W:W -w W [-e KEY]... [-v SRC:DST]... [OPTIONS]
    [--entrypoint ARGV0] IMAGE ARGV...`; `-e KEY` without a value makes the
    client copy KEY from its own environment, byte for byte.
    """
    options = list(container.get("options", []))
    binds = [tuple(pair) for pair in container.get("bind", [])]
    for src, dst in [(workdir, workdir)] + binds:
        # dst may carry mount options (`/data:ro`); paths themselves cannot hold ':' or ','.
        if ":" in src or "," in src + dst:
            raise ContainerError(
                "bind %r -> %r: a path contains ':' or ',', which the runtime cannot parse" % (src, dst)
            )
    if container.get("runtime") == "docker":
        command = [binary, "run", "--rm", "--init"]
        if container.get("nv"):
            command += ["--gpus", "all"]
        user_given = any(o in ("-u", "--user") or o.startswith("--user=") for o in options)
        if os.path.basename(binary).startswith("docker") and not user_given:
            # Files the task writes in the shared workdir stay the user's (rootless podman maps this itself).
            command += ["--user", "%d:%d" % (os.getuid(), os.getgid())]
        command += ["-v", "%s:%s" % (workdir, workdir), "-w", workdir]
        for key in env_keys:
            command += ["-e", key]
        for src, dst in binds:
            command += ["-v", "%s:%s" % (src, dst)]
        command += options
        if container.get("verb", "exec") == "exec" and argv:
            return command + ["--entrypoint", argv[0], container["image"]] + list(argv[1:])
        return command + [container["image"]] + list(argv)
    command = [binary, container.get("verb", "exec")]
    if container.get("nv"):
        command.append("--nv")
    if no_eval and "--no-eval" not in options:
        command.append("--no-eval")
    command += ["--bind", "%s:%s" % (workdir, workdir), "--pwd", workdir]
    for src, dst in binds:
        command += ["--bind", "%s:%s" % (src, dst)]
    command += options
    command.append(container["image"])
    return command + list(argv)


def container_env(container, binary, env, env_keys):
    """The client's environment: for Singularity/Apptainer each task variable also as
    APPTAINERENV_KEY (SINGULARITYENV_KEY), so it wins over the image's own value."""
    result = dict(env)
    if container.get("runtime") != "docker":
        prefix = singularity_env_prefix(binary)
        for key in env_keys:
            if key in env:
                result[prefix + key] = env[key]
    return result


def task_env_keys(spec, record):
    """The variables lxm3 sets for the task (not the host's), which must reach the container."""
    keys = (
        set(spec.get("env", {}))
        | set(record.get("env", {}))
        | {"LXM_TASK_ID", "LXM_NUM_TASKS", "LXM_WORKDIR", "LXM_OUTPUT_DIR", "LXM_METRICS_FILE"}
    )
    if spec["entrypoint"]["kind"] == "module":
        keys.add("PYTHONPATH")
    return sorted(keys)


def wrap_in_container(container, workdir, env, env_keys, argv, same_paths=()):
    """(argv, env) that run the program in the job's container on this host.

    `same_paths` (the task's output dir) are bound at the same path, so
    LXM_OUTPUT_DIR and LXM_METRICS_FILE mean the same inside and out.
    """
    binary = find_container_binary(container, env)
    no_eval = container.get("runtime") != "docker" and probe_no_eval(binary, env)
    container = dict(container, bind=list(container.get("bind", [])) + [[p, p] for p in same_paths])
    command = container_argv(container, binary, workdir, env_keys, argv, no_eval=no_eval)
    return command, container_env(container, binary, env, env_keys)


METRICS_NAME = "metrics.jsonl"


def output_dir_of(spec, base, task_id):
    """`<job dir>/outputs/<task>`: where the task's results stay after the work dir is gone."""
    return os.path.join(resolve(base, spec.get("outputs") or "outputs"), str(task_id))


def copy_after_files(workdir, patterns, output_dir):
    """Copies what `patterns` (globs relative to the work dir) match into output_dir.

    Paths keep their place below the work dir (`eval/*.json` -> `<out>/eval/x.json`);
    matches outside the work dir (`../x`, symlinks out) are skipped. Returns the
    problems met, one line each, so one unreadable file does not lose the others.
    """
    problems = []
    root = os.path.realpath(workdir)
    for pattern in patterns:
        for match in sorted(glob.glob(os.path.join(glob.escape(workdir), pattern), recursive=True)):
            real = os.path.realpath(match)
            if real == root or not real.startswith(root + os.sep):
                continue
            relative = os.path.relpath(match, workdir)
            try:
                if os.path.isdir(match):
                    for folder, _, names in os.walk(match):
                        for name in names:
                            source = os.path.join(folder, name)
                            copy_one(source, os.path.join(output_dir, os.path.relpath(source, workdir)))
                else:
                    copy_one(match, os.path.join(output_dir, relative))
            except OSError as error:
                problems.append("cannot copy %s: %s" % (relative, error))
    return problems


def copy_one(source, destination):
    """Copies a file under a temporary name, then renames it: a reader never sees half of it."""
    parent = os.path.dirname(destination)
    os.makedirs(parent, exist_ok=True)
    temporary = os.path.join(parent, ".lxm3-%d-%s" % (os.getpid(), os.path.basename(destination)))
    shutil.copy2(source, temporary)
    os.rename(temporary, destination)


def resolve(base, path):
    return path if os.path.isabs(path) else os.path.join(base, path)


#: The exit code of a task that never ran because its dependency can no longer hold;
#: lxm3 reports such a task CANCELLED with the reason (never FAILED).
DEPENDENCY_NOT_MET = 121


def read_exit_file(log_dir, task_id):
    """The code in `<log_dir>/<task>.exit`, or None when the task left none (never ran, killed)."""
    try:
        with open(os.path.join(log_dir, "%d.exit" % task_id)) as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def term_holds(condition, codes):
    """Whether a condition holds for a unit whose tasks ended with `codes` (None: no exit file).

    Only called once the scheduler says every task of the unit ended, so a
    missing exit file means the task was cancelled or killed: not a success.
    """
    if condition == "succeeded":
        return all(code == 0 for code in codes)
    if condition == "failed":
        return any(code != 0 for code in codes)
    return True  # finished, started: the scheduler's hold already established them


def term_codes(term, task_id, read_code=read_exit_file):
    """The exit codes a term looks at: every task of its unit, or only task `task_id` (per task)."""
    codes = []
    for job in term["jobs"]:
        if term.get("per_task"):
            codes.append(read_code(job["log_dir"], task_id))
        else:
            codes.extend(read_code(job["log_dir"], task) for task in range(job["num_tasks"]))
    return codes


def unmet_reason(term):
    """Why a term can never hold, in the words `lxm3 status` shows."""
    if term["condition"] == "failed":
        return "dependency on %s did not fail" % (term["what"],)
    return "dependency on %s failed" % (term["what"],)


def dependency_block(dependency, task_id, read_code=read_exit_file):
    """None when the job spec's dependency holds for this task, else the reason it never will.

    The scheduler held the task until the units it waits on ended; what it
    could not check itself (Grid Engine's holds wait for any end; a split
    array's "failed") is checked here, from the units' recorded exit files.
    """
    terms = dependency.get("terms", [])
    results = [(term, term_holds(term["condition"], term_codes(term, task_id, read_code))) for term in terms]
    if not results:
        return None
    if dependency.get("mode") == "any":
        return None if any(ok for _, ok in results) else unmet_reason(results[0][0])
    for term, ok in results:
        if not ok:
            return unmet_reason(term)
    return None


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
            process = subprocess.Popen([sys.executable, os.path.abspath(__file__), spec_path, str(queue[0])])
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
