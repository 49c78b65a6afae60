use retry_runtime::retry;

#[retry(attempts = 3)]
async fn leaves_the_loop(x: u32) -> std::io::Result<u32> {
    if x > 1 {
        break;
    }
    for i in 0..x {
        if i == 2 {
            continue;
        }
    }
    Ok(x)
}

#[retry(attempts = 3)]
fn restarts_the_attempt(x: u32) -> std::io::Result<u32> {
    match x {
        0 => continue,
        _ => Ok(x),
    }
}

macro_rules! stop {
    () => {
        break
    };
}

// A `break` the attribute cannot see (inside a macro) still cannot reach the
// retry loop.
#[retry(attempts = 3)]
async fn hidden(x: u32) -> std::io::Result<u32> {
    if x > 1 {
        stop!();
    }
    Ok(x)
}

fn main() {
    let _ = hidden(1);
    let _ = leaves_the_loop(1);
    let _ = restarts_the_attempt(1);
}
