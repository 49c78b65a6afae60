use retry_runtime::retry;

// The policy is one `static`: it cannot depend on a type parameter...
#[retry(policy = generic_policy)]
fn generic<T: Clone>(t: T) -> std::io::Result<T> {
    Ok(t)
}

// ...nor borrow from the arguments...
#[retry(policy = borrowed_policy)]
fn borrowed(s: &str) -> std::io::Result<&str> {
    Ok(s)
}

fn named<'a>(s: &'a str) -> std::io::Result<&'a str> {
    Ok(s)
}

#[retry(policy = named_policy)]
fn with_lifetime<'a>(s: &'a str) -> std::io::Result<&'a str> {
    named(s)
}

// ...nor hide its type.
#[retry(policy = hidden_policy)]
fn hidden() -> std::io::Result<impl std::fmt::Display> {
    Ok(1)
}

struct Client;

impl Client {
    #[retry(policy = itself_policy)]
    fn new_one() -> std::io::Result<Self> {
        Ok(Client)
    }
}

// Not the function's own name.
#[retry(policy = same)]
fn same() -> std::io::Result<()> {
    Ok(())
}

// A name, not a call.
#[retry(policy = "complete_policy")]
fn quoted() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
