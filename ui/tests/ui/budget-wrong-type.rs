use retry_runtime::{CircuitBreaker, retry};

static NOT_A_BUDGET: u32 = 7;
static LLM: CircuitBreaker = CircuitBreaker::new();

#[retry(budget = NOT_A_BUDGET, breaker = LLM)]
async fn call() -> std::io::Result<()> {
    Ok(())
}

fn main() {
    let _ = call();
}
