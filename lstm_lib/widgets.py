"""Interactive figures that work in a live notebook, in the static book and on paper.

An :class:`Explorer` ties a few named parameters (:class:`Param`) to a figure:

* ``compute(**values)`` returns the data the figure shows, computed through ``lstm_lib``;
* ``draw(fig, data, **values)`` draws that data into an empty matplotlib figure.

API (stable; the chapters' explorers in ``lstm_lib.figures.<chapter>`` are written against it)::

    Param(low, high, step, default, label="", integer=False, values=None)
    Explorer(compute, draw, params, *, scrub="name" or ("a", "b"), frames=None, figsize=(8.0, 3.5))
    ex.show()            # the last line of a cell; displays the explorer and returns None
    ex.set(**values)     # set parameters (checked), recompute, return the data; tests use this
    ex.data, ex.values   # the data and the parameter values last computed
    ex.figure(**values)  # a matplotlib figure at the current values
    ex.static_html()     # the static player (HTML) that the book shows

``Param``: a live slider moves in ``step`` from ``low`` to ``high`` and opens at ``default``.
``values`` lists the exact values the static player offers for this parameter (each within
``[low, high]``; the default must be one of them): give the values the text talks about, e.g.
the thresholds it names. Without ``values`` the player offers round numbers: the step grid when
it has at most 13 points, else about 9 round values (multiples of 1, 2, 2.5 or 5 times a power of
ten), always with the default. ``Param.values`` holds the resolved tuple.

``Explorer(scrub=...)``: the static book has no kernel behind a slider, so the player shows
precomputed frames: ``scrub="a"`` gives one labelled slider over ``a``'s values; a pair
``scrub=("a", "b")`` gives two labelled sliders over the grid of both parameters' values (at most
:data:`MAX_FRAMES` frames). Every other parameter stays at its default, and one line below the
player names those controls as the ones a live notebook adds. ``frames`` is accepted for
compatibility with older calls and ignored: the frames are the scrubbed parameters' ``values``.

Where each form shows:

* live kernel (Jupyter, Binder, Colab): :meth:`Explorer.show` displays ipywidgets sliders for every
  parameter, once, and returns ``None``; moving one recomputes through ``lstm_lib`` and redraws.
  The widget is kept as :attr:`Explorer.widget` (tests drive it).
* static book (the build sets ``LSTM_LIB_STATIC=1``): a small self-contained HTML/JavaScript
  player (no CDN, nothing from the network) whose sliders show their label and current value and
  whose figure scales to the screen width; its frames are PNG at twice the figure's resolution.
* print, PDF and readers without JavaScript: the player's ``<img>`` holds the default frame, and
  the output also carries that frame as ``image/png``, which the LaTeX (PDF) build uses.

:func:`progress` is the progress bar of long loops: a live bar in Jupyter, ONE final line per run
in the static book.
"""

from __future__ import annotations

import base64
import hashlib
import html as html_lib
import io
import itertools
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

STATIC_ENV = "LSTM_LIB_STATIC"
PLAYER_MARKER = "data-lstm-player"  # every static player's root element carries this attribute
MAX_FRAMES = 144  # most frames one static player may hold (a 12 x 12 grid)
FRAME_SCALE = 2  # frames are rendered at this multiple of the figure's dpi (sharp on 2x screens)
STEP_GRID_MAX = 13  # the step grid is offered as it is when it has at most this many points
ROUND_TARGET = 9  # otherwise about this many round values
_player_ids = itertools.count(1)


def _tidy(v: float, integer: bool = False):
    """A value without binary noise (0.30000000000000004 -> 0.3); an int for integer parameters."""
    return int(round(v)) if integer else float(f"{float(v):.12g}")


def _step_grid(low: float, high: float, step: float, integer: bool) -> list | None:
    n = (high - low) / step
    count = int(math.floor(n + 1e-9)) + 1
    if count > STEP_GRID_MAX:
        return None
    return [_tidy(low + k * step, integer) for k in range(count)]


def _round_grid(low: float, high: float, integer: bool, target: int = ROUND_TARGET) -> list:
    """About ``target`` round values in [low, high]: the multiples of the nice step whose count is closest."""
    span = high - low
    exp0 = math.floor(math.log10(span / target)) - 1
    best = None
    for exp in range(exp0, exp0 + 4):
        for m in (1, 2, 2.5, 5):
            d = m * 10.0**exp
            if integer and (d < 1 or d != int(d)):
                continue
            first, last = math.ceil(low / d - 1e-9), math.floor(high / d + 1e-9)
            count = last - first + 1
            if count < 2:
                continue
            key = (abs(count - target), -count)  # closest to the target; on a tie, more values
            if best is None or key < best[0]:
                digits = max(0, 2 - exp)
                best = (key, [_tidy(round(k * d, digits), integer) for k in range(first, last + 1)])
    if best is None:  # a range too narrow for any round step: its two ends
        return [_tidy(low, integer), _tidy(high, integer)]
    return best[1]


@dataclass(frozen=True)
class Param:
    """One parameter of an :class:`Explorer`: a live slider and the static player's values.

    ``low``, ``high``, ``step``: the live slider's range and step. ``default``: the value the figure
    opens at. ``label``: the slider's label (default: the parameter's name). ``integer``: whole
    numbers only. ``values``: the exact values the static player offers (within ``[low, high]``,
    including the default); ``None`` derives round values (see the module docstring). After
    construction ``values`` is always the resolved, sorted tuple.
    """

    low: float
    high: float
    step: float
    default: float
    label: str = ""
    integer: bool = False
    values: Sequence[float] | None = None

    def __post_init__(self):
        for name in ("low", "high", "step", "default"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating) or not math.isfinite(v):
                raise ValueError(f"{name}: expected a finite number, got {v!r}")
        if not self.low < self.high:
            raise ValueError(f"high: expected a value > low = {self.low}, got {self.high}")
        if not self.low <= self.default <= self.high:
            raise ValueError(f"default: expected a value in [{self.low}, {self.high}], got {self.default}")
        if self.step <= 0:
            raise ValueError(f"step: expected a value > 0, got {self.step}")
        if self.integer and any(float(getattr(self, n)) != int(getattr(self, n)) for n in ("low", "high", "default")):
            raise ValueError(f"default: an integer parameter needs whole low, high and default, got "
                             f"{self.low}, {self.high}, {self.default}")
        if not isinstance(self.label, str):
            raise ValueError(f"label: expected a string, got {self.label!r}")
        object.__setattr__(self, "values", self._resolve_values())

    def _resolve_values(self) -> tuple:
        default = _tidy(self.default, self.integer)
        if self.values is None:
            grid = _step_grid(self.low, self.high, self.step, self.integer)
            if grid is None:
                grid = _round_grid(self.low, self.high, self.integer)
            if not any(math.isclose(g, default, rel_tol=1e-9, abs_tol=1e-12) for g in grid):
                grid.append(default)
            return tuple(sorted(set(grid)))
        if isinstance(self.values, str | bytes) or not isinstance(self.values, Sequence | np.ndarray):
            raise ValueError(f"values: expected a list of numbers, got {self.values!r}")
        vals = []
        for v in self.values:
            if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating) or not math.isfinite(v):
                raise ValueError(f"values: expected finite numbers, got {v!r}")
            if not self.low <= v <= self.high:
                raise ValueError(f"values: expected values in [{self.low}, {self.high}], got {v!r}")
            if self.integer and float(v) != int(v):
                raise ValueError(f"values: an integer parameter takes whole numbers, got {v!r}")
            vals.append(_tidy(v, self.integer))
        if not vals:
            raise ValueError("values: expected at least one value")
        if not any(math.isclose(v, default, rel_tol=1e-9, abs_tol=1e-12) for v in vals):
            raise ValueError(f"values: must include the default {self.default}, got {list(self.values)}")
        return tuple(sorted(set(vals)))

    def default_index(self) -> int:
        """The index in :attr:`values` of the default."""
        return int(np.argmin([abs(v - self.default) for v in self.values]))

    def check(self, name: str, value):
        """``value`` as this parameter's type, or a ValueError naming ``name`` when out of range."""
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name}: expected a number in [{self.low}, {self.high}], got {value!r}") from None
        if not math.isfinite(v) or not self.low <= v <= self.high:
            raise ValueError(f"{name}: expected a value in [{self.low}, {self.high}], got {value!r}")
        return int(round(v)) if self.integer else v


def is_static() -> bool:
    """True when running inside the book build (no live kernel behind the page)."""
    return os.environ.get(STATIC_ENV, "") not in ("", "0")


def _final_line_bar():
    from tqdm import tqdm

    class FinalLineBar(tqdm):
        """tqdm that stays silent while it runs and prints one plain line when it is closed."""

        _closing = False

        def display(self, msg=None, pos=None):
            if self._closing and msg is None:
                self.fp.write(self.__str__())
            return True

        def close(self):
            if self.disable:
                return
            self._closing = True
            try:
                super().close()
            finally:
                self._closing = False

    return FinalLineBar


def progress(iterable, **kwargs):
    """A progress bar over ``iterable`` (tqdm's keyword arguments pass through).

    In a live notebook, tqdm's widget bar. In the static book no widget manager runs and every
    intermediate state would be kept in the page, so the bar prints nothing while it runs and one
    plain-text line (count, time, rate, postfix) when the loop ends or the bar is closed.
    """
    if is_static():
        kwargs.setdefault("file", sys.stdout)
        kwargs.setdefault("ascii", True)
        kwargs["leave"] = True
        return _final_line_bar()(iterable, **kwargs)
    from tqdm.auto import tqdm

    return tqdm(iterable, **kwargs)


def _fmt(v) -> str:
    return str(v) if isinstance(v, int | np.integer) else f"{v:.4g}"


class Explorer:
    """A figure recomputed from named parameters (see the module docstring for the API)."""

    def __init__(
        self,
        compute: Callable[..., object],
        draw: Callable[..., None],
        params: dict[str, Param],
        *,
        scrub: str | Sequence[str],
        frames: int | None = None,
        figsize: tuple[float, float] = (8.0, 3.5),
    ):
        if not callable(compute) or not callable(draw):
            raise ValueError("compute: expected callables compute(**values) and draw(fig, data, **values)")
        if not isinstance(params, dict) or not params or not all(isinstance(p, Param) for p in params.values()):
            raise ValueError(f"params: expected a non-empty dict of name -> Param, got {params!r}")
        names = (scrub,) if isinstance(scrub, str) else tuple(scrub) if isinstance(scrub, Sequence) else None
        if not names or len(names) > 2 or len(set(names)) != len(names) or not all(n in params for n in names):
            raise ValueError(f"scrub: expected one of {', '.join(params)}, or a pair of two of them, got {scrub!r}")
        if frames is not None and (isinstance(frames, bool) or not isinstance(frames, int) or frames < 2):
            raise ValueError(f"frames: expected an integer >= 2 (it is ignored; see Param.values), got {frames!r}")
        count = math.prod(len(params[n].values) for n in names)
        if count > MAX_FRAMES:
            raise ValueError(f"scrub: {' x '.join(str(len(params[n].values)) for n in names)} = {count} frames; "
                             f"expected at most {MAX_FRAMES}: give the parameters fewer `values`")
        if (len(figsize) != 2 or not all(isinstance(s, int | float) and 0 < s <= 20 for s in figsize)):
            raise ValueError(f"figsize: expected (width, height) in inches, each in (0, 20], got {figsize!r}")
        self.compute, self.draw, self.params = compute, draw, dict(params)
        self.scrub, self.scrubbed, self.frames, self.figsize = scrub, names, frames, tuple(figsize)
        self.values = {k: p.default for k, p in self.params.items()}
        self.widget = None
        self.data = self.compute(**self.values)

    # ------------------------------------------------------------------ model side

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

    def scrub_values(self, name: str | None = None) -> np.ndarray:
        """The static player's values of a scrubbed parameter (the first one by default)."""
        name = self.scrubbed[0] if name is None else name
        if name not in self.scrubbed:
            raise ValueError(f"name: expected one of the scrubbed parameters {', '.join(self.scrubbed)}, got {name!r}")
        return np.array(self.params[name].values)

    def frame_grid(self) -> list[dict]:
        """The player's frames, in order: one dict of scrubbed values per frame (the last name varies fastest)."""
        axes = [self.params[n].values for n in self.scrubbed]
        return [dict(zip(self.scrubbed, combo, strict=True)) for combo in itertools.product(*axes)]

    # ------------------------------------------------------------------ static player

    def _png(self, values: dict) -> bytes:
        import matplotlib.pyplot as plt

        fig = self.figure(**values)
        try:
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=FRAME_SCALE * fig.dpi, facecolor="white")
        finally:
            plt.close(fig)
        raw = buf.getvalue()
        try:  # a 256-colour palette: a third of the size, no visible change on line plots
            from PIL import Image

            small = io.BytesIO()
            Image.open(io.BytesIO(raw)).convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE).save(
                small, format="PNG", optimize=True)
            return small.getvalue() if small.tell() < len(raw) else raw
        except ImportError:  # pragma: no cover - matplotlib requires Pillow
            return raw

    def _render(self) -> tuple[list[str], int]:
        """Every frame as base64 PNG, and the index of the default frame; leaves the values as they were."""
        saved = dict(self.values)
        try:
            frames = [base64.b64encode(self._png({**saved, **combo})).decode("ascii") for combo in self.frame_grid()]
        finally:
            self.set(**saved)
        start = 0
        for n in self.scrubbed:
            p = self.params[n]
            start = start * len(p.values) + int(np.argmin([abs(v - saved[n]) for v in p.values]))
        return frames, start

    def static_html(self, _rendered: tuple[list[str], int] | None = None) -> str:
        """Self-contained HTML: the figure at each frame, one labelled slider per scrubbed parameter."""
        frames, start = _rendered or self._render()
        width = round(self.figsize[0] * 100)  # CSS px at the figure's nominal 100 dpi; scaled down to fit
        uid = f"lstm-player-{hashlib.sha1(''.join(frames).encode()).hexdigest()[:10]}-{next(_player_ids)}"
        esc = html_lib.escape
        sliders, labels = [], []
        for n in self.scrubbed:
            p = self.params[n]
            label = p.label or n
            shown = [_fmt(v) for v in p.values]
            labels.append({"name": label, "values": shown})
            i = int(np.argmin([abs(v - self.values[n]) for v in p.values]))
            sliders.append(
                f'<label style="display:flex;flex-wrap:wrap;align-items:center;gap:0 .6em;margin:.2em 0">'
                f'<span class="lstm-player-label">{esc(label)} = '
                f'<output style="font-weight:bold;font-variant-numeric:tabular-nums">{esc(shown[i])}</output></span>'
                f'<input type="range" min="0" max="{len(p.values) - 1}" step="1" value="{i}" hidden '
                f'aria-label="{esc(label)}" style="flex:1 1 12em;max-width:28em;min-width:8em">'
                f'<span class="lstm-player-range" hidden style="font-size:.85em;opacity:.75">'
                f'{esc(shown[0])} \u2026 {esc(shown[-1])} ({len(shown)} values)</span></label>'
            )
        alt_default = self._alt({n: self.values[n] for n in self.scrubbed})
        note = ""
        live = self._live_names()
        if live:
            names = ", ".join(self.params[n].label or n for n in live)
            at = ", ".join(f"{self.params[n].label or n} = {_fmt(self.values[n])}" for n in live)
            note = (
                f'<p class="lstm-player-note" style="font-size:.85em;margin:.3em 0 0">'
                f"Only in a live notebook (download the .ipynb): the slider{'s' if len(live) > 1 else ''} for "
                f"{esc(names)}; here {'they stay' if len(live) > 1 else 'it stays'} at {esc(at)}.</p>"
            )
        data = json.dumps({"frames": frames, "sizes": [len(self.params[n].values) for n in self.scrubbed],
                           "labels": labels}, separators=(",", ":"))
        script = (
            "(function(){var root=document.getElementById('" + uid + "');if(!root)return;"
            "var d=JSON.parse(root.querySelector('script[type=\"application/json\"]').textContent);"
            "var img=root.querySelector('img');var ins=root.querySelectorAll('input[type=range]');"
            "var outs=root.querySelectorAll('output');"
            "function show(){var k=0,alt=[];for(var i=0;i<ins.length;i++){var j=+ins[i].value;"
            "k=k*d.sizes[i]+j;outs[i].textContent=d.labels[i].values[j];"
            "alt.push(d.labels[i].name+' = '+d.labels[i].values[j]);}"
            "img.src='data:image/png;base64,'+d.frames[k];img.alt='Figure at '+alt.join(', ');}"
            "for(var i=0;i<ins.length;i++){ins[i].hidden=false;ins[i].addEventListener('input',show);}"
            "root.querySelectorAll('.lstm-player-range').forEach(function(s){s.hidden=false;});"
            "root.classList.add('lstm-player-live');})();"
        )
        return (
            f'<div class="lstm-player" id="{uid}" {PLAYER_MARKER}="{len(frames)}" '
            f'style="max-width:100%;overflow:hidden;margin:.5em 0">'
            f'<img src="data:image/png;base64,{frames[start]}" alt="{esc(alt_default)}" width="{width}" '
            f'style="display:block;max-width:100%;height:auto" class="lstm-player-frame">'
            f'<div class="lstm-player-controls">{"".join(sliders)}</div>{note}'
            f'<script type="application/json">{data}</script><script>{script}</script></div>'
        )

    def _live_names(self) -> list[str]:
        return [n for n in self.params if n not in self.scrubbed]

    def _alt(self, values: dict) -> str:
        return "Figure at " + ", ".join(f"{self.params[n].label or n} = {_fmt(v)}" for n, v in values.items())

    def _static_bundle(self) -> dict:
        rendered = self._render()
        frames, start = rendered
        return {
            "text/html": self.static_html(rendered),
            "image/png": frames[start],
            "text/plain": self._alt({n: self.values[n] for n in self.scrubbed}),
        }

    # ------------------------------------------------------------------ display

    def show(self) -> None:
        """Display the explorer, once, and return None: live sliders in Jupyter, the player in the static book."""
        from IPython.display import display

        if is_static():
            display(self._static_bundle(), raw=True)
            return None
        self.widget = self._live()
        display(self.widget)
        return None

    def _live(self):
        import ipywidgets as w
        import matplotlib.pyplot as plt

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
        redraw()
        return box
