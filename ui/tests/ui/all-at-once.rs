// Every mistake is reported in one build, and the function is still emitted:
// `main` calling `f` and the body's own type error show both.
use retry_runtime::retry;

#[retry(attempts = 0, wait = fixed(2h), on = [Status(700)], colour = 1)]
async fn f(x: u32) -> std::io::Result<u32> {
    let y: String = x;
    Ok(y.len() as u32)
}

fn main() {
    let _ = f(1);
}
