use retry_runtime::{RetryState, retry};

fn report(_: &RetryState<'_, String>) {}

#[retry(before_sleep = report, on_giveup = |n: u32| n)]
fn f() -> std::io::Result<()> {
    Ok(())
}

fn main() {
    let _ = f();
}
