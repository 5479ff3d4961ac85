//! `-m set --match-set NAME DIRS`: membership of the packet's addresses/ports in an ipset.
//! The sets themselves live in the kernel, outside the ruleset; their names are kept as given.

use crate::eval::{Cx, Truth};
use crate::ext::MatchExt;
use crate::ext::common::{no_negation, push_neg};
use crate::ipset::{Dim, Lookup};
use crate::model::{Neg, Span};
use crate::packet::has_ports;
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;
use crate::syntax::token::Token;

/// Where each dimension of a set element comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SetDir {
    /// `src`: from the packet's source.
    Src,
    /// `dst`: from the packet's destination.
    Dst,
}

/// A set name with its direction list (`NAME src,dst`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SetRef {
    /// The set's name.
    pub name: String,
    /// One direction per dimension, 1 to 6.
    pub dirs: Vec<SetDir>,
}

impl SetRef {
    /// Parses the name token and the direction-list token.
    pub fn parse(name: &Token, dirs: &Token) -> Result<SetRef, ParseError> {
        if name.text.is_empty() || name.text.len() > 31 {
            return Err(ParseError::new(
                name.span,
                "a set name is 1 to 31 characters",
            ));
        }
        let mut out = Vec::new();
        for part in dirs.text.split(',') {
            out.push(match part {
                "src" => SetDir::Src,
                "dst" => SetDir::Dst,
                other => {
                    return Err(ParseError::new(
                        dirs.span,
                        format!("`{other}` is not a set direction"),
                    )
                    .with_help("directions are `src` and `dst`, comma-separated, e.g. `dst,dst`"));
                }
            });
        }
        if out.len() > 6 {
            return Err(ParseError::new(dirs.span, "at most six set directions"));
        }
        Ok(SetRef {
            name: name.text.to_string(),
            dirs: out,
        })
    }

    /// Writes `NAME dir,dir`.
    pub fn push(&self, out: &mut String) {
        out.push_str(&self.name);
        out.push(' ');
        let dirs: Vec<&str> = self.dirs.iter().map(|d| d.as_str()).collect();
        out.push_str(&dirs.join(","));
    }
}

/// A counter comparison (`--packets-gt 5`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CounterCmp {
    /// `-eq`.
    Eq(u64),
    /// `-lt`.
    Lt(u64),
    /// `-gt`.
    Gt(u64),
}

/// The `set` match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SetMatch {
    /// `--match-set NAME DIRS`.
    pub set: Option<Neg<SetRef>>,
    /// `--return-nomatch`.
    pub return_nomatch: bool,
    /// `! --update-counters`: leave the element's counters alone.
    pub no_update_counters: bool,
    /// `! --update-subcounters`.
    pub no_update_subcounters: bool,
    /// `--packets-eq|lt|gt`, possibly negated.
    pub packets: Option<Neg<CounterCmp>>,
    /// `--bytes-eq|lt|gt`, possibly negated.
    pub bytes: Option<Neg<CounterCmp>>,
}

impl MatchExt for SetMatch {
    const OPTIONS: &'static [&'static str] = &[
        "--match-set",
        "--set",
        "--return-nomatch",
        "--update-counters",
        "--update-subcounters",
        "--packets-eq",
        "--packets-lt",
        "--packets-gt",
        "--bytes-eq",
        "--bytes-lt",
        "--bytes-gt",
    ];

    fn new() -> Self {
        SetMatch::default()
    }

    fn option(&mut self, mut opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        match opt.name {
            "--match-set" | "--set" => {
                let name = args.value_negatable(&mut opt)?;
                let dirs = args.value(&opt)?;
                if self.set.is_some() {
                    return Err(opt.error("`--match-set` given twice; use another `-m set`"));
                }
                self.set = Some(Neg {
                    negated: opt.negated,
                    value: SetRef::parse(name, dirs)?,
                });
            }
            "--return-nomatch" => {
                no_negation(&opt)?;
                self.return_nomatch = true;
            }
            "--update-counters" | "--update-subcounters" => {
                if !opt.negated {
                    return Err(opt.error(format!(
                        "`{}` is the default; only `! {}` changes anything",
                        opt.name, opt.name
                    )));
                }
                if opt.name == "--update-counters" {
                    self.no_update_counters = true;
                } else {
                    self.no_update_subcounters = true;
                }
            }
            _ => {
                if opt.negated && !opt.name.ends_with("-eq") {
                    return Err(opt
                        .error(format!("`{}` cannot be negated", opt.name))
                        .with_help("only the -eq comparisons can be negated"));
                }
                let v = args.value(&opt)?;
                let n: u64 = v.text.parse().map_err(|_| {
                    ParseError::new(v.span, format!("`{}` takes a whole number", opt.name))
                })?;
                let cmp = if opt.name.ends_with("-eq") {
                    CounterCmp::Eq(n)
                } else if opt.name.ends_with("-lt") {
                    CounterCmp::Lt(n)
                } else {
                    CounterCmp::Gt(n)
                };
                let val = Some(Neg {
                    negated: opt.negated,
                    value: cmp,
                });
                if opt.name.starts_with("--packets") {
                    self.packets = val;
                } else {
                    self.bytes = val;
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self, _args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        if self.set.is_none() {
            return Err(ParseError::new(
                at,
                "match `set` requires `--match-set NAME DIRS`",
            ));
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        if let Some(s) = &self.set {
            push_neg(out, s.negated);
            out.push_str(" --match-set ");
            s.value.push(out);
        }
        if self.return_nomatch {
            out.push_str(" --return-nomatch");
        }
        if self.no_update_counters {
            out.push_str(" ! --update-counters");
        }
        if self.no_update_subcounters {
            out.push_str(" ! --update-subcounters");
        }
        for (what, c) in [("packets", &self.packets), ("bytes", &self.bytes)] {
            if let Some(c) = c {
                push_neg(out, c.negated);
                let (op, n) = match c.value {
                    CounterCmp::Eq(n) => ("eq", n),
                    CounterCmp::Lt(n) => ("lt", n),
                    CounterCmp::Gt(n) => ("gt", n),
                };
                out.push_str(&format!(" --{what}-{op} {n}"));
            }
        }
    }
}

impl SetDir {
    /// The direction as `--match-set` writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            SetDir::Src => "src",
            SetDir::Dst => "dst",
        }
    }

    /// The packet's value for one set dimension (`ip`/`net`, `port`, `iface`, `mark`) taken
    /// from this side of the packet.
    fn value(self, dim: &str, cx: &Cx<'_>) -> Dim {
        let p = cx.pkt;
        let src = self == SetDir::Src;
        match dim {
            "port" => {
                let port = if src { p.sport } else { p.dport };
                Dim::Port(
                    p.proto,
                    if has_ports(p.proto) {
                        port.unwrap_or(0)
                    } else {
                        0
                    },
                )
            }
            "iface" => Dim::Iface(
                if src { p.in_iface } else { p.out_iface }
                    .map(String::from)
                    .unwrap_or_default(),
            ),
            "mark" => Dim::Mark(p.mark),
            _ => Dim::Addr(if src { p.src } else { p.dst }),
        }
    }
}

impl SetMatch {
    /// Evaluates `--match-set` against the ipset contents in `cx`: uncertain when the set's
    /// contents are not given, when the rule names fewer directions than the set has
    /// dimensions, or when the set's type cannot be evaluated (`list:set`, MAC addresses).
    /// A member with counter tests (`--packets-gt` …) is uncertain too: the kernel tests the
    /// member's counters, which every matching packet changes. `--return-nomatch` makes
    /// `nomatch` elements match and plain ones not, in set types that take `nomatch`.
    pub fn eval(&self, cx: &Cx<'_>) -> Truth {
        let Some(r) = &self.set else {
            return Truth::Yes;
        };
        let name = &r.value.name;
        let Some(set) = cx.sets.and_then(|s| s.get(name)) else {
            return Truth::Unknown(format!(
                "set `{name}`: its contents are not given (pass `ipset save` output)"
            ));
        };
        let dims = set.dims();
        if r.value.dirs.len() < dims.len() {
            let dirs: Vec<&str> = r.value.dirs.iter().map(|d| d.as_str()).collect();
            return Truth::Unknown(format!(
                "set `{name}` has more dimensions than `{}`",
                dirs.join(",")
            ));
        }
        let values: Vec<Dim> = r
            .value
            .dirs
            .iter()
            .zip(dims.iter())
            .map(|(dir, dim)| dir.value(dim, cx))
            .collect();
        let Some(found) = set.lookup(&values) else {
            return Truth::Unknown(format!(
                "set `{name}` of type {} cannot be evaluated",
                set.kind
            ));
        };
        if found != Lookup::Absent && (self.packets.is_some() || self.bytes.is_some()) {
            return Truth::Unknown(format!(
                "set `{name}`: the member's packet and byte counters are not known"
            ));
        }
        // `--return-nomatch` reverses the answer of set types that take `nomatch` elements.
        let reversed = self.return_nomatch && set.supports_nomatch();
        let held = match found {
            Lookup::Absent => false,
            Lookup::Member => !reversed,
            Lookup::NoMatch => reversed,
        };
        Truth::of(r.apply(held))
    }
}

#[cfg(test)]
mod tests {
    use crate::eval::Truth;
    use crate::eval::testkit::{Fixture, match4, packet};
    use crate::ext::Match;
    use crate::model::Protocol;

    const SETS: &str = "create web hash:ip,port family inet\nadd web 10.0.0.5,tcp:80\n\
                        create nets hash:net family inet\nadd nets 192.168.49.0/24\n";

    fn set(rule: &str) -> super::SetMatch {
        match match4(rule) {
            Match::Set(m) => *m,
            other => panic!("{other:?}"),
        }
    }

    fn to(dport: u16) -> Fixture {
        let mut p = packet(Protocol::TCP, "192.168.49.7", "10.0.0.5");
        p.dport = Some(dport);
        p.sport = Some(40000);
        Fixture::new(p).sets(SETS)
    }

    #[test]
    fn membership_by_direction() {
        let web = set("-m set --match-set web dst,dst");
        assert_eq!(web.eval(&to(80).cx()), Truth::Yes);
        assert_eq!(web.eval(&to(81).cx()), Truth::No);
        let not_web = set("-m set ! --match-set web dst,dst");
        assert_eq!(not_web.eval(&to(81).cx()), Truth::Yes);
        assert_eq!(not_web.eval(&to(80).cx()), Truth::No);
        // The source address with the destination port is not a member.
        assert_eq!(
            set("-m set --match-set web src,dst").eval(&to(80).cx()),
            Truth::No
        );
        assert_eq!(
            set("-m set --match-set nets src").eval(&to(80).cx()),
            Truth::Yes
        );
        assert_eq!(
            set("-m set --match-set nets dst").eval(&to(80).cx()),
            Truth::No
        );
    }

    /// Checked against the kernel: with `ipset create s hash:ip counters` holding 127.0.0.2,
    /// `-m set --match-set s dst --packets-gt 1` did not count the first two packets to
    /// 127.0.0.2 and counted the third: membership alone does not decide.
    #[test]
    fn counter_tests_on_members_are_uncertain() {
        let m = set("-m set --match-set web dst,dst --packets-gt 1");
        assert!(matches!(m.eval(&to(80).cx()), Truth::Unknown(_)));
        // Not a member: the counters are never looked at.
        assert_eq!(m.eval(&to(81).cx()), Truth::No);
        let not = set("-m set ! --match-set web dst,dst --bytes-lt 100");
        assert_eq!(not.eval(&to(81).cx()), Truth::Yes);
    }

    /// Checked against the kernel: in a `hash:net` set of 127.0.0.0/8 with 127.0.0.2 added as
    /// `nomatch`, `--match-set n dst --return-nomatch` matched 127.0.0.2 and not 127.0.0.3, and
    /// its negation matched 127.0.0.4; in a `hash:ip` set it changed nothing.
    #[test]
    fn return_nomatch() {
        let sets = "create n hash:net family inet\nadd n 127.0.0.0/8\nadd n 127.0.0.2 nomatch\n\
                    create h hash:ip family inet\nadd h 127.0.0.3\n";
        let to = |dst: &str| Fixture::new(packet(Protocol::UDP, "127.0.0.1", dst)).sets(sets);
        let plain = set("-m set --match-set n dst");
        assert_eq!(plain.eval(&to("127.0.0.2").cx()), Truth::No);
        assert_eq!(plain.eval(&to("127.0.0.3").cx()), Truth::Yes);
        let reversed = set("-m set --match-set n dst --return-nomatch");
        assert_eq!(reversed.eval(&to("127.0.0.2").cx()), Truth::Yes);
        assert_eq!(reversed.eval(&to("127.0.0.3").cx()), Truth::No);
        assert_eq!(reversed.eval(&to("10.0.0.1").cx()), Truth::No);
        let not = set("-m set ! --match-set n dst --return-nomatch");
        assert_eq!(not.eval(&to("127.0.0.4").cx()), Truth::Yes);
        let ip = set("-m set --match-set h dst --return-nomatch");
        assert_eq!(ip.eval(&to("127.0.0.3").cx()), Truth::Yes);
    }

    #[test]
    fn uncertain_without_contents_or_directions() {
        assert!(matches!(
            set("-m set --match-set web dst").eval(&to(80).cx()),
            Truth::Unknown(_)
        ));
        assert!(matches!(
            set("-m set --match-set other dst").eval(&to(80).cx()),
            Truth::Unknown(_)
        ));
        let mut bare = to(80);
        bare.sets = None;
        assert!(matches!(
            set("-m set --match-set web dst,dst").eval(&bare.cx()),
            Truth::Unknown(_)
        ));
    }
}
