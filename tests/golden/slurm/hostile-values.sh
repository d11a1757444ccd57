#!/usr/bin/env bash
#SBATCH --job-name='exp '"'"'x'"'"' "y"_rm -rf ~'
#SBATCH --output=/scratch/me/lxm3/experiments/7/1/train/logs/slurm-%A_%a.out
#SBATCH --array=0-1%2
#SBATCH --comment='a '"'"'b'"'"' "c" \\d $e `f` #g'
# lxm3 job exp 'x' "y" rm -rf ~: tasks 0..1 of 2
set -eu
export HOSTILE_0=''
export HOSTILE_1=' '
export HOSTILE_2='two  spaces'
export HOSTILE_3='trailing  '
export HOSTILE_4='  leading'
export HOSTILE_5='it'"'"'s'
export HOSTILE_6='say "hi"'
export HOSTILE_7=''"'"''
export HOSTILE_8='"'
export HOSTILE_9=''"'"'"'"'"'"'"'"''
export HOSTILE_10=''"'"'; exit 3 #'
export HOSTILE_11='$HOME'
export HOSTILE_12='${PATH}'
export HOSTILE_13='`id`'
export HOSTILE_14='$(touch /tmp/lxm3-pwned)'
export HOSTILE_15='tab	here'
export HOSTILE_16='	'
export HOSTILE_17='*'
export HOSTILE_18='?[ab]*'
export HOSTILE_19='[a-z]*'
export HOSTILE_20='~'
export HOSTILE_21='ünïcödé ✓ 日本 🚀'
export HOSTILE_22='\'
export HOSTILE_23='back\slash\'
export HOSTILE_24='#hash'
export HOSTILE_25=';& | < > && ||'
export HOSTILE_26=--flag=value
export HOSTILE_27=a=b=c
export HOSTILE_28=--
export HOSTILE_29=-n
export HOSTILE_30='!!'
export HOSTILE_31='%s %d %%'
export HOSTILE_32='%A_%a %j'
export HOSTILE_33='%A_%a %%'
LXM_ARRAY_INDEX="${SLURM_ARRAY_TASK_ID:-0}"
LXM_TASK_ID=$((LXM_ARRAY_INDEX + 0))
export LXM_TASK_ID
exec python3 /scratch/me/lxm3/runtime/task_runner-0123456789ab.py /scratch/me/lxm3/experiments/7/1/train/job.json "$LXM_TASK_ID"
