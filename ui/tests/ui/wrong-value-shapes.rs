use retry_runtime::retry;

#[retry(attempts = "3", name = 3, on = Connect, retry_after = always, crate = "retry_runtime")]
fn f() -> std::io::Result<()> {
    Ok(())
}

#[retry(wait = fixed(), on = [RateLimited => (attempt = 3)], never = [])]
fn g() -> std::io::Result<()> {
    Ok(())
}

fn main() {
    let _ = f();
    let _ = g();
}
