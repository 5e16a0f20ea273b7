#!/usr/bin/env python3
"""Independent reference values for src/eval/stats, written to test/eval/stats-reference.json.

Regenerate (from the repository root):
    python3 tools/stats-reference/generate.py > test/eval/stats-reference.json
The versions that produced the committed file are recorded in its "generator" field (python3 on PATH: Python
3.11.7, SciPy 1.17.1, NumPy 2.4.6). Debian 12's /usr/bin/python3 with python3-scipy 1.10.1 gives the same values to
1e-14 except the Wilcoxon p of "n12-ties-zeros": SciPy before 1.15 switches to the normal approximation when there
are ties or zeros, newer SciPy (and src/eval/stats) enumerates every sign flip when n <= 13.
Nothing here is used by the app or by npm test at run time; the tests only read the JSON.

Sources: SciPy for the tests, distributions and the bootstrap; the Wilson interval by its closed formula and
Newcombe (1998, Stat Med 17:857, Table I, method 3) worked examples; Holm by a plain loop over Holm's (1979) rule.
"""
import inspect
import json
import math
import platform
import sys

import numpy as np
import scipy
from scipy import stats, special

COMMAND = "python3 tools/stats-reference/generate.py > test/eval/stats-reference.json"


def r(x):
    """Round data to 6 decimals so the JSON carries exactly the values both sides use."""
    return [float(round(v, 6)) for v in x]


def datasets():
    rng = np.random.default_rng(20260107)
    out = []
    # Small, no ties, no zeros: SciPy's exact Wilcoxon distribution.
    b = rng.normal(3.0, 1.0, 10); a = b + rng.normal(0.4, 1.0, 10)
    out.append(("n10-continuous", b, a))
    b = rng.normal(3.0, 1.0, 30); a = b + rng.normal(-0.2, 0.8, 30)
    out.append(("n30-continuous", b, a))
    b = rng.normal(0, 1, 50); a = b + rng.normal(0.1, 1, 50)
    out.append(("n50-continuous", b, a))
    # Small with ties and zeros: SciPy enumerates every sign flip (n <= 13).
    b = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12.0])
    a = b + np.array([0.5, -0.5, 1, 0, 1.5, 2, -1, 0.5, 2, 0, 1, 3.0])
    out.append(("n12-ties-zeros", b, a))
    # Moderate with ties: normal approximation with tie correction.
    b = np.round(rng.uniform(0, 10, 40), 0); a = np.round(b + rng.normal(0.8, 2, 40), 0)
    out.append(("n40-ties-zeros", b, a))
    # Large continuous (chrF-like) and large with many zeros and ties (F1-like on a coarse grid).
    b = rng.uniform(20, 60, 300); a = b + rng.normal(0.5, 4, 300)
    out.append(("n300-chrf-like", b, a))
    b = np.round(rng.uniform(0, 1, 120) * 4) / 4; a = np.clip(np.round((b + rng.normal(0.05, 0.3, 120)) * 4) / 4, 0, 1)
    out.append(("n120-f1-grid", b, a))
    # The edges of SciPy's method='auto' choice (fixed differences, no draws): ties without zeros and zeros without
    # ties between 14 and 50 items (normal approximation), ties at 13 items (every sign flip) and at 14 (normal).
    tied = [0.5, -0.5, 1, 1, 1.5, -2, 2, 0.5, 3, -1, 2.5, 2.5, 0.75, -0.25, 1, 4, 0.5, 1.25, -1.5, 2]
    b = np.arange(1, 21, dtype=float)
    out.append(("n20-ties-no-zeros", b, b + np.array(tied)))
    distinct = [0.5, -0.3, 1.1, 0, 1.7, -2.2, 2.9, 0.45, 3.3, -1.05, 2.6, 0, 0.8, -0.15, 1.35, 4.1, 0.6, 1.2, -1.4, 2.05]
    out.append(("n20-zeros-no-ties", b, b + np.array(distinct)))
    out.append(("n13-ties", b[:13], b[:13] + np.array(tied[:13])))
    out.append(("n14-ties", b[:14], b[:14] + np.array(tied[:14])))
    return [(name, r(b), r(a)) for name, b, a in out]


def paired_tests():
    cases = []
    for name, base, arm in datasets():
        x = np.array(arm); y = np.array(base)
        w = stats.wilcoxon(x, y)  # defaults: zero_method='wilcox', correction=False, method='auto'
        t = stats.ttest_rel(x, y)
        cases.append({"name": name, "baseline": base, "arm": arm,
                      "wilcoxon": {"statistic": float(w.statistic), "p": float(w.pvalue)},
                      "ttest_rel": {"statistic": float(t.statistic), "p": float(t.pvalue), "df": float(t.df)}})
    return cases


def mcnemar():
    pairs = [(3, 10), (10, 3), (5, 5), (0, 7), (12, 25), (40, 60), (1, 200), (100, 150), (560, 500), (2000, 2200), (6, 5)]
    return [{"b": b, "c": c, "p": float(stats.binomtest(min(b, c), b + c, 0.5, alternative="two-sided").pvalue)} for b, c in pairs]


def wilson_formula(x, n, z):
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return [max(0.0, centre - half), min(1.0, centre + half)]


def wilson():
    z95 = float(stats.norm.ppf(0.975))
    # Newcombe 1998 Table I, method 3 (score, no continuity correction), published to 4 decimals.
    newcombe = [{"x": 81, "n": 263, "published": [0.2553, 0.3662]},
                {"x": 15, "n": 148, "published": [0.0624, 0.1605]},
                {"x": 0, "n": 20, "published": [0.0, 0.1611]},
                {"x": 1, "n": 29, "published": [0.0061, 0.1718]}]
    for c in newcombe:
        c["formula"] = wilson_formula(c["x"], c["n"], z95)
        assert all(abs(f - p) < 6e-5 for f, p in zip(c["formula"], c["published"])), c
    extra = [{"x": x, "n": n, "confidence": conf, "formula": wilson_formula(x, n, float(stats.norm.ppf(1 - (1 - conf) / 2)))}
             for x, n, conf in [(62, 125, 0.95), (125, 125, 0.95), (1, 125, 0.9), (300, 750, 0.99), (37.5, 125, 0.95)]]
    return {"newcombe1998": newcombe, "formula": extra}


def holm_loop(p):
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    adj = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return adj


def holm():
    families = [[0.01, 0.04, 0.03, 0.005], [0.2, 0.001, 0.049, 0.5, 0.012, 0.0001, 0.02], [1.0, 0.9, 0.95]]
    return [{"p": f, "adjusted": holm_loop(f)} for f in families]


def special_values():
    zs = [-8.5, -3.2, -1.0, 0.3, 1.959963984540054, 4.0, 12.0]
    qs = [1e-10, 0.001, 0.025, 0.2, 0.5, 0.8, 0.975, 0.999999]
    ts = [(2.1, 9), (-0.7, 29), (5.0, 3), (12.0, 299), (0.01, 1)]
    return {
        "normal_sf": [{"z": z, "sf": float(stats.norm.sf(z))} for z in zs],
        "normal_ppf": [{"q": q, "ppf": float(stats.norm.ppf(q))} for q in qs],
        "t_two_sided": [{"t": t, "df": df, "p": float(2 * stats.t.sf(abs(t), df))} for t, df in ts],
        "log_gamma": [{"x": x, "lgamma": float(special.gammaln(x))} for x in [0.1, 0.5, 1, 3.7, 50.5, 1000]],
        "binom_cdf": [{"k": k, "n": n, "cdf": float(stats.binom.cdf(k, n, 0.5))} for k, n in [(0, 7), (3, 13), (40, 100), (10, 400), (2000, 4200)]],
    }


def bootstrap():
    rng = np.random.default_rng(7)
    base = rng.uniform(0, 1, 200)
    arm = base + rng.normal(0.03, 0.1, 200)
    base, arm = r(base), r(arm)
    # SciPy >= 1.15 names the generator `rng`; Debian 12's SciPy 1.10 calls it `random_state`.
    seed_arg = {"rng": np.random.default_rng(11)} if "rng" in inspect.signature(stats.bootstrap).parameters \
        else {"random_state": np.random.default_rng(11)}
    res = stats.bootstrap((np.array(arm), np.array(base)), lambda a, b, axis: np.mean(a - b, axis=axis), paired=True,
                          vectorized=True, method="percentile", n_resamples=10000, confidence_level=0.95, **seed_arg)
    return {"baseline": base, "arm": arm, "confidence": 0.95, "n_resamples": 10000,
            "ci": [float(res.confidence_interval.low), float(res.confidence_interval.high)],
            "standard_error": float(res.standard_error)}


def compare_case():
    """A whole compareArms call: two arms against a baseline, two languages, one sample per item, binary.
    Expected p: SciPy binomtest on the discordant counts; p_holm: Holm's loop over the 6 comparisons."""
    rng = np.random.default_rng(99)
    langs = {"sw": 60, "ja": 45}
    obs = []
    truth = {}
    for lang, n in langs.items():
        base = (rng.uniform(0, 1, n) < 0.45).astype(int)
        a = np.where(rng.uniform(0, 1, n) < 0.2, 1 - base, base)  # flips
        b = np.where(rng.uniform(0, 1, n) < 0.15, 1, base)        # only helps
        for arm, vals in [("baseline", base), ("plan", a), ("boost", b)]:
            for i, v in enumerate(vals):
                obs.append({"arm": arm, "item": f"q{i}", "lang": lang, "sample": 0, "value": int(v)})
            truth[(arm, lang)] = vals
    comparisons = []
    for arm in ["plan", "boost"]:
        for lang in ["ja", "sw", "all"]:
            if lang == "all":
                base = np.concatenate([truth[("baseline", l)] for l in langs]); vals = np.concatenate([truth[(arm, l)] for l in langs])
            else:
                base = truth[("baseline", lang)]; vals = truth[(arm, lang)]
            bo = int(np.sum((base == 1) & (vals == 0))); ao = int(np.sum((base == 0) & (vals == 1)))
            p = 1.0 if bo + ao == 0 else float(stats.binomtest(min(bo, ao), bo + ao, 0.5).pvalue)
            comparisons.append({"arm": arm, "language": lang, "n": int(len(base)), "baseline_score": float(base.mean()),
                                "arm_score": float(vals.mean()), "baseline_only": bo, "arm_only": ao, "p": p})
    adj = holm_loop([c["p"] for c in comparisons])
    for c, a in zip(comparisons, adj):
        c["p_holm"] = a
    return {"observations": obs, "comparisons": comparisons}


def main():
    out = {
        "generator": {"command": COMMAND, "python": platform.python_version(), "numpy": np.__version__,
                      "scipy": scipy.__version__, "platform": platform.platform()},
        "special": special_values(),
        "mcnemar": mcnemar(),
        "wilson": wilson(),
        "holm": holm(),
        "paired_tests": paired_tests(),
        "bootstrap": bootstrap(),
        "compare": compare_case(),
    }
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
