#!/usr/bin/env python3
"""Throughput and latency of `retroinfer serve` against concurrent streams.

Starts the server on a free loopback port, then for each concurrency level
sends that many streaming completions at once (greedy, fixed token count)
and prints total tokens/s and latency percentiles (time to first token and
to the last one). Standard library only.

usage: bench/bench_serve.py [--binary build/retroinfer] [--streams 1,2,4,8,16]
                            [--max-tokens 64] [--threads 2] [-- extra serve options]
"""
import argparse
import json
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

PROMPTS = ["Once upon a time", "The history of Rome", "def quicksort(items):",
           "Photosynthesis is", "The best advice I ever got", "In the year 2100,",
           "A recipe for bread:", "Dear friend,"]


def stream_completion(base, prompt, max_tokens, result):
    body = json.dumps({"prompt": prompt, "max_tokens": max_tokens, "stream": True,
                       "temperature": 0}).encode()
    request = urllib.request.Request(base + "/v1/completions", data=body,
                                     headers={"Content-Type": "application/json"})
    start = time.monotonic()
    first = None
    chunks = 0
    with urllib.request.urlopen(request, timeout=600) as response:
        for line in response:
            if line.startswith(b"data: {"):
                chunk = json.loads(line[6:])
                if chunk["choices"][0].get("text"):
                    chunks += 1
                    first = first or time.monotonic()
                usage = chunk.get("usage")
                if usage:
                    result["tokens"] = usage["completion_tokens"]
    result["first"] = (first or time.monotonic()) - start
    result["total"] = time.monotonic() - start
    result.setdefault("tokens", chunks)


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default="build/retroinfer")
    parser.add_argument("--streams", default="1,2,4,8,16")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("serve_options", nargs="*")
    args = parser.parse_args()
    levels = [int(n) for n in args.streams.split(",")]
    server = subprocess.Popen(
        [args.binary, "serve", "--port", "0", "-t", str(args.threads),
         "--max-sequences", str(max(levels)), *args.serve_options],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = None
        for line in server.stdout:
            match = re.search(r"listening on (\S+)", line)
            if match:
                base = "http://" + match.group(1)
                break
        if base is None:
            sys.exit("the server did not start")
        print("| streams | total tok/s | time to first token p50 / p90 (s) | "
              "request time p50 / p90 / max (s) |")
        print("| ---: | ---: | ---: | ---: |")
        for streams in levels:
            results = [{} for _ in range(streams)]
            threads = [threading.Thread(target=stream_completion,
                                        args=(base, PROMPTS[i % len(PROMPTS)],
                                              args.max_tokens, results[i]))
                       for i in range(streams)]
            start = time.monotonic()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.monotonic() - start
            tokens = sum(r["tokens"] for r in results)
            firsts = [r["first"] for r in results]
            totals = [r["total"] for r in results]
            print(f"| {streams} | {tokens / wall:.1f} | {percentile(firsts, 0.5):.2f} / "
                  f"{percentile(firsts, 0.9):.2f} | {statistics.median(totals):.2f} / "
                  f"{percentile(totals, 0.9):.2f} / {max(totals):.2f} |", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
