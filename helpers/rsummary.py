"""Print a statsmodels OLS fit the way R prints ``summary(lm(...))``.

``r_summary(fit, formula="chol ~ age", data="data_chol")`` prints what R prints for
``summary(lm(chol ~ age, data = data_chol))``, so the output can be held next to
R's line by line: the call, residual quantiles (R's quantile type 7 after
``zapsmall``), the coefficient table of ``printCoefmat`` (common decimals, t values
to 3 decimals, ``format.pval``, significance stars), residual standard error,
R-squared and the overall F test. Formatting follows R's own rules
(``formatReal``, ``round``, ``formatC``) at R's default ``digits = 7``, which
``print.summary.lm`` lowers to 4. tests/test_rsummary.py compares the text with
R's printout character by character.

Not reproduced: weighted fits, robust standard errors and aliased (NA)
coefficients, which are refused with an explanation; wide coefficient tables are
not wrapped at 80 columns as R would wrap them.
"""

from __future__ import annotations

import math
import re

import numpy as np
import patsy
from statsmodels.regression.linear_model import OLS, RegressionResults, RegressionResultsWrapper

__all__ = ["r_summary", "r_summary_text", "printed_numbers", "format_r", "format_pval"]

DIGITS = 4  # print.summary.lm: max(3, getOption("digits") - 3)
EPS = float(np.finfo(float).eps)  # .Machine$double.eps
LEGEND = "0 \u2018***\u2019 0.001 \u2018**\u2019 0.01 \u2018*\u2019 0.05 \u2018.\u2019 0.1 \u2018 \u2019 1"


def r_summary(fit, formula: str | None = None, data: str = "data", names: dict | None = None) -> None:
    """Print ``fit`` as R prints ``summary(lm(formula, data = <data>))``.

    ``formula`` is the R formula of the Call line (default: the statsmodels formula);
    when given, term names follow it (``C(doctor)[T.2]`` becomes ``as.factor(doctor)2``
    if the formula says ``as.factor(doctor)``; a text column's ``Sex[T.Male]`` is ``SexMale``),
    in R's order of terms. ``names`` maps statsmodels term names to the names to print and
    wins over that translation. Residuals of a small fit are labelled by R's row names
    (1..n of the data, less the rows dropped as missing, which R's last lines count).
    """
    print(r_summary_text(fit, formula, data, names), end="")


def r_summary_text(fit, formula: str | None = None, data: str = "data", names: dict | None = None) -> str:
    """The text that :func:`r_summary` prints."""
    _check_fit(fit)
    formula = formula if formula is not None else getattr(fit.model, "formula", None)
    if formula is None:
        raise ValueError("this fit was not made from a formula; pass the R formula, e.g. formula='y ~ x'")
    design_info = getattr(fit.model.data, "model_spec", None)
    order = (
        r_column_order(design_info, fit.model.formula)
        if hasattr(design_info, "term_slices")
        else list(range(len(fit.model.exog_names)))
    )
    terms = [r_term(fit.model.exog_names[i], formula, names) for i in order]
    rdf = int(round(fit.df_resid))
    out = ["", "Call:", _deparse_call(formula, data), "", "Residuals:"]
    resid = np.asarray(fit.resid, dtype=float)
    if rdf > 5:
        q = _zapsmall(np.quantile(resid, [0, 0.25, 0.5, 0.75, 1]), DIGITS + 1)
        out += _named_vector(["Min", "1Q", "Median", "3Q", "Max"], format_r(q, DIGITS))
    else:
        out += _named_vector([str(i) for i in _row_names(fit)], format_r(resid, DIGITS))
    out += ["", "Coefficients:"] + _coef_table(fit, terms, order)
    out += [
        "",
        f"Residual standard error: {format_r([_signif(np.sqrt(fit.scale), DIGITS)])[0]} on {rdf} degrees of freedom",
    ]
    deleted = _rows_deleted(fit)
    if deleted:
        out.append(f"  ({deleted} observation{'s' if deleted > 1 else ''} deleted due to missingness)")
    if fit.df_model > 0:  # R prints no R-squared or F test for an intercept-only model
        f_p = format_pval([fit.f_pvalue], DIGITS)[0]
        out += [
            f"Multiple R-squared:  {_formatc(fit.rsquared)},\tAdjusted R-squared:  {_formatc(fit.rsquared_adj)} ",
            f"F-statistic: {_formatc(fit.fvalue)} on {int(round(fit.df_model))} and {rdf} DF,  p-value: {f_p}",
        ]
    return "\n".join(out) + "\n\n"


def printed_numbers(text: str) -> dict[tuple[str, str], str]:
    """The numbers in a printout of :func:`r_summary_text`, keyed by (statistic, term) as in
    datasets/handout_targets.csv, e.g. ``("estimate", "age")`` or ``("sigma", "")``; spaces removed."""
    lines = text.splitlines()
    found = {}
    if "Min" in lines[lines.index("Residuals:") + 1].split():
        at = lines.index("Residuals:")
        for name, value in zip(lines[at + 1].split(), lines[at + 2].split()):
            found["residual_quantile", name] = value
    for line in lines[lines.index("Coefficients:") + 2 :]:
        if not line.strip() or line.startswith("---"):
            break
        term, *cells = line.split()  # assumes term names without spaces
        p_value = cells[3] + cells[4] if cells[3] == "<" else cells[3]
        for statistic, value in zip(["estimate", "std_error", "t_value", "p_value"], [*cells[:3], p_value]):
            found[statistic, term] = value
    patterns = {
        ("sigma", "df_residual"): r"Residual standard error: (\S+) on (\d+) degrees of freedom",
        ("r_squared", "adj_r_squared"): r"Multiple R-squared:\s+(\S+),\tAdjusted R-squared:\s+(\S+)",
        (
            "f_statistic",
            "f_df_model",
            "f_df_residual",
            "f_p_value",
        ): r"F-statistic: (\S+) on (\d+) and (\d+) DF,  p-value: (.+)",
    }
    for keys, pattern in patterns.items():
        match = re.search(pattern, text)
        if match:
            found.update({(key, ""): value.replace(" ", "") for key, value in zip(keys, match.groups())})
    return found


# ----------------------------------------------------------------------------- checks and names


def _check_fit(fit) -> None:
    if (
        not isinstance(fit, (RegressionResults, RegressionResultsWrapper))
        or type(getattr(fit, "model", None)) is not OLS
    ):
        model = type(getattr(fit, "model", None)).__name__
        raise TypeError(
            f"r_summary needs an OLS fit, e.g. smf.ols('y ~ x', data).fit(); got "
            f"{type(fit).__name__}" + (f" of a {model} model" if hasattr(fit, "model") else "")
        )
    if fit.cov_type != "nonrobust":
        raise ValueError(f"summary(lm) uses the ordinary covariance; this fit used cov_type={fit.cov_type!r}")
    if np.linalg.matrix_rank(fit.model.exog) < fit.model.exog.shape[1]:
        raise ValueError("the design matrix is rank deficient; R would report aliased (NA) coefficients")


def r_term(term: str, formula: str, names: dict | None = None) -> str:
    """R's name of a statsmodels (patsy) term: ``(Intercept)``, ``SexMale`` for ``Sex[T.Male]``, and
    ``as.factor(doctor)2`` for ``C(doctor)[T.2]`` when the R ``formula`` says ``as.factor(doctor)``."""
    if names and term in names:
        return names[term]
    if term == "Intercept":
        return "(Intercept)"

    def level(match: re.Match) -> str:
        var, lev = match.group(1), match.group(2)
        wrapped = next((w for w in (f"as.factor({var})", f"factor({var})") if w in formula), var)
        return f"{wrapped}{lev}"

    if "C(" in formula:
        return term
    term = re.sub(r"C\((\w+)\)\[(?:T\.)?([^\]]*)\]", level, term)
    return re.sub(r"\b(\w+)\[T\.([^\]]*)\]", r"\1\2", term)


def r_column_order(design_info, formula: str) -> list[int]:
    """Columns of a patsy design in R's order: terms by interaction order, then as ``formula`` writes them
    (patsy puts terms of categorical factors before numeric ones)."""
    written = {term: i for i, term in enumerate(patsy.ModelDesc.from_formula(formula).rhs_termlist)}
    slices = sorted(
        design_info.term_slices.items(), key=lambda item: (len(item[0].factors), written.get(item[0], len(written)))
    )
    return [i for _, s in slices for i in range(s.start, s.stop)]


def _row_names(fit) -> list[int]:
    """R's row names of the rows used: 1..n of a data frame R read, less the rows dropped as missing."""
    frame = getattr(fit.model.data, "frame", None)
    rows = getattr(fit.model.data, "row_labels", None)
    if frame is None or rows is None:
        return list(range(1, int(fit.nobs) + 1))
    return [int(i) + 1 for i in frame.index.get_indexer(rows)]


def _rows_deleted(fit) -> int:
    frame = getattr(fit.model.data, "frame", None)
    return 0 if frame is None else len(frame) - int(fit.nobs)


def _deparse_call(formula: str, data: str, cutoff: int = 60) -> str:
    """``deparse(call)``: R's spacing around top-level operators, a break past 60 characters."""
    pieces, depth, token = [], 0, ""
    for ch in formula:
        depth += (ch == "(") - (ch == ")")
        if depth == 0 and ch in "~+-*":
            pieces += [token.strip(), f" {ch} "]
            token = ""
        else:
            token += ch
    pieces = ["lm(formula = "] + [p for p in pieces if p] + [token.strip(), ", ", f"data = {data})"]
    lines, line = [], ""
    for piece in pieces:
        line += piece
        if piece.endswith(" ") and len(line) > cutoff:  # R's linebreak() after an operator or a comma
            lines.append(line)
            line = "    "
    return "\n".join(lines + [line])


# ----------------------------------------------------------------------------- R's number formatting


def _r_round(x: float, digits: float) -> float:
    """R (>= 4.0.0) ``round(x, digits)``: the nearer of the two candidates, ties to even."""
    dig = math.floor(digits + 0.5)
    if x == 0 or not math.isfinite(x):
        return x
    sign, x = math.copysign(1.0, x), abs(x)
    if dig > 0 and math.log10(x) + dig > 15:
        return sign * x
    p10 = 10.0**dig
    i10 = math.floor(p10 * x)
    down, up = i10 / p10, math.ceil(p10 * x) / p10
    return sign * (up if (up - x < x - down or (up - x == x - down and i10 % 2 == 1)) else down)


def _zapsmall(x: np.ndarray, digits: int) -> list[float]:
    """``zapsmall`` as in R 4.2 (the R that printed the handout): round to ``digits - log10(max|x|)``."""
    mx = float(np.max(np.abs(x)))
    dig = max(0.0, digits - math.log10(mx)) if mx > 0 else digits
    return [_r_round(float(v), dig) for v in x]


def _signif(x: float, digits: int) -> float:
    return float(f"{x:.{digits - 1}e}") if x != 0 else 0.0


def _scientific(x: float, digits: int) -> tuple[bool, int, int, bool]:
    """R's ``scientific()``: sign, decimal exponent, significant digits needed, rounding widened."""
    if x == 0:
        return False, 0, 1, False
    mantissa, exponent = f"{abs(x):.{digits - 1}e}".split("e")
    kpower = int(exponent)
    nsig = len(mantissa.replace(".", "").rstrip("0")) or 1
    return x < 0, kpower, nsig, kpower > 0 and abs(x) < 10.0**kpower


def format_r(values, digits: int = 7) -> list[str]:
    """R's ``format(values, digits = digits)``: one fixed or scientific layout, a common width."""
    values = [float(v) for v in values]
    parts = [_scientific(v, digits) for v in values]
    neg = any(p[0] for p in parts)
    lefts = [kp + 1 - widens for _, kp, _, widens in parts]
    rgt = max(0, max(nsig - left for (_, _, nsig, _), left in zip(parts, lefts)))
    mxsl = max(neg_i + max(left, 1) for (neg_i, *_), left in zip(parts, lefts))
    e = 2 if max(lefts) > 100 or min(lefts) <= -99 else 1
    d = max(p[2] for p in parts) - 1
    if mxsl + rgt + (rgt != 0) <= neg + (d > 0) + d + 4 + e:
        text = [f"{v:.{rgt}f}" for v in values]
    else:
        text = [f"{v:.{d}e}" for v in values]
    width = max(map(len, text))
    return [t.rjust(width) for t in text]


def format_pval(pv, digits: int, eps: float = EPS) -> list[str]:
    """R's ``format.pval``: fixed and scientific values formatted apart, tiny ones as ``<eps``."""
    pv = np.asarray(pv, dtype=float)
    out = np.full(len(pv), "", dtype=object)
    tiny = pv < eps
    with np.errstate(divide="ignore"):
        expo = np.floor(np.log10(np.where(pv > 0, pv, 1e-50)))
        fixp = ~tiny & ((expo >= -3) | ((expo == -4) & (digits > 1)))
    for group in (fixp, ~tiny & ~fixp):
        if group.any():
            out[group] = format_r(pv[group], digits)
    if tiny.any():
        dig, sep = max(1, digits - 2), " "
        if (~tiny).any():
            nc = max(len(s) for s in out[~tiny])
            if dig > 1 and dig + 6 > nc:
                dig = max(1, nc - 7)
            sep = "" if dig == 1 and nc <= 6 else " "
        elif dig == 1:
            sep = ""
        out[tiny] = "<" + sep + format_r([eps], dig)[0]
    return list(out)


def _formatc(x: float, digits: int = DIGITS) -> str:
    """``formatC(x, digits = 4)``: C's %g, padded to digits + 1 characters."""
    return f"{x:>{digits + 1}.{digits}g}"


def _stars(p: float) -> str:
    cuts = [(0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, "."), (1.0, " ")]
    return next(symbol for cut, symbol in cuts if p <= cut)


# ----------------------------------------------------------------------------- layout


def _named_vector(names: list[str], values: list[str], width: int = 80) -> list[str]:
    """``print`` of a named vector: right-aligned columns, a space after each, 80 characters a line."""
    w = max(max(map(len, names)), max(map(len, values)))
    per_line = max(1, width // (w + 1))
    lines = []
    for start in range(0, len(names), per_line):
        lines.append("".join(n.rjust(w) + " " for n in names[start : start + per_line]))
        lines.append("".join(v.rjust(w) + " " for v in values[start : start + per_line]))
    return lines


def _coef_table(fit, terms: list[str], order: list[int]) -> list[str]:
    """``printCoefmat`` as ``print.summary.lm`` calls it, with the significance legend; rows in ``order``."""
    est, se = np.asarray(fit.params, float)[order], np.asarray(fit.bse, float)[order]
    both = np.concatenate([est, se])
    nonzero = np.abs(both[(both != 0) & np.isfinite(both)])
    digmin = 1 + math.floor(math.log10(nonzero.min())) if nonzero.size else 1
    rounded = format_r([_r_round(v, max(1, DIGITS - digmin)) for v in both], DIGITS)
    tvals = format_r([_r_round(float(t), max(1, min(5, DIGITS - 1))) for t in np.asarray(fit.tvalues)[order]], DIGITS)
    pvals = np.asarray(fit.pvalues, float)[order]
    columns = {
        "Estimate": rounded[: len(est)],
        "Std. Error": rounded[len(est) :],
        "t value": tvals,
        "Pr(>|t|)": format_pval(pvals, max(1, min(5, DIGITS - 1))),
    }
    show_stars = bool((pvals < 0.1).any())
    if show_stars:
        stars = [_stars(p) for p in pvals]
        columns[""] = [s.ljust(max(map(len, stars))) for s in stars]
    rw = max(map(len, terms))
    widths = {k: max(len(k), *map(len, v)) for k, v in columns.items()}
    lines = [" " * rw + "".join(" " + k.rjust(w) for k, w in widths.items())]
    for i, term in enumerate(terms):
        lines.append(term.ljust(rw) + "".join(" " + columns[k][i].rjust(w) for k, w in widths.items()))
    return lines + (["---", "Signif. codes:  " + LEGEND] if show_stars else [])
