//! A real HTTP/1.1 server on 127.0.0.1 that answers as it is told: any status
//! and headers, slow answers, and connections dropped before the response.
//!
//! It runs on its own thread with its own tokio runtime, so a test that pauses
//! its clock does not pause the server.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// What the server does with one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Answer with this status, headers and body.
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Close the connection without answering.
    Drop,
    /// Answer `200 OK` announcing `claimed` bytes, send `body`, then close
    /// the connection: a body cut short, as when a server dies midway.
    Cut { body: String, claimed: usize },
    /// Wait, then do the inner reply.
    Slow(Duration, Box<Reply>),
}

impl Reply {
    /// `status` with a body and no extra headers.
    pub fn status(status: u16, body: impl Into<String>) -> Reply {
        Reply::Respond {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// `200 OK` with a JSON body.
    pub fn json(body: impl Into<String>) -> Reply {
        Reply::status(200, body).header("content-type", "application/json")
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        if let Reply::Respond { headers, .. } = &mut self {
            headers.push((name.to_string(), value.to_string()));
        }
        self
    }

    /// A `200 OK` whose body stops after `body`, short of `claimed` bytes.
    pub fn cut(body: impl Into<String>, claimed: usize) -> Reply {
        Reply::Cut {
            body: body.into(),
            claimed,
        }
    }

    /// The same reply after `delay`.
    pub fn after(self, delay: Duration) -> Reply {
        Reply::Slow(delay, Box::new(self))
    }
}

/// What the server saw of a request.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub body: Bytes,
    /// The request's number, from 1, over the server's life.
    pub number: u32,
    /// Its headers (names in lower case; values that are not text left out).
    pub headers: Vec<(String, String)>,
}

impl Seen {
    /// The value of the header `name` (lower case), if the request had it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

type Handler = dyn Fn(&Seen) -> Reply + Send + Sync;

/// A running server; it stops when dropped.
pub struct FaultServer {
    addr: SocketAddr,
    requests: Arc<AtomicU32>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl FaultServer {
    /// Starts a server on a free port of 127.0.0.1 that answers each request
    /// with `handler`.
    pub fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> FaultServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("local address");
        let requests = Arc::new(AtomicU32::new(0));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let handler: Arc<Handler> = Arc::new(handler);
        let counter = requests.clone();
        std::thread::Builder::new()
            .name(format!("fault-server-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("server runtime");
                rt.block_on(serve(listener, handler, counter, stopped));
            })
            .expect("server thread");
        FaultServer {
            addr,
            requests,
            _stop: stop,
        }
    }

    /// Starts a server that gives the replies in order, repeating the last.
    pub fn scripted(replies: impl IntoIterator<Item = Reply>) -> FaultServer {
        let replies: Mutex<VecDeque<Reply>> = Mutex::new(replies.into_iter().collect());
        FaultServer::start(move |_| {
            let mut replies = replies.lock().unwrap();
            if replies.len() > 1 {
                replies.pop_front().unwrap()
            } else {
                replies
                    .front()
                    .cloned()
                    .unwrap_or_else(|| Reply::status(200, ""))
            }
        })
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many requests arrived (dropped ones included).
    pub fn requests(&self) -> u32 {
        self.requests.load(Ordering::SeqCst)
    }
}

async fn serve(
    listener: std::net::TcpListener,
    handler: Arc<Handler>,
    counter: Arc<AtomicU32>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
            _ = &mut stopped => return,
        };
        let handler = handler.clone();
        let counter = counter.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let handler = handler.clone();
                let counter = counter.clone();
                async move {
                    let number = counter.fetch_add(1, Ordering::SeqCst) + 1;
                    let (parts, body) = request.into_parts();
                    let body = body
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let headers = parts
                        .headers
                        .iter()
                        .filter_map(|(n, v)| Some((n.to_string(), v.to_str().ok()?.to_string())))
                        .collect();
                    let seen = Seen {
                        method: parts.method.to_string(),
                        path: parts.uri.path().to_string(),
                        body,
                        number,
                        headers,
                    };
                    let mut reply = handler(&seen);
                    while let Reply::Slow(delay, inner) = reply {
                        tokio::time::sleep(delay).await;
                        reply = *inner;
                    }
                    respond(reply)
                }
            });
            // A dropped reply is an error from the service: hyper then closes
            // the connection without answering.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped on purpose")
    }
}

impl std::error::Error for Dropped {}

type Body = BoxBody<Bytes, Dropped>;

fn respond(reply: Reply) -> Result<Response<Body>, Dropped> {
    match reply {
        Reply::Respond {
            status,
            headers,
            body,
        } => {
            let mut response = Response::builder().status(status);
            for (name, value) in headers {
                response = response.header(name, value);
            }
            let full = |b: Bytes| Full::new(b).map_err(|never| match never {}).boxed();
            Ok(response
                .body(full(Bytes::from(body)))
                .unwrap_or_else(|_| Response::new(full(Bytes::from_static(b"bad reply")))))
        }
        Reply::Cut { body, claimed } => Ok(Response::builder()
            .status(200)
            .header("content-length", claimed.to_string())
            .body(
                CutBody {
                    data: Some(Bytes::from(body)),
                    // Long enough for the head and the first bytes to be sent.
                    then: Box::pin(tokio::time::sleep(Duration::from_millis(20))),
                }
                .boxed(),
            )
            .map_err(|_| Dropped)?),
        Reply::Drop | Reply::Slow(..) => Err(Dropped),
    }
}

/// A body that yields its bytes, waits a little, then fails: hyper closes
/// the connection midway through the body.
struct CutBody {
    data: Option<Bytes>,
    then: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl hyper::body::Body for CutBody {
    type Data = Bytes;
    type Error = Dropped;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Dropped>>> {
        use std::future::Future;
        if let Some(bytes) = self.data.take() {
            return std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(bytes))));
        }
        self.then.as_mut().poll(cx).map(|()| Some(Err(Dropped)))
    }
}
