"""Reads the metrics (and, if asked, the task tables) of many jobs in ONE command.

Run on the execution host as `python3 -c SOURCE [--series METRIC] [--args I]...
JOB_DIR...`, so like the task runner it uses the standard library only and
works on Python 3.6+. For each job dir it reads every
`outputs/<task>/metrics.jsonl` and prints one JSON document:

    {"jobs": [{"tasks": {"<task>": {"last": {metric: value}, "series": [[step, value], ...]}},
               "args": [[argv items of task 0], ...] or null}]}

`last` holds each metric's last value: only numbers count, and a line that
is not a JSON object (a half-written last line, a stray print) is skipped, so
a hyperparameter search can rely on it. `series` (with `--series METRIC`)
pairs each value of that metric with the line's `step`, or with its position
among the lines that have the metric when the line has no step.
"""

import json
import math
import os
import sys

METRICS_NAME = "metrics.jsonl"


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_metrics_file(path, series_of=None):
    """(last values, series) of one metrics file; ({}, []) when there is none."""
    last = {}  # type: dict
    series = []  # type: list
    try:
        handle = open(path, "rb")
    except (IOError, OSError):
        return last, series
    with handle:
        for raw in handle:
            try:
                line = json.loads(raw.decode("utf-8"))
            except ValueError:
                continue
            if not isinstance(line, dict):
                continue
            for key, value in line.items():
                if is_number(value):
                    last[key] = value
            if series_of is not None and is_number(line.get(series_of)):
                step = line.get("step")
                series.append([step if is_number(step) else len(series), line[series_of]])
    return last, series


def read_job(job_dir, series_of=None, with_args=False):
    """One job dir's entry of the document."""
    tasks = {}
    outputs = os.path.join(job_dir, "outputs")
    try:
        names = os.listdir(outputs)
    except (IOError, OSError):
        names = []
    for name in names:
        if not name.isdigit():
            continue
        last, series = read_metrics_file(os.path.join(outputs, name, METRICS_NAME), series_of)
        entry = {"last": last}
        if series_of is not None:
            entry["series"] = series
        tasks[name] = entry
    args = None
    if with_args:
        args = read_task_args(os.path.join(job_dir, "tasks.jsonl"))
    return {"tasks": tasks, "args": args}


def read_task_args(table_path):
    """The argv items of every task in a task table, in task order; None without the table."""
    try:
        handle = open(table_path, "rb")
    except (IOError, OSError):
        return None
    with handle:
        result = []
        for raw in handle:
            try:
                result.append(json.loads(raw.decode("utf-8")).get("args", []))
            except (ValueError, AttributeError):
                result.append([])
        return result


def finite(value):
    """NaN and infinities become None: the document stays strict JSON."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def clean(document):
    for job in document["jobs"]:
        for entry in job["tasks"].values():
            entry["last"] = dict((k, finite(v)) for k, v in entry["last"].items())
            if "series" in entry:
                entry["series"] = [[s, finite(v)] for s, v in entry["series"] if finite(v) is not None]
    return document


def read_jobs(job_dirs, series_of=None, args_of=()):
    return clean({"jobs": [read_job(d, series_of, i in args_of) for i, d in enumerate(job_dirs)]})


def main(argv):
    series_of = None
    args_of = set()
    rest = list(argv[1:])
    while rest and rest[0] in ("--series", "--args"):
        flag, value = rest[0], rest[1]
        rest = rest[2:]
        if flag == "--series":
            series_of = value
        else:
            args_of.add(int(value))
    if rest and rest[0] == "--":
        rest = rest[1:]
    sys.stdout.write(json.dumps(read_jobs(rest, series_of, args_of), separators=(",", ":")))
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
