"""Every erratum's check: the corrected form matches its reference to rounding, the printed one does not."""

import pytest

from lstm_lib import errata


@pytest.mark.parametrize("check", errata.CHECKS, ids=lambda f: f.__name__)
def test_corrected_forms_match_and_printed_forms_miss(check):
    e = check()
    assert e.label.startswith("E") and e.chapter.startswith("chap:")
    if e.corrected_error is not None:
        assert e.corrected_error < 1e-10, e
    if e.printed_error is not None:
        assert e.printed_error > 1e-2, e


def test_every_erratum_of_the_paper_map_is_covered():
    labels = {e.__name__.removeprefix("check_") for e in errata.CHECKS} | set(errata.NOTES)
    assert labels == {f"E{k}" for k in range(1, 15)}
