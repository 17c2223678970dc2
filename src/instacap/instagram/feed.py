"""An account's feed as instacap reads it: entries loaded only when needed, what a post offers.

instaloader fetches each post's metadata with one api/graphql request as its iterator yields it;
`lazy_feed` defers that request so that posts already in the store cost none (it is what trips
rate limits). `inspect` then reads what instacap keeps from a loaded post: the first photo, the
caption and the likes, or why the post is skipped.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

from instaloader import exceptions as ilx


class FeedEntry:
    """A feed entry whose full post metadata is fetched only when `load()` is called."""

    def __init__(self, node: dict[str, Any], wrap: Callable[[dict[str, Any]], Any]) -> None:
        self.node = node
        self._wrap = wrap

    @property
    def shortcode(self) -> str | None:
        return self.node.get("code") or self.node.get("shortcode")

    def load(self) -> Any:
        return self._wrap(self.node)


def lazy_feed(posts: Any) -> Iterator[FeedEntry]:
    """Make instaloader's NodeIterator yield `FeedEntry`s: a node becomes a Post only when asked.

    Logged out, instaloader's node wrapper is `Post.from_shortcode`, one api/graphql request per
    post; for posts already stored that request is pure waste (and it is what trips rate limits).
    The NodeIterator itself is returned (not a generator around it) so that `next()` can be
    retried after a rate limit: a generator would be finished by the exception. If a future
    instaloader drops these private attributes, every entry is loaded eagerly instead.
    """
    wrap = getattr(posts, "_node_wrapper", None)
    if wrap is not None and hasattr(posts, "_is_first"):
        posts._node_wrapper = lambda node: FeedEntry(node, wrap)
        posts._is_first = None  # its "newest first" check would load every post
        return cast(Iterator[FeedEntry], posts)
    return map(lambda post: FeedEntry({"code": post.shortcode}, lambda _n: post), posts)


@dataclass
class Candidate:
    """One feed entry on its way through `Selection`: kept, counted or skipped."""

    shortcode: str
    when: datetime
    eligible: bool  # first media is a photo and there is a caption
    stored: bool = False
    reason: str | None = None  # why not eligible
    caption: str = ""
    url: str = ""
    likes: int | None = None
    pinned_slot: bool = False  # among the first PINNED_MAX entries of the feed


def inspect(post: Any) -> Candidate:
    """Read what instacap keeps from an instaloader Post (no download yet)."""
    when = post.date_utc.replace(tzinfo=timezone.utc)
    cand = Candidate(post.shortcode, when, eligible=False)
    if post.typename == "GraphSidecar":
        first = next(iter(post.get_sidecar_nodes(0, 0)), None)
        if first is None:
            cand.reason = "empty carousel"
            return cand
        if first.is_video:
            cand.reason = "carousel starts with a video"
            return cand
        cand.url = first.display_url
    elif post.is_video or post.typename == "GraphVideo":
        cand.reason = "video"
        return cand
    else:
        cand.url = post.url
    caption = post.caption
    if not caption or not caption.strip():
        cand.reason = "no caption"
        return cand
    cand.caption = caption
    cand.likes = _likes(post)
    cand.eligible = bool(cand.url)
    cand.reason = None if cand.eligible else "no photo URL"
    return cand


def _likes(post: Any) -> int | None:
    node = getattr(post, "_node", {}) or {}
    if node.get("like_and_view_counts_disabled"):
        return None  # hidden by the account: instaloader would report 0
    if "like_count" in node:
        return cast("int | None", node["like_count"])
    try:
        return int(post.likes)
    except (KeyError, TypeError, ValueError, ilx.InstaloaderException):
        return None


# -- the downloaded photo ---------------------------------------------------------------------

_EXT = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/gif": ".gif"}


def image_ext(url: str, content_type: str) -> str:
    """The file suffix to store a photo under: from its Content-Type, else its URL, else .jpg."""
    ext = _EXT.get(content_type.split(";")[0].strip().lower())
    if ext:
        return ext
    suffix = Path(url.split("?")[0]).suffix.lower()
    return suffix if suffix in (".jpg", ".jpeg", ".png", ".webp") else ".jpg"


def check_image(data: bytes) -> str | None:
    """None when `data` decodes completely as an image, else a short reason."""
    from PIL import Image

    if not data:
        return "empty download"
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
    except Exception:  # Pillow raises many types for broken files
        return "corrupt image"
    return None
