#!/usr/bin/env bash
#$ -N lxm3_7_1_train
#$ -o /scratch/me/lxm3/experiments/7/1/train/logs/
#$ -j y
#$ -t 1-50
#$ -tc 10
#$ -S /bin/bash
#$ -q gpu.q
#$ -pe smp 4
#$ -l h_rt=26:03:04
#$ -l h_vmem=4G
#$ -l gpu=2
#$ -R y
#$ -P proj-42
#$ -A acct.7
# lxm3 job 7_1_train: tasks 101..150 of 151
set -eu
if ! type module >/dev/null 2>&1; then
  set +eu
  for init in /etc/profile.d/lmod.sh /etc/profile.d/z00_lmod.sh /etc/profile.d/modules.sh; do
    if [ -r "$init" ]; then . "$init"; break; fi
  done
  set -eu
fi
set +u
module load cuda/12.1
module load gcc/12 openmpi/4
set -u
export WANDB_MODE=offline
export DATA='/data/my set'
# Grid Engine numbers array tasks from 1, and sets SGE_TASK_ID=undefined outside arrays.
if [ "${SGE_TASK_ID:-undefined}" = undefined ]; then
  LXM_ARRAY_INDEX=0
else
  LXM_ARRAY_INDEX=$((SGE_TASK_ID - 1))
fi
LXM_TASK_ID=$((LXM_ARRAY_INDEX + 101))
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
