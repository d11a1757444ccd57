#!/usr/bin/env bash
#SBATCH --job-name='exp '"'"'x'"'"' "y"_rm -rf ~'
#SBATCH --output=/scratch/me/lxm3/experiments/7/1/train/logs/slurm-%A_%a.out
#SBATCH --array=0-1%2
#SBATCH --comment='a '"'"'b'"'"' "c" \\d $e `f` #g'
# lxm3 job exp 'x' "y" rm -rf ~: tasks 0..1 of 2
set -eu
export HOSTILE_0='two  spaces'
export HOSTILE_1='it'"'"'s'
export HOSTILE_2='say "hi"'
export HOSTILE_3='$HOME'
export HOSTILE_4='`id`'
export HOSTILE_5='$(id)'
export HOSTILE_6='tab	here'
export HOSTILE_7='*'
export HOSTILE_8='[a-z]?'
export HOSTILE_9='ünïcödé ✓ 日本'
export HOSTILE_10=''
export HOSTILE_11='trailing '
export HOSTILE_12='back\slash'
export HOSTILE_13='#hash'
export HOSTILE_14='%A_%a %%'
export HOSTILE_15=';&|<>'
LXM_ARRAY_INDEX="${SLURM_ARRAY_TASK_ID:-0}"
LXM_TASK_ID=$((LXM_ARRAY_INDEX + 0))
export LXM_TASK_ID
exec python3 /scratch/me/lxm3/runtime/task_runner-0123456789ab.py /scratch/me/lxm3/experiments/7/1/train/job.json "$LXM_TASK_ID"
