use retry_runtime::retry;

#[retry(attempts = 0)]
fn f() -> std::io::Result<()> {
    Ok(())
}

fn main() {
    let _ = f();
}
