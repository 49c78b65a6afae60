use retry_runtime::retry;

#[retry(attempts 3)]
fn missing_equals() -> std::io::Result<()> {
    Ok(())
}

#[retry(attempts = 3 4, wait = none)]
fn trailing_tokens() -> std::io::Result<()> {
    Ok(())
}

#[retry(on = [Status, RateLimited => (attempts = 2, attempts = 3)], never = [Connect => (attempts = 2)])]
fn rule_shapes() -> std::io::Result<()> {
    Ok(())
}

#[retry(wait = none(1) + exponential(2s, max = 1m, max = 2m) + linear(start = 1))]
fn wait_arguments() -> std::io::Result<()> {
    Ok(())
}

#[retry(retry_after = honor(maximum = 5s), name = "")]
fn honor_and_name() -> std::io::Result<()> {
    Ok(())
}

#[retry]
const fn constant() -> Result<(), ()> {
    Ok(())
}

trait Api {
    #[retry]
    fn declared_only(&self) -> std::io::Result<()>;
}

fn main() {}
