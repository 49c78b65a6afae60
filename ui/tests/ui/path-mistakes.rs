use retry_runtime::retry;

// Paths the expansion emits where a reserved word or `Self` cannot go, and a
// name with a suffix: each is the key's own error.
#[retry(fallback = try)]
fn fallback_try() -> std::io::Result<()> {
    Ok(())
}

#[retry(budget = try, breaker = m::try)]
fn protection_try() -> std::io::Result<()> {
    Ok(())
}

#[retry(crate = Self)]
fn crate_self() -> std::io::Result<()> {
    Ok(())
}

#[retry(name = "chat"x)]
fn suffixed_name() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
