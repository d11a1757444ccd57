"""Registers the lifecycle subcommands; each module is imported only when its command runs."""

from lxm3.cli.main import register

register("list", "lxm3.cli.list", "list recent experiments with their tasks' states")
register("status", "lxm3.cli.status", "show the state of an experiment's work units and tasks")
register("logs", "lxm3.cli.logs", "print (or follow) a task's stdout or stderr")
register("cancel", "lxm3.cli.cancel", "cancel an experiment's unfinished tasks")
register("rerun", "lxm3.cli.rerun", "resubmit the failed or cancelled tasks of an experiment")
register("clean", "lxm3.cli.clean", "remove staged files that no kept experiment needs")
register("shell", "lxm3.cli.shell", "an interactive Python shell holding a client of the configured cluster")
