"""Interactive figures that work both in a live notebook and in the static book.

An :class:`Explorer` ties a few named parameters to a figure:

* ``compute(**values)`` returns the data the figure shows, computed through ``lstm_lib``;
* ``draw(fig, data, **values)`` draws that data into an empty figure.

In a live Jupyter kernel, :meth:`Explorer.show` displays ipywidgets sliders; moving one
recomputes the data and redraws. In the static book (the build sets ``LSTM_LIB_STATIC=1``)
there is no kernel behind a slider, so :meth:`Explorer.show` renders the figure at a
series of values of one parameter (``scrub``) into a self-contained JavaScript player:
its slider moves through precomputed frames and needs nothing from the network.

Tests drive an explorer programmatically with :meth:`Explorer.set` and read
:attr:`Explorer.data`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

STATIC_ENV = "LSTM_LIB_STATIC"

# matplotlib's player draws its buttons with Font Awesome, fetched from a CDN; the book loads
# nothing from the network, so the buttons get plain text symbols instead.
_BUTTON_SYMBOLS = {
    "fa-minus": "\u2212", "fa-fast-backward": "\u21e4", "fa-step-backward": "\u25c1",
    "fa-play fa-flip-horizontal": "\u25c0", "fa-pause": "||", "fa-play": "\u25b6",
    "fa-step-forward": "\u25b7", "fa-fast-forward": "\u21e5", "fa-plus": "+",
}


def _offline_player(html: str) -> str:
    """Remove the player's remote stylesheet and replace its icon glyphs with text symbols."""
    html = re.sub(r"<link[^>]*font-awesome[^>]*>", "", html)
    return re.sub(r'<i class="fa ([^"]+)"></i>', lambda m: _BUTTON_SYMBOLS.get(m.group(1), "\u2022"), html)


@dataclass(frozen=True)
class Param:
    """A slider: its range, step, default value and label."""

    low: float
    high: float
    step: float
    default: float
    label: str = ""
    integer: bool = False

    def __post_init__(self):
        if not self.low <= self.default <= self.high:
            raise ValueError(f"default: expected a value in [{self.low}, {self.high}], got {self.default}")
        if self.step <= 0:
            raise ValueError(f"step: expected a value > 0, got {self.step}")

    def check(self, name: str, value) -> float:
        v = float(value)
        if not np.isfinite(v) or not self.low <= v <= self.high:
            raise ValueError(f"{name}: expected a value in [{self.low}, {self.high}], got {value!r}")
        return int(round(v)) if self.integer else v


def is_static() -> bool:
    """True when running inside the book build (no live kernel behind the page)."""
    return os.environ.get(STATIC_ENV, "") not in ("", "0")


def progress(iterable, **kwargs):
    """A progress bar over ``iterable``: a live widget in Jupyter, plain text in the static book.

    In the built book no widget manager runs, so a widget progress bar would show as nothing;
    the text bar, written to standard output, shows where the run finished.
    """
    if is_static():
        import sys

        from tqdm import tqdm

        kwargs.setdefault("file", sys.stdout)
        kwargs.setdefault("ascii", True)
    else:
        from tqdm.auto import tqdm
    return tqdm(iterable, **kwargs)


class Explorer:
    """A figure recomputed from named parameters (see the module docstring)."""

    def __init__(
        self,
        compute: Callable[..., object],
        draw: Callable[..., None],
        params: dict[str, Param],
        *,
        scrub: str,
        frames: int = 12,
        figsize: tuple[float, float] = (8.0, 3.5),
    ):
        if scrub not in params:
            raise ValueError(f"scrub: expected one of {', '.join(params)}, got {scrub!r}")
        if frames < 2:
            raise ValueError(f"frames: expected at least 2, got {frames}")
        self.compute, self.draw, self.params = compute, draw, dict(params)
        self.scrub, self.frames, self.figsize = scrub, frames, figsize
        self.values = {k: p.default for k, p in self.params.items()}
        self.data = self.compute(**self.values)

    def set(self, **values):
        """Set some parameters (each checked against its range), recompute, return the data."""
        for name, v in values.items():
            if name not in self.params:
                raise ValueError(f"{name}: not a parameter of this explorer; expected one of {', '.join(self.params)}")
            self.values[name] = self.params[name].check(name, v)
        self.data = self.compute(**self.values)
        return self.data

    def figure(self, **values):
        """A matplotlib figure at the current values (updated by ``values``)."""
        import matplotlib.pyplot as plt

        if values:
            self.set(**values)
        fig = plt.figure(figsize=self.figsize, layout="constrained")
        self.draw(fig, self.data, **self.values)
        return fig

    def scrub_values(self) -> np.ndarray:
        p = self.params[self.scrub]
        vals = np.linspace(p.low, p.high, self.frames)
        vals = np.unique(np.append(vals, p.default))
        return np.round(vals).astype(int) if p.integer else vals

    def static_html(self) -> str:
        """Self-contained HTML: the figure at each scrub value, behind a JavaScript slider."""
        import matplotlib.pyplot as plt
        from matplotlib.animation import FuncAnimation

        saved = dict(self.values)
        vals = self.scrub_values()
        fig = plt.figure(figsize=self.figsize, layout="constrained")

        def frame(i):
            fig.clear()
            self.set(**{self.scrub: vals[i]})
            self.draw(fig, self.data, **self.values)
            fig.suptitle(f"{self.params[self.scrub].label or self.scrub} = {vals[i]:.3g}", fontsize=10)
            return []

        anim = FuncAnimation(fig, frame, frames=len(vals), interval=400, repeat=False)
        html = anim.to_jshtml(default_mode="once")
        plt.close(fig)
        self.set(**saved)
        start = int(np.argmin(np.abs(vals - saved[self.scrub])))
        # Open the player on the default value rather than on the first frame.
        html, count = re.subn(
            r"(anim(\w+) = new Animation\([^;]*\);)",
            lambda m: f"{m.group(1)}\n        anim{m.group(2)}.set_frame({start});",
            html,
            count=1,
        )
        if count != 1:
            raise RuntimeError("matplotlib's JavaScript player changed; cannot set its first frame")
        return _offline_player(html)

    def show(self):
        """Display the explorer: live sliders in Jupyter, a JavaScript player in the static book."""
        from IPython.display import HTML, display

        if is_static():
            display(HTML(self.static_html()))
            return None
        return self._live()

    def _live(self):
        import ipywidgets as w
        import matplotlib.pyplot as plt
        from IPython.display import display

        out = w.Output()
        sliders = {}
        for name, p in self.params.items():
            cls = w.IntSlider if p.integer else w.FloatSlider
            sliders[name] = cls(
                value=self.values[name], min=p.low, max=p.high, step=p.step,
                description=p.label or name, continuous_update=False,
                style={"description_width": "initial"},
            )

        def redraw(_=None):
            self.set(**{k: s.value for k, s in sliders.items()})
            with out:
                out.clear_output(wait=True)
                fig = plt.figure(figsize=self.figsize, layout="constrained")
                self.draw(fig, self.data, **self.values)
                plt.show()

        for s in sliders.values():
            s.observe(redraw, names="value")
        box = w.VBox([w.HBox(list(sliders.values()), layout=w.Layout(flex_flow="row wrap")), out])
        display(box)
        redraw()
        return box
