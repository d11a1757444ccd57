#!/usr/bin/env bash
#$ -N lxm3_7_1_train
#$ -o /scratch/me/lxm3/experiments/7/1/train/logs/
#$ -j y
#$ -t 1-3
#$ -S /bin/bash
#$ -pe mpi 16
#$ -l h_rt=01:00:00
#$ -l h_vmem=358M
#$ -l mem_free=358M
#$ -l scratch=10G
#$ -l arch=lx-amd64
#$ -R y
# lxm3 job 7_1_train: tasks 0..2 of 3
set -eu
# Grid Engine numbers array tasks from 1, and sets SGE_TASK_ID=undefined outside arrays.
if [ "${SGE_TASK_ID:-undefined}" = undefined ]; then
  LXM_ARRAY_INDEX=0
else
  LXM_ARRAY_INDEX=$((SGE_TASK_ID - 1))
fi
LXM_TASK_ID=$((LXM_ARRAY_INDEX + 0))
export LXM_TASK_ID
status=0
python3 /scratch/me/lxm3/runtime/task_runner-0123456789ab.py /scratch/me/lxm3/experiments/7/1/train/job.json "$LXM_TASK_ID" || status=$?
# A line in Grid Engine's own output file of this task: lxm3 reads it to learn that the
# task ended, and how, without waiting for (or scanning) the accounting file.
echo "lxm3-exit $status"
# Exit codes 99 and 100 mean "requeue" and "hold in error state (Eqw)" to Grid Engine,
# so a task's own 99 or 100 is passed on as 1 (the line above keeps the real code).
if [ "$status" = 99 ] || [ "$status" = 100 ]; then
  echo "lxm3: task $LXM_TASK_ID exited with $status, reported to Grid Engine as 1" >&2
  status=1
fi
exit "$status"
