// A body of the wrong type is reported at the body, as without the
// attribute: an empty body, and a tail that is not a `Result`.
use retry_runtime::retry;

#[retry(attempts = 2, wait = none)]
async fn empty() -> Result<(), std::io::Error> {}

#[retry(attempts = 2, wait = none)]
async fn plain_tail() -> Result<u32, std::io::Error> {
    let x = 1;
    x
}

fn main() {}
