use retry_runtime::retry;

#[retry(wait = exponential(min = 10, max = 5))]
fn a() -> std::io::Result<()> {
    Ok(())
}

#[retry(wait = exponential(min = 2m))]
fn b() -> std::io::Result<()> {
    Ok(())
}

#[retry(wait = random(5s, 1s) + linear(initial = 2, max = 1))]
fn c() -> std::io::Result<()> {
    Ok(())
}

fn main() {
    let _ = (a(), b(), c());
}
