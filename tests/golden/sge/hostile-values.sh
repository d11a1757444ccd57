#!/usr/bin/env bash
#$ -N exp__x___y__rm_-rf______-q_evil
#$ -o '/scratch/me/my logs/$dollar/ünï/'
#$ -j y
#$ -t 1-2
#$ -tc 2
#$ -S /bin/bash
#$ -q 'all.q@node[1-4]*'
#$ -l 'h=a$b`c`\d'
# lxm3 job exp 'x' "y" rm -rf ~ #$ -q evil: tasks 0..1 of 2
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
export HOSTILE_14='#$ -q not.a.directive'
export HOSTILE_15=';&|<>'
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
