#!/usr/bin/env python3
"""lxm3 benchmarks: this checkout ("ours") against the peer, lxm3 0.4.2 from PyPI.

    python benchmarks/run.py            # full: 5 runs per paired measure
    python benchmarks/run.py --quick    # 3 runs per paired measure, < 10 min on 2 cores
    python benchmarks/run.py --tiny     # CI smoke test: small sizes, 1 run, < 2 min;
                                        # only checks the harness works end to end

Everything runs against the real testbed (tests/testbed: Slurm with
MaxArraySize=101, 4 CPUs; brought up here if needed). Each tool runs in its own
venv and process (both import as `lxm3`): ours from /work/main/.venv (made by
`scripts/pdm.sh install` if missing), the peer from benchmarks/.venvs/lxm3-0.4.2.
Both launch the SAME script, benchmarks/launcher.py, against the SAME login
node: a second sshd on 127.0.0.1:22 (benchmarks/peer_sshd.sh), because the peer
can reach nothing else. See benchmarks/README.md for what each measure means.

Prints a table, writes benchmarks/results/latest.json, and ends with the line
`P1=.. P1b=.. P2=.. P3=.. P4=.. P5=.. P6=../.. P6f=.. P7=.. P7l=..`. The stdlib is all it needs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "benchmarks"
VENVS = BENCH / ".venvs"
RESULTS = BENCH / "results"
WORK = Path(os.environ.get("LXM_BENCH_WORK", "/tmp/lxm3-bench"))
TB_SSH_DIR = Path(os.environ.get("TESTBED_SSH_DIR", "/tmp/lxm3-testbed/ssh"))
PEER_SSH_DIR = WORK / "peer-ssh"
KEY = TB_SSH_DIR / "id_ed25519"
PEER_VERSION = "0.4.2"
PEER_VENV = VENVS / f"lxm3-{PEER_VERSION}"
OURS_VENV = REPO / ".venv"
JOB_NAME = "lxmbench"  # every benchmark job's Slurm name contains it; cleanup cancels by it
PROJECT_VERSION = "3"  # bump when generate_project changes

MODES: dict[str, dict[str, Any]] = {
    "full": dict(
        runs=5,
        tasks=1000,
        p3_sizes=[1, 100, 10000],
        p4_sizes=(10, 10000),
        polls=5,
        p4_reps=40,
        p5_runs=20,
        p6_tasks=100_000,
        p6_runs=3,
    ),
    "quick": dict(
        runs=3,
        tasks=1000,
        p3_sizes=[1, 100, 10000],
        p4_sizes=(10, 10000),
        polls=3,
        p4_reps=20,
        p5_runs=10,
        p6_tasks=100_000,
        p6_runs=3,
    ),
    "tiny": dict(
        runs=1,
        tasks=50,
        p3_sizes=[1, 10, 250],
        p4_sizes=(10, 250),
        polls=2,
        p4_reps=3,
        p5_runs=3,
        p6_tasks=2000,
        p6_runs=1,
    ),
}
#: Run dirs whose launches share WORK/warm-cache (they measure something other than packaging).
WARM_CACHE_RUNS = frozenset({"p3", "p6", "profile-warm"})
TARGETS = {
    "P1": 0.4,
    "P1b": 1.0,
    "P2": 2.0,
    "P3": 1,
    "P4": 1.2,
    "P5": 0.5,
    "P6_seconds": 2.0,
    "P6_mb": 200.0,
    "P6f": 1.2,
    "P7": 1.0,
    "P7l": 0.3,
}
#: Sweep tasks per array task in P6's packed launches (100,000 tasks -> 100 array tasks, one sbatch).
P6_PACK = 1000

_T0 = time.perf_counter()


class BenchError(RuntimeError):
    pass


def log(message: str) -> None:
    print(f"[bench {time.perf_counter() - _T0:7.1f}s] {message}", file=sys.stderr, flush=True)


def median(values: list[float]) -> float:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(values) if values else float("nan")


def run(argv: list[str], *, check: bool = True, **kwargs: Any) -> subprocess.CompletedProcess:
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    result = subprocess.run(argv, **kwargs)
    if check and result.returncode != 0:
        detail = ((result.stderr or "") + (result.stdout or "")).strip().splitlines()[-15:]
        raise BenchError(
            f"{shlex.join(map(str, argv))[:200]} failed ({result.returncode}):\n" + "\n".join(detail)
        )
    return result


# ---------------------------------------------------------------- byte-counting relay
class Relay:
    """A TCP relay 127.0.0.1:<port> -> 127.0.0.1:<target> that counts the bytes each way.

    Ours reaches the login node through it (ssh_config Host `benchcluster`), so
    the bytes it sends over SSH are counted on the wire: encrypted payload,
    handshake, commands and rsync alike.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.up = 0
        self.down = 0
        self.active = 0
        self.accepted = 0  # connections made through the relay (each is an SSH handshake)
        self._lock = threading.Lock()
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(64)
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.active += 1
                self.accepted += 1
            state = {"open": 2}
            threading.Thread(target=self._pump, args=(client, upstream, "up", state), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, "down", state), daemon=True).start()

    def _pump(
        self, source: socket.socket, sink: socket.socket, direction: str, state: dict[str, int]
    ) -> None:
        try:
            while True:
                data = source.recv(1 << 16)
                if not data:
                    break
                sink.sendall(data)
                with self._lock:
                    setattr(self, direction, getattr(self, direction) + len(data))
        except OSError:
            pass
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        with self._lock:
            state["open"] -= 1
            if state["open"] == 0:
                self.active -= 1
                source.close()
                sink.close()

    def counters(self, settle: float = 0.3) -> tuple[int, int]:
        """(up, down) once no relayed connection is open (or after `settle` seconds)."""
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline:
            with self._lock:
                if self.active == 0:
                    break
            time.sleep(0.02)
        with self._lock:
            return self.up, self.down


# ---------------------------------------------------------------- the project both tools package
def generate_project(root: Path) -> None:
    """A realistic ML project: 150 generated modules (~2 MB of code), ~4.5 MB of data, a git repo.

    Deterministic (fixed seed), so every run packages the same bytes. Data:
    `benchproj/data/weights.bin` (4 MiB of incompressible pseudo-random bytes,
    like float weights) and `vocab.json` (~0.5 MB of text), shipped as package
    data. `benchproj/train.py` writes its first-line timestamp for P4.
    """
    import random

    marker = root / ".benchproj-version"
    if marker.is_file() and marker.read_text() == PROJECT_VERSION:
        return
    if root.exists():
        shutil.rmtree(root)
    rng = random.Random(20240601)
    pkg = root / "benchproj"
    (pkg / "models").mkdir(parents=True)
    (pkg / "data").mkdir()
    (root / "pyproject.toml").write_text(
        '[project]\nname = "benchproj"\nversion = "0.1.0"\nrequires-python = ">=3.8"\n\n'
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
        '[tool.setuptools]\npackages = ["benchproj", "benchproj.models"]\n\n'
        '[tool.setuptools.package-data]\nbenchproj = ["data/*.bin", "data/*.json"]\n'
    )
    (root / ".gitignore").write_text("build/\n*.egg-info/\n__pycache__/\n")
    (pkg / "__init__.py").write_text("")
    (pkg / "models" / "__init__.py").write_text("")
    (pkg / "train.py").write_text(
        "import time\n"
        "_T1 = time.time()  # the program's first line: P4 measures up to here\n"
        "import os\nimport sys\n\n"
        "if os.environ.get('LXM_BENCH_T1'):\n"
        "    with open(os.environ['LXM_BENCH_T1'], 'w') as handle:\n"
        "        handle.write('%.6f\\n' % _T1)\n"
        "if __name__ == '__main__':\n"
        "    print('task', os.environ.get('LXM_TASK_ID'), sys.argv[1:])\n"
    )
    words = ["layer", "weight", "bias", "grad", "step", "loss", "batch", "norm", "scale", "mask"]
    for number in range(150):
        lines = [f'"""Generated model module {number}."""', "import math", ""]
        for index in range(40):
            name = f"{rng.choice(words)}_{rng.choice(words)}_{index}"
            lines += [
                f"def {name}(x, y={rng.randint(1, 99)}):",
                '    """' + " ".join(rng.choice(words) for _ in range(12)) + '."""',
                f"    z = x * {rng.random():.6f} + y",
                f"    for i in range({rng.randint(2, 9)}):",
                f"        z = math.tanh(z) + {rng.random():.4f} * i",
                "    return z",
                "",
            ]
        (pkg / "models" / f"m{number:03d}.py").write_text("\n".join(lines))
    (pkg / "data" / "weights.bin").write_bytes(rng.randbytes(4 * 1024 * 1024))
    (pkg / "data" / "vocab.json").write_text(json.dumps({"vocab": [f"tok{i}" for i in range(40000)]}))
    shutil.copyfile(BENCH / "launcher.py", root / "launcher.py")
    git = ["git", "-C", str(root), "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    run([*git, "init", "-q"])
    run([*git, "add", "-A"])
    run([*git, "commit", "-q", "-m", "benchmark project"])
    marker.write_text(PROJECT_VERSION)


def project_stats(root: Path) -> dict[str, Any]:
    files = [
        p
        for p in root.rglob("*")
        if p.is_file()
        and ".git" not in p.parts
        and "build" not in p.parts
        and not any(part.endswith(".egg-info") for part in p.parts)
    ]
    code = sum(p.stat().st_size for p in files if p.suffix == ".py")
    data = sum(p.stat().st_size for p in files if p.suffix in (".bin", ".json"))
    return {"files": len(files), "code_bytes": code, "data_bytes": data}


def clean_build_dirs(root: Path) -> None:
    """pip/setuptools leave build/ and *.egg-info in the project: removed before each first launch."""
    shutil.rmtree(root / "build", ignore_errors=True)
    for path in root.glob("*.egg-info"):
        shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------- the harness
class Bench:
    def __init__(self, mode: str, arrays: str, keep: bool, only: list[str] | None = None) -> None:
        self.mode = mode
        self.only = only or []
        self.cfg = MODES[mode]
        #: "auto" (full arrays where Slurm has room for them, else one task each), "full", "one-task".
        self.arrays = arrays
        self.max_job_count = 10000
        self.keep = keep
        self.session = time.strftime("%Y%m%d-%H%M%S")
        self.project = WORK / "project"
        self.ssh_config = WORK / "ssh" / "ssh_config"
        self.peer_home = WORK / "peer-home"
        self.results: dict[str, Any] = {"mode": mode, "errors": {}}
        previous = RESULTS / "latest.json"
        if self.only and previous.is_file():
            # A partial run updates the measures it ran and keeps the others (see "updated").
            self.results = json.loads(previous.read_text())
            self.results["errors"] = {}
            self.results["partial_update"] = {
                "measures": self.only,
                "at": time.strftime("%Y-%m-%d %H:%M:%S"),
                "mode": mode,
            }
        self.results.setdefault("measured_at", time.strftime("%Y-%m-%d %H:%M:%S"))
        self.relay: Relay | None = None
        self.remote_home = ""
        self.max_array_size = 0

    # ----- setup -----
    def setup(self) -> None:
        WORK.mkdir(parents=True, exist_ok=True)
        log("testbed: tests/testbed/up.sh")
        up = run(["bash", str(REPO / "tests/testbed/up.sh")], check=False)
        if up.returncode != 0:
            raise BenchError(
                "tests/testbed/up.sh failed:\n" + "\n".join((up.stdout + up.stderr).splitlines()[-20:])
            )
        self.results["testbed"] = up.stdout.strip().splitlines()[-1] if up.stdout.strip() else ""
        if not (OURS_VENV / "bin" / "lxm3").exists():
            log("ours: scripts/pdm.sh install (project venv missing)")
            run(["bash", str(REPO / "scripts/pdm.sh"), "install"], cwd=REPO)
        if not (PEER_VENV / "bin" / "lxm3").exists():
            log(f"peer: venv {PEER_VENV} + pip install lxm3=={PEER_VERSION}")
            shutil.rmtree(PEER_VENV, ignore_errors=True)
            VENVS.mkdir(parents=True, exist_ok=True)
            run([sys.executable, "-m", "venv", str(PEER_VENV)])
            run(
                [
                    str(PEER_VENV / "bin/pip"),
                    "install",
                    "-q",
                    "--disable-pip-version-check",
                    f"lxm3=={PEER_VERSION}",
                ]
            )
        versions = {}
        for tool in ("ours", "peer"):
            versions[tool] = run([str(self.venv(tool) / "bin/lxm3"), "version"]).stdout.strip()
        if versions["peer"] != f"lxm3 {PEER_VERSION}":
            raise BenchError(f"the peer venv reports {versions['peer']!r}, expected lxm3 {PEER_VERSION}")
        self.results["versions"] = versions
        log(f"versions: {versions}")

        log("login node for both tools: benchmarks/peer_sshd.sh (127.0.0.1:22)")
        env = dict(os.environ, PEER_SSH_DIR=str(PEER_SSH_DIR))
        run(["bash", str(BENCH / "peer_sshd.sh")], env=env)
        self.max_array_size = int((PEER_SSH_DIR / "max_array_size").read_text().strip())
        config = run(["scontrol", "show", "config"], check=False).stdout
        found = [
            line.split("=", 1)[1].strip() for line in config.splitlines() if line.startswith("MaxJobCount")
        ]
        self.max_job_count = int(found[0]) if found and found[0].isdigit() else 10000
        self.results["sbatch_modes"] = {}
        self.relay = Relay(22)
        self._write_ssh_config()
        home_ssh = self.peer_home / ".ssh"
        home_ssh.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(KEY, home_ssh / "id_ed25519")
        os.chmod(home_ssh / "id_ed25519", 0o600)

        generate_project(self.project)
        if (self.project / "launcher.py").read_bytes() != (BENCH / "launcher.py").read_bytes():
            shutil.copyfile(BENCH / "launcher.py", self.project / "launcher.py")
        self.results["project"] = project_stats(self.project)
        self.remote_home = self.ssh('printf %s "$HOME"').stdout.strip()
        self.remote_root = f"{self.remote_home}/lxm3-bench/{self.session}"
        self.cancel_jobs()
        self.results["environment"] = {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "slurm": run(["sbatch", "--version"], check=False).stdout.strip(),
            "repo_commit": run(
                ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], check=False
            ).stdout.strip(),
            "repo_dirty": bool(
                run(
                    ["git", "-C", str(REPO), "status", "--porcelain", "--", "lxm3"], check=False
                ).stdout.strip()
            ),
            "max_array_size": self.max_array_size,
            "max_job_count": self.max_job_count,
            "arrays_policy": self.arrays,
        }

    def _write_ssh_config(self) -> None:
        assert self.relay is not None
        directory = self.ssh_config.parent
        directory.mkdir(parents=True, exist_ok=True)
        hostkey = " ".join((PEER_SSH_DIR / "ssh_host_ed25519_key.pub").read_text().split()[:2])
        (directory / "known_hosts").write_text(
            f"127.0.0.1 {hostkey}\n[127.0.0.1]:{self.relay.port} {hostkey}\n"
        )
        common = (
            "  User hpcuser\n"
            f"  IdentityFile {KEY}\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {directory / 'known_hosts'}\n  GlobalKnownHostsFile /dev/null\n"
            "  StrictHostKeyChecking yes\n  BatchMode yes\n  PasswordAuthentication no\n"
            "  ConnectTimeout 10\n  LogLevel ERROR\n"
        )
        self.ssh_config.write_text(
            "# generated by benchmarks/run.py\n"
            f"Host benchcluster\n  HostName 127.0.0.1\n  Port {self.relay.port}\n{common}"
            f"Host benchcluster-direct\n  HostName 127.0.0.1\n  Port 22\n{common}"
        )

    def job_records(self) -> int:
        """Slurm's job records now (array tasks expanded): what counts against MaxJobCount."""
        return int(self.ssh("/usr/bin/squeue -h -t all -r | wc -l").stdout.strip() or 0)

    def set_sbatch_mode(self, phase: str, tasks: int, arrays: int) -> str:
        """Full arrays if this phase's `tasks` fit in MaxJobCount (with room for others), else one task each.

        Every task of an array counts against MaxJobCount until MinJobAge after
        it ended or was cancelled; a phase that would fill it would stall every
        sbatch on the shared testbed (see README). Returns the mode written.
        """
        room = int(0.7 * self.max_job_count) - self.job_records()
        mode = self.arrays
        if mode == "auto":
            mode = "full" if tasks <= room else "one-task"
        if mode == "full" and tasks > room:
            log(f"{phase}: WARNING {tasks} tasks with only {room} job records to spare")
        if mode == "one-task" and arrays > room:
            raise BenchError(
                f"{phase}: even {arrays} one-task arrays do not fit in Slurm now ({room} records to spare)"
            )
        (PEER_SSH_DIR / "sbatch-mode").write_text(mode + "\n")
        self.results["sbatch_modes"][phase] = mode
        log(
            f"{phase}: sbatch {'full arrays' if mode == 'full' else 'one task per array'} ({tasks} tasks, {room} records to spare)"
        )
        return mode

    def venv(self, tool: str) -> Path:
        return OURS_VENV if tool == "ours" else PEER_VENV

    def ssh(
        self, command: str, *, host: str = "benchcluster-direct", check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess:
        return run(["ssh", "-F", str(self.ssh_config), host, command], check=check, timeout=timeout)

    def cancel_jobs(self) -> None:
        """Cancels every benchmark job (by name; absolute paths, so the P3 call log stays clean)."""
        self.ssh(
            "/usr/bin/squeue -h -u \"$USER\" -o '%F|%j' | awk -F'|' '$2 ~ /" + JOB_NAME + "/ {print $1}' "
            "| sort -u | xargs -r /usr/bin/scancel",
            check=False,
        )

    # ----- launching -----
    def write_configs(self, run_dir: Path, remote: str, host: str = "benchcluster") -> dict[str, Path]:
        run_dir.mkdir(parents=True, exist_ok=True)
        ours = run_dir / "ours.toml"
        ours.write_text(
            'project = "lxmbench"\n'
            f'[local.storage]\nstaging = "{run_dir}/local-staging"\n'
            f'[store]\npath = "{run_dir}/store.db"\n'
            f'[[clusters]]\nname = "benchcluster"\nserver = "{host}"\nssh_config = "{self.ssh_config}"\n'
            f'[clusters.storage]\nstaging = "{remote}/ours"\n'
        )
        peer = run_dir / "peer.toml"
        peer.write_text(
            'project = "lxmbench"\n'
            f'[local.storage]\nstaging = "{run_dir}/peer-local"\n'
            f'[[clusters]]\nname = "peer"\nserver = "127.0.0.1"\nuser = "hpcuser"\nssh_private_key = "{KEY}"\n'
            f'[clusters.storage]\nstaging = "{remote}/peer"\n'
        )
        return {"ours": ours, "peer": peer}

    def tool_env(self, tool: str, config: Path, run_dir: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LXM", "VIRTUAL_ENV", "PYTHON"))}
        env.update(
            PATH=f"{self.venv(tool) / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            LXM_CONFIG=str(config),
            # P1/P1b/P2 runs get a fresh cache each; the others share a warm one (no rebuilds).
            XDG_CACHE_HOME=str(
                (WORK / "warm-cache" if run_dir.name in WARM_CACHE_RUNS else run_dir) / f"cache-{tool}"
            ),
            PIP_CACHE_DIR=str(WORK / "pip-cache"),
            LXM_BENCH_PROJECT=str(self.project),
            LXM_BENCH_STATS=str(run_dir / f"stats-{tool}.json"),
        )
        if tool == "peer":
            env["HOME"] = str(self.peer_home)
        else:
            # Ours keeps its SSH master between launches (ssh_persist): each run dir gets its own
            # socket dir, so a run's first launch opens a connection and its relaunch reuses it.
            sockets = run_dir / "xdg"
            sockets.mkdir(mode=0o700, exist_ok=True)
            env["XDG_RUNTIME_DIR"] = str(sockets)
        return env

    def stop_masters(self) -> None:
        """Stops the SSH masters ours left running (ssh_persist) in the run dirs."""
        for socket_path in (WORK / "runs").glob("*/xdg/lxm3-ssh/cm-*"):
            if socket_path.suffix == ".lock":
                continue
            run(
                [
                    "ssh",
                    "-F",
                    str(self.ssh_config),
                    "-o",
                    f"ControlPath={socket_path}",
                    "-O",
                    "exit",
                    "benchcluster",
                ],
                check=False,
            )

    def launch(
        self,
        tool: str,
        configs: dict[str, Path],
        run_dir: Path,
        *,
        tasks: int,
        sweep: int,
        dry_run: bool = False,
        profile: Path | None = None,
        pack: int = 0,
        warm: bool = False,
    ) -> dict[str, Any]:
        """One `lxm3 launch` of the benchmark launcher; wall time, peak RSS, relay bytes."""
        env = self.tool_env(tool, configs[tool], run_dir)
        if warm:
            env["LXM_BENCH_WARM"] = "1"
        stats_path = Path(env["LXM_BENCH_STATS"])
        stats_path.unlink(missing_ok=True)
        flags = [str(self.project / "launcher.py"), f"--tasks={tasks}", f"--sweep={sweep}"]
        if pack:
            flags.append(f"--pack={pack}")
        if profile is not None:
            env["LXM_BENCH_T0"] = f"{time.time():.6f}"
            argv = [
                str(OURS_VENV / "bin/python"),
                str(BENCH / "profile_launch.py"),
                str(profile),
                *(["--dry-run"] if dry_run else []),
                *flags,
            ]
        else:
            argv = [str(self.venv(tool) / "bin/lxm3"), "launch", *(["--dry-run"] if dry_run else []), *flags]
        log_path = run_dir / f"{tool}-{'dry' if dry_run else 'launch'}-{tasks}-{sweep}.log"
        # Written only when a warm lxm3 process served the launch (lxm3/cli/warm): its CPU and memory.
        usage_path = run_dir / f"warm-usage-{tool}.txt"
        usage_path.unlink(missing_ok=True)
        env["LXM3_WARM_USAGE"] = str(usage_path)
        assert self.relay is not None
        up0, down0 = self.relay.counters()
        connections0 = self.relay.accepted
        with open(log_path, "w") as log_file:
            started = time.perf_counter()
            process = subprocess.Popen(
                argv, cwd=self.project, env=env, stdout=log_file, stderr=subprocess.STDOUT
            )
            _, status, usage = os.wait4(process.pid, 0)
            wall = time.perf_counter() - started
            process.returncode = os.waitstatus_to_exitcode(status)
        up1, down1 = self.relay.counters()
        if process.returncode != 0:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
            raise BenchError(
                f"{tool} launch ({tasks} tasks, sweep {sweep}) exited {process.returncode}; {log_path}:\n{tail}"
            )
        stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
        return {
            "tool": tool,
            "tasks": tasks,
            "wall_s": round(wall, 4),
            "launcher_maxrss_mb": round(stats.get("maxrss_kb", 0) / 1024, 1) if stats else None,
            "tree_maxrss_mb": round(usage.ru_maxrss / 1024, 1),
            "wire_bytes_up": up1 - up0,
            "wire_bytes_down": down1 - down0,
            "transport_bytes_sent": stats.get("bytes_sent"),
            "experiment_id": stats.get("experiment_id"),
            "served_by_warm_process": usage_path.exists(),
            "ssh_connections": self.relay.accepted - connections0,
            "log": str(log_path),
        }

    def job_dir(self, remote: str, experiment_id: Any) -> str:
        return f"{remote}/ours/experiments/{experiment_id}/1/{JOB_NAME}"

    def floor(self, command: str) -> dict[str, Any]:
        """P1b's floor: one new ssh connection running sbatch on each prebuilt script."""
        assert self.relay is not None
        up0, _ = self.relay.counters()
        started = time.perf_counter()
        result = self.ssh(command, host="benchcluster")
        wall = time.perf_counter() - started
        up1, _ = self.relay.counters()
        return {
            "wall_s": round(wall, 4),
            "arrays": result.stdout.count("Submitted batch job"),
            "wire_bytes_up": up1 - up0,
        }

    # ----- P1, P1b, P2 -----
    def bench_launches(self) -> None:
        tasks = self.cfg["tasks"]
        chunks = math.ceil(tasks / self.max_array_size)
        self.set_sbatch_mode("P1/P1b/P2", 4 * tasks * self.cfg["runs"], 4 * chunks * self.cfg["runs"])
        runs = []
        for number in range(self.cfg["runs"]):
            run_dir = WORK / "runs" / f"r{number}"
            shutil.rmtree(run_dir, ignore_errors=True)
            remote = f"{self.remote_root}/r{number}"
            configs = self.write_configs(run_dir, remote)
            sweep = 10 * number + 1
            clean_build_dirs(self.project)
            order = ["ours", "peer"] if number % 2 == 0 else ["peer", "ours"]
            first = {
                tool: self.launch(tool, configs, run_dir, tasks=self.cfg["tasks"], sweep=sweep)
                for tool in order
            }
            self.cancel_jobs()
            # P1b: ours again with new hyperparameters vs the floor, one ssh + sbatch of prebuilt scripts.
            scripts = self.job_dir(remote, first["ours"]["experiment_id"])
            floor_command = f'for f in {shlex.quote(scripts)}/job-*.sh; do sbatch "$f" || exit 1; done'

            if number % 2 == 0:
                relaunch = self.launch("ours", configs, run_dir, tasks=self.cfg["tasks"], sweep=sweep + 1)
                floor_run = self.floor(floor_command)
            else:
                floor_run = self.floor(floor_command)
                relaunch = self.launch("ours", configs, run_dir, tasks=self.cfg["tasks"], sweep=sweep + 1)
            self.cancel_jobs()
            entry = {
                "first": first,
                "relaunch": relaunch,
                "floor": floor_run,
                "P1": first["ours"]["wall_s"] / first["peer"]["wall_s"],
                "P1b": relaunch["wall_s"] / floor_run["wall_s"],
                "P2": 100.0 * relaunch["wire_bytes_up"] / max(1, first["ours"]["wire_bytes_up"]),
                "P2_transport": (
                    100.0 * relaunch["transport_bytes_sent"] / max(1, first["ours"]["transport_bytes_sent"])
                )
                if relaunch.get("transport_bytes_sent") is not None
                else None,
            }
            runs.append(entry)
            log(
                f"run {number + 1}/{self.cfg['runs']}: first ours {first['ours']['wall_s']:.2f}s peer {first['peer']['wall_s']:.2f}s "
                f"(P1 {entry['P1']:.2f}) | relaunch {relaunch['wall_s']:.2f}s floor {floor_run['wall_s']:.2f}s "
                f"({floor_run['arrays']} arrays; P1b {entry['P1b']:.2f}) | bytes up {first['ours']['wire_bytes_up']} -> "
                f"{relaunch['wire_bytes_up']} (P2 {entry['P2']:.2f}%)"
            )
        self.results["launch_runs"] = runs
        self.results["P1"] = {
            "value": median([r["P1"] for r in runs]),
            "ours_first_s": median([r["first"]["ours"]["wall_s"] for r in runs]),
            "peer_first_s": median([r["first"]["peer"]["wall_s"] for r in runs]),
            "runs": len(runs),
        }
        self.results["P1b"] = {
            "value": median([r["P1b"] for r in runs]),
            "ours_relaunch_s": median([r["relaunch"]["wall_s"] for r in runs]),
            "floor_s": median([r["floor"]["wall_s"] for r in runs]),
            "floor_arrays": runs[0]["floor"]["arrays"],
            "runs": len(runs),
        }
        self.results["P2"] = {
            "value": median([r["P2"] for r in runs]),
            "first_bytes_up": median([r["first"]["ours"]["wire_bytes_up"] for r in runs]),
            "relaunch_bytes_up": median([r["relaunch"]["wire_bytes_up"] for r in runs]),
            "transport_counter_percent": median(
                [r["P2_transport"] for r in runs if r["P2_transport"] is not None]
            ),
            "first_transport_bytes": median([r["first"]["ours"]["transport_bytes_sent"] or 0 for r in runs]),
            "relaunch_transport_bytes": median([r["relaunch"]["transport_bytes_sent"] or 0 for r in runs]),
            "runs": len(runs),
        }

    # ----- profile of our launch -----
    def profiled(
        self,
        configs: dict[str, Path],
        run_dir: Path,
        *,
        tasks: int,
        sweep: int,
        dry_run: bool = False,
        pack: int = 0,
        warm: bool = False,
    ) -> dict[str, Any]:
        """One launch of ours under benchmarks/profile_launch.py: seconds per phase."""
        out = run_dir / f"profile-{tasks}-{sweep}.json"
        result = self.launch(
            "ours",
            configs,
            run_dir,
            tasks=tasks,
            sweep=sweep,
            profile=out,
            dry_run=dry_run,
            pack=pack,
            warm=warm,
        )
        data = json.loads(out.read_text())
        data["wall_s"] = result["wall_s"]
        data["launcher_maxrss_mb"] = result["launcher_maxrss_mb"]
        data["wire_bytes_up"] = result["wire_bytes_up"]
        data["unaccounted_s (process exit, interpreter teardown)"] = round(
            result["wall_s"]
            - data["interpreter_startup_s"]
            - data["in_process_total_s"]
            - (data.get("warm_server_warm_up_s (not part of the launch)") or 0),
            4,
        )
        return data

    def bench_profile(self) -> None:
        tasks = self.cfg["tasks"]
        chunks = math.ceil(tasks / self.max_array_size)
        self.set_sbatch_mode("profile", 2 * tasks, 2 * chunks)
        # --tiny profiles only a relaunch, on the warm cache (a first launch costs a pip build).
        run_dir = WORK / "runs" / ("profile-warm" if self.mode == "tiny" else "profile")
        shutil.rmtree(run_dir, ignore_errors=True)
        remote = f"{self.remote_root}/profile"
        configs = self.write_configs(run_dir, remote)
        clean_build_dirs(self.project)
        profiles = {}
        # relaunch_warm: the same relaunch as a warm server's child runs it (imports done first,
        # not timed): the in-process part of a served relaunch, phase by phase.
        for name, sweep in (("first", 101), ("relaunch", 102), ("relaunch_warm", 103)):
            if self.mode == "tiny" and name == "first":
                self.launch("ours", configs, run_dir, tasks=self.cfg["tasks"], sweep=sweep)  # not profiled
                continue
            profiles[name] = self.profiled(
                configs, run_dir, tasks=self.cfg["tasks"], sweep=sweep, warm=name == "relaunch_warm"
            )
        self.cancel_jobs()
        imports = {}
        for tool in ("ours", "peer"):
            times = []
            for _ in range(3):
                started = time.perf_counter()
                # cwd WORK: `python -c` puts the cwd first on sys.path, and the repo's cwd holds ours.
                run(
                    [str(self.venv(tool) / "bin/python"), "-c", "import lxm3.xm_cluster"],
                    env=self.tool_env(tool, configs[tool], run_dir),
                    cwd=WORK,
                )
                times.append(time.perf_counter() - started)
            imports[tool] = round(median(times), 4)
        self.results.setdefault("profile", {}).update({"ours": profiles, "import_lxm3_xm_cluster_s": imports})

    # ----- P3 and P4 -----
    def bench_watch_and_runner(self) -> None:
        small, large = self.cfg["p4_sizes"]
        sizes = sorted(set(self.cfg["p3_sizes"]) | {small, large})
        self.set_sbatch_mode("P3/P4", sum(sizes), sum(math.ceil(n / self.max_array_size) for n in sizes))
        run_dir = WORK / "runs" / "p3"
        shutil.rmtree(run_dir, ignore_errors=True)
        remote = f"{self.remote_root}/p3"
        configs = self.write_configs(run_dir, remote, host="benchcluster-direct")
        out = run_dir / "p3.json"
        env = self.tool_env("ours", configs["ours"], run_dir)
        env["LXM3_QUIET"] = "1"
        result = run(
            [
                str(OURS_VENV / "bin/python"),
                str(BENCH / "p3_driver.py"),
                str(out),
                "--calls-log",
                str(PEER_SSH_DIR / "calls.log"),
                "--sizes",
                ",".join(map(str, sizes)),
                "--polls",
                str(self.cfg["polls"]),
                "--project",
                str(self.project),
            ],
            env=env,
            cwd=self.project,
            check=False,
        )
        self.cancel_jobs()
        if result.returncode != 0:
            raise BenchError(
                "p3_driver.py failed:\n" + "\n".join((result.stdout + result.stderr).splitlines()[-20:])
            )
        watched = json.loads(out.read_text())
        by_size = {entry["tasks"]: entry for entry in watched}
        self.results["P3"] = {
            "value": max(by_size[n]["max_scheduler_commands_per_poll"] for n in self.cfg["p3_sizes"]),
            "per_size": {
                str(n): {
                    "arrays": by_size[n]["arrays"],
                    "scheduler_commands_per_poll": [p["scheduler_commands"] for p in by_size[n]["polls"]],
                    "commands": sorted({c for p in by_size[n]["polls"] for c in p["commands"]}),
                    "watcher_queries_per_poll": [p["watcher_queries"] for p in by_size[n]["polls"]],
                    "poll_seconds": [p["seconds"] for p in by_size[n]["polls"]],
                    "launch_s": by_size[n]["launch_seconds"],
                }
                for n in self.cfg["p3_sizes"]
            },
            "polls": self.cfg["polls"],
        }
        log(
            f"P3: {self.results['P3']['value']} scheduler command(s) per poll (max over N={self.cfg['p3_sizes']})"
        )
        self.bench_runner(by_size[small], by_size[large], remote)

    def bench_runner(self, small: dict[str, Any], large: dict[str, Any], remote: str) -> None:
        """P4: job script's first line -> program's first line, for tasks near the end of each table."""
        reps = self.cfg["p4_reps"]
        scratch = f"{remote}/p4"

        def pick(job: dict[str, Any], rep: int) -> tuple[str, int, int]:
            task = job["tasks"] - 1 - (rep % min(10, job["tasks"]))
            for chunk in job["chunks"]:
                if chunk["offset"] <= task < chunk["offset"] + chunk["count"]:
                    return chunk["script"], task - chunk["offset"], task
            raise BenchError(f"task {task} is in no chunk")

        copies: dict[str, str] = {}
        lines = ["set -u", f"mkdir -p {shlex.quote(scratch)}", f"cd {shlex.quote(scratch)}"]
        # The bench copy of a job script: its first line after the shebang records the start time.
        mark = 'printf \'%s\\n\' "$EPOCHREALTIME" >"$LXM_BENCH_T0"'
        for job in (small, large):
            for rep in range(reps):
                script, _, _ = pick(job, rep)
                if script not in copies:
                    copies[script] = f"s{len(copies)}.sh"
                    lines.append(
                        f"awk -v m={shlex.quote(mark)} 'NR==1{{print; print m; next}} {{print}}' "
                        f"{shlex.quote(script)} > {copies[script]}"
                    )
        warmup = 2  # not counted: the first runs pay for cold page caches
        for rep in range(-warmup, reps):
            order = (
                (("small", small), ("large", large)) if rep % 2 == 0 else (("large", large), ("small", small))
            )
            for label, job in order:
                script, index, task = pick(job, rep)
                lines.append(
                    f"rm -f t0 t1; SLURM_ARRAY_TASK_ID={index} LXM_BENCH_T0=$PWD/t0 LXM_BENCH_T1=$PWD/t1 "
                    f'bash {copies[script]} >/dev/null 2>&1; echo "R {rep} {label} {task} $(cat t0) $(cat t1)"'
                )
        # Micro: the runner's own task lookup (read_task) for the same tasks.
        runner = f"{remote}/ours/runtime"
        py = (
            "import glob, json, sys, time\n"
            # The shipped runner is a zip of its modules: import its entry module from it.
            f"path = sorted(glob.glob({runner!r} + '/task_runner-*.pyz'))[0]\n"
            "sys.path.insert(0, path)\n"
            "import task_runner as runner\n"
            "out = {}\n"
            "for label, job_dir, task in json.loads(sys.argv[1]):\n"
            "    best = []\n"
            "    for _ in range(5):\n"
            "        start = time.perf_counter()\n"
            "        for _ in range(200):\n"
            "            runner.read_task(job_dir + '/tasks.jsonl', job_dir + '/tasks.idx', task)\n"
            "        best.append((time.perf_counter() - start) / 200)\n"
            "    out[label] = min(best) * 1e6\n"
            "print('LOOKUP ' + json.dumps(out))\n"
        )
        lookup_args = json.dumps(
            [
                ["small", small["remote_dir"], small["tasks"] - 1],
                ["large", large["remote_dir"], large["tasks"] - 1],
            ]
        )
        lines.append(f"python3 -c {shlex.quote(py)} {shlex.quote(lookup_args)}")
        result = self.ssh("\n".join(lines), timeout=1200)
        samples: dict[str, dict[int, float]] = {"small": {}, "large": {}}
        lookup = {}
        for line in result.stdout.splitlines():
            parts = line.split()
            if parts[:1] == ["R"] and len(parts) == 6 and int(parts[1]) >= 0:
                samples[parts[2]][int(parts[1])] = (float(parts[5]) - float(parts[4])) * 1000.0
            elif line.startswith("LOOKUP "):
                lookup = json.loads(line[len("LOOKUP ") :])
        if len(samples["small"]) != reps or len(samples["large"]) != reps:
            raise BenchError(
                f"P4: expected {reps} samples per size, got {len(samples['small'])}/{len(samples['large'])}:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
            )
        ratios = [samples["large"][r] / samples["small"][r] for r in range(reps)]
        self.results["P4"] = {
            "value": median(ratios),
            "ratio_of_medians": median(list(samples["large"].values()))
            / median(list(samples["small"].values())),
            "small_tasks": small["tasks"],
            "large_tasks": large["tasks"],
            "small_overhead_ms": median(list(samples["small"].values())),
            "large_overhead_ms": median(list(samples["large"].values())),
            "reps": reps,
            "read_task_us": {
                "small": round(lookup.get("small", float("nan")), 2),
                "large": round(lookup.get("large", float("nan")), 2),
            },
            "samples_ms": {label: [round(samples[label][r], 2) for r in range(reps)] for label in samples},
        }
        log(
            f"P4: {self.results['P4']['small_overhead_ms']:.1f} ms (N={small['tasks']}) vs {self.results['P4']['large_overhead_ms']:.1f} ms (N={large['tasks']}): {self.results['P4']['value']:.3f}"
        )

    # ----- P5 -----
    def bench_version(self) -> None:
        bins = {tool: str(self.venv(tool) / "bin/lxm3") for tool in ("ours", "peer")}
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LXM", "VIRTUAL_ENV", "PYTHON"))}

        def once(tool: str) -> float:
            started = time.perf_counter()
            subprocess.run(
                [bins[tool], "version"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
                cwd=WORK,
                check=True,
            )
            return time.perf_counter() - started

        for _ in range(2):
            once("ours"), once("peer")  # warm-up (page cache), not counted
        times: dict[str, list[float]] = {"ours": [], "peer": []}
        ratios = []
        for number in range(self.cfg["p5_runs"]):
            pair = {}
            for tool in ("ours", "peer") if number % 2 == 0 else ("peer", "ours"):
                pair[tool] = once(tool)
                times[tool].append(pair[tool])
            ratios.append(pair["ours"] / pair["peer"])
        self.results["P5"] = {
            "value": median(ratios),
            "ours_ms": round(1000 * median(times["ours"]), 1),
            "peer_ms": round(1000 * median(times["peer"]), 1),
            "runs": self.cfg["p5_runs"],
            "binaries": bins,
        }
        log(f"P5: ours {self.results['P5']['ours_ms']} ms, peer {self.results['P5']['peer_ms']} ms")

    # ----- P6, P6f, P7 -----
    def status_times(
        self, configs: dict[str, Path], run_dir: Path, experiment_id: Any, runs: int = 3
    ) -> dict[str, Any]:
        """P7: `lxm3 status EXP` wall times (new process each), and Slurm commands per status."""
        env = self.tool_env("ours", configs["ours"], run_dir)
        calls = PEER_SSH_DIR / "calls.log"
        before = len(calls.read_text(errors="replace").splitlines()) if calls.exists() else 0
        walls = []
        for _ in range(runs):
            started = time.perf_counter()
            run([str(OURS_VENV / "bin/lxm3"), "status", str(experiment_id)], env=env, cwd=WORK)
            walls.append(round(time.perf_counter() - started, 4))
        lines = calls.read_text(errors="replace").splitlines()[before:] if calls.exists() else []
        queries = [line for line in lines if line.split()[1:2] and line.split()[1] in ("sacct", "squeue")]
        return {
            "wall_s": walls,
            "median_s": median(walls),
            "scheduler_commands_per_status": len(queries) / runs,
        }

    def bench_big_sweep(self) -> None:
        tasks = self.cfg["p6_tasks"]
        run_dir = WORK / "runs" / "p6"
        shutil.rmtree(run_dir, ignore_errors=True)
        remote = f"{self.remote_root}/p6"
        configs = self.write_configs(run_dir, remote)
        log("P6: warm-up launch (10 tasks) so code is built and on the cluster")
        self.launch("ours", configs, run_dir, tasks=10, sweep=0)
        self.cancel_jobs()
        dry = [self.launch("ours", configs, run_dir, tasks=tasks, sweep=1000, dry_run=True, pack=P6_PACK)]
        profiles: dict[str, Any] = {}
        runs = self.cfg["p6_runs"]
        array_tasks = math.ceil(tasks / P6_PACK)
        self.set_sbatch_mode(
            "P6", array_tasks * (runs + 1), math.ceil(array_tasks / self.max_array_size) * (runs + 1)
        )
        packed = []
        p7: dict[str, Any] = {}
        for number in range(runs):
            packed.append(
                self.launch("ours", configs, run_dir, tasks=tasks, sweep=2000 + number, pack=P6_PACK)
            )
            if number == runs - 1:
                p7["packed"] = self.status_times(configs, run_dir, packed[-1]["experiment_id"])
            self.cancel_jobs()
        if self.mode != "tiny":
            profiles["real_packed"] = self.profiled(configs, run_dir, tasks=tasks, sweep=2500, pack=P6_PACK)
            self.cancel_jobs()
        # P6f: the same sweep unpacked (pack=1: one task per array task) against the floor, ONE ssh
        # running `sbatch` on each of its scripts, one after another.
        arrays = math.ceil(tasks / self.max_array_size)
        unpacked: list[dict[str, Any]] = []
        floors: list[dict[str, Any]] = []
        skipped = None
        f_runs = max(1, runs - 1)
        try:
            self.set_sbatch_mode("P6f", tasks * 2 * f_runs, arrays * 2 * f_runs)
        except BenchError as error:
            skipped = str(error)
        else:
            for number in range(f_runs):
                launch = self.launch("ours", configs, run_dir, tasks=tasks, sweep=3000 + number, pack=1)
                if number == f_runs - 1:
                    p7["unpacked"] = self.status_times(configs, run_dir, launch["experiment_id"])
                self.cancel_jobs()
                scripts = self.job_dir(remote, launch["experiment_id"])
                floor_run = self.floor(
                    f'for f in {shlex.quote(scripts)}/job-*.sh; do sbatch "$f" || exit 1; done'
                )
                self.cancel_jobs()
                unpacked.append(launch)
                floors.append(floor_run)
        self.results.setdefault("profile", {})["p6"] = profiles
        if skipped:
            log(f"P6f: skipped: {skipped}")
        self.results["P6"] = {
            "seconds": median([r["wall_s"] for r in packed]),
            "mb": median([r["launcher_maxrss_mb"] for r in packed]),
            "measured": f"real submission, pack={P6_PACK} ({array_tasks} array tasks)",
            "tasks": tasks,
            "packed": {
                "wall_s": [r["wall_s"] for r in packed],
                "launcher_maxrss_mb": [r["launcher_maxrss_mb"] for r in packed],
                "wire_bytes_up": [r["wire_bytes_up"] for r in packed],
            },
            "dry_run_packed": {"wall_s": [r["wall_s"] for r in dry]},
        }
        self.results["P6f"] = {
            "value": median([u["wall_s"] / f["wall_s"] for u, f in zip(unpacked, floors, strict=True)])
            if floors
            else None,
            "ours_s": median([u["wall_s"] for u in unpacked]) if unpacked else None,
            "floor_s": median([f["wall_s"] for f in floors]) if floors else None,
            "arrays": arrays,
            "floor_sbatch_calls": floors[0]["arrays"] if floors else None,
            "ours_mb": median([u["launcher_maxrss_mb"] for u in unpacked]) if unpacked else None,
            "skipped": skipped,
        }
        worst = max((entry["median_s"] for entry in p7.values()), default=float("nan"))
        self.results["P7"] = {
            "value": worst,
            **{f"{key}_s": entry["median_s"] for key, entry in p7.items()},
            "scheduler_commands_per_status": max(
                (entry["scheduler_commands_per_status"] for entry in p7.values()), default=None
            ),
            "runs": p7,
        }
        log(
            f"P6: {self.results['P6']['seconds']:.2f} s / {self.results['P6']['mb']:.0f} MB packed; "
            f"P6f {self.results['P6f']['value']}; P7 {worst:.2f} s"
        )

    # ----- P7l -----
    def bench_list(self) -> None:
        """`lxm3 list` with 1,000 finished experiments in the store (default --limit 20)."""
        run_dir = WORK / "runs" / "p7l"
        shutil.rmtree(run_dir, ignore_errors=True)
        configs = self.write_configs(run_dir, f"{self.remote_root}/p7l")
        count = 1000 if self.mode != "tiny" else 200
        make = (
            "import sys\n"
            "from pathlib import Path\n"
            "from lxm3.store.db import ExperimentStore\n"
            "store = ExperimentStore(Path(sys.argv[1]))\n"
            "for n in range(int(sys.argv[2])):\n"
            "    e = store.create_experiment(f'exp {n}', config_path=sys.argv[3])\n"
            "    store.add_work_unit(e, 1, {'lr': 0.1})\n"
            "    row = store.add_job(e, 1, {'name': 'j', 'target': 'benchcluster', 'scheduler': 'slurm',"
            " 'num_tasks': 10, 'remote_dir': f'/x/experiments/{e}/1/j',"
            " 'submitted': [{'job_id': str(n + 1), 'offset': 0, 'count': 10, 'script': '/x/s'}]})\n"
            "    store.set_final({row: {t: {'state': 'COMPLETED' if t else 'FAILED', 'exit_code': 0 if t else 1}"
            " for t in range(10)}})\n"
        )
        run(
            [
                str(OURS_VENV / "bin/python"),
                "-c",
                make,
                str(run_dir / "store.db"),
                str(count),
                str(configs["ours"]),
            ],
            cwd=WORK,
        )
        env = self.tool_env("ours", configs["ours"], run_dir)
        argv = [str(OURS_VENV / "bin/lxm3"), "list"]
        for _ in range(2):
            run(argv, env=env, cwd=WORK)  # warm-up (page cache, .pyc)
        walls = []
        for _ in range(self.cfg["p5_runs"]):
            started = time.perf_counter()
            run(argv, env=env, cwd=WORK)
            walls.append(time.perf_counter() - started)
        self.results["P7l"] = {
            "value": median(walls),
            "experiments": count,
            "runs": len(walls),
            "wall_s": [round(w, 4) for w in walls],
        }
        log(f"P7l: lxm3 list with {count} experiments: {median(walls):.3f} s")

    # ----- driver -----
    def cleanup(self) -> None:
        try:
            self.stop_masters()
            self.cancel_jobs()
            if not self.keep and self.remote_home:
                self.ssh(f"rm -rf {shlex.quote(self.remote_root)}", check=False)
        except Exception as error:  # noqa: BLE001 - best effort
            log(f"cleanup: {error}")

    def run_all(self) -> int:
        steps = [
            ("launches (P1, P1b, P2)", self.bench_launches),
            ("profile", self.bench_profile),
            ("watch + runner (P3, P4)", self.bench_watch_and_runner),
            ("version (P5)", self.bench_version),
            ("big sweep (P6, P6f, P7)", self.bench_big_sweep),
            ("list (P7l)", self.bench_list),
        ]
        failed = 0
        load: dict[str, list[float]] = self.results.setdefault("load_average", {})
        try:
            self.setup()
            for name, step in steps:
                if self.only and not any(word in name for word in self.only):
                    continue
                log(f"== {name} (load average {os.getloadavg()[0]:.1f})")
                load[name] = [round(os.getloadavg()[0], 2)]
                try:
                    step()
                except Exception as error:  # noqa: BLE001 - reported, the other measures still run
                    failed += 1
                    self.results["errors"][name] = "".join(
                        traceback.format_exception_only(type(error), error)
                    ).strip()
                    log(f"{name} FAILED: {error}")
                    self.cancel_jobs()
                load[name].append(round(os.getloadavg()[0], 2))
        except Exception as error:  # noqa: BLE001
            failed += 1
            self.results["errors"]["setup"] = str(error)
            log(f"setup FAILED: {error}")
        finally:
            self.cleanup()
        self.results["elapsed_s"] = round(time.perf_counter() - _T0, 1)
        self.report()
        return 1 if failed else 0

    def report(self) -> None:
        r = self.results

        def value(key: str, field: str = "value") -> float:
            entry = r.get(key)
            return (
                float(entry[field])
                if isinstance(entry, dict) and entry.get(field) is not None
                else float("nan")
            )

        rows = [
            (
                "P1",
                f"first launch, {self.cfg['tasks']:,} tasks: ours / 0.4.2",
                value("P1"),
                "<= 0.4",
                _detail(r, "P1", "ours {ours_first_s:.2f} s vs 0.4.2 {peer_first_s:.2f} s"),
            ),
            (
                "P1b",
                "relaunch, new hparams: ours / floor",
                value("P1b"),
                "<= 1.0",
                _detail(
                    r, "P1b", "ours {ours_relaunch_s:.2f} s vs ssh+{floor_arrays}x sbatch {floor_s:.2f} s"
                ),
            ),
            (
                "P2",
                "relaunch bytes up, % of first",
                value("P2"),
                "<= 2 %",
                _detail(r, "P2", "{relaunch_bytes_up:.0f} B vs {first_bytes_up:.0f} B on the wire"),
            ),
            (
                "P3",
                "scheduler commands per poll (max)",
                value("P3"),
                "1",
                _detail(r, "P3", "N = " + ", ".join(r.get("P3", {}).get("per_size", {}).keys())),
            ),
            (
                "P4",
                f"task start N={self.cfg['p4_sizes'][1]:,} / N={self.cfg['p4_sizes'][0]}",
                value("P4"),
                "<= 1.2",
                _detail(r, "P4", "{large_overhead_ms:.1f} ms vs {small_overhead_ms:.1f} ms"),
            ),
            (
                "P5",
                "`lxm3 version`: ours / 0.4.2",
                value("P5"),
                "<= 0.5",
                _detail(r, "P5", "{ours_ms} ms vs {peer_ms} ms"),
            ),
            (
                "P6",
                f"{self.cfg['p6_tasks']:,}-task launch, packed: s / MB",
                value("P6", "seconds"),
                "<= 2 s / 200 MB",
                _detail(r, "P6", "{seconds:.2f} s, {mb:.0f} MB ({measured})"),
            ),
            (
                "P6f",
                "same sweep unpacked / floor (bare sbatch)",
                value("P6f"),
                "<= 1.2",
                _detail(r, "P6f", "ours {ours_s:.2f} s vs {floor_sbatch_calls} x sbatch {floor_s:.2f} s"),
            ),
            (
                "P7",
                f"`lxm3 status` of {self.cfg['p6_tasks']:,} tasks, s",
                value("P7"),
                "<= 1 s",
                _detail(r, "P7", "{scheduler_commands_per_status} sacct per status"),
            ),
            (
                "P7l",
                "`lxm3 list`, 1,000 experiments, s",
                value("P7l"),
                "<= 0.3 s",
                _detail(r, "P7l", "{experiments} experiments, {runs} runs"),
            ),
        ]
        met = {
            "P1": value("P1") <= TARGETS["P1"],
            "P1b": value("P1b") <= TARGETS["P1b"],
            "P2": value("P2") <= TARGETS["P2"],
            "P3": value("P3") <= TARGETS["P3"],
            "P4": value("P4") <= TARGETS["P4"],
            "P5": value("P5") <= TARGETS["P5"],
            "P6": value("P6", "seconds") <= TARGETS["P6_seconds"] and value("P6", "mb") <= TARGETS["P6_mb"],
            "P6f": value("P6f") <= TARGETS["P6f"],
            "P7": value("P7") <= TARGETS["P7"],
            "P7l": value("P7l") <= TARGETS["P7l"],
        }
        r["targets_met"] = met
        r["targets"] = TARGETS
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "latest.json").write_text(json.dumps(r, indent=1, default=str))
        print(
            f"\nlxm3 benchmarks ({self.mode}; {r.get('versions', {}).get('ours', '?')} vs {r.get('versions', {}).get('peer', '?')}; "
            f"{r['elapsed_s']} s; results in {RESULTS / 'latest.json'})"
        )
        print(f"{'':4} {'measure':40} {'value':>9} {'target':>17}  {'met':3}  detail")
        for key, title, number, target, detail in rows:
            shown = "n/a" if math.isnan(number) else (f"{number:.0f}" if key == "P3" else f"{number:.3f}")
            flag = "-" if math.isnan(number) else ("yes" if met[key] else "NO")
            print(f"{key:4} {title:40} {shown:>9} {target:>17}  {flag:3}  {detail}")
        for name, error in r["errors"].items():
            print(f"ERROR in {name}: {error.splitlines()[0] if error else ''}")

        def fmt(number: float, digits: int) -> str:
            return "nan" if math.isnan(number) else f"{number:.{digits}f}"

        print(
            f"P1={fmt(value('P1'), 3)} P1b={fmt(value('P1b'), 3)} P2={fmt(value('P2'), 3)} P3={fmt(value('P3'), 0)} "
            f"P4={fmt(value('P4'), 3)} P5={fmt(value('P5'), 3)} P6={fmt(value('P6', 'seconds'), 2)}/{fmt(value('P6', 'mb'), 0)} "
            f"P6f={fmt(value('P6f'), 3)} P7={fmt(value('P7'), 3)} P7l={fmt(value('P7l'), 3)}",
            flush=True,
        )


def _detail(results: dict[str, Any], key: str, template: str) -> str:
    entry = results.get(key)
    if not isinstance(entry, dict):
        return "not measured"
    try:
        return template.format(**entry)
    except (KeyError, ValueError, TypeError):
        return ""


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="3 runs per measure; under 10 minutes")
    group.add_argument(
        "--tiny", action="store_true", help="CI smoke test: tiny sizes, 1 run, under 2 minutes"
    )
    parser.add_argument(
        "--arrays",
        choices=("auto", "full", "one-task"),
        default="auto",
        help="how the login node's sbatch submits arrays: auto (default) = all tasks when Slurm's "
        "MaxJobCount has room for the phase, else one task per array (see README)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the remote staging dirs")
    parser.add_argument(
        "--only",
        action="append",
        metavar="PN",
        help="run only these measures (P1, P1b, P2, P3, P4, P5, P6, P7, P7l, profile); repeatable",
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        print(
            "benchmarks/run.py must run as root (it brings up the testbed and a second sshd)", file=sys.stderr
        )
        return 2
    mode = "quick" if args.quick else "tiny" if args.tiny else "full"
    return Bench(mode, args.arrays, args.keep, args.only).run_all()


if __name__ == "__main__":
    sys.exit(main())
