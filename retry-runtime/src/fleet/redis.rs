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
//! called [`share`] synchronises every [`Options::interval`] (10 ms, see
//! below for large fleets): one Lua script, so one atomic round trip, adds
//! this process's own counts (its budget's deposits and withdrawals over
//! the last 10 s, its breaker's attempts and failures over its window, its
//! adaptive window's attempts and failures) to the fleet's totals of the
//! current period ([`Options::period`], 2 s), and reads the totals back.
//! A process's ledger says what it last added and in which period, so the
//! script adds only the difference, once (an answer lost on its way back
//! is not counted again; after Redis restarts empty, the whole counts are
//! added again, once). For each member, the totals come from the current
//! period once as many processes have reported in it as in the one before
//! (or once the period is two intervals old), else from the previous one;
//! this process's own share is taken out (what its ledger says it added
//! there). A process keeps one id, so sharing again after leaving goes on
//! from its ledger. The members then
//! decide on the fleet's counts: a budget spends its part of what the whole
//! fleet deposited (see below), a breaker opens when the fleet's attempts
//! reach `min_attempts` and the fleet's failure ratio its threshold, an
//! adaptive wait reads the fleet's failure ratio. Nothing is read per
//! process: a round trip costs Redis the same whatever the fleet's size.
//!
//! # Scale and staleness
//!
//! The fleet's round trips are bounded: each process's interval is at
//! least `processes / `[`Options::fleet_rate`] (1,500 round trips a second
//! for the whole fleet by default: 100 processes sync every 67 ms, 1,000
//! every 667 ms), at most half a period, and doubles while nothing changes
//! (this process's counts, the others', no cool-down to publish). So the
//! other processes' counts a decision sees are at most one interval old
//! (two while quiet), plus, at the turn of a period, the time it takes
//! every process to report in the new one. A breaker that opens in one
//! process, and a cool-down, reach each other process at its next round
//! trip. Measured (`benches/fleet_scale.rs`, BENCHMARKS.md): 1,000
//! processes on one key take 9.1% of one Redis core, with round trips of
//! 0.58 ms at the 99th percentile, and an opened breaker reaches all of
//! them within one interval.
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
//! s while others did has no part until its calls deposit. A process that
//! left (or died) leaves the totals within two periods: from then on its
//! retries no longer count against the fleet's balance, although its own
//! budget would have remembered them for 10 s.
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
//! answers again it logs once at INFO (after an outage it warned of) and
//! rejoins. No call fails or waits
//! longer because of Redis. When the synchronisation ends (stopped, or its
//! runtime dropped), the members go back to this process's state.
//!
//! # Keys
//!
//! For `share(&client, "openai", ..)`: `retry:{openai}:s:N` (a hash: the
//! totals of period `N`, by count, and how many processes reported them),
//! `retry:{openai}:p:ID` (a hash: what the process with the random id `ID`
//! last added, and in which period), `retry:{openai}:open` (the breaker is
//! open while it exists) and `retry:{openai}:cooldown` (the fleet waits
//! while it exists). Every key carries the hash tag `{openai}`, so all of
//! them live in one slot of a Redis Cluster, and the script declares the
//! keys it touches. Every key expires on its own (the larger of three
//! periods and [`Options::stale`] after a process first wrote it in a
//! period, or when the delay it stands for ends), and a process that stops
//! writing (stopped, or gone) leaves the totals within two periods. Keys of
//! the design before this one (`retry:{openai}:budget`, `:breaker`,
//! `:window`) are not read: processes of the two versions share the open
//! breaker and the cool-down, not their counts; upgrade a fleet together. An adaptive window is
//! published only while its process makes attempts: one idle for
//! [`Options::window_idle`] (5 minutes) publishes zeros, so that an outage
//! it saw long ago does not weigh on the fleet. Nothing but counts and
//! times is stored: no URL, no error text, no credential.
//!
//! What is read back is bounded, whoever wrote it: an open time or
//! cool-down longer than a day is taken as a day, a total stops at 2^53,
//! one below zero or that is no number is none, and an addition that would
//! overflow a total is dropped (the round trip goes on).
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

impl Link {
    fn new() -> Link {
        Link {
            cooldown_until: AtomicU64::new(0),
            publish: AtomicU64::new(0),
            wake: tokio::sync::Notify::new(),
            online: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            ended: AtomicBool::new(false),
            on_end: tokio::sync::Notify::new(),
        }
    }
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

    /// A breaker of the group opened here: published at once.
    fn opened(&self) {
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
    /// the other processes' counts and a breaker opened elsewhere may be,
    /// for a small fleet. Default 10 ms; from 1 ms to a day. While Redis cannot be reached the
    /// process tries less often, up to once a second (or once an interval,
    /// when that is longer): never more often than while it answers.
    ///
    /// A round trip costs Redis the same whatever the fleet's size; the
    /// fleet's rate is bounded by [`Options::fleet_rate`], which stretches
    /// each process's interval as the fleet grows, and a process whose
    /// counts did not change waits up to twice as long.
    pub interval: Duration,
    /// The time limit of one round trip; past it the process decides alone
    /// until Redis answers again. Default 50 ms; from 1 ms to a day.
    pub timeout: Duration,
    /// The keys expire this long after their last write (or three periods,
    /// when that is longer), so that Redis keeps nothing of a fleet that
    /// stopped. Default 10 s. At least twice `interval` plus `timeout`; at
    /// most a day. (A process that stops writing leaves the totals within
    /// two periods, whatever this says: see [`Options::period`].)
    pub stale: Duration,
    /// An adaptive window whose process made no attempt for this long
    /// publishes zeros until its next attempt, so that an outage it saw
    /// long ago does not weigh on the fleet's ratio. Default 5 minutes:
    /// longer than adaptive waits (up to their `max`, 120 s by default), so
    /// that a process waiting one out still counts. At least `interval`.
    pub window_idle: Duration,
    /// The counts are totalled per period of this length: every process
    /// adds its counts to the current period's totals, and reads the
    /// totals of the current period (once every process has reported in
    /// it) or of the previous one. A process that stops reporting (stopped,
    /// or gone) leaves the totals within two periods. Default 2 s; from
    /// 1 ms to a day, and taken as twice `interval` when shorter. Each
    /// process's interval, however [`Options::fleet_rate`] stretches it,
    /// stays at most half a period.
    pub period: Duration,
    /// The most round trips a second that the whole fleet makes on one
    /// key, summed over its processes: each process's interval is at least
    /// `processes / fleet_rate` (1,000 processes at 1,500 a second: one
    /// round trip every 667 ms each), up to half a period. Default 1,500,
    /// under 10% of one Redis core (BENCHMARKS.md); at least 1.
    pub fleet_rate: u32,
}

impl Options {
    /// The defaults: `interval` 10 ms, `timeout` 50 ms, `stale` 10 s,
    /// `window_idle` 5 minutes, `period` 2 s, `fleet_rate` 1,500.
    pub const fn new() -> Options {
        Options {
            interval: Duration::from_millis(10),
            timeout: Duration::from_millis(50),
            stale: Duration::from_secs(10),
            window_idle: Duration::from_secs(300),
            period: Duration::from_secs(2),
            fleet_rate: 1_500,
        }
    }
    /// Sets [`Options::period`].
    pub const fn period(mut self, period: Duration) -> Options {
        self.period = period;
        self
    }
    /// Sets [`Options::fleet_rate`].
    pub const fn fleet_rate(mut self, fleet_rate: u32) -> Options {
        self.fleet_rate = fleet_rate;
        self
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
        if self.period < ms || self.period > day {
            return Err("Options::period must be from 1 ms to a day");
        }
        if self.fleet_rate == 0 {
            return Err("Options::fleet_rate must be at least 1");
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
    /// The key is empty, longer than 200 bytes, or has a brace (it is the
    /// hash tag of every Redis key of the share).
    BadKey,
    /// The [`Options`] cannot work (what is wrong with them): an interval
    /// or time limit of zero or over a day, a stale time shorter than twice
    /// the interval plus the time limit, ...
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
            ShareError::BadKey => f.write_str("the key must be 1 to 200 bytes, without braces"),
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
    /// stay in the fleet's totals for the rest of the period and the next
    /// ([`Options::period`]).
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
    // Braces would end the hash tag `{key}` early: the keys of one share
    // would no longer be in one slot of a cluster.
    if key.is_empty() || key.len() > 200 || key.contains(['{', '}']) {
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
    let link: &'static Link = Box::leak(Box::new(Link::new()));
    for m in &members {
        // Checked above, under the lock: the member's last synchronisation
        // (if any) has ended, and its syncer forgot the fleet's counts.
        m.slot().link(link);
    }
    let key: &'static str = Box::leak(key.to_owned().into_boxed_str());
    let sync = Syncer::new(link, key, members, options);
    runtime.spawn(sync.run(manager));
    Ok(Sharing { link, key })
}

/// A random id for this process's ledgers (nothing about the host): one
/// for the life of the process, so that sharing again after leaving finds
/// the ledger of what it already added, and adds only what changed.
fn process_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        format!("{:016x}", h.finish())
    })
}

/// One round trip: add this process's counts to the current period's
/// totals, read the totals back.
///
/// KEYS: the current period's totals, the previous period's, this
/// process's ledger, the breaker's open key, the cool-down key. ARGV: the
/// period's number, the keys' time to live (ms), the breaker's remaining
/// open time and the cool-down to publish (ms, 0: none), then this
/// process's counts by name (`bd bw ka kf wa wf`: the budget's deposits
/// and withdrawals, the breaker's and the window's attempts and failures;
/// "-" for a member it does not share).
///
/// A period's totals are, for each count, the sum of every process's
/// latest count in that period, and, for each member, how many processes
/// reported one (`bn kn wn`). The ledger holds what this process last
/// added and in which period (`p`, and the counts by name), and what it
/// had added to the period before that one (`q`, `qbd`, ...), so that a
/// round trip adds only the difference, once, whether or not an earlier
/// answer was lost (the first report of a period adds the whole count),
/// and says what of the previous period's totals is this process's own.
/// Nothing is read per process: the cost of a round trip does not grow
/// with the fleet. An addition Redis refuses (a total that would
/// overflow, or that is no number) is left out of the ledger too.
///
/// Returns the nine totals of the current period, then of the previous
/// one, this process's six counts in the previous period (-1: none), the
/// time left of the open key and of the cool-down (ms; less than 1: none),
/// and Redis's clock (ms). Totals read as below zero or no number are 0,
/// and stop at 2^53 (Lua's numbers are doubles, exact to there).
const SCRIPT: &str = r"
if redis.replicate_commands then pcall(redis.replicate_commands) end
local cur, prev, ledger, open_key, cool_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local period, ttl, open, cool = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local names = {'bd', 'bw', 'ka', 'kf', 'wa', 'wf'}
local counted = {'bn', 'kn', 'wn'}
local old = redis.call('HMGET', ledger, 'p', 'bd', 'bw', 'ka', 'kf', 'wa', 'wf',
  'q', 'qbd', 'qbw', 'qka', 'qkf', 'qwa', 'qwf')
local again = old[1] == period
local follows = not again and tonumber(old[1]) == tonumber(period) - 1
local keep = {'p', period}
local before = {}
for i = 1, 6 do
  if again and tonumber(old[8]) == tonumber(period) - 1 then
    before[i] = tonumber(old[8 + i]) or -1
  elseif follows then
    before[i] = tonumber(old[1 + i]) or -1
  else
    before[i] = -1
  end
end
for i = 1, 6 do
  local v = ARGV[4 + i]
  if v ~= '-' then
    local have = nil
    if again then have = tonumber(old[i + 1]) end
    local d = tonumber(v) - (have or 0)
    local added = true
    if d ~= 0 then
      local r = redis.pcall('HINCRBY', cur, names[i], d)
      added = not (type(r) == 'table' and r.err)
    end
    if have == nil and i % 2 == 1 then
      redis.pcall('HINCRBY', cur, counted[(i + 1) / 2], 1)
    end
    keep[#keep + 1] = names[i]
    if added then keep[#keep + 1] = v else keep[#keep + 1] = tostring(have or 0) end
  end
end
if follows then
  keep[#keep + 1] = 'q'
  keep[#keep + 1] = old[1]
  for i = 1, 6 do
    keep[#keep + 1] = 'q' .. names[i]
    keep[#keep + 1] = old[1 + i] or '-'
  end
elseif not again then
  redis.call('HDEL', ledger, 'q')
end
redis.call('HSET', ledger, unpack(keep))
if not again or redis.call('PTTL', cur) < 0 then
  redis.call('PEXPIRE', cur, ttl)
  redis.call('PEXPIRE', ledger, ttl)
end
local most = 9007199254740991
local out = {}
for _, key in ipairs({cur, prev}) do
  local got = redis.call('HMGET', key, 'bd', 'bw', 'bn', 'ka', 'kf', 'kn', 'wa', 'wf', 'wn')
  for i = 1, 9 do
    local n = tonumber(got[i]) or 0
    if n ~= n or n < 0 then n = 0 end
    out[#out + 1] = math.min(n, most)
  end
end
for i = 1, 6 do
  out[#out + 1] = math.min(before[i], most)
end
if open > 0 and redis.call('PTTL', open_key) < open then
  redis.call('SET', open_key, '1', 'PX', open)
end
if cool > 0 and redis.call('PTTL', cool_key) < cool then
  redis.call('SET', cool_key, '1', 'PX', cool)
end
out[#out + 1] = redis.call('PTTL', open_key)
out[#out + 1] = redis.call('PTTL', cool_key)
local t = redis.call('TIME')
out[#out + 1] = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return out
";

/// The longest open time or cool-down written to or read from Redis, and
/// the longest interval, time limit and stale time: a day, in milliseconds
/// (an open time or cool-down that is longer is taken as a day).
const LONGEST: u64 = 24 * 60 * 60 * 1000;

/// The longest pause between two round trips while Redis cannot be reached,
/// unless the interval is longer.
const SLOWEST: Duration = Duration::from_secs(1);

/// The adaptive window's attempt count when last seen, and when it last
/// moved (process milliseconds).
#[derive(Default)]
struct WindowMoved {
    recorded: AtomicU64,
    at: AtomicU64,
}

struct Syncer {
    link: &'static Link,
    key: &'static str,
    /// The Redis keys: `retry:{key}:` (a period's totals follow it: `s:N`),
    /// this process's ledger, the breaker's open key, the cool-down key.
    prefix: String,
    ledger: String,
    open_key: String,
    cool_key: String,
    /// The adaptive window's attempt count when last seen, and when it last
    /// moved.
    window_moved: WindowMoved,
    members: Vec<Member>,
    options: Options,
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

/// What one round trip writes: this process's own counts, by member
/// (`None`: no such member), the breaker's open time left and a cool-down
/// to publish (ms; 0: none).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Own {
    budget: Option<(u64, u64)>,
    breaker: Option<(u64, u64)>,
    window: Option<(u64, u64)>,
    open_ms: u64,
    cool_ms: u64,
}

/// What the members are told after a round trip: the other live
/// processes' counts, by member, the open time and cool-down left (at most
/// a day), and how many other processes share the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sums {
    budget: (u64, u64),
    breaker: (u64, u64),
    window: (u64, u64),
    open_left: Option<Duration>,
    cool_left: Option<Duration>,
    budget_sharers: u64,
}

/// One period's totals, by member: the two counts, and how many processes
/// reported them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Totals {
    budget: (u64, u64, u64),
    breaker: (u64, u64, u64),
    window: (u64, u64, u64),
}

impl Totals {
    fn read(nine: &[i64]) -> Totals {
        let n = |x: i64| u64::try_from(x).unwrap_or(0);
        let three = |at: usize| (n(nine[at]), n(nine[at + 1]), n(nine[at + 2]));
        Totals {
            budget: three(0),
            breaker: three(3),
            window: three(6),
        }
    }

    /// The processes that reported in this period (the most of any member).
    fn processes(&self) -> u64 {
        self.budget.2.max(self.breaker.2).max(self.window.2)
    }
}

/// The script's answer (see [`SCRIPT`]).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    current: Totals,
    previous: Totals,
    /// What this process had added to the previous period, as its ledger
    /// says (`None`: nothing).
    before: Own,
    open_left: Option<Duration>,
    cool_left: Option<Duration>,
    /// Redis's clock, in milliseconds since the Unix epoch.
    redis_ms: u64,
}

impl Answer {
    /// The script's answer, in its order; `None` when it is not one.
    /// Negative counts read as 0, times are capped at a day.
    fn read(answer: &[i64]) -> Option<Answer> {
        let [totals @ .., open, cool, time] = answer else {
            return None;
        };
        if totals.len() != 24 {
            return None;
        }
        let own = |at: usize| {
            let n = |x: i64| u64::try_from(x).ok();
            n(totals[at]).zip(n(totals[at + 1]))
        };
        // However long another process (or anything else) set them for.
        let left = |x: i64| {
            u64::try_from(x)
                .ok()
                .filter(|&ms| ms > 0)
                .map(|ms| Duration::from_millis(ms.min(LONGEST)))
        };
        Some(Answer {
            current: Totals::read(&totals[..9]),
            previous: Totals::read(&totals[9..18]),
            before: Own {
                budget: own(18),
                breaker: own(20),
                window: own(22),
                ..Own::default()
            },
            open_left: left(*open),
            cool_left: left(*cool),
            redis_ms: u64::try_from(*time).unwrap_or(0),
        })
    }

    /// The other processes' counts, member by member, from the period where
    /// every process has reported: the current one once as many processes
    /// reported that member in it as in the one before, or once `settled`
    /// (time enough in the period for every process to report), else the
    /// previous one, to which each of them last added at most an interval
    /// before it ended. This process's own share is taken out: `written`,
    /// what this round trip added, or what its ledger says it had added to
    /// the previous period.
    fn others(&self, written: &Own, settled: bool) -> Sums {
        type Pick = fn(&Own) -> Option<(u64, u64)>;
        type Count = fn(&Totals) -> (u64, u64, u64);
        let member = |count: Count, pick: Pick| {
            let (now, then) = (count(&self.current), count(&self.previous));
            let (totals, own) = if settled || now.2 >= then.2 {
                (now, pick(written))
            } else {
                (then, pick(&self.before))
            };
            let (x, y) = own.unwrap_or((0, 0));
            let sharers = totals.2.saturating_sub(u64::from(own.is_some()));
            (
                (totals.0.saturating_sub(x), totals.1.saturating_sub(y)),
                sharers,
            )
        };
        let (budget, sharers) = member(|t| t.budget, |o| o.budget);
        let (breaker, _) = member(|t| t.breaker, |o| o.breaker);
        let (window, _) = member(|t| t.window, |o| o.window);
        Sums {
            budget,
            breaker,
            window,
            open_left: self.open_left,
            cool_left: self.cool_left,
            budget_sharers: sharers,
        }
    }
}

/// How often the synchronisation tries: every interval while Redis
/// answers; after two failures in a row, alone and less often.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Backoff {
    failures: u32,
    pause: Duration,
}

impl Backoff {
    fn new(options: &Options) -> Backoff {
        Backoff {
            failures: 0,
            pause: options.interval,
        }
    }

    /// Whether the process was deciding alone (and now rejoins).
    fn answered(&mut self, options: &Options) -> bool {
        let was_alone = self.alone();
        *self = Backoff::new(options);
        was_alone
    }

    /// One more failure: one slow answer keeps the last sums; a second in a
    /// row means deciding alone, and trying less often (doubling up to a
    /// second, or the interval when that is longer: never more often than
    /// while Redis answers).
    fn failed(&mut self, options: &Options) {
        self.failures = self.failures.saturating_add(1);
        if self.alone() {
            let slowest = SLOWEST.max(options.interval);
            self.pause = self.pause.saturating_mul(2).min(slowest);
        }
    }

    /// Deciding on this process's state alone.
    fn alone(&self) -> bool {
        self.failures >= 2
    }
}

/// When an outage is told in the log: one warning when the process starts
/// deciding alone (the second failure in a row), at most one a minute, and
/// one line at INFO when Redis answers again after a warning.
#[derive(Debug, Default)]
struct Outages {
    warned_at: Option<std::time::Instant>,
    /// The outage under way was warned of, and its end not yet told.
    told: bool,
}

impl Outages {
    /// The least time between two warnings.
    const QUIET: Duration = Duration::from_secs(60);

    /// Whether to warn, after `backoff`'s latest failure at `now`: once
    /// per outage, when the process starts deciding alone, or later in the
    /// outage once a minute has passed since the last warning.
    fn warn(&mut self, backoff: &Backoff, now: std::time::Instant) -> bool {
        let quiet = self
            .warned_at
            .is_some_and(|at| now.saturating_duration_since(at) < Outages::QUIET);
        if backoff.alone() && !self.told && !quiet {
            self.told = true;
            self.warned_at = Some(now);
            return true;
        }
        false
    }

    /// Whether to say that Redis answers again, when it answered after the
    /// process decided alone (`was_alone`): only after an outage that was
    /// told.
    fn back(&mut self, was_alone: bool) -> bool {
        was_alone && std::mem::take(&mut self.told)
    }
}

/// The largest count written to Redis: 2^53 − 1, what a Lua number holds
/// exactly.
const MOST: u64 = (1 << 53) - 1;

/// The wall clock, in milliseconds since the Unix epoch (0 before it).
fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, millis)
}

/// Which period a round trip adds to, on Redis's clock.
#[derive(Debug, Default)]
struct Periods {
    /// Redis's clock less this process's wall clock (ms), from the last
    /// answer; `None` before the first.
    offset: Option<i64>,
    /// The period of the last round trip.
    last: u64,
}

impl Periods {
    /// The period to add to now: Redis's time over the period's length
    /// (this process's clock until Redis's is known). Never one before
    /// the last (two readings of the clock a round trip apart may
    /// straddle a period's turn), unless Redis's clock went back by more
    /// than a period (another server, a clock set back): then Redis's.
    fn number(&mut self, wall: u64, period_ms: u64) -> u64 {
        let Some(offset) = self.offset else {
            return wall / period_ms.max(1);
        };
        let period = wall.saturating_add_signed(offset) / period_ms.max(1);
        self.last = if period.saturating_add(1) < self.last {
            period
        } else {
            self.last.max(period)
        };
        self.last
    }

    /// Redis's clock read `redis` when this process's read `wall`.
    fn answered(&mut self, redis: u64, wall: u64) {
        let offset = i128::from(redis) - i128::from(wall);
        self.offset = Some(offset.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64);
    }

    /// How far into `period` Redis's clock `redis` is (ms).
    fn into(period: u64, period_ms: u64, redis: u64) -> u64 {
        redis.saturating_sub(period.saturating_mul(period_ms))
    }
}

/// The pause between two round trips of one of `processes` processes
/// sharing a key while counts change: the interval, stretched so that the
/// fleet makes at most `fleet_rate` round trips a second, at most half a
/// period (`options.period` as the synchronisation takes it: at least
/// twice the interval).
fn interval(options: &Options, processes: u64) -> Duration {
    let secs = processes as f64 / f64::from(options.fleet_rate.max(1));
    let spread = Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX);
    let half = options.period.max(options.interval.saturating_mul(2)) / 2;
    options.interval.max(spread).min(half)
}

/// What `benches/fleet_scale.rs` drives many simulated processes with: the
/// round trip's script and the pause between round trips. Not public API.
#[doc(hidden)]
pub mod __bench {
    use std::time::Duration;

    /// The round trip's script (see its arguments in the source).
    pub const SCRIPT: &str = super::SCRIPT;

    /// The pause between two round trips of one of `processes` processes
    /// sharing a key with the default options, while counts change.
    pub fn interval(processes: u64) -> Duration {
        super::interval(&super::Options::new(), processes)
    }

    /// The default period's length.
    pub fn period() -> Duration {
        super::Options::new().period
    }
}

/// How long to wait before the next round trip while Redis answers.
#[derive(Debug, Default)]
struct Pace {
    /// The counts sent and the sums read last time.
    last: Option<(Own, Sums)>,
}

impl Pace {
    /// The interval, stretched so that `processes` together make at most
    /// `fleet_rate` round trips a second, and doubled while nothing
    /// changes (this process's counts, the others', no cool-down to
    /// publish); always under half a period.
    fn next(
        &mut self,
        options: &Options,
        processes: u64,
        own: &Own,
        sums: &Sums,
        publish: u64,
    ) -> Duration {
        let base = interval(options, processes);
        let half = options.period / 2;
        let counts = Own {
            open_ms: 0,
            cool_ms: 0,
            ..own.clone()
        };
        let quiet = publish == 0
            && own.open_ms == 0
            && self.last.as_ref() == Some(&(counts.clone(), *sums));
        self.last = Some((counts, *sums));
        if quiet {
            base.saturating_mul(2).min(half).max(base)
        } else {
            base
        }
    }
}

impl Syncer {
    fn new(
        link: &'static Link,
        key: &'static str,
        members: Vec<Member>,
        options: Options,
    ) -> Syncer {
        let prefix = format!("retry:{{{key}}}:");
        let id = process_id();
        Syncer {
            link,
            key,
            ledger: format!("{prefix}p:{id}"),
            open_key: format!("{prefix}open"),
            cool_key: format!("{prefix}cooldown"),
            prefix,
            window_moved: WindowMoved::default(),
            members,
            options: Options {
                window_idle: options.window_idle.max(options.interval),
                period: options.period.max(options.interval.saturating_mul(2)),
                ..options
            },
            script: redis::Script::new(SCRIPT),
        }
    }

    async fn run(self, mut manager: ConnectionManager) {
        let mut outages = Outages::default();
        let mut backoff = Backoff::new(&self.options);
        let mut periods = Periods::default();
        let mut pace = Pace::default();
        loop {
            // Wakes early when a cool-down is to be published, or when
            // stopped.
            if !self.link.stopped.load(Relaxed) {
                let _ = tokio::time::timeout(backoff.pause, self.link.wake.notified()).await;
            }
            // Stopped: this round trip is the last. It writes this
            // process's last counts and a cool-down learnt since the one
            // before; the counts stay in the fleet's totals for the rest of
            // the period and the next (what this process spent and saw is
            // the fleet's history still: its retries were made, its
            // failures seen).
            let last = self.link.stopped.load(Relaxed);
            let now = TokioClock::ticks();
            let publish = self.link.publish.swap(0, Relaxed);
            let own = self.own(now, publish);
            let period_ms = millis(self.options.period);
            if periods.offset.is_none() {
                // Redis's clock first, so that even the first round trip
                // adds to the fleet's period (a process whose clock is off
                // would add to one nobody reads).
                let time = redis::cmd("TIME");
                let read = tokio::time::timeout(
                    self.options.timeout,
                    time.query_async::<(u64, u64)>(&mut manager),
                )
                .await;
                if let Ok(Ok((secs, micros))) = read {
                    periods.answered(
                        secs.saturating_mul(1000).saturating_add(micros / 1000),
                        wall_ms(),
                    );
                }
            }
            let period = periods.number(wall_ms(), period_ms);
            let invocation = self.invocation(period, &own);
            let answer = tokio::time::timeout(
                self.options.timeout,
                invocation.invoke_async::<Vec<i64>>(&mut manager),
            )
            .await;
            let read = match &answer {
                Ok(Ok(answer)) => Answer::read(answer),
                _ => None,
            };
            if let Some(read) = read {
                periods.answered(read.redis_ms, wall_ms());
                // Every process has reported in the period once it is two
                // pauses (and a round trip) old.
                let into = Periods::into(period, period_ms, read.redis_ms);
                let settled = into > millis(backoff.pause).saturating_mul(2).saturating_add(20);
                let sums = read.others(&own, settled);
                self.apply(&sums, TokioClock::ticks());
                self.link.online.store(true, Relaxed);
                if outages.back(backoff.answered(&self.options)) {
                    tracing::info!(
                        target: "retry_runtime",
                        key = self.key,
                        "redis answers again: sharing the fleet's state"
                    );
                }
                let processes = read.current.processes().max(read.previous.processes());
                backoff.pause = pace.next(&self.options, processes, &own, &sums, publish);
            } else {
                // Published again at the next round trip.
                self.link.publish.fetch_max(publish, Relaxed);
                self.link.online.store(false, Relaxed);
                backoff.failed(&self.options);
                if backoff.alone() {
                    self.forget();
                }
                if outages.warn(&backoff, std::time::Instant::now()) {
                    let why = match answer {
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
            if last {
                break;
            }
        }
    }

    /// This process's counts at `now`, and `publish` (a cool-down's end,
    /// process ms) as the time left.
    fn own(&self, now: Duration, publish: u64) -> Own {
        let mut own = Own {
            cool_ms: publish.saturating_sub(millis(now)).min(LONGEST),
            ..Own::default()
        };
        for m in &self.members {
            match *m {
                Member::Budget(b) => own.budget = Some(b.own_counts(now)),
                Member::Breaker(b) => {
                    own.breaker = Some(b.own_counts(now));
                    own.open_ms = b.open_left(now).map_or(0, millis).min(LONGEST);
                }
                Member::Window(w) => {
                    // Only attempts within the window's max_age, so that an
                    // idle process that publishes again does not bring back
                    // an outage it saw long ago; an idle one publishes zeros.
                    let (recorded, s, f) = w.own_counts(now);
                    let WindowMoved { recorded: seen, at } = &self.window_moved;
                    if seen.swap(recorded, Relaxed) != recorded {
                        at.store(millis(now), Relaxed);
                    }
                    let idle = millis(now).saturating_sub(at.load(Relaxed));
                    own.window = Some(if idle > millis(self.options.window_idle) {
                        (0, 0)
                    } else {
                        (s, f)
                    });
                }
            }
        }
        own
    }

    /// The key of a period's totals: `retry:{key}:s:LENGTH:NUMBER` (the
    /// period's length in ms, so that processes with other periods never
    /// mix their totals).
    fn totals_key(&self, period: u64) -> String {
        format!("{}s:{}:{period}", self.prefix, millis(self.options.period))
    }

    /// The script's call for `period` with this process's counts `own`.
    fn invocation(&self, period: u64, own: &Own) -> redis::ScriptInvocation<'_> {
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(self.totals_key(period))
            .key(self.totals_key(period.saturating_sub(1)))
            .key(&self.ledger)
            .key(&self.open_key)
            .key(&self.cool_key);
        // Two periods and the one being read, or the stale time.
        let ttl = millis(self.options.period)
            .saturating_mul(3)
            .max(millis(self.options.stale));
        invocation
            .arg(period)
            .arg(ttl)
            .arg(own.open_ms)
            .arg(own.cool_ms);
        for counts in [own.budget, own.breaker, own.window] {
            match counts {
                Some((a, b)) => invocation.arg(a.min(MOST)).arg(b.min(MOST)),
                None => invocation.arg("-").arg("-"),
            };
        }
        invocation
    }

    fn apply(&self, sums: &Sums, now: Duration) {
        for m in &self.members {
            match *m {
                Member::Budget(b) => {
                    let (deposits, withdrawals) = sums.budget;
                    b.set_fleet(
                        now,
                        deposits,
                        withdrawals,
                        sums.budget_sharers.saturating_add(1),
                    );
                }
                Member::Breaker(b) => {
                    let (attempts, failures) = sums.breaker;
                    b.fleet.set_others(attempts, failures);
                    b.fleet_apply(now, sums.open_left);
                }
                Member::Window(w) => {
                    let (attempts, failures) = sums.window;
                    w.fleet.set_others(attempts, failures);
                }
            }
        }
        if let Some(cool) = sums.cool_left {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn options_are_checked_at_their_bounds() {
        let day = ms(LONGEST);
        // The least interval and time limit, and the least stale time for
        // them (two intervals and a round trip), are fine.
        let least = Options::new().interval(ms(1)).timeout(ms(1)).stale(ms(3));
        assert_eq!(least.check(), Ok(()));
        let short = least.stale(ms(2)).check();
        assert!(short.is_err_and(|why| why.contains("stale")), "{short:?}");
        // An interval or time limit of a day is not itself the mistake (the
        // stale time it needs is): one over a day is.
        let stale_err = Options::new().interval(day).check();
        assert!(
            stale_err.is_err_and(|why| why.contains("stale")),
            "{stale_err:?}"
        );
        assert_eq!(
            Options::new().interval(day + ms(1)).check(),
            Err("Options::interval must be from 1 ms to a day")
        );
        let stale_err = Options::new().timeout(day).check();
        assert!(
            stale_err.is_err_and(|why| why.contains("stale")),
            "{stale_err:?}"
        );
        assert_eq!(
            Options::new().timeout(day + ms(1)).check(),
            Err("Options::timeout must be from 1 ms to a day")
        );
        // A stale time of exactly a day is fine.
        assert_eq!(Options::new().stale(day).check(), Ok(()));
        assert!(Options::new().stale(day + ms(1)).check().is_err());
    }

    #[test]
    fn a_redis_error_is_the_source_of_a_share_error() {
        let error = ShareError::Redis(redis::RedisError::from((redis::ErrorKind::Io, "no client")));
        let source = std::error::Error::source(&error).map(ToString::to_string);
        assert!(source.is_some_and(|s| s.contains("no client")));
        assert!(std::error::Error::source(&ShareError::BadKey).is_none());
    }

    static LONGEST_KEY: crate::protect::Budget = crate::protect::Budget::new(0.1, 1);

    #[tokio::test]
    async fn a_key_of_200_bytes_is_shared_under_that_key() {
        let client = redis::Client::open("redis://127.0.0.1:1/").unwrap();
        let key = "k".repeat(200);
        let sharing = share(&client, &key, &[&LONGEST_KEY]).unwrap();
        assert_eq!(sharing.key(), key);
        assert_eq!(
            format!("{sharing:?}"),
            format!("Sharing {{ key: {key:?}, connected: false }}")
        );
        // Stopped, it ends (one last round trip, refused at once).
        sharing.stop();
        for _ in 0..500 {
            if sharing.link.ended() {
                break;
            }
            tokio::time::sleep(ms(10)).await;
        }
        assert!(sharing.link.ended(), "stop ends the synchronisation");
        assert!(!sharing.connected());
        tokio::time::timeout(ms(5_000), sharing.leave())
            .await
            .expect("ended already");
    }

    /// A script's answer: two periods' totals, the open key's and the
    /// cool-down's time left, Redis's clock.
    fn answer(current: [i64; 9], previous: [i64; 9], open: i64, cool: i64, time: i64) -> Vec<i64> {
        with_before(current, previous, [-1; 6], open, cool, time)
    }

    /// [`answer`], with what the ledger says this process had added to the
    /// previous period.
    fn with_before(
        current: [i64; 9],
        previous: [i64; 9],
        before: [i64; 6],
        open: i64,
        cool: i64,
        time: i64,
    ) -> Vec<i64> {
        let mut all = current.to_vec();
        all.extend(previous);
        all.extend(before);
        all.extend([open, cool, time]);
        all
    }

    #[test]
    fn an_answer_is_read_by_name_and_bounded() {
        let day = ms(LONGEST);
        let read = Answer::read(&answer(
            [1, 2, 3, 4, 5, 6, 7, 8, 9],
            [10, 11, 12, 13, 14, 15, 16, 17, 18],
            7_000,
            8_000,
            1_700_000_000_000,
        ))
        .unwrap();
        assert_eq!(
            read,
            Answer {
                current: Totals {
                    budget: (1, 2, 3),
                    breaker: (4, 5, 6),
                    window: (7, 8, 9)
                },
                previous: Totals {
                    budget: (10, 11, 12),
                    breaker: (13, 14, 15),
                    window: (16, 17, 18)
                },
                before: Own::default(),
                open_left: Some(ms(7_000)),
                cool_left: Some(ms(8_000)),
                redis_ms: 1_700_000_000_000,
            }
        );
        // Redis says -1 and -2 for keys without a time to live or missing,
        // and 0 for one that ends now; anything over a day is a day.
        let odd = Answer::read(&answer(
            [-1, i64::MIN, 0, i64::MAX, 0, 0, 0, 0, 0],
            [0; 9],
            -2,
            1,
            -1,
        ))
        .unwrap();
        assert_eq!(odd.current.budget, (0, 0, 0));
        assert_eq!(odd.current.breaker, (i64::MAX as u64, 0, 0));
        assert_eq!(
            (odd.open_left, odd.cool_left, odd.redis_ms),
            (None, Some(ms(1)), 0)
        );
        let long = Answer::read(&answer([0; 9], [0; 9], 0, i64::MAX, 0)).unwrap();
        assert_eq!((long.open_left, long.cool_left), (None, Some(day)));
        let exactly = Answer::read(&answer(
            [0; 9],
            [0; 9],
            LONGEST as i64,
            LONGEST as i64 + 1,
            0,
        ))
        .unwrap();
        assert_eq!(
            (exactly.open_left, exactly.cool_left),
            (Some(day), Some(day))
        );
        // Not the script's answer.
        assert_eq!(Answer::read(&[0; 26]), None);
        assert_eq!(Answer::read(&[0; 28]), None);
        assert_eq!(Answer::read(&[]), None);
    }

    fn own(budget: (u64, u64), breaker: (u64, u64), window: (u64, u64)) -> Own {
        Own {
            budget: Some(budget),
            breaker: Some(breaker),
            window: Some(window),
            ..Own::default()
        }
    }

    #[test]
    fn the_others_are_the_totals_of_the_period_every_process_reported_in_less_this_one() {
        let written = own((30, 3), (10, 5), (8, 2));
        // Three processes reported in the previous period, three in this
        // one: this one's totals, less what this process just added.
        let before = [20, 2, 6, 1, 4, 1];
        let previous = [90, 9, 3, 35, 15, 3, 25, 8, 3];
        let read = Answer::read(&with_before(
            [100, 10, 3, 40, 20, 3, 30, 9, 3],
            previous,
            before,
            0,
            0,
            0,
        ))
        .unwrap();
        assert_eq!(read.before, own((20, 2), (6, 1), (4, 1)));
        let sums = read.others(&written, false);
        assert_eq!(
            (sums.budget, sums.breaker, sums.window, sums.budget_sharers),
            ((70, 7), (30, 15), (22, 7), 2)
        );
        // Only two have reported in this period yet: the previous one's
        // totals, less what the ledger says this process had added to it...
        let early = [60, 6, 2, 20, 10, 2, 16, 4, 2];
        let read = Answer::read(&with_before(early, previous, before, 0, 0, 0)).unwrap();
        let sums = read.others(&written, false);
        assert_eq!(
            (sums.budget, sums.breaker, sums.window, sums.budget_sharers),
            ((70, 7), (29, 14), (21, 7), 2)
        );
        // ...all of them when it had added nothing to it...
        let read = Answer::read(&answer(early, previous, 0, 0, 0)).unwrap();
        let sums = read.others(&written, false);
        assert_eq!((sums.budget, sums.budget_sharers), ((90, 9), 3));
        // ...and this period's once it is old enough for every process to
        // have reported (one left: the fleet is smaller now).
        let sums = read.others(&written, true);
        assert_eq!((sums.budget, sums.budget_sharers), ((30, 3), 1));
        // Member by member: the budget's processes reported, the window's
        // not yet.
        let mixed = [60, 6, 3, 20, 10, 3, 16, 4, 2];
        let read = Answer::read(&with_before(mixed, previous, before, 0, 0, 0)).unwrap();
        let sums = read.others(&written, false);
        assert_eq!((sums.budget, sums.window), ((30, 3), (21, 7)));
        // Totals below this process's own (a period that expired, a flush):
        // nothing from the others, never an underflow.
        let read = Answer::read(&answer([1, 0, 1, 0, 0, 0, 0, 0, 0], [0; 9], 0, 0, 0)).unwrap();
        let sums = read.others(&written, false);
        assert_eq!(
            (sums.budget, sums.breaker, sums.budget_sharers),
            ((0, 0), (0, 0), 0)
        );
    }

    #[test]
    fn periods_follow_redis_clock_and_go_back_only_when_it_does() {
        let mut periods = Periods::default();
        // Before Redis's clock is known: this process's.
        assert_eq!(periods.number(5_500, 1_000), 5);
        // Redis's clock is 1.7 s ahead.
        periods.answered(7_200, 5_500);
        assert_eq!(periods.number(5_600, 1_000), 7);
        // Two readings that straddle a turn: never back by one.
        periods.answered(8_001, 6_300);
        assert_eq!(periods.number(6_300, 1_000), 8);
        periods.answered(7_999, 6_300);
        assert_eq!(periods.number(6_300, 1_000), 8);
        // Redis's clock set back by an hour (another server): back with it.
        periods.answered(10_000_000, 6_300);
        assert_eq!(periods.number(6_300, 1_000), 10_000);
        periods.answered(10_000_000 - 3_600_000, 6_300);
        assert_eq!(periods.number(6_300, 1_000), 6_400);
        // How far into a period.
        assert_eq!(Periods::into(7, 1_000, 7_250), 250);
        assert_eq!(Periods::into(7, 1_000, 6_000), 0);
        // A clock far off: no overflow.
        periods.answered(u64::MAX, 0);
        assert_eq!(periods.number(u64::MAX, 1), u64::MAX);
        assert_eq!(Periods::into(u64::MAX, u64::MAX, 5), 0);
    }

    #[test]
    fn the_pace_stretches_with_the_fleet_and_doubles_while_nothing_changes() {
        let options = Options::new();
        let mut pace = Pace::default();
        let counts = own((1, 0), (1, 0), (1, 0));
        let sums = Sums {
            budget: (0, 0),
            breaker: (0, 0),
            window: (0, 0),
            open_left: None,
            cool_left: None,
            budget_sharers: 0,
        };
        assert_eq!(pace.next(&options, 1, &counts, &sums, 0), ms(10));
        // Nothing changed: twice the interval, then no longer.
        assert_eq!(pace.next(&options, 1, &counts, &sums, 0), ms(20));
        assert_eq!(pace.next(&options, 1, &counts, &sums, 0), ms(20));
        // A change: the interval again; a cool-down to publish too.
        let busier = own((2, 0), (1, 0), (1, 0));
        assert_eq!(pace.next(&options, 1, &busier, &sums, 0), ms(10));
        assert_eq!(pace.next(&options, 1, &busier, &sums, 5), ms(10));
        // 150 processes at 1,500 round trips a second: 100 ms each; 1,500:
        // a second, which is also the most (half a period).
        assert_eq!(pace.next(&options, 150, &counts, &sums, 0), ms(100));
        assert_eq!(pace.next(&options, 1_500, &busier, &sums, 0), ms(1_000));
        assert_eq!(pace.next(&options, 1_500, &busier, &sums, 0), ms(1_000));
        assert_eq!(pace.next(&options, u64::MAX, &busier, &sums, 0), ms(1_000));
        let slowest = Options::new().fleet_rate(1).period(ms(LONGEST));
        assert_eq!(interval(&slowest, u64::MAX), ms(LONGEST / 2), "no overflow");
    }

    #[test]
    fn redis_down_means_alone_after_two_failures_and_never_polling_faster() {
        let options = Options::new();
        let mut backoff = Backoff::new(&options);
        assert_eq!(
            (backoff.failures, backoff.pause, backoff.alone()),
            (0, ms(10), false)
        );
        // One slow answer: the last sums stand, the pace too.
        backoff.failed(&options);
        assert_eq!((backoff.pause, backoff.alone()), (ms(10), false));
        assert!(!backoff.answered(&options), "was not alone");
        assert_eq!(backoff, Backoff::new(&options));
        // Two in a row: alone, and half as often each time, up to a second.
        let mut pauses = Vec::new();
        for _ in 0..10 {
            backoff.failed(&options);
            pauses.push(backoff.pause.as_millis());
        }
        assert!(backoff.alone());
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        assert!(backoff.answered(&options), "rejoins");
        assert_eq!(
            (backoff.failures, backoff.pause, backoff.alone()),
            (0, ms(10), false)
        );
        // An interval longer than a second: never faster than it.
        let slow = Options::new().interval(ms(5_000)).stale(ms(20_000));
        let mut backoff = Backoff::new(&slow);
        for _ in 0..5 {
            backoff.failed(&slow);
            assert_eq!(backoff.pause, ms(5_000));
        }
        // A day's interval: no overflow.
        let longest = Options::new().interval(ms(LONGEST));
        let mut backoff = Backoff::new(&longest);
        for _ in 0..3 {
            backoff.failed(&longest);
        }
        assert_eq!(backoff.pause, ms(LONGEST));
        backoff.failures = u32::MAX;
        backoff.failed(&longest);
        assert_eq!(backoff.failures, u32::MAX);
    }

    #[test]
    fn an_outage_is_told_once_and_at_most_once_a_minute() {
        let options = Options::new();
        let start = std::time::Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        let mut outages = Outages::default();
        let mut backoff = Backoff::new(&options);
        assert!(!outages.back(false) && !outages.back(true), "never warned");
        // One slow answer is no outage.
        backoff.failed(&options);
        assert!(!outages.warn(&backoff, at(0)));
        // The second failure in a row: one warning, not one per failure.
        backoff.failed(&options);
        assert!(outages.warn(&backoff, at(0)));
        backoff.failed(&options);
        assert!(!outages.warn(&backoff, at(1)));
        // Back: said once it answers after deciding alone.
        assert!(outages.back(backoff.answered(&options)));
        assert!(!outages.back(backoff.answered(&options)), "was not alone");
        // A second outage within the minute: quiet, and so is its end.
        backoff.failed(&options);
        backoff.failed(&options);
        assert!(!outages.warn(&backoff, at(59)));
        assert!(!outages.back(backoff.answered(&options)), "not told");
        // One that lasts past the minute is told then, once.
        backoff.failed(&options);
        backoff.failed(&options);
        assert!(!outages.warn(&backoff, at(30)));
        backoff.failed(&options);
        assert!(outages.warn(&backoff, at(61)));
        assert_eq!(outages.warned_at, Some(at(61)));
        backoff.failed(&options);
        assert!(!outages.warn(&backoff, at(200)), "once per outage");
        assert!(outages.back(backoff.answered(&options)));
        // A minute after the last warning exactly, no longer quiet.
        backoff.failed(&options);
        backoff.failed(&options);
        assert!(!outages.warn(&backoff, at(120)));
        backoff.failed(&options);
        assert!(outages.warn(&backoff, at(121)));
        // One slow answer while alone is no new outage's warning.
        assert!(outages.back(backoff.answered(&options)));
        backoff.failed(&options);
        assert!(!outages.warn(&backoff, at(500)), "not alone yet");
    }

    static SYNC_BUDGET: crate::protect::Budget = crate::protect::Budget::new(0.5, 0);
    static SYNC_BREAKER: crate::protect::CircuitBreaker = crate::protect::CircuitBreaker::new();
    static SYNC_WINDOW: crate::protect::AdaptiveWindow = crate::protect::AdaptiveWindow::new(10);

    fn syncer(options: Options) -> Syncer {
        let link: &'static Link = Box::leak(Box::new(Link::new()));
        let members = vec![
            Member::Budget(&SYNC_BUDGET),
            Member::Breaker(&SYNC_BREAKER),
            Member::Window(&SYNC_WINDOW),
        ];
        Syncer::new(link, "unit", members, options)
    }

    /// The tests below share the three members.
    static MEMBERS: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn a_round_trip_writes_each_members_own_counts_by_name() {
        use crate::protect::{Breaker, Permit, RetryBudget};
        let _one = MEMBERS.lock().unwrap_or_else(|e| e.into_inner());
        let options = Options::new().window_idle(ms(60_000));
        let sync = syncer(options);
        assert_eq!(sync.prefix, "retry:{unit}:");
        assert!(sync.ledger.starts_with("retry:{unit}:p:"));
        assert_eq!(sync.cool_key, "retry:{unit}:cooldown");
        assert_eq!(sync.options.window_idle, ms(60_000));
        let at = |s: u64| Duration::from_secs(1_000 + s);
        SYNC_BUDGET.reset();
        SYNC_BREAKER.reset();
        SYNC_WINDOW.reset();
        for _ in 0..4 {
            SYNC_BUDGET.deposit(at(0));
        }
        assert!(SYNC_BUDGET.try_withdraw(at(0)));
        SYNC_BREAKER.record(at(0), false, Permit::Closed(0));
        SYNC_BREAKER.record(at(0), true, Permit::Closed(0));
        SYNC_WINDOW.record_at(at(0), true);
        SYNC_WINDOW.record_at(at(0), false);
        let own = sync.own(at(0), millis(at(3)));
        assert_eq!(
            own,
            Own {
                budget: Some((2_000, 1)),
                breaker: Some((2, 1)),
                window: Some((2, 1)),
                open_ms: 0,
                cool_ms: 3_000,
            }
        );
        // A cool-down that has ended, or one over a day.
        assert_eq!(sync.own(at(5), millis(at(3))).cool_ms, 0);
        assert_eq!(sync.own(at(5), u64::MAX).cool_ms, LONGEST);
        // A window idle for longer than window_idle publishes zeros, until
        // its next attempt.
        assert_eq!(
            sync.own(at(60), 0).window,
            Some((2, 1)),
            "exactly window_idle"
        );
        assert_eq!(sync.own(at(61), 0).window, Some((0, 0)));
        SYNC_WINDOW.record_at(at(61), true);
        // (everything within its max_age counts again).
        assert_eq!(sync.own(at(61), 0).window, Some((3, 2)));
        // An open breaker publishes its time left, up to a day.
        for _ in 0..20 {
            SYNC_BREAKER.record(at(70), true, Permit::Closed(0));
        }
        let own = sync.own(at(70), 0);
        assert_eq!((own.breaker, own.open_ms), (Some((0, 0)), 5_000));
        // Without a member, nothing of its kind.
        let link: &'static Link = Box::leak(Box::new(Link::new()));
        let alone = Syncer::new(link, "b", vec![Member::Budget(&SYNC_BUDGET)], options);
        let own = alone.own(at(70), 0);
        assert_eq!((own.breaker, own.window, own.open_ms), (None, None, 0));
        SYNC_BREAKER.reset();
    }

    #[test]
    fn an_answer_is_applied_to_each_member_and_forgotten_when_it_ends() {
        use crate::protect::BreakerState;
        let _one = MEMBERS.lock().unwrap_or_else(|e| e.into_inner());
        SYNC_BUDGET.reset();
        SYNC_BREAKER.reset();
        SYNC_WINDOW.reset();
        let sync = syncer(Options::new());
        let link = sync.link;
        let now = Duration::from_secs(500);
        let sums = Sums {
            budget: (0, 2),
            breaker: (7, 3),
            window: (5, 4),
            open_left: None,
            cool_left: Some(ms(2_500)),
            budget_sharers: 1,
        };
        sync.apply(&sums, now);
        // Two processes, nobody deposited, two retries withdrawn elsewhere:
        // this process's part of the debt is one retry (in millionths).
        assert_eq!(SYNC_BUDGET.fleet.balance(), -1_000_000);
        assert_eq!(SYNC_BREAKER.fleet.others(), (7, 3));
        assert_eq!(
            SYNC_BREAKER.state(),
            BreakerState::Closed,
            "7 attempts: under min_attempts"
        );
        assert_eq!(SYNC_WINDOW.fleet.others(), (5, 4));
        assert_eq!(link.hold(now), ms(2_500));
        // A shorter cool-down does not cut a longer one short.
        sync.apply(
            &Sums {
                cool_left: Some(ms(1)),
                ..sums
            },
            now,
        );
        assert_eq!(link.hold(now), ms(2_500));
        // Another process's open breaker.
        let open = Sums {
            budget: (0, 0),
            breaker: (0, 0),
            window: (0, 0),
            open_left: Some(ms(4_000)),
            cool_left: None,
            budget_sharers: 0,
        };
        sync.apply(&open, now);
        assert_eq!(SYNC_BREAKER.state(), BreakerState::Open);
        // Forgotten: back to this process's own state.
        sync.apply(&sums, now);
        sync.forget();
        assert_eq!(SYNC_BREAKER.fleet.others(), (0, 0));
        assert_eq!(SYNC_WINDOW.fleet.others(), (0, 0));
        sync.apply(&sums, now);
        link.online.store(true, Relaxed);
        assert!(!link.ended());
        drop(sync);
        assert_eq!(SYNC_WINDOW.fleet.others(), (0, 0), "forgotten when it ends");
        assert_eq!(SYNC_BREAKER.fleet.others(), (0, 0));
        assert!(link.ended() && !link.online.load(Relaxed));
        SYNC_BREAKER.reset();
        SYNC_BUDGET.reset();
    }

    #[tokio::test]
    async fn a_link_holds_until_the_end_it_learnt_and_publishes_the_latest() {
        let link = Link::new();
        let now = ms(10_000);
        assert_eq!(link.hold(now), Duration::ZERO);
        link.rate_limited(ms(12_000));
        link.rate_limited(ms(11_000));
        assert_eq!(link.hold(now), ms(2_000));
        assert_eq!(link.hold(ms(12_000)), Duration::ZERO);
        assert_eq!(link.hold(ms(13_000)), Duration::ZERO);
        assert_eq!(link.publish.load(Relaxed), 12_000);
        // The synchronisation is woken to publish it.
        tokio::time::timeout(ms(100), link.wake.notified())
            .await
            .expect("woken");
    }
}
