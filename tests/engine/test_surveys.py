import pytest

from saleor_conveyor.engine import (
    FanDegree,
    Liking,
    NpsCategory,
    engagement_cell,
    engagement_class,
    nps_category,
    nps_score,
)


@pytest.mark.parametrize(
    ("score", "category"),
    [(0, "DETRACTOR"), (6, "DETRACTOR"), (7, "PASSIVE"), (8, "PASSIVE"), (9, "PROMOTER"), (10, "PROMOTER")],
)
def test_nps_category_boundaries(score, category):
    assert nps_category(score) is NpsCategory(category)


@pytest.mark.parametrize("bad", [-1, 11, 7.5, "abc", None, True])
def test_nps_category_refuses_what_is_not_a_score(bad):
    with pytest.raises(ValueError, match="NPS score"):
        nps_category(bad)


def test_nps_score_is_promoters_minus_detractors():
    # 3 promoters, 1 passive, 2 detractors out of 6: 50% - 33.3% = 17
    assert nps_score([10, 9, 9, 8, 3, 0]) == 17
    assert nps_score([10, 10]) == 100
    assert nps_score([0]) == -100
    assert nps_score([]) is None


def test_engagement_grid_has_nine_cells_and_three_classes():
    cells = {engagement_cell(f, like) for f in FanDegree for like in Liking}
    assert len(cells) == 9
    assert {engagement_class(cell) for cell in cells} == {"CORE", "GROWING", "COOL"}


@pytest.mark.parametrize(
    ("fan", "liking", "cell", "coarse"),
    [
        ("NOT_A_FAN", "NOT_AT_ALL", "LOW/LOW", "COOL"),
        ("NEW_FAN", "NEUTRAL", "LOW/LOW", "COOL"),
        ("KEEP_SUPPORTING", "SOMEWHAT", "MID/MID", "GROWING"),
        ("PART_OF_LIFE", "NOT_AT_ALL", "HIGH/LOW", "GROWING"),
        ("WANT_TO_HELP", "LIKE", "HIGH/MID", "CORE"),
        ("PART_OF_LIFE", "ADORE", "HIGH/HIGH", "CORE"),
    ],
)
def test_engagement_cells(fan, liking, cell, coarse):
    assert engagement_cell(FanDegree(fan), Liking(liking)) == cell
    assert engagement_class(cell) == coarse
