use retry_runtime::retry;

#[derive(Debug)]
struct MyError;

#[retry(on = [Connect, Status(503)])]
async fn f() -> Result<(), MyError> {
    Ok(())
}

fn main() {
    let _ = f();
}
