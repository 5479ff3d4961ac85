//! `-m recent`: a named list of recently seen addresses, updated and tested by rules.

use std::net::IpAddr;

use crate::eval::Truth;
use crate::ext::MatchExt;
use crate::ext::common::{ip_of_family, no_negation, number, push_neg};
use crate::model::{Family, Span};
use crate::packet::Packet;
use crate::recent::RecentLists;
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;

/// What the rule does with the list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecentCommand {
    /// `--set`: add or refresh the address; always matches.
    Set,
    /// `--rcheck`: whether the address is in the list.
    Rcheck,
    /// `--update`: like `--rcheck`, refreshing the entry's last-seen time.
    Update,
    /// `--remove`: remove the address; matches when it was there.
    Remove,
}

impl RecentCommand {
    fn option(self) -> &'static str {
        match self {
            RecentCommand::Set => "--set",
            RecentCommand::Rcheck => "--rcheck",
            RecentCommand::Update => "--update",
            RecentCommand::Remove => "--remove",
        }
    }
}

/// The `recent` match.
#[derive(Clone, Debug, PartialEq)]
pub struct Recent {
    /// The command, and whether its result is negated.
    pub command: Option<(RecentCommand, bool)>,
    /// `--seconds`: only entries seen within this many seconds count.
    pub seconds: u32,
    /// `--reap`: drop entries older than `--seconds`.
    pub reap: bool,
    /// `--hitcount`: only entries seen at least this many times count.
    pub hitcount: u32,
    /// `--rttl`: the TTL must match the one recorded.
    pub rttl: bool,
    /// `--name` (default `DEFAULT`).
    pub name: String,
    /// `--mask`; `None` until finished, then all ones for the family unless given.
    pub mask: Option<IpAddr>,
    /// `--rdest`: the destination address is used (default `--rsource`).
    pub rdest: bool,
}

impl MatchExt for Recent {
    const OPTIONS: &'static [&'static str] = &[
        "--set",
        "--rcheck",
        "--update",
        "--remove",
        "--seconds",
        "--reap",
        "--hitcount",
        "--rttl",
        "--name",
        "--mask",
        "--rsource",
        "--rdest",
    ];

    fn new() -> Self {
        Recent {
            command: None,
            seconds: 0,
            reap: false,
            hitcount: 0,
            rttl: false,
            name: "DEFAULT".to_string(),
            mask: None,
            rdest: false,
        }
    }

    fn option(&mut self, opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        let command = match opt.name {
            "--set" => Some(RecentCommand::Set),
            "--rcheck" => Some(RecentCommand::Rcheck),
            "--update" => Some(RecentCommand::Update),
            "--remove" => Some(RecentCommand::Remove),
            _ => None,
        };
        if let Some(c) = command {
            if let Some((prev, _)) = self.command {
                return Err(opt.error(format!(
                    "`{}` cannot be used together with `{}`",
                    opt.name,
                    prev.option()
                )));
            }
            self.command = Some((c, opt.negated));
            return Ok(());
        }
        no_negation(&opt)?;
        match opt.name {
            "--seconds" => self.seconds = number(args.value(&opt)?, opt.name, 0, u32::MAX)?,
            "--hitcount" => self.hitcount = number(args.value(&opt)?, opt.name, 0, u32::MAX)?,
            "--reap" => self.reap = true,
            "--rttl" => self.rttl = true,
            "--name" => {
                let v = args.value(&opt)?;
                if v.text.is_empty() || v.text.len() > 199 {
                    return Err(ParseError::new(
                        v.span,
                        "a recent list name is 1 to 199 characters",
                    ));
                }
                self.name = v.text.to_string();
            }
            "--mask" => {
                let v = args.value(&opt)?;
                self.mask = Some(ip_of_family(v, &v.text, args.family)?);
            }
            "--rsource" => self.rdest = false,
            _ => self.rdest = true,
        }
        Ok(())
    }

    fn finish(&mut self, args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        let Some((command, _)) = self.command else {
            return Err(ParseError::new(
                at,
                "match `recent` needs one of `--set`, `--rcheck`, `--update`, `--remove`",
            ));
        };
        if command == RecentCommand::Set && (self.seconds != 0 || self.hitcount != 0) {
            return Err(ParseError::new(
                at,
                "the kernel refuses `--seconds` and `--hitcount` with `--set`",
            ));
        }
        if self.reap && self.seconds == 0 {
            return Err(ParseError::new(at, "`--reap` requires `--seconds`"));
        }
        if self.mask.is_none() {
            self.mask = Some(match args.family {
                Family::Ipv4 => IpAddr::from([255u8; 4]),
                Family::Ipv6 => IpAddr::from([255u8; 16]),
            });
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        if let Some((c, negated)) = self.command {
            push_neg(out, negated);
            out.push(' ');
            out.push_str(c.option());
        }
        if self.seconds != 0 {
            out.push_str(&format!(" --seconds {}", self.seconds));
        }
        if self.reap {
            out.push_str(" --reap");
        }
        if self.hitcount != 0 {
            out.push_str(&format!(" --hitcount {}", self.hitcount));
        }
        if self.rttl {
            out.push_str(" --rttl");
        }
        out.push_str(" --name ");
        out.push_str(&self.name);
        if let Some(m) = self.mask {
            out.push_str(&format!(" --mask {m}"));
        }
        out.push_str(if self.rdest { " --rdest" } else { " --rsource" });
    }
}

impl Recent {
    /// Evaluates the match against the lists, updating them: `--set` adds the address and
    /// matches; `--rcheck`/`--update` match when the address is listed; `--remove` matches
    /// and removes a listed address. With `--seconds`, `--hitcount` or `--reap` a listed
    /// address cannot be decided (when it was seen is not known), nor with `--rttl` (the TTL
    /// it was seen with is not known). The address is the
    /// packet's source (`--rdest`: destination), masked with `--mask`.
    pub fn eval(&self, pkt: &Packet, lists: &mut RecentLists) -> Truth {
        let name = self.name.as_str();
        let addr = masked(if self.rdest { pkt.dst } else { pkt.src }, self.mask);
        let timed = self.seconds != 0 || self.hitcount != 0 || self.reap;
        let listed = lists.contains(name, addr);
        let (command, negated) = self.command.unwrap_or((RecentCommand::Rcheck, false));
        if listed && self.rttl && command != RecentCommand::Set {
            // The kernel looks the address up together with the packet's TTL.
            return Truth::Unknown(format!(
                "recent list `{name}` holds {addr}, but the TTL it was seen with is not known (--rttl)"
            ));
        }
        let held = match command {
            RecentCommand::Set => {
                lists.insert(name, addr);
                true
            }
            RecentCommand::Remove => {
                lists.remove(name, addr);
                listed
            }
            RecentCommand::Rcheck | RecentCommand::Update if listed && timed => {
                return Truth::Unknown(format!(
                    "recent list `{name}` holds {addr}, but when it was seen is not known (--seconds/--hitcount)"
                ));
            }
            RecentCommand::Rcheck | RecentCommand::Update => listed,
        };
        Truth::of(held != negated)
    }

    /// The answer when the lists' contents are not given: `--set` holds whatever they hold;
    /// every other command is uncertain.
    pub fn eval_without_lists(&self) -> Truth {
        match self.command {
            Some((RecentCommand::Set, negated)) => Truth::of(!negated),
            _ => Truth::Unknown("recent lists are not given (pass their contents)".into()),
        }
    }
}

/// Masks an address with `--mask` (a mask of the other family leaves it as it is).
fn masked(addr: IpAddr, mask: Option<IpAddr>) -> IpAddr {
    match (addr, mask) {
        (IpAddr::V4(a), Some(IpAddr::V4(m))) => IpAddr::V4((u32::from(a) & u32::from(m)).into()),
        (IpAddr::V6(a), Some(IpAddr::V6(m))) => IpAddr::V6((u128::from(a) & u128::from(m)).into()),
        (a, _) => a,
    }
}

#[cfg(test)]
mod tests {
    use crate::eval::Truth;
    use crate::eval::testkit::{match4, packet};
    use crate::ext::Match;
    use crate::model::Protocol;
    use crate::recent::RecentLists;

    fn recent(rule: &str) -> super::Recent {
        match match4(rule) {
            Match::Recent(m) => *m,
            other => panic!("{other:?}"),
        }
    }

    fn lists(text: &str) -> RecentLists {
        RecentLists::parse(text).unwrap()
    }

    #[test]
    fn set_check_and_remove() {
        let p = packet(Protocol::TCP, "10.0.0.7", "192.168.49.2");
        let mut l = lists("[ssh]\n");
        assert_eq!(
            recent("-m recent --rcheck --name ssh").eval(&p, &mut l),
            Truth::No
        );
        assert_eq!(
            recent("-m recent ! --rcheck --name ssh").eval(&p, &mut l),
            Truth::Yes
        );
        assert_eq!(
            recent("-m recent --set --name ssh").eval(&p, &mut l),
            Truth::Yes
        );
        assert!(l.contains("ssh", p.src));
        assert_eq!(
            recent("-m recent --update --name ssh").eval(&p, &mut l),
            Truth::Yes
        );
        assert_eq!(
            recent("-m recent ! --rcheck --name ssh").eval(&p, &mut l),
            Truth::No
        );
        assert_eq!(
            recent("-m recent --remove --name ssh").eval(&p, &mut l),
            Truth::Yes
        );
        assert!(!l.contains("ssh", p.src));
        assert_eq!(
            recent("-m recent --remove --name ssh").eval(&p, &mut l),
            Truth::No
        );
    }

    #[test]
    fn destination_mask_and_timing() {
        let p = packet(Protocol::TCP, "10.0.0.7", "192.168.49.2");
        let mut l = lists("[DEFAULT]\n192.168.49.2\n[nets]\n10.0.0.0\n");
        assert_eq!(
            recent("-m recent --rcheck --rdest").eval(&p, &mut l),
            Truth::Yes
        );
        assert_eq!(recent("-m recent --rcheck").eval(&p, &mut l), Truth::No);
        assert_eq!(
            recent("-m recent --rcheck --name nets --mask 255.255.255.0").eval(&p, &mut l),
            Truth::Yes
        );
        // Listed, but whether within the last minute is not known; not listed is decided.
        assert!(matches!(
            recent("-m recent --rcheck --seconds 60 --rdest").eval(&p, &mut l),
            Truth::Unknown(_)
        ));
        assert_eq!(
            recent("-m recent --rcheck --seconds 60").eval(&p, &mut l),
            Truth::No
        );
    }

    /// Checked against the kernel: after `--set` by a packet with TTL 64, `--rcheck --rttl`
    /// did not match a packet from the same address with TTL 10 and matched one with TTL 64.
    #[test]
    fn rttl_on_a_listed_address_is_uncertain() {
        let p = packet(Protocol::UDP, "10.0.0.7", "192.168.49.2");
        let mut l = lists("[r]\n10.0.0.7\n");
        for rule in [
            "-m recent --rcheck --rttl --name r",
            "-m recent --update --rttl --name r",
        ] {
            assert!(
                matches!(recent(rule).eval(&p, &mut l), Truth::Unknown(_)),
                "{rule}"
            );
        }
        // Not listed at all: no TTL can make it match.
        let other = packet(Protocol::UDP, "10.0.0.8", "192.168.49.2");
        let m = recent("-m recent --rcheck --rttl --name r");
        assert_eq!(m.eval(&other, &mut l), Truth::No);
    }

    #[test]
    fn without_lists() {
        assert_eq!(recent("-m recent --set").eval_without_lists(), Truth::Yes);
        assert_eq!(recent("-m recent ! --set").eval_without_lists(), Truth::No);
        assert!(matches!(
            recent("-m recent --rcheck").eval_without_lists(),
            Truth::Unknown(_)
        ));
    }
}
