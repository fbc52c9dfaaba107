"""Tables from the fresh data of ``benchmarks/hierarchy_data.py``,
``benchmarks/hierarchy_population.py`` and ``benchmarks/hierarchy_controls.py``: the exponent
of C per tree level against its window, the depth recovered on held-out RHMs, and the control
summary.

``python benchmarks/hierarchy_analysis.py --peak DIR --train DIR --test DIR --controls DIR``
(each optional) prints the tables.
"""

from __future__ import annotations

import argparse
import glob
from pathlib import Path

import pandas as pd

from hierphase import controls, depth, io, scaling, theory


def _tables(folder: Path, pattern: str = "") -> tuple[pd.DataFrame, pd.DataFrame]:
    cor = pd.concat([io.read_table(f) for f in sorted(glob.glob(f"{folder}/correlations_{pattern}*.parquet"))])
    sus = pd.concat([io.read_table(f) for f in sorted(glob.glob(f"{folder}/susceptibility_{pattern}*.parquet"))])
    keys = ["model", "L", "rule_seed", "noise", "level"]
    return (cor.drop_duplicates(keys + ["distance"]).reset_index(drop=True),
            sus.drop_duplicates(keys).reset_index(drop=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peak", type=Path)
    ap.add_argument("--train", type=Path)
    ap.add_argument("--test", type=Path)
    ap.add_argument("--controls", type=Path)
    args = ap.parse_args()
    pd.set_option("display.width", 250)
    pd.set_option("display.max_rows", 500)
    if args.peak:
        cor, sus = _tables(args.peak)
        table = scaling.level_exponents(cor, sus, a_infinite=theory.correlation_exponent(32, 8, 2))
        cols = ["L", "n_rule_seeds", "peak_noise", "k_min", "k_max", "k_significant", "a", "a_err",
                "chi2_dof", "a_spatial", "chi2_dof_spatial", "a_mean_field", "a_mean_field_spatial"]
        print("per-level exponent at the chi peak (a_mean_field_infinite = "
              f"{theory.correlation_exponent(32, 8, 2):.4f})")
        print(table[cols].round(4).to_string(index=False))
        ex = scaling.correlation_exponents(sus, cor, theory.critical_noise(32, 8, 2), n_boot=50)
        print(ex[["model", "L", "peak_noise", "chi_max", "chi_max_lo", "chi_max_hi", "a", "a_err",
                  "a_chi2_dof", "a_k_max", "a_spatial", "a_spatial_chi2_dof", "nu",
                  "nu_err"]].round(4).to_string(index=False))
    if args.train and args.test:
        train = depth.depth_features(*_tables(args.train))
        test = depth.depth_features(*_tables(args.test))
        for feature in ("L_geometric", "chi_max"):
            cal = depth.calibrate_depth(train, feature)
            est = depth.estimate_depth(test, cal)
            print(f"depth from {feature}: L = {cal.alpha:.3f} + {cal.beta:.3f} x "
                  f"(training residual {cal.residual_sd:.3f} levels, {cal.n} RHMs); "
                  f"exact on {int(est['exact'].sum())} of {len(est)} held-out RHMs")
            print(est[["rule_seed", "L", "s", "peak_noise", "chi_max", "a_first", "L_geometric",
                       "L_estimate", "L_hat", "exact"]].round(3).to_string(index=False))
    if args.controls:
        cor = pd.concat([io.read_table(f) for f in sorted(glob.glob(f"{args.controls}/*_corr.parquet"))])
        sus = pd.concat([io.read_table(f) for f in sorted(glob.glob(f"{args.controls}/*_chi.parquet"))])
        cor = cor.drop_duplicates(["family", "model", "L", "noise", "level", "distance"])
        sus = sus.drop_duplicates(["family", "model", "L", "noise", "level"])
        print(controls.control_summary(cor, sus).round(4).to_string(index=False))


if __name__ == "__main__":
    main()
