#!/usr/bin/env bash
#SBATCH --job-name=sweep_1_train
#SBATCH --output=/scratch/me/lxm3/experiments/7/1/train/logs/slurm-%j.out
# lxm3 job sweep_1_train: tasks 0..0 of 1
set -eu
LXM_ARRAY_INDEX="${SLURM_ARRAY_TASK_ID:-0}"
LXM_TASK_ID=$((LXM_ARRAY_INDEX + 0))
export LXM_TASK_ID
exec python3 /scratch/me/lxm3/runtime/task_runner-0123456789ab.py /scratch/me/lxm3/experiments/7/1/train/job.json "$LXM_TASK_ID"
