"""A class at once: simulated students (gradio_client threads) on a realistic mix of the app's endpoints.

    python -m benchmarks.load [--users 40] [--requests 10] [--single 40] [--soak 1000] [--tabs demos.nms,...]
    python -m benchmarks.load --mix scene-detect --tabs demos.dataset,demos.detection    # issue 19's class
    python -m benchmarks.load --url http://127.0.0.1:7860/ --pid <server pid>    # an app already running here

Phases: warm-up (every endpoint once: lazy models load outside the measurement), one user alone (`--single`
requests back to back), `--users` students at once (`--requests` each, no think time: the server's capacity),
then optionally a soak of `--soak` requests by `--soak-users` students with the server's memory sampled.

Targets (issue 10): no failure; throughput with 40 students at least 0.8x that of one user alone (both measured in
this run, under the same background load); server memory (RSS) growth under 25% across the 40-student phase;
memory flat over the soak (last tenth within 10% of the first tenth after warm-up).

The server is started as a subprocess (`python app.py` on a free 127.0.0.1 port) so that 40 client threads do not
share its interpreter lock and its memory is measured alone; `--url` targets a server you started (127.0.0.1 or
localhost only; give `--pid` to measure its memory). Every phase is bounded in requests and in time
(`--max-seconds`).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
THROUGHPUT_TARGET = 0.8
MEMORY_GROWTH_TARGET = 0.25
SOAK_FLAT_TOLERANCE = 0.10


# --- the mix ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One kind of student request: `args(rng, image_path)` gives the endpoint's inputs; `weight` its share.
    `follow` = (api_name, make(first result, rng) -> inputs): a second call on the first one's output, timed with
    it as one request (a student who makes a scene and then detects objects in it)."""

    api_name: str
    args: Callable[[random.Random, Any], tuple]
    weight: float
    follow: tuple[str, Callable[[Any, random.Random], tuple]] | None = None


@functools.lru_cache(maxsize=1)
def _augment_pipeline() -> str:
    from core.data import augment as aug  # imported lazily: the client side needs only the JSON

    return json.dumps(aug.preset(aug.DEFAULT_PRESET))


BOOK_NMS = json.dumps({"image_size": [728, 561], "normalized": True, "class_names": ["dog", "cat"],
                       "candidates": [[0.1, 0.08, 0.52, 0.92, 0.9, 0], [0.08, 0.2, 0.56, 0.95, 0.8, 0],
                                      [0.15, 0.3, 0.62, 0.91, 0.7, 0], [0.55, 0.2, 0.9, 0.88, 0.9, 1]]})

MIX: list[Request] = [
    # a student clicks "Augment" with a new seed: 8 samples of the book's composed pipeline
    Request("/augment", lambda r, img: (None, _augment_pipeline(), 8, r.randrange(10_000)), 3),
    Request("/make_scene", lambda r, img: (r.randrange(10_000), None), 2),
    Request("/dataset_grid", lambda r, img: (r.randrange(10_000), 8, "any seed", 0.55, None), 1),
    Request("/nms_run", lambda r, img: (BOOK_NMS, 0.0, round(r.uniform(0.2, 0.8), 2), r.random() < 0.5,
                                        r.randrange(0, 5)), 3),
    Request("/nms_clutter", lambda r, img: (r.randrange(10_000), 5, 4, 3), 1),
    Request("/anchors_iou", lambda r, img: ("40, 40, 240, 200", f"{r.randrange(200)}, 100, 340, 280"), 3),
    Request("/anchors_at_pixel", lambda r, img: (None, "chelsea (cat)", "0.75, 0.5, 0.25", "1, 2, 0.5",
                                                 r.randrange(451), r.randrange(300)), 2),
    Request("/anchors_grid", lambda r, img: (None, "chelsea (cat)", 4, 4, "0.15", "1, 2, 0.5"), 1),
    Request("/transposed_conv", lambda r, img: ("0 1\n2 3", "0 1\n2 3", r.choice([1, 2]), 0, 0), 2),
    Request("/wgan_distances", lambda r, img: (round(r.uniform(-1, 1), 3),), 1),
    # the tabs still being written: used as soon as the app has them
    Request("/detect", lambda r, img: (img, r.choice(["ssd", "faster_rcnn"]), 0.5, 0.5), 3),
    Request("/segment", lambda r, img: (img, "fcn"), 2),
    Request("/gan_sample", lambda r, img: (r.choice(["dcgan", "cgan", "progan"]), r.randrange(10_000), 16,
                                           r.randrange(10)), 2),
]
"""What a class does in a lecture, by weight. Rows whose endpoint the app lacks are skipped (and listed)."""


def _detect_the_scene(result: Any, rng: random.Random) -> tuple:
    from gradio_client import handle_file

    return (handle_file(result[0]), rng.choice(["ssd", "faster_rcnn"]), 0.5, 0.5)


SCENE_DETECT: list[Request] = [
    Request("/make_scene", lambda r, img: (r.randrange(10_000), None), 1, follow=("/detect", _detect_the_scene)),
]
"""Issue 19's class: each student makes a scene (a picture downloaded), then uploads it to the detector."""

MIXES = {"lecture": MIX, "scene-detect": SCENE_DETECT}


# --- the server ---------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(url: str, process: subprocess.Popen | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"the app exited with code {process.returncode} before serving")
        try:
            with urllib.request.urlopen(url + "config", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


def start_server(tabs: str | None, log_path: Path) -> tuple[str, subprocess.Popen]:
    """`python app.py` on a free 127.0.0.1 port; returns its URL and process."""
    port = _free_port()
    env = dict(os.environ, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port), HF_HUB_OFFLINE="1",
               GRADIO_ANALYTICS_ENABLED="False", NO_ALBUMENTATIONS_UPDATE="1", PYTHONUNBUFFERED="1")
    if tabs:
        env["LAB_TABS"] = tabs
    log = open(log_path, "w")
    process = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    _wait_until_up(url, process, timeout=180)
    return url, process


def rss_bytes(pid: int) -> int | None:
    """Resident memory of a process (psutil when installed, else /proc/<pid>/status)."""
    try:
        import psutil

        return psutil.Process(pid).memory_info().rss
    except ImportError:
        pass
    except Exception:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class MemorySampler:
    """Samples a process's RSS every `interval` seconds in a thread; keeps (time, bytes)."""

    def __init__(self, pid: int | None, interval: float = 0.5):
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            value = rss_bytes(self.pid) if self.pid else None
            if value:
                self.samples.append((time.monotonic(), value))
            self._stop.wait(self.interval)

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self) -> int | None:
        return max((v for _, v in self.samples), default=None)


# --- the students -------------------------------------------------------------------------------------------


@dataclass
class Result:
    api_name: str
    seconds: float
    error: str | None


CLIENT_TIMEOUT_S: float | None = None
"""None: gradio_client's own settings, as a student's script has them (httpx's 5 s timeouts on the upload, the
queue join and the downloads); `--client-timeout S` sets them to S seconds."""


def _client(url: str, downloads: str, attempts: int = 5):
    """A student's gradio_client. Connecting (fetching the app's config) is not measured: on a saturated machine
    it is retried instead of failing the run."""
    import httpx
    from gradio_client import Client

    kwargs = {} if CLIENT_TIMEOUT_S is None else {"httpx_kwargs": {"timeout": CLIENT_TIMEOUT_S}}
    for attempt in range(attempts):
        try:
            return Client(url, verbose=False, download_files=downloads, **kwargs)
        except httpx.TimeoutException:
            if attempt == attempts - 1:
                raise
            time.sleep(1.0)


def failure_reason(error: BaseException) -> str:
    """Why a request failed, naming the HTTP call that gave up when there was one: "ReadTimeout on POST
    /gradio_api/upload", "AppError: ..." (the exception's chain is searched for an httpx request)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        request = None
        try:
            request = getattr(current, "request", None)
        except RuntimeError:  # httpx raises when an error carries no request
            request = None
        if request is not None:
            path = request.url.path
            if "/file=" in path:
                path = path.split("/file=")[0] + "/file=<picture>"
            return f"{type(current).__name__} on {request.method} {path}"
        current = current.__cause__ or current.__context__
    return f"{type(error).__name__}: {str(error)[:160]}"


def plan(mix: list[Request], total: int, rng: random.Random) -> list[Request]:
    """`total` requests in the mix's proportions (largest remainders), shuffled: every phase runs the same mix, so
    their throughputs compare."""
    weight = sum(r.weight for r in mix)
    exact = [total * r.weight / weight for r in mix]
    counts = [int(x) for x in exact]
    for i in sorted(range(len(mix)), key=lambda i: exact[i] - counts[i], reverse=True)[: total - sum(counts)]:
        counts[i] += 1
    requests = [r for r, count in zip(mix, counts) for _ in range(count)]
    rng.shuffle(requests)
    return requests


def run_phase(url: str, mix: list[Request], users: int, requests_per_user: int, seed: int, image: Any,
              downloads: str, deadline: float, progress: Callable[[int], None] | None = None
              ) -> tuple[list[Result], float]:
    """`users` threads, each with its own client, sending `requests_per_user` requests each back to back (stopping
    at `deadline`); the requests follow `plan`. Returns the results and the phase's wall time."""
    clients = [_client(url, downloads) for _ in range(users)]  # connecting is not part of the measurement
    requests = plan(mix, users * requests_per_user, random.Random(seed))
    results: list[Result] = []
    lock = threading.Lock()
    start_barrier = threading.Barrier(users + 1)

    def student(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        client = clients[index]
        start_barrier.wait()
        for request in requests[index::users]:
            if time.monotonic() > deadline:
                break
            args = request.args(rng, image)
            began = time.perf_counter()
            error = None
            try:
                result = client.predict(*args, api_name=request.api_name)
                if request.follow is not None:
                    name, make = request.follow
                    client.predict(*make(result, rng), api_name=name)
            except Exception as exc:  # a failure is a result, counted and shown with the call that gave up
                error = failure_reason(exc)
            result = Result(request.api_name, time.perf_counter() - began, error)
            with lock:
                results.append(result)
                if progress:
                    progress(len(results))

    threads = [threading.Thread(target=student, args=(i,), daemon=True) for i in range(users)]
    for thread in threads:
        thread.start()
    start_barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    for client in clients:
        client.close()
    return results, elapsed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summarise(name: str, results: list[Result], elapsed: float) -> dict:
    times = [r.seconds for r in results if r.error is None]
    failures = [r for r in results if r.error is not None]
    summary = {
        "phase": name,
        "requests": len(results),
        "failures": len(failures),
        "seconds": round(elapsed, 2),
        "throughput_rps": round(len(times) / elapsed, 3) if elapsed > 0 else 0.0,
        "p50_ms": round(1000 * percentile(times, 50), 1),
        "p95_ms": round(1000 * percentile(times, 95), 1),
        "p99_ms": round(1000 * percentile(times, 99), 1),
    }
    print(f"\n[{name}] {summary['requests']} requests, {summary['failures']} failed, {elapsed:.1f} s, "
          f"{summary['throughput_rps']:.2f} req/s, p50 {summary['p50_ms']:.0f} ms, p95 {summary['p95_ms']:.0f} ms, "
          f"p99 {summary['p99_ms']:.0f} ms")
    by_endpoint: dict[str, list[float]] = defaultdict(list)
    for r in results:
        if r.error is None:
            by_endpoint[r.api_name].append(r.seconds)
    for api_name in sorted(by_endpoint):
        values = by_endpoint[api_name]
        print(f"    {api_name:<20} n={len(values):<4} p50 {1000 * percentile(values, 50):7.0f} ms   "
              f"p95 {1000 * percentile(values, 95):7.0f} ms   max {1000 * max(values):7.0f} ms")
    for message, count in Counter(r.error for r in failures).most_common():  # every reason, with its count
        print(f"    FAILED x{count}: {message}")
    return summary


def available_mix(url: str, wanted: list[Request] = MIX) -> tuple[list[Request], list[str]]:
    from gradio_client import Client

    client = Client(url, verbose=False)
    names = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    client.close()
    usable = [r for r in wanted if r.api_name in names and (r.follow is None or r.follow[0] in names)]
    return usable, [r.api_name for r in wanted if r not in usable]


def _scene_image(folder: Path):
    from gradio_client import handle_file
    from PIL import Image

    from core.data.scenes import make_scene

    path = folder / "scene.png"
    Image.fromarray(make_scene(12345).image).save(path)
    return handle_file(str(path))


def _mib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / 2**20:.0f} MiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=40, help="simulated students at once (at most 100)")
    parser.add_argument("--requests", type=int, default=10, help="requests per student (at most 200)")
    parser.add_argument("--single", type=int, default=40, help="requests of the one user alone")
    parser.add_argument("--soak", type=int, default=0, help="requests of the soak (0: no soak; at most 5000)")
    parser.add_argument("--soak-users", type=int, default=8)
    parser.add_argument("--tabs", default=None, help="LAB_TABS for the started server (default: every tab)")
    parser.add_argument("--url", default=None, help="a server already running on 127.0.0.1/localhost")
    parser.add_argument("--pid", type=int, default=None, help="with --url: its process id (to measure memory)")
    parser.add_argument("--max-seconds", type=float, default=600, help="each phase stops issuing after this")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the summary here")
    parser.add_argument("--mix", choices=sorted(MIXES), default="lecture",
                        help="lecture: the 13-endpoint mix; scene-detect: make a scene, then detect in it (issue 19)")
    parser.add_argument("--client-timeout", type=float, default=None,
                        help="httpx timeout of every client call in seconds (default: gradio_client's own, 5 s)")
    args = parser.parse_args(argv)
    global CLIENT_TIMEOUT_S
    CLIENT_TIMEOUT_S = args.client_timeout
    if not (1 <= args.users <= 100 and 1 <= args.requests <= 200 and 1 <= args.single <= 1000
            and 0 <= args.soak <= 5000 and 1 <= args.soak_users <= 100):
        parser.error("bounds: users 1..100, requests 1..200, single 1..1000, soak 0..5000, soak-users 1..100")

    process = None
    work = Path(tempfile.mkdtemp(prefix="lab_load_"))
    if args.url:
        host = urllib.parse.urlparse(args.url).hostname
        if host not in LOCAL_HOSTS:
            parser.error(f"--url must point to this machine ({sorted(LOCAL_HOSTS)}), got {host!r}")
        url, pid = args.url.rstrip("/") + "/", args.pid
        _wait_until_up(url, None, timeout=30)
    else:
        log = work / "server.log"
        print(f"starting python app.py (log: {log}) ...", flush=True)
        began = time.perf_counter()
        url, process = start_server(args.tabs, log)
        pid = process.pid
        print(f"serving at {url} after {time.perf_counter() - began:.1f} s", flush=True)
    downloads = str(work / "downloads")
    report: dict[str, Any] = {"cpu_count": os.cpu_count(), "load_average_start": os.getloadavg()}
    try:
        mix, skipped = available_mix(url, MIXES[args.mix])
        if not mix:
            raise SystemExit("none of the mix's endpoints exists in this app")
        print("mix: " + ", ".join(f"{r.api_name} x{r.weight:g}" for r in mix))
        if skipped:
            print("not in this app (skipped): " + ", ".join(skipped))
        image = _scene_image(work)

        # warm-up: every endpoint once, so that lazy loading is not measured
        client = _client(url, downloads)
        rng = random.Random(args.seed)
        for request in mix:
            inputs = request.args(rng, image)
            began = time.perf_counter()
            try:
                result = client.predict(*inputs, api_name=request.api_name)
                if request.follow is not None:
                    client.predict(*request.follow[1](result, rng), api_name=request.follow[0])
                print(f"  warm-up {request.api_name:<20} {1000 * (time.perf_counter() - began):7.0f} ms")
            except Exception as exc:
                print(f"  warm-up {request.api_name:<20} FAILED {type(exc).__name__}: {str(exc)[:120]}")
        client.close()
        rss_warm = rss_bytes(pid) if pid else None

        deadline = time.monotonic() + args.max_seconds
        single, single_time = run_phase(url, mix, 1, args.single, args.seed + 1, image, downloads, deadline)
        report["single"] = summarise("1 user alone", single, single_time)

        rss_before = rss_bytes(pid) if pid else None
        deadline = time.monotonic() + args.max_seconds
        with MemorySampler(pid) as sampler:
            crowd, crowd_time = run_phase(url, mix, args.users, args.requests, args.seed + 2, image, downloads,
                                          deadline)
        rss_after = rss_bytes(pid) if pid else None
        report["crowd"] = summarise(f"{args.users} students at once", crowd, crowd_time)

        ratio = report["crowd"]["throughput_rps"] / report["single"]["throughput_rps"]
        growth = (rss_after - rss_before) / rss_before if rss_before and rss_after else None
        peak_growth = ((sampler.peak() or 0) - rss_before) / rss_before if rss_before and sampler.peak() else None
        report.update(throughput_ratio=round(ratio, 3), rss_warm=rss_warm, rss_before=rss_before,
                      rss_after=rss_after, rss_peak=sampler.peak(), rss_growth=growth, rss_peak_growth=peak_growth)

        if args.soak:
            soak_users = min(args.soak_users, args.soak)
            per_user = -(-args.soak // soak_users)
            marks: list[tuple[int, int | None]] = []

            def progress(done: int) -> None:
                if done % max(1, args.soak // 20) == 0:
                    marks.append((done, rss_bytes(pid) if pid else None))

            deadline = time.monotonic() + args.max_seconds
            soak, soak_time = run_phase(url, mix, soak_users, per_user, args.seed + 3, image, downloads, deadline,
                                        progress)
            report["soak"] = summarise(f"soak: {len(soak)} requests by {soak_users} students", soak, soak_time)
            values = [v for _, v in marks if v]
            if len(values) >= 4:
                tenth = max(1, len(values) // 10)
                first, last = statistics.mean(values[:tenth]), statistics.mean(values[-tenth:])
                report["soak_rss_first"], report["soak_rss_last"] = first, last
                report["soak_rss_change"] = (last - first) / first
                print("    RSS every {} requests: {}".format(max(1, args.soak // 20),
                                                            " ".join(f"{v / 2**20:.0f}" for v in values)) + " MiB")
        report["load_average_end"] = os.getloadavg()
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(work, ignore_errors=True)

    failures = sum(report[k]["failures"] for k in ("single", "crowd", "soak") if k in report)
    print("\n=== summary (targets from issue 10) ===")
    print(f"failures: {failures}  (target 0)")
    print(f"throughput {args.users} students / 1 user: {report['throughput_ratio']:.2f}x  "
          f"(target >= {THROUGHPUT_TARGET}x)")
    print(f"latency with {args.users} students: p50 {report['crowd']['p50_ms']:.0f} ms, "
          f"p95 {report['crowd']['p95_ms']:.0f} ms, p99 {report['crowd']['p99_ms']:.0f} ms")
    if report.get("rss_growth") is not None:
        print(f"server RSS: {_mib(report['rss_before'])} before, {_mib(report['rss_after'])} after, "
              f"peak {_mib(report['rss_peak'])}: growth {100 * report['rss_growth']:.1f}% "
              f"(peak {100 * report['rss_peak_growth']:.1f}%; target < {100 * MEMORY_GROWTH_TARGET:.0f}%)")
    else:
        print("server RSS: not measured (give --pid with --url)")
    if "soak_rss_change" in report:
        print(f"soak RSS: {_mib(report['soak_rss_first'])} -> {_mib(report['soak_rss_last'])} "
              f"({100 * report['soak_rss_change']:+.1f}%; flat = within ±{100 * SOAK_FLAT_TOLERANCE:.0f}%)")
    print(f"load average at start {report['load_average_start'][0]:.1f}, at end {report['load_average_end'][0]:.1f} "
          f"on {report['cpu_count']} CPUs: absolute times depend on what else runs; the ratios compare phases "
          f"of this run")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str))
    ok = (failures == 0 and report["throughput_ratio"] >= THROUGHPUT_TARGET
          and (report.get("rss_growth") is None or report["rss_growth"] < MEMORY_GROWTH_TARGET)
          and abs(report.get("soak_rss_change", 0.0)) <= SOAK_FLAT_TOLERANCE)
    print("targets met" if ok else "TARGETS NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
