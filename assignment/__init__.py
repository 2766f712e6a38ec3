"""CS231n-style deep-learning assignment: naive layers, fast twins, models, a Solver."""
