use retry_runtime::retry;

#[derive(Debug)]
struct MyError;

#[retry(timeout = 1s)]
async fn f() -> Result<(), MyError> {
    Ok(())
}

fn main() {
    let _ = f();
}
