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
export HOSTILE_32='#$ -q not.a.directive'
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
