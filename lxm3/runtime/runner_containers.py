"""The task runner's container step: find the runtime on this host and wrap the program in it.

Split from `task_runner.py` (shipped with it in the runner's zip). A job spec
with a `container` runs the program inside Singularity/Apptainer (or, locally,
Docker/Podman): the runtime binary is found here at run time, the working
directory is bound at the same path and used as the container's cwd, args stay
an argv list, and the task's env reaches the program through the runtime's own
channels (APPTAINERENV_/SINGULARITYENV_ with `--no-eval`, or `docker run -e KEY`).

It runs on the execution host as part of the task runner: standard library
only, Python 3.6+ (no f-strings, no annotations), like `task_runner.py`.
"""

import os
import shutil
import subprocess

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
