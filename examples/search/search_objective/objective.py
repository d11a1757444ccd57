"""A trial: a known function of the hyperparameters, reported as `loss`.

Its minimum is at lr=1e-3, layers=5, opt=adam (loss 0). A real training
script reports the same way: one JSON line per report appended to
$LXM_METRICS_FILE (any language can); the study reads the last `loss`.
"""

import argparse
import json
import math
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--layers", type=int, required=True)
    parser.add_argument("--opt", choices=["adam", "sgd"], required=True)
    parser.add_argument("--seconds", type=float, default=0.0, help="pretend to train this long")
    args = parser.parse_args()
    started = time.time()
    time.sleep(args.seconds)
    loss = (math.log10(args.lr) + 3) ** 2 + 0.1 * (args.layers - 5) ** 2 + (0.5 if args.opt == "sgd" else 0.0)
    metrics_file = os.environ.get("LXM_METRICS_FILE")
    if metrics_file:
        with open(metrics_file, "a") as out:
            out.write(json.dumps({"loss": loss, "step": 1, "started": started, "ended": time.time()}) + "\n")
    print(f"lr={args.lr:.3g} layers={args.layers} opt={args.opt} loss={loss:.4f}")


if __name__ == "__main__":
    main()
