"""The bank checker: every read sees the same total, and no negative balance.

Ops: ``transfer`` (``{"from": a, "to": b, "amount": n}``) and ``read``
returning ``{account: balance}``.  A snapshot-isolated (or stronger) bank
conserves money: each successful read must list exactly the accounts, none
missing a balance, summing to the total, and (unless negative balances are
allowed) none below zero.  The accounts and total default to those of the
first successful read, as in Jepsen's and elle-cli's bank checkers.
JSON histories carry account ids as strings ("0"); they compare equal to
EDN's integers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from jepsy.checkers._util import calls, plain_key
from jepsy.history import Op
from jepsy.options import Option, boolean, declare, integer

__all__ = ["BankChecker", "bank"]

_KEEP = 10


class BankChecker:
    def __init__(self, total_amount: int | None = None, accounts: Sequence[Any] | None = None,
                 negative_balances: bool = False) -> None:
        self.total = total_amount
        self.accounts = None if accounts is None else {plain_key(a) for a in accounts}
        self.negative_ok = negative_balances

    def check(self, history: Sequence[Op], opts: Mapping[str, Any]) -> dict[str, Any]:
        reads = [c for c in calls(history) if c.f == "read" and c.type == "ok"
                 and isinstance(c.value, dict)]
        if not reads:
            return {"valid": "unknown", "error": "no successful reads", "read_count": 0}
        first = {plain_key(k): v for k, v in reads[0].value.items()}
        accounts = self.accounts if self.accounts is not None else set(first)
        total = self.total if self.total is not None else sum(v for v in first.values()
                                                              if isinstance(v, int))
        errors: dict[str, list[dict[str, Any]]] = {}
        counts: dict[str, int] = {}

        def err(kind: str, case: dict[str, Any]) -> None:
            counts[kind] = counts.get(kind, 0) + 1
            if len(errors.setdefault(kind, [])) < _KEEP:
                errors[kind].append(case)

        totals: list[int] = []
        for c in reads:
            op = c.done
            idx = op.index if op else None
            bal = {plain_key(k): v for k, v in c.value.items()}
            extra = sorted(set(bal) - accounts, key=str)
            if extra:
                err("unexpected-key", {"op": idx, "unexpected": extra,
                                       "text": f"read at op {idx} lists unknown accounts {extra}"})
                continue
            nils = sorted((k for k, v in bal.items() if v is None), key=str)
            if nils:
                err("nil-balance", {"op": idx, "accounts": nils,
                                    "text": f"read at op {idx} has no balance for accounts {nils}"})
                continue
            s = sum(bal.values())
            totals.append(s)
            if s != total:
                err("wrong-total", {"op": idx, "total": s, "expected": total,
                                    "text": f"read at op {idx} sums to {s}, not {total}: money was "
                                            f"{'created' if s > total else 'destroyed'}"})
                continue
            neg = {k: v for k, v in bal.items() if v < 0}
            if neg and not self.negative_ok:
                err("negative-value", {"op": idx, "negative": neg,
                                       "text": f"read at op {idx} shows negative balances {neg}"})
        first_err = next((str(cases[0]["text"]) for cases in errors.values()), "")
        summary = (f"{len(reads)} reads, all summing to {total}"
                   + ("" if self.negative_ok else ", none negative")) if not errors else (
            f"{sum(counts.values())} bad reads ({', '.join(f'{k}: {n}' for k, n in counts.items())}); "
            f"first: {first_err}")
        return {
            "valid": not errors,
            "text": summary,
            "read_count": len(reads),
            "total": total,
            "error_count": sum(counts.values()),
            "error_counts": counts,
            "errors": errors,
            "lowest_total": min(totals) if totals else None,
            "highest_total": max(totals) if totals else None,
        }


@declare(
    Option("total_amount", None, "money in the bank (default: the first read's total)",
           parse=integer),
    Option("negative_balances", False, "balances below zero are allowed", parse=boolean),
)
def bank(total_amount: int | None = None, accounts: Sequence[Any] | None = None,
         negative_balances: bool = False, allow_negative_balances: bool | None = None,
         **_: Any) -> BankChecker:
    """Factory for ``--checker bank``."""
    neg = negative_balances if allow_negative_balances is None else allow_negative_balances
    return BankChecker(total_amount, accounts, neg)
