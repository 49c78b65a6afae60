use retry_runtime::retry;

struct Request {
    body: String,
}

#[retry(attempts = 3)]
async fn send(request: Request, label: &str) -> std::io::Result<usize> {
    Ok(request.body.len() + label.len())
}

fn main() {
    let _ = send(Request { body: String::new() }, "x");
}
