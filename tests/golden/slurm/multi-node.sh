#!/usr/bin/env bash
#SBATCH --job-name=sweep_1_train
#SBATCH --output=/scratch/me/lxm3/experiments/7/1/train/logs/slurm-%A_%a.out
#SBATCH --array=0-2
#SBATCH --nodes=2
#SBATCH --ntasks=2
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=8
#SBATCH --mem=5723M
#SBATCH --tmp=10G
#SBATCH --gres=gpu:1
#SBATCH --time=01:00:00
# lxm3 job sweep_1_train: tasks 0..2 of 3
set -eu
LXM_ARRAY_INDEX="${SLURM_ARRAY_TASK_ID:-0}"
LXM_TASK_ID=$((LXM_ARRAY_INDEX + 0))
export LXM_TASK_ID
exec python3 /scratch/me/lxm3/runtime/task_runner-0123456789ab.py /scratch/me/lxm3/experiments/7/1/train/job.json "$LXM_TASK_ID"
