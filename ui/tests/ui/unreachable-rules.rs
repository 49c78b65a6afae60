use retry_runtime::retry;

// The first rule that matches decides: a rule after `Any`, or a class
// listed twice, is never reached.
#[retry(on = [Any, Connect])]
fn f() -> std::io::Result<()> {
    Ok(())
}

#[retry(on = [Status(429), Connect, Status(429) => (attempts = 2)])]
fn g() -> std::io::Result<()> {
    Ok(())
}

// An override that changes nothing, and a first delay above the cap.
#[retry(on = [RateLimited => ()], wait = exponential(initial = 120, max = 60))]
fn h() -> std::io::Result<()> {
    Ok(())
}

fn main() {
    let _ = (f(), g(), h());
}
