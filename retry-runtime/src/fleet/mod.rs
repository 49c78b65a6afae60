//! Fleets: budgets, breakers, adaptive windows and rate-limit cool-downs
//! shared by many processes. The one store is Redis ([`redis`], the `redis`
//! feature); it reads what each member counted and writes what the others
//! did into the member's slot ([`protect`](crate::protect)'s edge).

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;
