//! Dispatch from the [`Match`] enum to each extension's `eval`, and the generic header match.

use crate::eval::{Cx, Truth, byname};
use crate::ext::Match;
use crate::model::IpMatch;

impl Match {
    /// Evaluates the match against the packet, host and conntrack in `cx`. `-m statistic
    /// --mode nth` needs a counter and is evaluated by the chain walk instead.
    pub fn eval(&self, cx: &Cx<'_>) -> Truth {
        #[allow(unreachable_patterns)]
        match self {
            Match::Addrtype(m) => m.eval(cx),
            Match::Comment(_) => Truth::Yes,
            Match::Conntrack(m) => m.eval(cx),
            Match::Mark(m) => Truth::of(m.holds(cx.pkt.mark)),
            Match::Multiport(m) => m.eval(cx),
            Match::Statistic(m) => m.eval(),
            Match::Tcp(m) => m.eval(cx),
            Match::Udp(m) => m.eval(cx),
            // Traced packets carry no IPv6 extension headers, and without a routing header
            // ip6t_rt does not match whatever its options (inverted ones included).
            Match::Rt(_) => Truth::No,
            Match::Opaque(o) => byname::eval_match(&o.name, &o.args, cx).unwrap_or_else(|| {
                let mut text = String::new();
                o.print(&mut text);
                Truth::Unknown(format!("match `-m {}{}` is not modelled", o.name, text))
            }),
            other => {
                let args = canonical_args(|s| other.print(s));
                byname::eval_match(other.name(), &args, cx).unwrap_or_else(|| {
                    Truth::Unknown(format!(
                        "match `-m {}` is not evaluated by the engine yet",
                        other.name()
                    ))
                })
            }
        }
    }
}

/// Evaluates the generic part of a rule (`-s`, `-d`, `-i`, `-o`, `-p`, `-f`).
pub fn eval_ip(ip: &IpMatch, cx: &Cx<'_>) -> Truth {
    let p = cx.pkt;
    let mut ok = true;
    if let Some(s) = &ip.src {
        ok &= s.apply(s.value.contains(p.src));
    }
    if let Some(d) = &ip.dst {
        ok &= d.apply(d.value.contains(p.dst));
    }
    if let Some(i) = &ip.in_iface {
        ok &= i.apply(i.value.matches(p.in_iface.as_deref().unwrap_or("")));
    }
    if let Some(o) = &ip.out_iface {
        ok &= o.apply(o.value.matches(p.out_iface.as_deref().unwrap_or("")));
    }
    if let Some(pr) = &ip.proto {
        ok &= pr.apply(pr.value.is_any() || pr.value == p.proto);
    }
    if let Some(f) = &ip.fragment {
        // Traced packets are whole (not second or later fragments).
        ok &= f.apply(false);
    }
    Truth::of(ok)
}

/// The arguments a match or target prints (`-m NAME ARGS` / `-j NAME ARGS`), without the
/// leading option and name.
pub(crate) fn canonical_args(print: impl FnOnce(&mut String)) -> Vec<String> {
    let mut s = String::new();
    print(&mut s);
    crate::syntax::token::tokenize(&s, 1, 0)
        .map(|toks| toks.into_iter().skip(2).map(|t| t.text).collect())
        .unwrap_or_default()
}
