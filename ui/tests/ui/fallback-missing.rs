use retry_runtime::retry;

// A function that does not exist.
#[retry(fallback = no_such_function)]
fn missing(n: u32) -> std::io::Result<u32> {
    Ok(n)
}

fn main() {}
