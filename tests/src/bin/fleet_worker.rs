//! One process of a fleet for `tests/tests/fleet.rs`: see
//! `examples::fleet` (configured by `FLEET_*` environment variables; prints
//! one report line).

#[tokio::main]
async fn main() {
    let config = match examples::fleet::Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("fleet_worker: {e}");
            std::process::exit(2);
        }
    };
    match examples::fleet::run(config).await {
        Ok(report) => println!("{}", report.line()),
        Err(e) => {
            eprintln!("fleet_worker: {e}");
            std::process::exit(1);
        }
    }
}
