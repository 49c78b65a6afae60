use std::future::Future;

use retry_runtime::retry;

#[retry(attempts = 3)]
fn fetch() -> impl Future<Output = std::io::Result<u32>> + Send {
    async { Ok(1) }
}

fn main() {
    let _ = fetch();
}
