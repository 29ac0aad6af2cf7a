"""The one exception type users see for bad input."""


class ValidationError(ValueError):
    """Invalid user input; the message is one line: parameter, value and what is allowed."""


def check(condition: bool, name: str, value: object, allowed: str) -> None:
    """Raise `ValidationError` unless `condition` holds.

    Messages read ``<name> must be <allowed> (got <value>)`` so a user can fix the
    config key without reading a traceback.
    """
    if not condition:
        raise ValidationError(f"{name} must be {allowed} (got {value!r})")
