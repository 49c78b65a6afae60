use retry_runtime::{CircuitBreaker, retry};

static LLM: CircuitBreaker = CircuitBreaker::new();

#[derive(Debug)]
struct MyError;

#[retry(attempts = 3, breaker = LLM)]
fn call() -> Result<(), MyError> {
    Err(MyError)
}

fn main() {
    let _ = call();
}
