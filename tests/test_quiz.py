"""`instacap quiz`: the counting on hand-made inputs, the library on a tiny trained run, and the
command played through a real pseudo-terminal (pexpect), as a person would."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from instacap import quiz
from instacap.errors import InputError, NotReady

pytest_plugins = ["tiny_data"]  # the tiny demo data set, built once per session

# ----------------------------------------------------------------------------- counting


def test_wilson_interval_matches_hand_computed_values():
    # 0 of 10: the upper end is z^2 / (n + z^2) = 3.8415 / 13.8415.
    assert quiz.wilson(0, 10) == pytest.approx((0.0, 0.27754), abs=1e-4)
    # 5 of 10: centred on 0.5, half-width z/(1+z^2/n) * sqrt(p(1-p)/n + z^2/(4n^2)) = 0.26340.
    assert quiz.wilson(5, 10) == pytest.approx((0.23659, 0.76341), abs=1e-4)
    # 50 of 100 is narrower than 5 of 10, and symmetric cases mirror each other.
    low, high = quiz.wilson(50, 100)
    assert high - low < 0.2 and low == pytest.approx(1 - high)
    low3, high3 = quiz.wilson(3, 20)
    low17, high17 = quiz.wilson(17, 20)
    assert low3 == pytest.approx(1 - high17) and high3 == pytest.approx(1 - low17)
    assert low3 < 3 / 20 < high3
    with pytest.raises(ValueError):
        quiz.wilson(0, 0)


def _round(number=1, real_position=1, shortcode="A1"):
    return quiz.Round(
        number, shortcode, "acct", "/p.jpg", "real words", "model words", real_position
    )


def _result(choice, real_position=1, shortcode="A1"):
    return quiz.answer(
        "r", 7, _round(real_position=real_position, shortcode=shortcode), choice, 1.5
    )


def test_a_round_shows_the_real_caption_where_it_says():
    assert _round(real_position=1).captions == ("real words", "model words")
    assert _round(real_position=2).captions == ("model words", "real words")


def test_fooled_means_the_generated_caption_was_picked_and_skips_do_not_count():
    assert _result(2, real_position=1).fooled and not _result(1, real_position=1).fooled
    assert _result(1, real_position=2).fooled and not _result(None).fooled
    results = [_result(2), _result(2), _result(1), _result(None), _result(1), _result(1)]
    s = quiz.summarize(results)
    assert (s.rounds, s.answered, s.skipped, s.fooled) == (6, 5, 1, 2)
    assert s.rate == pytest.approx(0.4)
    assert (s.low, s.high) == pytest.approx(quiz.wilson(2, 5))
    assert quiz.summarize([_result(None)]).rate is None
    with pytest.raises(InputError):
        _result(3)


def test_results_record_time_and_an_iso_timestamp():
    r = quiz.answer(
        "r", 7, _round(), 1, 2.345, at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    )
    assert r.seconds == 2.35 and r.at == "2025-01-02T03:04:05+00:00"
    assert quiz.Result.from_json(json.loads(json.dumps(r.to_json()))) == r


def test_record_appends_one_line_per_round_and_read_skips_damaged_lines(tmp_path):
    quiz.record(tmp_path, _result(1))
    quiz.record(tmp_path, _result(2))
    lines = (tmp_path / "quiz.jsonl").read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["fooled"] is True
    with open(tmp_path / "quiz.jsonl", "a") as fh:
        fh.write('{"run": "r", "seed": 1, "short')  # a line cut short by a crash
    quiz.record(tmp_path, _result(None))
    assert [r.choice for r in quiz.read(tmp_path)] == [1, 2, None]
    assert quiz.pooled(tmp_path).answered == 2
    assert quiz.pooled(tmp_path / "nothing-here") is None


def test_two_writers_never_interleave_lines(tmp_path):
    def write(k):
        for i in range(40):
            quiz.record(tmp_path, _result(1, shortcode=f"{k}-{i}"))

    threads = [threading.Thread(target=write, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = (tmp_path / "quiz.jsonl").read_text().splitlines()
    assert len(lines) == 120 and len({json.loads(x)["shortcode"] for x in lines}) == 120


def test_bad_settings_are_refused_before_any_work():
    from typer.testing import CliRunner

    from instacap.cli import app

    for args in (["--rounds", "0"], ["--seed", "-1"]):
        result = CliRunner().invoke(app, ["quiz", *args])
        assert result.exit_code == 2, result.output  # a usage error, even without a terminal
    with pytest.raises(InputError, match="--rounds"):
        quiz.prepare(rounds=0)
    with pytest.raises(InputError, match="--seed"):
        quiz.prepare(seed=-1)


def test_choose_takes_each_photo_once_and_rewrites_copies():
    calls = []

    def write(photo, attempt):
        calls.append((photo, attempt))
        # Photo 3 only ever copies; photo 5 copies on its first two tries.
        if photo == 3 or (photo == 5 and attempt < 2):
            return "a training caption"
        return f"new {photo}.{attempt}"

    def is_copy(photo, text):
        return text == "a training caption"

    chosen, left_out = quiz.choose([5, 3, 8, 1, 9], write, is_copy, rounds=3, attempts=4)
    assert chosen == [(5, "new 5.2"), (8, "new 8.0"), (1, "new 1.0")]
    assert left_out == 1 and calls.count((3, 3)) == 1 and (3, 4) not in calls
    assert (9, 0) not in calls  # stops writing once it has enough rounds
    few, _ = quiz.choose([1, 2], write, is_copy, rounds=5)
    assert [p for p, _ in few] == [1, 2]


# ----------------------------------------------------------------------------- on a tiny trained run


@pytest.fixture(scope="module")
def quiz_home(tiny_home, tmp_path_factory):
    """The tiny demo data set and a 1-epoch run `q` on it (trained once for this module)."""
    from instacap import dataset, training
    from instacap.config import ModelConfig, TrainConfig

    home = tmp_path_factory.mktemp("quiz") / "home"
    shutil.copytree(tiny_home, home)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INSTACAP_HOME", str(home))
        training.fit(
            dataset.load("demo"),
            ModelConfig(embed=16, hidden=16),
            TrainConfig(epochs=1, batch_size=16, device="cpu", threads=1),
            name="q",
        )
    return home


@pytest.fixture
def home(quiz_home, instacap_home, monkeypatch):
    """A fresh copy of the trained home for each test (quiz.jsonl starts empty)."""
    shutil.copytree(quiz_home, instacap_home)
    monkeypatch.setenv("INSTACAP_HOME", str(instacap_home))
    return instacap_home


def test_prepare_deals_unseen_photos_once_with_new_captions(home):
    from instacap import dataset

    data = dataset.load("demo")
    q = quiz.prepare("q", rounds=50, seed=3)
    shortcodes = [r.shortcode for r in q.rounds]
    assert len(shortcodes) == len(set(shortcodes))  # never the same photo twice
    assert set(shortcodes) <= set(data.val.shortcodes)  # only photos it never trained on
    assert len(q.rounds) + q.left_out == q.candidates == len(data.val)  # 50 asked, fewer there
    training = {c.strip() for c in data.train.captions}
    for r in q.rounds:
        i = data.val.shortcodes.index(r.shortcode)
        assert r.real == data.val.captions[i] and r.image == str(data.val.images[i])
        assert r.generated.strip() not in training and r.generated.strip() != r.real.strip()
    assert {r.real_position for r in q.rounds} == {1, 2}
    # Same seed, same quiz; another seed, another order.
    assert quiz.prepare("q", rounds=50, seed=3).rounds == q.rounds
    assert shortcodes != [r.shortcode for r in quiz.prepare("q", rounds=50, seed=4).rounds]


def test_prepare_never_shows_a_copied_caption(home, monkeypatch):
    from instacap import dataset, sampling

    copy = dataset.load("demo").train.captions[0]
    real_generate = sampling.generate
    tries = []

    def copying_generate(model, vocab, feats, config):
        # Writes a training caption on every other try: those must be written again.
        tries.append(config.seed)
        out = real_generate(model, vocab, feats, config)
        if len(tries) % 2:
            out[0][0] = sampling.Caption(copy, (copy,), (1.0,), 0.0, True)
        return out

    monkeypatch.setattr(sampling, "generate", copying_generate)
    q = quiz.prepare("q", rounds=4, seed=1)
    assert len(q.rounds) == 4 and all(r.generated != copy for r in q.rounds)
    assert len(set(tries)) == len(tries)  # every try is seeded differently

    monkeypatch.setattr(
        sampling, "generate", lambda *a: [[sampling.Caption(copy, (), (), 0.0, True)]]
    )
    with pytest.raises(NotReady, match="only wrote copies"):
        quiz.prepare("q", rounds=4, seed=1)


def test_play_records_each_round_and_eval_pools_them(home):
    from instacap import evaluation

    q = quiz.prepare("q", rounds=4, seed=2)
    # Fooled on round 1 (picks the generated one), right on round 2, skips 3, stops at 4.
    answers = iter([3 - q.rounds[0].real_position, q.rounds[1].real_position, None, "stop"])
    ticks = iter(range(100))
    results = quiz.play(q, lambda rnd: next(answers), clock=lambda: float(next(ticks)))
    assert [r.fooled for r in results] == [True, False, False]
    assert [r.seconds for r in results] == [1.0, 1.0, 1.0]
    assert quiz.read(q.path) == results and {r.model for r in results} == {q.model}
    # A second player adds to the same file; eval reports the pool.
    quiz.play(quiz.prepare("q", rounds=1, seed=9), lambda rnd: rnd.real_position)
    report = evaluation.evaluate("q", n=1, max_photos=8, retrieval_photos=8)
    assert report.quiz is not None
    assert (report.quiz.rounds, report.quiz.answered, report.quiz.fooled) == (4, 3, 1)
    data = report.to_json()["quiz"]
    assert data["fooling_rate"] == pytest.approx(1 / 3) and data["skipped"] == 1
    assert data["interval_95"] == pytest.approx(list(quiz.wilson(1, 3)))


def test_eval_shows_the_pooled_rate_of_this_model_once_there_is_one(home):
    from typer.testing import CliRunner

    from instacap import runs
    from instacap.cli import app

    result = CliRunner().invoke(app, ["eval", "--run", "q", "--n", "1", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["quiz"] is None
    run_path = home / "runs" / "q"
    model = quiz.model_id(runs.read_meta(run_path))
    assert len(model) == 16
    # One fooled round on these weights, and three spotted ones played on an earlier model of the
    # same run name (trained again with --overwrite): those say nothing about this one.
    quiz.record(run_path, quiz.answer("q", 1, _round(real_position=1), 2, 1.0, model=model))
    for _ in range(3):
        quiz.record(run_path, quiz.answer("q", 1, _round(real_position=1), 1, 1.0, model="older"))
    args = ["eval", "--run", "q", "--n", "1", "--html", str(home / "e.html")]
    table = CliRunner().invoke(app, args)
    row = next(line for line in table.stdout.splitlines() if "fooling rate" in line)
    assert "100.0%" in row  # one answered round on this model, and it fooled the player
    assert "fooling rate" in (home / "e.html").read_text()
    assert quiz.pooled(run_path).answered == 4 and quiz.pooled(run_path, model).answered == 1


def test_html_page_hides_the_answers_until_the_quiz_is_over(home, tmp_path):
    q = quiz.prepare("q", rounds=3, seed=5)
    blind = quiz.write_page(tmp_path / "quiz.html", q).read_text()
    assert blind.count('<figure class="card">') == 3 and blind.count("data:image/jpeg") == 3
    assert " real<" not in blind and "generated" not in blind.split("<main>")[1].split("<footer")[0]
    results = [quiz.answer("q", q.seed, r, 1, 1.0) for r in q.rounds]
    done = quiz.write_page(tmp_path / "quiz.html", q, results).read_text()
    assert done.count(" real") >= 3 and "Fooling rate" in done


def test_preview_draws_two_pixels_per_cell_upright(tmp_path):
    from PIL import Image
    from rich.console import Console

    from instacap.cli.quiz import _preview

    img = Image.new("RGB", (8, 8), (255, 0, 0))
    img.paste((0, 0, 255), (0, 5, 8, 8))  # rows 0-4 red, rows 5-7 blue
    img.save(tmp_path / "p.png")
    colour = Console(color_system="truecolor", force_terminal=True, no_color=False)
    text = _preview(str(tmp_path / "p.png"), colour)
    lines = text.plain.split("\n")
    assert lines == ["▀" * 8] * 4  # 8 pixels wide, 8 tall -> 8 columns, 4 rows
    cells = [(s.style.color.triplet, s.style.bgcolor.triplet) for s in text.spans]
    red, blue = (255, 0, 0), (0, 0, 255)
    assert cells[0] == (red, red) and cells[8 * 2] == (red, blue) and cells[-1] == (blue, blue)
    assert _preview(str(tmp_path / "p.png"), Console(color_system=None)) is None
    assert _preview(str(tmp_path / "missing.png"), colour) is None


# ----------------------------------------------------------------------------- through a terminal


@pytest.fixture
def pexpect():
    return pytest.importorskip("pexpect")  # in the `test` extra


def _spawn(pexpect, home: Path, *args: str, colour: bool = False, stdout: Path | None = None):
    """`instacap quiz --run q ARGS` in a pseudo-terminal (its stdout into a file when given)."""
    env = dict(os.environ, INSTACAP_HOME=str(home), COLUMNS="100", TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    env["COLORTERM"] = "truecolor"
    if not colour:
        env["NO_COLOR"] = "1"
    command = [sys.executable, "-m", "instacap", "quiz", "--run", "q", *args]
    if stdout is not None:
        command = ["/bin/sh", "-c", 'exec "$@" > "$0"', str(stdout), *command]
    child = pexpect.spawn(
        command[0],
        command[1:],
        env=env,
        encoding="utf-8",
        timeout=60,
        dimensions=(50, 100),
    )
    child.logfile_read = io.StringIO()  # everything the terminal showed
    return child


def _screen(child) -> str:
    """What the terminal showed, escape sequences removed and whitespace collapsed."""
    return " ".join(re.sub(r"\x1b\[[0-9;]*m", "", child.logfile_read.getvalue()).split())


def test_quiz_in_a_terminal_records_answers_and_shows_the_fooling_rate(home, pexpect):
    page = home / "quiz.html"
    child = _spawn(pexpect, home, "--rounds", "3", "--seed", "1", "--html", str(page))
    child.expect("Round 1 of 3")
    assert page.read_text().count('<figure class="card">') == 3  # there while the quiz runs
    child.expect(r"\[1/2, s skip, q stop\]")
    child.send("x")  # not an answer: ignored
    child.send("2")
    child.expect("Round 2 of 3")
    child.send("s")
    child.expect("Round 3 of 3")
    child.send("1")
    child.expect("Fooling rate: ")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    results = quiz.read(home / "runs" / "q")
    assert [r.choice for r in results] == [2, None, 1]
    assert all(r.seconds >= 0 and r.at.endswith("+00:00") for r in results)
    dealt = quiz.prepare("q", rounds=3, seed=1)  # the same seed dealt the same rounds
    assert [r.shortcode for r in results] == [r.shortcode for r in dealt.rounds]
    fooled = sum(r.fooled for r in results)
    assert f"Fooling rate: {100 * fooled / 2:.0f}% of 2 answered rounds" in _screen(child)
    assert "Fooling rate" in page.read_text()  # rewritten with the answers at the end


def test_a_bad_html_path_is_said_before_the_quiz(home, pexpect):
    child = _spawn(pexpect, home, "--html", str(home / "no-such-folder" / "q.html"))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1 and "does not exist" in _screen(child)
    assert "Round 1" not in _screen(child)


def test_q_stops_and_ctrl_c_keeps_the_finished_rounds(home, pexpect):
    child = _spawn(pexpect, home, "--rounds", "5", "--seed", "2")
    child.expect(r"\[1/2, s skip, q stop\]")
    child.send("1")
    child.expect("Round 2 of 5")
    child.send("q")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0 and len(quiz.read(home / "runs" / "q")) == 1

    child = _spawn(pexpect, home, "--rounds", "5", "--seed", "3")
    child.expect(r"\[1/2, s skip, q stop\]")
    child.send("2")
    child.expect("Round 2 of 5")
    child.expect(r"\[1/2, s skip, q stop\]")
    child.sendintr()  # Ctrl-C in the middle of round 2
    child.expect("Stopped in round 2; round 1 is recorded")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    assert [r.seed for r in quiz.read(home / "runs" / "q")] == [2, 3]


def test_colour_terminal_gets_a_photo_preview_and_json_summary(home, pexpect):
    child = _spawn(pexpect, home, "--rounds", "1", "--seed", "4", "--json", colour=True)
    child.expect(r"\[1/2, s skip, q stop\]")
    shown = child.before
    child.send("2")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert shown.count("▀") >= 32 * 8 and "\x1b[38;2;" in shown  # true-colour half blocks
    data = json.loads(child.before[child.before.index("{") :])
    assert data["run"] == "q" and data["seed"] == 4 and len(data["rounds"]) == 1
    assert data["summary"]["answered"] == 1 and data["rounds"][0]["choice"] == 2


def test_with_stdout_in_a_file_the_rounds_stay_on_the_terminal(home, pexpect, tmp_path):
    out = tmp_path / "out.txt"
    child = _spawn(pexpect, home, "--rounds", "1", "--seed", "5", stdout=out)
    child.expect(r"\[1/2, s skip, q stop\]")
    child.send("1")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0 and "Round 1 of 1" in _screen(child)
    saved = out.read_text()
    assert "Fooling rate" in saved and "Round 1" not in saved


def test_no_terminal_is_one_sentence(home):
    proc = subprocess.run(
        [sys.executable, "-m", "instacap", "quiz", "--run", "q"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    said = " ".join(proc.stderr.split())  # Rich wraps lines at 80 columns
    assert "needs an interactive terminal" in said and "Traceback" not in said
    assert said.count(".") == 1  # one sentence
    assert not (home / "runs" / "q" / "quiz.jsonl").exists()
