use retry_runtime::retry;

#[retry(wait = exponental(max = 5), on = [Conect, RateLimitd], never = [Statu(401)])]
fn a() -> std::io::Result<()> {
    Ok(())
}

#[retry(wait = exponential(jitter = fulll, maximum = 3, factor = 0))]
fn b() -> std::io::Result<()> {
    Ok(())
}

fn main() {
    let _ = (a(), b());
}
