"""Meta-signal to target weights: risk model, constraints, costs and the cvxpy optimizer."""
