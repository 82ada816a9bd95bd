//! The trainer's typed configuration: defaults in code, then a TOML file, then
//! `VELOCAST_TRAINER__*` environment variables (nested keys joined by `__`), then flags.
//! Validated once at start with every error reported together; its hash goes into the model card.

use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;
use figment::Figment;
use figment::providers::{Env, Serialized};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use validator::{Validate, ValidationError};
use velocast_trees::Objective;

/// Environment prefix: `VELOCAST_TRAINER__SEARCH__TRIALS=20` sets `search.trials`.
pub const ENV_PREFIX: &str = "VELOCAST_TRAINER__";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct TrainerConfig {
    #[validate(nested)]
    pub data: DataConfig,
    #[validate(nested)]
    pub split: SplitConfig,
    #[validate(nested)]
    pub cv: CvConfig,
    #[validate(nested)]
    pub search: SearchConfig,
    #[validate(nested)]
    pub baselines: BaselineConfig,
    #[validate(nested)]
    pub blend: BlendConfig,
    #[validate(nested)]
    pub output: OutputConfig,
    #[validate(nested)]
    pub runtime: RuntimeConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// A CSV with the `hour.csv` schema.
    pub path: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitKind {
    /// Train before `holdout_start`, test from it on (the headline evaluation).
    Temporal,
    /// A seeded random share of rows is the holdout (a comparison point only: it leaks the
    /// future into training).
    Random,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct SplitConfig {
    pub kind: SplitKind,
    /// First hour of the temporal holdout.
    pub holdout_start: NaiveDateTime,
    #[validate(range(min = 0.05, max = 0.5))]
    pub random_test_fraction: f64,
    pub random_seed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct CvConfig {
    /// Expanding-window folds (temporal) or shuffled folds (random split).
    #[validate(range(min = 2, max = 10))]
    pub folds: usize,
    /// Length of each temporal validation window.
    #[validate(range(min = 7, max = 180))]
    pub validation_days: i64,
    /// Hours left out between a fold's training rows and its validation window.
    #[validate(range(min = 0, max = 168))]
    pub gap_hours: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Mae,
    Rmse,
    Rmsle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sampler {
    /// Uniform over the space.
    Random,
    /// Tree-structured Parzen estimator after `startup_trials` random ones.
    Tpe,
}

/// An inclusive range searched uniformly, or on a log scale.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    pub low: f64,
    pub high: f64,
    #[serde(default)]
    pub log: bool,
}

impl Range {
    const fn new(low: f64, high: f64, log: bool) -> Self {
        Range { low, high, log }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields, default)]
#[validate(schema(function = "validate_space"))]
pub struct SearchSpace {
    pub learning_rate: Range,
    pub rounds: Range,
    pub max_leaves: Range,
    /// Depth caps to choose from; 0 means leaf-wise growth without a depth cap.
    #[validate(length(min = 1))]
    pub max_depth: Vec<usize>,
    pub min_data_in_leaf: Range,
    pub lambda_l2: Range,
    pub feature_fraction: Range,
    pub bagging_fraction: Range,
    #[validate(length(min = 1))]
    pub max_bins: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    #[validate(range(min = 1, max = 10_000))]
    pub trials: usize,
    pub seed: u64,
    pub sampler: Sampler,
    #[validate(range(min = 1, max = 1000))]
    pub startup_trials: usize,
    /// Trials evaluated at once. Batches keep results independent of thread timing.
    #[validate(range(min = 1, max = 64))]
    pub parallelism: usize,
    /// Median pruning after each fold.
    pub prune: bool,
    /// Completed trials needed before any pruning.
    #[validate(range(min = 1, max = 1000))]
    pub pruning_warmup_trials: usize,
    #[validate(length(min = 1))]
    pub objectives: Vec<Objective>,
    pub selection_metric: Metric,
    #[validate(nested)]
    pub space: SearchSpace,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct BaselineConfig {
    #[validate(range(min = 1e-6, max = 1e6))]
    pub ridge_alpha: f64,
    /// One-hot encoded in the ridge baseline.
    #[validate(length(min = 1))]
    pub ridge_features: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct BlendConfig {
    pub enabled: bool,
    /// Greedy ensemble-selection steps; weights are multiples of 1/steps.
    #[validate(range(min = 2, max = 200))]
    pub steps: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct OutputConfig {
    pub dir: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// `libonnxruntime.so`; unset means `ORT_DYLIB_PATH`, then the `make setup` location.
    pub onnxruntime_path: Option<PathBuf>,
    /// Largest allowed |ONNX − native| / max(1, |native|) on the holdout.
    #[validate(range(min = 0.0, max = 0.1))]
    pub parity_tolerance: f64,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            path: PathBuf::from(".velocast/data/hour.csv"),
        }
    }
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig {
            kind: SplitKind::Temporal,
            holdout_start: velocast_dataset::temporal_holdout_start(),
            random_test_fraction: 0.2,
            random_seed: 2013,
        }
    }
}

impl Default for CvConfig {
    fn default() -> Self {
        CvConfig {
            folds: 3,
            validation_days: 61,
            gap_hours: 0,
        }
    }
}

impl Default for SearchSpace {
    fn default() -> Self {
        SearchSpace {
            learning_rate: Range::new(0.03, 0.15, true),
            rounds: Range::new(200.0, 600.0, false),
            max_leaves: Range::new(15.0, 63.0, false),
            max_depth: vec![0, 8, 10],
            min_data_in_leaf: Range::new(5.0, 50.0, true),
            lambda_l2: Range::new(1e-3, 10.0, true),
            feature_fraction: Range::new(0.6, 1.0, false),
            bagging_fraction: Range::new(0.6, 1.0, false),
            max_bins: vec![63, 127, 255],
        }
    }
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            trials: 50,
            seed: 42,
            sampler: Sampler::Tpe,
            startup_trials: 12,
            parallelism: 2,
            prune: true,
            pruning_warmup_trials: 6,
            objectives: vec![
                Objective::SquaredError,
                Objective::Log1pSquaredError,
                Objective::Poisson,
            ],
            selection_metric: Metric::Mae,
            space: SearchSpace::default(),
        }
    }
}

impl Default for BaselineConfig {
    fn default() -> Self {
        BaselineConfig {
            ridge_alpha: 1.0,
            ridge_features: [
                "hr_workingday",
                "mnth",
                "weekday",
                "weathersit",
                "yr",
                "holiday",
            ]
            .map(str::to_owned)
            .to_vec(),
        }
    }
}

impl Default for BlendConfig {
    fn default() -> Self {
        BlendConfig {
            enabled: true,
            steps: 20,
        }
    }
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            dir: PathBuf::from("out/model"),
        }
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            onnxruntime_path: None,
            parity_tolerance: 1e-3,
        }
    }
}

fn validate_space(space: &SearchSpace) -> Result<(), ValidationError> {
    let ranges = [
        ("learning_rate", space.learning_rate, 1e-4, 1.0),
        ("rounds", space.rounds, 1.0, 10_000.0),
        ("max_leaves", space.max_leaves, 2.0, 4096.0),
        ("min_data_in_leaf", space.min_data_in_leaf, 1.0, 10_000.0),
        ("lambda_l2", space.lambda_l2, 0.0, 1e6),
        ("feature_fraction", space.feature_fraction, 0.01, 1.0),
        ("bagging_fraction", space.bagging_fraction, 0.01, 1.0),
    ];
    for (name, range, min, max) in ranges {
        let ordered = range.low <= range.high && range.low >= min && range.high <= max;
        let log_ok = !range.log || range.low > 0.0;
        if !(ordered && log_ok) {
            let mut error = ValidationError::new("search_range");
            error.message = Some(
                format!(
                    "search.space.{name}: need {min} <= low <= high <= {max} (and low > 0 on a log scale)"
                )
                .into(),
            );
            return Err(error);
        }
    }
    if space.max_bins.iter().any(|b| !(2..=256).contains(b)) {
        let mut error = ValidationError::new("search_range");
        error.message = Some("search.space.max_bins: each must be within 2..=256".into());
        return Err(error);
    }
    Ok(())
}

pub use velocast_config::ConfigError;

/// Values given on the command line; `None` leaves the lower layers' value.
#[derive(Debug, Default, Clone, Serialize)]
pub struct FlagOverrides {
    pub data_path: Option<PathBuf>,
    pub output_dir: Option<PathBuf>,
    pub trials: Option<usize>,
    pub seed: Option<u64>,
    pub split: Option<SplitKind>,
}

impl FlagOverrides {
    fn apply(&self, figment: Figment) -> Figment {
        let mut figment = figment;
        if let Some(path) = &self.data_path {
            figment = figment.merge(Serialized::default("data.path", path));
        }
        if let Some(dir) = &self.output_dir {
            figment = figment.merge(Serialized::default("output.dir", dir));
        }
        if let Some(trials) = self.trials {
            figment = figment.merge(Serialized::default("search.trials", trials));
        }
        if let Some(seed) = self.seed {
            figment = figment.merge(Serialized::default("search.seed", seed));
        }
        if let Some(split) = self.split {
            figment = figment.merge(Serialized::default("split.kind", split));
        }
        figment
    }
}

impl TrainerConfig {
    /// Resolves the layers and validates the result.
    pub fn load(file: Option<&Path>, flags: &FlagOverrides) -> Result<Self, ConfigError> {
        Self::load_with_env(file, flags, Env::prefixed(ENV_PREFIX).split("__"))
    }

    fn load_with_env(
        file: Option<&Path>,
        flags: &FlagOverrides,
        env: Env,
    ) -> Result<Self, ConfigError> {
        let figment = velocast_config::with_file(
            Figment::from(Serialized::defaults(TrainerConfig::default())),
            file,
        )?;
        let config: TrainerConfig = velocast_config::extract(&flags.apply(figment.merge(env)))?;
        config.check()?;
        Ok(config)
    }

    /// Every validation error at once, one per line with its field path.
    pub fn check(&self) -> Result<(), ConfigError> {
        self.validate()
            .map_err(|errors| ConfigError::Invalid(describe(&errors, "")))?;
        let known = velocast_features::Signature::current();
        let names = known.feature_names();
        let unknown: Vec<&String> = self
            .baselines
            .ridge_features
            .iter()
            .filter(|f| !names.contains(&f.as_str()))
            .collect();
        if !unknown.is_empty() {
            return Err(ConfigError::Invalid(format!(
                "baselines.ridge_features: unknown features {unknown:?} (known: {names:?})"
            )));
        }
        Ok(())
    }

    /// The resolved configuration as TOML (what `--print-config` shows).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}"))
    }

    /// sha256 of the canonical JSON form. Output locations do not change what is trained, so
    /// they are left out: the same training run gets the same hash wherever it writes.
    pub fn hash(&self) -> String {
        let mut canonical = self.clone();
        canonical.output = OutputConfig::default();
        canonical.runtime.onnxruntime_path = None;
        canonical.data.path = PathBuf::new();
        // The config is plain data with string keys: it always serializes. A hash of empty bytes
        // would give every config the same identity.
        #[expect(
            clippy::expect_used,
            reason = "the config is plain data and always serializes"
        )]
        let json = serde_json::to_vec(&canonical).expect("the configuration serializes");
        hex::encode(Sha256::digest(json))
    }
}

use velocast_config::describe;

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env() -> Env {
        Env::prefixed("VELOCAST_TRAINER_TEST_UNSET_PREFIX__").split("__")
    }

    #[test]
    fn defaults_are_valid_and_hash_is_stable() {
        let config = TrainerConfig::default();
        config.check().unwrap();
        assert_eq!(config.hash(), TrainerConfig::default().hash());
        assert_eq!(config.hash().len(), 64);
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature, not ours
    fn layers_apply_in_order_file_then_env_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("trainer.toml");
        std::fs::write(&file, "[search]\ntrials = 7\nseed = 1\n[cv]\nfolds = 4\n").unwrap();
        figment::Jail::expect_with(|jail| {
            jail.set_env("VELOCAST_TRAINER__SEARCH__SEED", "9");
            jail.set_env("VELOCAST_TRAINER__CV__FOLDS", "5");
            let flags = FlagOverrides {
                seed: Some(11),
                ..FlagOverrides::default()
            };
            let config = TrainerConfig::load(Some(&file), &flags).unwrap();
            assert_eq!(config.search.trials, 7); // file
            assert_eq!(config.cv.folds, 5); // env over file
            assert_eq!(config.search.seed, 11); // flag over env
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("trainer.toml");
        std::fs::write(&file, "[search]\ntrails = 7\n").unwrap();
        let error = TrainerConfig::load_with_env(Some(&file), &FlagOverrides::default(), no_env())
            .unwrap_err();
        assert!(error.to_string().contains("trails"), "{error}");
    }

    #[test]
    fn all_invalid_values_are_reported_together() {
        let mut config = TrainerConfig::default();
        config.search.trials = 0;
        config.cv.folds = 1;
        config.search.space.learning_rate = Range::new(0.5, 0.1, false);
        let error = config.check().unwrap_err().to_string();
        assert!(
            error.contains("search.trials: rule must be within"),
            "{error}"
        );
        assert!(error.contains("cv.folds: rule must be within"), "{error}");
        assert!(error.contains("search.space.learning_rate"), "{error}");
    }

    #[test]
    fn unknown_ridge_feature_is_refused() {
        let mut config = TrainerConfig::default();
        config.baselines.ridge_features.push("casual".into());
        let error = config.check().unwrap_err().to_string();
        assert!(error.contains("casual"), "{error}");
    }

    #[test]
    fn missing_file_is_its_own_error() {
        let error = TrainerConfig::load_with_env(
            Some(Path::new("/nonexistent/trainer.toml")),
            &FlagOverrides::default(),
            no_env(),
        )
        .unwrap_err();
        assert!(matches!(error, ConfigError::MissingFile(_)));
    }

    #[test]
    fn hash_ignores_where_outputs_go_but_not_what_is_trained() {
        let base = TrainerConfig::default();
        let mut moved = base.clone();
        moved.output.dir = PathBuf::from("/elsewhere");
        assert_eq!(base.hash(), moved.hash());
        let mut reseeded = base.clone();
        reseeded.search.seed = 43;
        assert_ne!(base.hash(), reseeded.hash());
    }

    #[test]
    fn printed_config_parses_back_to_the_same_config() {
        let config = TrainerConfig::default();
        let parsed: TrainerConfig = toml::from_str(&config.to_toml()).unwrap();
        assert_eq!(parsed, config);
    }
}
