"""shap's C++ TreeExplainer (path-dependent, one thread) on the trained blend's members, timed on
the holdout rows `explain_min` writes: the peer of `velocast-bench --example explain_min`.

    VELOCAST_WRITE_ROWS=/tmp/holdout.csv cargo run --release -p velocast-bench --example explain_min
    v/bin/python bench/explain_shap.py out/model/model.onnx /tmp/holdout.csv
"""

import os
import sys
import time

import numpy as np
import onnx
import shap

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "crates", "velocast-explain", "tests", "golden"))
from generate import shap_tree, trees_of  # noqa: E402


def main():
    model = onnx.load(sys.argv[1])
    rows = np.loadtxt(sys.argv[2], delimiter=",", dtype=np.float32).astype(np.float64)
    metadata = {p.key: p.value for p in model.metadata_props}
    covers = [[[float(c) for c in tree.split(",")] for tree in member.split(" ")]
              for member in metadata["velocast.node_covers"].split(";")]
    started = time.perf_counter()
    explainers = []
    for node, member_covers in zip([n for n in model.graph.node if n.op_type == "TreeEnsemble"], covers):
        trees = [shap_tree(t, c) for t, c in zip(trees_of(node), member_covers)]
        spec = {"trees": trees, "base_offset": 0.0, "tree_output": "raw_value",
                "objective": "squared_error", "input_dtype": np.float64, "internal_dtype": np.float64}
        explainers.append(shap.TreeExplainer(spec, feature_perturbation="tree_path_dependent"))
    setup = time.perf_counter() - started
    best_one = min(timed(explainers, rows[i:i + 1]) for i in range(200))
    best_all = min(timed(explainers, rows) for _ in range(3))
    print(f"shap {shap.__version__} path-dependent: one row {best_one * 1e6:.1f} µs; "
          f"all {len(rows)} rows {best_all:.3f} s")
    import json
    print(json.dumps({"shap": shap.__version__, "one_row_seconds": best_one,
                      "all_rows_seconds": best_all, "rows": len(rows),
                      "setup_seconds": setup}))


def timed(explainers, rows):
    started = time.perf_counter()
    for explainer in explainers:
        explainer.shap_values(rows, check_additivity=False)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
