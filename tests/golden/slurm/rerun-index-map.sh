#!/usr/bin/env bash
#SBATCH --job-name=sweep_1_train
#SBATCH --output=/scratch/me/lxm3/experiments/7/1/train/logs/slurm-%A_%a.out
#SBATCH --array=0-2%1
# lxm3 job sweep_1_train: rerun of 3 of its 20 tasks (ids in the index map)
set -eu
LXM_ARRAY_INDEX="${SLURM_ARRAY_TASK_ID:-0}"
LXM_TASK_ID="$(sed -n "$((LXM_ARRAY_INDEX + 1))p" /scratch/me/lxm3/experiments/7/1/train/rerun-1.idx)"
export LXM_TASK_ID
exec python3 /scratch/me/lxm3/runtime/task_runner-0123456789ab.py /scratch/me/lxm3/experiments/7/1/train/job.json "$LXM_TASK_ID"
