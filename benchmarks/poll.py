"""The class poll under a class: 200 students answering at once, then changing their minds, against one alone.

    python -m benchmarks.poll [--students 200] [--changes 2] [--alone 40] [--backends sqlite,postgresql]
                              [--layers store,server]

Each student sends an answer and then `--changes` new ones (the last one is the one that must count). Two phases
per backend and layer, measured in the same run:
- one student alone: `--alone` students one after the other, a single client thread (no concurrency);
- the class: `--students` threads released together by a barrier.
Printed: requests, failures, throughput (and the class's ratio to one alone), latency p50/p95/p99, and whether the
final counts equal the students' last answers exactly (each student once).

Layers: `store` calls `core.poll.store.PollStore.answer` from the threads (the database alone); `server` posts to
the `/poll_answer` endpoint of demos/poll.py's page served by a subprocess on 127.0.0.1 (queue-less, as the page
declares it: POST /gradio_api/run/poll_answer; 8 worker threads, as the app). Backends: SQLite (a temporary file, WAL) and PostgreSQL (a throwaway server from
Debian's binaries, fsync on; skipped with a notice when they are missing). The rate limit is raised above what the
benchmark sends (each student sends `1 + --changes` answers within the default burst of 5 anyway). Loopback only;
every request has a 60 s timeout and each phase a bound on its wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from core.poll.limits import RateLimiter
from core.poll.store import PollStore
from demos.poll import DEMO_QUESTIONS

ROOT = Path(__file__).resolve().parents[1]
STEP = 0  # the demo's number question
REQUEST_TIMEOUT_S = 60
PHASE_TIMEOUT_S = 600


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    failures: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def requests(self) -> int:
        return len(self.latencies) + sum(self.failures.values())

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def student_answers(index: int, changes: int) -> list[str]:
    """A student's answers in order: first guesses, then the last one (index % 9), which must be counted."""
    return [str(50 + (index + change) % 7) for change in range(changes)] + [str(index % 9)]


def run_phase(name: str, send: Callable[[str, str], None], students: list[int], changes: int,
              concurrent: bool) -> tuple[Phase, dict[str, str]]:
    """Every student sends its answers; returns the measurements and each student's last answer *acknowledged*."""
    phase, last, lock = Phase(name), {}, threading.Lock()
    barrier = threading.Barrier(len(students)) if concurrent else None

    def one_student(index: int) -> None:
        student = f"bench-{name}-{index:04d}"
        if barrier is not None:
            barrier.wait(timeout=PHASE_TIMEOUT_S)
        for answer in student_answers(index, changes):
            start = time.perf_counter()
            try:
                send(student, answer)
            except Exception as error:  # noqa: BLE001 - counted and reported
                with lock:
                    phase.failures[f"{type(error).__name__}: {str(error)[:80]}"] += 1
                continue
            with lock:
                phase.latencies.append(time.perf_counter() - start)
                last[student] = answer

    start = time.perf_counter()
    if concurrent:
        with ThreadPoolExecutor(max_workers=len(students)) as pool:
            for future in [pool.submit(one_student, index) for index in students]:
                future.result(timeout=PHASE_TIMEOUT_S)
    else:
        for index in students:
            one_student(index)
    phase.seconds = time.perf_counter() - start
    return phase, last


# --- the server layer: demos/poll.py's page in a subprocess, its REST endpoint ------------------------------


def serve(port: int) -> None:
    """Serve demos/poll.py's page on 127.0.0.1:`port` (the store from LAB_DB) until killed."""
    import demos.poll as poll

    poll.store().limiter = RateLimiter(burst=1000, per_second=1000.0)
    poll.demo().launch(server_name="127.0.0.1", server_port=port, quiet=True, show_error=False, max_threads=8)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def call_endpoint(base: str, api_name: str, data: list) -> object:
    """One call of a queue-less endpoint through Gradio's REST API (POST /gradio_api/run/<name>); raises on an
    error reply."""
    request = urllib.request.Request(f"{base}gradio_api/run/{api_name}", data=json.dumps({"data": data}).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
            return json.loads(response.read())["data"][0]
    except urllib.error.HTTPError as error:
        raise RuntimeError(f"HTTP {error.code}: {error.read()[:120]!r}") from None


class Server:
    """demos/poll.py's page in a subprocess on a free loopback port, with LAB_DB = `db_url`."""

    def __init__(self, db_url: str) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}/"
        env = {**os.environ, "LAB_DB": db_url, "GRADIO_ANALYTICS_ENABLED": "False"}
        self.process = subprocess.Popen([sys.executable, "-m", "benchmarks.poll", "--serve", str(self.port)],
                                        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"{self.base}gradio_api/info", timeout=5).read()
                return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError("the poll server stopped at start") from None
                time.sleep(0.5)
        self.stop()
        raise RuntimeError("the poll server did not start within 180 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


# --- one backend, one layer --------------------------------------------------------------------------------


def measure(layer: str, db_url: str, args: argparse.Namespace) -> None:
    question = DEMO_QUESTIONS[STEP]
    store = PollStore(db_url, limiter=RateLimiter(burst=1000, per_second=1000.0))
    server = Server(db_url) if layer == "server" else None
    try:
        results = {}
        for name, students, concurrent in (("alone", list(range(args.alone)), False),
                                           ("class", list(range(args.students)), True)):
            opened = store.open_poll(STEP, question)
            if server is None:
                def send(student: str, answer: str, room: str = opened.room) -> None:
                    store.answer(room, student, answer)
            else:
                def send(student: str, answer: str, room: str = opened.room) -> None:
                    reply = call_endpoint(server.base, "poll_answer", [room, student, answer])
                    if not (isinstance(reply, dict) and reply.get("ok")):
                        raise RuntimeError(f"unexpected reply {reply!r:.80}")
            if server is not None:  # one call first, so that connection set-up is not measured
                call_endpoint(server.base, "poll_question", [opened.room, ""])
            phase, last = run_phase(name, send, students, args.changes, concurrent)
            counted = store.results(opened.room, opened.teacher_key)
            expected = Counter(last.values())  # each student's last acknowledged answer, once
            exact = dict(counted.counts) == dict(expected) and counted.answers == len(last)
            if not phase.failures:  # then every student's last answer was acknowledged
                exact = exact and last == {f"bench-{name}-{i:04d}": student_answers(i, args.changes)[-1]
                                           for i in students}
            results[name] = (phase, exact, counted.answers, len(students))
        alone = results["alone"][0]
        for name, (phase, exact, answers, students) in results.items():
            ratio = f" ({phase.throughput / alone.throughput:.2f}x alone)" if name == "class" and alone.throughput else ""
            failures = ", ".join(f"{n} {kind}" for kind, n in phase.failures.items()) or "0"
            print(f"| {layer} | {store.dialect} | {name} ({students} students) | {phase.requests} | {failures} | "
                  f"{phase.throughput:.0f} req/s{ratio} | {phase.percentile(.5) * 1000:.1f} / "
                  f"{phase.percentile(.95) * 1000:.1f} / {phase.percentile(.99) * 1000:.1f} ms | "
                  f"{answers} counted, {'exact' if exact else 'NOT EXACT'} |", flush=True)
    finally:
        if server is not None:
            server.stop()
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--changes", type=int, default=2, help="answers changed after the first (default 2)")
    parser.add_argument("--alone", type=int, default=40, help="students in the one-at-a-time phase")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--layers", default="store,server")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if not 1 <= args.students <= 1000 or not 1 <= args.alone <= 1000 or not 0 <= args.changes <= 3:
        parser.error("--students and --alone go up to 1000 (a room's cap), --changes up to 3 (the burst)")
    from tests.postgres_server import new_database, postgres_bin, throwaway_postgres

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{os.cpu_count()} CPU cores, load average {load:.1f} at the start; each student sends "
          f"{1 + args.changes} answers\n")
    print("| layer | backend | phase | requests | failures | throughput | latency p50 / p95 / p99 | final counts |")
    print("|---|---|---|---|---|---|---|---|")
    layers = [layer.strip() for layer in args.layers.split(",") if layer.strip()]
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        if backend == "sqlite":
            folder = tempfile.mkdtemp(prefix="lab-poll-bench-")
            try:
                for layer in layers:
                    measure(layer, str(Path(folder) / f"{layer}.sqlite3"), args)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
        elif backend == "postgresql":
            if postgres_bin() is None:
                print("| (PostgreSQL skipped: no server binaries; apt-get install postgresql) |")
                continue
            with throwaway_postgres(durable=True) as server_url:
                for layer in layers:
                    measure(layer, new_database(server_url), args)
        else:
            parser.error(f"unknown backend {backend!r}")


if __name__ == "__main__":
    main()
