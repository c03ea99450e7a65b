"""The one error the planner raises."""


class PlanError(ValueError):
    """A request no plan can serve. The message says what would work."""
