"""``monitor.schedule``: a cron expression, checked the way Kubernetes will read it.

The container deploy target writes it into a CronJob; a schedule the cluster refuses
would only show up at ``kubectl apply``, long after the model was trained, so the
spec is checked here instead: five fields (minute, hour, day of month, month, day of
week), each ``*``, a number, a range ``a-b``, a step ``*/n`` or ``a-b/n``, or a list of
those, every number within its field's range; or one of the macros Kubernetes takes.
Names (``JAN``, ``MON``) are accepted where cron accepts them. Pure Python, no imports:
``specops validate`` stays fast.
"""

from __future__ import annotations

MACROS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
"""What Kubernetes' cron parser accepts instead of five fields."""

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")

FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {name: number for number, name in enumerate(MONTHS, start=1)}),
    ("day of week", 0, 7, {name: number for number, name in enumerate(DAYS)}),  # 7: Sunday
)

EXAMPLE = '"0 * * * *" (hourly) or "30 2 * * 1-5" (02:30 on weekdays)'


def cron_problem(text: str) -> str | None:
    """What is wrong with a cron expression (one sentence naming the field), or None."""
    if not isinstance(text, str):
        return f"a schedule is text, e.g. {EXAMPLE}"
    expression = text.strip()
    if expression.startswith("@"):
        if expression.lower() in MACROS:
            return None
        return f"unknown macro {expression!r}; use one of {', '.join(sorted(MACROS))}"
    if expression.upper().startswith(("TZ=", "CRON_TZ=")):
        return (
            "a time zone in the schedule is not supported by Kubernetes CronJobs; the "
            "CronJob runs on UTC"
        )
    parts = expression.split()
    if len(parts) != len(FIELDS):
        return (
            f"a schedule has 5 fields (minute hour day-of-month month day-of-week), "
            f"{text!r} has {len(parts)}; e.g. {EXAMPLE}"
        )
    for part, (name, low, high, names) in zip(parts, FIELDS, strict=True):
        problem = _field_problem(part, low, high, names)
        if problem is not None:
            return f"{name} {part!r}: {problem}"
    return None


def _field_problem(part: str, low: int, high: int, names: dict[str, int]) -> str | None:
    for item in part.split(","):
        if not item:
            return "an empty item in a list"
        base, slash, step = item.partition("/")
        if slash:
            number = _number(step, {})
            if number is None or number < 1:
                return f"step {step!r} is not a positive number"
            if number > high - low + 1:
                return f"step {number} is larger than the field's range {low}-{high}"
        if base == "*":
            continue
        first, dash, last = base.partition("-")
        bounds = [first, last] if dash else [first]
        values = []
        for bound in bounds:
            value = _number(bound, names)
            if value is None:
                return f"{bound!r} is not a number" + (
                    f" or a name ({', '.join(names)})" if names else ""
                )
            if not low <= value <= high:
                return f"{value} is out of range {low}-{high}"
            values.append(value)
        if dash and values[0] > values[1]:
            return f"range {base} runs backwards"
    return None


def _number(text: str, names: dict[str, int]) -> int | None:
    if text.isascii() and text.isdigit() and len(text) <= 3:
        return int(text)
    return names.get(text.upper())
