"""The Explorer: parameters checked, frame values that the text can name, a static player with labelled
sliders that opens on the default, a PNG fallback for print, one display in a live kernel, and a progress
bar that prints one line in the static book."""

import base64
import json
import re

import numpy as np
import pytest

from lstm_lib.widgets import MAX_FRAMES, PLAYER_MARKER, Explorer, Param


def line_explorer(scrub="slope", n_values=None, **slope_kw):
    def compute(slope, n):
        x = np.linspace(0, 1, n)
        return {"x": x, "y": slope * x}

    def draw(fig, data, **values):
        ax = fig.subplots()
        ax.plot(data["x"], data["y"])

    params = {
        "slope": Param(-2.0, 2.0, 0.1, 0.5, "slope", **slope_kw),
        "n": Param(2, 50, 1, 10, "points", integer=True, values=n_values),
    }
    return Explorer(compute, draw, params, scrub=scrub, frames=5, figsize=(3, 2))


def player_data(html):
    return json.loads(re.search(r'<script type="application/json">(.*?)</script>', html, re.S).group(1))


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
    with pytest.raises(ValueError, match="scrub"):
        Explorer(lambda a: a, lambda f, d: None, {"a": Param(0, 1, 0.1, 0.5)}, scrub=("a", "a"))
    with pytest.raises(ValueError, match="step"):
        Param(0, 1, 0.0, 0.5)


def test_explicit_values_are_validated():
    assert Param(0, 1, 0.01, 0.5, values=[1, 0.5, 0.1]).values == (0.1, 0.5, 1.0)
    with pytest.raises(ValueError, match=r"values: expected values in \[0, 1\]"):
        Param(0, 1, 0.01, 0.5, values=[0.5, 1.5])
    with pytest.raises(ValueError, match="values: must include the default 0.5"):
        Param(0, 1, 0.01, 0.5, values=[0.1, 0.2])
    with pytest.raises(ValueError, match="values"):
        Param(0, 1, 0.01, 0.5, values=[0.5, float("nan")])
    with pytest.raises(ValueError, match="values"):
        Param(0, 10, 1, 5, integer=True, values=[5, 2.5])
    with pytest.raises(ValueError, match="values"):
        Param(0, 1, 0.01, 0.5, values="0.5")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((0.0, 0.9, 0.05, 0.5), None),  # the step grid has 19 points: round values by 0.1
        ((0.0, 1.0, 0.25, 0.5), (0.0, 0.25, 0.5, 0.75, 1.0)),  # the step grid itself (5 points)
        ((1, 6, 1, 3, "", True), (1, 2, 3, 4, 5, 6)),
    ],
)
def test_derived_values_are_round_and_include_the_default(args, expected):
    p = Param(*args)
    if expected is not None:
        assert p.values == expected
    else:
        assert p.values == (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def test_derived_values_of_a_fine_slider_are_few_round_numbers_with_the_default():
    p = Param(0.001, 1.0, 0.001, 0.0727)
    assert 7 <= len(p.values) <= 13
    assert 0.0727 in p.values
    others = [v for v in p.values if v != 0.0727]
    assert all(round(v * 10) == v * 10 for v in others), p.values  # multiples of 0.1
    ints = Param(1, 200, 1, 37, integer=True).values
    assert 37 in ints and all(isinstance(v, int) for v in ints) and len(ints) <= 13


def test_static_player_scrubs_the_parameter_and_opens_on_the_default():
    ex = line_explorer(values=[-2.0, -1.0, 0.0, 0.5, 1.0, 2.0])
    html = ex.static_html()
    vals = ex.scrub_values()
    assert list(vals) == [-2.0, -1.0, 0.0, 0.5, 1.0, 2.0]
    data = player_data(html)
    assert len(data["frames"]) == len(vals) and data["sizes"] == [len(vals)]
    assert data["labels"][0] == {"name": "slope", "values": ["-2", "-1", "0", "0.5", "1", "2"]}
    # the <img> (what print, the PDF and readers without JavaScript see) is the default frame
    img = re.search(r'<img src="data:image/png;base64,([^"]+)"', html).group(1)
    assert img == data["frames"][3]
    assert re.search(r'<input type="range" min="0" max="5" step="1" value="3"', html)
    assert "slope = <output" in html and ">0.5</output>" in html
    assert PLAYER_MARKER in html
    assert ex.values["slope"] == 0.5, "rendering the player must leave the explorer at its values"
    assert "http" not in html, "the player must load nothing from the network"
    # the parameter that is not scrubbed is named as a control of the live notebook only
    assert re.search(r"Only in a live notebook.*points.*points = 10", html)


def test_frames_differ_and_are_sharp():
    import io

    from PIL import Image

    ex = line_explorer(values=[-2.0, 0.5, 2.0])
    data = player_data(ex.static_html())
    assert len(set(data["frames"])) == 3, "each frame shows its own value"
    im = Image.open(io.BytesIO(base64.b64decode(data["frames"][0])))
    assert im.size == (600, 400), "frames are rendered at twice the figure's 100 dpi"


def test_two_parameter_player_covers_the_grid():
    ex = line_explorer(scrub=("slope", "n"), n_values=[2, 10, 50], values=[-1.0, 0.5, 1.0])
    html = ex.static_html()
    data = player_data(html)
    assert data["sizes"] == [3, 3] and len(data["frames"]) == 9
    grid = ex.frame_grid()
    assert grid[0] == {"slope": -1.0, "n": 2} and grid[-1] == {"slope": 1.0, "n": 50}
    # the default (slope 0.5, n 10) is frame 1 * 3 + 1
    img = re.search(r'<img src="data:image/png;base64,([^"]+)"', html).group(1)
    assert img == data["frames"][4]
    assert html.count('type="range"') == 2 and "Only in a live notebook" not in html
    with pytest.raises(ValueError, match="frames"):
        big = {"a": Param(0, 1, 0.001, 0.5, values=list(np.round(np.linspace(0, 1, 13), 6)) + [0.5]),
               "b": Param(0, 1, 0.001, 0.5, values=list(np.round(np.linspace(0, 1, 13), 6)) + [0.5])}
        assert len(big["a"].values) ** 2 > MAX_FRAMES
        Explorer(lambda a, b: None, lambda f, d, **v: None, big, scrub=("a", "b"))


def test_static_show_offers_html_and_a_png_fallback(monkeypatch):
    monkeypatch.setenv("LSTM_LIB_STATIC", "1")
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, raw=False: shown.append((obj, raw)))
    ex = line_explorer()
    assert ex.show() is None
    (bundle, raw), = shown
    assert raw and set(bundle) == {"text/html", "image/png", "text/plain"}
    assert bundle["image/png"] in bundle["text/html"]


def test_live_sliders_recompute_through_the_explorer_and_display_once(monkeypatch):
    monkeypatch.delenv("LSTM_LIB_STATIC", raising=False)
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *objs, **kw: shown.extend(objs))
    ex = line_explorer()
    assert ex.show() is None, "show() returns None: a returned widget would display a second time"
    assert shown == [ex.widget]
    slope, points = ex.widget.children[0].children
    assert (slope.min, slope.max, slope.value, slope.description) == (-2.0, 2.0, 0.5, "slope")
    slope.value = -1.0
    points.value = 30
    assert ex.values == {"slope": -1.0, "n": 30}
    assert ex.data["y"][-1] == pytest.approx(-1.0) and len(ex.data["x"]) == 30


def test_progress_prints_one_final_line_in_the_static_book(monkeypatch, capsys):
    from lstm_lib.widgets import progress

    monkeypatch.setenv("LSTM_LIB_STATIC", "1")
    bar = progress(range(300), desc="steps", mininterval=0)
    seen = []
    for i in bar:
        seen.append(i)
        bar.set_postfix(loss=f"{1 / (i + 1):.3g}")
        bar.set_postfix_str(f"loss={1 / (i + 1):.3g}")
    assert seen == list(range(300))
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "\r" not in out, f"expected one line, got {out!r}"
    assert out.startswith("steps: 100%") and "300/300" in out and "loss=0.00333" in out


def test_progress_is_silent_when_disabled_and_a_widget_when_live(monkeypatch, capsys):
    from lstm_lib.widgets import progress

    monkeypatch.setenv("LSTM_LIB_STATIC", "1")
    assert list(progress(range(3), disable=True)) == [0, 1, 2]
    assert capsys.readouterr().out == ""
    monkeypatch.delenv("LSTM_LIB_STATIC")
    from tqdm.auto import tqdm

    bar = progress(range(2), file=None)
    assert isinstance(bar, tqdm)
    bar.close()
