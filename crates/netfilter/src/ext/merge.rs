//! iptables-nft stores the port and flag tests of `-m tcp` and `-m udp` as plain header
//! comparisons, and reads them back into one match per protocol. So a rule that loads `-m tcp`
//! twice comes back from the kernel with one `tcp` match, at the place of the first, holding
//! both sets of options (a later option replacing an earlier one of the same name).

use crate::ext::Match;
use crate::model::Span;

/// Folds every later `tcp` (and `udp`) match of a rule into its first one.
pub(crate) fn merge_transport(matches: &mut Vec<(Match, Span)>) {
    let mut i = 0;
    while i < matches.len() {
        let first = matches[..i]
            .iter()
            .position(|(m, _)| same_kind(m, &matches[i].0));
        match first {
            Some(f) => {
                let (later, _) = matches.remove(i);
                fold(&mut matches[f].0, later);
            }
            None => i += 1,
        }
    }
}

fn same_kind(a: &Match, b: &Match) -> bool {
    matches!(
        (a, b),
        (Match::Tcp(_), Match::Tcp(_)) | (Match::Udp(_), Match::Udp(_))
    )
}

fn fold(into: &mut Match, later: Match) {
    match (into, later) {
        (Match::Tcp(a), Match::Tcp(b)) => {
            a.sport = b.sport.or(a.sport);
            a.dport = b.dport.or(a.dport);
            a.flags = b.flags.or(a.flags);
            a.option = b.option.or(a.option);
        }
        (Match::Udp(a), Match::Udp(b)) => {
            a.sport = b.sport.or(a.sport);
            a.dport = b.dport.or(a.dport);
        }
        _ => {}
    }
}
