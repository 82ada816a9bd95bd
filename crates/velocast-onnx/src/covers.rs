//! Node covers (the training rows that reached each node), carried in the model's metadata.
//!
//! ONNX's `TreeEnsemble` has no attribute for them, and path-dependent TreeSHAP needs them to
//! explain the very file that serves. They are written under [`NODE_COVERS_KEY`] as text:
//! members separated by `;`, trees by a space, each tree's covers in depth-first pre-order
//! (left child first) — the order [`crate::read`] rebuilds nodes in — separated by `,`.

use velocast_trees::{Blend, Node, Tree};

use crate::read::ReadError;

pub const NODE_COVERS_KEY: &str = "velocast.node_covers";

/// The covers of `blend` as metadata text; `None` when no node has a count (a model built
/// without training rows, such as a hand-written one).
pub fn encode(blend: &Blend) -> Option<String> {
    let any = blend.members.iter().any(|m| {
        m.ensemble
            .trees
            .iter()
            .any(|t| t.nodes.iter().any(|n| count(n) > 0))
    });
    if !any {
        return None;
    }
    let members: Vec<String> = blend
        .members
        .iter()
        .map(|member| {
            let trees: Vec<String> = member
                .ensemble
                .trees
                .iter()
                .map(|tree| {
                    let mut counts = Vec::with_capacity(tree.nodes.len());
                    preorder(tree, &mut |node| counts.push(count(node).to_string()));
                    counts.join(",")
                })
                .collect();
            trees.join(" ")
        })
        .collect();
    Some(members.join(";"))
}

/// Covers for each node of `blend` (member → tree → node index), from the metadata text.
pub fn decode(text: &str, blend: &Blend) -> Result<Vec<Vec<Vec<f64>>>, ReadError> {
    let malformed = |what: String| ReadError::Metadata {
        key: NODE_COVERS_KEY,
        problem: what,
    };
    let members: Vec<&str> = text.split(';').collect();
    if members.len() != blend.members.len() {
        return Err(malformed(format!(
            "{} members, the model has {}",
            members.len(),
            blend.members.len()
        )));
    }
    blend
        .members
        .iter()
        .zip(members)
        .enumerate()
        .map(|(m, (member, text))| {
            let trees: Vec<&str> = text.split(' ').collect();
            if trees.len() != member.ensemble.trees.len() {
                return Err(malformed(format!(
                    "member {m}: {} trees, the model has {}",
                    trees.len(),
                    member.ensemble.trees.len()
                )));
            }
            member
                .ensemble
                .trees
                .iter()
                .zip(trees)
                .enumerate()
                .map(|(t, (tree, text))| {
                    let values = text
                        .split(',')
                        .map(|v| v.parse::<u32>().map(f64::from))
                        .collect::<Result<Vec<f64>, _>>()
                        .map_err(|e| malformed(format!("member {m}, tree {t}: {e}")))?;
                    if values.len() != tree.nodes.len() {
                        return Err(malformed(format!(
                            "member {m}, tree {t}: {} covers for {} nodes",
                            values.len(),
                            tree.nodes.len()
                        )));
                    }
                    let mut covers = vec![0.0; tree.nodes.len()];
                    let mut next = values.into_iter();
                    preorder_indices(tree, &mut |index| {
                        covers[index] = next.next().unwrap_or(0.0);
                    });
                    Ok(covers)
                })
                .collect()
        })
        .collect()
}

fn count(node: &Node) -> u32 {
    match node {
        Node::Split { count, .. } | Node::Leaf { count, .. } => *count,
    }
}

fn preorder(tree: &Tree, visit: &mut dyn FnMut(&Node)) {
    preorder_indices(tree, &mut |index| visit(&tree.nodes[index]));
}

/// Node indices in depth-first pre-order, left first (an explicit stack: no recursion depth
/// limit on a deep tree from an untrusted file).
fn preorder_indices(tree: &Tree, visit: &mut dyn FnMut(usize)) {
    if tree.nodes.is_empty() {
        return;
    }
    let mut stack = vec![0usize];
    let mut budget = tree.nodes.len();
    while let Some(index) = stack.pop() {
        let Some(node) = tree.nodes.get(index) else {
            continue;
        };
        // A malformed tree (a cycle) cannot loop forever.
        if budget == 0 {
            return;
        }
        budget -= 1;
        visit(index);
        if let Node::Split { left, right, .. } = node {
            stack.push(*right as usize);
            stack.push(*left as usize);
        }
    }
}
