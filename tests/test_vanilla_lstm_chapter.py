"""The readable cell of Part III (lstm_step, paper Eqs. 126-136), the cell drawing, and the layout conventions
of the two chapters of Part III ("From the RNN to the vanilla LSTM", "Training the vanilla LSTM")."""

import re
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
import torch

from lstm_lib.figures import lstm_training as training_figs
from lstm_lib.figures import vanilla_lstm as vanilla_figs
from lstm_lib.vanilla_lstm import PARAM_NAMES, Step, VanillaLSTM, check_paper_params, lstm_step

F64 = torch.float64
BOOK = Path(__file__).resolve().parents[1] / "book"
CHAPTERS = {"vanilla_lstm": vanilla_figs, "lstm_training": training_figs}


def test_lstm_step_records_every_quantity_of_eqs_126_136():
    model = VanillaLSTM(3, 4, dtype=F64)
    p = model.paper_params()
    x, v0, s0 = torch.randn(2, 3, dtype=F64), torch.randn(2, 4, dtype=F64), torch.randn(2, 4, dtype=F64)
    with torch.no_grad():
        v, s, st = lstm_step(x, v0, s0, p, record=True)
        assert isinstance(st, Step) and st.v is v and st.s is s
        torch.testing.assert_close(st.a_cr, x @ p["W_xcr"].T + s @ p["W_scr"].T + v0 @ p["W_vcr"].T + p["b_cr"])
        torch.testing.assert_close(s, torch.sigmoid(st.a_cs) * s0 + torch.sigmoid(st.a_cu) * torch.tanh(st.a_du))
        torch.testing.assert_close(v, torch.sigmoid(st.a_cr) * torch.tanh(s))
        assert torch.equal(torch.stack(lstm_step(x, v0, s0, p)), torch.stack((v, s)))


def test_paper_params_are_checked():
    p = VanillaLSTM(3, 4, dtype=F64).paper_params()
    assert check_paper_params(p) == (3, 4) and len(PARAM_NAMES) == 15
    with pytest.raises(ValueError, match="^p: .*W_vdu"):
        check_paper_params({k: v for k, v in p.items() if k != "W_vdu"})
    with pytest.raises(ValueError, match=r"^p\['W_scs'\]"):
        check_paper_params(p | {"W_scs": torch.zeros(4, dtype=F64)})
    with pytest.raises(TypeError, match="^p"):
        check_paper_params([1, 2])
    x, z = torch.zeros(2, 3, dtype=F64), torch.zeros(2, 4, dtype=F64)
    with pytest.raises(ValueError, match="^p: W_x.. have 3 columns"):
        lstm_step(torch.zeros(2, 5, dtype=F64), z, z, p)
    with pytest.raises(ValueError, match="^s_prev"):
        lstm_step(x, z, torch.zeros(3, 4, dtype=F64), p)


def test_cell_drawing_is_legible_and_shows_full_state_weights():
    ax = vanilla_figs.draw_cell()
    fig = ax.figure
    assert fig.get_size_inches()[0] <= 7.0  # shown at its natural size in a 700 px column
    texts = [t for t in ax.texts if t.get_text().strip()]
    assert min(t.get_fontsize() for t in texts) >= 10
    labels = {t.get_text() for t in texts}
    for name in ("W_{scs}", "W_{scu}", "W_{scr}", "W_{xdu}", "W_{vdu}", "a_{cr}", "g_{cs}"):
        assert any(name in label for label in labels), name
    assert {"s[n-1]", "v[n-1]", "x[n]", "s[n]", "v[n]"} <= labels
    plt.close(fig)


def source(stem):
    return (BOOK / f"{stem}.md").read_text(encoding="utf8")


@pytest.mark.parametrize("stem", CHAPTERS)
def test_chapter_layout(stem):
    text = source(stem)
    head = text[text.index(f"(chap:{stem})="):]
    assert re.match(rf"\(chap:{stem}\)=\n# .+\n\n```{{admonition}} Where we are in the paper", head)
    assert "**What you will learn**" in text and "**Prerequisites.**" in text
    assert text.index("## Summary") < text.index("## Exercises")
    exercises = text[text.index("## Exercises"):]
    assert exercises.count("```{exercise}") >= 3
    assert exercises.count("```{solution-start}") == exercises.count("```{exercise}")
    assert exercises.count(":class: dropdown") == exercises.count("```{exercise}")
    assert "\\vec" not in text and "\\overrightarrow" not in text
    first_cell = text[text.index("```{code-cell}"):]
    first_cell = first_cell[: first_cell.index("\n```\n")]
    assert "use_book_style()" in first_cell and "torch.manual_seed(0);" in first_cell
    assert not re.search(r"^\|.*usual name", text, re.M | re.I)  # the name table lives on the notation page only
    assert "{ref}`chap:notation`" in text and "{ref}`chap:errata`" in text


@pytest.mark.parametrize("stem", CHAPTERS)
def test_every_plotting_cell_has_a_caption(stem):
    for cell in re.findall(r"```\{code-cell\} ipython3\n(.*?)\n```\n", source(stem), re.S):
        if "plt.show()" in cell:
            assert "caption:" in cell and re.search(rf"name: fig-{stem}-", cell), cell[:200]


@pytest.mark.parametrize("stem", CHAPTERS)
def test_explorer_sliders_are_named_in_the_text(stem):
    text = source(stem)
    ex = CHAPTERS[stem].explorer(N=20)
    for p in ex.params.values():
        assert f"**{p.label}**" in text, p.label


def test_paper_equations_are_cited():
    v, t = (" ".join(source(stem).split()) for stem in ("vanilla_lstm", "lstm_training"))
    for rng in ("94-97", "98-99", "100-102", "103-105", "107-108", "109-111", "112-117", "118-120", "121-122",
                "123-124", "126-136"):
        assert f"paper Eqs. {rng}" in v, rng
    assert "paper Eq. 106" in v and "Example 2" in v
    for rng in ("137-138", "139-143", "144-153", "154-155", "156-170", "173-182"):
        assert f"Eqs. {rng}" in t, rng
    for erratum in ("E6", "E7", "E8", "E12", "E13"):
        assert f"erratum {erratum}" in t
    assert "erratum E12" in v and "erratum E14" in v
