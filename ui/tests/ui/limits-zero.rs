use retry_runtime::retry;

// Both at once: each is an error at its own value.
#[retry(timeout = 0, deadline = 0ms)]
async fn f() -> std::io::Result<()> {
    Ok(())
}

#[retry(deadline = 0.0s)]
fn g() -> std::io::Result<()> {
    Ok(())
}

fn main() {
    let _ = f();
    let _ = g();
}
