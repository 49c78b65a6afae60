use retry_runtime::retry;

// `attempt` names the running attempt; the number of attempts is `attempts`.
#[retry(attempt = 5)]
fn number(n: u32) -> std::io::Result<u32> {
    Ok(n)
}

#[retry(attempt = "a")]
fn string(n: u32) -> std::io::Result<u32> {
    Ok(n)
}

// The name of a parameter: it would be hidden in the body.
#[retry(attempt = n)]
fn hidden(n: u32) -> std::io::Result<u32> {
    Ok(n)
}

fn main() {}
