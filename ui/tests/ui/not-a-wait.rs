use retry_runtime::retry;

struct Slow;

#[retry(wait = Slow)]
fn f() -> std::io::Result<()> {
    Ok(())
}

fn main() {
    let _ = f();
}
