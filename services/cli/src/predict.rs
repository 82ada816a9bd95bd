//! `velocast predict`: one hour's demand from the gateway, described with flags (or a JSON file
//! of one hour or `{"instances": [...]}`). The gateway URL comes from `--gateway` or
//! `VELOCAST_GATEWAY_URL`; the token from `VELOCAST_TOKEN` or the file `VELOCAST_TOKEN_FILE`
//! names.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::NaiveDateTime;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use velocast_registry_client::token_from_env;

#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    /// Gateway base URL.
    #[arg(
        long,
        env = "VELOCAST_GATEWAY_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    gateway: String,
    /// The route (or model) to ask; the gateway's default route when absent.
    #[arg(long)]
    route: Option<String>,
    /// The hour, local time: `2012-10-01T08:00` (minutes are ignored).
    #[arg(long, value_parser = parse_time, required_unless_present = "json")]
    at: Option<NaiveDateTime>,
    /// clear, mist, light-rain or heavy-rain (or the UCI code 1-4).
    #[arg(long, value_parser = parse_weather, default_value = "clear")]
    weather: u8,
    /// Air temperature, °C.
    #[arg(long, allow_negative_numbers = true, required_unless_present = "json")]
    temp: Option<f64>,
    /// Feels-like temperature, °C (default: --temp).
    #[arg(long, allow_negative_numbers = true)]
    feels_like: Option<f64>,
    /// Relative humidity, %.
    #[arg(long, required_unless_present = "json")]
    humidity: Option<f64>,
    /// Wind speed, km/h.
    #[arg(long, required_unless_present = "json")]
    wind: Option<f64>,
    /// The day is a public holiday.
    #[arg(long)]
    holiday: bool,
    /// Send this JSON file as the body instead (`-` reads stdin).
    #[arg(long, conflicts_with_all = ["at", "temp", "feels_like", "humidity", "wind", "holiday"])]
    json: Option<PathBuf>,
    /// Print the gateway's JSON answer instead of a sentence.
    #[arg(long)]
    raw: bool,
}

fn parse_time(text: &str) -> Result<NaiveDateTime, String> {
    ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .ok_or_else(|| format!("`{text}` is not a time like 2012-10-01T08:00"))
}

fn parse_weather(text: &str) -> Result<u8, String> {
    match text {
        "clear" | "1" => Ok(1),
        "mist" | "2" => Ok(2),
        "light-rain" | "light-snow" | "3" => Ok(3),
        "heavy-rain" | "heavy-snow" | "4" => Ok(4),
        other => Err(format!(
            "`{other}` is not clear, mist, light-rain or heavy-rain (or 1-4)"
        )),
    }
}

fn body(args: &PredictArgs) -> Result<Value, String> {
    if let Some(path) = &args.json {
        let text = if path.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin()).map_err(|e| format!("stdin: {e}"))?
        } else {
            std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?
        };
        return serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()));
    }
    // clap enforces these without --json.
    let (Some(at), Some(temp), Some(humidity), Some(wind)) =
        (args.at, args.temp, args.humidity, args.wind)
    else {
        return Err("--at, --temp, --humidity and --wind are needed without --json".into());
    };
    Ok(json!({
        "timestamp": at.format("%Y-%m-%dT%H:%M:%S").to_string(),
        "weather": args.weather,
        "temperature_c": temp,
        "feels_like_c": args.feels_like.unwrap_or(temp),
        "humidity_pct": humidity,
        "wind_speed_kmh": wind,
        "holiday": args.holiday,
    }))
}

/// 0 answered; 2 bad usage, no token, or a request the gateway refused as invalid; 1 anything
/// else (unreachable, overloaded, a server error).
pub fn run(args: &PredictArgs) -> ExitCode {
    let body = match body(args) {
        Ok(body) => body,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let token = match token_from_env() {
        Ok(token) => token,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let base = args.gateway.trim_end_matches('/');
    let url = match &args.route {
        Some(route) => format!("{base}/v1/models/{route}:predict"),
        None => format!("{base}/v1/predict"),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(1);
        }
    };
    let outcome = runtime.block_on(async {
        let response = reqwest::Client::new()
            .post(&url)
            .bearer_auth(token.expose_secret())
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let answer: Value = response.json().await?;
        Ok::<_, reqwest::Error>((status, answer))
    });
    match outcome {
        Ok((status, answer)) if status.is_success() => {
            if args.raw {
                println!("{answer}");
            } else {
                print_answer(&answer, &body);
            }
            ExitCode::SUCCESS
        }
        Ok((status, answer)) => {
            let field = answer["field"]
                .as_str()
                .map(|f| format!(" (field `{f}`)"))
                .unwrap_or_default();
            eprintln!(
                "error: the gateway answered {status}{field}: {}",
                answer["error"].as_str().unwrap_or("no error message")
            );
            if status.as_u16() == 400 || status.as_u16() == 422 {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
        Err(error) => {
            eprintln!("error: cannot reach the gateway at {url}: {error}");
            ExitCode::from(1)
        }
    }
}

fn print_answer(answer: &Value, body: &Value) {
    let source = format!(
        "{} v{} (route {}, arm {})",
        answer["model"].as_str().unwrap_or("?"),
        answer["version"],
        answer["route"].as_str().unwrap_or("?"),
        answer["arm"].as_str().unwrap_or("?"),
    );
    if let Some(prediction) = answer["prediction"].as_f64() {
        println!(
            "{prediction:.1} rentals expected in the hour of {}  [{source}]",
            body["timestamp"].as_str().unwrap_or("?")
        );
    } else if let Some(predictions) = answer["predictions"].as_array() {
        for (index, prediction) in predictions.iter().enumerate() {
            println!(
                "{:>5}  {}  {:.1}",
                index,
                body["instances"][index]["timestamp"]
                    .as_str()
                    .unwrap_or("?"),
                prediction.as_f64().unwrap_or(f64::NAN)
            );
        }
        println!("[{source}]");
    }
}
