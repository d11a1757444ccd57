"""One stage of the example pipeline: says what it is, sleeps, and exits (1 with --fail)."""

import argparse
import json
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--stage", required=True)
parser.add_argument("--dataset", default="")
parser.add_argument("--sleep", type=float, default=1.0)
parser.add_argument("--fail", action="store_true")
args = parser.parse_args()
start = time.time()
time.sleep(args.sleep)
print(json.dumps({"stage": args.stage, "dataset": args.dataset, "start": start, "end": time.time()}))
sys.exit(1 if args.fail else 0)
