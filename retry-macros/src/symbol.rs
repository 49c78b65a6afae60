//! Typed names of the attribute's vocabulary (serde_derive's `symbol.rs`):
//! each name is written once, and the lists in error messages come from here.

use std::fmt;

macro_rules! symbols {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name { $($variant,)* }

        impl $name {
            /// Every name, in the order the messages list them.
            pub const NAMES: &'static [&'static str] = &[$($text,)*];

            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }

            pub fn from_name(name: &str) -> Option<Self> {
                match name { $($text => Some($name::$variant),)* _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

symbols! {
    /// The attribute's keys.
    Key {
        Attempts = "attempts",
        Deadline = "deadline",
        Timeout = "timeout",
        Wait = "wait",
        On = "on",
        Never = "never",
        WhenOk = "when_ok",
        RetryAfter = "retry_after",
        BeforeSleep = "before_sleep",
        OnGiveup = "on_giveup",
        Name = "name",
        Budget = "budget",
        Breaker = "breaker",
        Fallback = "fallback",
        FallbackOn = "fallback_on",
        Attempt = "attempt",
        Policy = "policy",
        Crate = "crate",
    }
}

symbols! {
    /// What a rule of `on` may override.
    Override {
        Attempts = "attempts",
        Wait = "wait",
    }
}

symbols! {
    /// The built-in waits.
    WaitKind {
        None = "none",
        Fixed = "fixed",
        Random = "random",
        Linear = "linear",
        Exponential = "exponential",
        Adaptive = "adaptive",
    }
}

symbols! {
    /// Arguments of `adaptive(W, ..)` after the wait.
    AdaptiveArg {
        Scale = "scale",
        Window = "window",
        Max = "max",
        Shared = "shared",
    }
}

symbols! {
    /// Arguments of `exponential(..)`.
    ExponentialArg {
        Initial = "initial",
        Factor = "factor",
        Min = "min",
        Max = "max",
        Jitter = "jitter",
    }
}

symbols! {
    /// Arguments of `linear(..)`.
    LinearArg {
        Initial = "initial",
        Step = "step",
        Max = "max",
    }
}

symbols! {
    /// Arguments of `honor(..)`.
    HonorArg {
        Max = "max",
    }
}

symbols! {
    /// Jitter kinds.
    JitterKind {
        None = "none",
        Full = "full",
        Equal = "equal",
        Decorrelated = "decorrelated",
    }
}

symbols! {
    /// `retry_after` policies.
    RetryAfterPolicy {
        Honor = "honor",
        Ignore = "ignore",
    }
}

symbols! {
    /// The built-in classes.
    ClassName {
        Any = "Any",
        Connect = "Connect",
        Timeout = "Timeout",
        Status = "Status",
        RateLimited = "RateLimited",
        ServerError = "ServerError",
        Transient = "Transient",
        Quota = "Quota",
        Default = "Default",
    }
}

impl JitterKind {
    /// The variant of `wait::Jitter`.
    pub fn variant(self) -> &'static str {
        match self {
            JitterKind::None => "None",
            JitterKind::Full => "Full",
            JitterKind::Equal => "Equal",
            JitterKind::Decorrelated => "Decorrelated",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in Key::NAMES {
            assert_eq!(Key::from_name(name).unwrap().name(), *name);
        }
        for name in ClassName::NAMES {
            assert_eq!(ClassName::from_name(name).unwrap().to_string(), *name);
        }
        assert_eq!(Key::from_name("atempts"), None);
        assert_eq!(JitterKind::Decorrelated.variant(), "Decorrelated");
        assert_eq!(JitterKind::from_name("none").unwrap().variant(), "None");
        assert_eq!(JitterKind::Full.variant(), "Full");
        assert_eq!(JitterKind::Equal.variant(), "Equal");
    }
}
