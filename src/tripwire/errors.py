"""Exceptions tripwire raises on purpose (everything else it swallows and logs)."""

from __future__ import annotations

_SHOWN = 200  # characters of an invalid value quoted in a ConfigError


class TripwireError(Exception):
    """Base class for exceptions raised by tripwire itself."""


class ConfigError(TripwireError, ValueError):
    """A setting has an invalid value; the message names the setting and the accepted values."""

    def __init__(self, setting: str, value: object, accepted: str) -> None:
        self.setting = setting
        self.value = value
        self.accepted = accepted
        shown = repr(value)
        if len(shown) > _SHOWN:  # a whole file or a hostile value would flood the log
            shown = shown[:_SHOWN] + f"… ({len(shown)} characters)"
        super().__init__(f"invalid value {shown} for {setting}: expected {accepted}")


class BudgetExceededError(TripwireError):
    """Raised before an LLM call in ``enforce`` mode when its budget scope is already spent.

    Nothing is sent to the provider when this is raised.
    """

    def __init__(
        self,
        budget: str,
        *,
        limit: float,
        spent: float,
        unit: str = "usd",
        scope: str = "",
    ) -> None:
        self.budget = budget
        self.limit = limit
        self.spent = spent
        self.unit = unit
        self.scope = scope
        super().__init__(
            f"budget {budget!r} exhausted: spent {spent:g} of {limit:g} {unit}"
            + (f" (scope {scope})" if scope else "")
        )


class BudgetStoreUnavailableError(BudgetExceededError):
    """Raised before an LLM call in ``enforce`` mode when the shared budget store cannot be
    reached and ``TRIPWIRE_BUDGET_STORE_FAILURE=closed``: no budget can be checked, so the
    call is refused. Nothing is sent to the provider. A subclass of
    :class:`BudgetExceededError`, so code that handles refused calls handles this one too."""

    def __init__(self) -> None:
        TripwireError.__init__(
            self, "budget store unreachable and TRIPWIRE_BUDGET_STORE_FAILURE=closed: "
                  "the call is refused")
        self.budget = ""
        self.limit = 0.0
        self.spent = 0.0
        self.unit = "usd"
        self.scope = ""
