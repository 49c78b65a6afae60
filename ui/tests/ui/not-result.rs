use retry_runtime::retry;

#[retry]
async fn number() -> u32 {
    1
}

#[retry]
fn nothing() {}

fn main() {
    let _ = number();
    nothing();
}
