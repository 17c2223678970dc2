"""`instacap demo` end to end, at a reduced size: demo posts -> prep -> train -> captions."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from instacap import checkpoint
from instacap.cli import app
from instacap.posts import PostStore

runner = CliRunner()


def test_demo_runs_offline_and_leaves_own_posts_alone():
    result = runner.invoke(app, ["demo", "--posts", "40", "--epochs", "1"])
    assert result.exit_code == 0, result.output
    assert "(original)" in result.stdout and "(generated)" in result.stdout
    assert result.stdout.rstrip().endswith("instacap caption YOUR_PHOTO.jpg --run demo")
    assert checkpoint.load("demo").encoder == "thumbnail"
    with PostStore.open() as own:
        assert own.count() == 0
    # Running it again replaces the demo run instead of refusing.
    again = runner.invoke(app, ["demo", "--posts", "40", "--epochs", "1", "--json"])
    assert again.exit_code == 0, again.output
    data = json.loads(again.stdout)
    assert data["run"] == "demo" and data["examples"][0]["generated"]
