"""Synthetic credit applicants with a known default process.

The default rate (about 9%) and the effects (debt-to-income, late payments and short credit history raise the
risk; income lowers it) follow the usual shape of retail credit data. ``student`` is a group attribute: it
shifts income and history, so a model that never sees it can still treat students differently, which is what
fairness metrics should reveal.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FIELDS = ("age", "income", "debt_to_income", "credit_history_years", "late_payments", "loan_amount", "student")
LABELS = ("approve", "decline")


def applicants(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` applicants with their true outcome in ``label`` (``decline`` when they would default)."""
    rng = np.random.default_rng(seed)
    student = rng.random(n) < 0.2
    age = np.where(student, rng.integers(18, 30, n), rng.integers(21, 76, n))
    income = np.round(np.exp(rng.normal(np.where(student, 9.9, 10.8), 0.45, n)), -2)
    history = np.clip(np.where(student, rng.gamma(2.0, 1.2, n), rng.gamma(3.0, 3.5, n)), 0, age - 17).round(1)
    dti = np.clip(rng.beta(2.0, 5.0, n) * 1.2 + np.where(student, 0.08, 0.0), 0, 1.5).round(3)
    late = rng.poisson(np.where(dti > 0.45, 1.6, 0.4))
    loan = np.round(income * rng.uniform(0.05, 0.6, n), -2)
    logit = (
        -3.6
        + 4.2 * (dti - 0.3)
        + 0.55 * late
        - 0.09 * (history - 5)
        - 0.8 * (np.log(income) - 10.6)
        + 1.1 * (loan / income - 0.3)
        + rng.normal(0, 0.6, n)
    )
    default = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "age": age.astype(int),
            "income": income,
            "debt_to_income": dti,
            "credit_history_years": history,
            "late_payments": late.astype(int),
            "loan_amount": loan,
            "student": np.where(student, "yes", "no"),
            "label": np.where(default, LABELS[1], LABELS[0]),
        }
    )
