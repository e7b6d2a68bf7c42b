#!/usr/bin/env python3
"""Summarize an Autobahn|Testsuite report and gate it on the expected failures.

    autobahn_summary.py --role server --index target/autobahn/server/index.json \
        --expected autobahn/expected-failures.txt --summary target/autobahn/summary.json

Prints how many cases got each `behavior` for the agent, then every case whose
`behavior` or `behaviorClose` is neither OK nor INFORMATIONAL. Such a case is
a failure unless its id matches a glob in the expected-failures file. The
counts are merged into the summary JSON under the role's name, e.g.
{"client": {"OK": 300, ...}, "server": {...}, "date": "..."}.

Exit status: 0 when no unexpected case, 1 otherwise, 2 when the report is
missing or unreadable. Python 3, standard library only.
"""

import argparse
import collections
import datetime
import fnmatch
import json
import os
import sys

PASSING = {"OK", "INFORMATIONAL"}
# Print order for the usual behaviors; anything else follows alphabetically.
ORDER = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED",
         "WRONG CODE", "UNCLEAN", "FAILED BY CLIENT"]


def case_key(case_id):
    """Sort "9.10.2" after "9.2.1": numeric parts compare as numbers."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in case_id.split(".")]


def load_expected(path, role):
    """Globs from the expected-failures file.

    One glob per line; '#' starts a comment. A line may be prefixed with
    "client:" or "server:" to apply to that role only.
    """
    patterns = []
    if not path or not os.path.exists(path):
        return patterns
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            scope, sep, glob = line.partition(":")
            if sep and scope.strip() in ("client", "server"):
                if scope.strip() != role:
                    continue
                line = glob.strip()
            patterns.append(line)
    return patterns


def update_summary(path, role, counts, unexpected, mode, duration, error=None):
    """Merge this role's result into the summary JSON (other roles are kept)."""
    summary = {}
    if os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as f:
                summary = json.load(f)
        except (OSError, ValueError):
            summary = {}
    summary[role] = counts
    summary.setdefault("unexpected", {})[role] = unexpected
    if duration is not None:
        summary.setdefault("duration_s", {})[role] = duration
    if error:
        summary.setdefault("errors", {})[role] = error
    elif "errors" in summary:
        summary["errors"].pop(role, None)
    summary["mode"] = mode
    summary["date"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--role", required=True, choices=["client", "server"])
    ap.add_argument("--index", required=True, help="wstest's index.json")
    ap.add_argument("--agent", default="tether")
    ap.add_argument("--expected", help="expected-failures file (globs)")
    ap.add_argument("--summary", help="summary JSON to create or update")
    ap.add_argument("--mode", default="full", help="recorded in the summary (quick/full)")
    ap.add_argument("--duration", type=float, help="seconds the role took (recorded)")
    args = ap.parse_args()

    def fail(msg):
        print(f"autobahn {args.role}: error: {msg}", file=sys.stderr)
        if args.summary:
            update_summary(args.summary, args.role, {}, [], args.mode, args.duration, msg)
        return 2

    try:
        with open(args.index, encoding="utf-8") as f:
            index = json.load(f)
    except (OSError, ValueError) as e:
        return fail(f"cannot read report {args.index}: {e}")
    results = index.get(args.agent)
    if not results:
        return fail(f"agent {args.agent!r} not in {args.index} (agents: {sorted(index)})")

    patterns = load_expected(args.expected, args.role)
    counts = collections.Counter(r.get("behavior", "?") for r in results.values())
    ordered = [b for b in ORDER if b in counts] + sorted(b for b in counts if b not in ORDER)

    print(f"== Autobahn {args.role} role ({args.mode}), agent {args.agent}: {len(results)} cases")
    for b in ordered:
        print(f"   {b:<16} {counts[b]:>4}")

    expected = collections.defaultdict(list)  # pattern -> failing case ids
    unexpected = []
    matched_passing = collections.Counter()   # pattern -> passing cases it covers
    report_dir = os.path.dirname(args.index)
    for case_id in sorted(results, key=case_key):
        r = results[case_id]
        behavior, close = r.get("behavior", "?"), r.get("behaviorClose", "?")
        pattern = next((p for p in patterns if fnmatch.fnmatchcase(case_id, p)), None)
        if behavior in PASSING and close in PASSING:
            if pattern:
                matched_passing[pattern] += 1
            continue
        if pattern:
            expected[pattern].append(case_id)
            continue
        html = os.path.join(report_dir, r.get("reportfile", "").replace(".json", ".html"))
        unexpected.append({"case": case_id, "behavior": behavior, "behaviorClose": close,
                           "remoteCloseCode": r.get("remoteCloseCode"),
                           "report": os.path.relpath(html)})

    for p in patterns:
        if expected.get(p):
            print(f"   expected failures {p}: {len(expected[p])} cases")
        elif matched_passing[p]:
            print(f"   note: {p} is listed as expected to fail, but its "
                  f"{matched_passing[p]} cases pass: drop it from {args.expected}")
    if unexpected:
        print(f"   UNEXPECTED failures: {len(unexpected)}")
        for u in unexpected:
            print(f"     {u['case']:<10} behavior={u['behavior']:<14} "
                  f"close={u['behaviorClose']:<14} code={u['remoteCloseCode']}  {u['report']}")
    else:
        print("   no unexpected failures")

    if args.summary:
        update_summary(args.summary, args.role, dict(counts),
                       [u["case"] for u in unexpected], args.mode, args.duration)
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
