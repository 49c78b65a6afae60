use retry_runtime::retry;

fn other_signature(_: u32, _: u32) -> std::io::Result<u32> {
    Ok(0)
}

fn other_error(_: u32) -> Result<u32, String> {
    Ok(0)
}

// A fallback must take the same arguments...
#[retry(fallback = other_signature)]
fn wrong_arguments(n: u32) -> std::io::Result<u32> {
    Ok(n)
}

// ...and return the same type.
#[retry(fallback = other_error)]
fn wrong_return(n: u32) -> std::io::Result<u32> {
    Ok(n)
}

// A parameter under `#[cfg]` cannot be passed on.
#[retry(fallback = other_error)]
fn conditional(#[cfg(any())] n: u32) -> std::io::Result<u32> {
    Ok(0)
}

// Not a path.
#[retry(fallback = 5)]
fn literal(n: u32) -> std::io::Result<u32> {
    Ok(n)
}


// Its own fallback: a retry loop that calls itself for ever.
#[retry(fallback = itself)]
fn itself(n: u32) -> std::io::Result<u32> {
    Ok(n)
}

fn same(n: u32) -> std::io::Result<u32> {
    Ok(n)
}

// `fallback_on` without a fallback to hand the errors to.
#[retry(fallback_on = [Quota])]
fn no_fallback(n: u32) -> std::io::Result<u32> {
    Ok(n)
}

// `fallback_on` takes classes, without overrides, and at least one.
#[retry(fallback = same, fallback_on = [RateLimited => (attempts = 2)])]
fn overridden(n: u32) -> std::io::Result<u32> {
    Ok(n)
}

#[retry(fallback = same, fallback_on = [])]
fn empty(n: u32) -> std::io::Result<u32> {
    Ok(n)
}

#[retry(fallback = same, fallback_on = Quota)]
fn not_a_list(n: u32) -> std::io::Result<u32> {
    Ok(n)
}

fn main() {}
