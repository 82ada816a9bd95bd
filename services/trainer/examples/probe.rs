use std::time::Instant;
use velocast_dataset::{TrainingTable, load};
use velocast_trees::{GbdtParams, Matrix, Objective, fit};
fn main() {
    let ds = load(std::path::Path::new(".velocast/data/hour.csv")).unwrap();
    let table = TrainingTable::from_records(&ds.records);
    let cutoff = chrono::NaiveDate::from_ymd_opt(2012, 9, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let (tr, te) = table.split_at_time(cutoff);
    let trx = tr.features.as_flattened();
    let tex = te.features.as_flattened();
    let m = Matrix::new(trx, 15).unwrap();
    let mt = Matrix::new(tex, 15).unwrap();
    for obj in [
        Objective::SquaredError,
        Objective::Log1pSquaredError,
        Objective::Poisson,
    ] {
        let mut maes = vec![];
        for seed in 0..3 {
            let p = GbdtParams {
                objective: obj,
                rounds: 600,
                learning_rate: 0.05,
                max_leaves: 31,
                feature_fraction: 0.9,
                bagging_fraction: 0.8,
                seed,
                ..GbdtParams::default()
            };
            let t = Instant::now();
            let e = fit(m, &tr.target, &p).unwrap();
            let el = t.elapsed();
            let pr: Vec<f64> = (0..mt.rows())
                .map(|r| e.predict(mt.row(r)).max(0.0))
                .collect();
            let mae = pr
                .iter()
                .zip(&te.target)
                .map(|(p, a)| (p - a).abs())
                .sum::<f64>()
                / pr.len() as f64;
            let rmsle = (pr
                .iter()
                .zip(&te.target)
                .map(|(p, a)| (p.ln_1p() - a.ln_1p()).powi(2))
                .sum::<f64>()
                / pr.len() as f64)
                .sqrt();
            println!("{obj:?} seed {seed}: mae {mae:.2} rmsle {rmsle:.3} in {el:?}");
            maes.push(mae);
        }
    }
}
