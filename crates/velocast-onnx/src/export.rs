//! Writing a [`Blend`] as an ONNX model: one `ai.onnx.ml` `TreeEnsemble` (opset 5) per member,
//! then the inverse links, weights and a floor at zero as standard operators.

use prost::Message;
use velocast_trees::{Blend, Ensemble, Link, Node};

use crate::proto::{
    AttributeProto, Dimension, DimensionValue, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, StringStringEntryProto, TensorProto, TensorShapeProto, TensorTypeProto,
    TypeProto, ValueInfoProto, attribute_type, data_type,
};

/// IR version 10 with default-domain opset 21: both accepted by ONNX Runtime 1.31 and by the
/// `onnx` checker, and they include everything the graph uses.
pub const IR_VERSION: i64 = 10;
pub const DEFAULT_OPSET: i64 = 21;
pub const ML_DOMAIN: &str = "ai.onnx.ml";
pub const ML_OPSET: i64 = 5;
/// `TreeEnsemble` node mode 1: `BRANCH_LT`, the true branch taken when `x < split`.
const BRANCH_LT: u8 = 1;

/// Names and metadata of the exported model.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub graph_name: String,
    /// Input tensor `[N, n_features]` of f32.
    pub input_name: String,
    /// Output tensor `[N, 1]` of f32 counts.
    pub output_name: String,
    pub n_features: usize,
    pub producer_version: String,
    pub doc_string: String,
    /// `metadata_props` entries (signature, card digest, ...).
    pub metadata: Vec<(String, String)>,
}

/// Encodes the blend as ONNX protobuf bytes.
pub fn export(blend: &Blend, options: &ExportOptions) -> Vec<u8> {
    model_proto(blend, options).encode_to_vec()
}

pub fn model_proto(blend: &Blend, options: &ExportOptions) -> ModelProto {
    let mut graph = GraphBuilder::default();
    let mut weighted = Vec::new();
    for (i, member) in blend.members.iter().enumerate() {
        let score = format!("score_{i}");
        graph.nodes.push(tree_ensemble_node(
            &member.ensemble,
            &options.input_name,
            &score,
            &format!("trees_{}", member.name),
        ));
        let count = match member.ensemble.link {
            Link::Identity => score,
            Link::Log => graph.op("Exp", &[&score], &format!("count_{i}")),
            Link::Log1p => {
                let exp = graph.op("Exp", &[&score], &format!("exp_{i}"));
                let one = graph.scalar(&format!("one_{i}"), 1.0);
                graph.op("Sub", &[&exp, &one], &format!("count_{i}"))
            }
        };
        weighted.push(if member.weight == 1.0 {
            count
        } else {
            let weight = graph.scalar(&format!("weight_{i}"), member.weight as f32);
            graph.op("Mul", &[&count, &weight], &format!("weighted_{i}"))
        });
    }
    let total = match weighted.as_slice() {
        [single] => single.clone(),
        many => {
            let inputs: Vec<&str> = many.iter().map(String::as_str).collect();
            graph.op("Sum", &inputs, "total")
        }
    };
    // Demand is never negative; a raw-target tree can dip below zero at quiet hours.
    graph.nodes.push(NodeProto {
        input: vec![total],
        output: vec![options.output_name.clone()],
        name: "floor_at_zero".to_owned(),
        op_type: "Relu".to_owned(),
        ..NodeProto::default()
    });

    ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![
            OperatorSetIdProto {
                domain: String::new(),
                version: DEFAULT_OPSET,
            },
            OperatorSetIdProto {
                domain: ML_DOMAIN.to_owned(),
                version: ML_OPSET,
            },
        ],
        producer_name: "velocast".to_owned(),
        producer_version: options.producer_version.clone(),
        domain: "dev.velocast".to_owned(),
        model_version: 1,
        doc_string: options.doc_string.clone(),
        graph: Some(GraphProto {
            node: graph.nodes,
            name: options.graph_name.clone(),
            initializer: graph.initializers,
            doc_string: String::new(),
            input: vec![tensor_value_info(
                &options.input_name,
                options.n_features as i64,
            )],
            output: vec![tensor_value_info(&options.output_name, 1)],
        }),
        metadata_props: options
            .metadata
            .iter()
            .cloned()
            .chain(
                crate::covers::encode(blend)
                    .map(|covers| (crate::covers::NODE_COVERS_KEY.to_owned(), covers)),
            )
            .map(|(key, value)| StringStringEntryProto { key, value })
            .collect(),
    }
}

#[derive(Default)]
struct GraphBuilder {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
}

impl GraphBuilder {
    fn op(&mut self, op_type: &str, inputs: &[&str], output: &str) -> String {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| (*s).to_owned()).collect(),
            output: vec![output.to_owned()],
            name: output.to_owned(),
            op_type: op_type.to_owned(),
            ..NodeProto::default()
        });
        output.to_owned()
    }

    fn scalar(&mut self, name: &str, value: f32) -> String {
        self.initializers.push(TensorProto {
            dims: vec![],
            data_type: data_type::FLOAT,
            name: name.to_owned(),
            raw_data: value.to_le_bytes().to_vec(),
            ..TensorProto::default()
        });
        name.to_owned()
    }
}

fn tensor_value_info(name: &str, columns: i64) -> ValueInfoProto {
    ValueInfoProto {
        name: name.to_owned(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: data_type::FLOAT,
                shape: Some(TensorShapeProto {
                    dim: vec![
                        Dimension {
                            value: Some(DimensionValue::DimParam("N".to_owned())),
                        },
                        Dimension {
                            value: Some(DimensionValue::DimValue(columns)),
                        },
                    ],
                }),
            }),
        }),
        doc_string: String::new(),
    }
}

fn ints(name: &str, values: Vec<i64>) -> AttributeProto {
    AttributeProto {
        name: name.to_owned(),
        r#type: attribute_type::INTS,
        ints: values,
        ..AttributeProto::default()
    }
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.to_owned(),
        r#type: attribute_type::INT,
        i: value,
        ..AttributeProto::default()
    }
}

fn tensor_attribute(name: &str, data_type: i32, len: usize, raw_data: Vec<u8>) -> AttributeProto {
    AttributeProto {
        name: name.to_owned(),
        r#type: attribute_type::TENSOR,
        t: Some(TensorProto {
            dims: vec![len as i64],
            data_type,
            raw_data,
            ..TensorProto::default()
        }),
        ..AttributeProto::default()
    }
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The `nodes_*` and `leaf_*` arrays of `TreeEnsemble` for one ensemble.
#[derive(Default)]
struct Encoded {
    tree_roots: Vec<i64>,
    featureids: Vec<i64>,
    splits: Vec<f32>,
    truenodeids: Vec<i64>,
    trueleafs: Vec<i64>,
    falsenodeids: Vec<i64>,
    falseleafs: Vec<i64>,
    leaf_weights: Vec<f32>,
}

impl Encoded {
    /// Index of a child in `nodes_*` (interior) or `leaf_*` (leaf), and which one it is.
    fn child(&mut self, nodes: &[Node], index: usize) -> (i64, i64) {
        match nodes[index] {
            Node::Leaf { value, .. } => {
                self.leaf_weights.push(value);
                (self.leaf_weights.len() as i64 - 1, 1)
            }
            Node::Split { .. } => (self.interior(nodes, index), 0),
        }
    }

    /// Appends an interior node (and, depth first, its subtree); returns its position.
    fn interior(&mut self, nodes: &[Node], index: usize) -> i64 {
        let position = self.featureids.len();
        self.featureids.push(0);
        self.splits.push(0.0);
        self.truenodeids.push(0);
        self.trueleafs.push(0);
        self.falsenodeids.push(0);
        self.falseleafs.push(0);
        if let Node::Split {
            feature,
            threshold,
            left,
            right,
            ..
        } = nodes[index]
        {
            self.featureids[position] = i64::from(feature);
            self.splits[position] = threshold;
            let (true_id, true_leaf) = self.child(nodes, left as usize);
            let (false_id, false_leaf) = self.child(nodes, right as usize);
            self.truenodeids[position] = true_id;
            self.trueleafs[position] = true_leaf;
            self.falsenodeids[position] = false_id;
            self.falseleafs[position] = false_leaf;
        }
        position as i64
    }
}

fn tree_ensemble_node(ensemble: &Ensemble, input: &str, output: &str, name: &str) -> NodeProto {
    let mut encoded = Encoded::default();
    for tree in &ensemble.trees {
        match tree.nodes.first() {
            Some(Node::Split { .. }) => {
                let root = encoded.interior(&tree.nodes, 0);
                encoded.tree_roots.push(root);
            }
            Some(Node::Leaf { value, .. }) => {
                // A lone leaf is one interior entry whose two branches are the same leaf.
                let leaf = encoded.leaf_weights.len() as i64;
                encoded.leaf_weights.push(*value);
                encoded.tree_roots.push(encoded.featureids.len() as i64);
                encoded.featureids.push(0);
                encoded.splits.push(0.0);
                encoded.truenodeids.push(leaf);
                encoded.trueleafs.push(1);
                encoded.falsenodeids.push(leaf);
                encoded.falseleafs.push(1);
            }
            None => {}
        }
    }
    let interior = encoded.featureids.len();
    let leaves = encoded.leaf_weights.len();
    NodeProto {
        input: vec![input.to_owned()],
        output: vec![output.to_owned()],
        name: name.to_owned(),
        op_type: "TreeEnsemble".to_owned(),
        domain: ML_DOMAIN.to_owned(),
        attribute: vec![
            int("aggregate_function", 1),
            int("n_targets", 1),
            int("post_transform", 0),
            ints("tree_roots", encoded.tree_roots),
            ints("nodes_featureids", encoded.featureids),
            tensor_attribute(
                "nodes_splits",
                data_type::FLOAT,
                interior,
                f32_bytes(&encoded.splits),
            ),
            tensor_attribute(
                "nodes_modes",
                data_type::UINT8,
                interior,
                vec![BRANCH_LT; interior],
            ),
            ints("nodes_truenodeids", encoded.truenodeids),
            ints("nodes_trueleafs", encoded.trueleafs),
            ints("nodes_falsenodeids", encoded.falsenodeids),
            ints("nodes_falseleafs", encoded.falseleafs),
            ints("leaf_targetids", vec![0; leaves]),
            tensor_attribute(
                "leaf_weights",
                data_type::FLOAT,
                leaves,
                f32_bytes(&encoded.leaf_weights),
            ),
        ],
        doc_string: String::new(),
    }
}
