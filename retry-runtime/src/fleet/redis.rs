//! Budgets, circuit breakers, adaptive windows and rate-limit cool-downs
//! shared by every process of a fleet, on Redis (cargo feature `redis`).
//!
//! The `static` declarations and the attributes do not change: the
//! application connects them to Redis once, at start-up, inside its tokio
//! runtime. Processes that share the same key share the state.
//!
//! ```no_run
//! use retry_runtime::{retry, Budget, CircuitBreaker};
//!
//! static OPENAI: Budget = Budget::new(0.1, 10);
//! static LLM: CircuitBreaker = CircuitBreaker::new();
//!
//! #[retry(attempts = 5, budget = OPENAI, breaker = LLM)]
//! async fn complete(prompt: &str) -> std::io::Result<String> {
//!     # let _ = prompt;
//!     Ok(String::new())
//! }
//!
//! # async fn start() -> Result<(), Box<dyn std::error::Error>> {
//! let client = redis::Client::open("redis://127.0.0.1/")?;
//! let fleet = retry_runtime::redis::share(&client, "openai", &[&OPENAI, &LLM])?;
//! # let _ = fleet;
//! # Ok(()) }
//! ```
//!
//! # How it works
//!
//! Every member keeps its state in this process as before; what a call
//! decides never waits for Redis. A background task of the runtime that
//! called [`share`] synchronises every [`Options::interval`] (10 ms): one
//! Lua script, so one atomic round trip, writes this process's own counts
//! (its budget's deposits and withdrawals over the last 10 s, its breaker's
//! attempts and failures over its window, its adaptive window's attempts
//! and failures) into a hash field of its own, and reads back the sum of
//! every other live process's counts. The members then decide on the
//! fleet's counts: a budget spends its part of what the whole fleet
//! deposited (see below), a breaker opens when the fleet's attempts reach
//! `min_attempts` and the fleet's failure ratio its threshold, an adaptive
//! wait reads the fleet's failure ratio. No process ever reads, changes and
//! writes back a shared value: each writes only its own field, and the sums
//! are taken inside the script.
//!
//! A breaker that opens in one process opens in the others at their next
//! synchronisation, for the time it has left (each process then lets its
//! own trial attempt through). A call that is told to wait by the server
//! (a 429 or 503 with `Retry-After`, see
//! [`Classify::retry_after`](crate::Classify::retry_after)) publishes the
//! delay at once: every process sharing the key waits it out before its
//! next attempt of a function that names a shared budget or breaker (a
//! cached deadline, read once per attempt; no round trip).
//!
//! # A shared budget: one reserve for the fleet
//!
//! The fleet's balance is every process's deposits, less every process's
//! withdrawals, plus one reserve (`min_per_second × 10` retries): `P`
//! processes sharing `Budget::new(0.1, 10)` have 100 retries in reserve
//! together, not `P × 100`. Between two synchronisations each process
//! spends its part of that balance, in proportion to the calls it made over
//! the last 10 s (an equal part when no call deposits, as with a ratio of
//! 0), and what its own calls deposit meanwhile. The parts add up to the
//! balance, so that when an outage makes every process retry in the same
//! interval, before they hear of each other, they do not each spend all of
//! it. What they can still overdraw is what they spend in one interval
//! while the others' last spending has not reached them: at most about
//! one balance more, once (without parts, each process could spend the
//! whole balance: up to `P` balances). A process that made no call for 10
//! s while others did has no part until its calls deposit; one that left
//! keeps its part until its counts are stale.
//!
//! Two cases give a process the whole reserve to itself: before its first
//! round trip, and while it decides alone (Redis slow or gone, below);
//! during a Redis outage `P` processes may spend up to `P` reserves.
//!
//! # When Redis is slow or gone
//!
//! Each round trip has a time limit ([`Options::timeout`], 50 ms). After two
//! failures in a row the process forgets the other processes' counts and
//! decides on its own state alone, logs one `tracing` warning (not one per
//! call; at most one a minute), and keeps trying in the background, less
//! often (up to once a second, or once an [`Options::interval`] when that
//! is longer: never more often than while Redis answers); when Redis
//! answers again it logs once at INFO and rejoins. No call fails or waits
//! longer because of Redis. When the synchronisation ends (stopped, or its
//! runtime dropped), the members go back to this process's state.
//!
//! # Keys
//!
//! For `share(&client, "openai", ..)`: `retry:{openai}:budget`,
//! `retry:{openai}:breaker` and `retry:{openai}:window` (hashes: one field
//! per process, a random id, holding a server timestamp and counts),
//! `retry:{openai}:open` (the breaker is open while it exists) and
//! `retry:{openai}:cooldown` (the fleet waits while it exists). Every key
//! expires on its own ([`Options::stale`] after the last write, or when the
//! delay it stands for ends), and a process that stops writing (stopped,
//! or gone) is dropped from the sums after [`Options::stale`], 10 s: as
//! long as a budget remembers its retries. An adaptive window is published
//! only while its process makes attempts: one idle for
//! [`Options::window_idle`] (5 minutes) publishes zeros, so that an outage
//! it saw long ago does not weigh on the fleet. Nothing but counts and
//! times is stored: no URL, no error text, no credential.
//!
//! What is read back is bounded, whoever wrote it: an open time or
//! cool-down longer than a day is taken as a day, a sum of counts stops at
//! 2^53, and a field stamped further in the future than [`Options::stale`]
//! is dropped like a stale one.
//!
//! # Tests on tokio's paused clock
//!
//! The round trip's time limit and the interval run on tokio's clock. On a
//! paused clock an idle runtime jumps past the limit before Redis can
//! answer, so every round trip fails and the members decide alone: share
//! from tests that run on the real clock.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::counters::clock::{Clock, TokioClock, millis};
use crate::protect::slot::{CoolDown, FleetSlot};
use crate::protect::{AdaptiveWindow, Budget, CircuitBreaker};

/// A shared group's state in this process.
struct Link {
    /// Until when (process milliseconds) attempts wait; 0: none.
    cooldown_until: AtomicU64,
    /// A cool-down this process learnt and has not yet published; 0: none.
    publish: AtomicU64,
    wake: tokio::sync::Notify,
    /// The last round trip succeeded.
    online: AtomicBool,
    stopped: AtomicBool,
    /// The synchronisation has ended (however it ended).
    ended: AtomicBool,
    on_end: tokio::sync::Notify,
}

impl CoolDown for Link {
    #[inline]
    fn hold(&self, now: Duration) -> Duration {
        let until = self.cooldown_until.load(Relaxed);
        let now = millis(now);
        if until > now {
            Duration::from_millis(until - now)
        } else {
            Duration::ZERO
        }
    }

    fn rate_limited(&self, until: Duration) {
        let until = millis(until);
        self.cooldown_until.fetch_max(until, Relaxed);
        self.publish.fetch_max(until, Relaxed);
        self.wake.notify_one();
    }

    fn ended(&self) -> bool {
        self.ended.load(Acquire)
    }
}

/// A budget, breaker or adaptive window that [`share`] can back with Redis:
/// [`Budget`], [`CircuitBreaker`] and [`AdaptiveWindow`]. Sealed: no other
/// type implements it, and it has no method to call.
///
/// ```
/// use retry_runtime::redis::Shared;
/// use retry_runtime::{AdaptiveWindow, Budget, CircuitBreaker};
///
/// static BUDGET: Budget = Budget::new(0.1, 10);
/// static BREAKER: CircuitBreaker = CircuitBreaker::new();
/// static WINDOW: AdaptiveWindow = AdaptiveWindow::new(100);
/// let members: [&'static dyn Shared; 3] = [&BUDGET, &BREAKER, &WINDOW];
/// # let _ = members;
/// ```
///
/// ```compile_fail
/// // What `share` does with a member is not public API.
/// static BUDGET: retry_runtime::Budget = retry_runtime::Budget::new(0.1, 10);
/// let shared: &'static dyn retry_runtime::redis::Shared = &BUDGET;
/// let _ = shared.member();
/// ```
///
/// ```compile_fail
/// use retry_runtime::redis::Member;
/// ```
pub trait Shared: Sync + sealed::Sealed {}

impl Shared for Budget {}
impl Shared for CircuitBreaker {}
impl Shared for AdaptiveWindow {}

/// Public in a private module: nameable in this crate only, so that
/// neither the trait's method nor [`Member`] is public API.
mod sealed {
    use crate::protect::{AdaptiveWindow, Budget, CircuitBreaker};

    pub trait Sealed {
        /// Callable from this crate only: `Token` cannot be made elsewhere.
        fn member(&'static self, _: Token) -> Member;
    }

    pub struct Token(pub(super) ());

    /// A shared member, by kind.
    #[derive(Clone, Copy)]
    pub enum Member {
        Budget(&'static Budget),
        Breaker(&'static CircuitBreaker),
        Window(&'static AdaptiveWindow),
    }

    impl Sealed for Budget {
        fn member(&'static self, _: Token) -> Member {
            Member::Budget(self)
        }
    }

    impl Sealed for CircuitBreaker {
        fn member(&'static self, _: Token) -> Member {
            Member::Breaker(self)
        }
    }

    impl Sealed for AdaptiveWindow {
        fn member(&'static self, _: Token) -> Member {
            Member::Window(self)
        }
    }
}
use sealed::Member;

impl Member {
    fn slot(self) -> &'static FleetSlot {
        match self {
            Member::Budget(b) => &b.fleet,
            Member::Breaker(b) => &b.fleet,
            Member::Window(w) => &w.fleet,
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Member::Budget(_) => "budget",
            Member::Breaker(_) => "breaker",
            Member::Window(_) => "window",
        }
    }
}

/// How often and how patiently [`share_with`] talks to Redis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// Time between two synchronisations (one round trip each): how stale
    /// the other processes' counts and a breaker opened elsewhere may be.
    /// Default 10 ms; from 1 ms to a day. While Redis cannot be reached the
    /// process tries less often, up to once a second (or once an interval,
    /// when that is longer): never more often than while it answers.
    ///
    /// Each round trip reads every live process's field, so a fleet of `P`
    /// processes asks Redis for about `3 P² / interval` field reads: with
    /// 20 processes, 120,000 a second at 10 ms. Raise it for large fleets
    /// (100 processes at 50 ms: 600,000 a second).
    pub interval: Duration,
    /// The time limit of one round trip; past it the process decides alone
    /// until Redis answers again. Default 50 ms; from 1 ms to a day.
    pub timeout: Duration,
    /// A process that has not written for this long is dropped from the
    /// sums, and the keys expire this long after the last write. Default
    /// 10 s, a budget's window: the retries of a process that stopped or
    /// died count as long as they would in its own budget. At least twice
    /// `interval` plus `timeout`, so that one late round trip does not drop
    /// a live process from the sums; at most a day.
    pub stale: Duration,
    /// An adaptive window whose process made no attempt for this long
    /// publishes zeros until its next attempt, so that an outage it saw
    /// long ago does not weigh on the fleet's ratio. Default 5 minutes:
    /// longer than adaptive waits (up to their `max`, 120 s by default), so
    /// that a process waiting one out still counts. At least `interval`.
    pub window_idle: Duration,
}

impl Options {
    /// The defaults: `interval` 10 ms, `timeout` 50 ms, `stale` 10 s,
    /// `window_idle` 5 minutes.
    pub const fn new() -> Options {
        Options {
            interval: Duration::from_millis(10),
            timeout: Duration::from_millis(50),
            stale: Duration::from_secs(10),
            window_idle: Duration::from_secs(300),
        }
    }
    /// Sets [`Options::interval`].
    pub const fn interval(mut self, interval: Duration) -> Options {
        self.interval = interval;
        self
    }
    /// Sets [`Options::timeout`].
    pub const fn timeout(mut self, timeout: Duration) -> Options {
        self.timeout = timeout;
        self
    }
    /// Sets [`Options::stale`].
    pub const fn stale(mut self, stale: Duration) -> Options {
        self.stale = stale;
        self
    }
    /// Sets [`Options::window_idle`].
    pub const fn window_idle(mut self, window_idle: Duration) -> Options {
        self.window_idle = window_idle;
        self
    }

    /// What makes these options unusable, if anything (what
    /// [`ShareError::BadOptions`] says).
    fn check(&self) -> Result<(), &'static str> {
        let ms = Duration::from_millis(1);
        let day = Duration::from_millis(LONGEST);
        if self.interval < ms || self.interval > day {
            return Err("Options::interval must be from 1 ms to a day");
        }
        if self.timeout < ms || self.timeout > day {
            return Err("Options::timeout must be from 1 ms to a day");
        }
        // Two intervals and a slow round trip: one late round trip does not
        // drop a live process from the sums.
        let least = self.interval.saturating_mul(2).saturating_add(self.timeout);
        if self.stale < least || self.stale > day {
            return Err(
                "Options::stale must be at least twice Options::interval plus Options::timeout, and at most a day",
            );
        }
        Ok(())
    }
}

impl Default for Options {
    fn default() -> Self {
        Options::new()
    }
}

/// Why [`share`] refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum ShareError {
    /// Not called inside a tokio runtime (the synchronisation is one of its
    /// tasks).
    NoRuntime,
    /// A member is already shared (under this key or another), by a
    /// synchronisation that has not ended.
    AlreadyShared(&'static str),
    /// Two members of one kind under one key (share them under two keys).
    TwoOfAKind(&'static str),
    /// The key is empty or longer than 200 bytes.
    BadKey,
    /// The [`Options`] cannot work (what is wrong with them): an interval
    /// or time limit of zero or over a day, a stale time shorter than two
    /// intervals, ...
    BadOptions(&'static str),
    /// The Redis client could not be set up.
    Redis(redis::RedisError),
}

impl fmt::Display for ShareError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShareError::NoRuntime => f.write_str("share() must be called inside a tokio runtime"),
            ShareError::AlreadyShared(kind) => write!(f, "this {kind} is already shared"),
            ShareError::TwoOfAKind(kind) => write!(f, "two of a kind under one key: {kind}"),
            ShareError::BadKey => f.write_str("the key must be 1 to 200 bytes"),
            ShareError::BadOptions(why) => f.write_str(why),
            ShareError::Redis(e) => write!(f, "redis: {e}"),
        }
    }
}

impl std::error::Error for ShareError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ShareError::Redis(e) => Some(e),
            _ => None,
        }
    }
}

/// A running synchronisation, returned by [`share`]. It keeps running when
/// this handle is dropped (for the life of the runtime); [`Sharing::stop`]
/// ends it, and the members go back to this process's state alone. Once it
/// has ended ([`Sharing::leave`] returned, or its runtime was dropped) they
/// can be shared again.
#[derive(Clone, Copy)]
pub struct Sharing {
    link: &'static Link,
    key: &'static str,
}

impl Sharing {
    /// Whether the last round trip to Redis succeeded: `false` before the
    /// first one, from the first that fails (even while the members still
    /// decide on the fleet's last sums, which they keep through one failed
    /// round trip), and once the synchronisation has ended.
    pub fn connected(&self) -> bool {
        self.link.online.load(Relaxed)
    }

    /// The key the members are shared under.
    pub fn key(&self) -> &'static str {
        self.key
    }

    /// Ends the synchronisation; the members decide on this process's
    /// state alone from then on (they keep this key's cool-down until
    /// they are shared again, which they can be once it has ended). In the
    /// background, one last round trip writes this process's last counts
    /// and a cool-down it learnt since the one before (within
    /// [`Options::timeout`]), if the runtime runs that long: to wait for
    /// it, as before a process exits, use [`Sharing::leave`]. The counts
    /// stay in the fleet's sums until they are [`Options::stale`].
    pub fn stop(&self) {
        self.link.stopped.store(true, Relaxed);
        self.link.wake.notify_one();
    }

    /// [`Sharing::stop`], and waits until the synchronisation has ended:
    /// the last round trip made (or Redis did not answer it in time; at
    /// most about two [`Options::timeout`]s), or the runtime that ran it
    /// ended.
    ///
    /// ```no_run
    /// # async fn f(fleet: retry_runtime::redis::Sharing) {
    /// // At shutdown, before the runtime ends:
    /// fleet.leave().await;
    /// # }
    /// ```
    pub async fn leave(&self) {
        let mut ended = std::pin::pin!(self.link.on_end.notified());
        ended.as_mut().enable();
        self.stop();
        if !self.link.ended.load(Acquire) {
            ended.await;
        }
    }
}

impl fmt::Debug for Sharing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sharing")
            .field("key", &self.key)
            .field("connected", &self.connected())
            .finish()
    }
}

/// [`share_with`] with the default [`Options`].
pub fn share(
    client: &redis::Client,
    key: &str,
    members: &[&'static dyn Shared],
) -> Result<Sharing, ShareError> {
    share_with(client, key, members, Options::new())
}

/// Backs `members` (at most one budget, one breaker and one adaptive window)
/// with Redis under `key`, from now on and for the life of the current
/// tokio runtime. Call it once, at start-up, inside the runtime. A member
/// whose synchronisation has ended ([`Sharing::leave`] returned, or its
/// runtime was dropped, as each `#[tokio::test]`'s runtime is) can be
/// shared again, under this key or another; it starts afresh (the old
/// key's cool-down is forgotten).
///
/// # Errors
///
/// A [`ShareError`] says why, and nothing was shared: a bad key, [`Options`]
/// that cannot work, a member shared already, no runtime, or a client that
/// could not be set up. No error comes from Redis being down: the
/// synchronisation keeps trying in the background.
pub fn share_with(
    client: &redis::Client,
    key: &str,
    members: &[&'static dyn Shared],
    options: Options,
) -> Result<Sharing, ShareError> {
    if key.is_empty() || key.len() > 200 {
        return Err(ShareError::BadKey);
    }
    options.check().map_err(ShareError::BadOptions)?;
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| ShareError::NoRuntime)?;
    // One `share` at a time, so that two racing for one member cannot each
    // link a part of their list (the check below and the linking are one
    // step). Start-up only: no call takes this lock.
    static SHARING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = SHARING.lock().unwrap_or_else(|e| e.into_inner());
    let members: Vec<Member> = members
        .iter()
        .map(|m| m.member(sealed::Token(())))
        .collect();
    for (i, m) in members.iter().enumerate() {
        if members[..i].iter().any(|o| o.kind() == m.kind()) {
            return Err(ShareError::TwoOfAKind(m.kind()));
        }
        if m.slot().cool_down().is_some_and(|l| !l.ended()) {
            return Err(ShareError::AlreadyShared(m.kind()));
        }
    }
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(options.timeout))
        .set_response_timeout(Some(options.timeout))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500));
    let manager = ConnectionManager::new_lazy_with_config(client.clone(), config)
        .map_err(ShareError::Redis)?;
    let link: &'static Link = Box::leak(Box::new(Link {
        cooldown_until: AtomicU64::new(0),
        publish: AtomicU64::new(0),
        wake: tokio::sync::Notify::new(),
        online: AtomicBool::new(false),
        stopped: AtomicBool::new(false),
        ended: AtomicBool::new(false),
        on_end: tokio::sync::Notify::new(),
    }));
    for m in &members {
        // Checked above, under the lock: the member's last synchronisation
        // (if any) has ended, and its syncer forgot the fleet's counts.
        m.slot().link(link);
    }
    let key: &'static str = Box::leak(key.to_owned().into_boxed_str());
    let prefix = format!("retry:{{{key}}}");
    let sync = Syncer {
        link,
        key,
        keys: ["budget", "breaker", "window", "open", "cooldown"].map(|k| format!("{prefix}:{k}")),
        window_moved: (AtomicU64::new(0), AtomicU64::new(0)),
        members,
        options: Options {
            window_idle: options.window_idle.max(options.interval),
            ..options
        },
        id: process_id(),
        script: redis::Script::new(SCRIPT),
    };
    runtime.spawn(sync.run(manager));
    Ok(Sharing { link, key })
}

/// A random id for this process's fields (nothing about the host).
fn process_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

/// One round trip: write this process's counts, read the others' sums.
///
/// KEYS: the members' hashes (budget, breaker, window), the breaker's open
/// key, the cool-down key. ARGV: this process's field; its counts as
/// "a b" per hash ("-" when it has no such member); the stale time, the
/// breaker's remaining open time and the cool-down to publish (ms, 0: none).
/// Returns the other live processes' two sums per hash, the time left of
/// the open key and of the cool-down (ms; less than 1: none), and how many
/// other live processes share the budget.
///
/// Whatever the fields hold, the sums stay below 2^53: Lua's numbers are
/// doubles, exact to there, and Redis turns one past `i64` into `i64::MIN`.
/// A field written more than the stale time in the future (by another
/// server's clock, or by something else) is dropped like a stale one.
const SCRIPT: &str = r"
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local stale = tonumber(ARGV[5])
local most = 9007199254740991
local out = {}
local budgets = 0
for h = 1, 3 do
  local a, b = 0, 0
  if ARGV[h + 1] ~= '-' then
    redis.call('HSET', KEYS[h], ARGV[1], now .. ' ' .. ARGV[h + 1])
    redis.call('PEXPIRE', KEYS[h], stale)
    local all = redis.call('HGETALL', KEYS[h])
    for i = 1, #all, 2 do
      if all[i] ~= ARGV[1] then
        local at, x, y = string.match(all[i + 1], '^(%d+) (%d+) (%d+)$')
        if at == nil or math.abs(now - tonumber(at)) > stale then
          redis.call('HDEL', KEYS[h], all[i])
        else
          a = a + tonumber(x)
          b = b + tonumber(y)
          if h == 1 then budgets = budgets + 1 end
        end
      end
    end
  end
  out[2 * h - 1] = math.min(a, most)
  out[2 * h] = math.min(b, most)
end
local open = tonumber(ARGV[6])
if open > 0 and redis.call('PTTL', KEYS[4]) < open then
  redis.call('SET', KEYS[4], '1', 'PX', open)
end
local cool = tonumber(ARGV[7])
if cool > 0 and redis.call('PTTL', KEYS[5]) < cool then
  redis.call('SET', KEYS[5], '1', 'PX', cool)
end
out[7] = redis.call('PTTL', KEYS[4])
out[8] = redis.call('PTTL', KEYS[5])
out[9] = budgets
return out
";

/// The longest open time or cool-down written to or read from Redis, and
/// the longest interval, time limit and stale time: a day, in milliseconds
/// (an open time or cool-down that is longer is taken as a day).
const LONGEST: u64 = 24 * 60 * 60 * 1000;

/// The longest pause between two round trips while Redis cannot be reached,
/// unless the interval is longer.
const SLOWEST: Duration = Duration::from_secs(1);

struct Syncer {
    link: &'static Link,
    key: &'static str,
    /// The Redis keys, in the script's order.
    keys: [String; 5],
    /// The adaptive window's attempt count when last seen, and when it last
    /// moved (process milliseconds).
    window_moved: (AtomicU64, AtomicU64),
    members: Vec<Member>,
    options: Options,
    id: String,
    script: redis::Script,
}

/// However the synchronisation ends (stopped, or its runtime dropped, even
/// before the task first ran), the members go back to this process's own
/// state, and [`Sharing::leave`] hears of it.
impl Drop for Syncer {
    fn drop(&mut self) {
        self.forget();
        self.link.online.store(false, Relaxed);
        self.link.ended.store(true, Release);
        self.link.on_end.notify_waiters();
    }
}

impl Syncer {
    async fn run(self, mut manager: ConnectionManager) {
        let mut warned_at: Option<std::time::Instant> = None;
        let mut failures = 0u32;
        let mut pause = self.options.interval;
        loop {
            // Wakes early when a cool-down is to be published, or when
            // stopped.
            if !self.link.stopped.load(Relaxed) {
                let _ = tokio::time::timeout(pause, self.link.wake.notified()).await;
            }
            // Stopped: this round trip is the last. It writes this
            // process's last counts and a cool-down learnt since the one
            // before; the counts stay in the fleet's sums until they are
            // stale (what this process spent and saw is the fleet's history
            // still: its retries were made, its failures seen).
            let last = self.link.stopped.load(Relaxed);
            let now = TokioClock::ticks();
            let publish = self.link.publish.swap(0, Relaxed);
            let invocation = self.invocation(now, publish);
            let answer = tokio::time::timeout(
                self.options.timeout,
                invocation.invoke_async::<Vec<i64>>(&mut manager),
            )
            .await;
            match answer {
                Ok(Ok(sums)) if sums.len() == 9 => {
                    self.apply(&sums, TokioClock::ticks());
                    self.link.online.store(true, Relaxed);
                    let was_alone = failures >= 2;
                    failures = 0;
                    pause = self.options.interval;
                    if was_alone && warned_at.is_some() {
                        tracing::info!(
                            target: "retry_runtime",
                            key = self.key,
                            "redis answers again: sharing the fleet's state"
                        );
                    }
                }
                failed => {
                    // Published again at the next round trip.
                    self.link.publish.fetch_max(publish, Relaxed);
                    self.link.online.store(false, Relaxed);
                    failures = failures.saturating_add(1);
                    // One slow answer keeps the last sums; a second in a
                    // row means deciding alone, and trying less often.
                    if failures >= 2 {
                        self.forget();
                        let slowest = SLOWEST.max(self.options.interval);
                        pause = pause.saturating_mul(2).min(slowest);
                    }
                    // One warning per outage, and at most one a minute.
                    let quiet = warned_at.is_some_and(|at| at.elapsed() < Duration::from_secs(60));
                    if failures == 2 && !quiet {
                        warned_at = Some(std::time::Instant::now());
                        let why = match failed {
                            Ok(Ok(_)) => "an unexpected answer".to_owned(),
                            Ok(Err(e)) => e.to_string(),
                            Err(_) => format!("no answer within {:?}", self.options.timeout),
                        };
                        tracing::warn!(
                            target: "retry_runtime",
                            key = self.key,
                            error = %why,
                            "redis cannot be reached: deciding on this process's state alone until it answers"
                        );
                    }
                }
            }
            if last {
                break;
            }
        }
    }

    fn invocation(&self, now: Duration, publish: u64) -> redis::ScriptInvocation<'_> {
        let mut counts = ["-".to_owned(), "-".to_owned(), "-".to_owned()];
        let mut open = 0u64;
        for m in &self.members {
            match *m {
                Member::Budget(b) => {
                    let (d, w) = b.own_counts(now);
                    counts[0] = format!("{d} {w}");
                }
                Member::Breaker(b) => {
                    let (a, f) = b.own_counts(now);
                    counts[1] = format!("{a} {f}");
                    open = b.open_left(now).map_or(0, millis).min(LONGEST);
                }
                Member::Window(w) => {
                    // Only attempts within the window's max_age, so that an
                    // idle process that publishes again does not bring back
                    // an outage it saw long ago; an idle one publishes zeros.
                    let (recorded, s, f) = w.own_counts(now);
                    let (seen, moved) = &self.window_moved;
                    if seen.swap(recorded, Relaxed) != recorded {
                        moved.store(millis(now), Relaxed);
                    }
                    let idle = millis(now).saturating_sub(moved.load(Relaxed));
                    counts[2] = if idle > millis(self.options.window_idle) {
                        "0 0".to_owned()
                    } else {
                        format!("{s} {f}")
                    };
                }
            }
        }
        let cool = publish.saturating_sub(millis(now)).min(LONGEST);
        let mut invocation = self.script.prepare_invoke();
        for key in &self.keys {
            invocation.key(key);
        }
        invocation
            .arg(&self.id)
            .arg(&counts[0])
            .arg(&counts[1])
            .arg(&counts[2])
            .arg(millis(self.options.stale))
            .arg(open)
            .arg(cool);
        invocation
    }

    fn apply(&self, sums: &[i64], now: Duration) {
        let n = |i: usize| u64::try_from(sums[i]).unwrap_or(0);
        // However long another process (or anything else) set them for.
        let left = |i: usize| {
            u64::try_from(sums[i])
                .ok()
                .filter(|&ms| ms > 0)
                .map(|ms| Duration::from_millis(ms.min(LONGEST)))
        };
        for m in &self.members {
            match *m {
                Member::Budget(b) => b.set_fleet(now, n(0), n(1), n(8).saturating_add(1)),
                Member::Breaker(b) => {
                    b.fleet.set_others(n(2), n(3));
                    b.fleet_apply(now, left(6));
                }
                Member::Window(w) => w.fleet.set_others(n(4), n(5)),
            }
        }
        if let Some(cool) = left(7) {
            let until = millis(now.saturating_add(cool));
            self.link.cooldown_until.fetch_max(until, Relaxed);
        }
    }

    /// Back to this process's own state.
    fn forget(&self) {
        for m in &self.members {
            m.slot().set_others(0, 0);
        }
    }
}
