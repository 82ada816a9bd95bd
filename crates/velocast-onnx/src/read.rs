//! Reading back what [`crate::export`] wrote: metadata, shapes and the blend of tree ensembles.
//!
//! Decoding is pure data: no operator runs and nothing executes, so reading an untrusted file
//! cannot run code. Anything that does not fit the expected shape is a typed error.

use std::collections::HashMap;

use prost::Message;
use thiserror::Error;
use velocast_trees::{Blend, Ensemble, Link, Member, Node, Tree};

use crate::export::ML_DOMAIN;
use crate::proto::{AttributeProto, DimensionValue, ModelProto, NodeProto, TensorProto, data_type};

#[derive(Debug, Error, PartialEq)]
pub enum ReadError {
    #[error("not an ONNX model: {0}")]
    Decode(String),
    #[error("the model has no graph")]
    NoGraph,
    #[error("node `{node}`: attribute `{attribute}` is missing or malformed")]
    Attribute {
        node: String,
        attribute: &'static str,
    },
    #[error("node `{node}`: index {index} out of range in `{attribute}`")]
    Index {
        node: String,
        attribute: &'static str,
        index: i64,
    },
    #[error("node `{node}`: unsupported {what}")]
    Unsupported { node: String, what: String },
    #[error("the graph does not have the shape Velocast exports: {0}")]
    Shape(String),
    #[error("metadata `{key}` is malformed: {problem}")]
    Metadata { key: &'static str, problem: String },
}

/// What a model file says about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    pub input_name: String,
    pub output_name: String,
    /// Columns of the input, when fixed.
    pub n_features: Option<i64>,
    pub metadata: HashMap<String, String>,
    pub blend: Blend,
    /// Training rows per node (member → tree → node), when the file carries them: what
    /// path-dependent explanations weigh paths by.
    pub covers: Option<Vec<Vec<Vec<f64>>>>,
}

pub fn decode(bytes: &[u8]) -> Result<ModelProto, ReadError> {
    ModelProto::decode(bytes).map_err(|e| ReadError::Decode(e.to_string()))
}

/// Decodes a model and rebuilds its blend.
pub fn read(bytes: &[u8]) -> Result<ModelInfo, ReadError> {
    let model = decode(bytes)?;
    let graph = model.graph.as_ref().ok_or(ReadError::NoGraph)?;
    let input = graph
        .input
        .first()
        .ok_or_else(|| ReadError::Shape("no input".into()))?;
    let output = graph
        .output
        .first()
        .ok_or_else(|| ReadError::Shape("no output".into()))?;
    let n_features = input
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .and_then(|t| t.shape.as_ref())
        .and_then(|s| s.dim.get(1))
        .and_then(|d| match d.value {
            Some(DimensionValue::DimValue(v)) => Some(v),
            _ => None,
        });
    let scalars: HashMap<&str, f32> = graph
        .initializer
        .iter()
        .filter_map(|t| scalar_value(t).map(|v| (t.name.as_str(), v)))
        .collect();
    let consumers = |name: &str| -> Vec<&NodeProto> {
        graph
            .node
            .iter()
            .filter(|n| n.input.iter().any(|i| i == name))
            .collect()
    };

    let mut members = Vec::new();
    for node in graph
        .node
        .iter()
        .filter(|n| n.op_type == "TreeEnsemble" && n.domain == ML_DOMAIN)
    {
        let trees = decode_trees(node)?;
        let name = node
            .name
            .strip_prefix("trees_")
            .unwrap_or(&node.name)
            .to_owned();
        let first_output = |node: &NodeProto| {
            node.output
                .first()
                .cloned()
                .ok_or_else(|| ReadError::Shape(format!("node `{}` has no output", node.name)))
        };
        let score = first_output(node)?;
        // Follow the chain: [Exp [Sub one]] [Mul weight].
        let mut link = Link::Identity;
        let mut current = score;
        if let [next] = consumers(&current).as_slice()
            && next.op_type == "Exp"
        {
            link = Link::Log;
            current = first_output(next)?;
            if let [sub] = consumers(&current).as_slice()
                && sub.op_type == "Sub"
                && sub.input.get(1).and_then(|i| scalars.get(i.as_str())) == Some(&1.0)
            {
                link = Link::Log1p;
                current = first_output(sub)?;
            }
        }
        let mut weight = 1.0;
        if let [mul] = consumers(&current).as_slice()
            && mul.op_type == "Mul"
            && let Some(w) = mul.input.get(1).and_then(|i| scalars.get(i.as_str()))
        {
            weight = f64::from(*w);
        }
        members.push(Member {
            name,
            weight,
            ensemble: Ensemble { trees, link },
        });
    }
    if members.is_empty() {
        return Err(ReadError::Shape("no TreeEnsemble node".into()));
    }
    let metadata: HashMap<String, String> = model
        .metadata_props
        .iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect();
    let blend = Blend { members };
    let covers = metadata
        .get(crate::covers::NODE_COVERS_KEY)
        .map(|text| crate::covers::decode(text, &blend))
        .transpose()?;
    Ok(ModelInfo {
        input_name: input.name.clone(),
        output_name: output.name.clone(),
        n_features,
        metadata,
        blend,
        covers,
    })
}

fn scalar_value(tensor: &TensorProto) -> Option<f32> {
    if tensor.data_type != data_type::FLOAT || !tensor.dims.is_empty() {
        return None;
    }
    match (tensor.raw_data.as_slice(), tensor.float_data.as_slice()) {
        (raw, _) if raw.len() == 4 => Some(f32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]])),
        (_, [value]) => Some(*value),
        _ => None,
    }
}

fn attribute<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn ints<'a>(node: &'a NodeProto, name: &'static str) -> Result<&'a [i64], ReadError> {
    attribute(node, name)
        .map(|a| a.ints.as_slice())
        .ok_or_else(|| ReadError::Attribute {
            node: node.name.clone(),
            attribute: name,
        })
}

fn f32_tensor(node: &NodeProto, name: &'static str) -> Result<Vec<f32>, ReadError> {
    let malformed = || ReadError::Attribute {
        node: node.name.clone(),
        attribute: name,
    };
    let tensor = attribute(node, name)
        .and_then(|a| a.t.as_ref())
        .ok_or_else(malformed)?;
    if tensor.data_type != data_type::FLOAT {
        return Err(malformed());
    }
    if !tensor.float_data.is_empty() {
        return Ok(tensor.float_data.clone());
    }
    if !tensor.raw_data.len().is_multiple_of(4) {
        return Err(malformed());
    }
    Ok(tensor
        .raw_data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

fn decode_trees(node: &NodeProto) -> Result<Vec<Tree>, ReadError> {
    let roots = ints(node, "tree_roots")?;
    let features = ints(node, "nodes_featureids")?;
    let true_ids = ints(node, "nodes_truenodeids")?;
    let true_leafs = ints(node, "nodes_trueleafs")?;
    let false_ids = ints(node, "nodes_falsenodeids")?;
    let false_leafs = ints(node, "nodes_falseleafs")?;
    let splits = f32_tensor(node, "nodes_splits")?;
    let weights = f32_tensor(node, "leaf_weights")?;
    let modes = attribute(node, "nodes_modes")
        .and_then(|a| a.t.as_ref())
        .map(|t| t.raw_data.clone())
        .ok_or_else(|| ReadError::Attribute {
            node: node.name.clone(),
            attribute: "nodes_modes",
        })?;
    let n = features.len();
    for (attribute, len) in [
        ("nodes_truenodeids", true_ids.len()),
        ("nodes_trueleafs", true_leafs.len()),
        ("nodes_falsenodeids", false_ids.len()),
        ("nodes_falseleafs", false_leafs.len()),
        ("nodes_splits", splits.len()),
        ("nodes_modes", modes.len()),
    ] {
        if len != n {
            return Err(ReadError::Attribute {
                node: node.name.clone(),
                attribute,
            });
        }
    }
    if let Some(mode) = modes.iter().find(|m| **m != 1) {
        return Err(ReadError::Unsupported {
            node: node.name.clone(),
            what: format!("node mode {mode} (only BRANCH_LT is read)"),
        });
    }

    struct Walk<'a> {
        node_name: &'a str,
        features: &'a [i64],
        splits: &'a [f32],
        ids: [&'a [i64]; 2],
        leafs: [&'a [i64]; 2],
        weights: &'a [f32],
        out: Vec<Node>,
        budget: usize,
    }
    impl Walk<'_> {
        fn index_error(&self, attribute: &'static str, index: i64) -> ReadError {
            ReadError::Index {
                node: self.node_name.to_owned(),
                attribute,
                index,
            }
        }
        fn leaf(&mut self, index: i64) -> Result<u32, ReadError> {
            let value = usize::try_from(index)
                .ok()
                .and_then(|i| self.weights.get(i))
                .ok_or_else(|| self.index_error("leaf_weights", index))?;
            self.out.push(Node::Leaf {
                value: *value,
                count: 0,
            });
            Ok(self.out.len() as u32 - 1)
        }
        fn interior(&mut self, index: i64) -> Result<u32, ReadError> {
            // A cycle in the encoding would recurse forever; a tree has at most n nodes.
            self.budget = self
                .budget
                .checked_sub(1)
                .ok_or_else(|| self.index_error("nodes_truenodeids", index))?;
            let i = usize::try_from(index)
                .ok()
                .filter(|i| *i < self.features.len())
                .ok_or_else(|| self.index_error("tree_roots", index))?;
            let at = self.out.len();
            self.out.push(Node::Leaf {
                value: 0.0,
                count: 0,
            });
            let mut children = [0_u32; 2];
            for (side, slot) in children.iter_mut().enumerate() {
                let child = self.ids[side][i];
                *slot = if self.leafs[side][i] == 1 {
                    self.leaf(child)?
                } else {
                    self.interior(child)?
                };
            }
            self.out[at] = Node::Split {
                feature: u32::try_from(self.features[i])
                    .map_err(|_| self.index_error("nodes_featureids", self.features[i]))?,
                threshold: self.splits[i],
                left: children[0],
                right: children[1],
                gain: 0.0,
                count: 0,
            };
            Ok(at as u32)
        }
    }

    let mut trees = Vec::with_capacity(roots.len());
    for &root in roots {
        let mut walk = Walk {
            node_name: &node.name,
            features,
            splits: &splits,
            ids: [true_ids, false_ids],
            leafs: [true_leafs, false_leafs],
            weights: &weights,
            out: Vec::new(),
            budget: n + 1,
        };
        let i = usize::try_from(root).ok().filter(|i| *i < n);
        // The lone-leaf encoding: both branches are the same leaf.
        if let Some(i) = i
            && true_leafs[i] == 1
            && false_leafs[i] == 1
            && true_ids[i] == false_ids[i]
        {
            walk.leaf(true_ids[i])?;
        } else {
            walk.interior(root)?;
        }
        trees.push(Tree { nodes: walk.out });
    }
    Ok(trees)
}
