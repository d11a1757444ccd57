"""What runs on the execution host: the task runner and the task table it reads."""
