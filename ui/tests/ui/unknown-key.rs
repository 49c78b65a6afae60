use retry_runtime::retry;

#[retry(atempts = 3, wiat = none, colour = "red")]
async fn f() -> std::io::Result<()> {
    Ok(())
}

fn main() {
    let _ = f();
}
