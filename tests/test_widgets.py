"""The Explorer: parameters checked, data recomputed, a static player that opens on the default."""

import re

import numpy as np
import pytest

from lstm_lib.widgets import Explorer, Param


def line_explorer():
    def compute(slope, n):
        x = np.linspace(0, 1, n)
        return {"x": x, "y": slope * x}

    def draw(fig, data, **values):
        ax = fig.subplots()
        ax.plot(data["x"], data["y"])

    params = {"slope": Param(-2.0, 2.0, 0.1, 0.5, "slope"), "n": Param(2, 50, 1, 10, "points", integer=True)}
    return Explorer(compute, draw, params, scrub="slope", frames=5, figsize=(3, 2))


def test_set_recomputes_the_data():
    ex = line_explorer()
    assert ex.data["y"][-1] == pytest.approx(0.5)
    ex.set(slope=-1.5, n=20)
    assert ex.data["y"][-1] == pytest.approx(-1.5) and len(ex.data["x"]) == 20
    assert isinstance(ex.values["n"], int)


def test_out_of_range_and_unknown_parameters_are_refused():
    ex = line_explorer()
    with pytest.raises(ValueError, match="slope"):
        ex.set(slope=3.0)
    with pytest.raises(ValueError, match="slope"):
        ex.set(slope=float("nan"))
    with pytest.raises(ValueError, match="bogus"):
        ex.set(bogus=1)
    with pytest.raises(ValueError, match="default"):
        Param(0, 1, 0.1, 2.0)
    with pytest.raises(ValueError, match="scrub"):
        Explorer(lambda a: a, lambda f, d: None, {"a": Param(0, 1, 0.1, 0.5)}, scrub="b")


def test_static_player_scrubs_the_parameter_and_opens_on_the_default():
    ex = line_explorer()
    html = ex.static_html()
    vals = ex.scrub_values()
    assert 0.5 in vals and vals[0] == -2.0 and vals[-1] == 2.0
    assert html.count("data:image/png;base64") == len(vals) or "frames[" in html
    start = int(re.search(r"anim\w+\.set_frame\((\d+)\);", html).group(1))
    assert vals[start] == pytest.approx(0.5)
    assert ex.values["slope"] == 0.5, "rendering the player must leave the explorer at its values"
    assert "http" not in html, "the player must load nothing from the network"
    assert "fa-play" not in html, "icon fonts are replaced by text symbols"


def test_live_sliders_recompute_through_the_explorer(monkeypatch):
    monkeypatch.delenv("LSTM_LIB_STATIC", raising=False)
    ex = line_explorer()
    box = ex.show()
    slope, points = box.children[0].children
    assert (slope.min, slope.max, slope.value) == (-2.0, 2.0, 0.5)
    slope.value = -1.0
    points.value = 30
    assert ex.values == {"slope": -1.0, "n": 30}
    assert ex.data["y"][-1] == pytest.approx(-1.0) and len(ex.data["x"]) == 30


def test_progress_is_plain_text_in_the_static_book(monkeypatch, capsys):
    from tqdm import tqdm

    from lstm_lib.widgets import progress

    monkeypatch.setenv("LSTM_LIB_STATIC", "1")
    bar = progress(range(3), desc="steps")
    assert type(bar) is tqdm  # the text bar, not tqdm.notebook's widget
    assert list(bar) == [0, 1, 2]
    assert "steps: 100%" in capsys.readouterr().out
