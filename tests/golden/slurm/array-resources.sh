#!/usr/bin/env bash
#SBATCH --job-name=sweep_1_train
#SBATCH --output=/scratch/me/lxm3/experiments/7/1/train/logs/slurm-%A_%a.out
#SBATCH --array=0-49%10
#SBATCH --cpus-per-task=4
#SBATCH --mem=16G
#SBATCH --gres=gpu:a100:2
#SBATCH --time=1-02:03:04
#SBATCH --partition=gpu
#SBATCH --qos=high
#SBATCH --account=proj-42
#SBATCH --exclusive
# lxm3 job sweep_1_train: tasks 101..150 of 151
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
LXM_ARRAY_INDEX="${SLURM_ARRAY_TASK_ID:-0}"
LXM_TASK_ID=$((LXM_ARRAY_INDEX + 101))
export LXM_TASK_ID
exec python3 /scratch/me/lxm3/runtime/task_runner-0123456789ab.py /scratch/me/lxm3/experiments/7/1/train/job.json "$LXM_TASK_ID"
