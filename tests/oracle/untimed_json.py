"""Prints `lockstep --json fuzz|merge` output without its timing fields (seconds, detect_seconds,
cases_per_second), keys in file order: two runs of one campaign must print the same text."""
import json
import sys
from collections import OrderedDict

TIMING = ("seconds", "detect_seconds", "cases_per_second")
with open(sys.argv[1]) as f:
    data = json.load(f, object_pairs_hook=OrderedDict)
for summary in data if isinstance(data, list) else [data]:
    for key in TIMING:
        summary.pop(key, None)
print(json.dumps(data, indent=1))
