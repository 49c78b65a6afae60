use std::future::Future;
use std::pin::Pin;

use retry_runtime::retry;

trait Model {
    fn complete<'a>(&'a self) -> Pin<Box<dyn Future<Output = std::io::Result<String>> + Send + 'a>>;
}

struct Local;

// What `#[async_trait]` makes of `async fn complete(&self) -> std::io::Result<String>`.
impl Model for Local {
    #[retry(attempts = 3)]
    fn complete<'a>(&'a self) -> Pin<Box<dyn Future<Output = std::io::Result<String>> + Send + 'a>> {
        Box::pin(async move { Ok(String::new()) })
    }
}

fn main() {}
