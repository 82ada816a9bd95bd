//! `velocast-trainer`: the command line. Exit codes: 0 success, 2 bad config or usage,
//! 1 runtime failure.

// The command line reports its outcome to the person running it on stderr; logs go through
// tracing once it is set up.
#![allow(clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use velocast_telemetry::{LogFormat, init_logging};
use velocast_trainer::config::SplitKind;
use velocast_trainer::progress::Progress;
use velocast_trainer::register::{LiveRun, Target};
use velocast_trainer::{FlagOverrides, TrainerConfig, train_observed};

#[derive(Debug, Parser)]
#[command(
    name = "velocast-trainer",
    version,
    about = "Train, tune, export and verify the Velocast demand model"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the default pipeline: validate, search with time-series CV, fit, export ONNX, check
    /// parity in ONNX Runtime, write the model card.
    Train(TrainArgs),
}

#[derive(Debug, clap::Args)]
struct TrainArgs {
    /// Data file with the hour.csv schema (columns matched by name) [default: data.path of the
    /// config, else .velocast/data/hour.csv].
    #[arg(long)]
    data: Option<PathBuf>,
    /// Output directory, replaced only when the run succeeds; a run stopped by the quality gate
    /// writes its report beside it as <out>.quality_report.json [default: output.dir of the
    /// config, else out/model].
    #[arg(long)]
    out: Option<PathBuf>,
    /// TOML configuration file (layered over the defaults, under env and flags).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Search trials.
    #[arg(long)]
    trials: Option<usize>,
    /// Search seed (also seeds every trial's bagging).
    #[arg(long)]
    seed: Option<u64>,
    /// Holdout split.
    #[arg(long, value_enum)]
    split: Option<SplitArg>,
    /// Print the resolved configuration as TOML and exit.
    #[arg(long, alias = "check-config")]
    print_config: bool,
    /// Log as JSON lines (default: readable text on a terminal, JSON otherwise).
    #[arg(long)]
    json_logs: bool,
    /// Registry to record the run in and register the model with (token from
    /// `VELOCAST_TOKEN` or the file named by `VELOCAST_TOKEN_FILE`).
    #[arg(long, value_name = "URL", env = "VELOCAST_REGISTRY_URL")]
    register: Option<String>,
    /// Registered model name.
    #[arg(long, default_value = "bike-demand", requires = "register")]
    model_name: String,
    /// Alias to point at the new version (for example `champion`).
    #[arg(long, requires = "register")]
    alias: Option<String>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum SplitArg {
    Temporal,
    Random,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Command::Train(args) = cli.command;
    let flags = FlagOverrides {
        data_path: args.data,
        output_dir: args.out,
        trials: args.trials,
        seed: args.seed,
        split: args.split.map(|s| match s {
            SplitArg::Temporal => SplitKind::Temporal,
            SplitArg::Random => SplitKind::Random,
        }),
    };
    let config = match TrainerConfig::load(args.config.as_deref(), &flags) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    if args.print_config {
        println!("# config hash {}\n{}", config.hash(), config.to_toml());
        return ExitCode::SUCCESS;
    }
    let registration = match &args.register {
        Some(url) => match velocast_registry_client::token_from_env() {
            Ok(token) => Some((
                Target {
                    url: url.clone(),
                    model: args.model_name.clone(),
                    alias: args.alias.clone(),
                },
                token,
            )),
            Err(error) => {
                eprintln!("error: --register: {error}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    init_logging(LogFormat::from_flag(args.json_logs));
    let mut live = match registration {
        Some((target, token)) => match LiveRun::start(target, token, &config) {
            Ok(live) => Some(live),
            Err(error) => {
                eprintln!("error: {error:#}");
                return ExitCode::from(1);
            }
        },
        None => None,
    };
    let trained = train_observed(&config, &Progress::detect(), &mut |trial| {
        if let Some(live) = live.as_mut() {
            live.log_trial(trial);
        }
    });
    let trained = match (trained, live) {
        (Ok((card, markdown)), Some(live)) => {
            let run_id = live.run_id().to_owned();
            match live.finish(&card, &config.output.dir) {
                Ok(version) => {
                    println!(
                        "registered: {} version {} (run {run_id}, sha256 {})",
                        version.model, version.version, version.artifact.sha256
                    );
                    Ok((card, markdown))
                }
                Err(error) => Err(error.context("registering the model")),
            }
        }
        (Err(error), Some(live)) => {
            live.fail();
            Err(error)
        }
        (outcome, None) => outcome,
    };
    match trained {
        Ok((card, markdown)) => {
            let h = &card.core.holdout;
            println!(
                "model: {}\nholdout ({} rows): MAE {:.2}  RMSE {:.2}  RMSLE {:.4}  R² {:.4}\nmodel card: {}",
                config.output.dir.join(&card.artifacts.model).display(),
                h.rows,
                h.mae,
                h.rmse,
                h.rmsle,
                h.r2,
                markdown.display()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}
