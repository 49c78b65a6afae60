use retry_runtime::{AdaptiveWindow, retry};

static SHARED: AdaptiveWindow = AdaptiveWindow::new(10);

#[retry(budget = "OPENAI", breaker = "LLM")]
fn a() -> std::io::Result<()> {
    Ok(())
}

#[retry(wait = adaptive)]
fn b() -> std::io::Result<()> {
    Ok(())
}

#[retry(wait = adaptive(scale = 3))]
fn c() -> std::io::Result<()> {
    Ok(())
}

#[retry(wait = adaptive(fixed(1s), window = 0, scale = -1, max = 2x, spread = 3))]
fn d() -> std::io::Result<()> {
    Ok(())
}

#[retry(wait = adaptive(fixed(1s), window = 5000))]
fn e() -> std::io::Result<()> {
    Ok(())
}

#[retry(wait = adaptive(fixed(1s), window = 10, shared = SHARED))]
fn f() -> std::io::Result<()> {
    Ok(())
}

#[retry(wait = adaptive(adaptive(none)), on = [Connect => (wait = adaptive(fixed(1s), shared = 3))])]
fn g() -> std::io::Result<()> {
    Ok(())
}

#[retry(wait = adaptive(fixed(1s), window = 10), on = [Connect => (wait = adaptive(fixed(2s), window = 20)), Default])]
fn h() -> std::io::Result<()> {
    Ok(())
}

// A static takes no generic arguments (and `a<0>` would read as a comparison).
#[retry(budget = limits::OPENAI<u8>, breaker = LLM::<0>)]
fn i() -> std::io::Result<()> {
    Ok(())
}

fn main() {
    let _ = (a(), b(), c(), d(), e(), f(), g(), h(), i());
}
