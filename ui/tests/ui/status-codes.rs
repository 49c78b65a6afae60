use retry_runtime::retry;

#[retry(on = [Status(600), Status(99 | 503), Status(504..=500), Status(500..505), Status(x)])]
fn f() -> std::io::Result<()> {
    Ok(())
}

fn main() {
    let _ = f();
}
