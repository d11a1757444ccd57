#!/usr/bin/env bash
#SBATCH --output='/scratch/me/slurm logs/100%%/slurm-%A_%a.out'
#SBATCH --array=0-3
#SBATCH --cpus-per-task=2
#SBATCH --gres=gpu:tesla:1
#SBATCH --constraint='v100|a100'
#SBATCH --mem=1234
#SBATCH --requeue
#SBATCH --mail-type=END,FAIL
#SBATCH --signal=B:USR1@60
# lxm3 job sweep_1_train: tasks 0..3 of 4
set -eu
LXM_ARRAY_INDEX="${SLURM_ARRAY_TASK_ID:-0}"
LXM_TASK_ID=$((LXM_ARRAY_INDEX + 0))
export LXM_TASK_ID
exec python3 /scratch/me/lxm3/runtime/task_runner-0123456789ab.py /scratch/me/lxm3/experiments/7/1/train/job.json "$LXM_TASK_ID"
