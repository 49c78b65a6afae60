use retry_runtime::retry;

#[retry(wait = fixed, never = [Default])]
fn a() -> std::io::Result<()> {
    Ok(())
}

#[retry(wait = random, on = [RateLimited => (wait = fixed)])]
fn b() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
