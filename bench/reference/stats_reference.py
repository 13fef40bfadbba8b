"""Reference values for the report statistics (src/report/stats/tests.rs).

Run once, paste the printed numbers into the Rust tests:

    python3 -m venv ~/.cache/augflow-bench/ref-venv
    ~/.cache/augflow-bench/ref-venv/bin/pip install numpy scipy statsmodels
    ~/.cache/augflow-bench/ref-venv/bin/python bench/reference/stats_reference.py

Every case is deterministic (exact methods, or seeded bootstraps whose Monte Carlo spread
is printed next to them so the Rust tolerance can be derived from it).
"""

import numpy as np
import scipy
import statsmodels
from scipy import stats
from statsmodels.stats.multitest import multipletests


def show(name, value):
    print(f"{name} = {float(value)!r}")


def mean_diff(x, y, axis=-1):
    return np.mean(x - y, axis=axis)


def sign_flip(name, d):
    d = np.asarray(d, dtype=float)
    # Paired samples (x, y) = (d, 0): permutation_type="samples" swaps x_i and y_i, which
    # flips the sign of d_i. n_resamples=inf asks for the exact test (all 2^n patterns).
    res = stats.permutation_test(
        (d, np.zeros_like(d)), mean_diff, permutation_type="samples",
        n_resamples=np.inf, alternative="two-sided", vectorized=True,
    )
    show(f"{name}.statistic", res.statistic)
    show(f"{name}.pvalue", res.pvalue)


def wilcoxon(name, d, **kwargs):
    res = stats.wilcoxon(d, **kwargs)
    show(f"{name}.statistic", res.statistic)
    show(f"{name}.pvalue", res.pvalue)


def correlation(name, fn, x, y):
    res = fn(x, y)
    show(f"{name}.statistic", res.statistic)
    show(f"{name}.pvalue", res.pvalue)


def bootstrap_spread(name, data, statistic, method, paired=False, resamples=10_000, seeds=200):
    """scipy's CI with many resamples, and the spread of its endpoints at `resamples`."""
    big = stats.bootstrap(data, statistic, n_resamples=200_000, method=method,
                          paired=paired, vectorized=True, rng=0)
    show(f"{name}.low", big.confidence_interval.low)
    show(f"{name}.high", big.confidence_interval.high)
    lows, highs = [], []
    for seed in range(seeds):
        res = stats.bootstrap(data, statistic, n_resamples=resamples, method=method,
                              paired=paired, vectorized=True, rng=seed)
        lows.append(res.confidence_interval.low)
        highs.append(res.confidence_interval.high)
    show(f"{name}.low_sd_at_{resamples}", np.std(lows, ddof=1))
    show(f"{name}.high_sd_at_{resamples}", np.std(highs, ddof=1))


def main():
    print(f"# numpy {np.__version__}, scipy {scipy.__version__}, "
          f"statsmodels {statsmodels.__version__}")

    # Paired sign-flip (permutation) test, exact.
    sign_flip("sign_flip_n5_all_positive", [0.012, 0.020, 0.005, 0.031, 0.017])
    sign_flip("sign_flip_n5_mixed", [0.012, -0.004, 0.005, 0.031, 0.017])
    sign_flip("sign_flip_n8", [0.8, -0.3, 1.9, 0.45, -1.1, 2.3, 0.15, 1.25])

    # Wilcoxon signed-rank.
    wilcoxon("wilcoxon_n5_all_positive", [0.012, 0.020, 0.005, 0.031, 0.017], method="exact")
    wilcoxon("wilcoxon_n8_exact", [0.8, -0.3, 1.9, 0.45, -1.1, 2.3, 0.15, 1.25],
             method="exact")
    # Ties and zeros, n = 15: the normal approximation with tie correction.
    wilcoxon("wilcoxon_ties_zeros_normal",
             [0.0, 1.0, -1.0, 2.0, 2.0, 3.0, -0.5, 0.0, 4.0, 2.0, 1.0, 5.0, -3.0, 6.0, 0.5],
             method="asymptotic", correction=False, zero_method="wilcox")
    # Ties and a zero, n = 8: scipy's "auto" enumerates all 2^8 sign patterns.
    wilcoxon("wilcoxon_ties_auto_n8", [1.0, 2.0, 2.0, -1.0, 3.0, 0.0, 4.0, -2.0],
             method="auto", zero_method="wilcox")

    # Correlations: FID of a condition vs its Δaccuracy.
    fid = [12.5, 30.1, 18.7, 45.2, 22.0, 60.3, 15.9, 38.4]
    delta_acc = [0.021, 0.004, 0.015, -0.006, 0.018, -0.012, 0.010, 0.001]
    correlation("pearson_fid", stats.pearsonr, fid, delta_acc)
    correlation("spearman_fid", stats.spearmanr, fid, delta_acc)
    # Ties in both variables.
    x_ties = [1.0, 2.0, 2.0, 3.0, 4.0, 4.0, 4.0, 5.0, 6.0, 7.0]
    y_ties = [2.0, 1.0, 3.0, 3.0, 5.0, 4.0, 6.0, 6.0, 8.0, 7.0]
    correlation("spearman_ties", stats.spearmanr, x_ties, y_ties)
    correlation("pearson_ties", stats.pearsonr, x_ties, y_ties)

    # Holm.
    for name, p in [("holm_textbook", [0.01, 0.04, 0.03, 0.005]),
                    ("holm_ties_cap", [0.2, 0.01, 0.5, 0.01, 0.04, 0.9])]:
        adjusted = multipletests(p, method="holm")[1]
        for i, value in enumerate(adjusted):
            show(f"{name}[{i}]", value)

    # Bootstrap of a mean of differences (n = 20).
    d = np.array([0.813, -0.327, 1.942, 0.451, -1.108, 2.366, 0.159, 1.257, 0.604, 3.471,
                  -0.218, 0.936, 1.123, 0.057, 2.709, -0.642, 0.388, 1.615, 0.779, 4.133])
    bootstrap_spread("bootstrap_mean_percentile", (d,), np.mean, "percentile")
    bootstrap_spread("bootstrap_mean_bca", (d,), np.mean, "BCa")

    # Bootstrap of an accuracy difference over 300 test images, resampled jointly.
    i = np.arange(300)
    a_correct = ((i * 7) % 10 < 8).astype(float)
    b_correct = ((i * 3 + 1) % 10 < 7).astype(float)
    show("accuracy_difference.estimate", a_correct.mean() - b_correct.mean())
    bootstrap_spread("bootstrap_accuracy_percentile", (a_correct, b_correct), mean_diff,
                     "percentile", paired=True)


if __name__ == "__main__":
    main()
