"""`instacap scrape`: real instaloader code against a fake Instagram served by `responses`.

The fixtures match what instaloader 4.16 parses when logged out (the lower bound in
pyproject.toml): the profile page's embedded `xig_user_by_username` JSON, the start page's LSD
token and csrftoken cookie, one api/graphql POST per post (doc_id 27128499623469141) and further
feed pages (doc_id 28904005159232689). `responses` patches requests globally, so every session
instaloader opens is served by `FakeInstagram`; a request it does not know fails the test.
No test sleeps: the scraper gets a fake clock whose sleep only moves time forward.
"""

from __future__ import annotations

import io
import json
import re
import stat
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import responses
from PIL import Image
from typer.testing import CliRunner

from instacap import instagram
from instacap.cli import app
from instacap.config import ScrapeConfig
from instacap.errors import InputError
from instacap.posts import PostStore

FIXTURES = Path(__file__).parent / "fixtures" / "instagram"
MEDIA_DOC = "27128499623469141"
FEED_DOC = "28904005159232689"
T0 = 1_700_000_000  # 2023-11-14T22:13:20Z


def _jpeg(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buf, "JPEG")
    return buf.getvalue()


def _url(code: str, slide: int = 0) -> str:
    return f"https://scontent-iad3-1.cdninstagram.com/v/t51.2885-15/{code}_{slide}.jpg?stp=dst-jpg&oh=sig&oe=6560A1B2"


def media(
    code: str,
    owner: str,
    age_h: float,
    kind: str = "photo",
    caption: str | None = "default caption",
    likes: int | None = 42,
) -> dict[str, Any]:
    """A post as api/graphql answers it (items[0] of xdt_api__v1__media__shortcode__web_info)."""
    pk = str(3_000_000_000 + sum(map(ord, code)) * 1000 + len(code))
    item: dict[str, Any] = {
        "code": code,
        "pk": pk,
        "id": f"{pk}_{owner}",
        "taken_at": int(T0 - age_h * 3600),
        "user": {"pk": f"9{len(owner)}", "username": owner, "full_name": owner.title()},
        "caption": {"text": caption, "pk": "1"} if caption is not None else None,
        "like_count": likes,
        "comment_count": 3,
        "image_versions2": {"candidates": [{"url": _url(code), "width": 1080, "height": 1080}]},
        "video_versions": None,
        "carousel_media": None,
        "media_type": 1,
        "product_type": "feed",
    }
    photo = {"media_type": 1, "image_versions2": {"candidates": [{"url": _url(code, 1)}]}}
    video = {
        "media_type": 2,
        "image_versions2": {"candidates": [{"url": _url(code, 2)}]},
        "video_versions": [{"url": f"https://scontent.cdninstagram.com/{code}.mp4"}],
    }
    if kind == "video":
        item["media_type"] = 2
        item["video_versions"] = video["video_versions"]
        item["product_type"] = "clips"
    elif kind == "carousel_photo":
        item["media_type"] = 8
        item["carousel_media"] = [photo, video]
    elif kind == "carousel_video":
        item["media_type"] = 8
        item["carousel_media"] = [video, photo]
    return item


class FakeInstagram:
    """Answers instaloader's requests from a dict of accounts; faults can be queued per request."""

    def __init__(self, page_size: int = 12) -> None:
        self.page_size = page_size
        self.accounts: dict[str, dict[str, Any]] = {}
        self.media: dict[str, dict[str, Any]] = {}
        self.images: dict[str, bytes] = {}
        self.faults: dict[tuple[str, str], list[tuple[int, dict[str, str], str | bytes]]] = {}
        self.always: dict[tuple[str, str], tuple[int, dict[str, str], str | bytes]] = {}
        self.calls: list[tuple[str, str]] = []
        self.logins: dict[str, str] = {}  # user -> password accepted
        self.two_factor: set[str] = set()

    def account(self, name: str, posts: list[dict[str, Any]], private: bool = False) -> None:
        self.accounts[name] = {"pk": f"9{len(name)}", "posts": posts, "private": private}
        for i, m in enumerate(posts):
            self.media[m["code"]] = m
            self.images[m["code"]] = _jpeg((40 * i % 255, 80, 120))

    def count(self, kind: str, key: str | None = None) -> int:
        return sum(1 for k, v in self.calls if k == kind and (key is None or v == key))

    # -- serving -----------------------------------------------------------------------------

    def __call__(self, request: Any) -> tuple[int, Any, str | bytes]:
        url = urlparse(request.url)
        host, path = url.hostname or "", url.path
        if host.endswith("cdninstagram.com") and path.endswith(".jpg"):
            code = path.rsplit("/", 1)[1].rsplit("_", 1)[0]
            return self._serve("cdn", code, lambda: self._image(code))
        if host != "www.instagram.com":
            raise AssertionError(f"unexpected request to {request.url}")
        if request.method == "GET" and path == "/":
            return self._serve("start", "", self._start_page)
        if request.method == "POST" and path.rstrip("/") == "/api/graphql":
            form = {k: v[0] for k, v in parse_qs(request.body).items()}
            variables = json.loads(form["variables"])
            assert form.get("lsd") == "AVq-fixture-lsd", "instaloader sends the page's LSD token"
            if form["doc_id"] == MEDIA_DOC:
                code = variables["shortcode"]
                return self._serve("media", code, lambda: self._media(code))
            if form["doc_id"] == FEED_DOC:
                return self._serve("feed", variables["after"], lambda: self._feed(variables))
        if request.method == "POST" and path == "/api/v1/web/accounts/login/ajax/":
            return self._login(parse_qs(request.body))
        if request.method == "POST" and path == "/accounts/login/ajax/two_factor/":
            return self._two_factor(parse_qs(request.body))
        if request.method == "GET" and path.rstrip("/") == "/graphql/query":
            return self._serve("whoami", "", lambda: self._whoami(request))
        match = re.fullmatch(r"/([a-z0-9._]+)/", path)
        if request.method == "GET" and match:
            name = match.group(1)
            return self._serve("page", name, lambda: self._profile_page(name))
        raise AssertionError(f"unexpected request {request.method} {request.url}")

    def _serve(self, kind: str, key: str, ok: Any) -> tuple[int, Any, str | bytes]:
        self.calls.append((kind, key))
        queued = self.faults.get((kind, key))
        if queued:
            return queued.pop(0)
        if (kind, key) in self.always:
            return self.always[(kind, key)]
        return ok()

    def _start_page(self) -> tuple[int, Any, str]:
        headers = {"Set-Cookie": "csrftoken=fixtureCSRF; Path=/; Domain=.instagram.com; Secure"}
        return 200, headers, (FIXTURES / "start_page.html").read_text()

    def _profile_page(self, name: str) -> tuple[int, Any, str]:
        acct = self.accounts.get(name)
        if acct is None:
            return 404, {}, "<html>Sorry, this page isn't available.</html>"
        details = {"pk": acct["pk"], "username": name, "full_name": name.title()}
        details.update(is_private=acct["private"], all_media_count=len(acct["posts"]))
        posts: dict[str, Any] = {"id": f"page-{name}", "username": name, "pk": acct["pk"]}
        if not acct["private"]:
            posts["polaris_ordered_timeline_connection"] = self._page(name, 0)
        html = (FIXTURES / "profile_page.html").read_text()
        html = html.replace("{{USERNAME}}", name)
        html = html.replace("{{DETAILS}}", json.dumps({"xig_user_by_username": details}))
        html = html.replace("{{POSTS}}", json.dumps({"xig_user_by_username": posts}))
        return 200, {"Content-Type": "text/html; charset=utf-8"}, html

    def _page(self, name: str, start: int) -> dict[str, Any]:
        posts = self.accounts[name]["posts"]
        chunk = posts[start : start + self.page_size]
        more = start + self.page_size < len(posts)
        return {
            "edges": [{"node": {"code": m["code"], "pk": m["pk"], "id": m["id"]}} for m in chunk],
            "page_info": {"has_next_page": more, "end_cursor": f"{name}:{start + len(chunk)}"},
        }

    def _feed(self, variables: dict[str, Any]) -> tuple[int, Any, str]:
        name, start = variables["after"].split(":")
        assert variables["id"] == f"page-{name}"
        body = {
            "data": {"node": {"polaris_ordered_timeline_connection": self._page(name, int(start))}}
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    def _media(self, code: str) -> tuple[int, Any, str]:
        body = {"data": {"xdt_api__v1__media__shortcode__web_info": {"items": [self.media[code]]}}}
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    def _image(self, code: str) -> tuple[int, Any, bytes]:
        return 200, {"Content-Type": "image/jpeg"}, self.images[code]

    def _login(self, form: dict[str, list[str]]) -> tuple[int, Any, str]:
        user = form["username"][0]
        password = form["enc_password"][0].rsplit(":", 1)[1]
        if self.logins.get(user) != password:
            return 200, {}, json.dumps({"authenticated": False, "user": True, "status": "ok"})
        if user in self.two_factor:
            body = {"two_factor_required": True, "two_factor_info": {"two_factor_identifier": "2f"}}
            return 400, {}, json.dumps(body)
        return (
            200,
            self._session_cookies(user),
            json.dumps({"authenticated": True, "user": True, "userId": "77", "status": "ok"}),
        )

    def _two_factor(self, form: dict[str, list[str]]) -> tuple[int, Any, str]:
        if form["verificationCode"][0] != "123456":
            return 400, {}, json.dumps({"status": "fail", "message": "bad code"})
        return 200, self._session_cookies(form["username"][0]), json.dumps({"status": "ok"})

    @staticmethod
    def _session_cookies(user: str) -> list[tuple[str, str]]:
        return [
            ("Set-Cookie", "csrftoken=loggedCSRF; Path=/; Domain=.instagram.com"),
            ("Set-Cookie", f"sessionid=SECRET-{user}; Path=/; Domain=.instagram.com"),
            ("Set-Cookie", "ds_user_id=77; Path=/; Domain=.instagram.com"),
        ]

    def _whoami(self, request: Any) -> tuple[int, Any, str]:
        cookie = request.headers.get("Cookie", "")
        match = re.search(r"sessionid=SECRET-([a-z0-9._]+)", cookie)
        user = {"username": match.group(1)} if match else None
        return 200, {}, json.dumps({"data": {"user": user}, "status": "ok"})


def fault(status: int, body: Any = "", headers: dict[str, str] | None = None) -> tuple:
    text = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return status, headers or {"Content-Type": "application/json"}, text


PLEASE_WAIT = fault(
    401, {"message": "Please wait a few minutes before you try again.", "status": "fail"}
)
TOO_MANY = fault(429, {"message": "rate limited", "status": "fail"})


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, secs: float) -> None:
        self.sleeps.append(secs)
        self.now += secs


class Notes:
    """A Reporter that remembers what it was told."""

    def __init__(self) -> None:
        self.notes: list[str] = []
        self.advanced: dict[str, float] = {}

    def start(self, task: str, total: int | None = None, **info: Any) -> None:
        self.advanced.setdefault(task, 0)

    def advance(self, task: str, n: float = 1, **info: Any) -> None:
        self.advanced[task] = self.advanced.get(task, 0) + n

    def note(self, text: str) -> None:
        self.notes.append(text)


@pytest.fixture
def ig() -> Any:
    fake = FakeInstagram(page_size=4)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        for method in (responses.GET, responses.POST, responses.HEAD):
            rsps.add_callback(method, re.compile(r"https?://.*"), callback=fake)
        yield fake


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def run(accounts: list[str], clock: FakeClock, reporter: Any = None, **cfg: Any):
    config = ScrapeConfig(**{"delay": 0.0, "first_wait": 10.0, "max_wait": 300.0, **cfg})
    with PostStore.open() as store:
        return instagram.scrape(
            accounts, config, store, reporter or Notes(), clock=clock, sleep=clock.sleep
        )


def stored(account: str | None = None) -> dict[str, Any]:
    with PostStore.open() as store:
        return {p.shortcode: p for p in store.posts([account] if account else None)}


def alice_posts() -> list[dict[str, Any]]:
    """Feed order: a pinned old photo first, then newest first; two pages of 4."""
    return [
        media("PINOLD", "alice", age_h=500, caption="pinned forever"),  # pinned, oldest of all
        media("A1", "alice", age_h=1, caption="sunset 🌅 #golden", likes=120),
        media("A2car", "alice", age_h=2, kind="carousel_photo", caption="carousel, photo first"),
        media("A3carv", "alice", age_h=3, kind="carousel_video", caption="carousel, video first"),
        media("A4vid", "alice", age_h=4, kind="video", caption="a reel"),
        media("A5nocap", "alice", age_h=5, caption=None),
        media("A6", "alice", age_h=6, caption="second page photo", likes=None),
        media("A7", "alice", age_h=7, caption="older"),
        media("A8", "alice", age_h=8, caption="oldest read"),
        media("A9", "alice", age_h=9, caption="never needed"),
    ]


# -- full scrape ------------------------------------------------------------------------------


def test_two_accounts_full_scrape(ig: FakeInstagram, clock: FakeClock) -> None:
    ig.account("alice", alice_posts())
    ig.account(
        "bob", [media("B1", "bob", 1, caption="bob one"), media("B2", "bob", 2, caption="two")]
    )

    summary = run(["alice", "bob"], clock, max_posts=3)

    assert summary.ok and [a.status for a in summary.accounts] == ["ok", "ok"]
    # The 3 newest photo posts: the pinned old post is left out, videos and no-caption skipped.
    assert set(stored("alice")) == {"A1", "A2car", "A6"}
    assert set(stored("bob")) == {"B1", "B2"}
    a1 = stored("alice")["A1"]
    assert a1.caption == "sunset 🌅 #golden" and a1.likes == 120 and a1.source == "scrape"
    assert a1.taken_at == datetime.fromtimestamp(T0 - 3600, timezone.utc)
    assert stored("alice")["A6"].likes is None  # hidden like count stays unknown
    for post in stored().values():
        with Image.open(post.image) as img:
            img.load()
    # The carousel keeps its FIRST slide, not the cover or another slide.
    assert stored("alice")["A2car"].image.read_bytes() == ig.images["A2car"]
    assert ig.count("cdn", "A2car") == 1
    alice = summary.accounts[0]
    assert alice.stored == 3 and alice.skipped == {
        "carousel starts with a video": 1,
        "video": 1,
        "no caption": 1,
        "pinned, older than the newest posts": 1,
    }
    # It read past N only until posts got older than the 3rd newest photo, not the whole feed.
    assert ig.count("media", "A9") == 0 and ig.count("media", "A8") == 0
    assert summary.waited_s == 0 and clock.sleeps == []


def test_pinned_posts_that_are_recent_are_kept(ig: FakeInstagram, clock: FakeClock) -> None:
    posts = [
        media("P1", "carol", 0.5, caption="pinned and newest"),
        media("P2", "carol", 300, caption="pinned and old"),
        media("C1", "carol", 1, caption="one"),
        media("C2", "carol", 2, caption="two"),
        media("C3", "carol", 3, caption="three"),
    ]
    ig.account("carol", posts)
    run(["carol"], clock, max_posts=3)
    assert set(stored("carol")) == {"P1", "C1", "C2"}


def test_fewer_posts_than_asked_keeps_all_including_old_pinned(
    ig: FakeInstagram, clock: FakeClock
) -> None:
    ig.account("dan", [media("D0", "dan", 900, caption="pinned"), media("D1", "dan", 1)])
    summary = run(["dan"], clock, max_posts=5)
    assert set(stored("dan")) == {"D0", "D1"} and summary.ok


# -- resuming ---------------------------------------------------------------------------------


def test_resume_after_interruption_mid_account(ig: FakeInstagram, clock: FakeClock) -> None:
    ig.account("alice", alice_posts())
    original = ig._image

    def interrupt_on_a6(code: str):
        if code == "A6":
            raise KeyboardInterrupt
        return original(code)

    ig._image = interrupt_on_a6  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        run(["alice"], clock, max_posts=3)
    assert set(stored("alice")) == {"A1", "A2car"}
    posts_dir = Path(PostStore.open().root) / "posts" / "alice"
    assert not list(posts_dir.glob(".*part"))  # nothing half-written left behind

    ig._image = original  # type: ignore[method-assign]
    ig.calls.clear()
    summary = run(["alice"], clock, max_posts=3)
    assert set(stored("alice")) == {"A1", "A2car", "A6"}
    assert summary.accounts[0].stored == 1 and summary.accounts[0].already == 2
    # Already stored posts cost neither a download nor a metadata request.
    assert ig.count("cdn", "A1") == ig.count("cdn", "A2car") == 0
    assert ig.count("media", "A1") == ig.count("media", "A2car") == 0
    assert ig.count("cdn", "A6") == 1

    ig.calls.clear()
    again = run(["alice"], clock, max_posts=3)
    assert again.accounts[0].stored == 0 and again.accounts[0].already == 3
    assert ig.count("cdn") == 0


# -- rate limits ------------------------------------------------------------------------------


def test_429_then_success_backs_off_without_sleeping(
    ig: FakeInstagram, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    ig.account("bob", [media("B1", "bob", 1), media("B2", "bob", 2), media("B3", "bob", 3)])
    ig.faults[("media", "B2")] = [TOO_MANY, TOO_MANY]
    ig.faults[("page", "bob")] = [TOO_MANY]
    notes = Notes()
    summary = run(["bob"], clock, reporter=notes, first_wait=10.0)

    assert summary.ok and set(stored("bob")) == {"B1", "B2", "B3"}
    # Page: one back-off of 10 s; post B2: 10 s then 20 s (exponential), reset after success.
    assert summary.waited_s == pytest.approx(40.0)
    assert sum(clock.sleeps) == pytest.approx(40.0) and max(clock.sleeps) <= 1.0
    assert notes.advanced[instagram.WAIT_TASK] == pytest.approx(40.0)
    assert any("429" in n and "waiting 20 s" in n for n in notes.notes)
    # The library stays silent: instaloader's own retry messages are not printed.
    assert capsys.readouterr() == ("", "")


def test_401_please_wait_is_a_rate_limit(ig: FakeInstagram, clock: FakeClock) -> None:
    ig.account("bob", [media("B1", "bob", 1), media("B2", "bob", 2)])
    ig.faults[("media", "B1")] = [PLEASE_WAIT] * 3  # instaloader retries 3 times, then gives up
    notes = Notes()
    summary = run(["bob"], clock, reporter=notes)
    assert summary.ok and set(stored("bob")) == {"B1", "B2"}
    assert summary.waited_s == pytest.approx(10.0)
    assert any("Please wait a few minutes" in n for n in notes.notes)


def test_429_until_the_limit_stops_cleanly(ig: FakeInstagram, clock: FakeClock) -> None:
    ig.account("bob", [media(f"B{i}", "bob", i) for i in range(1, 7)])
    ig.account("eve", [media("E1", "eve", 1)])
    # The first three may be pinned posts: they are settled once a 4th, older post is read.
    ig.always[("media", "B5")] = TOO_MANY
    summary = run(["bob", "eve"], clock, first_wait=10.0, max_wait=70.0)

    assert not summary.ok
    assert set(stored("bob")) == {"B1", "B2", "B3", "B4"}  # what finished is kept
    assert summary.waited_s == pytest.approx(70.0) and sum(clock.sleeps) == pytest.approx(70.0)
    assert [a.status for a in summary.accounts] == ["stopped", "not run"]
    assert ig.count("page", "eve") == 0  # it does not go on hammering with the next account
    assert "4 new posts saved" in summary.stopped and "Rerun" in summary.stopped


def test_ctrl_c_stops_a_wait_at_once(ig: FakeInstagram, clock: FakeClock) -> None:
    ig.account("bob", [media("B1", "bob", 1)])
    ig.always[("media", "B1")] = TOO_MANY

    def interrupted(secs: float) -> None:
        raise KeyboardInterrupt

    clock.sleep = interrupted  # type: ignore[method-assign]
    # instaloader turns a Ctrl-C during its retry into ConnectionException; it must not be
    # mistaken for another rate limit and waited out again.
    with pytest.raises(KeyboardInterrupt):
        run(["bob"], clock)
    assert ig.count("media", "B1") == 1


def test_delay_paces_requests(ig: FakeInstagram, clock: FakeClock) -> None:
    ig.account("bob", [media("B1", "bob", 1), media("B2", "bob", 2)])
    run(["bob"], clock, delay=2.5)
    assert clock.sleeps and all(s == pytest.approx(2.5) for s in clock.sleeps)


# -- per-account failures ---------------------------------------------------------------------


def _one_failure(ig: FakeInstagram, clock: FakeClock, name: str) -> instagram.ScrapeSummary:
    ig.account("bob", [media("B1", "bob", 1)])
    summary = run([name, "bob"], clock)
    assert [a.status for a in summary.accounts] == ["failed", "ok"]
    assert set(stored("bob")) == {"B1"} and not summary.ok
    return summary


def test_nonexistent_account(ig: FakeInstagram, clock: FakeClock) -> None:
    err = _one_failure(ig, clock, "nobody_here").accounts[0].error
    assert err == "@nobody_here does not exist on Instagram; check the spelling."


def test_private_account(ig: FakeInstagram, clock: FakeClock) -> None:
    ig.account("secret", [media("S1", "secret", 1)], private=True)
    err = _one_failure(ig, clock, "secret").accounts[0].error
    assert "private" in err and "--login" in err


def test_login_redirect(ig: FakeInstagram, clock: FakeClock) -> None:
    login = "https://www.instagram.com/accounts/login/?next=%2Fwalled%2F"
    ig.always[("page", "walled")] = fault(302, "", {"Location": login})
    err = _one_failure(ig, clock, "walled").accounts[0].error
    assert "login wall" in err and "--cookies" in err


def test_checkpoint_required(ig: FakeInstagram, clock: FakeClock) -> None:
    ig.account("check", [media("C1", "check", 1)])
    ig.always[("media", "C1")] = fault(400, {"message": "checkpoint_required", "status": "fail"})
    err = _one_failure(ig, clock, "check").accounts[0].error
    assert "checkpoint" in err and "browser" in err


# -- downloads --------------------------------------------------------------------------------


def test_cdn_403_for_expired_image_url_skips_the_post(ig: FakeInstagram, clock: FakeClock) -> None:
    ig.account("bob", [media("B1", "bob", 1), media("B2", "bob", 2)])
    ig.always[("cdn", "B1")] = fault(403, "URL signature expired", {"Content-Type": "text/plain"})
    summary = run(["bob"], clock)
    assert set(stored("bob")) == {"B2"} and summary.ok
    assert summary.accounts[0].skipped == {"photo link expired (HTTP 403)": 1}


def test_truncated_image_is_not_stored(ig: FakeInstagram, clock: FakeClock) -> None:
    ig.account("bob", [media("B1", "bob", 1), media("B2", "bob", 2)])
    whole = ig.images["B1"]
    ig.always[("cdn", "B1")] = fault(
        200,
        whole[: len(whole) // 2],
        {"Content-Type": "image/jpeg", "Content-Length": str(len(whole))},
    )
    ig.faults[("cdn", "B2")] = [fault(200, ig.images["B2"][:60], {"Content-Type": "image/jpeg"})]
    summary = run(["bob"], clock)
    assert stored("bob") == {}
    assert summary.accounts[0].skipped == {"download cut short": 1, "corrupt image": 1}
    assert not list((PostStore.open().root / "posts").rglob("B1*"))
    # The next run fetches them again.
    ig.always.clear()
    run(["bob"], clock)
    assert set(stored("bob")) == {"B1", "B2"}


def test_invalid_names_rejected_before_any_request(ig: FakeInstagram, clock: FakeClock) -> None:
    ig.account("bob", [media("B1", "bob", 1)])
    with pytest.raises(InputError, match="not a valid Instagram account name"):
        run(["bob", "../etc", "x" * 31], clock)
    assert ig.calls == []
    result = CliRunner().invoke(app, ["scrape", "bob", "no spaces", "--delay", "0"])
    assert result.exit_code == 2 and ig.calls == []
    assert "not a valid Instagram account name" in " ".join(result.output.replace("│", " ").split())


# -- login and cookies ------------------------------------------------------------------------


def test_login_saves_a_private_session_and_reuses_it(ig: FakeInstagram, clock: FakeClock) -> None:
    ig.logins["me"] = "hunter2"
    with PostStore.open() as store:
        scraper = instagram.Scraper(store, ScrapeConfig(delay=0), clock=clock, sleep=clock.sleep)
        how = scraper.login("me", lambda user: "hunter2", lambda: pytest.fail("no 2FA asked"))
        scraper.close()
    assert how == "password"
    session = instagram.Scraper.session_file(scraper, "me")
    assert stat.S_IMODE(session.stat().st_mode) == 0o600
    assert "hunter2" not in session.read_text() and "SECRET-me" in session.read_text()
    with PostStore.open() as store:
        assert "SECRET" not in json.dumps([p.__dict__ for p in store.posts()], default=str)
        again = instagram.Scraper(store, ScrapeConfig(delay=0), clock=clock, sleep=clock.sleep)
        assert again.login("me", lambda u: pytest.fail("asked again"), lambda: "") == "saved"
        assert again.username == "me"


def test_unreadable_saved_session_is_replaced_by_a_private_one(
    ig: FakeInstagram, clock: FakeClock
) -> None:
    ig.logins["me"] = "pw"
    with PostStore.open() as store:
        scraper = instagram.Scraper(store, ScrapeConfig(delay=0), clock=clock, sleep=clock.sleep)
        old = scraper.session_file("me")
        old.parent.mkdir(parents=True, exist_ok=True)
        old.write_text("not json")
        old.chmod(0o644)
        assert scraper.login("me", lambda u: "pw", lambda: "") == "password"
        scraper.close()
    assert stat.S_IMODE(old.stat().st_mode) == 0o600
    assert "SECRET-me" in old.read_text()
    assert [p.name for p in old.parent.iterdir()] == ["me.json"]  # no temporary file left


def test_login_with_two_factor_code(ig: FakeInstagram, clock: FakeClock) -> None:
    ig.logins["me"] = "pw"
    ig.two_factor.add("me")
    with PostStore.open() as store:
        scraper = instagram.Scraper(store, ScrapeConfig(delay=0), clock=clock, sleep=clock.sleep)
        assert scraper.login("me", lambda u: "pw", lambda: "123456") == "password"
        assert scraper.username == "me"


def test_cookie_file_login(ig: FakeInstagram, clock: FakeClock, tmp_path: Path) -> None:
    jar = tmp_path / "cookies.txt"
    lines = ["# Netscape HTTP Cookie File"]
    for name, value in [("sessionid", "SECRET-me"), ("csrftoken", "c"), ("ds_user_id", "77")]:
        lines.append(f".instagram.com\tTRUE\t/\tTRUE\t2000000000\t{name}\t{value}")
    jar.write_text("\n".join(lines) + "\n")
    with PostStore.open() as store:
        scraper = instagram.Scraper(store, ScrapeConfig(delay=0), clock=clock, sleep=clock.sleep)
        assert scraper.load_cookies(cookie_file=jar) == "me"
        assert stat.S_IMODE(scraper.session_file("me").stat().st_mode) == 0o600
        with pytest.raises(InputError, match="does not exist"):
            scraper.load_cookies(cookie_file=tmp_path / "missing.txt")


# -- the command ------------------------------------------------------------------------------


def test_cli_json_summary_and_exit_code(ig: FakeInstagram) -> None:
    ig.account("bob", [media("B1", "bob", 1), media("B2", "bob", 2, kind="video")])
    result = CliRunner().invoke(app, ["scrape", "bob", "ghost", "--json", "--delay", "0"])
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["stored"] == 1 and not data["ok"]
    by_name = {a["account"]: a for a in data["accounts"]}
    assert by_name["bob"]["skipped"] == {"video": 1}
    assert "does not exist" in by_name["ghost"]["error"]

    ok = CliRunner().invoke(app, ["scrape", "bob", "--delay", "0"])
    assert ok.exit_code == 0, ok.output
    assert "1 already stored" in ok.stderr or "1 already stored" in ok.output


# -- --seed-accounts --------------------------------------------------------------------------


def test_seed_accounts_are_58_valid_names_shipped_with_the_package() -> None:
    from instacap import seeds
    from instacap.cli import scrape as scrape_cli

    names = seeds.accounts()
    assert len(names) == len(set(names)) == scrape_cli.SEED_COUNT == 58
    assert {"cristiano", "natgeo", "nasa", "taylorswift"} <= set(names)
    # The file ships inside the wheel (package data), where importlib.resources finds it.
    root = Path(__file__).parents[1]
    assert '"seed_accounts.txt"' in (root / "pyproject.toml").read_text()


def test_seed_accounts_option_expands_to_the_list(monkeypatch: pytest.MonkeyPatch) -> None:
    from instacap import seeds

    asked: list[list[str]] = []

    def fake_scrape(self: instagram.Scraper, accounts: list[str]) -> instagram.ScrapeSummary:
        asked.append(list(accounts))  # no request leaves: the option's expansion is what is tested
        return instagram.ScrapeSummary(accounts=[])

    monkeypatch.setattr(instagram.Scraper, "scrape", fake_scrape)
    result = CliRunner().invoke(app, ["scrape", "--seed-accounts", "bob", "nasa", "--delay", "0"])
    assert result.exit_code == 0, result.output
    # Named accounts first, then the seed list without repeating one already named.
    assert asked == [["bob", "nasa", *[a for a in seeds.accounts() if a != "nasa"]]]
    assert "about 5,800 posts" in " ".join(result.output.split())
    shown = CliRunner().invoke(app, ["scrape", "--help"]).output.replace("│", " ")
    assert "about 5,800 posts" in " ".join(shown.split()) and "resume" in shown

    nothing = CliRunner().invoke(app, ["scrape"])
    assert nothing.exit_code == 2 and "--seed-accounts" in nothing.output
    assert len(asked) == 1
