"""Scale: import, prep, data set build, training startup, status and disk use at 10 k to 1 M posts.

    .venv/bin/python bench/scale.py                       # 10 000 and 100 000 posts
    .venv/bin/python bench/scale.py --posts 1000000       # the big one

For each size it makes a folder of tiny unique JPEGs (32 px, a drawn demo scene with the post's
number in a JPEG comment, so every photo has its own content hash) and a CSV with captions written by the
demo's fictional voices, posted by about one synthetic account per `--posts-per-account` (200) posts
as a real store at scale has many accounts, in a fresh INSTACAP_HOME, then runs each stage in a
child process of its own, so that `peak_rss_bytes` (`ru_maxrss` of that child, from `os.wait4`)
is the stage's alone:
- `import`: `importers.scan` + `importers.run` of the CSV (`posts_per_s`, and for each tenth of
  the posts in turn `posts_per_s_by_tenth`);
- `prep`: `dataset.build` with the `thumbnail` encoder, every feature computed (`posts_per_s`);
  for stores above `--prep-max` posts (10 000) or with `--precomputed`, `features` instead: a
  random feature row stored for each photo (hashing the photos as prep does, no decoding), so
  that the default run fits in 10 minutes and a million posts in 45 on 2 cores;
- `build`: the same data set rebuilt (`force`), every feature reused: hashing, tokens, files;
- `train`: `training.fit` as `instacap train` runs it, from the process's start to its first
  batch done (`startup_s`; `import_s` of it importing, `load_s` loading the data set), then `captions_per_s` as
  training reports it after `--train-seconds` (one thread: the machine is shared);
- `status`: `status.cache_status()` in the process (`library_s`), `instacap status --json` as
  a whole command (`command_s`, Python's start included) and the table for people
  (`table_command_s`, `table_lines`: a row per account);
- `disk`: bytes per post under INSTACAP_HOME, by folder (the source photos are not counted).
`train` also gives the run's account slots (`account_slots`). The files made are removed at the
end (`cleanup`, timed apart from `total`; `--keep` leaves them).
One JSON line per stage and size; last, `growth`: for each figure, log(ratio of the figure) /
log(ratio of posts) between the smallest and the largest size (1 = linear, 0 = constant), the
baseline each size is compared with.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def emit(**data: object) -> None:
    print(json.dumps(data), flush=True)


# -- making the inputs -----------------------------------------------------------------------


def account_names(n: int, per_account: int) -> list[str]:
    """About one synthetic account per `per_account` posts (at least one per demo voice), account
    k writing in voice k % voices: a real store at scale has many accounts (the research anchor:
    1.1 M posts of 6.3 k users), and the store keeps one photo folder per account."""
    from instacap import demovoices

    count = max(len(demovoices.ACCOUNTS), round(n / per_account))
    return [f"scale.a{k:04d}" for k in range(count)]


def make_inputs(folder: Path, n: int, per_account: int, seed: int = 0) -> Path:
    """n unique 32 px JPEGs under folder/photos/<k>/ and folder/posts.csv; returns the CSV.

    Each scene is drawn and encoded once; a post's photo is its scene's JPEG with the post
    number in a comment segment (COM) after the start marker: its own bytes and hash, the same
    pixels. (Drawing and encoding every photo took 18 of the million-post run's minutes.)
    The caption is written by a demo voice drawn by the scene's weights, and posted by one of
    that voice's synthetic accounts (`account_names`), drawn evenly."""
    from instacap import demo, demovoices

    rng = random.Random(seed)
    voices = len(demovoices.ACCOUNTS)
    names = account_names(n, per_account)
    by_voice = [names[v::voices] for v in range(voices)]  # the accounts writing in each voice
    bases = [_jpeg(demo.draw(s, random.Random(i), size=32)) for i, s in enumerate(demo.SCENES)]
    weights = [[a.weights[k] for a in demovoices.ACCOUNTS] for k in range(len(demo.SCENES))]
    table = folder / "posts.csv"
    with open(table, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["image", "caption", "account", "shortcode", "timestamp"])
        for i in range(n):
            k = i % len(demo.SCENES)
            v = rng.choices(range(voices), weights[k])[0]
            voice = demovoices.ACCOUNTS[v]
            rel = f"photos/{i // 1000:04d}/p{i:07d}.jpg"
            if i % 1000 == 0:
                (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            note = b"post %d" % i
            data = bases[k][:2] + b"\xff\xfe" + (len(note) + 2).to_bytes(2, "big") + note
            with open(folder / rel, "wb") as photo:
                photo.write(data + bases[k][2:])
            caption = demovoices.caption(rng, demo.SCENES[k], voice)
            account = rng.choice(by_voice[v])
            out.writerow([rel, caption, account, f"s{i:07d}", 1_672_531_200 + i])
    return table


def _jpeg(img: object) -> bytes:
    import io

    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)  # type: ignore[attr-defined]
    return buf.getvalue()


# -- the stages, each run in a child process ---------------------------------------------------


class _Tenths:
    """A Reporter that notes the import's posts/s in each tenth of its posts (does it slow down
    as the store grows?)."""

    def __init__(self) -> None:
        self.total, self.done, self.mark, self.t = 0, 0, 0, time.perf_counter()
        self.rates: list[int] = []

    def start(self, task: str, total: int | None = None, **info: object) -> None:
        self.total, self.t = total or 0, time.perf_counter()

    def advance(self, task: str, n: int = 1, **info: object) -> None:
        self.done += n
        if self.done - self.mark >= max(self.total // 10, 1):
            now = time.perf_counter()
            self.rates.append(round((self.done - self.mark) / (now - self.t)))
            self.mark, self.t = self.done, now

    def finish(self) -> None:
        if self.done > self.mark:  # the last part, when batches did not end on a tenth
            self.total = 0
            self.advance("importing", 0)

    def note(self, text: str) -> None:
        pass


def stage_import(table: Path) -> dict[str, object]:
    from instacap import importers
    from instacap.posts import PostStore

    t0 = time.perf_counter()
    candidates = importers.scan([table])
    tenths = _Tenths()
    with PostStore.open() as store:
        result = importers.run(store, candidates, reporter=tenths)
    tenths.finish()
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "imported": result.imported,
        "posts_per_s": result.imported / seconds,
        "posts_per_s_by_tenth": tenths.rates,
    }


def _prep_config() -> object:
    from instacap.config import PrepConfig

    # Inline decoding: on 2 shared cores decoding processes only add start-up time here.
    return PrepConfig(encoder="thumbnail", min_count=5, workers=0)


def stage_prep(force: bool) -> dict[str, object]:
    from instacap import dataset

    t0 = time.perf_counter()
    ds = dataset.build(_prep_config(), force=force)  # type: ignore[arg-type]
    seconds = time.perf_counter() - t0
    posts = int(ds.info["posts"])
    return {
        "seconds": seconds,
        "posts_per_s": posts / seconds,
        "computed": ds.info["computed"],
        "reused": ds.info["reused"],
    }


def stage_features() -> dict[str, object]:
    """Precomputed features: a random row for every stored photo, written to the thumbnail
    encoder's feature store the way prep stores them (content hash -> row), without decoding."""
    import numpy as np

    from instacap import encoders
    from instacap.features import FeatureStore
    from instacap.posts import PostStore

    t0 = time.perf_counter()
    with PostStore.open() as posts:
        files = [Path(r.image) for r in posts.rows()]
    encoder = encoders.get("thumbnail")
    rng = np.random.default_rng(0)
    with FeatureStore.open(encoder) as store:
        for s in range(0, len(files), 4096):
            hashes = [h or "" for h in store.content_hashes(files[s : s + 4096])]
            store.append(hashes, rng.standard_normal((len(hashes), encoder.dim), np.float32))
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "posts_per_s": len(files) / seconds}


class _Clock:
    """A Reporter that notes when training's first batch is done and its captions/s, and stops
    training (as Ctrl-C does) once it has run `seconds` after that."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.first, self.captions_per_s = seconds, None, 0.0
        self.tasks: list[str] = []

    def start(self, task: str, total: int | None = None, **info: object) -> None:
        self.tasks.append(task)

    def advance(self, task: str, n: int = 1, **info: object) -> None:
        if not task.startswith("epoch") or not n:
            return
        now = time.perf_counter()
        if self.first is None:
            self.first = now
        self.captions_per_s = float(info.get("cap_s", self.captions_per_s))  # type: ignore[arg-type]
        if now - self.first > self.seconds:
            raise KeyboardInterrupt

    def note(self, text: str) -> None:
        pass


def stage_train(train_seconds: float) -> dict[str, object]:
    """`training.fit` as `instacap train` runs it (one thread, the default network), stopped after
    `train_seconds` of training: startup is the time from this process's start to the first
    batch done; captions/s is what training itself reports then."""
    t0 = time.perf_counter()
    from instacap import accounts, dataset, training
    from instacap.config import ModelConfig, TrainConfig

    t_import = time.perf_counter() - t0
    ds = dataset.load("default")
    t_load = time.perf_counter() - t0 - t_import
    clock = _Clock(train_seconds)
    config = TrainConfig(device="cpu", threads=1, epochs=1)
    with contextlib.suppress(training.Interrupted):
        training.fit(ds, ModelConfig(), config, name="bench", reporter=clock)
    assert clock.first is not None, clock.tasks
    table = accounts.for_training(ds.train.accounts)  # the account slots the network read
    return {
        "startup_s": clock.first - t0,
        "import_s": t_import,
        "load_s": t_load,
        "captions_per_s": clock.captions_per_s,
        "train_posts": len(ds.train),
        "account_slots": table.size if table else 0,
    }


def stage_status() -> dict[str, object]:
    from instacap import status

    t0 = time.perf_counter()
    st = status.cache_status()
    library = time.perf_counter() - t0
    command = str(Path(sys.executable).parent / "instacap")
    t0 = time.perf_counter()
    subprocess.run([command, "status", "--json"], check=True, stdout=subprocess.DEVNULL)
    json_s = time.perf_counter() - t0
    # The table for people too: it has a row per account.
    t0 = time.perf_counter()
    text = subprocess.run([command, "status"], check=True, capture_output=True).stdout
    return {
        "library_s": library,
        "command_s": json_s,
        "table_command_s": time.perf_counter() - t0,
        "table_lines": text.count(b"\n"),
        "stored": st.posts.total,
        "accounts": len(st.posts.accounts),
    }


def child(args: argparse.Namespace) -> None:
    if args.stage == "import":
        out = stage_import(Path(args.table))
    elif args.stage == "features":
        out = stage_features()
    elif args.stage in ("prep", "build"):
        out = stage_prep(force=args.stage == "build")
    elif args.stage == "train":
        out = stage_train(args.train_seconds)
    else:
        out = stage_status()
    print(json.dumps(out), flush=True)


def run_stage(stage: str, home: Path, extra: list[str]) -> dict[str, object]:
    """Run one stage in a child; its JSON result plus its wall time and peak RSS in bytes."""
    env = {**os.environ, "INSTACAP_HOME": str(home)}
    cmd = [sys.executable, __file__, "--stage", stage, *extra]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    text = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"stage {stage} failed ({proc.returncode})")
    out = json.loads(text.decode().strip().splitlines()[-1])
    out["wall_s"] = time.perf_counter() - t0
    out["peak_rss_bytes"] = usage.ru_maxrss * 1024  # Linux: kilobytes
    return out


def disk_use(home: Path, posts: int) -> dict[str, object]:
    def du(path: Path) -> int:
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0

    # A run's size does not grow with the posts: runs/ (the benchmark's own) is left out.
    parts = {d.name: du(d) for d in sorted(home.iterdir()) if d.is_dir() and d.name != "runs"}
    total = sum(parts.values())
    return {
        "bytes_per_post": total / posts,
        "by_folder_per_post": {k: round(v / posts, 1) for k, v in parts.items()},
        "total_bytes": total,
    }


def measure(n: int, work: Path, args: argparse.Namespace) -> dict[str, dict[str, object]]:
    folder = work / f"n{n}"
    home = folder / "home"
    folder.mkdir(parents=True)
    t0 = time.perf_counter()
    table = make_inputs(folder, n, args.posts_per_account)
    accounts = len(account_names(n, args.posts_per_account))
    emit(posts=n, stage="inputs", seconds=round(time.perf_counter() - t0, 2), accounts=accounts)
    results: dict[str, dict[str, object]] = {}
    for stage, extra in (
        ("import", ["--table", str(table)]),
        ("features" if args.precomputed or n > args.prep_max else "prep", []),
        ("build", []),
        ("train", ["--train-seconds", str(args.train_seconds)]),
        ("status", []),
    ):
        results[stage] = run_stage(stage, home, extra)
        emit(posts=n, stage=stage, **_rounded(results[stage]))
    results["disk"] = disk_use(home, n)
    emit(posts=n, stage="disk", **results["disk"])
    emit(posts=n, stage="load", loadavg=os.getloadavg(), cores=os.cpu_count())
    return results


_FIGURES = {
    "import": ("posts_per_s", "peak_rss_bytes"),
    "prep": ("posts_per_s", "peak_rss_bytes"),
    "features": ("posts_per_s", "peak_rss_bytes"),
    "build": ("seconds", "peak_rss_bytes"),
    "train": ("startup_s", "load_s", "captions_per_s", "peak_rss_bytes"),
    "status": ("library_s", "command_s", "table_command_s"),
    "disk": ("bytes_per_post",),
}


def growth(small: int, large: int, a: dict, b: dict) -> dict[str, float]:
    """log(figure ratio) / log(posts ratio): the exponent k in figure ~ posts^k."""
    out = {}
    for stage, names in _FIGURES.items():
        if stage not in a or stage not in b:
            continue
        for name in names:
            x, y = float(a[stage][name]), float(b[stage][name])
            if x > 0 and y > 0:
                out[f"{stage}.{name}"] = round(math.log(y / x) / math.log(large / small), 3)
    return out


def _rounded(d: dict[str, object]) -> dict[str, object]:
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in d.items()}


def remove(work: Path) -> None:
    """Remove the benchmark's folder, its photo folders several at a time: an unlink waits on
    the disk, and 8 threads waiting together deleted 2.5 to 3 times as many files a second
    (docs/scale.md)."""
    from concurrent.futures import ThreadPoolExecutor

    # The folders without folders in them (photos), each removed whole by one thread.
    folders = [Path(top) for top, dirs, _ in os.walk(work) if not dirs]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda p: shutil.rmtree(p, ignore_errors=True), folders))
    shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--train-seconds", type=float, default=10.0)
    parser.add_argument("--keep", action="store_true", help="keep the stores made")
    parser.add_argument(
        "--posts-per-account",
        type=int,
        default=200,
        help="about one synthetic account per this many posts (a real store at scale has many "
        "accounts; the store keeps a photo folder per account)",
    )
    parser.add_argument(
        "--prep-max",
        type=int,
        default=10_000,
        help="larger stores get precomputed features instead of a prep: its speed per post does "
        "not depend on the store's size, and at 100 k posts it alone would take minutes here",
    )
    parser.add_argument(
        "--precomputed",
        action="store_true",
        help="store random features instead of running the thumbnail encoder (no prep posts/s; "
        "what a million posts need on 2 cores)",
    )
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--table", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        child(args)
        return
    work = Path(tempfile.mkdtemp(prefix="instacap-scale-"))
    emit(stage="machine", cores=os.cpu_count(), loadavg=os.getloadavg(), work=str(work))
    t0 = time.perf_counter()
    try:
        results = {n: measure(n, work, args) for n in args.posts}
        sizes = sorted(results)
        if len(sizes) > 1:
            lo, hi = sizes[0], sizes[-1]
            exponent = growth(lo, hi, results[lo], results[hi])
            emit(stage="growth", small=lo, large=hi, exponent=exponent)
        emit(stage="total", seconds=round(time.perf_counter() - t0, 1))  # to the last figure
    finally:
        if not args.keep:
            # Apart from the total: a million posts are 2 million files, and this project's
            # disk deletes a few thousand a second.
            t1 = time.perf_counter()
            remove(work)
            emit(stage="cleanup", seconds=round(time.perf_counter() - t1, 1))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
