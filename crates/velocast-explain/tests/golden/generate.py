"""Golden SHAP values from the `shap` package for the blend in blend.onnx.

Each member's trees are read from the ONNX file (TreeEnsemble, opset 5 of ai.onnx.ml) with the
node covers the file carries (metadata `velocast.node_covers`, depth-first pre-order) and
handed to `shap.TreeExplainer` as its custom tree dictionaries. Velocast splits send
`x < t` left; shap sends `x <= t` left, so each threshold becomes the largest float32 below
it, which routes every float32 value the same way. Writes golden.json: per member, both
modes' expected value and SHAP values for the 200 rows of rows.csv (interventional against the
100 rows of background.csv). shap's interventional algorithm keeps intermediate weights in
32-bit floats, so the interventional values are also computed in double precision through
shap's path-dependent algorithm, one background row at a time, with covers that send every
split to that row's side (`interventional_double`).

    python3 -m venv v && v/bin/pip install "shap==0.51.0" onnx
    v/bin/python crates/velocast-explain/tests/golden/generate.py
"""

import json
import os
import sys

import numpy as np
import onnx
import shap
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


def attribute(node, name):
    for a in node.attribute:
        if a.name == name:
            if a.type == onnx.AttributeProto.TENSOR:
                return numpy_helper.to_array(a.t)
            if a.type == onnx.AttributeProto.INTS:
                return list(a.ints)
            if a.type == onnx.AttributeProto.INT:
                return a.i
    raise KeyError(name)


def trees_of(node):
    """Each tree as pre-order node records, the order the covers are written in."""
    roots = attribute(node, "tree_roots")
    features = attribute(node, "nodes_featureids")
    splits = attribute(node, "nodes_splits").astype(np.float32)
    true_ids, true_leafs = attribute(node, "nodes_truenodeids"), attribute(node, "nodes_trueleafs")
    false_ids, false_leafs = attribute(node, "nodes_falsenodeids"), attribute(node, "nodes_falseleafs")
    weights = attribute(node, "leaf_weights").astype(np.float32)
    trees = []
    for root in roots:
        out = []

        def leaf(index):
            out.append(("leaf", float(weights[index])))
            return len(out) - 1

        def interior(i):
            at = len(out)
            out.append(None)
            children = []
            for ids, leafs in ((true_ids, true_leafs), (false_ids, false_leafs)):
                children.append(leaf(ids[i]) if leafs[i] == 1 else interior(ids[i]))
            out[at] = ("split", int(features[i]), splits[i], children[0], children[1])
            return at

        if true_leafs[root] == 1 and false_leafs[root] == 1 and true_ids[root] == false_ids[root]:
            leaf(true_ids[root])
        else:
            interior(root)
        trees.append(out)
    return trees


def shap_tree(nodes, covers):
    n = len(nodes)
    left = np.full(n, -1, dtype=np.int32)
    right = np.full(n, -1, dtype=np.int32)
    features = np.full(n, -2, dtype=np.int32)
    thresholds = np.zeros(n, dtype=np.float64)
    values = np.zeros((n, 1), dtype=np.float64)
    for i, record in enumerate(nodes):
        if record[0] == "leaf":
            values[i, 0] = record[1]
        else:
            _, feature, split, l, r = record
            left[i], right[i], features[i] = l, r, feature
            thresholds[i] = float(np.nextafter(np.float32(split), np.float32(-np.inf)))
    return {
        "children_left": left,
        "children_right": right,
        "children_default": right.copy(),
        "features": features,
        "thresholds": thresholds,
        "values": values,
        "node_sample_weight": np.asarray(covers, dtype=np.float64),
    }


TINY = 1e-30


def single_background_covers(tree, z):
    """Covers under which path-dependent TreeSHAP is interventional TreeSHAP against the one
    background row `z`: at every split the child z goes to keeps its parent's weight and the
    other gets 1e-30 of it. The conditional expectation of a coalition then follows z at every
    split on a feature outside it (up to 1e-30, nothing in double precision), which is the
    interventional game `f(x_S, z_rest)`; no weight is zero, so every fraction is finite
    (trees are at most 10 deep: 1e-300 stays a normal double)."""
    n = len(tree["children_left"])
    weights = np.zeros(n, dtype=np.float64)
    stack = [(0, 1.0)]
    while stack:
        node, weight = stack.pop()
        weights[node] = weight
        left, right = tree["children_left"][node], tree["children_right"][node]
        if left < 0:
            continue
        z_left = z[tree["features"][node]] <= tree["thresholds"][node]
        stack.append((left, weight if z_left else weight * TINY))
        stack.append((right, weight * TINY if z_left else weight))
    return weights


def interventional_in_double(trees, rows, background):
    """Interventional SHAP values averaged over the background, each background row through
    shap's double-precision path-dependent algorithm (see single_background_covers)."""
    total = np.zeros_like(rows)
    expected = 0.0
    for z in background:
        spec = {"trees": [dict(t, node_sample_weight=single_background_covers(t, z)) for t in trees],
                "base_offset": 0.0, "tree_output": "raw_value", "objective": "squared_error",
                "input_dtype": np.float64, "internal_dtype": np.float64}
        explainer = shap.TreeExplainer(spec, feature_perturbation="tree_path_dependent")
        total += explainer.shap_values(rows, check_additivity=False)
        expected += float(np.ravel(explainer.expected_value)[0])
    return expected / len(background), total / len(background)


def read_rows(name):
    return np.loadtxt(os.path.join(HERE, name), delimiter=",", dtype=np.float32).astype(np.float64)


def main():
    model = onnx.load(os.path.join(HERE, "blend.onnx"))
    metadata = {p.key: p.value for p in model.metadata_props}
    covers = [[[float(c) for c in tree.split(",")] for tree in member.split(" ")]
              for member in metadata["velocast.node_covers"].split(";")]
    ensembles = [n for n in model.graph.node if n.op_type == "TreeEnsemble"]
    rows = read_rows("rows.csv")
    background = read_rows("background.csv")
    members = []
    for node, member_covers in zip(ensembles, covers):
        trees = [shap_tree(t, c) for t, c in zip(trees_of(node), member_covers)]
        spec = {"trees": trees, "base_offset": 0.0, "tree_output": "raw_value",
                "objective": "squared_error", "input_dtype": np.float64,
                "internal_dtype": np.float64}
        path = shap.TreeExplainer(spec, feature_perturbation="tree_path_dependent")
        path_values = path.shap_values(rows, check_additivity=True)
        interventional = shap.TreeExplainer(spec, data=background,
                                            feature_perturbation="interventional")
        interventional_values = interventional.shap_values(rows, check_additivity=True)
        double_expected, double_values = interventional_in_double(trees, rows, background)
        members.append({
            "name": node.name.removeprefix("trees_"),
            "path_dependent": {"expected_value": float(np.ravel(path.expected_value)[0]),
                               "values": path_values.tolist()},
            # shap's own interventional algorithm keeps its path weights in float (32 bits).
            "interventional": {"expected_value": float(np.ravel(interventional.expected_value)[0]),
                               "values": interventional_values.tolist()},
            # The same quantity through shap's double-precision path-dependent algorithm, one
            # background row at a time.
            "interventional_double": {"expected_value": double_expected,
                                      "values": double_values.tolist()},
        })
    golden = {"shap": shap.__version__, "numpy": np.__version__, "rows": len(rows),
              "background_rows": len(background), "members": members}
    with open(os.path.join(HERE, "golden.json"), "w") as fh:
        json.dump(golden, fh)
        fh.write("\n")
    print(f"golden.json: {len(members)} members, {len(rows)} rows", file=sys.stderr)


if __name__ == "__main__":
    main()
