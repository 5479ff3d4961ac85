//! Hooks and the order tables run on each, as the kernel registers them (priorities: raw −300,
//! conntrack −200, mangle −150, nat DNAT −100, filter 0, nat SNAT 100, and security 150 as
//! iptables-nft registers it).

use crate::model::{Hook, Ruleset, TableName};

/// One stage of a hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    /// A table's built-in chain for the hook.
    Table(TableName),
    /// The conntrack lookup (priority −200), on PREROUTING and OUTPUT.
    Conntrack,
    /// The nat table for the destination side (DNAT), or conntrack's recorded translation.
    NatDst,
    /// The nat table for the source side (SNAT, MASQUERADE), or the recorded translation.
    NatSrc,
}

/// The stages of a hook in priority order.
pub fn stages(hook: Hook) -> &'static [Stage] {
    use Stage::*;
    use TableName::*;
    match hook {
        Hook::Prerouting => &[Table(Raw), Conntrack, Table(Mangle), NatDst],
        Hook::Output => &[
            Table(Raw),
            Conntrack,
            Table(Mangle),
            NatDst,
            Table(Filter),
            Table(Security),
        ],
        // iptables-nft registers the security table at priority 150, after nat's 100.
        Hook::Input => &[Table(Mangle), Table(Filter), NatSrc, Table(Security)],
        Hook::Forward => &[Table(Mangle), Table(Filter), Table(Security)],
        Hook::Postrouting => &[Table(Mangle), NatSrc],
    }
}

/// The stages each hook runs for one ruleset, in order: [`stages`] without those that cannot
/// do anything (a table the ruleset lacks or that has no chain for the hook; conntrack and the
/// nat stages when the ruleset needs no connection tracking).
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    /// Per hook (in [`Hook::ALL`] order, which is the enum's): how many stages, and the stages.
    hooks: [(usize, [Stage; 6]); 5],
}

impl Plan {
    /// The plan for `ruleset`; `tracking` says whether conntrack runs at all.
    pub(crate) fn new(ruleset: &Ruleset, tracking: bool) -> Plan {
        let mut hooks = [(0, [Stage::Conntrack; 6]); 5];
        for (slot, hook) in hooks.iter_mut().zip(Hook::ALL) {
            for stage in stages(hook) {
                let live = match stage {
                    Stage::Table(t) => ruleset
                        .table(*t)
                        .is_some_and(|t| t.chain_index(hook.chain_name()).is_some()),
                    Stage::Conntrack | Stage::NatDst | Stage::NatSrc => tracking,
                };
                if let (true, Some(s)) = (live, slot.1.get_mut(slot.0)) {
                    *s = *stage;
                    slot.0 += 1;
                }
            }
        }
        Plan { hooks }
    }

    /// The stages `hook` runs.
    pub(crate) fn stages(&self, hook: Hook) -> &[Stage] {
        self.hooks
            .get(hook as usize)
            .and_then(|(n, s)| s.get(..*n))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_hook_is_staged() {
        for t in TableName::ALL {
            for h in t.hooks() {
                let staged = stages(*h).iter().any(|s| match s {
                    Stage::Table(x) => *x == t,
                    Stage::NatDst | Stage::NatSrc => t == TableName::Nat,
                    Stage::Conntrack => false,
                });
                assert!(staged, "{t} {h}");
            }
        }
    }
}
