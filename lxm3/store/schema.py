"""The store's schema: numbered migrations, each run once (see `ExperimentStore._migrate`).

What a row knows (schema 3):

    experiments   title, project, launcher, argv, cwd, git state, config path;
                  the launching process (pid, host, start time); `cleaned`
                  once `lxm3 clean` removed its staged files
    attempts      attempt 1 is the launch, 2, 3, ... are `lxm3 rerun`s
    work_units    the unit's args
    jobs          one row per job per attempt (`lxm3.store.records.JobRecord`):
                  target and scheduler, the job dir (`remote_dir`; logs are
                  `<log_dir>/<task>.out|.err|.exit`), its local mirror, the
                  content-addressed files it needs, the submitted scheduler jobs
                  (`submitted`: job id, chunk, script, and for reruns the index
                  map and the global task ids), the pickled executor (to render
                  rerun scripts), the process that submitted it (it runs Local
                  jobs), and `final`, the task states cached once all of the
                  row's tasks ended
    dependencies  one row per condition a work unit waits on (`mode` all/any,
                  the unit waited on, possibly of another experiment, the
                  condition and whether it pairs tasks one by one)
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: experiments, work units, jobs.
    """
    CREATE TABLE experiments (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        title TEXT NOT NULL,
        project TEXT,
        created REAL NOT NULL,
        launcher TEXT,
        argv TEXT,
        cwd TEXT,
        git_commit TEXT,
        git_dirty INTEGER,
        config_path TEXT
    );
    CREATE TABLE work_units (
        experiment_id INTEGER NOT NULL REFERENCES experiments(id),
        work_unit_id INTEGER NOT NULL,
        args TEXT,
        created REAL NOT NULL,
        PRIMARY KEY (experiment_id, work_unit_id)
    );
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        experiment_id INTEGER NOT NULL,
        work_unit_id INTEGER NOT NULL,
        attempt INTEGER NOT NULL DEFAULT 1,
        name TEXT NOT NULL,
        target TEXT NOT NULL,
        scheduler TEXT NOT NULL,
        num_tasks INTEGER NOT NULL,
        remote_dir TEXT NOT NULL,
        local_dir TEXT,
        artifacts TEXT,
        submitted TEXT NOT NULL,
        executor TEXT,
        created REAL NOT NULL
    );
    CREATE INDEX jobs_by_unit ON jobs(experiment_id, work_unit_id);
    """,
    # 2: attempts (reruns), the owning process, per-row task ids, index maps (inside
    #    `submitted`), log dirs, pickled executors, cached final states, cleaning.
    """
    CREATE TABLE attempts (
        experiment_id INTEGER NOT NULL REFERENCES experiments(id),
        attempt INTEGER NOT NULL,
        kind TEXT NOT NULL,
        created REAL NOT NULL,
        argv TEXT,
        pid INTEGER,
        host TEXT,
        PRIMARY KEY (experiment_id, attempt)
    );
    INSERT INTO attempts (experiment_id, attempt, kind, created, argv)
        SELECT id, 1, 'launch', created, argv FROM experiments;
    ALTER TABLE experiments ADD COLUMN pid INTEGER;
    ALTER TABLE experiments ADD COLUMN host TEXT;
    ALTER TABLE experiments ADD COLUMN pid_start TEXT;
    ALTER TABLE experiments ADD COLUMN cleaned REAL;
    ALTER TABLE jobs ADD COLUMN task_ids TEXT;
    ALTER TABLE jobs ADD COLUMN log_dir TEXT;
    ALTER TABLE jobs ADD COLUMN label TEXT;
    ALTER TABLE jobs ADD COLUMN executor_pickle BLOB;
    ALTER TABLE jobs ADD COLUMN pid INTEGER;
    ALTER TABLE jobs ADD COLUMN host TEXT;
    ALTER TABLE jobs ADD COLUMN pid_start TEXT;
    ALTER TABLE jobs ADD COLUMN final TEXT;
    UPDATE jobs SET log_dir = remote_dir || '/logs';
    CREATE INDEX experiments_by_created ON experiments(created);
    """,
    # 3: the dependency graph: one row per condition a work unit waits on (`mode` all/any,
    #    the unit waited on, possibly of another experiment, the condition, task by task or not).
    """
    CREATE TABLE dependencies (
        experiment_id INTEGER NOT NULL,
        work_unit_id INTEGER NOT NULL,
        mode TEXT NOT NULL,
        on_experiment_id INTEGER NOT NULL,
        on_work_unit_id INTEGER NOT NULL,
        condition TEXT NOT NULL,
        per_task INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX dependencies_by_unit ON dependencies(experiment_id, work_unit_id);
    CREATE INDEX dependencies_by_predecessor ON dependencies(on_experiment_id, on_work_unit_id);
    """,
]

#: Columns holding JSON text, decoded on read.

_JSON_COLUMNS = ("argv", "args", "artifacts", "submitted", "task_ids", "final")
