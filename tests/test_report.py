"""The HTML pages: a run's report.html, `eval --html` and `caption --html`, built from their parts
and through the CLI on the tiny demo data set. test_report_browser.py opens them in Chromium."""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from instacap import highlight, pagekit, report
from instacap.cli import app
from instacap.errors import InputError
from instacap.sampling import Caption

pytest_plugins = ["tiny_data"]  # the tiny demo data set, built once per session

runner = CliRunner()


def _text(page: str) -> str:
    """What a reader sees: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def _caption(text: str, probs: list[float] | None = None) -> Caption:
    tokens = tuple(text)
    probs = probs or [0.9] * len(tokens)
    return Caption(text, tokens, tuple(probs), -0.5, True)


# ----------------------------------------------------------------------------- the parts


def test_pieces_classify_like_the_terminal_and_keep_every_character():
    text = "Golden hour 🌅 at #beach with @ana.b see https://x.io/#top"
    probs = [0.9] * len(text)
    probs[0], probs[1] = 0.3, 0.1  # 'G' unsure, 'o' very unsure
    got = highlight.pieces(tuple(text), probs)
    assert "".join(p.text for p in got) == text
    kinds = {p.text: p.kind for p in got if p.kind}
    assert kinds == {"🌅": "emoji", "#beach": "hashtag", "@ana.b": "mention",
                     "https://x.io/#top": "url"}  # fmt: skip
    assert (got[0].text, got[0].doubt) == ("G", "unsure")
    assert (got[1].text, got[1].doubt) == ("o", "very unsure")
    # The terminal renderer styles exactly these spans.
    from instacap.cli import render

    styled = {(s.start, s.end) for s in render.caption_text(text).spans if s.style != "dim"}
    assert styled == {(a, b) for a, b, _ in highlight.spans(text)}


def test_caption_html_escapes_and_colours():
    nasty = '<img src=x onerror="alert(1)"> & #tag @who'
    out = report.caption_html(nasty)
    assert "<img" not in out and 'onerror="' not in out
    assert _text(out) == nasty
    assert '<span class="hashtag">#tag</span>' in out
    assert '<span class="mention">@who</span>' in out
    shaded = report.caption_html(("a", "b"), [0.1, 0.4])
    assert shaded == '<span class="very-unsure">a</span><span class="unsure">b</span>'


def _history(bpcs: list[float], losses: list[float], best: int) -> list[dict]:
    return [
        {"epoch": i + 1, "train_loss": loss, "val_bpc": bpc, "best": i + 1 == best}
        for i, (bpc, loss) in enumerate(zip(bpcs, losses, strict=True))
    ]


def _points(svg: str, series: str) -> list[tuple[float, float]]:
    line = re.search(rf'<polyline class="{series}" points="([^"]+)"', svg)
    assert line, svg
    return [tuple(map(float, p.split(","))) for p in line.group(1).split()]  # type: ignore[misc]


def test_curves_follow_the_numbers():
    svg = report.curves_svg(_history([3.0, 2.0, 2.5], [2.5, 1.2, 0.7], best=2))
    val, train = _points(svg, "val"), _points(svg, "train")
    assert len(val) == len(train) == 3
    xs = [x for x, _ in val]
    assert xs == sorted(xs) and xs[0] < xs[-1]
    # SVG y grows downwards, so the lowest bpc (epoch 2) has the largest y.
    assert val[1][1] > val[2][1] > val[0][1]
    # Train loss is drawn in bits (nats / ln 2), on the same axis as the validation bpc:
    # 1.2 nats = 1.73 bits lies between bpc 2.0 (epoch 2) and the axis' bottom.
    assert val[1][1] < train[1][1]
    assert svg.count('<circle class="val"') == 3 and 'class="best"' in svg
    assert "epoch 2: train loss 1.731 bits/char (1.200 nats/token), validation 2.000 bpc" in svg


def test_curves_with_one_epoch_none_or_undefined_numbers():
    one = report.curves_svg(_history([2.0], [1.0], best=1))
    assert len(_points(one, "val")) == 1 and "nan" not in one.lower()
    assert "<svg" not in report.curves_svg([])
    skipped = report.curves_svg(_history([2.0, math.nan], [1.0, 1.0], best=1))
    assert len(_points(skipped, "val")) == 1


def test_thumbnail_is_a_small_jpeg_and_a_missing_photo_is_said(tmp_path):
    big = tmp_path / "wide.png"
    Image.new("RGBA", (1200, 600), (10, 200, 30, 128)).save(big)
    uri = report.thumbnail(big)
    assert uri is not None and uri.startswith("data:image/jpeg;base64,")
    img = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert img.format == "JPEG" and img.size == (pagekit.THUMB, pagekit.THUMB // 2)
    assert report.thumbnail(tmp_path / "gone.jpg") is None
    sheet = report.contact_sheet([report.Card(tmp_path / "gone.jpg", "gone.jpg")])
    assert "<img" not in sheet and "photo not found" in sheet


def test_page_is_self_contained(tmp_path):
    photo = tmp_path / "p.jpg"
    Image.new("RGB", (50, 40), (200, 30, 30)).save(photo)
    page = report.captions_page("r<1>", [photo], [[_caption("hi #there")]], "seed 1")
    assert page.startswith("<!DOCTYPE html>") and 'name="viewport"' in page
    assert "<script" not in page.lower()
    # Nothing to fetch: no links, no external sources, only inline data: images.
    assert not re.search(r"""(?:src|href)\s*=\s*(?!["']?data:)""", page)
    assert "r&lt;1&gt;" in page and "<1>" not in page


def test_write_refuses_a_missing_folder(tmp_path):
    with pytest.raises(InputError, match="does not exist; create it"):
        report.write(tmp_path / "nowhere" / "r.html", "<p>")
    import os

    old = os.umask(0o022)
    try:
        report.write(tmp_path / "r.html", "<p>x</p>")
    finally:
        os.umask(old)
    assert (tmp_path / "r.html").read_text() == "<p>x</p>"
    # Readable by others like any new file (a page is for sharing), not private like a temp file.
    assert (tmp_path / "r.html").stat().st_mode & 0o777 == 0o644


def test_spread_takes_evenly_spaced_photos():
    assert report.spread(5, 8).tolist() == [0, 1, 2, 3, 4]
    assert report.spread(100, 5).tolist() == [0, 25, 50, 74, 99]


def test_cli_constant_matches_the_library():
    from instacap.cli import evaluate

    assert evaluate.EVAL_PHOTOS == report.EVAL_PHOTOS


# ----------------------------------------------------------------------------- through the CLI


@dataclass(frozen=True)
class Pages:
    home: Path
    folder: Path
    trained: dict
    evaluated: dict
    captioned: dict
    photos: list[Path]

    @property
    def training(self) -> Path:
        return Path(self.trained["report"])

    @property
    def eval(self) -> Path:
        return self.folder / "eval.html"

    @property
    def captions(self) -> Path:
        return self.folder / "captions.html"


@pytest.fixture(scope="module")
def pages(tiny_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Pages:
    """Train the tiny data set for 2 epochs through the CLI, then write all three pages."""
    folder = tmp_path_factory.mktemp("pages")
    home = folder / "home"
    shutil.copytree(tiny_home, home)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INSTACAP_HOME", str(home))
        mp.setenv("NO_COLOR", "1")
        args = ["--data", "demo", "--epochs", "2", "--name", "pics", "--threads", "1", "--json"]
        trained = runner.invoke(app, ["train", *args])
        assert trained.exit_code == 0, trained.output
        evaluated = runner.invoke(app, ["eval", "--run", "pics", "--n", "2", "--threads", "1",
                                        "--html", str(folder / "eval.html"), "--json"])  # fmt: skip
        assert evaluated.exit_code == 0, evaluated.output
        from instacap import dataset

        val = dataset.load("demo").val
        photos = [folder / "beach & <sun>.jpg", folder / "second.png"]
        shutil.copy(val.images[0], photos[0])
        Image.open(val.images[1]).save(photos[1])
        captioned = runner.invoke(app, ["caption", *map(str, photos), "--n", "2", "--seed", "3",
                                        "--html", str(folder / "captions.html"), "--json"])  # fmt: skip
        assert captioned.exit_code == 0, captioned.output
    return Pages(home, folder, json.loads(trained.stdout), json.loads(evaluated.stdout),
                 json.loads(captioned.stdout), photos)  # fmt: skip


def test_training_writes_report_html_into_the_run(pages):
    from instacap import dataset

    assert pages.training == pages.home / "runs" / "pics" / "report.html"
    page = pages.training.read_text()
    assert page.count('<circle class="val"') == 2  # one point per epoch
    assert page.count("<img ") == report.TRAINING_PHOTOS
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INSTACAP_HOME", str(pages.home))
        val = dataset.load("demo").val
    shown = [val.captions[i] for i in report.spread(len(val), report.TRAINING_PHOTOS)]
    text = _text(page)
    assert all(c in text for c in shown)
    last = pages.trained["epochs"][-1]
    assert f"{last['val_bpc']:.3f}" in text and "2 of 2" in text


def test_eval_html_holds_every_number_and_the_validation_photos(pages):
    data = pages.evaluated
    assert data["samples"] == []  # --samples 0: the page's photos do not leak into the JSON
    page = pages.eval.read_text()
    text = _text(page)
    for label in ("bpc", "image gain", "retrieval@1", "scene accuracy", "distinct-2", "loops"):
        assert f"{label}" in text
    assert f"{data['bpc']:.3f}" in text and f"{100 * data['retrieval_at_1']:.1f}%" in text
    assert page.count("<img ") == min(report.EVAL_PHOTOS, data["photos"])
    assert page.count('<circle class="train"') == 2  # the run's curves are there too


def test_eval_html_with_samples_shows_them_in_the_terminal_too(pages, monkeypatch, tmp_path):
    monkeypatch.setenv("INSTACAP_HOME", str(pages.home))
    out = runner.invoke(app, ["eval", "--n", "1", "--samples", "2", "--threads", "1",
                              "--html", str(tmp_path / "e.html"), "--json"])  # fmt: skip
    assert out.exit_code == 0, out.output
    assert len(json.loads(out.stdout)["samples"]) == 2


def test_html_into_a_missing_folder_is_refused_before_any_work(tmp_path):
    # No run and no photo exist here: the folder is what the command complains about first.
    for args in (["eval", "--run", "nothing"], ["caption", str(tmp_path / "nothing.jpg")]):
        out = runner.invoke(app, [*args, "--html", str(tmp_path / "no" / "page.html")])
        said = " ".join(out.output.split())
        assert out.exit_code == 1 and "no does not exist; create it" in said, said
    folder = runner.invoke(app, ["eval", "--html", str(tmp_path)])
    assert folder.exit_code == 2  # a folder for a file: Typer's usage error names --html


def test_caption_html_shows_each_photo_with_its_captions_best_first(pages):
    page = pages.captions.read_text()
    assert page.count("<img ") == 2
    text = _text(page)
    assert "beach & <sun>.jpg" in text and "<sun>" not in page
    assert "seed 3" in text
    for photo in pages.captioned["photos"]:
        texts = [c["text"] for c in photo["captions"]]
        at = [text.find(t) for t in texts]
        assert all(i >= 0 for i in at) and at == sorted(at), (texts, text)


# ----------------------------------------------------------------------------- in a real browser

CHROMIUM = next(
    (found for name in ("chromium", "chromium-browser") if (found := shutil.which(name))), None
)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (Debian: apt-get install chromium), so the HTML pages "
    "were not opened in a browser",
)
# Headless, offline and quiet: no sandbox (CI runs as root), no GPU, no network of its own.
_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--hide-scrollbars", "--mute-audio"]  # fmt: skip

# A test-only page that opens a report in two iframes, desktop-wide and phone-wide, and writes what
# it found into its own DOM for --dump-dom (the report itself has no script).
# --allow-file-access-from-files lets a file:// page look into a file:// iframe.
_PROBE = """<!DOCTYPE html><html><body><pre id="probe">pending</pre>
<iframe id="wide" src="{src}" width="1000" height="900"></iframe>
<iframe id="narrow" src="{src}" width="390" height="900"></iframe>
<script>
var found = {{}};
function look(frame) {{
  try {{
    var doc = frame.contentDocument, imgs = Array.prototype.slice.call(doc.images);
    return {{
      images: imgs.length,
      loaded: imgs.filter(function (i) {{ return i.complete && i.naturalWidth > 0; }}).length,
      scrollWidth: doc.documentElement.scrollWidth,
      clientWidth: doc.documentElement.clientWidth
    }};
  }} catch (e) {{ return {{error: String(e)}}; }}
}}
["wide", "narrow"].forEach(function (id) {{
  document.getElementById(id).addEventListener("load", function () {{
    found[id] = look(this);
    if (found.wide && found.narrow) {{
      document.getElementById("probe").textContent = "RESULT" + JSON.stringify(found) + "END";
    }}
  }});
}});
</script></body></html>
"""


def _chromium(profile: Path, *args: str) -> str:
    import os
    import signal
    import subprocess

    cmd = [str(CHROMIUM), *_FLAGS, f"--user-data-dir={profile}", *args]
    # Its own process group, so a hung browser and its helpers all go on timeout.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        out, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    assert proc.returncode == 0, cmd
    return out


def screenshot(page: Path, png: Path, size: tuple[int, int] = (1000, 1400)) -> Image.Image:
    _chromium(png.parent / "profile", f"--screenshot={png}",
              f"--window-size={size[0]},{size[1]}", page.as_uri())  # fmt: skip
    with Image.open(png) as img:
        return img.convert("RGB")


def probe(page: Path, folder: Path) -> dict:
    """What the browser made of `page` 1000 and 390 pixels wide ("wide", "narrow"): images in
    it, images that loaded, the document's width and the window's."""
    wrapper = folder / f"probe-{page.stem}.html"
    wrapper.write_text(_PROBE.format(src=page.as_uri()))
    dom = _chromium(folder / "profile", "--allow-file-access-from-files",
                    "--virtual-time-budget=10000", "--dump-dom", wrapper.as_uri())  # fmt: skip
    found = re.search(r"RESULT(.*?)END", dom)
    assert found, dom[-2000:]
    return json.loads(html.unescape(found.group(1)))


def _not_blank(img: Image.Image) -> bool:
    from PIL import ImageStat

    return ImageStat.Stat(img.convert("L")).var[0] > 200


def _pixels_near(img: Image.Image, rgb: tuple[int, int, int], tol: int = 40) -> int:
    import numpy as np

    a = np.asarray(img, dtype=np.int32)
    return int((np.abs(a - np.array(rgb)).max(-1) <= tol).sum())


@needs_chromium
def test_the_browser_checks_can_fail(tmp_path):
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body style='background:#fff'></body></html>")
    assert not _not_blank(screenshot(blank, tmp_path / "blank.png"))
    broken = tmp_path / "broken.html"
    broken.write_text(
        '<img src="data:image/jpeg;base64,/9j/AAAA"><img src="missing.jpg">'
        '<div style="width:800px">too wide for a phone</div>'
    )
    seen = probe(broken, tmp_path)["narrow"]
    assert (seen["images"], seen["loaded"]) == (2, 0)
    assert seen["scrollWidth"] > seen["clientWidth"]


@needs_chromium
@pytest.mark.parametrize("which", ["training", "eval", "captions"])
def test_pages_render_in_chromium_with_every_photo(pages, which, tmp_path):
    page = getattr(pages, which)
    shot = screenshot(page, tmp_path / f"{which}.png")
    assert _not_blank(shot)
    if which != "captions":  # the curves were drawn: both lines' colours are on screen
        assert _pixels_near(shot, (224, 115, 28)) > 200 and _pixels_near(shot, (37, 99, 235)) > 200
    seen = probe(page, tmp_path)
    for width in ("wide", "narrow"):
        assert seen[width]["images"] == page.read_text().count("<img ") > 0
        assert seen[width]["loaded"] == seen[width]["images"], seen  # no broken image
    # On a phone nothing sticks out sideways (the numbers table scrolls in its own box).
    assert seen["narrow"]["scrollWidth"] <= seen["narrow"]["clientWidth"], seen


def test_training_succeeds_when_its_page_cannot_be_written(tiny, monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report, "write_training_report", full_disk)
    out = runner.invoke(app, ["train", "--data", "demo", "--epochs", "1", "--name", "nopage",
                              "--threads", "1", "--json"])  # fmt: skip
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["report"] is None
    said = " ".join(out.stderr.split())
    assert "The run is saved, but its report.html was not written" in said
    assert "No space left on device" in said


def test_eval_page_adds_the_quiz_verdict_once_people_answered(tmp_path):
    from dataclasses import MISSING, fields, replace

    from instacap.evaluation import Report
    from instacap.quiz import Summary

    values = {"run": "r", "dataset": "d", "encoder": "thumbnail", "photos": 2,
              "captions_per_photo": 1, "seed": 0, "retrieval_photos": 2,
              "retrieval_candidates": 2, "scene_accuracy": None, "scene_accuracy_data": None,
              "scene_chance": None}  # fmt: skip
    r = Report(**{f.name: values.get(f.name, 0.25) for f in fields(Report) if f.default is MISSING})
    assert "fooling rate" not in report.eval_page(r, tmp_path)
    voted = replace(
        r, quiz=Summary(rounds=12, answered=10, fooled=4, rate=0.4, low=0.17, high=0.69)
    )
    text = _text(report.eval_page(voted, tmp_path))
    assert "fooling rate40.0%" in text and "in 4 of 10" in text and "17.0%–69.0%" in text
    assert text.count("fooling rate") == 1  # one row, also what the terminal table shows
    assert report.metric_rows(voted)[-1][0] == "fooling rate"
