use retry_runtime::retry;

struct Cache {
    value: String,
}

impl Cache {
    #[retry(attempts = 3)]
    async fn get(&mut self) -> std::io::Result<&str> {
        self.value.push('x');
        Ok(&self.value)
    }

    // Owned values, and borrows of `&self`, are fine.
    #[retry(attempts = 3)]
    async fn owned(&mut self) -> std::io::Result<String> {
        Ok(self.value.clone())
    }

    #[retry(attempts = 3)]
    async fn shared(&self) -> std::io::Result<&str> {
        Ok(&self.value)
    }
}

#[retry(attempts = 3)]
fn first<'a>(items: &'a mut Vec<u8>, _name: &str) -> std::io::Result<&'a mut u8> {
    items.first_mut().ok_or(std::io::ErrorKind::NotFound.into())
}

fn main() {}
