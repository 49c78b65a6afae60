use retry_runtime::retry;

#[retry(deadline = 3h, wait = fixed(-1), timeout = "2s")]
async fn f() -> std::io::Result<()> {
    Ok(())
}

fn main() {
    let _ = f();
}
