//! Two simulations, deterministic for a seed, on simulated clocks:
//!
//! 1. Marc Brooker's "Exponential Backoff and Jitter" experiment (AWS
//!    Architecture Blog, 2015) with this crate's own waits: N clients each
//!    make one optimistic-concurrency write to one contended row; network
//!    delay N(10 ms, 2 ms); base 5 ms, cap 2 s; N = 10 … 200, 100 runs per
//!    point; total writes and the time until every client finished, for no
//!    backoff, exponential without jitter, equal, full and decorrelated
//!    jitter.
//! 2. A total outage of an API with 1,000 callers (one call a second each,
//!    5 attempts), then recovery: the requests the API receives per second
//!    with no protection, a budget, a breaker, and both.
//!
//! Prints the tables and writes them, with SVG plots, to `docs/sim/` (or
//! `SIM_OUT`).
//!
//! Run: `cargo run -p examples --release --example jitter_sim` (about a
//! minute on two cores; `SIM_RUNS=10` for a quick look).

use std::fmt::Write as _;
use std::time::Duration;

use examples::occ::{Backoff, Point, point};
use examples::storm::{Protection, Second, simulate};
use plotters::prelude::*;

const SEED: u64 = 42;

fn main() {
    let runs: u64 = std::env::var("SIM_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let out = match std::env::var_os("SIM_OUT") {
        Some(dir) => std::path::PathBuf::from(dir),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/sim"),
    };
    std::fs::create_dir_all(&out).expect("docs/sim");

    // 1. Contention.
    let sizes: Vec<usize> = (1..=20).map(|i| i * 10).collect();
    let mut table: Vec<(usize, Vec<Point>)> = Vec::new();
    for &n in &sizes {
        let row = Backoff::ALL
            .iter()
            .map(|b| point(n, *b, runs, SEED))
            .collect();
        table.push((n, row));
    }
    let mut md = String::new();
    writeln!(
        md,
        "| clients | {} |",
        Backoff::ALL
            .map(|b| format!("{} calls / ms", b.name()))
            .join(" | ")
    )
    .unwrap();
    writeln!(md, "|---|{}", "---|".repeat(Backoff::ALL.len())).unwrap();
    for (n, row) in &table {
        let cells: Vec<String> = row
            .iter()
            .map(|p| format!("{:.0} / {:.0}", p.calls, p.completion_ms))
            .collect();
        writeln!(md, "| {n} | {} |", cells.join(" | ")).unwrap();
    }
    println!("Contention: {runs} runs per point, seed {SEED}\n\n{md}");
    std::fs::write(out.join("contention.md"), &md).expect("write");
    plot(
        &out.join("contention_calls.svg"),
        "Writes until every client is done",
        "writes",
        &sizes,
        &table,
        |p| p.calls,
    );
    plot(
        &out.join("contention_time.svg"),
        "Time until every client is done",
        "milliseconds",
        &sizes,
        &table,
        |p| p.completion_ms,
    );

    // 2. Outage and recovery.
    let seconds = 20;
    let down = Duration::from_secs(8);
    let loads: Vec<(Protection, Vec<Second>)> = Protection::ALL
        .iter()
        .map(|p| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .expect("a runtime");
            (*p, rt.block_on(simulate(*p, 1000, seconds, down)))
        })
        .collect();
    let mut md = String::new();
    writeln!(
        md,
        "| second | {} |",
        loads
            .iter()
            .map(|(p, _)| format!("{} (requests / ok)", p.name()))
            .collect::<Vec<_>>()
            .join(" | ")
    )
    .unwrap();
    writeln!(md, "|---|{}", "---|".repeat(loads.len())).unwrap();
    for s in 0..seconds as usize {
        let cells: Vec<String> = loads
            .iter()
            .map(|(_, v)| format!("{} / {}", v[s].requests, v[s].successes))
            .collect();
        writeln!(md, "| {s} | {} |", cells.join(" | ")).unwrap();
    }
    println!("Outage for {}s, 1,000 callers:\n\n{md}", down.as_secs());
    std::fs::write(out.join("outage.md"), &md).expect("write");
    plot_outage(&out.join("outage_load.svg"), seconds as usize, &loads);
    println!("tables and plots in {}", out.display());
}

const COLOURS: [RGBColor; 5] = [BLACK, RED, BLUE, GREEN, MAGENTA];

fn plot(
    path: &std::path::Path,
    title: &str,
    unit: &str,
    sizes: &[usize],
    table: &[(usize, Vec<Point>)],
    value: fn(&Point) -> f64,
) {
    let top = table
        .iter()
        .flat_map(|(_, row)| row.iter().map(value))
        .fold(1.0, f64::max);
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE).expect("draw");
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(
            0usize..sizes.last().copied().unwrap_or(1),
            (1.0..top * 1.2).log_scale(),
        )
        .expect("chart");
    chart
        .configure_mesh()
        .x_desc("clients")
        .y_desc(unit)
        .draw()
        .expect("mesh");
    for (i, backoff) in Backoff::ALL.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(
                table.iter().map(|(n, row)| (*n, value(&row[i]))),
                colour.stroke_width(2),
            ))
            .expect("line")
            .label(backoff.name())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()
        .expect("legend");
    root.present().expect("svg");
}

fn plot_outage(path: &std::path::Path, seconds: usize, loads: &[(Protection, Vec<Second>)]) {
    let top = loads
        .iter()
        .flat_map(|(_, v)| v.iter().map(|s| s.requests))
        .max()
        .unwrap_or(1) as f64;
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE).expect("draw");
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Requests per second during an outage (0-8 s) and after",
            ("sans-serif", 22),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(0usize..seconds, 0.0..top * 1.1)
        .expect("chart");
    chart
        .configure_mesh()
        .x_desc("second")
        .y_desc("requests")
        .draw()
        .expect("mesh");
    for (i, (protection, v)) in loads.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(
                v.iter()
                    .take(seconds)
                    .enumerate()
                    .map(|(s, x)| (s, f64::from(x.requests))),
                colour.stroke_width(2),
            ))
            .expect("line")
            .label(protection.name())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()
        .expect("legend");
    root.present().expect("svg");
}
