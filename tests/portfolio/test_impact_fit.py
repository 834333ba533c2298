"""The linear-quadratic fit of the 3/2-power impact used by the optimizer's QP mode."""

from __future__ import annotations

import numpy as np

from metasignal.portfolio.costs import TransactionCostModel, linear_quadratic_impact


def test_fit_is_close_to_the_power_law_inside_its_range():
    model = TransactionCostModel(capital=1e8)
    coef = model.impact_coefficients(np.array([0.01, 0.03]), np.array([5e6, 2e8]))
    reach = np.array([0.004, 0.02])
    linear, quadratic = linear_quadratic_impact(coef, reach)
    x = np.linspace(0, 1, 2001)[:, None] * reach
    exact = coef * x**1.5
    fitted = linear * x + quadratic * x**2
    assert (np.abs(fitted - exact) <= 0.0159 * coef * reach**1.5).all()
    # least squares on the range: the error is orthogonal to both basis functions
    np.testing.assert_allclose(((fitted - exact) * x).mean(axis=0) / (coef * reach**2.5), 0, atol=1e-3)
    np.testing.assert_allclose(((fitted - exact) * x**2).mean(axis=0) / (coef * reach**3.5), 0, atol=1e-3)
    # and it overstates the cost of trades beyond the range (conservative)
    beyond = 3 * reach
    assert (linear * beyond + quadratic * beyond**2 > coef * beyond**1.5).all()
