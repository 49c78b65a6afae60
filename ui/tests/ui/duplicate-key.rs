use retry_runtime::retry;

#[retry(attempts = 3, wait = none, attempts = 4)]
fn f() -> std::io::Result<()> {
    Ok(())
}

fn main() {
    let _ = f();
}
