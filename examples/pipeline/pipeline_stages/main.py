"""The stages of the example pipeline: prepare -> train (one task per dataset) -> evaluate.

Each stage reads what the previous one wrote under `--data_dir` (a directory
every task can see: on a cluster, the shared home). `--fail` makes a stage
fail, to see the pipeline cancel what depends on it and run its cleanup.
"""

import json
import os
import sys
import time


def _flags(argv):
    return dict(arg[2:].split("=", 1) for arg in argv if arg.startswith("--") and "=" in arg)


def main() -> None:
    flags = _flags(sys.argv[1:])
    stage = flags["stage"]
    data_dir = os.path.expanduser(flags.get("data_dir", "~/lxm3-pipeline-data"))
    os.makedirs(data_dir, exist_ok=True)
    print(f"stage {stage} task {os.environ.get('LXM_TASK_ID')} at {time.strftime('%H:%M:%S')}", flush=True)
    if flags.get("fail") == "1":
        sys.exit(f"stage {stage} failing on purpose")
    if stage == "prepare":
        for dataset in flags["datasets"].split(","):
            with open(os.path.join(data_dir, f"{dataset}.data"), "w") as handle:
                handle.write(dataset * 3)
    elif stage == "train":
        dataset = flags["dataset"]
        with open(os.path.join(data_dir, f"{dataset}.data")) as handle:
            score = len(handle.read()) / 10
        with open(os.path.join(data_dir, f"{dataset}.model"), "w") as handle:
            json.dump({"dataset": dataset, "score": score}, handle)
    elif stage == "evaluate":
        models = sorted(name for name in os.listdir(data_dir) if name.endswith(".model"))
        scores = []
        for name in models:
            with open(os.path.join(data_dir, name)) as handle:
                scores.append(json.load(handle)["score"])
        print(f"evaluated {len(models)} models, mean score {sum(scores) / len(scores):.2f}")
    elif stage == "cleanup":
        print(f"an earlier stage failed; removing {data_dir}")
        for name in os.listdir(data_dir):
            os.remove(os.path.join(data_dir, name))


if __name__ == "__main__":
    main()
