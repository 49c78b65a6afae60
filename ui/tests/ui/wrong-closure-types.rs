use retry_runtime::retry;

#[derive(Debug)]
struct NoDisplay;

fn backup() -> Result<u32, std::io::Error> {
    Ok(0)
}

// Each mistake is reported at its own expression.
#[retry(on = [|e: &String| e.is_empty()], fallback = backup, fallback_on = [|e: &u32| *e == 0])]
fn f() -> Result<u32, std::io::Error> {
    Ok(1)
}

#[retry(when_ok = |v: &String| v.is_empty())]
fn g() -> Result<u32, std::io::Error> {
    Ok(1)
}

// `log` writes the error with `Display`.
#[retry(before_sleep = log)]
fn h() -> Result<u32, NoDisplay> {
    Ok(1)
}

fn main() {
    let _ = (f(), g(), h());
}
