"""Quantile-to-normal scaling of a number (as scikit-learn's QuantileTransformer with
output_distribution="normal", and Gorishniy et al. 2021's default for MLPs on tables): each
value goes to the standard normal quantile of its rank among the training values, so an
outlier (a diamond of size 0, an income of 10^9) lands near +-5, never at 10^4 sigma."""

from __future__ import annotations

import numpy as np

N_QUANTILES = 1000
CLIP = 1e-7  # ranks 0 and 1 would map to -inf and inf: scikit-learn's bounds
# Acklam's coefficients for normal_ppf (the ONNX export builds the same polynomials)
ACKLAM = (
    (-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.3577518672690,
     -30.66479806614716, 2.506628277459239),
    (-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972,
     -13.28068155288572),
    (-7.784894002430293e-03, -0.3223964580411365, -2.400758277161838, -2.549732539343734,
     4.374664141464968, 2.938163982698783),
    (7.784695709041462e-03, 0.3224671290700398, 2.445134137142996, 3.754408661907416),
)  # fmt: skip


def fit_quantiles(values: np.ndarray, n: int = N_QUANTILES) -> list[float]:
    """The training values' quantiles at n evenly spaced ranks (fewer for fewer values)."""
    present = values[~np.isnan(values)]
    if len(present) == 0:
        return [0.0, 0.0]
    ranks = np.linspace(0.0, 1.0, min(n, max(len(present), 2)))
    return [float(q) for q in np.quantile(present, ranks)]


def to_normal(x: np.ndarray, quantiles: list[float]) -> np.ndarray:
    """Values -> rank among the training values (interpolated; a tie takes the middle of
    its ranks, by reading the quantiles up and down) -> normal quantile."""
    q = np.asarray(quantiles)
    ranks = np.linspace(0.0, 1.0, len(q))
    rank = 0.5 * (np.interp(x, q, ranks) - np.interp(-x, -q[::-1], -ranks[::-1]))
    return normal_ppf(np.clip(rank, CLIP, 1.0 - CLIP))


def normal_ppf(p: np.ndarray) -> np.ndarray:
    """The standard normal's inverse CDF (Acklam's rational approximation, relative error
    below 1.2e-9; NumPy has no erfinv and scipy is not a dependency)."""
    a, b, c, d = ACKLAM
    p = np.asarray(p, dtype=np.float64)
    out = np.empty_like(p)
    low, high = p < 0.02425, p > 1 - 0.02425
    mid = ~(low | high)
    r = p[mid] - 0.5
    s = r * r
    num = ((((a[0] * s + a[1]) * s + a[2]) * s + a[3]) * s + a[4]) * s + a[5]
    den = ((((b[0] * s + b[1]) * s + b[2]) * s + b[3]) * s + b[4]) * s + 1.0
    out[mid] = r * num / den
    for mask, sign in ((low, 1.0), (high, -1.0)):
        t = np.sqrt(-2.0 * np.log(p[mask] if sign > 0 else 1.0 - p[mask]))
        num = ((((c[0] * t + c[1]) * t + c[2]) * t + c[3]) * t + c[4]) * t + c[5]
        den = (((d[0] * t + d[1]) * t + d[2]) * t + d[3]) * t + 1.0
        out[mask] = sign * num / den
    return out
