use retry_runtime::retry;

#[retry(timeout = 2s)]
fn f() -> std::io::Result<()> {
    Ok(())
}

fn main() {
    let _ = f();
}
