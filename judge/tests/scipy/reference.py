"""Reference values for the canary judge's statistics, from SciPy and NumPy.

Reads a JSON list of {"x": [...], "y": [...]} sample pairs from the file named
by the first argument and prints, for each pair, the Mann-Whitney U statistic
of x and the two-sided p-value as scipy.stats.mannwhitneyu computes them with
method="auto" (and with method="asymptotic"), and the Hodges-Lehmann estimate:
the median of all differences x[i] - y[j]. Numbers are printed as strings
(Python's shortest round-trip form) so that they are read back exactly.
"""

import json
import sys

import numpy as np
from scipy import stats


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        pairs = json.load(f)
    out = []
    for pair in pairs:
        x = np.asarray(pair["x"], dtype=float)
        y = np.asarray(pair["y"], dtype=float)
        auto = stats.mannwhitneyu(x, y, alternative="two-sided", method="auto")
        asym = stats.mannwhitneyu(x, y, alternative="two-sided", method="asymptotic")
        out.append(
            {
                "u": repr(float(auto.statistic)),
                "p": repr(float(auto.pvalue)),
                "pAsymptotic": repr(float(asym.pvalue)),
                "hodgesLehmann": repr(float(np.median(np.subtract.outer(x, y)))),
            }
        )
    json.dump({"scipy": __import__("scipy").__version__, "results": out}, sys.stdout)


if __name__ == "__main__":
    main()
