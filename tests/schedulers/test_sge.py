"""The Grid Engine scheduler module: rendering (golden files), parsing (real qstat/qacct/qsub
output captured on the testbed), one command per submit/cancel and at most two per query,
and checks against the real Grid Engine of the testbed through a LocalTransport (root may
submit there).

Regenerate the golden scripts with `LXM3_UPDATE_GOLDEN=1 pytest tests/schedulers/test_sge.py`.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from lxm3 import xm
from lxm3.schedulers.base import ArrayChunk, JobScript, RenderRequest, SchedulerError, SubmittedJob
from lxm3.schedulers.sge import (
    AccountingRecord,
    GridEngineScheduler,
    directive_quote,
    final_status,
    job_name,
    map_state,
    parse_exit_markers,
    parse_max_aj_tasks,
    parse_qacct,
    parse_qstat_xml,
    parse_qsub_ids,
    parse_task_ranges,
)
from lxm3.transport.local import LocalTransport
from lxm3.xm.status import TaskState, TaskStatus
from lxm3.xm_cluster.executors.gridengine import GridEngine
from tests.hostile import HOSTILE_VALUES, SGE_VALUES, one_line
from tests.schedulers.fakes import RecordingTransport, chunked_scripts, fake_bin, result
from tests.schedulers.requests import render_request

TESTS = Path(__file__).resolve().parent.parent
GOLDEN = TESTS / "golden" / "sge"
FIXTURES = TESTS / "fixtures" / "sge"

#: One line each (a directive holds no line break), plus what Grid Engine parses.
HOSTILE = one_line([*HOSTILE_VALUES, *SGE_VALUES])


def qsub_cannot_read(value: str) -> bool:
    """qsub reads no empty value, nor quotes, `#` or line breaks in a `#$` line (lxm3 refuses them)."""
    return not value or any(ch in value for ch in "'\"#\n\r")


#: The hostile values a `#$` line can carry, quoted.
DIRECTIVE_VALUES = [value for value in [*HOSTILE_VALUES, *SGE_VALUES] if not qsub_cannot_read(value)]


request = render_request


GOLDEN_CASES: dict[str, RenderRequest] = {
    "single-job": request(GridEngine()),
    "array-resources": request(
        GridEngine(
            xm.JobRequirements(cpu=4, ram=16 * xm.GiB, gpu=2),
            walltime="1-02:03:04",
            queue="gpu.q",
            reserved=True,
            project="proj-42",
            account="acct.7",
            max_parallel_tasks=10,
            modules=["cuda/12.1", "gcc/12 openmpi/4"],
        ),
        chunk=ArrayChunk(101, 50),
        num_tasks=151,
        env={"WANDB_MODE": "offline", "DATA": "/data/my set"},
    ),
    "pe-and-memory-complexes": request(
        GridEngine(
            xm.JobRequirements(ram=6 * xm.GB),
            parallel_environments={"mpi": 16},
            memory_resources=("h_vmem", "mem_free"),
            resources={"scratch": "10G", "arch": "lx-amd64"},
            walltime=3600,
        ),
        chunk=ArrayChunk(0, 3),
        num_tasks=3,
    ),
    "overrides": request(
        GridEngine(
            xm.JobRequirements(cpu=2, ram=4 * xm.GiB),
            shell=None,
            merge_output=False,
            log_directory="/scratch/me/sge logs",
            extra_directives=["-l ssd=true", "-m ea", "-M me@example.org"],
            skip_directives=["-l h_vmem", "-m", "-N"],
            max_parallel_tasks=1,
        ),
        chunk=ArrayChunk(0, 4),
        num_tasks=4,
    ),
    "hostile-values": request(
        GridEngine(queue="all.q@node[1-4]*", resources={"h": "a$b`c`\\d"}, max_parallel_tasks=2),
        label="exp 'x' \"y\"\nrm -rf ~ #$ -q evil",
        chunk=ArrayChunk(0, 2),
        num_tasks=2,
        log_dir="/scratch/me/my logs/$dollar/ünï",
        env={f"HOSTILE_{i}": value for i, value in enumerate(HOSTILE)},
    ),
    "rerun-index-map": request(
        GridEngine(max_parallel_tasks=1),
        chunk=ArrayChunk(0, 3),
        num_tasks=20,
        index_map="/scratch/me/lxm3/experiments/7/1/train/rerun-1.idx",
    ),
}


# ---------------------------------------------------------------- rendering


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_render_matches_golden_file(name: str) -> None:
    rendered = GridEngineScheduler().render(GOLDEN_CASES[name])
    golden = GOLDEN / f"{name}.sh"
    if os.environ.get("LXM3_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(rendered)
    assert golden.exists(), f"no golden file {golden}; run with LXM3_UPDATE_GOLDEN=1"
    assert rendered == golden.read_text()


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_rendered_script_is_valid_bash_and_its_only_directives_are_ours(name: str, tmp_path: Path) -> None:
    case = GOLDEN_CASES[name]
    script = tmp_path / "job.sh"
    script.write_text(GridEngineScheduler().render(case))
    subprocess.run(["bash", "-n", str(script)], check=True)
    found = [line[3:] for line in script.read_text().splitlines() if line.lstrip().startswith("#$")]
    assert found == GridEngineScheduler().directives(case)


def test_single_job_is_not_an_array_but_a_sweep_is() -> None:
    scheduler = GridEngineScheduler()
    single = scheduler.directives(request(GridEngine(max_parallel_tasks=3)))
    assert single == [
        "-N lxm3_7_1_train",
        "-o /scratch/me/lxm3/experiments/7/1/train/logs/",
        "-j y",
        "-S /bin/bash",
    ]
    sweep = scheduler.directives(
        request(GridEngine(max_parallel_tasks=2), chunk=ArrayChunk(0, 5), num_tasks=5)
    )
    assert sweep[3:5] == ["-t 1-5", "-tc 2"]
    last_chunk = scheduler.render(
        request(GridEngine(max_parallel_tasks=2), chunk=ArrayChunk(202, 1), num_tasks=203)
    )
    assert "#$ -t" not in last_chunk
    assert "LXM_TASK_ID=$((LXM_ARRAY_INDEX + 202))" in last_chunk


def test_job_names_follow_qsub_rules() -> None:
    assert job_name("7_1_train") == "lxm3_7_1_train"
    assert job_name("sweep") == "sweep"
    assert job_name("a b/c:d@e\\f*g?h\ti\nj") == "a_b_c_d_e_f_g_h_i_j"
    assert job_name("ünï") == "lxm3__n_"
    assert job_name("") == "lxm3_"
    assert len(job_name("x" * 1000)) == 200
    for value in [*HOSTILE_VALUES, *SGE_VALUES]:
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]{0,199}", job_name(value)), value


def test_directive_values_are_quoted_or_refused() -> None:
    assert directive_quote("plain-value_1.2=3,4") == "plain-value_1.2=3,4"
    assert directive_quote("/my logs/") == "'/my logs/'"
    assert directive_quote("a$b`c`\\d") == "'a$b`c`\\d'"
    for value in [*HOSTILE_VALUES, *SGE_VALUES]:
        if qsub_cannot_read(value):
            with pytest.raises(SchedulerError):
                directive_quote(value)
        else:
            assert shlex.split(directive_quote(value)) == [value]


def test_a_log_dir_qsub_cannot_read_is_refused_at_render() -> None:
    with pytest.raises(SchedulerError, match="quotes, '#' and line breaks"):
        GridEngineScheduler().render(request(GridEngine(), log_dir="/scratch/it's/logs"))


def test_an_env_value_that_would_start_a_directive_line_is_refused() -> None:
    """qsub reads `#$` lines anywhere in the script, even inside a quoted string."""
    for value in ["fine\n#$ -q evil.q", "fine\n  #$ -q evil.q"]:
        with pytest.raises(SchedulerError, match="read by Grid Engine as a directive"):
            GridEngineScheduler().render(request(GridEngine(), env={"NOTE": value}))
    GridEngineScheduler().render(request(GridEngine(), env={"NOTE": "fine\nstill # fine $ #$"}))


def test_skip_directives_match_whole_words() -> None:
    executor = GridEngine(
        xm.JobRequirements(cpu=2, ram=2 * xm.GiB),
        memory_resources=("h_vmem", "h_vmem_extra"),
        skip_directives=["-l h_vmem", "-p"],
    )
    directives = GridEngineScheduler().directives(request(executor))
    assert "-l h_vmem_extra=1G" in directives
    assert "-l h_vmem=1G" not in directives
    assert "-pe smp 2" in directives  # "-p" is not a prefix of the word "-pe"


def test_log_directory_under_home_uses_grid_engines_home_variable() -> None:
    directives = GridEngineScheduler().directives(request(GridEngine(log_directory="~/sge/")))
    assert "-o $HOME/sge/" in directives or "-o '$HOME/sge/'" in directives


def run_script(script: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script)], env={"PATH": os.environ["PATH"], **env}, capture_output=True, text=True
    )


@pytest.mark.parametrize(("code", "reported"), [(0, 0), (3, 3), (99, 1), (100, 1), (137, 137)])
def test_exit_codes_grid_engine_reserves_are_passed_on_as_1(tmp_path: Path, code: int, reported: int) -> None:
    runner = tmp_path / "runner.sh"
    runner.write_text(f"exit {code}\n")
    script = tmp_path / "job.sh"
    script.write_text(
        GridEngineScheduler().render(request(GridEngine(), python="bash", runner_path=str(runner)))
    )
    completed = run_script(script, {"SGE_TASK_ID": "undefined"})
    assert completed.returncode == reported
    assert completed.stdout == f"lxm3-exit {code}\n"  # the real code, for lxm3 to read
    assert ("reported to Grid Engine as 1" in completed.stderr) == (code in (99, 100))


def test_user_template_directory_overrides_the_shipped_template(tmp_path: Path) -> None:
    (tmp_path / "sge.sh.j2").write_text(
        '{% extends "job.sh.j2" %}\n'
        "{% block directives %}{% for line in directives %}#$ {{ line }}\n{% endfor %}#$ -l site=1\n{% endblock %}\n"
        "{% block setup %}source /etc/site.sh\n{% endblock %}\n"
    )
    rendered = GridEngineScheduler(template_dirs=[tmp_path]).render(request(GridEngine()))
    assert "#$ -S /bin/bash\n#$ -l site=1\n" in rendered
    assert "source /etc/site.sh" in rendered


# ---------------------------------------------------------------- parsing captured output


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_task_ranges() -> None:
    assert parse_task_ranges("1") == [1]
    assert parse_task_ranges("3-10:1") == list(range(3, 11))
    assert parse_task_ranges("4,5,7-10:1") == [4, 5, 7, 8, 9, 10]
    assert parse_task_ranges("1-9:4") == [1, 5, 9]


def test_qstat_mixed_running_pending_range_hold_eqw_and_plain_job() -> None:
    jobs = parse_qstat_xml(fixture("qstat-mixed.xml"))
    assert jobs["21"] == {1: "r", 2: "r", 3: "r", 4: "qw", 5: "qw", 7: "qw", 8: "qw", 9: "qw", 10: "qw"}
    assert jobs["22"] == {1: "hqw"}
    assert jobs["23"] == {1: "Eqw"}
    assert jobs["24"] == {1: "r"}


def test_qstat_other_captures() -> None:
    assert parse_qstat_xml(fixture("qstat-array-transferring.xml"))["2"] == {
        1: "r",
        2: "t",
        **{i: "qw" for i in range(3, 11)},
    }
    held = parse_qstat_xml(fixture("qstat-array-hold.xml"))
    assert held == parse_qstat_xml(fixture("qstat-array-hold-gd.xml"))
    assert held["19"] == {1: "hqw", 2: "hqw", 3: "hqw", 4: "hqw"}
    assert set(parse_qstat_xml(fixture("qstat-eqw.xml"))) == {"14", "15", "16"}
    assert parse_qstat_xml(fixture("qstat-empty.xml")) == {}
    with pytest.raises(SchedulerError, match="unreadable XML"):
        parse_qstat_xml("error: commlib error: got select error (Connection refused)")


@pytest.mark.parametrize(
    ("code", "state"),
    [
        ("qw", TaskState.PENDING),
        ("hqw", TaskState.PENDING),
        ("hRwq", TaskState.PENDING),
        ("Rq", TaskState.PENDING),
        ("r", TaskState.RUNNING),
        ("t", TaskState.RUNNING),
        ("Rr", TaskState.RUNNING),
        ("s", TaskState.RUNNING),
        ("dr", TaskState.RUNNING),
        ("dt", TaskState.RUNNING),
        ("Eqw", TaskState.FAILED),
        ("Ehqw", TaskState.FAILED),
    ],
)
def test_map_state(code: str, state: TaskState) -> None:
    assert map_state(code) is state


def test_qacct_records() -> None:
    mixed = parse_qacct(fixture("qacct-array-mixed.txt"))
    assert sorted(mixed) == [("18", index) for index in range(1, 7)]
    assert mixed[("18", 2)] == AccountingRecord("18", 2, 0, "", 3)
    assert mixed[("18", 1)].exit_status == 0
    killed = parse_qacct(fixture("qacct-array-qdel.txt"))
    assert sorted(index for _, index in killed) == [1, 2, 3, 4, 5]
    assert killed[("20", 2)] == AccountingRecord("20", 2, 100, "assumedly after job", 137)
    assert parse_qacct(fixture("qacct-completed.txt"))[("1", 1)].exit_status == 0
    assert parse_qacct(fixture("qacct-exit3.txt"))[("11", 1)] == AccountingRecord("11", 1, 0, "", 3)
    assert parse_qacct(fixture("qacct-eqw-badwd.txt"))[("15", 1)].reason == "changing into working directory"
    assert parse_qacct(fixture("qacct-eqw-exit100.txt"))[("14", 1)] == AccountingRecord(
        "14", 1, 30, "application error returned", 100
    )
    assert parse_qacct(fixture("qacct-requeue-exit99.txt"))[("17", 1)].failed == 25
    assert parse_qacct(fixture("qacct-not-found.stderr")) == {}


def test_qacct_keeps_the_last_record_of_a_rescheduled_task() -> None:
    text = fixture("qacct-requeue-exit99.txt") + fixture("qacct-requeue-exit99.txt").replace(
        "failed       25  : rescheduling", "failed       0"
    ).replace("exit_status  99", "exit_status  0 ")
    assert parse_qacct(text)[("17", 1)] == AccountingRecord("17", 1, 0, "", 0)


def job(job_id: str = "5", chunk: ArrayChunk = ArrayChunk(0, 1)) -> SubmittedJob:
    return SubmittedJob(job_id, chunk, "/stage/experiments/1/1/train/job-0.sh")


def summary(status: TaskStatus | None) -> tuple[str, int | None] | None:
    return None if status is None else (status.state.value, status.exit_code)


def test_final_status_from_accounting_and_exit_files() -> None:
    def record(failed: int, exit_status: int, reason: str = "") -> AccountingRecord:
        return AccountingRecord("5", 1, failed, reason, exit_status)

    assert summary(final_status(job(), 0, record(0, 0), None, False)) == ("COMPLETED", 0)
    assert summary(final_status(job(), 0, record(0, 3), None, False)) == ("FAILED", 3)
    assert summary(final_status(job(), 0, record(0, 1), 100, False)) == ("FAILED", 100)  # the real code
    assert summary(final_status(job(), 0, record(100, 137), None, True)) == ("CANCELLED", 137)
    assert summary(final_status(job(), 0, record(100, 137), 0, False)) == ("CANCELLED", 137)
    limit = final_status(
        job(), 0, record(37, 137, "qmaster enforced h_rt, h_cpu, or h_vmem limit"), None, False
    )
    assert summary(limit) == ("FAILED", 137)
    assert limit is not None and "h_rt" in limit.message
    assert final_status(job(), 0, record(25, 99, "rescheduling"), None, False) is None
    assert summary(final_status(job(), 0, None, 0, False)) == ("COMPLETED", 0)
    assert summary(final_status(job(), 0, None, 4, False)) == ("FAILED", 4)
    assert final_status(job(), 0, None, None, True) is None
    completed = final_status(job(), 0, record(0, 0), None, False)
    assert completed is not None and completed.log_path == "/stage/experiments/1/1/train/logs/0.out"


def test_qsub_ids_and_config() -> None:
    assert parse_qsub_ids(fixture("qsub-terse-plain.stdout")) == ["41"]
    assert parse_qsub_ids(fixture("qsub-terse-array.stdout")) == ["42"]
    assert parse_qsub_ids("warning: something\n") == []
    assert parse_max_aj_tasks(fixture("qconf-sconf.txt")) == 101
    assert parse_max_aj_tasks("max_aj_tasks                 0\n") == 1_000_000
    with pytest.raises(SchedulerError, match="max_aj_tasks"):
        parse_max_aj_tasks("nothing")
    assert parse_exit_markers(
        [
            "/st:age/logs/lxm3_1_1_x.o88.3:lxm3-exit 0",
            "/s/logs/a.o88.4:lxm3-exit -9",
            "/s/logs/lxm3_1_1_x.o89:lxm3-exit 2",
            "/s/logs/lxm3_1_1_x.o90.1:lxm3-exit",
            "/s/logs/3.out:lxm3-exit 1",
            "junk",
        ]
    ) == {("88", 3): 0, ("88", 4): -9, ("89", 1): 2}


# ---------------------------------------------------------------- commands (fake transport)


def scripts(count: int, size: int = 101, executor: GridEngine | None = None) -> list[JobScript]:
    return chunked_scripts(request, executor or GridEngine(), count, size)


def states(statuses: dict[int, TaskStatus]) -> dict[int, str]:
    return {task: status.state.value for task, status in sorted(statuses.items())}


def test_submit_is_one_command_of_qsub_terse_script_files() -> None:
    to_submit = scripts(3)
    transport = RecordingTransport(
        [result("lxm3-submitted 0 51.1-101:1\nlxm3-submitted 2 53\nlxm3-submitted 1 52.1-101:1\n")]
    )
    scheduler = GridEngineScheduler()
    submitted = scheduler.submit(transport, to_submit)
    assert len(transport.commands) == 1
    command = transport.commands[0][-1]
    assert command.count("qsub -terse /stage/exp/1/1/train/job-") == 3
    assert "-b" not in command.split() and "mkdir" not in command
    assert [job.job_id for job in submitted] == ["51", "52", "53"]
    assert [job.chunk.offset for job in submitted] == [0, 101, 202]
    assert scheduler.submit_argv(to_submit[0]) == ["qsub", "-terse", "/stage/exp/1/1/train/job-0.sh"]


def test_submit_refusal_names_the_script_and_keeps_qsubs_words() -> None:
    reasons = "".join(
        f"lxm3-reason 1 {line}\n" for line in fixture("qsub-too-many-tasks.stderr").splitlines()
    )
    transport = RecordingTransport([result(f"lxm3-submitted 0 61.1-101:1\nlxm3-refused 1\n{reasons}", "", 1)])
    with pytest.raises(SchedulerError) as caught:
        GridEngineScheduler().submit(transport, scripts(3))
    message = str(caught.value)
    assert "you tried to submit a job with more than 101 tasks" in message
    assert "Exiting." not in message
    assert "job-1.sh" in message and "tasks 101..201" in message
    # Jobs accepted before the refusal travel on the error (the batcher cancels or records them).
    assert [job.job_id for job in caught.value.submitted] == ["61"]


def test_submit_makes_custom_log_directories_first() -> None:
    executor = GridEngine(log_directory="~/sge logs")
    transport = RecordingTransport([result("lxm3-submitted 0 7\n")])
    GridEngineScheduler().submit(transport, scripts(1, 1, executor))
    assert transport.commands[0][-1].startswith("mkdir -p \"$HOME\"/'sge logs/' || exit 1\n")


def qstat_xml(*entries: tuple[str, str, str | None]) -> str:
    """A qstat -xml document with (job id, state, tasks) entries."""
    lists = "".join(
        f"<job_list><JB_job_number>{job_id}</JB_job_number><state>{state}</state>"
        + (f"<tasks>{tasks}</tasks>" if tasks else "")
        + "</job_list>"
        for job_id, state, tasks in entries
    )
    return f"<?xml version='1.0'?><job_info><queue_info>{lists}</queue_info><job_info></job_info></job_info>"


def test_query_is_one_qstat_while_everything_is_queued() -> None:
    jobs = [job("22", ArrayChunk(0, 1)), job("24", ArrayChunk(1, 1)), job("23", ArrayChunk(2, 1))]
    transport = RecordingTransport(
        [result(fixture("qstat-mixed.xml")), result(fixture("qacct-eqw-badwd.txt"))]
    )
    scheduler = GridEngineScheduler()
    parsed = scheduler.query(transport, jobs[:2])
    assert len(transport.commands) == 1 and "qstat -xml" in transport.commands[0][-1]
    assert "-u '*'" not in transport.commands[0][-1]
    assert states(parsed["22"]) == {0: "PENDING"}
    assert states(parsed["24"]) == {1: "RUNNING"}
    assert (scheduler.qstat_calls, scheduler.qacct_calls) == (1, 0)


def test_query_looks_up_tasks_that_left_qstat_in_one_command_and_caches_final_ones() -> None:
    jobs = [job("18", ArrayChunk(0, 6)), job("19", ArrayChunk(6, 4)), job("30", ArrayChunk(10, 2))]
    lookup = (
        "@@lxm3 exit-lines\n/stage/experiments/1/1/train/logs/lxm3_x.o30.2:lxm3-exit 0\n"
        "@@lxm3 qacct 18 30 \n" + fixture("qacct-array-mixed.txt")
    )
    transport = RecordingTransport(
        [result(qstat_xml(("18", "r", "4"), ("19", "hqw", "1-4:1"))), result(lookup)]
    )
    scheduler = GridEngineScheduler()
    parsed = scheduler.query(transport, jobs)
    assert len(transport.commands) == 2
    second = transport.commands[1][-1]
    assert "/logs/*.o18.1 " in second and "/logs/*.o18.4" not in second and "*.o19" not in second
    assert second.count("awk") == 1
    assert states(parsed["18"]) == {
        0: "COMPLETED",
        1: "FAILED",
        2: "COMPLETED",
        3: "RUNNING",
        4: "COMPLETED",
        5: "COMPLETED",
    }
    assert parsed["18"][1].exit_code == 3
    assert states(parsed["19"]) == {6: "PENDING", 7: "PENDING", 8: "PENDING", 9: "PENDING"}
    assert states(parsed["30"]) == {11: "COMPLETED"}  # 10: no record, no exit line yet: not final
    assert (scheduler.qstat_calls, scheduler.lookup_calls, scheduler.qacct_calls) == (1, 1, 1)
    # Next poll: task 3 of job 18 is gone too, with its exit line; final tasks are not asked about again.
    transport.results = [
        result(qstat_xml(("19", "r", "1-4:1"))),
        result(
            "@@lxm3 exit-lines\n/stage/experiments/1/1/train/logs/lxm3_x.o18.4:lxm3-exit 0\n@@lxm3 qacct \n"
        ),
    ]
    parsed = scheduler.query(transport, jobs[:2])
    assert "/logs/*.o18.4" in transport.commands[3][-1] and "/logs/*.o18.1 " not in transport.commands[3][-1]
    assert states(parsed["18"])[3] == "COMPLETED"
    assert (scheduler.qstat_calls, scheduler.lookup_calls, scheduler.qacct_calls) == (2, 2, 1)


def test_tasks_deleted_while_pending_are_cancelled_when_we_cancelled_or_after_the_grace() -> None:
    jobs = [job("20", ArrayChunk(0, 8))]
    scheduler = GridEngineScheduler(missing_grace=3600)
    transport = RecordingTransport([result()])
    scheduler.cancel(transport, ["20"])
    transport.results = [
        result(qstat_xml()),
        result("@@lxm3 exit-lines\n@@lxm3 qacct 20 \n" + fixture("qacct-array-qdel.txt")),
    ]
    parsed = scheduler.query(transport, jobs)
    assert states(parsed["20"]) == {task: "CANCELLED" for task in range(8)}
    assert parsed["20"][6].exit_code is None and "no accounting record" in parsed["20"][6].message
    assert parsed["20"][1].exit_code == 137

    other = GridEngineScheduler(missing_grace=3600)
    not_found = "@@lxm3 exit-lines\n@@lxm3 qacct 13 \n" + fixture("qacct-not-found.stderr")
    transport.results = [result(qstat_xml()), result(not_found)]
    assert other.query(transport, [job("13")]) == {"13": {}}
    other.missing_grace = 0
    transport.results = [result(qstat_xml()), result(not_found)]
    assert states(other.query(transport, [job("13")])["13"]) == {0: "CANCELLED"}


def test_eqw_is_failed_with_its_reason_and_looked_up_once() -> None:
    scheduler = GridEngineScheduler()
    lookup = "@@lxm3 exit-lines\n@@lxm3 qacct 15 \n" + fixture("qacct-eqw-badwd.txt")
    transport = RecordingTransport([result(fixture("qstat-eqw.xml")), result(lookup)])
    parsed = scheduler.query(transport, [job("15")])
    status = parsed["15"][0]
    assert status.state is TaskState.FAILED
    assert (
        "Eqw" in status.message
        and "changing into working directory" in status.message
        and "qdel 15" in status.message
    )
    transport.results = [result(fixture("qstat-eqw.xml"))]
    assert scheduler.query(transport, [job("15")])["15"][0] == status
    assert len(transport.commands) == 3


def test_query_raises_when_qstat_fails() -> None:
    transport = RecordingTransport(
        [result("", "error: commlib error: got select error (Connection refused)", 1)]
    )
    with pytest.raises(SchedulerError, match="Connection refused"):
        GridEngineScheduler().query(transport, [job()])


def test_cancel_is_one_qdel_and_jobs_that_already_ended_are_fine() -> None:
    transport = RecordingTransport([result(fixture("qdel-mixed.txt"), "", 1)])
    GridEngineScheduler().cancel(transport, ["89", "90", "1"])
    assert transport.commands == [["qdel", "89", "90", "1"]]
    transport = RecordingTransport(
        [result('hpcuser - you do not have the necessary privileges to delete the job "91"\n', "", 1)]
    )
    with pytest.raises(SchedulerError, match="necessary privileges"):
        GridEngineScheduler().cancel(transport, ["91"])


def test_max_array_size_is_asked_once() -> None:
    transport = RecordingTransport([result(fixture("qconf-sconf.txt"))])
    scheduler = GridEngineScheduler()
    assert scheduler.max_array_size(transport) == 101
    assert scheduler.max_array_size(transport) == 101
    assert transport.commands == [["qconf", "-sconf"]]


# ---------------------------------------------------------------- real bash, fake Grid Engine binaries


def test_submit_command_stops_at_the_first_refusal_in_real_bash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_bin(
        tmp_path,
        monkeypatch,
        {
            "qsub": f"""
            echo "$@" >> {tmp_path}/calls
            case "$2" in *job-1.sh) echo "Unable to run job: nope" >&2; echo Exiting. >&2; exit 1;; esac
            echo "$((RANDOM % 1000 + 1)).1-101:1"
            """
        },
    )
    monkeypatch.setattr(GridEngineScheduler, "submit_parallelism", 1)
    with pytest.raises(SchedulerError, match="Unable to run job: nope") as caught:
        GridEngineScheduler().submit(LocalTransport(), scripts(3))
    assert len(caught.value.submitted) == 1
    assert "Exiting." not in str(caught.value)
    assert len((tmp_path / "calls").read_text().splitlines()) == 2


def test_lookup_command_runs_qacct_only_when_exit_lines_cannot_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real bash, grep and awk; a fake qacct printing captured records of three jobs."""
    everything = (
        fixture("qacct-array-mixed.txt") + fixture("qacct-exit3.txt") + fixture("qacct-array-qdel.txt")
    )
    (tmp_path / "all.txt").write_text(everything)
    fake_bin(tmp_path, monkeypatch, {"qacct": f'echo "$@" >> {tmp_path}/calls\ncat {tmp_path}/all.txt\n'})
    logs = tmp_path / "st:age $x" / "logs"
    logs.mkdir(parents=True)
    for index in range(1, 7):  # Grid Engine's output files of array 18, as the job script leaves them
        (logs / f"lxm3_1_1_x.o18.{index}").write_text(f"noise\nlxm3-exit {3 if index == 2 else 0}\n")
    (logs / "lxm3_1_1_x.o181.1").write_text("lxm3-exit 5\n")  # another job whose id starts alike
    (logs / "lxm3_1_1_x.o11").write_text("runner: cannot start\n")  # killed/failed before the end
    (logs / "1.out").write_text("lxm3-exit 7\n")
    array = SubmittedJob("18", ArrayChunk(0, 6), str(logs.parent / "job-0.sh"))
    single = SubmittedJob("11", ArrayChunk(6, 1), str(logs.parent / "job-1.sh"))
    scheduler = GridEngineScheduler()
    transport = LocalTransport()

    def lookup(
        jobs: dict[SubmittedJob, list[int]], ask: frozenset[str] = frozenset()
    ) -> tuple[str, str, str]:
        (tmp_path / "calls").write_text("")
        exit_lines, _, accounting = transport.run_script(
            scheduler.lookup_command(jobs, set(ask))
        ).stdout.partition("@@lxm3 qacct")
        return exit_lines, accounting, (tmp_path / "calls").read_text()

    exit_lines, accounting, calls = lookup({array: [0, 1, 4]})
    assert calls == ""
    assert parse_exit_markers(exit_lines.splitlines()) == {("18", 1): 0, ("18", 2): 3, ("18", 5): 0}
    exit_lines, accounting, calls = lookup({array: [0, 1, 4]}, frozenset({"18"}))
    assert calls == "-j 18\n"
    assert sorted(parse_qacct(accounting)) == [("18", index) for index in range(1, 7)]  # awk kept only job 18
    assert len(accounting) < 500
    exit_lines, accounting, calls = lookup({array: list(range(6)), single: [6]})
    assert calls == "-j 11\n"  # 18 had every exit line
    assert sorted(parse_qacct(accounting)) == [("11", 1)]
    exit_lines, accounting, calls = lookup({array: [0], single: [6]}, frozenset({"18"}))
    assert calls == f"-o {subprocess.getoutput('id -un')} -j\n"
    assert sorted(parse_qacct(accounting)) == [("11", 1)] + [("18", i) for i in range(1, 7)]
    many = SubmittedJob("18", ArrayChunk(0, 100), str(logs.parent / "job-0.sh"))
    exit_lines, accounting, calls = lookup({many: list(range(100))})
    assert "--include" in scheduler.lookup_command({many: list(range(100))}, set())
    assert parse_exit_markers(exit_lines.splitlines()) == {
        ("18", i): (3 if i == 2 else 0) for i in range(1, 7)
    }
    assert calls == "-j 18\n"  # 94 tasks had no line yet


# ---------------------------------------------------------------- the real Grid Engine of the testbed


def require_local_sge() -> None:
    """These tests need the testbed's Grid Engine; they fail (never skip) when it is down."""
    for tool in ("qsub", "qstat", "qacct", "qdel", "qconf"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} not found; bring the testbed up with: bash tests/testbed/sge-up.sh")
    probe = subprocess.run(["qstat", "-f"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.fail(
            f"Grid Engine testbed is down ({probe.stderr.strip()}); run: bash tests/testbed/sge-up.sh"
        )


def wait_final(
    scheduler: GridEngineScheduler, jobs: list[SubmittedJob], timeout: float = 60
) -> dict[int, TaskStatus]:
    deadline = time.monotonic() + timeout
    while True:
        parsed = scheduler.query(LocalTransport(), jobs)
        merged = {task: status for tasks in parsed.values() for task, status in tasks.items()}
        wanted = [task for job in jobs for task in job.chunk.task_ids]
        if all(task in merged and merged[task].state.is_terminal for task in wanted):
            return merged
        if time.monotonic() > deadline:
            raise AssertionError(f"not final after {timeout} s: {merged}")
        time.sleep(0.5)


def staged_scripts(
    tmp_path: Path, scheduler: GridEngineScheduler, executor: GridEngine, sizes: list[int], sleep: float = 0
) -> list[JobScript]:
    """Job scripts whose "runner" records the task id, fails task 1 with 3 and task 2 with 100."""
    runner = tmp_path / "runner.py"
    runner.write_text(
        "import sys, time\n"
        f"time.sleep({sleep})\n"
        "task = int(sys.argv[2])\n"
        "open(sys.argv[1] + '.' + str(task), 'w').write(str(task))\n"
        "sys.exit({1: 3, 2: 100}.get(task, 0))\n"
    )
    (tmp_path / "logs").mkdir(exist_ok=True)
    result = []
    offset = 0
    for number, size in enumerate(sizes):
        case = request(
            executor,
            label="lxm3-unit-test",
            chunk=ArrayChunk(offset, size),
            num_tasks=sum(sizes),
            job_dir=str(tmp_path),
            log_dir=str(tmp_path / "logs"),
            python="/usr/bin/python3",
            runner_path=str(runner),
            spec_path=str(tmp_path / "done"),
        )
        path = tmp_path / f"job-{number}.sh"
        path.write_text(scheduler.render(case))
        result.append(JobScript(str(path), case))
        offset += size
    return result


@pytest.mark.sge
def test_real_sge_submit_query_and_global_task_ids(tmp_path: Path) -> None:
    require_local_sge()
    scheduler = GridEngineScheduler()
    to_submit = staged_scripts(tmp_path, scheduler, GridEngine(max_parallel_tasks=3), [3, 1])
    jobs = scheduler.submit(LocalTransport(), to_submit)
    assert [job.chunk for job in jobs] == [ArrayChunk(0, 3), ArrayChunk(3, 1)]
    final = wait_final(scheduler, jobs)
    assert states(final) == {0: "COMPLETED", 1: "FAILED", 2: "FAILED", 3: "COMPLETED"}
    assert final[1].exit_code == 3
    assert (
        final[2].exit_code == 100
    )  # reported to Grid Engine as 1 (no Eqw); the lxm3-exit line has the real code
    assert sorted(int(p.read_text()) for p in tmp_path.glob("done.*")) == [0, 1, 2, 3]
    assert scheduler.qstat_calls >= 1 and scheduler.qacct_calls <= scheduler.qstat_calls


@pytest.mark.sge
def test_real_sge_refusal_and_cancel(tmp_path: Path) -> None:
    require_local_sge()
    scheduler = GridEngineScheduler()
    good, bad = staged_scripts(tmp_path, scheduler, GridEngine(max_parallel_tasks=1), [3, 102], sleep=60)
    with pytest.raises(SchedulerError, match="more than 101 tasks") as caught:
        scheduler.submit(LocalTransport(), [good, bad])
    [submitted] = caught.value.submitted  # type: ignore[attr-defined]
    time.sleep(2)  # let task 1 start, so both a running and pending tasks get deleted
    scheduler.cancel(LocalTransport(), [submitted.job_id])
    scheduler.cancel(LocalTransport(), [submitted.job_id])  # again: already gone is fine
    final = wait_final(scheduler, [submitted])
    assert states(final) == {0: "CANCELLED", 1: "CANCELLED", 2: "CANCELLED"}


@pytest.mark.sge
def test_real_sge_reads_directive_values_as_written(tmp_path: Path) -> None:
    """qsub's own `#$` parser reads back every hostile value a `#$` line can carry exactly."""
    require_local_sge()
    scheduler = GridEngineScheduler()
    account = "acct$;&|[x]{y}(z)<w>~^!%+=,"
    held: dict[str, tuple[str, Path]] = {}
    try:
        for number, value in enumerate(DIRECTIVE_VALUES):
            log_dir = tmp_path / str(number) / value
            log_dir.mkdir(parents=True)
            case = request(
                GridEngine(account=account), label=value, log_dir=str(log_dir), job_dir=str(tmp_path)
            )
            path = tmp_path / f"job-{number}.sh"
            path.write_text(scheduler.render(case))
            submitted = subprocess.run(["qsub", "-terse", "-h", str(path)], capture_output=True, text=True)
            assert submitted.returncode == 0, (value, submitted.stderr)
            held[parse_qsub_ids(submitted.stdout)[0]] = (value, log_dir)
        for job_id, (value, log_dir) in held.items():
            shown = subprocess.run(["qstat", "-j", job_id], capture_output=True, text=True, check=True).stdout
            fields = {
                key: field.strip() for key, _, field in (line.partition(":") for line in shown.splitlines())
            }
            assert fields["account"] == account, (value, shown)
            assert fields["stdout_path_list"] == f"NONE:NONE:{log_dir}/", (value, shown)
            assert fields["job_name"] == job_name(value)
    finally:
        if held:
            subprocess.run(["qdel", ",".join(held)], capture_output=True, check=False)


@pytest.mark.sge
def test_real_max_array_size() -> None:
    require_local_sge()
    assert GridEngineScheduler().max_array_size(LocalTransport()) == 101
