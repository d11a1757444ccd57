"""Pretends to train: prints its task id, args and a result derived from them."""

import os
import sys


def main() -> None:
    args = sys.argv[1:]
    seed = next((a.split("=", 1)[1] for a in args if a.startswith("--seed=")), "0")
    lr = next((a.split("=", 1)[1] for a in args if a.startswith("--learning_rate=")), "0.1")
    task = os.environ.get("LXM_TASK_ID")
    print(f"task={task} seed={seed} learning_rate={lr} TASK={os.environ.get('TASK', '')}")
    print(f"result={int(seed) * float(lr):.4f}")


if __name__ == "__main__":
    main()
