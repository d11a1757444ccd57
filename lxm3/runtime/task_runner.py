"""The task runner: what every job script on every backend executes.

This file is copied verbatim to the cluster (content-addressed) and run there
with the cluster's `python3`, so it uses the standard library only and works
on Python 3.6+. One task model for every backend:

    python3 task_runner.py JOB_SPEC.json TASK_ID

1. looks up task TASK_ID's args and env in the job's task table in O(1): an
   8-byte offset index (`tasks.idx`) points into a JSON-lines file
   (`tasks.jsonl`), so a 100,000-task sweep costs each task one seek;
2. makes a fresh working directory and extracts the code archive into it;
3. runs the entrypoint with the args as an argv list (never through a shell,
   so every byte arrives as given; only `ShellSafeArg` items are expanded, by
   bash, on purpose), stdout/stderr going to the task's own log files;
4. forwards SIGTERM/SIGINT (scancel, qdel, Ctrl-C) to the program, removes the
   working directory and exits with the program's exit code.
"""

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
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


def expand_args(items, env):
    """Plain strings pass through untouched; `{"sh": text}` items are expanded by bash."""
    argv = []
    for item in items:
        if isinstance(item, dict):
            out = subprocess.run(
                ["bash", "-c", 'printf "%s\\0" ' + item[SHELL_ITEM_KEY]],
                env=env,
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


def container_argv(container, workdir, env, argv):
    """Wraps argv for Singularity/Apptainer: bind and use the workdir, pass env by prefix."""
    runtime = container["runtime"]
    prefix = "APPTAINERENV_" if os.path.basename(runtime).startswith("apptainer") else "SINGULARITYENV_"
    for key in container.get("env_keys", []):
        if key in env:
            env[prefix + key] = env[key]
    command = [runtime, "exec"]
    if container.get("nv"):
        command.append("--nv")
    command += ["--bind", "%s:%s" % (workdir, workdir), "--pwd", workdir]
    for src, dst in container.get("bind", []):
        command += ["--bind", "%s:%s" % (src, dst)]
    command += list(container.get("options", []))
    command.append(container["image"])
    return command + argv


def resolve(base, path):
    return path if os.path.isabs(path) else os.path.join(base, path)


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: task_runner.py JOB_SPEC.json TASK_ID\n")
        return 2
    spec_path = os.path.abspath(argv[1])
    task_id = int(argv[2])
    base = os.path.dirname(spec_path)
    with open(spec_path, "rb") as handle:
        spec = json.loads(handle.read().decode("utf-8"))
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

    log_dir = spec.get("log_dir")
    stdout = stderr = None
    if log_dir:
        log_dir = resolve(base, log_dir)
        stdout = open(os.path.join(log_dir, "%d.out" % task_id), "ab")
        stderr = open(os.path.join(log_dir, "%d.err" % task_id), "ab")

    child = None

    def forward(signum, _frame):
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    try:
        if spec.get("archive"):
            extract_archive(resolve(base, spec["archive"]), workdir)
        if spec["entrypoint"]["kind"] == "module":
            paths = [workdir] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
            env["PYTHONPATH"] = os.pathsep.join(paths)
        program = entrypoint_argv(spec, expand_args(record.get("args", []), env))
        if spec.get("container"):
            keys = sorted(set(spec.get("env", {})) | set(record.get("env", {})) | {"LXM_TASK_ID", "LXM_NUM_TASKS", "LXM_WORKDIR", "PYTHONPATH"})
            container = dict(spec["container"], env_keys=keys)
            program = container_argv(container, workdir, env, program)
        try:
            child = subprocess.Popen(program, cwd=workdir, env=env, stdout=stdout, stderr=stderr)
        except OSError as error:
            (stderr or sys.stderr.buffer).write(("lxm3: cannot start %r: %s\n" % (program[0], error)).encode())
            code = 127
        else:
            code = child.wait()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        for handle in (stdout, stderr):
            if handle is not None:
                handle.close()
    code = 128 - code if code < 0 else code
    if log_dir:
        write_exit_code(log_dir, task_id, code)
    return code


def write_exit_code(log_dir, task_id, code):
    """Leaves `<task>.exit` as the completion signal, atomically (temp, then rename)."""
    final = os.path.join(log_dir, "%d.exit" % task_id)
    temporary = final + ".tmp%d" % os.getpid()
    with open(temporary, "w") as handle:
        handle.write("%d\n" % code)
    os.rename(temporary, final)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
