"""Walk-forward simulation, costs, metrics, rounds, payouts and reports."""
