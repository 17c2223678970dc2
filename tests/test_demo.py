"""`instacap demo` end to end, at a reduced size: demo posts -> prep -> train -> captions."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from instacap import runs
from instacap.cli import app
from instacap.posts import PostStore

runner = CliRunner()


def test_demo_runs_offline_and_leaves_own_posts_alone():
    result = runner.invoke(app, ["demo", "--posts", "40", "--epochs", "1"])
    assert result.exit_code == 0, result.output
    assert "(original)" in result.stdout and "(generated)" in result.stdout
    assert result.stdout.rstrip().endswith("instacap caption YOUR_PHOTO.jpg --run demo")
    assert runs.load("demo").encoder == "thumbnail"
    with PostStore.open() as own:
        assert own.count() == 0
    # Running it again replaces the demo run instead of refusing.
    again = runner.invoke(app, ["demo", "--posts", "40", "--epochs", "1", "--json"])
    assert again.exit_code == 0, again.output
    data = json.loads(again.stdout)
    assert data["run"] == "demo" and data["examples"][0]["generated"]


def test_the_library_runs_the_demo_without_the_cli():
    from instacap import showcase
    from instacap.cli import demo as demo_cli

    assert (demo_cli.DEMO_POSTS, demo_cli.DEMO_EPOCHS) == (showcase.POSTS, showcase.EPOCHS)
    data = showcase.prepare(posts=40)
    fit = showcase.train(data, epochs=1)
    shown = showcase.examples(data, k=3)
    assert fit.name == "demo" and 1 <= len(shown) <= 3
    assert len({ex.scene for ex in shown}) == len(shown)  # different scenes, for variety
    for ex in shown:
        assert ex.photo.is_file() and ex.original and len(ex.generated) == 2
        # best first, as `instacap caption` lists them
        assert ex.generated[0].mean_logprob >= ex.generated[1].mean_logprob
