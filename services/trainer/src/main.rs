//! `velocast-trainer`: the command line. Exit codes: 0 success, 2 bad config or usage,
//! 1 runtime failure.

// The command line reports its outcome to the person running it on stderr; logs go through
// tracing once it is set up.
#![allow(clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use velocast_trainer::config::SplitKind;
use velocast_trainer::progress::Progress;
use velocast_trainer::{FlagOverrides, TrainerConfig, train};

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
    /// Data file with the hour.csv schema.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Output directory (replaced when the run succeeds).
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
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum SplitArg {
    Temporal,
    Random,
}

fn init_logging(json: bool) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json || !std::io::stderr().is_terminal() {
        builder.json().init();
    } else {
        builder.compact().init();
    }
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
    init_logging(args.json_logs);
    match train(&config, &Progress::detect()) {
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
