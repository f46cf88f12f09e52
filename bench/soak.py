"""Soak: a steady rate of paid calls against a real ``callcredit serve`` for
minutes on end, watching for memory growth, slower answers and errors.

    python -m bench.soak [--minutes 10] [--rate 20] [--db sqlite|postgres]
                         [--workers 2] [--every 5]

Each call is authorize, a reauthorize for one call in five, then end (0 to
300 answered seconds), over HTTP on 127.0.0.1 only, paced to ``--rate``
calls a second. Every ``--every`` seconds a row is printed: calls done,
errors, the resident memory of the server's whole process tree, and the
50th/95th/99th percentile request latency in that interval. At the end the
ledger is verified and the run is flagged when memory grew (last quarter
against the first quarter after warm-up, by more than 20 % and 30 MiB),
answers got slower (p95 more than doubled) or any request failed; the exit
status is 1 when flagged.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import httpx

from bench.fixtures import EXTENSIONS, account_name, customers, database, make_app
from bench.server import Server, serve

ACCOUNTS = 5
DESTINATIONS = ("+44 7400 {:06d}", "+1 212 555 {:04d}", "+49 30 1234 {:04d}", "+34 612 {:06d}")
MIB = 1024 * 1024


@dataclass
class Window:
    """What happened since the last sample."""

    latencies: list[float] = field(default_factory=list)
    calls: int = 0
    errors: int = 0


class Load:
    """Paid calls at a steady rate from a few client threads."""

    def __init__(self, url: str, token: str, rate: float, seconds: float, threads: int) -> None:
        self.url, self.token, self.rate, self.seconds = url, token, rate, seconds
        self.threads = threads
        self.lock = threading.Lock()
        self.window = Window()
        self.total_calls = 0
        self.total_errors = 0
        self.error_samples: list[str] = []
        self.started = 0.0

    def take(self) -> Window:
        with self.lock:
            window, self.window = self.window, Window()
        return window

    def run(self) -> None:
        self.started = time.monotonic()
        workers = [threading.Thread(target=self._client, args=(n,)) for n in range(self.threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    def _client(self, n: int) -> None:
        rng = random.Random(n)
        interval = self.threads / self.rate  # each client's share of the pace
        due = self.started + n * interval / self.threads
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=30) as client:
            k = 0
            while due < self.started + self.seconds:
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                due += interval
                k += 1
                self._call(client, rng, f"soak-{n}-{k}")

    def _call(self, client: httpx.Client, rng: random.Random, call_id: str) -> None:
        body = {
            "call_id": call_id,
            "account": account_name(rng.randrange(ACCOUNTS)),
            "extension": rng.choice(EXTENSIONS),
            "destination": rng.choice(DESTINATIONS).format(rng.randrange(10_000)),
        }
        steps: list[tuple[str, dict[str, object]]] = [("/pbx/v1/authorize", body)]
        if rng.random() < 0.2:
            steps.append((f"/pbx/v1/calls/{call_id}/reauthorize", {"used_seconds": 250}))
        answered = rng.randint(0, 300)
        steps.append((f"/pbx/v1/calls/{call_id}/end", {"answered_seconds": answered}))
        for path, payload in steps:
            began = time.perf_counter()
            error = None
            try:
                response = client.post(path, json=payload)
                if response.status_code != 200:
                    error = f"{path}: {response.status_code} {response.text[:200]}"
            except httpx.HTTPError as exc:
                error = f"{path}: {exc!r}"
            took = time.perf_counter() - began
            with self.lock:
                self.window.latencies.append(took)
                if error:
                    self.window.errors += 1
                    self.total_errors += 1
                    if len(self.error_samples) < 5:
                        self.error_samples.append(error)
            if error:
                return
        with self.lock:
            self.window.calls += 1
            self.total_calls += 1


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Sample:
    at: float
    calls: int
    errors: int
    rss: int
    p50: float
    p95: float
    p99: float


def watch(load: Load, server: Server, every: float, until: threading.Thread) -> list[Sample]:
    """Print and keep a row every ``every`` seconds while the load runs."""
    samples: list[Sample] = []
    print(f"{'t (s)':>6} {'calls':>7} {'errors':>6} {'RSS MiB':>8} "
          f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}")  # fmt: skip
    began = time.monotonic()
    while until.is_alive():
        until.join(timeout=every)
        window = load.take()
        lat = window.latencies
        sample = Sample(time.monotonic() - began, window.calls, window.errors,
                        server.tree_rss(), percentile(lat, 0.5), percentile(lat, 0.95),
                        percentile(lat, 0.99))  # fmt: skip
        samples.append(sample)
        print(f"{sample.at:6.0f} {sample.calls:7d} {sample.errors:6d} {sample.rss / MIB:8.1f} "
              f"{sample.p50 * 1000:7.1f} {sample.p95 * 1000:7.1f} {sample.p99 * 1000:7.1f}",
              flush=True)  # fmt: skip
    return samples


def verdict(samples: list[Sample], errors: int) -> list[str]:
    """The flags raised by a run (empty: it held)."""
    flags = []
    steady = samples[max(1, len(samples) // 10) :] or samples  # skip the warm-up
    quarter = max(1, len(steady) // 4)
    first, last = steady[:quarter], steady[-quarter:]
    rss_first = statistics.median(s.rss for s in first)
    rss_last = statistics.median(s.rss for s in last)
    if rss_last > rss_first * 1.2 and rss_last - rss_first > 30 * MIB:
        flags.append(f"memory grew from {rss_first / MIB:.0f} to {rss_last / MIB:.0f} MiB")
    p95_first = statistics.median(s.p95 for s in first)
    p95_last = statistics.median(s.p95 for s in last)
    if p95_first and p95_last > 2 * p95_first:
        flags.append(f"p95 latency rose from {p95_first * 1000:.0f} to {p95_last * 1000:.0f} ms")
    if errors:
        flags.append(f"{errors} requests failed")
    return flags


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=float, default=20, help="calls a second")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--workers", type=int, default=2, help="serve worker processes")
    parser.add_argument("--every", type=float, default=5, help="seconds between rows")
    parser.add_argument("--threads", type=int, default=8, help="client threads")
    args = parser.parse_args(argv)
    with database(args.db) as url:
        app = make_app(url)
        token = customers(app, ACCOUNTS).token
        app.close()
        print(f"soak: {args.rate:g} calls/s for {args.minutes:g} min, {args.db}, "
              f"serve --workers {args.workers}", flush=True)  # fmt: skip
        with serve(url, args.workers) as server:
            load = Load(server.url, token, args.rate, args.minutes * 60, args.threads)
            runner = threading.Thread(target=load.run)
            runner.start()
            samples = watch(load, server, args.every, runner)
        verify = subprocess.run(
            [sys.executable, "-m", "callcredit", "--database-url", url, "verify"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    flags = verdict(samples, load.total_errors)
    if verify.returncode != 0:
        flags.append(f"verify failed: {verify.stdout}{verify.stderr}")
    rss = [s.rss / MIB for s in samples]
    p95 = [s.p95 * 1000 for s in samples]
    print(f"\n{load.total_calls} calls ({load.total_calls / (args.minutes * 60):.1f}/s), "
          f"{load.total_errors} errors; RSS {min(rss):.0f}-{max(rss):.0f} MiB; "
          f"p95 {min(p95):.0f}-{max(p95):.0f} ms; verify "
          f"{'ok' if verify.returncode == 0 else 'FAILED'}")  # fmt: skip
    for sample in load.error_samples:
        print(f"  error: {sample}")
    print("FLAGGED: " + "; ".join(flags) if flags else "held: no growth, no slowdown, no errors")
    return 1 if flags else 0


if __name__ == "__main__":
    sys.exit(main())
