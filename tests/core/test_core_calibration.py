"""A series' calibration: split-conformal and ACI arithmetic (known answers) and the value."""

import json
import math

import numpy as np
import pytest

from pipeline.core.bands import ConformalMultipliers
from pipeline.core.calibration import (
    Calibration,
    aci_alpha,
    aci_floor,
    aci_multipliers,
    aci_update,
    calibrate_conformal,
    check_calibration_days,
)
from pipeline.errors import DataError
from pipeline.models.conformal import AdaptiveConformal


def test_conformal_known_answer_asymmetric():
    residuals = np.random.default_rng(0).permutation(np.arange(1.0, 20.0))  # 1..19, n = 19
    m = calibrate_conformal(residuals, [0.9, 0.8])
    # level 0.8: ceil(20 * 0.9) = 18th smallest above, its mirror (the 2nd smallest) below.
    assert m == ConformalMultipliers(levels=(0.8, 0.9), lower=(2.0, 1.0), upper=(18.0, 19.0))


def test_conformal_with_too_few_residuals_gives_infinite_bounds():
    m = calibrate_conformal(np.arange(1.0, 10.0), [0.9])  # ceil(10 * 0.95) = 10 > n = 9
    assert m.lower == (-math.inf,)
    assert m.upper == (math.inf,)


def test_conformal_known_answer_symmetric():
    residuals = np.array([-5.0, 1.0, -2.0, 3.0, 4.0, -6.0, 7.0, -8.0, 9.0])
    m = calibrate_conformal(residuals, [0.8], symmetric=True)  # ceil(10 * 0.8) = 8th of |r|
    assert (m.lower, m.upper) == ((-8.0,), (8.0,))


def test_conformal_rejects_non_finite_residuals():
    with pytest.raises(ValueError, match="finite residuals"):
        calibrate_conformal(np.array([0.1, np.nan]), [0.9])


def test_too_few_calibration_days_for_a_level_is_a_data_error():
    check_calibration_days(19, (0.9,))  # ceil(20 * 0.95) = 19: finite
    with pytest.raises(DataError, match=r"18 validation days are too few .* 0.9 interval"):
        check_calibration_days(18, (0.8, 0.9))


def test_aci_update_known_answer():
    assert aci_update(0.1, covered=True, level=0.9, gamma=0.01) == pytest.approx(0.101)
    assert aci_update(0.1, covered=False, level=0.9, gamma=0.01) == pytest.approx(0.091)


def test_aci_alpha_known_answer():
    misses = [False, True, False, False, True, True, False]
    # 3 misses in 7 days, against 0.7 expected: 0.1 + 0.03 * (0.7 - 3).
    assert aci_alpha(0.9, 0.03, misses) == pytest.approx(0.1 + 0.03 * (0.7 - 3))
    assert aci_alpha(0.9, 0.03, []) == 1.0 - 0.9  # no outcomes: the calibrated rate, exactly
    alpha = 1.0 - 0.9
    for miss in misses:  # the backtest's steps (models.conformal.AdaptiveConformal)
        alpha = aci_update(alpha, not miss, 0.9, 0.03)
    assert aci_alpha(0.9, 0.03, misses) == alpha


def test_aci_floor_stops_at_what_the_residuals_can_cut():
    assert aci_floor(-0.3, 0.9, 19) == pytest.approx(0.1)  # 2 / 20 = 0.1
    assert aci_floor(-0.3, 0.9, 99) == pytest.approx(0.02)  # 2 / 100
    assert aci_floor(0.05, 0.9, 99) == 0.05  # above the floor: unchanged
    assert aci_floor(-1.0, 0.99, 9) == pytest.approx(0.01)  # never above 1 - level
    # At the floor the bounds are the extreme residuals, not infinite.
    residuals = np.linspace(-1.0, 1.0, 19)
    assert aci_multipliers(residuals, aci_floor(-0.3, 0.9, 19)) == (-1.0, 1.0)


RESIDUALS = (np.linspace(-2.0, 2.0, 39), np.linspace(-3.0, 3.5, 39), np.linspace(-4.0, 4.0, 39))


def test_a_calibration_is_each_horizons_split_conformal_multipliers():
    c = Calibration.from_residuals(RESIDUALS, (0.9, 0.8))
    assert c.levels == (0.8, 0.9) and c.horizons == 3 and c.adaptable == 3
    for h, r in enumerate(RESIDUALS, start=1):
        assert c.at(h) == c.multipliers[h - 1] == calibrate_conformal(r, (0.8, 0.9))


def test_at_re_cuts_only_the_horizons_and_levels_with_an_online_rate():
    c = Calibration.from_residuals(RESIDUALS, (0.8, 0.9)).with_alphas({2: {0.9: 0.02}})
    assert c.at(1) == c.multipliers[0] and c.at(3) == c.multipliers[2]
    adapted = c.at(2)
    assert (adapted.lower[0], adapted.upper[0]) == (
        c.multipliers[1].lower[0],
        c.multipliers[1].upper[0],
    )
    assert (
        adapted.lower[1] < c.multipliers[1].lower[1]
        and adapted.upper[1] > c.multipliers[1].upper[1]
    )
    # The calibrated rate gives the calibrated multipliers back.
    assert c.with_alphas({2: {0.8: 0.2, 0.9: 0.1}}).at(2) == c.multipliers[1]


def test_adapted_multipliers_are_the_backtests_capped_aci():
    aci = AdaptiveConformal(RESIDUALS[0], level=0.9, gamma=0.05, capped=True)
    c = Calibration.from_residuals(RESIDUALS, (0.9,))
    for covered in [False, False, True, False, False, False, True, True]:
        alpha = aci.update(covered)
        got = c.with_alphas({1: {0.9: alpha}}).at(1)
        assert (got.lower[0], got.upper[0]) == aci.multipliers()


def test_without_residuals_a_calibration_cannot_adapt():
    c = Calibration.from_residuals(RESIDUALS, (0.9,))
    old = Calibration(c.multipliers, c.residuals[:1])  # saved when only day 1 kept them
    assert old.adaptable == 1 and old.at(2) == c.multipliers[1]
    with pytest.raises(ValueError, match="no calibration residuals for 2 days ahead"):
        old.with_alphas({2: {0.9: 0.05}}).at(2)
    with pytest.raises(ValueError, match="no calibration residuals for online ACI"):
        Calibration(c.multipliers).with_alphas({1: {0.9: 0.05}}).at(1)


def test_the_dict_is_plain_json_and_reads_back_to_the_last_digit():
    c = Calibration.from_residuals([np.random.default_rng(1).standard_normal(30)] * 2, (0.8, 0.99))
    assert math.isinf(c.multipliers[0].upper[1])  # too few residuals at 99%: infinite
    for value in (c, c.with_alphas({1: {0.99: 0.013}, 2: {0.8: 0.21}}), Calibration(c.multipliers)):
        text = json.dumps(value.to_dict())
        back = Calibration.from_dict(json.loads(text))
        assert back == value and json.dumps(back.to_dict()) == text
    assert c != Calibration(c.multipliers)  # residuals count in equality


def test_a_calibration_refuses_mismatched_horizons():
    m = calibrate_conformal(RESIDUALS[0], (0.8, 0.9))
    with pytest.raises(ValueError, match="at least one horizon"):
        Calibration(())
    with pytest.raises(ValueError, match="same levels"):
        Calibration((m, calibrate_conformal(RESIDUALS[1], (0.9,))))
    with pytest.raises(ValueError, match="more horizons of residuals"):
        Calibration((m,), RESIDUALS[:2])
