use retry_runtime::retry;

#[retry(attempts = 3)]
struct Client;

fn main() {}
