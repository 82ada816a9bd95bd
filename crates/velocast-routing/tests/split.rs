//! The traffic split's promises, checked: a key always lands on the same arm, raising an arm's
//! weight only moves keys into it, arms without weight get nothing, and observed shares follow
//! the weights (chi-square at a stated significance). Plus the route table's validation.

// Test code: a failed unwrap is a failed test, with the reason in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use velocast_routing::{
    Arm, ArmName, ArmTarget, BUCKETS, RouteTable, StickyKey, arm_of_bucket, assign, bucket_of,
};

fn arms(weights: &[u32]) -> Vec<Arm> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &weight)| Arm {
            name: ArmName::parse(&format!("arm-{i}")).unwrap(),
            target: ArmTarget::Version((i as u32 + 1).try_into().unwrap()),
            weight,
        })
        .collect()
}

/// Buckets per arm. The bucket is the unit of assignment (every key in it goes the same way),
/// so the split's shares are tested over the 10,000 buckets, not over keys, which would count
/// each bucket's draw many times over.
fn bucket_counts(arms: &[Arm]) -> Vec<u64> {
    let mut counts = vec![0; arms.len()];
    for bucket in 0..BUCKETS {
        counts[arm_of_bucket(bucket, arms).unwrap()] += 1;
    }
    counts
}

#[test]
fn keys_spread_evenly_over_the_buckets() {
    // 200,000 users into 10,000 buckets: chi-square against uniform, 9,999 degrees of freedom;
    // the 0.001 critical value is about 10,535.
    let mut per_bucket = vec![0u64; BUCKETS as usize];
    for i in 0..200_000u32 {
        per_bucket[bucket_of(&format!("user-{i}")) as usize] += 1;
    }
    let expected = 20.0;
    let statistic: f64 = per_bucket
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum();
    assert!(statistic < 10_535.0, "{statistic}");
}

/// Pearson's chi-square statistic of observed counts against weights.
fn chi_square(counts: &[u64], weights: &[u32]) -> f64 {
    let total: u64 = counts.iter().sum();
    let weight_sum: u32 = weights.iter().sum();
    counts
        .iter()
        .zip(weights)
        .filter(|(_, w)| **w > 0)
        .map(|(&observed, &w)| {
            let expected = total as f64 * f64::from(w) / f64::from(weight_sum);
            (observed as f64 - expected).powi(2) / expected
        })
        .sum()
}

#[test]
fn observed_shares_follow_the_weights() {
    // Critical values of chi-square at significance 0.001 (1, 2, 3 degrees of freedom): a split
    // that follows the weights exceeds them one time in a thousand.
    for (weights, critical) in [
        (vec![50, 50], 10.83),
        (vec![90, 10], 10.83),
        (vec![1, 2, 7], 13.82),
        (vec![1, 1, 1, 97], 16.27),
    ] {
        let arms = arms(&weights);
        let counts = bucket_counts(&arms);
        let statistic = chi_square(&counts, &weights);
        assert!(
            statistic < critical,
            "weights {weights:?}: counts {counts:?}, chi-square {statistic:.2} ≥ {critical}"
        );
    }
}

#[test]
fn a_skewed_split_is_caught_by_the_same_test() {
    // The test has teeth: 52/48 of the buckets does not pass for weights 50/50.
    let statistic = chi_square(&[5_200, 4_800], &[50, 50]);
    assert!(statistic > 10.83);
}

#[test]
fn an_arm_without_weight_gets_nothing_and_no_weight_at_all_assigns_nothing() {
    let arms = arms(&[0, 3, 0, 1]);
    for i in 0..20_000u32 {
        let arm = assign(&format!("k{i}"), &arms).unwrap().arm;
        assert!(arm == 1 || arm == 3, "{arm}");
    }
    assert!(assign("k", &self::arms(&[0, 0])).is_none());
}

proptest! {
    #[test]
    fn a_key_always_lands_on_the_same_arm(key in ".{0,40}", weights in prop::collection::vec(1u32..100, 1..6)) {
        let first = assign(&key, &arms(&weights)).unwrap();
        // A table rebuilt from scratch (another replica, a reload) agrees.
        let again = assign(&key, &arms(&weights)).unwrap();
        prop_assert_eq!(first, again);
        prop_assert!(first.bucket < BUCKETS);
    }

    #[test]
    fn raising_one_arm_only_moves_keys_into_it(
        weights in prop::collection::vec(0u32..100, 2..6),
        raised in 0usize..6,
        extra in 1u32..200,
        keys in prop::collection::vec("[a-z0-9]{1,12}", 50..200),
    ) {
        let raised = raised % weights.len();
        let before = arms(&weights);
        let mut after = before.clone();
        after[raised].weight += extra;
        for key in &keys {
            let old = assign(key, &before).map(|a| a.arm);
            let new = assign(key, &after).unwrap().arm;
            prop_assert!(old == Some(new) || new == raised,
                "{key}: moved from {old:?} to {new}, but only arm {raised} grew");
        }
    }
}

const TABLE: &str = r#"
[routes.default]
model = "bike-demand"
sticky = "header:X-User-Id"
arms = [
  { name = "champion", alias = "champion", weight = 90 },
  { name = "challenger", version = 7, weight = 10 },
]

[routes.shadowless]
model = "bike-demand"
arms = [{ name = "only", alias = "champion", weight = 1 }]
"#;

#[test]
fn a_valid_table_parses_into_its_routes() {
    let table = RouteTable::parse(TABLE).unwrap();
    let route = table.route("default").unwrap();
    assert_eq!(route.model.as_str(), "bike-demand");
    assert_eq!(route.sticky, StickyKey::Header("x-user-id".into()));
    assert_eq!(route.arms.len(), 2);
    assert_eq!(
        route.arms[1].target,
        ArmTarget::Version(7u32.try_into().unwrap())
    );
    assert_eq!(
        table.route("shadowless").unwrap().sticky,
        StickyKey::Subject
    );
}

#[test]
fn every_problem_is_reported_with_its_path() {
    let bad = r#"
[routes.Default]
model = "Bike Demand"
sticky = "cookie"
arms = [
  { name = "champion", alias = "champion", version = 3, weight = 1 },
  { name = "champion", alias = "latest", weight = 0 },
  { name = "x", version = 0, weight = 2000000 },
]

[routes.empty]
model = "m"
arms = []
"#;
    let problems = RouteTable::parse(bad).unwrap_err().problems;
    for expected in [
        "routes.Default: `Default` is not a valid route name",
        "routes.Default.model",
        "routes.Default.sticky: `cookie`",
        "routes.Default.arms[0]: give exactly one of `alias` or `version`",
        "routes.Default.arms[1].name: `champion` is used by another arm",
        "routes.Default.arms[1].alias",
        "routes.Default.arms[2].version",
        "routes.Default.arms[2].weight: at most 1000000",
        "routes.empty.arms: at least one arm is needed",
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(expected)),
            "missing `{expected}` in {problems:#?}"
        );
    }
    let zero = r#"
[routes.r]
model = "m"
arms = [{ name = "a", alias = "champion", weight = 0 }]
"#;
    let problems = RouteTable::parse(zero).unwrap_err().problems;
    assert_eq!(
        problems,
        vec!["routes.r.arms: at least one arm needs a positive weight"]
    );
    assert!(RouteTable::parse("routes = 5").is_err());
    assert!(RouteTable::parse("[routes.r]\nmodel = \"m\"\nunknown = 1\narms = []").is_err());
}

#[test]
fn a_shadow_is_parsed_with_its_sample_and_bad_ones_are_named() {
    use velocast_routing::{ArmTarget, RouteTable};
    let table = RouteTable::parse(
        r#"
[routes.default]
model = "bike-demand"
arms = [{ name = "champion", alias = "champion", weight = 1 }]
shadow = { alias = "challenger", sample = 0.25 }
"#,
    )
    .unwrap();
    let shadow = table.route("default").unwrap().shadow.clone().unwrap();
    assert!(matches!(&shadow.target, ArmTarget::Alias(a) if a.as_str() == "challenger"));
    assert_eq!(shadow.per_10k, 2500);
    for (shadow, problem) in [
        (
            "{ alias = \"challenger\", sample = 0.0 }",
            "routes.default.shadow.sample",
        ),
        (
            "{ alias = \"challenger\", sample = 1.5 }",
            "routes.default.shadow.sample",
        ),
        (
            "{ alias = \"challenger\", version = 2, sample = 0.5 }",
            "routes.default.shadow: give exactly one",
        ),
        (
            "{ version = 0, sample = 0.5 }",
            "routes.default.shadow.version",
        ),
    ] {
        let text = format!(
            "[routes.default]\nmodel = \"bike-demand\"\narms = [{{ name = \"a\", alias = \"champion\", weight = 1 }}]\nshadow = {shadow}\n"
        );
        let error = RouteTable::parse(&text).unwrap_err().to_string();
        assert!(error.contains(problem), "{shadow}: {error}");
    }
}
